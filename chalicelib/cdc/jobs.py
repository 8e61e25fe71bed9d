"""Reconciliation jobs: creation, priority queueing, planning into token-range segments, claiming
and completing segments (idempotently), finalisation exactly once, and the stuck-job sweeper.

SQS messages are wake-ups, the control plane is the queue: a worker woken by any job message claims
the highest-priority queued job, and a worker woken by any segment message claims the highest-priority
pending segment. So priority is real whatever order SQS delivers in, and at-least-once delivery is
harmless: every state change is a conditional update in one transaction. The product-neutral parts
(leases, wake-ups, the sweeper, webhooks, the retry policy) are chalicelib.runs; this module is the
data access of the job and segment aggregates plus the CDC rules on top.

Faults: every step is one transaction or an idempotent sequence of them, run under the retry policy
(`chalicelib.runs.retry`): a database restart or a Cassandra timeout is ridden out; only a permanent
error fails a job, with its reason.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from psycopg.types.json import Jsonb

from psycopg import sql

from chalicelib.cassandra.tokens import split_ring
from chalicelib.cdc.catalog import get_catalog
from chalicelib.config import get_settings
from chalicelib.db.pool import get_pool, transaction
from chalicelib.observability import logger
from chalicelib.runs import leases, wakeups
from chalicelib.runs.retry import ServiceUnavailable, describe, is_transient, retry_call

PRIORITIES = {"LOW": 0, "NORMAL": 1, "HIGH": 2}
JOBS_QUEUE = "recon-jobs"
SEGMENTS_QUEUE = "recon-segments"
MAX_SEGMENT_ATTEMPTS = 5
SEGMENTS = leases.LeaseTable("recon", "segments", ("job_id", "segment_no"))


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
    """Insert one queued job per table and wake a worker for each. Tables must be in the catalog.

    While the service is switched off (RECONCILIATION_ENABLED=false) the hourly schedule creates
    nothing, as a trigger is refused (503): no new reconciliation starts until it is switched on."""
    if job_type == "HOURLY_SCHEDULED" and not get_settings().reconciliation_enabled:
        logger.info("reconciliation disabled: scheduled jobs not created",
                    extra={"tables": tables, "schedule_event_id": schedule_event_id})
        return []
    created = retry_call(_insert_jobs, tables, strategy, priority, job_type, requested_by, schedule_event_id,
                         what="create jobs")
    if created:
        # the jobs are stored: if the wake-ups are lost the sweeper re-sends them within a minute
        wakeups.wake(JOBS_QUEUE, [{"kind": "job", "job_id": str(r["job_id"])} for r in created])
    return created


def _insert_jobs(tables, strategy, priority, job_type, requested_by, schedule_event_id) -> list[dict]:
    s = get_settings()
    created: list[dict] = []
    with transaction() as conn:
        for name in tables:
            row = conn.execute(
                "INSERT INTO recon.jobs (job_id, table_name, job_type, validation_strategy, priority, status, phase,"
                " requested_by, deadline_at, schedule_event_id, params)"
                " VALUES (%s, %s, %s, %s, %s, 'RUNNING', 'QUEUED', %s, now() + make_interval(secs => %s), %s, %s)"
                " ON CONFLICT (table_name, schedule_event_id) WHERE schedule_event_id IS NOT NULL DO NOTHING"
                " RETURNING job_id, table_name, created_at, validation_strategy, priority",
                (uuid.uuid4(), name, job_type, strategy, PRIORITIES[priority], requested_by,
                 s.job_deadline_seconds, schedule_event_id,
                 Jsonb({"window_seconds": s.timestamp_range_window_seconds, "sample_size": s.sample_size})),
            ).fetchone()
            if row:
                created.append(row)
    return created


#: the estimate of a job with no history to go by (none of its table, none of its strategy)
DEFAULT_ESTIMATE_SECONDS = 300.0
#: strategies that read every row of the table and count it (their counts are the table's size)
WHOLE_TABLE_STRATEGIES = ("ROW_COUNT", "CHECKSUM")
#: recent jobs per (table, strategy) an estimate looks at, and how far back
_ESTIMATE_HISTORY = 50
_ESTIMATE_DAYS = 90


def estimate_completion(jobs: list[dict]) -> datetime:
    """When the just created `jobs` should be done, from the durations of recent COMPLETED jobs
    (`estimate_seconds`), scaled by the queue depth; shown in whole seconds, after now."""
    if not jobs:
        return _now()
    return retry_call(_estimate, jobs, what="estimate completion")


def _p(values: list[float], q: float) -> float:
    """PostgreSQL's percentile_cont: linear interpolation between the closest ranks."""
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def estimate_seconds(table: str, strategy: str, history: list[dict]) -> float:
    """Seconds a `strategy` job of `table` should take, from `history` (recent COMPLETED jobs, newest
    first: table_name, validation_strategy, seconds, cassandra_row_count, postgres_row_count):

    1. the p90 of the table's own recent jobs of that strategy;
    2. a strategy the table never ran, run on other tables: a SAMPLE job reads a sample of a fixed size
       whatever the table (the p90 of theirs); a scan costs in proportion to the table, so the p90 of
       their seconds per row times this table's row count (from its latest ROW_COUNT or CHECKSUM job);
    3. otherwise the median of the table's recent jobs of its other strategies (same data, same engines);
    4. DEFAULT_ESTIMATE_SECONDS when nothing is known.
    A ROW_COUNT first run on a table whose CHECKSUM takes seconds was estimated at 5 minutes."""
    sizes: dict[str, int] = {}
    for h in history:
        if h["validation_strategy"] in WHOLE_TABLE_STRATEGIES and h["table_name"] not in sizes:
            rows = max(h["cassandra_row_count"] or 0, h["postgres_row_count"] or 0)
            if rows:
                sizes[h["table_name"]] = rows
    own = [h["seconds"] for h in history if h["table_name"] == table and h["validation_strategy"] == strategy]
    if own:
        return _p(own, 0.9)
    elsewhere = [h for h in history if h["validation_strategy"] == strategy and h["table_name"] != table]
    if elsewhere and strategy == "SAMPLE":
        return _p([h["seconds"] for h in elsewhere], 0.9)
    per_row = [h["seconds"] / sizes[h["table_name"]] for h in elsewhere if h["table_name"] in sizes]
    if per_row and table in sizes:
        return _p(per_row, 0.9) * sizes[table]
    other = [h["seconds"] for h in history if h["table_name"] == table]
    if other:
        return _p(other, 0.5)
    return DEFAULT_ESTIMATE_SECONDS


