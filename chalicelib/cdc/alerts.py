"""Drift alerts of CDC jobs (DESIGN §4 "Outputs"; contract "Webhooks").

What a finished job announces is decided here: job_completed / job_failed always, drift_detected
when a COMPLETED job's drift is above `DRIFT_ALERT_THRESHOLD_PERCENTAGE` (WARNING; CRITICAL above
`CRITICAL_FACTOR` x the threshold). The hourly schedule keeps one drift alert per table and strategy
open until a scheduled job's drift is clearly below the threshold, at or below `resolve_level`
(threshold x (1 - DRIFT_ALERT_RESOLVE_MARGIN)), which sends drift_resolved: while it is open, a scheduled job at the same or a lower severity does not repeat it within
`DRIFT_ALERT_REPEAT_SECONDS` (`plan_job_events`). Delivering them — one signed POST per (event, URL), retried with
an exponential delay, exactly one success recorded — is the product-neutral
`chalicelib.runs.webhooks`; this module plans the job's events inside the transaction that finishes
the job (`plan_job_events`) and hands their ids to the webhooks queue after the commit.
docs/alerts.md has the payloads, headers and the receiver's side.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any, Iterable

from chalicelib.config import get_settings
from chalicelib.observability import logger
from chalicelib.runs import webhooks
from chalicelib.runs.webhooks import (  # noqa: F401 - the receiver's side, documented in docs/alerts.md
    MAX_ATTEMPTS,
    retry_delay_seconds,
    sign,
    verify_signature,
)

EVENT_JOB_COMPLETED = "reconciliation.job_completed"
EVENT_JOB_FAILED = "reconciliation.job_failed"
EVENT_DRIFT_DETECTED = "reconciliation.drift_detected"
EVENT_DRIFT_RESOLVED = "reconciliation.drift_resolved"
SCHEDULED = "HOURLY_SCHEDULED"

SEVERITY_WARNING = "WARNING"
SEVERITY_CRITICAL = "CRITICAL"
CRITICAL_FACTOR = 5  # drift above CRITICAL_FACTOR x threshold is CRITICAL, above threshold WARNING

ALERTS_QUEUE = webhooks.QUEUE

# Field order of the JSON we send (jsonb does not keep it); unknown keys follow, sorted.
_ENVELOPE_ORDER = ("event", "timestamp", "data")
_DATA_ORDER = (
    "job_id",
    "table",
    "status",
    "validation_strategy",
    "mismatch_count",
    "drift_percentage",
    "severity",
    "duration_seconds",
    "validation_errors",
    "alert_job_id",
)
_SEVERITY_RANK = {None: 0, SEVERITY_WARNING: 1, SEVERITY_CRITICAL: 2}


# --------------------------------------------------------------------------- decisions and payloads


def severity_for(drift_percentage: float | None, threshold: float) -> str | None:
    """None at or below the threshold; WARNING above it; CRITICAL above CRITICAL_FACTOR x threshold."""
    if drift_percentage is None or not drift_percentage > threshold:
        return None
    if drift_percentage > CRITICAL_FACTOR * threshold:
        return SEVERITY_CRITICAL
    return SEVERITY_WARNING


def resolve_level(settings) -> float:
    """The drift at or below which the schedule's open drift alert is resolved: a margin under the
    threshold (hysteresis), so a drift hovering at the threshold does not alert and resolve in turn."""
    return settings.drift_alert_threshold_percentage * (1 - settings.drift_alert_resolve_margin)


def configured_webhook_urls() -> list[str]:
    """WEBHOOK_URLS: comma-separated; blanks ignored, duplicates dropped, order kept."""
    return webhooks.configured_urls()


def _utc(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def _iso_z(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def _duration_seconds(job: dict) -> int | None:
    end = _utc(job.get("completed_at"))
    start = _utc(job.get("started_at"))
    if end is None or start is None:  # a job that failed before it started has no duration (as in the API)
        return None
    # the difference of the whole-second timestamps the API shows (GET /reconciliation/jobs agrees)
    whole = (end.replace(microsecond=0) - start.replace(microsecond=0)).total_seconds()
    return max(0, int(whole))


def build_events(job: dict, threshold: float) -> list[tuple[str, dict]]:
    """The (event, payload) pairs a finished job produces. Pure: no database, no network."""
    status = job["status"]
    if status not in ("COMPLETED", "FAILED"):
        raise ValueError(f"job {job['job_id']} is {status}: only COMPLETED or FAILED jobs produce events")
    at = _utc(job.get("completed_at")) or datetime.now(timezone.utc)
    timestamp = _iso_z(at)
    job_id = str(job["job_id"])
    drift = _number(job.get("drift_percentage"))
    mismatches = job.get("mismatch_count")

    data: dict[str, Any] = {
        "job_id": job_id,
        "table": job["table_name"],
        "status": status,
        "validation_strategy": job["validation_strategy"],
        "mismatch_count": None if mismatches is None else int(mismatches),
        "drift_percentage": drift,
        "duration_seconds": _duration_seconds(job),
    }
    if status == "FAILED":
        data["validation_errors"] = job.get("validation_errors")
    events = [(EVENT_JOB_COMPLETED if status == "COMPLETED" else EVENT_JOB_FAILED, data)]

    severity = severity_for(drift, threshold) if status == "COMPLETED" else None
    if severity is not None:
        events.append(
            (
                EVENT_DRIFT_DETECTED,
                {"job_id": job_id, "table": job["table_name"], "drift_percentage": drift, "severity": severity},
            )
        )
    return [(event, {"event": event, "timestamp": timestamp, "data": d}) for event, d in events]


def serialize_payload(payload: dict) -> str:
    """The exact body we POST and sign: compact JSON, fields in the contract's order, ASCII only."""
    return webhooks.ordered_json(payload, _ENVELOPE_ORDER, _DATA_ORDER)


