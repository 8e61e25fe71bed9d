"""Reconciliation jobs: creation, priority queueing, planning into token-range segments, claiming
and completing segments (idempotently), finalisation exactly once, and the stuck-job sweeper.

SQS messages are wake-ups, the control plane is the queue: a worker woken by any job message claims
the highest-priority queued job, and a worker woken by any segment message claims the highest-priority
pending segment. So priority is real whatever order SQS delivers in, and at-least-once delivery is
harmless: every state change is a conditional update in one transaction.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from psycopg.types.json import Jsonb

from chalicelib import aws
from chalicelib.cassandra.tokens import split_ring
from chalicelib.cdc.catalog import get_catalog
from chalicelib.config import get_settings
from chalicelib.db.pool import transaction
from chalicelib.observability import logger

PRIORITIES = {"LOW": 0, "NORMAL": 1, "HIGH": 2}
JOBS_QUEUE = "recon-jobs"
SEGMENTS_QUEUE = "recon-segments"
MAX_SEGMENT_ATTEMPTS = 5


def _now() -> datetime:
    return datetime.now(timezone.utc)


# ------------------------------------------------------------------------------------------ create
def create_jobs(
    tables: list[str],
    strategy: str,
    priority: str = "NORMAL",
    job_type: str = "MANUAL_ONDEMAND",
    requested_by: str | None = None,
    schedule_event_id: str | None = None,
) -> list[dict]:
    """Insert one queued job per table and wake a worker for each. Tables must be in the catalog."""
    s = get_settings()
    created: list[dict] = []
    with transaction() as conn:
        for name in tables:
            row = conn.execute(
                "INSERT INTO recon.jobs (job_id, table_name, job_type, validation_strategy, priority, status, phase,"
                " requested_by, deadline_at, schedule_event_id, params)"
                " VALUES (%s, %s, %s, %s, %s, 'RUNNING', 'QUEUED', %s, now() + make_interval(secs => %s), %s, %s)"
                " ON CONFLICT (table_name, schedule_event_id) WHERE schedule_event_id IS NOT NULL DO NOTHING"
                " RETURNING job_id, table_name, created_at, validation_strategy",
                (uuid.uuid4(), name, job_type, strategy, PRIORITIES[priority], requested_by,
                 s.job_deadline_seconds, schedule_event_id,
                 Jsonb({"window_seconds": s.timestamp_range_window_seconds, "sample_size": s.sample_size})),
            ).fetchone()
            if row:
                created.append(row)
    if created:
        try:
            aws.send_messages(JOBS_QUEUE, [{"kind": "job", "job_id": str(r["job_id"])} for r in created])
        except Exception:
            # the jobs are stored: the sweeper re-sends wake-ups for queued jobs within a minute
            logger.exception("could not send job wake-ups; the sweeper will", extra={"jobs": len(created)})
    return created


def estimate_completion(jobs: list[dict]) -> datetime:
    """A rough estimate from recent durations of the same tables and strategies (or 5 min)."""
    if not jobs:
        return _now()
    with transaction() as conn:
        row = conn.execute(
            "SELECT coalesce(percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM completed_at - started_at)), 300) AS p90"
            " FROM (SELECT completed_at, started_at FROM recon.jobs WHERE status = 'COMPLETED' AND table_name = ANY(%s)"
            " ORDER BY completed_at DESC LIMIT 50) recent",
            ([j["table_name"] for j in jobs],),
        ).fetchone()
        queued = conn.execute("SELECT count(*) AS n FROM recon.jobs WHERE phase IN ('QUEUED', 'PLANNING', 'SCANNING')").fetchone()["n"]
    seconds = float(row["p90"]) * max(1, queued / 2)
    return max(j["created_at"] for j in jobs) + timedelta(seconds=min(seconds, get_settings().job_deadline_seconds))


# ------------------------------------------------------------------------------------------ plan
def claim_next_job(conn) -> dict | None:
    """Lock the highest-priority queued job (oldest first within a priority) for planning."""
    return conn.execute(
        "SELECT * FROM recon.jobs WHERE phase = 'QUEUED' ORDER BY priority DESC, created_at, job_id"
        " FOR UPDATE SKIP LOCKED LIMIT 1"
    ).fetchone()


def plan_next_job(prepare_table=None) -> dict | None:
    """Claim the best queued job, cut it into segments and wake workers for them.

    `prepare_table(table_config, job)` runs inside the claiming transaction (checks the PostgreSQL
    schema, back-fills missing tokens); a failure there fails the job with the reason. All of it is
    one transaction: a worker that dies here leaves the job queued for the next one.
    """
    catalog = get_catalog()
    s = get_settings()
    with transaction() as conn:
        job = claim_next_job(conn)
        if job is None:
            return None
        table = catalog.get(job["table_name"])
        try:
            if table is None:
                raise ValueError(f"table {job['table_name']!r} is no longer in the catalog")
            if prepare_table is not None:
                prepare_table(table, job)
        except Exception as exc:
            logger.warning("job planning failed", extra={"job_id": str(job["job_id"]), "error": str(exc)})
            _fail(conn, job, [f"planning failed: {exc}"])
            finished = conn.execute("SELECT * FROM recon.jobs WHERE job_id = %s", (job["job_id"],)).fetchone()
            deliveries = _job_finished(conn, finished)
        else:
            from chalicelib.cdc.strategies import STRATEGIES

            strategy = STRATEGIES[job["validation_strategy"]]
            ranges = split_ring(strategy.segments or table.segments or s.segments_per_job)
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO recon.segments (job_id, segment_no, token_start, token_end, status)"
                    " VALUES (%s, %s, %s, %s, 'PENDING')",
                    [(job["job_id"], n, r.start, r.end) for n, r in enumerate(ranges)],
                )
            conn.execute(
                "UPDATE recon.jobs SET phase = 'SCANNING', started_at = now(), segment_count = %s WHERE job_id = %s",
                (len(ranges), job["job_id"]),
            )
            deliveries = None
    if deliveries is not None:
        _after_finish(deliveries)
        return job
    aws.send_messages(
        SEGMENTS_QUEUE, [{"kind": "segment", "job_id": str(job["job_id"]), "segment_no": n} for n in range(len(ranges))]
    )
    logger.info("job planned", extra={"job_id": str(job["job_id"]), "table": job["table_name"], "segments": len(ranges)})
    return job


# ------------------------------------------------------------------------------------------ segments
def claim_next_segment() -> dict | None:
    """Lease the highest-priority claimable segment (pending, or leased by a worker that died)."""
    lease = get_settings().segment_lease_seconds
    with transaction() as conn:
        return conn.execute(
            "WITH c AS ("
            "  SELECT s.job_id, s.segment_no FROM recon.segments s JOIN recon.jobs j ON j.job_id = s.job_id"
            "  WHERE j.phase = 'SCANNING' AND j.status = 'RUNNING'"
            "    AND (s.status = 'PENDING' OR (s.status = 'RUNNING' AND s.lease_until < now()))"
            "  ORDER BY j.priority DESC, j.created_at, j.job_id, s.segment_no"
            "  FOR UPDATE OF s SKIP LOCKED LIMIT 1)"
            " UPDATE recon.segments s SET status = 'RUNNING', attempts = s.attempts + 1, started_at = now(),"
            "   lease_until = now() + make_interval(secs => %s)"
            " FROM c WHERE s.job_id = c.job_id AND s.segment_no = c.segment_no"
            " RETURNING s.*",
            (lease,),
        ).fetchone()


def extend_lease(job_id, segment_no: int) -> bool:
    lease = get_settings().segment_lease_seconds
    with transaction() as conn:
        cur = conn.execute(
            "UPDATE recon.segments SET lease_until = now() + make_interval(secs => %s)"
            " WHERE job_id = %s AND segment_no = %s AND status = 'RUNNING'",
            (lease, job_id, segment_no),
        )
        return cur.rowcount == 1


def segment_state(job_id, segment_no: int) -> dict | None:
    with transaction() as conn:
        return conn.execute(
            "SELECT s.status, s.lease_until, s.lease_until > now() AS leased, j.status AS job_status, j.phase"
            " FROM recon.segments s JOIN recon.jobs j ON j.job_id = s.job_id WHERE s.job_id = %s AND s.segment_no = %s",
            (job_id, segment_no),
        ).fetchone()


def release_segment(job_id, segment_no: int, error: str) -> bool:
    """Give a segment back after a failure; fail the job when it has failed too often.

    Returns True when the job was failed (nothing more to retry)."""
    deliveries = None
    with transaction() as conn:
        seg = conn.execute(
            "SELECT * FROM recon.segments WHERE job_id = %s AND segment_no = %s FOR UPDATE", (job_id, segment_no)
        ).fetchone()
        if seg is None or seg["status"] == "DONE":
            return False
        conn.execute(
            "UPDATE recon.segments SET status = 'PENDING', lease_until = NULL, last_error = %s"
            " WHERE job_id = %s AND segment_no = %s",
            (error[:2000], job_id, segment_no),
        )
        if seg["attempts"] >= MAX_SEGMENT_ATTEMPTS:
            job = conn.execute("SELECT * FROM recon.jobs WHERE job_id = %s FOR UPDATE", (job_id,)).fetchone()
            if job["status"] == "RUNNING":
                _fail(conn, job, [f"segment {segment_no} failed {seg['attempts']} times; last error: {error}"])
                job = conn.execute("SELECT * FROM recon.jobs WHERE job_id = %s", (job_id,)).fetchone()
                deliveries = _job_finished(conn, job)
    if deliveries is not None:
        _after_finish(deliveries)
        return True
    return False


def complete_segment(seg: dict, result: Any) -> str:
    """Record a segment's result once. Returns 'recorded', 'duplicate' or 'job-finished'.

    `result` has cassandra_rows, postgres_rows, cassandra_digest, postgres_digest, mismatches
    (list of Diff), suspects (list of Diff), and for counts-only strategies count_difference.
    Runs in one transaction: mismatches, the segment's DONE state and the job's progress commit
    together, so a redelivered or duplicated segment changes nothing, and the segment that completes
    the job moves it on exactly once.
    """
    from chalicelib.cdc import recording

    job_id, segment_no = seg["job_id"], seg["segment_no"]
    s = get_settings()
    with transaction() as conn:
        current = conn.execute(
            "SELECT status FROM recon.segments WHERE job_id = %s AND segment_no = %s FOR UPDATE", (job_id, segment_no)
        ).fetchone()
        if current is None or current["status"] == "DONE":
            return "duplicate"
        job = conn.execute("SELECT * FROM recon.jobs WHERE job_id = %s FOR UPDATE", (job_id,)).fetchone()
        if job["status"] != "RUNNING" or job["phase"] != "SCANNING":
            return "job-finished"
        recording.insert_mismatches(conn, job, segment_no, result.mismatches)
        recording.insert_suspects(conn, job, segment_no, result.suspects, s.recheck_grace_seconds)
        conn.execute(
            "UPDATE recon.segments SET status = 'DONE', completed_at = now(), lease_until = NULL,"
            " cassandra_rows = %s, postgres_rows = %s, cassandra_digest = %s, postgres_digest = %s,"
            " mismatches = %s, suspects = %s WHERE job_id = %s AND segment_no = %s",
            (result.cassandra_rows, result.postgres_rows, result.cassandra_digest, result.postgres_digest,
             len(result.mismatches), len(result.suspects), job_id, segment_no),
        )
        done = conn.execute(
            "UPDATE recon.jobs SET segments_done = segments_done + 1 WHERE job_id = %s RETURNING segments_done, segment_count",
            (job_id,),
        ).fetchone()
        if done["segments_done"] < done["segment_count"]:
            return "recorded"
        has_suspects = conn.execute("SELECT 1 FROM recon.rechecks WHERE job_id = %s LIMIT 1", (job_id,)).fetchone()
        conn.execute("UPDATE recon.jobs SET phase = 'RECHECKING' WHERE job_id = %s", (job_id,))
        delay = s.recheck_grace_seconds if has_suspects else 0
    # the last segment hands the job to the recheck/finalise step (also run by the sweeper if lost)
    aws.send_message(SEGMENTS_QUEUE, {"kind": "finalize", "job_id": str(job_id)}, delay_seconds=min(delay, 900))
    return "recorded"


# ------------------------------------------------------------------------------------------ finish
def _fail(conn, job: dict, errors: list[str]) -> None:
    conn.execute(
        "UPDATE recon.jobs SET status = 'FAILED', phase = 'DONE', completed_at = now(),"
        " started_at = coalesce(started_at, now()), validation_errors = %s WHERE job_id = %s AND status = 'RUNNING'",
        (Jsonb(errors), job["job_id"]),
    )


def _job_finished(conn, job: dict) -> list:
    """Inside the finishing transaction: alert planning. Returns deliveries to send after commit."""
    from chalicelib.cdc import alerts

    fired, deliveries = alerts.plan_job_events(conn, job)
    if fired:
        conn.execute("UPDATE recon.jobs SET alert_fired = true WHERE job_id = %s", (job["job_id"],))
    return deliveries


def _after_finish(deliveries: list) -> None:
    if deliveries:
        from chalicelib.cdc import alerts

        try:
            alerts.enqueue_deliveries(deliveries)
        except Exception:  # the sweeper re-sends pending deliveries
            logger.exception("could not enqueue webhook deliveries")


def finalize_job(conn, job: dict) -> list:
    """Compute the job's totals from its segments and mismatches and complete it (caller holds the
    job row lock and checked phase = RECHECKING). Returns webhook deliveries to enqueue after commit."""
    agg = conn.execute(
        "SELECT coalesce(sum(cassandra_rows), 0) AS c, coalesce(sum(postgres_rows), 0) AS p"
        " FROM recon.segments WHERE job_id = %s",
        (job["job_id"],),
    ).fetchone()
    mism = conn.execute("SELECT count(*) AS n FROM recon.mismatches WHERE job_id = %s", (job["job_id"],)).fetchone()["n"]
    c, p = int(agg["c"]), int(agg["p"])
    if job["validation_strategy"] == "ROW_COUNT":
        mism = abs(c - p)
    drift = round(100.0 * mism / c, 6) if c else (0.0 if mism == 0 else 100.0)
    job = conn.execute(
        "UPDATE recon.jobs SET status = 'COMPLETED', phase = 'DONE', completed_at = now(),"
        " cassandra_row_count = %s, postgres_row_count = %s, mismatch_count = %s, drift_percentage = %s"
        " WHERE job_id = %s AND status = 'RUNNING' RETURNING *",
        (c, p, mism, drift, job["job_id"]),
    ).fetchone()
    if job is None:
        return []
    logger.info("job completed", extra={"job_id": str(job["job_id"]), "table": job["table_name"],
                                        "mismatches": mism, "drift_percentage": drift})
    return _job_finished(conn, job)


def sweep() -> dict:
    """Maintenance (every minute): fail jobs past their deadline, re-wake lost work."""
    counts = {"failed": 0, "rewoken_jobs": 0, "rewoken_segments": 0, "rewoken_finalize": 0}
    to_send: list[tuple[str, dict]] = []
    all_deliveries: list = []
    with transaction() as conn:
        stuck = conn.execute(
            "SELECT * FROM recon.jobs WHERE status = 'RUNNING' AND deadline_at < now() FOR UPDATE SKIP LOCKED"
        ).fetchall()
        for job in stuck:
            elapsed = int((_now() - (job["started_at"] or job["created_at"])).total_seconds())
            _fail(conn, job, [
                f"deadline exceeded: still {job['phase']} after {elapsed} s "
                f"({job['segments_done']}/{job['segment_count'] or 0} segments done)"
            ])
            job = conn.execute("SELECT * FROM recon.jobs WHERE job_id = %s", (job["job_id"],)).fetchone()
            all_deliveries += _job_finished(conn, job)
            counts["failed"] += 1
        for r in conn.execute(
            "SELECT job_id FROM recon.jobs WHERE phase = 'QUEUED' AND created_at < now() - interval '60 seconds'"
        ).fetchall():
            to_send.append((JOBS_QUEUE, {"kind": "job", "job_id": str(r["job_id"])}))
            counts["rewoken_jobs"] += 1
        for r in conn.execute(
            "SELECT s.job_id, s.segment_no FROM recon.segments s JOIN recon.jobs j ON j.job_id = s.job_id"
            " WHERE j.phase = 'SCANNING' AND j.status = 'RUNNING' AND j.started_at < now() - interval '120 seconds'"
            " AND (s.status = 'PENDING' OR (s.status = 'RUNNING' AND s.lease_until < now())) LIMIT 500"
        ).fetchall():
            to_send.append((SEGMENTS_QUEUE, {"kind": "segment", "job_id": str(r["job_id"]), "segment_no": r["segment_no"]}))
            counts["rewoken_segments"] += 1
        grace = get_settings().recheck_grace_seconds
        for r in conn.execute(
            "SELECT j.job_id FROM recon.jobs j WHERE j.phase = 'RECHECKING' AND j.status = 'RUNNING'"
            " AND NOT EXISTS (SELECT 1 FROM recon.rechecks r WHERE r.job_id = j.job_id"
            "   AND r.due_at > now() - make_interval(secs => %s))",
            (120 + grace,),
        ).fetchall():
            to_send.append((SEGMENTS_QUEUE, {"kind": "finalize", "job_id": str(r["job_id"])}))
            counts["rewoken_finalize"] += 1
    for queue, body in to_send:
        aws.send_message(queue, body)
    _after_finish(all_deliveries)
    from chalicelib.cdc import alerts

    counts["requeued_deliveries"] = alerts.requeue_stalled_deliveries() or 0
    return counts
