"""Read side of CDC reconciliation: job and mismatch listings with filters and totals, job detail.

Every listing has a total order (newest first, the id breaking ties) backed by an index, so pages
never repeat or skip rows while nothing is inserted. Count and page are read in one REPEATABLE READ
snapshot, so totals agree with the page.

Rows are returned in the API's shape (timestamps ISO 8601 UTC with `Z`, priority as its name).
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from chalicelib.domain.cdc import PRIORITY_FROM_DB
from chalicelib.domain.paging import Page
from chalicelib.domain.timeutil import DateBound, iso_z
from chalicelib.db.pool import transaction
from chalicelib.runs.retry import retrying

MISMATCH_TYPES = ("MISSING_IN_POSTGRES", "MISSING_IN_CASSANDRA", "DATA_MISMATCH")


@dataclass
class JobFilter:
    table: str | None = None
    status: str | None = None
    job_type: str | None = None
    from_date: DateBound | None = None   # on the time shown: started_at, created_at until then (docs/api.md)
    to_date: DateBound | None = None


@dataclass
class MismatchFilter:
    table: str | None = None
    mismatch_type: str | None = None
    resolution_status: str | None = None
    job_id: uuid.UUID | None = None
    from_date: DateBound | None = None   # on detected_at
    to_date: DateBound | None = None


@dataclass
class _Where:
    clauses: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)

    def add(self, clause: str, *params: Any) -> None:
        self.clauses.append(clause)
        self.params.extend(params)

    def dates(self, column: str, lo: DateBound | None, hi: DateBound | None) -> None:
        # `column` is one of our own literal column names, never input
        if lo is not None:
            self.add(f"{column} >= %s", lo.instant)
        if hi is not None:
            self.add(f"{column} < %s", hi.inclusive_end)

    @property
    def sql(self) -> str:
        return ("WHERE " + " AND ".join(self.clauses)) if self.clauses else ""


def _snapshot(conn) -> None:
    conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")


# ----------------------------------------------------------------------------------------------- jobs

# started_at: a job is RUNNING from the moment it is accepted (the trigger answers "status": "RUNNING"),
# so it always has one: while it waits in the queue, the time it was requested (created_at, never later
# than the real start), then the moment a worker began it. duration_seconds is the difference of the two
# timestamps as shown (whole seconds, truncated), so a client subtracting started_at from completed_at
# gets it, as in the contract's example (135); it is null until the job finishes.
_JOB_COLUMNS = """
    job_id, table_name, job_type, validation_strategy, coalesce(started_at, created_at) AS started_at,
    completed_at, status,
    cassandra_row_count, postgres_row_count, mismatch_count, drift_percentage, alert_fired,
    CASE WHEN started_at IS NOT NULL AND completed_at IS NOT NULL
         THEN extract(epoch FROM date_trunc('second', completed_at) - date_trunc('second', started_at))::bigint
    END AS duration_seconds
