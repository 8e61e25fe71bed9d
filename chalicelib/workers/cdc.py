"""SQS worker logic for CDC reconciliation (AWS-facing glue; the domain lives in chalicelib.cdc).

Messages are JSON objects with a `kind`:
- recon-jobs:      {"kind": "job", "job_id"}                       plan the best queued job
- recon-segments:  {"kind": "segment", "job_id", "segment_no"}     run the best claimable segment
                   {"kind": "finalize", "job_id"}                  rechecks, convergence, finalise
- recon-schedule:  an EventBridge scheduled event                   enqueue hourly jobs
- recon-maintenance: an EventBridge scheduled event                 the sweeper
A malformed message is reported (logged with its id) and fails into the DLQ; never dropped silently.

Faults: each step runs under the worker retry policy (chalicelib.runs.retry). A segment whose scan
meets a transient fault that outlives the policy is given back without counting an attempt and a
fresh wake-up is sent; a permanent error counts an attempt (the job fails after five, naming it).
"""
from __future__ import annotations

import json
import threading
import time
import traceback
from typing import Any

from chalicelib.cdc import jobs
from chalicelib.cdc.catalog import TableConfig, get_catalog
from chalicelib.observability import logger
from chalicelib.runs import wakeups
from chalicelib.runs.retry import describe, is_transient, retry_call

#: delay of the wake-up sent for a segment given back after a transient fault
TRANSIENT_REWAKE_SECONDS = 10
#: delay of the wake-up for the next attempt of a segment that failed with a permanent error (the job
#: fails after jobs.MAX_SEGMENT_ATTEMPTS of them)
PERMANENT_REWAKE_SECONDS = 5
#: a segment worker goes on claiming segments for this long (well inside the queue's visibility timeout)
DRAIN_SECONDS = 30


class RetryLater(Exception):
    """The message cannot be handled now (its work is leased by another live worker)."""


class MalformedMessage(ValueError):
    pass


_contexts: dict[str, Any] = {}
_ctx_lock = threading.Lock()


def context_for(table: TableConfig):
    """Per-process cache of TableContext (readers, compiled canonicalizers) across invocations."""
    from chalicelib.cdc.strategies import TableContext

    with _ctx_lock:
        ctx = _contexts.get(table.name)
        if ctx is None or ctx.table != table:
            ctx = TableContext(table)
            _contexts[table.name] = ctx
        return ctx


def reset_contexts() -> None:
    with _ctx_lock:
        _contexts.clear()


def parse(body: str, required: tuple[str, ...]) -> dict:
    try:
        msg = json.loads(body)
    except (TypeError, ValueError) as exc:
        raise MalformedMessage(f"message body is not JSON: {exc}") from None
    if not isinstance(msg, dict):
        raise MalformedMessage("message body is not a JSON object")
    missing = [k for k in required if k not in msg]
    if missing:
        raise MalformedMessage(f"message lacks {', '.join(missing)}")
    return msg


def _prepare_table(table: TableConfig, job: dict) -> None:
    """Inside planning: both sides match the catalog; rows without a token get one."""
    ctx = context_for(table)
    ctx.cassandra.check_table()
    filled = ctx.postgres.backfill_tokens(ctx.token_fn)
    if filled:
        logger.info("token column back-filled", extra={"table": table.name, "rows": filled})


def handle_job_message(body: str) -> None:
    parse(body, ("kind",))
    jobs.plan_next_job(prepare_table=_prepare_table)


def handle_segment_message(body: str) -> None:
    msg = parse(body, ("kind", "job_id"))
    if msg["kind"] == "finalize":
        from chalicelib.cdc import rechecks

        retry_call(rechecks.finalize, msg["job_id"], context_for, what="finalize job",
                   on_retry=lambda exc: jobs.note_retry(msg["job_id"], "rechecks", exc))
        return
    if msg["kind"] != "segment" or "segment_no" not in msg:
        raise MalformedMessage(f"unknown segment message kind {msg.get('kind')!r}")
    seg = jobs.claim_next_segment()
    if seg is None:
        state = jobs.segment_state(msg["job_id"], int(msg["segment_no"]))
        if state and state["status"] != "DONE" and state["job_status"] == "RUNNING" and state["leased"]:
            # the segment is being worked on: this message only matters if its worker dies. Look again
            # when the lease would lapse, as a delayed wake-up, rather than leave the message in flight
            # for a visibility timeout per look (which would dead-letter it under a long scan)
            if wakeups.wake(jobs.SEGMENTS_QUEUE, [{"kind": "segment", "job_id": str(msg["job_id"]),
                                                   "segment_no": int(msg["segment_no"])}],
                            delay_s=state["lease_left_s"] + 1):
                return
            raise RetryLater(f"segment {msg['job_id']}/{msg['segment_no']} is leased by another worker")
        return
    # keep claiming while work waits (within a time budget): a wake-up that was lost, or spent on a
    # segment someone else finished, then costs nothing — the sweeper is only the last resort
    deadline = time.monotonic() + DRAIN_SECONDS
    while seg is not None:
        run_segment(seg)
        if time.monotonic() >= deadline:
            break
        seg = jobs.claim_next_segment()