def _estimate(jobs: list[dict]) -> datetime:
    with transaction() as conn:
        history = conn.execute(
            "SELECT table_name, validation_strategy, seconds, cassandra_row_count, postgres_row_count FROM ("
            " SELECT table_name, validation_strategy, cassandra_row_count, postgres_row_count, completed_at,"
            "  extract(epoch FROM completed_at - started_at)::float8 AS seconds,"
            "  row_number() OVER (PARTITION BY table_name, validation_strategy ORDER BY completed_at DESC) AS n"
            " FROM recon.jobs WHERE status = 'COMPLETED' AND started_at IS NOT NULL"
            "  AND completed_at > now() - make_interval(days => %s)) recent"
            " WHERE n <= %s ORDER BY completed_at DESC",
            (_ESTIMATE_DAYS, _ESTIMATE_HISTORY),
        ).fetchall()
        # the queue ahead of these jobs: work is claimed by priority, so only jobs of their priority or higher
        # (theirs included) wait before them; a HIGH job jumps LOW ones (contract)
        queued = conn.execute("SELECT count(*) AS n FROM recon.jobs WHERE phase IN ('QUEUED', 'SCANNING')"
                              " AND priority >= %s", (min(j["priority"] for j in jobs),)).fetchone()["n"]
    # the jobs run side by side (segments on every worker): the slowest one decides
    slowest = max(estimate_seconds(j["table_name"], j["validation_strategy"], history) for j in jobs)
    seconds = slowest * max(1, queued / 2)
    eta = max(j["created_at"] for j in jobs) + timedelta(seconds=min(seconds, get_settings().job_deadline_seconds))
    # shown in whole seconds: rounded up, and after this moment, so a sub-second job is never estimated
    # before it was asked for
    ceil = eta.replace(microsecond=0) + (timedelta(seconds=1) if eta.microsecond else timedelta(0))
    return max(ceil, _now().replace(microsecond=0) + timedelta(seconds=1))


