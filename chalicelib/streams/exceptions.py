"""Exceptions (streams platform §8): rows a step left unmatched, explained; their review workflow.

The step worker writes them (recon.stream_exceptions, 0006); this module reads them, changes their
status, note and assignee, and keeps every change with who (the API key's owner) and when.
"""
from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from chalicelib.domain.keyorder import ordered_keys
from chalicelib.streams.defs_db import fetch_all, fetch_one, tx
from chalicelib.streams.defs_errors import NotFound

STATUSES = ("OPEN", "RESOLVED", "IGNORED")
REASONS = ("NO_CANDIDATE", "TOLERANCE_EXCEEDED", "DATE_OUT_OF_WINDOW", "BELOW_SIMILARITY", "AMBIGUOUS")
SIDES = ("SOURCE", "TARGET")

_COLS = ("e.exception_id, e.stream_id, e.run_id, e.step_run_id, e.reconciliation_id, e.step_order, e.side, e.row_no,"
         " e.row_key, e.row_data, e.reason, e.closest_candidate, e.status, e.assignee, e.note, e.created_at,"
         " e.updated_at")
# who closed it and when: the latest change that set the current non-OPEN status
_RESOLVED = (", (SELECT h.changed_by FROM recon.stream_exception_history h WHERE h.exception_id = e.exception_id"
             " AND h.changes ? 'status' ORDER BY h.changed_at DESC, h.history_id DESC LIMIT 1) AS status_changed_by,"
             " (SELECT h.changed_at FROM recon.stream_exception_history h WHERE h.exception_id = e.exception_id"
             " AND h.changes ? 'status' ORDER BY h.changed_at DESC, h.history_id DESC LIMIT 1) AS status_changed_at")

_STEP_RUNS_OF_RUN = "SELECT s.step_run_id FROM recon.stream_step_runs s WHERE s.run_id = %s"
_STEP_RUNS_OF_RECON = "SELECT s.step_run_id FROM recon.stream_step_runs s WHERE s.reconciliation_id = %s"
_STEP_RUNS_OF_STREAM = ("SELECT s.step_run_id FROM recon.stream_step_runs s JOIN recon.stream_runs r USING (run_id)"
                        " WHERE r.stream_id = %s")


def list_exceptions(*, status: str | None = None, reason: str | None = None, side: str | None = None,
                    stream_id: int | None = None, run_id: int | None = None, reconciliation_id: int | None = None,
                    assignee: str | None = None, older_than_days: int | None = None, offset: int = 0,
                    limit: int = 20, conn=None) -> tuple[list[dict], int]:
    where, params = [], []
    for col, value in (("status", status), ("reason", reason), ("side", side), ("stream_id", stream_id),
                       ("run_id", run_id), ("reconciliation_id", reconciliation_id), ("assignee", assignee)):
        if value is not None:
            where.append(f"e.{col} = %s")
            params.append(value)
    # run / reconciliation / stream: through the step runs they cover, so the BRIN range index on
    # step_run_id (0010) narrows the scan; the column test above keeps the answer exact
    for sql, value in ((_STEP_RUNS_OF_RUN, run_id), (_STEP_RUNS_OF_RECON, reconciliation_id),
                       (_STEP_RUNS_OF_STREAM, stream_id)):
        if value is not None:
            where.append(f"e.step_run_id IN ({sql})")
            params.append(value)
    if older_than_days is not None:
        where.append("e.created_at < now() - make_interval(days => %s)")
        params.append(older_than_days)
    clause = ("WHERE " + " AND ".join(where)) if where else ""
    with tx(conn) as c:
        total = fetch_one(c, f"SELECT count(*) AS n FROM recon.stream_exceptions e {clause}", params)["n"]
        # the page first, then who closed each of its rows: the lookups of _RESOLVED run for the page's rows,
        # not for every row the OFFSET skips (page 24,000 of 480,000 exceptions took 11 s, now 0.2 s)
        rows = fetch_all(c, f"SELECT {_COLS}{_RESOLVED} FROM (SELECT * FROM recon.stream_exceptions e {clause}"
                            " ORDER BY e.created_at DESC, e.exception_id DESC OFFSET %s LIMIT %s) e"
                            " ORDER BY e.created_at DESC, e.exception_id DESC",
                         params + [offset, limit])
    return rows, total


def get_exception(exception_id: int, conn=None) -> dict:
    with tx(conn) as c:
        row = fetch_one(c, f"SELECT {_COLS}{_RESOLVED} FROM recon.stream_exceptions e WHERE e.exception_id = %s",
                        (exception_id,))
    if row is None:
        raise NotFound("Exception", exception_id)
    return row