def run_segment(seg: dict) -> str:
    from chalicelib.cdc.strategies import STRATEGIES, LeaseKeeper
    from chalicelib.config import get_settings

    job_id, segment_no = seg["job_id"], seg["segment_no"]
    log = {"job_id": str(job_id), "segment_no": segment_no}
    try:
        job = jobs.get_job(job_id)
        table = get_catalog().get(job["table_name"])
        if table is None:
            raise ValueError(f"table {job['table_name']!r} is no longer in the catalog")
        ctx = context_for(table)
        heartbeat = jobs.segment_heartbeat(job_id, segment_no)
        strategy = STRATEGIES[job["validation_strategy"]]

        def scan():
            lease = LeaseKeeper(heartbeat, get_settings().segment_lease_seconds / 3)
            return strategy.run_segment(ctx, seg["token_start"], seg["token_end"], job, lease)

        # the job says what it is riding out while the scan is retried (GET /reconciliation/jobs/{id})
        result = retry_call(scan, what=f"segment {job_id}/{segment_no}",
                            on_retry=lambda exc: jobs.note_retry(job_id, f"segment {segment_no}", exc))
    except Exception as exc:
        transient = is_transient(exc)
        error = f"{describe(exc)}\n{traceback.format_exc(limit=3)}"
        logger.warning("segment failed", extra={**log, "transient": transient, "error": describe(exc)})
        if transient:
            jobs.note_retry(job_id, f"segment {segment_no}", exc)
        if jobs.release_segment(job_id, segment_no, error, transient=transient):
            return "job-failed"
        if transient:
            # not the segment's fault: no attempt counted, and another wake-up a little later
            wakeups.wake(jobs.SEGMENTS_QUEUE, [{"kind": "segment", "job_id": str(job_id), "segment_no": segment_no}],
                         delay_s=TRANSIENT_REWAKE_SECONDS)
            return "released"
        # an attempt was counted and the segment is claimable again: wake a worker for the next attempt
        # soon, so a job whose only remaining segment keeps failing (a SAMPLE job, the last segment of a
        # scan) ends FAILED within about a minute rather than one queue visibility timeout per attempt
        wakeups.wake(jobs.SEGMENTS_QUEUE, [{"kind": "segment", "job_id": str(job_id), "segment_no": segment_no}],
                     delay_s=PERMANENT_REWAKE_SECONDS)
        raise
    outcome = jobs.complete_segment(seg, result)
    logger.info("segment done", extra={**log, "outcome": outcome,
                                       "cassandra_rows": result.cassandra_rows, "postgres_rows": result.postgres_rows,
                                       "mismatches": len(result.mismatches), "suspects": len(result.suspects)})
    return outcome


SCHEDULE_QUEUE = "recon-schedule"
EARLY_TICK_WINDOW_SECONDS = 60


def _utcnow():
    from datetime import datetime, timezone

    return datetime.now(timezone.utc)


def early_tick_wait(msg: dict, now) -> int:
    """Seconds this hourly tick must still wait for its hour, 0 when none. LocalStack's EventBridge fires
    a cron rule up to a minute ahead of its time (the hourly rule at hh:59:07); AWS fires on the hour. A
    tick stamped within the last minute before an hour is for that hour: it waits for it, as on AWS."""
    from datetime import datetime, timedelta, timezone
    import math

    try:
        stamp = datetime.fromisoformat(str(msg.get("time") or "").replace("Z", "+00:00"))
    except ValueError:
        return 0
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone.utc)
    hour = stamp.replace(minute=0, second=0, microsecond=0)
    if hour != stamp:   # stamped when it fired rather than with the hour it is for
        hour += timedelta(hours=1)
        if (hour - stamp).total_seconds() > EARLY_TICK_WINDOW_SECONDS:
            return 0
    wait = math.ceil((hour - now).total_seconds())
    # an early tick waits at most a minute or so; one stamped further ahead (a wrong clock) runs now
    return wait if 0 < wait <= 2 * EARLY_TICK_WINDOW_SECONDS else 0


def handle_schedule_event(body: str) -> list[dict]:
    """EventBridge hourly event → one HOURLY_SCHEDULED job per table with its default strategy."""
    msg = parse(body, ())
    wait = early_tick_wait(msg, _utcnow())
    # back on the hour (the same event: its id still makes the jobs once); if it cannot be sent, now
    if wait and wakeups.wake(SCHEDULE_QUEUE, [msg], delay_s=wait):
        logger.info("hourly tick ahead of its hour: held until then", extra={"event_time": msg.get("time"),
                                                                             "wait_s": wait})
        return []
    event_id = str(msg.get("id") or msg.get("time") or "")
    created = []
    for table in get_catalog().tables.values():
        created += jobs.create_jobs([table.name], table.default_strategy, "NORMAL", "HOURLY_SCHEDULED",
                                    requested_by="schedule", schedule_event_id=event_id or None)
    logger.info("scheduled jobs enqueued", extra={"event_id": event_id, "jobs": len(created)})
    return created


def handle_maintenance_event(body: str) -> dict:
    from chalicelib.runs import sweeper

    results = sweeper.run()
    logger.info("sweep", extra={"results": results})
    return results