# ------------------------------------------------------------------------------------------ read
def get_job(job_id) -> dict | None:
    """The job's row (retried on transient faults)."""
    return retry_call(_get_job, job_id, what="read job")


def _get_job(job_id) -> dict | None:
    with transaction() as conn:
        return conn.execute("SELECT * FROM recon.jobs WHERE job_id = %s", (job_id,)).fetchone()


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
    schema, back-fills missing tokens). All of it is one transaction: a worker that dies here, or a
    transient fault (database restart, Cassandra timeout), leaves the job queued and the step is
    retried; only a permanent error there fails the job, with the reason.
    """
    planned = retry_call(_plan_next_job, prepare_table, what="plan job", on_retry=_note_planning_fault)
    if planned is None:
        return None
    job, segment_count, deliveries = planned
    if deliveries is not None:
        _after_finish(deliveries)
        return job
    wakeups.wake(SEGMENTS_QUEUE, [{"kind": "segment", "job_id": str(job["job_id"]), "segment_no": n}
                                  for n in range(segment_count)])
    logger.info("job planned", extra={"job_id": str(job["job_id"]), "table": job["table_name"], "segments": segment_count})
    return job


def _plan_next_job(prepare_table):
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
            if is_transient(exc):
                # rolled back: the job stays queued, the step is retried (and the job says why meanwhile)
                raise _PlanningFault(job["job_id"], exc) from exc
            logger.warning("job planning failed", extra={"job_id": str(job["job_id"]), "error": str(exc)})
            conn.rollback()  # whatever prepare_table did is undone; the job row is locked again below
            job = conn.execute("SELECT * FROM recon.jobs WHERE job_id = %s AND phase = 'QUEUED' FOR UPDATE",
                               (job["job_id"],)).fetchone()
            if job is None:
                return None
            _fail(conn, job, [f"planning failed: {describe(exc)}"])
            finished = conn.execute("SELECT * FROM recon.jobs WHERE job_id = %s", (job["job_id"],)).fetchone()
            return job, 0, _job_finished(conn, finished)
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
            "UPDATE recon.jobs SET phase = 'SCANNING', started_at = now(), segment_count = %s,"
            " retry_error = NULL, retry_since = NULL WHERE job_id = %s",
            (len(ranges), job["job_id"]),
        )
        return job, len(ranges), None


class _PlanningFault(Exception):
    """A transient fault while planning a job (raised from it, so it is retried as the fault is)."""

    def __init__(self, job_id, cause: BaseException):
        super().__init__(describe(cause))
        self.job_id = job_id


def _note_planning_fault(exc: BaseException) -> None:
    if isinstance(exc, _PlanningFault):
        note_retry(exc.job_id, "planning", exc.__cause__ or exc)


# ------------------------------------------------------------------------------------------ retries
def retry_reason(exc: BaseException) -> str:
    """A transient fault in words a person can act on: which side is down, then the driver's error
    (`Cassandra unreachable: NoHostAvailable: ('Unable to connect to any servers', ...)`)."""
    chain, seen = [], exc
    while seen is not None and len(chain) < 8:
        chain.append(seen)
        seen = (seen.cause if isinstance(seen, ServiceUnavailable) else None) or seen.__cause__ or (
            None if seen.__suppress_context__ else seen.__context__)
    for e in chain:
        module, name = type(e).__module__ or "", type(e).__name__
        if module.startswith("cassandra"):
            if "Timeout" in name or "TimedOut" in name:
                return f"Cassandra timed out: {describe(e)}"
            if name == "NoHostAvailable" or name.startswith("Connection"):
                return f"Cassandra unreachable: {describe(e)}"
            return f"Cassandra unavailable: {describe(e)}"
        if module.startswith("psycopg"):
            return f"PostgreSQL unavailable: {describe(e)}"
    return describe(chain[-1])


def note_retry(job_id, where: str, exc: BaseException) -> None:
    """Record on a RUNNING job the transient fault one of its steps is riding out (`where`: planning,
    segment N, rechecks) and since when, until the job makes progress again (the job's detail shows it
    in validation_errors). Best effort: when the control plane itself is down there is nowhere to write."""
    try:
        with get_pool().connection(timeout=2) as conn:
            conn.execute(
                "UPDATE recon.jobs SET retry_error = %s, retry_since = coalesce(retry_since, now())"
                " WHERE job_id = %s AND status = 'RUNNING'",
                (f"{where}: {retry_reason(exc)}"[:1000], job_id),
            )
    except Exception as e:  # noqa: BLE001 - the retry goes on whether or not it could be recorded
        logger.warning("could not record a job's transient fault", extra={"job_id": str(job_id), "error": describe(e)})


# ------------------------------------------------------------------------------------------ segments
_CLAIMABLE_SEGMENTS = sql.SQL(
    "SELECT s.job_id, s.segment_no FROM recon.segments s JOIN recon.jobs j ON j.job_id = s.job_id"
    " WHERE j.phase = 'SCANNING' AND j.status = 'RUNNING' AND {claimable}"
    " ORDER BY j.priority DESC, j.created_at, j.job_id, s.segment_no"
).format(claimable=SEGMENTS.claimable("s"))


def claim_next_segment() -> dict | None:
    """Lease the highest-priority claimable segment (pending, or leased by a worker that died)."""
    return retry_call(_claim_next_segment, what="claim segment")


def _claim_next_segment() -> dict | None:
    with transaction() as conn:
        return leases.claim_next(conn, SEGMENTS, _CLAIMABLE_SEGMENTS, None, get_settings().segment_lease_seconds,
                                 lock_alias="s")


def extend_lease(job_id, segment_no: int) -> bool:
    """One heartbeat: False when the segment is no longer this worker's (done, or taken over)."""
    with transaction() as conn:
        return leases.extend(conn, SEGMENTS, (job_id, segment_no), get_settings().segment_lease_seconds)


