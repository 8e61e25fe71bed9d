"""Data-source snapshots taken at step start, written to a local CSV file with bounded memory.

- POSTGRES: one READ ONLY, REPEATABLE READ transaction, `COPY (SELECT ...) TO STDOUT (FORMAT csv,
  HEADER)` streamed block by block into the file (ordered by the first column when a table is read,
  so two snapshots of the same data give the same bytes).
- CDC_TABLE: the table of the CDC catalog read from Cassandra through the token-range reader, rows
  written in token order as they arrive.
"""
from __future__ import annotations

import csv
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

from chalicelib.streams import data_sources


class SnapshotError(Exception):
    """The data source could not be read (the message names the source and the problem)."""


def take(source: dict, path: Path, should_cancel: Callable[[], bool] | None = None,
         canceled: Callable[[], bool] | None = None, progress: Callable[[float], None] | None = None) -> int:
    """Write the data source's rows to `path` (CSV with a header); return the number of rows.

    `should_cancel` is asked between blocks of rows; `canceled` (cheap, callable from another thread)
    is watched while the source computes its rows, so that a cancel also stops a query that has not
    sent its first row yet (InterruptedError either way). `progress(fraction)` hears how far the snapshot
    is, 0 < fraction < 1, about every PROGRESS_ROWS rows: against the planner's estimate of the rows
    (POSTGRES) or by the token reached in the ring (CDC_TABLE)."""
    try:
        if source["type"] == "CDC_TABLE":
            return _cdc(source["config"], path, should_cancel, progress)
        return _postgres(source["config"], path, should_cancel, canceled, progress)
    except data_sources.SourceUnusable as exc:
        raise SnapshotError(f"data source {source['data_source_id']}: {exc}") from None


CANCEL_POLL_S = 0.5
#: rows between two progress reports of a snapshot
PROGRESS_ROWS = 10_000


@contextmanager
def _cancel_watch(conn, canceled: Callable[[], bool] | None):
    """While the body runs, a thread asks `canceled` every half second and, once it is true, cancels
    the statement the source's server is running (a slow query sends no block to check between)."""
    if canceled is None:
        yield
        return
    done = threading.Event()

    def watch() -> None:
        while not done.wait(CANCEL_POLL_S):
            if canceled():
                try:
                    conn.cancel_safe(timeout=5)
                except Exception:   # noqa: BLE001 — the COPY loop still sees the cancel between blocks
                    pass
                return

    t = threading.Thread(target=watch, name="snapshot-cancel", daemon=True)
    t.start()
    try:
        yield
    finally:
        done.set()
        t.join(timeout=10)


def _postgres(config: dict, path: Path, should_cancel, canceled=None, progress=None) -> int:
    import psycopg
    from psycopg import sql

    select = data_sources.select_sql(config)
    if not config.get("query"):
        select = sql.SQL("{} ORDER BY 1").format(select)
    with data_sources.read_only(config) as conn, open(path, "wb") as out:
        described = conn.execute(sql.SQL("SELECT * FROM ({}) AS q LIMIT 0").format(data_sources.select_sql(config)))
        problem = data_sources.column_problem([d.name for d in described.description or []], config)
        if problem:
            raise data_sources.ColumnsUnusable(problem)
        expected = _planned_rows(conn, select) if progress is not None else 0
        lines, reported = 0, 0
        cur = conn.cursor()
        try:
            with _cancel_watch(conn, canceled), \
                    cur.copy(sql.SQL("COPY ({}) TO STDOUT (FORMAT csv, HEADER)").format(select)) as copy:
                for block in copy:
                    out.write(block)
                    if should_cancel is not None and should_cancel():
                        raise InterruptedError("canceled")
                    if expected:
                        # lines, not rows (a quoted value may hold a line break): close enough to say how far
                        lines += bytes(block).count(b"\n")
                        if lines - reported >= PROGRESS_ROWS:
                            reported = lines
                            progress(min(0.99, lines / expected))
        except psycopg.errors.QueryCanceled:
            if canceled is not None and canceled():
                raise InterruptedError("canceled") from None
            raise
        # the server's count of the rows it sent: a quoted value may hold line breaks, so lines are not rows
        return max(0, cur.rowcount)


def _planned_rows(conn, select) -> float:
    """The planner's estimate of the rows `select` returns (0 when it gives none): what a snapshot's
    progress is measured against. Planned, not run, in the snapshot's transaction."""
    from psycopg import sql

    plan = conn.execute(sql.SQL("EXPLAIN (FORMAT JSON) {}").format(select)).fetchone()[0]
    return float(plan[0]["Plan"].get("Plan Rows") or 0) if plan else 0.0


def _text(v) -> str:
    """A Cassandra value as CSV text: collections as JSON (sets sorted), timestamps ISO-8601 UTC."""
    import datetime as dt
    import json

    if v is None:
        return ""
    if isinstance(v, dt.datetime):
        return (v if v.tzinfo else v.replace(tzinfo=dt.timezone.utc)).isoformat().replace("+00:00", "Z")
    if isinstance(v, (set, frozenset)) or type(v).__name__ in ("SortedSet", "OrderedSet"):
        return json.dumps(sorted(v, key=str), default=str)
    if isinstance(v, (dict, list, tuple)) or type(v).__name__ == "OrderedMapSerializedKey":
        return json.dumps(dict(v) if not isinstance(v, (list, tuple)) else list(v), default=str, sort_keys=True)
    return str(v)


def _cdc(config: dict, path: Path, should_cancel, progress=None) -> int:
    from chalicelib.cassandra.reader import CassandraReader
    from chalicelib.cassandra.tokens import MAX_TOKEN, MIN_TOKEN
    from chalicelib.cdc.catalog import get_catalog

    table = get_catalog().tables.get(config["table"])
    if table is None:
        raise SnapshotError(f"'{config['table']}' is not in the CDC catalog")
    columns = list(table.columns)
    reader = CassandraReader(table.cassandra.keyspace, table.cassandra.table, table.partition_key,
                             table.clustering_key, columns)
    rows = 0
    with open(path, "w", newline="") as out:
        w = csv.writer(out)
        w.writerow(columns)
        for row in reader.scan_range((MIN_TOKEN, MAX_TOKEN)):
            w.writerow([_text(v) for v in row[1:]])   # row[0] is the token
            rows += 1
            if rows % PROGRESS_ROWS == 0:
                if should_cancel is not None and should_cancel():
                    raise InterruptedError("canceled")
                if progress is not None:   # the rows come in token order: the share of the ring read
                    progress(min(0.99, max(0.0, (row[0] - MIN_TOKEN) / (MAX_TOKEN - MIN_TOKEN))))
    return rows