"""


def job_out(row: dict) -> dict:
    return {
        "job_id": str(row["job_id"]),
        "table_name": row["table_name"],
        "job_type": row["job_type"],
        "validation_strategy": row["validation_strategy"],
        "started_at": iso_z(row["started_at"]),
        "completed_at": iso_z(row["completed_at"]),
        "duration_seconds": None if row["duration_seconds"] is None else int(row["duration_seconds"]),
        "status": row["status"],
        "cassandra_row_count": row["cassandra_row_count"],
        "postgres_row_count": row["postgres_row_count"],
        "mismatch_count": row["mismatch_count"],
        "drift_percentage": row["drift_percentage"],
        "alert_fired": row["alert_fired"],
    }


@retrying(what="table_has_history")
def table_has_history(table: str) -> bool:
    """Whether any job was ever recorded for `table` (a table removed from the catalog keeps its history)."""
    with transaction() as conn:
        return conn.execute(
            "SELECT EXISTS (SELECT 1 FROM recon.jobs WHERE table_name = %s) AS found", (table,)
        ).fetchone()["found"]


# A job's time in the listing: the started_at it shows (when it started, or, while it waits in the
# queue, when it was requested; started_at >= created_at). Dates filter on it and the listing is ordered
# by it, so a client filtering with a started_at it was shown finds that job, and only jobs shown inside
# its bounds.
_JOB_TIME = "coalesce(started_at, created_at)"


@retrying(what="list_jobs")
def list_jobs(flt: JobFilter, page: Page) -> tuple[list[dict], int]:
    """One page of jobs, newest first (started_at, or created_at while queued, DESC; job_id DESC), and
    the total matching."""
    where = _Where()
    if flt.table is not None:
        where.add("table_name = %s", flt.table)
    if flt.status is not None:
        where.add("status = %s", flt.status)
    if flt.job_type is not None:
        where.add("job_type = %s", flt.job_type)
    where.dates(_JOB_TIME, flt.from_date, flt.to_date)
    if flt.to_date is not None:  # implied (created_at <= started_at); lets the created_at index bound the scan
        where.add("created_at < %s", flt.to_date.inclusive_end)
    with transaction() as conn:
        _snapshot(conn)
        total = conn.execute(f"SELECT count(*) AS n FROM recon.jobs {where.sql}", where.params).fetchone()["n"]
        rows = []
        if total > page.offset:
            rows = conn.execute(
                f"SELECT {_JOB_COLUMNS} FROM recon.jobs {where.sql}"
                f" ORDER BY {_JOB_TIME} DESC, job_id DESC LIMIT %s OFFSET %s",
                [*where.params, page.limit, page.offset],
            ).fetchall()
    return [job_out(r) for r in rows], total


def _validation_errors(value: Any) -> list | None:
    if value is None:
        return None
    if isinstance(value, list):
        return value
    return [value]


def sample_out(row: dict) -> dict:
    out = {
        "mismatch_id": str(row["mismatch_id"]),
        "primary_key_value": row["primary_key_value"],
        "mismatch_type": row["mismatch_type"],
    }
    if row["mismatch_type"] == "DATA_MISMATCH":
        out["cassandra_checksum"] = row["cassandra_checksum"]
        out["postgres_checksum"] = row["postgres_checksum"]
    out["detected_at"] = iso_z(row["detected_at"])
    out["resolution_status"] = row["resolution_status"]
    return out


@retrying(what="get_job")
def get_job(job_id: uuid.UUID, sample_size: int) -> dict | None:
    """The job with its mismatch summary (every type, zeros included) and a bounded, stable sample."""
    with transaction() as conn:
        _snapshot(conn)
        row = conn.execute(
            f"SELECT {_JOB_COLUMNS}, validation_errors, transient_count, auto_resolved_count, priority,"
            " segment_count, segments_done, retry_error, retry_since FROM recon.jobs WHERE job_id = %s",
            (job_id,),
        ).fetchone()
        if row is None:
            return None
        counts = {
            r["mismatch_type"]: r["n"]
            for r in conn.execute(
                "SELECT mismatch_type, count(*) AS n FROM recon.mismatches WHERE job_id = %s GROUP BY mismatch_type",
                (job_id,),
            )
        }
        sample = []
        if sample_size > 0:
            sample = conn.execute(
                "SELECT mismatch_id, primary_key_value, mismatch_type, cassandra_checksum, postgres_checksum,"
                " detected_at, resolution_status FROM recon.mismatches WHERE job_id = %s"
                " ORDER BY detected_at, mismatch_id LIMIT %s",
                (job_id, sample_size),
            ).fetchall()
    out = job_out(row)
    out["validation_errors"] = _validation_errors(row["validation_errors"])
    if row["status"] == "RUNNING" and row["retry_error"]:
        # what a running job is waiting out (an unreachable Cassandra, ...), until it makes progress again
        out["validation_errors"] = [f"retrying since {iso_z(row['retry_since'])}: {row['retry_error']}"]
    out["mismatches_summary"] = {t: int(counts.get(t, 0)) for t in MISMATCH_TYPES}
    out["sample_mismatches"] = [sample_out(s) for s in sample]
    out["transient_count"] = row["transient_count"]
    out["auto_resolved_count"] = row["auto_resolved_count"]
    out["priority"] = PRIORITY_FROM_DB[row["priority"]].value
    out["progress"] = {"segments_total": row["segment_count"], "segments_done": row["segments_done"]}
    return out


# ----------------------------------------------------------------------------------------- mismatches

_MISMATCH_COLUMNS = """
    mismatch_id, job_id, table_name, primary_key_value, mismatch_type, cassandra_checksum,
    postgres_checksum, cassandra_data, postgres_data, detected_at, resolution_status, resolution_notes,
    resolved_at, resolved_by, differing_columns