def update_exception(exception_id: int, changes: dict[str, Any], changed_by: str) -> dict:
    """Apply the given fields (status, note, assignee; None clears note/assignee); one history entry
    with every field that really changed. Setting what is already there changes nothing."""
    with tx() as c:
        row = fetch_one(c, "SELECT status, note, assignee FROM recon.stream_exceptions WHERE exception_id = %s"
                           " FOR UPDATE", (exception_id,))
        if row is None:
            raise NotFound("Exception", exception_id)
        diff = {k: {"from": row[k], "to": v} for k, v in changes.items() if row[k] != v}
        if diff:
            sets = ", ".join(f"{k} = %s" for k in diff)
            # the time the change is made, under the row's lock — not now(), the transaction's start: of two
            # PATCHes at once, the one that waited for the lock started first and changes second, and the
            # history (newest first) must list the changes in the order they were made
            # one instant for both: the exception's updatedAt (and resolvedAt) is its latest change's changedAt
            changed_at = fetch_one(c, f"UPDATE recon.stream_exceptions SET {sets}, updated_at = clock_timestamp()"
                                      " WHERE exception_id = %s RETURNING updated_at",
                                   [d["to"] for d in diff.values()] + [exception_id])["updated_at"]
            c.execute("INSERT INTO recon.stream_exception_history (exception_id, changed_by, changes, changed_at)"
                      " VALUES (%s, %s, %s, %s)", (exception_id, changed_by, Jsonb(diff), changed_at))
        return get_exception(exception_id, c)


def history(exception_id: int, offset: int = 0, limit: int = 20) -> tuple[list[dict], int]:
    """One page of an exception's changes, newest first (as every list of the platform), and their number."""
    with tx() as c:
        if fetch_one(c, "SELECT 1 AS x FROM recon.stream_exceptions WHERE exception_id = %s", (exception_id,)) is None:
            raise NotFound("Exception", exception_id)
        total = fetch_one(c, "SELECT count(*) AS n FROM recon.stream_exception_history WHERE exception_id = %s",
                          (exception_id,))["n"]
        rows = fetch_all(c, "SELECT history_id, exception_id, changed_by, changed_at, changes"
                            " FROM recon.stream_exception_history WHERE exception_id = %s"
                            " ORDER BY changed_at DESC, history_id DESC OFFSET %s LIMIT %s",
                         (exception_id, offset, limit))
    return rows, total


def open_counts(conn=None) -> list[dict]:
    """OPEN exceptions per stream and reason (for /metrics)."""
    with tx(conn) as c:
        return fetch_all(c, "SELECT stream_id, reason, count(*) AS n FROM recon.stream_exceptions"
                            " WHERE status = 'OPEN' GROUP BY stream_id, reason ORDER BY stream_id, reason")


_CANDIDATE_KEYS = ("rowKey", "pass", "failedCondition", "detail")   # platform §8's order


def column_orders(rows: list[dict], conn=None) -> dict[tuple[int, str], list[str]]:
    """(step run, side) -> the columns of that side's input, in file order: the UNMATCHED_SOURCE /
    UNMATCHED_TARGET artifact keeps the input's columns first (then its explanation columns)."""
    step_runs = sorted({r["step_run_id"] for r in rows if r.get("step_run_id") is not None})
    if not step_runs:
        return {}
    with tx(conn) as c:
        found = fetch_all(c, "SELECT a.step_run_id, a.artifact_type, f.columns FROM recon.stream_artifacts a"
                             " JOIN recon.files f ON f.file_id = a.file_id WHERE a.step_run_id = ANY(%s)"
                             " AND a.artifact_type IN ('UNMATCHED_SOURCE', 'UNMATCHED_TARGET')", (step_runs,))
    return {(r["step_run_id"], r["artifact_type"].removeprefix("UNMATCHED_")):
            [c.get("name") for c in (r["columns"] or []) if isinstance(c, dict)] for r in found}


def views(rows: list[dict], conn=None) -> list[dict]:
    """view() of each row, rowData in the input file's column order."""
    orders = column_orders(rows, conn)
    return [view(r, orders.get((r.get("step_run_id"), r["side"]))) for r in rows]


def view(row: dict, columns: list[str] | None = None) -> dict:
    """The API form of an exception; `columns` orders rowData (None: looked up)."""
    if columns is None:
        columns = column_orders([row]).get((row.get("step_run_id"), row["side"]), [])
    closed = row["status"] != "OPEN"
    return {"id": row["exception_id"], "reconciliationId": row["reconciliation_id"], "streamId": row["stream_id"],
            "runId": row["run_id"], "stepRunId": row["step_run_id"], "stepOrder": row["step_order"],
            "side": row["side"], "rowKey": row["row_key"], "rowData": ordered_keys(row["row_data"], columns),
            "reason": row["reason"], "closestCandidate": ordered_keys(row["closest_candidate"], _CANDIDATE_KEYS),
            "status": row["status"], "assignee": row["assignee"],
            "note": row["note"], "resolvedBy": row.get("status_changed_by") if closed else None,
            "resolvedAt": row.get("status_changed_at") if closed else None,
            "createdAt": row["created_at"], "updatedAt": row["updated_at"]}


def history_view(row: dict) -> dict:
    # in the PATCH body's order (platform §8: status, note, assignee); jsonb sorts keys by length
    changes = ordered_keys({k: ordered_keys(v, ("from", "to")) for k, v in (row["changes"] or {}).items()},
                           ("status", "note", "assignee"))
    return {"id": row["history_id"], "exceptionId": row["exception_id"], "changedBy": row["changed_by"],
            "changedAt": row["changed_at"], "changes": changes}