def segment_heartbeat(job_id, segment_no: int) -> leases.Heartbeat:
    lease = get_settings().segment_lease_seconds
    return leases.Heartbeat(lambda: extend_lease(job_id, segment_no), lease / 3, what=f"segment {job_id}/{segment_no}")


def segment_state(job_id, segment_no: int) -> dict | None:
    return retry_call(_segment_state, job_id, segment_no, what="segment state")


def _segment_state(job_id, segment_no: int) -> dict | None:
    with transaction() as conn:
        return conn.execute(
            "SELECT s.status, s.lease_until, s.lease_until > now() AS leased,"
            # whole seconds until the lease lapses, by the database's clock (the one that set it)
            " greatest(ceil(extract(epoch FROM s.lease_until - now())), 0)::int AS lease_left_s,"
            " j.status AS job_status, j.phase"
            " FROM recon.segments s JOIN recon.jobs j ON j.job_id = s.job_id WHERE s.job_id = %s AND s.segment_no = %s",
            (job_id, segment_no),
        ).fetchone()


def release_segment(job_id, segment_no: int, error: str, transient: bool = False) -> bool:
    """Give a segment back after a failure; fail the job when it has failed too often.

    A transient fault (`transient=True`) does not count as an attempt: the segment is retried until
    the job's deadline, which then fails the job naming the last error. Returns True when the job was
    failed (nothing more to retry)."""
    deliveries = retry_call(_release_segment, job_id, segment_no, error, transient, what="release segment")
    if deliveries is not None:
        _after_finish(deliveries)
        return True
    return False


def _release_segment(job_id, segment_no: int, error: str, transient: bool):
    with transaction() as conn:
        seg = leases.release(conn, SEGMENTS, (job_id, segment_no), error, count_attempt=not transient)
        if seg is None or transient or seg["attempts"] < MAX_SEGMENT_ATTEMPTS:
            return None
        job = conn.execute("SELECT * FROM recon.jobs WHERE job_id = %s FOR UPDATE", (job_id,)).fetchone()
        if job["status"] != "RUNNING":
            return None
        first_line = error.strip().splitlines()[0] if error.strip() else error
        _fail(conn, job, [f"segment {segment_no} failed {seg['attempts']} times; last error: {first_line}"])
        job = conn.execute("SELECT * FROM recon.jobs WHERE job_id = %s", (job_id,)).fetchone()
        return _job_finished(conn, job)


