"""Exceptions from a step's unmatched outputs: each row of an UNMATCHED_SOURCE / UNMATCHED_TARGET CSV
(original columns + the engine's explanation columns, docs/matching.md) becomes one exception,
written with COPY in the caller's transaction. The caller holds the step run's row lock, so the
count of that step run's rows already there says whether a side is loaded (nothing is loaded twice)."""
from __future__ import annotations

import csv
import os
import sys
from contextlib import contextmanager
from pathlib import Path

import psycopg

REASONS = ("NO_CANDIDATE", "TOLERANCE_EXCEEDED", "DATE_OUT_OF_WINDOW", "BELOW_SIMILARITY", "AMBIGUOUS")
_EXPLANATION = ("_row_key", "_reason", "_closest_key", "_closest_pass", "_failed_condition", "_detail")


def _explanation_columns() -> tuple[str, ...]:
    try:
        from chalicelib.matching import EXPLANATION_COLUMNS

        return tuple(EXPLANATION_COLUMNS)
    except ImportError:
        return _EXPLANATION


def exception_rows(path: Path):
    """(row_no, row_key, row_data, reason, closest_candidate) per unmatched row, in file order."""
    explanation = _explanation_columns()
    csv.field_size_limit(sys.maxsize)
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            return
        n = len(explanation)
        if tuple(header[-n:]) != explanation:
            raise ValueError(f"{path.name}: the last columns are not the engine's explanation columns")
        data_cols = header[:-n]
        for row_no, row in enumerate(reader, start=1):
            data, expl = row[:-n], dict(zip(explanation, row[-n:]))
            reason = expl.get("_reason") or "NO_CANDIDATE"
            if reason not in REASONS:
                reason = "NO_CANDIDATE"
            closest = None
            # a closest candidate whose key value is empty is still one (its pass names it): rowKey null
            if expl.get("_closest_key") or expl.get("_closest_pass"):
                closest = {"rowKey": expl["_closest_key"] or None, "pass": expl.get("_closest_pass") or None,
                           "failedCondition": expl.get("_failed_condition") or None,
                           "detail": expl.get("_detail") or None}
            # a row whose key column is empty has no key (null): its position in the output is no key of it
            yield row_no, expl.get("_row_key") or None, dict(zip(data_cols, data)), reason, closest


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _text(column_sql: str) -> str:
    """A value as PostgreSQL text and jsonb can hold it: a NUL character (a file's or a Cassandra value's) becomes
    U+FFFD, the replacement character (the artifact keeps the original bytes)."""
    return f"replace({column_sql}, chr(0), chr(65533))"


def exceptions_csv(path: Path, out: Path, constants: tuple) -> int:
    """Turn an unmatched output into a CSV in the column order of `load_exceptions`' COPY (DuckDB: no
    Python loop per row). `constants` = (stream_id, run_id, step_run_id, reconciliation_id, step_order,
    side). Returns the number of rows.

    The output is read in the dialect the engine writes (`,`, `"` escaped as `""`, a header row), with
    nothing sniffed: a guess from the first rows can miss quoting that only starts further down. The
    input's columns are read under names of their position, so that no name of the input (`row_no`,
    `memo ` with its space, one that is only a space) is ever an SQL name here; `rowData` keys are the
    header's names, byte for byte."""
    import duckdb

    explanation = _explanation_columns()
    with open(path, newline="", encoding="utf-8") as f:
        header = next(csv.reader(f), None)
    if not header:
        out.write_text("")
        return 0
    n = len(explanation)
    if tuple(header[-n:]) != explanation:
        raise ValueError(f"{path.name}: the last columns are not the engine's explanation columns")
    data_cols = header[:-n]
    positional = [f"__d{i}" for i in range(len(data_cols))]
    spec = "{" + ", ".join(f"{_sql_text(c)}: 'VARCHAR'" for c in positional + list(explanation)) + "}"
    data_json = "to_json(struct_pack(" + ", ".join(
        f"{_quote(c)} := {_text(_quote(p))}" for c, p in zip(data_cols, positional)) + "))"
    reasons = ", ".join(_sql_text(r) for r in REASONS)
    stream_id, run_id, step_run_id, reconciliation_id, step_order, side = constants
    con = duckdb.connect(config={"threads": 1, "preserve_insertion_order": True})
    try:
        con.execute("CREATE SEQUENCE row_no START 1")   # one thread: the file's order
        # a closest candidate whose key value is empty is still one (its pass names it): rowKey null
        rows = con.execute(f"""
            COPY (
              SELECT {int(stream_id)}, {int(run_id)}, {int(step_run_id)}, {int(reconciliation_id)}, {int(step_order)},
                     {_sql_text(side)}, row_no, nullif({_text('"_row_key"')}, ''),
                     CAST({data_json} AS VARCHAR),
                     CASE WHEN "_reason" IN ({reasons}) THEN "_reason" ELSE 'NO_CANDIDATE' END,
                     CASE WHEN coalesce("_closest_key", '') <> '' OR coalesce("_closest_pass", '') <> ''
                     THEN CAST(json_object(
                       'rowKey', nullif({_text('"_closest_key"')}, ''), 'pass', nullif("_closest_pass", ''),
                       'failedCondition', nullif("_failed_condition", ''), 'detail', nullif({_text('"_detail"')}, ''))
                       AS VARCHAR)
                     END
              FROM (SELECT nextval('row_no') AS row_no, *
                      FROM read_csv({_sql_text(str(path))}, auto_detect = false, header = true, delim = ',',
                                    quote = '"', escape = '"', strict_mode = true, null_padding = false,
                                    encoding = 'utf-8', columns = {spec}, nullstr = chr(0)))
            ) TO {_sql_text(str(out))} (FORMAT csv, HEADER false)""").fetchone()[0]
    finally:
        con.close()
    return int(rows)