def plan_job_events(conn, job: dict) -> tuple[bool, list[uuid.UUID]]:
    """Inside the transaction that finalises `job` (the recon.jobs row as a dict, already COMPLETED
    or FAILED with its counts, drift_percentage and completed_at): decide its events and plan one
    PENDING delivery per (event, configured URL), idempotently. Also sets recon.jobs.alert_fired
    when drift crossed the threshold. Returns (alert_fired, ids of the deliveries planned by this
    call). No network I/O: pass the ids to `enqueue_deliveries` after the commit."""
    settings = get_settings()
    events = build_events(job, settings.drift_alert_threshold_percentage)
    if job["status"] == "COMPLETED" and job.get("job_type") == SCHEDULED:
        events = _follow_open_alert(conn, job, events, settings)
    alert_fired = any(event == EVENT_DRIFT_DETECTED for event, _ in events)
    job_id = job["job_id"]
    if alert_fired:
        conn.execute("UPDATE recon.jobs SET alert_fired = true WHERE job_id = %s AND NOT alert_fired", (job_id,))

    urls = webhooks.configured_urls()
    if not urls:
        if alert_fired:
            logger.warning("drift alert fired but WEBHOOK_URLS is empty", extra={"job_id": str(job_id)})
        return alert_fired, []

    inserted: list[uuid.UUID] = []
    for event, payload in events:
        inserted += webhooks.plan(conn, event, serialize_payload(payload), f"job:{job_id}", urls, job_id=job_id)
    if inserted:
        logger.info("webhook deliveries planned",
                    extra={"job_id": str(job_id), "deliveries": len(inserted), "alert_fired": alert_fired})
    return alert_fired, inserted


def _open_alert(conn, job: dict, resolved_at_or_below: float) -> dict | None:
    """The drift alert still open for the job's table and strategy on the hourly schedule: the latest
    scheduled job that fired one, unless a scheduled job completed after it at or below the resolve level."""
    fired = conn.execute(
        "SELECT job_id, completed_at, drift_percentage FROM recon.jobs WHERE table_name = %s"
        " AND validation_strategy = %s AND job_type = %s AND status = 'COMPLETED' AND alert_fired AND job_id <> %s"
        " ORDER BY completed_at DESC, job_id DESC LIMIT 1",
        (job["table_name"], job["validation_strategy"], SCHEDULED, job["job_id"]),
    ).fetchone()
    if fired is None:
        return None
    closed = conn.execute(
        "SELECT 1 FROM recon.jobs WHERE table_name = %s AND validation_strategy = %s AND job_type = %s"
        " AND status = 'COMPLETED' AND job_id <> %s AND completed_at > %s AND drift_percentage <= %s LIMIT 1",
        (job["table_name"], job["validation_strategy"], SCHEDULED, job["job_id"], fired["completed_at"], resolved_at_or_below),
    ).fetchone()
    return None if closed else fired