def complete_segment(seg: dict, result: Any) -> str:
    """Record a segment's result once. Returns 'recorded', 'duplicate' or 'job-finished'.

    `result` has cassandra_rows, postgres_rows, cassandra_digest, postgres_digest, mismatches
    (list of Diff), suspects (list of Diff), and for counts-only strategies count_difference.
    Runs in one transaction: mismatches, the segment's DONE state and the job's progress commit
    together, so a redelivered or duplicated segment changes nothing, and the segment that completes
    the job moves it on exactly once. Retried on transient faults: if a commit went through but its
    answer was lost, the retry finds the segment done ('duplicate').
    """
    outcome, finalize_delay = retry_call(_complete_segment, seg, result, what="complete segment")
    if finalize_delay is not None:
        # the job is RECHECKING: hand it to the recheck/finalise step (also re-sent by the sweeper if lost;
        # a duplicate finalize message is harmless)
        wakeups.wake(SEGMENTS_QUEUE, [{"kind": "finalize", "job_id": str(seg["job_id"])}], delay_s=min(finalize_delay, 900))
    return outcome


def _complete_segment(seg: dict, result: Any) -> tuple[str, int | None]:
    from chalicelib.cdc import recording

    job_id, segment_no = seg["job_id"], seg["segment_no"]
    s = get_settings()
    try:
        with transaction() as conn:
            current = leases.lock_unfinished(conn, SEGMENTS, (job_id, segment_no))
            if current is None:
                phase = conn.execute("SELECT phase, status FROM recon.jobs WHERE job_id = %s", (job_id,)).fetchone()
                rechecking = phase is not None and phase["phase"] == "RECHECKING" and phase["status"] == "RUNNING"
                return "duplicate", (0 if rechecking else None)
            # No lock on the job while this segment's mismatches are written: concurrent segments of one
            # job write side by side. The job row is locked only by the counter update below, which also
            # re-checks that the job is still scanning; if it moved on meanwhile, everything rolls back.
            job = conn.execute("SELECT * FROM recon.jobs WHERE job_id = %s", (job_id,)).fetchone()
            if job["status"] != "RUNNING" or job["phase"] != "SCANNING":
                return "job-finished", None
            recording.insert_mismatches(conn, job, segment_no, result.mismatches)
            recording.insert_suspects(conn, job, segment_no, result.suspects, s.recheck_grace_seconds)
            misplaced = getattr(result, "misplaced", None) or []
            if misplaced:
                recording.insert_misplaced(conn, job, segment_no, misplaced)
                logger.warning("rows with a wrong token column", extra={
                    "job_id": str(job_id), "table": job["table_name"], "segment": segment_no, "rows": len(misplaced),
                    "keys": [d.pk_display for d, _ in misplaced[:10]],
                    "fix": "set the token column to NULL for these rows: the next job fills it (docs/operations.md)"})
            leases.mark_done(conn, SEGMENTS, (job_id, segment_no), {
                "cassandra_rows": result.cassandra_rows, "postgres_rows": result.postgres_rows,
                "cassandra_digest": result.cassandra_digest, "postgres_digest": result.postgres_digest,
                "mismatches": len(result.mismatches), "suspects": len(result.suspects),
            })
            done = conn.execute(
                "UPDATE recon.jobs SET segments_done = segments_done + 1, retry_error = NULL, retry_since = NULL"
                " WHERE job_id = %s AND status = 'RUNNING' AND phase = 'SCANNING'"
                " RETURNING segments_done, segment_count",
                (job_id,),
            ).fetchone()
            if done is None:
                raise _JobMovedOn
            if done["segments_done"] < done["segment_count"]:
                return "recorded", None
            # the re-checks are due after their grace (a live suspect) or at once (a row with a wrong token)
            due = conn.execute("SELECT greatest(0, ceil(extract(epoch FROM max(due_at) - now())))::int AS s"
                               " FROM recon.rechecks WHERE job_id = %s", (job_id,)).fetchone()["s"]
            conn.execute("UPDATE recon.jobs SET phase = 'RECHECKING' WHERE job_id = %s", (job_id,))
            return "recorded", (due or 0)
    except _JobMovedOn:
        return "job-finished", None


class _JobMovedOn(Exception):
    """The job stopped scanning while a segment was being recorded: the segment's writes roll back."""