"""


def _catalog_column_order() -> dict[str, dict[str, int]]:
    """{table: {column: rank}} of the catalog, for row images (empty if the catalog cannot be read)."""
    from chalicelib.cdc.catalog import get_catalog

    try:
        tables = get_catalog().tables
    except Exception:  # a listing must not fail on the catalog; images then keep their stored order
        return {}
    return {name: {c: i for i, c in enumerate(t.columns)} for name, t in tables.items()}


def _in_column_order(image: dict | None, rank: dict[str, int] | None) -> dict | None:
    """A row image with its columns in the catalog's order (jsonb stores short keys first), as the
    contract's example lists them; columns the catalog does not name follow in stored order. A map
    inside a column is shown in canonical order, its keys sorted (docs/canonical-form.md), not jsonb's."""
    if not image:
        return image
    image = {k: _keys_sorted(v) for k, v in image.items()}
    if not rank:
        return image
    return dict(sorted(image.items(), key=lambda kv: rank.get(kv[0], len(rank))))


def _keys_sorted(value):
    if isinstance(value, dict):
        return {k: _keys_sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_keys_sorted(v) for v in value]
    return value


def mismatch_out(row: dict, column_order: dict[str, dict[str, int]] | None = None) -> dict:
    rank = (column_order or {}).get(row["table_name"])
    return {
        "mismatch_id": str(row["mismatch_id"]),
        "job_id": str(row["job_id"]),
        "table_name": row["table_name"],
        "primary_key_value": row["primary_key_value"],
        "mismatch_type": row["mismatch_type"],
        "cassandra_checksum": row["cassandra_checksum"],
        "postgres_checksum": row["postgres_checksum"],
        "cassandra_data": _in_column_order(row["cassandra_data"], rank),
        "postgres_data": _in_column_order(row["postgres_data"], rank),
        "detected_at": iso_z(row["detected_at"]),
        "resolution_status": row["resolution_status"],
        "resolution_notes": row["resolution_notes"],
        "resolved_at": iso_z(row["resolved_at"]),
        "resolved_by": row["resolved_by"],
        "differing_columns": row["differing_columns"],
    }


@retrying(what="list_mismatches")
def list_mismatches(flt: MismatchFilter, page: Page) -> tuple[list[dict], int]:
    """One page of mismatches, newest first (detected_at DESC, mismatch_id DESC), and the total."""
    where = _Where()
    if flt.table is not None:
        where.add("table_name = %s", flt.table)
    if flt.mismatch_type is not None:
        where.add("mismatch_type = %s", flt.mismatch_type)
    if flt.resolution_status is not None:
        where.add("resolution_status = %s", flt.resolution_status)
    if flt.job_id is not None:
        where.add("job_id = %s", flt.job_id)
    where.dates("detected_at", flt.from_date, flt.to_date)
    with transaction() as conn:
        _snapshot(conn)
        total = conn.execute(f"SELECT count(*) AS n FROM recon.mismatches {where.sql}", where.params).fetchone()["n"]
        rows = []
        if total > page.offset:
            # deferred join: walk the offset on the (index-only) key columns, read full rows for one page
            rows = conn.execute(
                f"SELECT {_MISMATCH_COLUMNS} FROM recon.mismatches JOIN ("
                f" SELECT mismatch_id AS page_id FROM recon.mismatches {where.sql}"
                " ORDER BY detected_at DESC, mismatch_id DESC LIMIT %s OFFSET %s) page ON mismatch_id = page_id"
                " ORDER BY detected_at DESC, mismatch_id DESC",
                [*where.params, page.limit, page.offset],
            ).fetchall()
    order = _catalog_column_order() if rows else {}
    return [mismatch_out(r, order) for r in rows], total