_COPY_SQL = ("COPY recon.stream_exceptions (stream_id, run_id, step_run_id, reconciliation_id, step_order, side, row_no,"
             " row_key, row_data, reason, closest_candidate) FROM STDIN (FORMAT csv)")


def load_exceptions(conn: psycopg.Connection, path: Path, *, side: str, stream_id: int, run_id: int,
                    step_run_id: int, reconciliation_id: int, step_order: int) -> int:
    already = conn.execute("SELECT count(*) AS n FROM recon.stream_exceptions WHERE step_run_id = %s AND side = %s",
                           (step_run_id, side)).fetchone()
    already = already["n"] if isinstance(already, dict) else already[0]
    if already > 0:
        return int(already)
    constants = (stream_id, run_id, step_run_id, reconciliation_id, step_order, side)
    with _load_slot(conn, step_run_id):
        if PIPE_DIR.is_dir():
            return _load_through_pipe(conn, path, constants)
        staged = path.with_name(path.stem + f".exceptions-{side.lower()}.csv")
        rows = exceptions_csv(path, staged, constants)
        if rows == 0:
            return 0
        with conn.cursor() as cur, open(staged, "rb") as f:
            with cur.copy(_COPY_SQL) as copy:
                while block := f.read(1 << 20):
                    copy.write(block)
        staged.unlink(missing_ok=True)
        return rows


PIPE_DIR = Path("/dev/fd")

# Exception COPYs into recon.stream_exceptions run LOADS_AT_ONCE at a time (slot = step run id modulo it),
# whatever the worker: two at once extend the same heap and insert into the same index pages (the newest
# entries), and measured on the local stack's PostgreSQL a 100k and a 40k load at once took 1.15 s and
# 1.16 s of backend CPU against 0.94 s and 0.90 s one after the other. A session-level advisory lock held
# for the COPY only (not until the loading transaction commits, which may wait for uploads); the COPY runs
# in a savepoint so that a failed one still leaves the transaction able to release it. Raise
# STREAM_EXCEPTION_LOADS_AT_ONCE when PostgreSQL has cores to spare.
LOADS_AT_ONCE = max(1, int(os.environ.get("STREAM_EXCEPTION_LOADS_AT_ONCE", "1")))
_LOCK_SPACE = 0x72656378   # the first key of the two-key advisory locks this module takes


@contextmanager
def _load_slot(conn: psycopg.Connection, step_run_id: int):
    slot = int(step_run_id) % LOADS_AT_ONCE
    conn.execute("SELECT pg_advisory_lock(%s, %s)", (_LOCK_SPACE, slot))
    try:
        with conn.transaction():
            yield
    finally:
        try:
            conn.execute("SELECT pg_advisory_unlock(%s, %s)", (_LOCK_SPACE, slot))
        except psycopg.Error:
            # never hand a connection that may still hold the lock back to a pool: closing it ends the
            # session, which releases the lock
            conn.close()
            raise


def _load_through_pipe(conn: psycopg.Connection, path: Path, constants: tuple) -> int:
    """DuckDB writes the COPY's CSV into a pipe while this thread feeds what it reads to PostgreSQL: the
    conversion and the COPY overlap (two processes' CPU instead of one after the other), nothing is staged
    on disk. A conversion that fails aborts the COPY (nothing of the side is kept); a COPY that fails
    closes the pipe, which stops the conversion."""
    import os
    import threading

    read_fd, write_fd = os.pipe()
    outcome: dict = {}

    def convert() -> None:
        try:
            outcome["rows"] = exceptions_csv(path, PIPE_DIR / str(write_fd), constants)
        except BaseException as exc:  # handed to the loading thread, which aborts the COPY
            outcome["error"] = exc
        finally:
            os.close(write_fd)

    writer = threading.Thread(target=convert, name="exceptions-csv", daemon=True)
    writer.start()
    try:
        with conn.cursor() as cur, open(read_fd, "rb", closefd=True) as f:
            with cur.copy(_COPY_SQL) as copy:
                while block := f.read(1 << 20):
                    copy.write(block)
                writer.join()
                if "error" in outcome:
                    raise outcome["error"]
            copied = cur.rowcount
    finally:
        writer.join(timeout=30)
    rows = int(outcome["rows"])
    if copied not in (-1, rows):
        raise RuntimeError(f"{path.name}: {rows} exceptions written, {copied} loaded")
    return rows