# ------------------------------------------------------------------------------------------ finish
def _fail(conn, job: dict, errors: list[str]) -> None:
    # a job failed before a worker began it keeps the started_at it showed while queued (its request)
    conn.execute(
        "UPDATE recon.jobs SET status = 'FAILED', phase = 'DONE', completed_at = now(),"
        " started_at = coalesce(started_at, created_at), validation_errors = %s WHERE job_id = %s AND status = 'RUNNING'",
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
        from chalicelib.runs import webhooks

        webhooks.enqueue_quietly(deliveries)  # the sweeper re-sends pending deliveries


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
    # unrounded: a client computing 100 x mismatch_count / cassandra_row_count from the counts gets this value
    drift = 100 * mism / c if c else (0.0 if mism == 0 else 100.0)
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
    """Sweeper hook (chalicelib.runs.sweeper, every minute): fail jobs past their deadline with the
    reason, re-wake lost work. Safe to run twice at once (SKIP LOCKED, conditional updates)."""
    counts = {"failed": 0, "rewoken_jobs": 0, "rewoken_segments": 0, "rewoken_finalize": 0}
    to_send: dict[str, list[dict]] = {JOBS_QUEUE: [], SEGMENTS_QUEUE: []}
    all_deliveries: list = []
    with transaction() as conn:
        stuck = conn.execute(
            "SELECT * FROM recon.jobs WHERE status = 'RUNNING' AND deadline_at < now() FOR UPDATE SKIP LOCKED"
        ).fetchall()
        for job in stuck:
            elapsed = int((_now() - (job["started_at"] or job["created_at"])).total_seconds())
            last = conn.execute(
                "SELECT segment_no, last_error FROM recon.segments WHERE job_id = %s AND status <> 'DONE'"
                " AND last_error IS NOT NULL ORDER BY segment_no LIMIT 1", (job["job_id"],)
            ).fetchone()
            reason = (f"deadline exceeded: still {job['phase']} after {elapsed} s "
                      f"({job['segments_done']}/{job['segment_count'] or 0} segments done)")
            if last:
                reason += f"; last error (segment {last['segment_no']}): {last['last_error'].strip().splitlines()[0]}"
            elif job["retry_error"]:
                reason += f"; last error ({job['retry_error']})"
            _fail(conn, job, [reason])
            job = conn.execute("SELECT * FROM recon.jobs WHERE job_id = %s", (job["job_id"],)).fetchone()
            all_deliveries += _job_finished(conn, job)
            counts["failed"] += 1
        for r in conn.execute(
            "SELECT job_id FROM recon.jobs WHERE phase = 'QUEUED' AND created_at < now() - interval '60 seconds'"
        ).fetchall():
            to_send[JOBS_QUEUE].append({"kind": "job", "job_id": str(r["job_id"])})
            counts["rewoken_jobs"] += 1
        for r in conn.execute(
            "SELECT s.job_id, s.segment_no FROM recon.segments s JOIN recon.jobs j ON j.job_id = s.job_id"
            " WHERE j.phase = 'SCANNING' AND j.status = 'RUNNING' AND j.started_at < now() - interval '120 seconds'"
            " AND (s.status = 'PENDING' OR (s.status = 'RUNNING' AND s.lease_until < now())) LIMIT 500"
        ).fetchall():
            to_send[SEGMENTS_QUEUE].append({"kind": "segment", "job_id": str(r["job_id"]), "segment_no": r["segment_no"]})
            counts["rewoken_segments"] += 1
        grace = get_settings().recheck_grace_seconds
        for r in conn.execute(
            "SELECT j.job_id FROM recon.jobs j WHERE j.phase = 'RECHECKING' AND j.status = 'RUNNING'"
            " AND NOT EXISTS (SELECT 1 FROM recon.rechecks r WHERE r.job_id = j.job_id"
            "   AND r.due_at > now() - make_interval(secs => %s))",
            (120 + grace,),
        ).fetchall():
            to_send[SEGMENTS_QUEUE].append({"kind": "finalize", "job_id": str(r["job_id"])})
            counts["rewoken_finalize"] += 1
    for queue, bodies in to_send.items():
        wakeups.wake(queue, bodies)
    _after_finish(all_deliveries)
    return counts