def _follow_open_alert(conn, job: dict, events: list[tuple[str, dict]], settings) -> list[tuple[str, dict]]:
    """A scheduled job's events given its table's open drift alert (docs/alerts.md, "Repeats and
    recovery"): the drift alert is not repeated at the same or a lower severity within
    DRIFT_ALERT_REPEAT_SECONDS of the one that fired; a drift back at or below the resolve level closes
    it with a drift_resolved event, one between that level and the threshold leaves it open, silently. Serialised per table and strategy (a transaction lock), so two
    jobs finishing together take their decisions one after the other."""
    threshold = settings.drift_alert_threshold_percentage
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))",
                 (f"recon-drift-alert/{job['table_name']}/{job['validation_strategy']}",))
    level = resolve_level(settings)
    opened = _open_alert(conn, job, level)
    if opened is None:
        return events
    drift = next((payload for event, payload in events if event == EVENT_DRIFT_DETECTED), None)
    job_id = str(job["job_id"])
    value = _number(job.get("drift_percentage"))
    if drift is None and (value is None or value > level):
        logger.info("drift alert kept open: drift at or below the threshold but not below the resolve level",
                    extra={"job_id": job_id, "alert_job_id": str(opened["job_id"]), "resolve_level": level})
        return events
    if drift is None:
        at = events[0][1]["timestamp"]
        data = {"job_id": job_id, "table": job["table_name"], "validation_strategy": job["validation_strategy"],
                "drift_percentage": value, "alert_job_id": str(opened["job_id"])}
        logger.info("drift alert resolved", extra={"job_id": job_id, "alert_job_id": data["alert_job_id"]})
        return [*events, (EVENT_DRIFT_RESOLVED, {"event": EVENT_DRIFT_RESOLVED, "timestamp": at, "data": data})]
    since = (_utc(job.get("completed_at")) or datetime.now(timezone.utc)) - _utc(opened["completed_at"])
    before = severity_for(_number(opened["drift_percentage"]), threshold)
    if (_SEVERITY_RANK[drift["data"]["severity"]] > _SEVERITY_RANK[before]
            or since.total_seconds() >= settings.drift_alert_repeat_seconds):
        return events
    logger.info("drift alert not repeated", extra={"job_id": job_id, "alert_job_id": str(opened["job_id"]),
                                                   "severity": drift["data"]["severity"],
                                                   "seconds_since_alert": int(since.total_seconds())})
    return [(event, payload) for event, payload in events if event != EVENT_DRIFT_DETECTED]


def enqueue_deliveries(delivery_ids: Iterable[Any]) -> None:
    """After the commit: one webhooks-queue message per delivery (first attempt, no delay)."""
    webhooks.enqueue(delivery_ids)


def handle_delivery_message(body: dict, receive_count: int) -> None:
    """The webhooks-queue worker (see `chalicelib.runs.webhooks.handle_message`)."""
    webhooks.handle_message(body, receive_count)


def requeue_stalled_deliveries(stalled_after_s: int = webhooks.STALLED_AFTER_SECONDS, limit: int = 100) -> int:
    """Re-send deliveries whose message was lost (see `chalicelib.runs.webhooks.requeue_stalled`)."""
    return webhooks.requeue_stalled(stalled_after_s, limit)


__all__ = [
    "EVENT_DRIFT_DETECTED",
    "EVENT_DRIFT_RESOLVED",
    "EVENT_JOB_COMPLETED",
    "EVENT_JOB_FAILED",
    "MAX_ATTEMPTS",
    "build_events",
    "enqueue_deliveries",
    "handle_delivery_message",
    "plan_job_events",
    "requeue_stalled_deliveries",
    "retry_delay_seconds",
    "serialize_payload",
    "severity_for",
    "sign",
    "verify_signature",
]
