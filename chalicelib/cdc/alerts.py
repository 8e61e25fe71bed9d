"""Drift alerts and signed webhook deliveries (DESIGN §4 "Outputs"; contract "Webhooks").

Three steps, each safe to repeat:

1. `plan_job_events(conn, job)` runs inside the transaction that finalises a job. It decides the
   events (job_completed / job_failed always, drift_detected when a COMPLETED job's drift is above
   `DRIFT_ALERT_THRESHOLD_PERCENTAGE`) and inserts one `recon.webhook_deliveries` row per
   (event, configured URL). The unique key (event, url, job_id) makes a second call a no-op.
2. `enqueue_deliveries(ids)` runs after that commit: one SQS message per delivery on `recon-alerts`.
3. `handle_delivery_message(body, receive_count)` is the queue worker: it claims the delivery, POSTs
   the signed payload, records the outcome and, on failure, schedules the next attempt by sending a
   new message with an exponential delay, until `MAX_ATTEMPTS` attempts have been made (then FAILED).

Signing: `X-Recon-Signature: sha256=<hex HMAC-SHA256(webhook_secret, f"{timestamp}.{body}")>` with
the `X-Recon-Timestamp` (unix seconds) of that attempt; receivers check it with `verify_signature`.
docs/alerts.md has the payloads, headers and the receiver's side.
"""
from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timezone
from typing import Any, Iterable

from chalicelib import aws
from chalicelib.config import get_settings
from chalicelib.db.pool import transaction
from chalicelib.observability import logger

EVENT_JOB_COMPLETED = "reconciliation.job_completed"
EVENT_JOB_FAILED = "reconciliation.job_failed"
EVENT_DRIFT_DETECTED = "reconciliation.drift_detected"

SEVERITY_WARNING = "WARNING"
SEVERITY_CRITICAL = "CRITICAL"
CRITICAL_FACTOR = 5  # drift above CRITICAL_FACTOR x threshold is CRITICAL, above threshold WARNING

ALERTS_QUEUE = "recon-alerts"
MAX_ATTEMPTS = 6
BASE_DELAY_SECONDS = 30
MAX_DELAY_SECONDS = 900  # the SQS DelaySeconds limit
CONNECT_TIMEOUT_SECONDS = 3
READ_TIMEOUT_SECONDS = 10
LEASE_SECONDS = 60  # a claim outlives one POST (3 s + 10 s) and is shorter than the queue's visibility (120 s)
SIGNATURE_TOLERANCE_SECONDS = 300
STALLED_AFTER_SECONDS = MAX_DELAY_SECONDS + 300
USER_AGENT = "recon-webhooks/1"
_ERROR_BODY_LIMIT = 512

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
)


# --------------------------------------------------------------------------- decisions and payloads


def severity_for(drift_percentage: float | None, threshold: float) -> str | None:
    """None at or below the threshold; WARNING above it; CRITICAL above CRITICAL_FACTOR x threshold."""
    if drift_percentage is None or not drift_percentage > threshold:
        return None
    if drift_percentage > CRITICAL_FACTOR * threshold:
        return SEVERITY_CRITICAL
    return SEVERITY_WARNING


def configured_webhook_urls() -> list[str]:
    """WEBHOOK_URLS: comma-separated; blanks ignored, duplicates dropped, order kept."""
    urls: list[str] = []
    for part in get_settings().webhook_urls.split(","):
        url = part.strip()
        if url and url not in urls:
            urls.append(url)
    return urls


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
    start = _utc(job.get("started_at")) or _utc(job.get("created_at"))
    if end is None or start is None:
        return None
    return max(0, int(round((end - start).total_seconds())))


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


def _ordered(obj: dict, order: tuple[str, ...]) -> dict:
    out = {k: obj[k] for k in order if k in obj}
    for k in sorted(obj):
        if k not in out:
            out[k] = obj[k]
    return out


def serialize_payload(payload: dict) -> str:
    """The exact body we POST and sign: compact JSON, fields in the contract's order, ASCII only."""
    envelope = _ordered(payload, _ENVELOPE_ORDER)
    if isinstance(envelope.get("data"), dict):
        envelope["data"] = _ordered(envelope["data"], _DATA_ORDER)
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


# --------------------------------------------------------------------------- signatures


def sign(secret: str, timestamp: str | int, body: str | bytes) -> str:
    """`sha256=<hex>` of HMAC-SHA256(secret, f"{timestamp}.{body}")."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    message = str(timestamp).encode("ascii") + b"." + body
    return "sha256=" + hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def verify_signature(
    secret: str,
    timestamp: str | int,
    body: str | bytes,
    signature: str,
    tolerance_s: int = SIGNATURE_TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """For receivers: True when `signature` (the X-Recon-Signature header) signs `timestamp`
    (X-Recon-Timestamp) and the raw request `body` with `secret`, and the timestamp is within
    `tolerance_s` of `now` (replay window). Constant-time comparison."""
    if not secret or not signature or timestamp is None:
        return False
    try:
        ts = int(str(timestamp).strip())
    except ValueError:
        return False
    current = time.time() if now is None else now
    if abs(current - ts) > tolerance_s:
        return False
    try:
        expected = sign(secret, ts, body)
    except UnicodeEncodeError:
        return False
    return hmac.compare_digest(expected.encode("ascii"), signature.strip().encode("utf-8", "replace"))


# --------------------------------------------------------------------------- planning (job engine)


_INSERT = (
    "INSERT INTO recon.webhook_deliveries"
    " (delivery_id, event, url, job_id, payload, status, next_attempt_at)"
    " VALUES (%s, %s, %s, %s, %s::jsonb, 'PENDING', now())"
    " ON CONFLICT (event, url, job_id) DO NOTHING"
    " RETURNING delivery_id"
)


def plan_job_events(conn, job: dict) -> tuple[bool, list[uuid.UUID]]:
    """Inside the transaction that finalises `job` (the recon.jobs row as a dict, already COMPLETED
    or FAILED with its counts, drift_percentage and completed_at): decide its events and insert one
    PENDING delivery per (event, configured URL), idempotently. Also sets recon.jobs.alert_fired
    when drift crossed the threshold. Returns (alert_fired, ids of the deliveries inserted by this
    call). No network I/O: pass the ids to `enqueue_deliveries` after the commit."""
    settings = get_settings()
    events = build_events(job, settings.drift_alert_threshold_percentage)
    alert_fired = any(event == EVENT_DRIFT_DETECTED for event, _ in events)
    job_id = job["job_id"]
    if alert_fired:
        conn.execute("UPDATE recon.jobs SET alert_fired = true WHERE job_id = %s AND NOT alert_fired", (job_id,))

    urls = configured_webhook_urls()
    if not urls:
        if alert_fired:
            logger.warning("drift alert fired but WEBHOOK_URLS is empty", extra={"job_id": str(job_id)})
        return alert_fired, []

    inserted: list[uuid.UUID] = []
    for event, payload in events:
        body = serialize_payload(payload)
        for url in urls:
            row = conn.execute(_INSERT, (uuid.uuid4(), event, url, job_id, body)).fetchone()
            if row is not None:
                inserted.append(_first(row))
    if inserted:
        logger.info(
            "webhook deliveries planned",
            extra={"job_id": str(job_id), "deliveries": len(inserted), "alert_fired": alert_fired},
        )
    return alert_fired, inserted


def _first(row: Any) -> Any:
    return next(iter(row.values())) if isinstance(row, dict) else row[0]


def _message(delivery_id: Any, attempt: int) -> dict:
    return {"delivery_id": str(delivery_id), "attempt": int(attempt)}


def enqueue_deliveries(delivery_ids: Iterable[Any]) -> None:
    """After the commit: one `recon-alerts` message per delivery (first attempt, no delay)."""
    bodies = [_message(d, 0) for d in delivery_ids]
    if bodies:
        aws.send_messages(ALERTS_QUEUE, bodies)


# --------------------------------------------------------------------------- delivery (queue worker)


def retry_delay_seconds(attempts_made: int) -> int:
    """Delay before the next attempt after `attempts_made` failed ones: 60, 120, 240, 480, 900 s."""
    return int(min(MAX_DELAY_SECONDS, BASE_DELAY_SECONDS * 2 ** attempts_made))


class _HTTPConnection(http.client.HTTPConnection):
    """Connects within the request's timeout (CONNECT_TIMEOUT_SECONDS), then reads with READ_TIMEOUT_SECONDS."""

    def connect(self):
        super().connect()
        self.sock.settimeout(READ_TIMEOUT_SECONDS)


class _HTTPSConnection(http.client.HTTPSConnection):
    def connect(self):
        super().connect()
        self.sock.settimeout(READ_TIMEOUT_SECONDS)


class _HTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req):
        return self.do_open(_HTTPConnection, req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req):
        return self.do_open(_HTTPSConnection, req, context=self._context)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is a failed delivery (following it would turn the POST into a GET)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirect, _HTTPHandler, _HTTPSHandler)


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int | None, str | None]:
    """POST; returns (HTTP status or None, error text or None). Never raises for network errors."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with _opener.open(request, timeout=CONNECT_TIMEOUT_SECONDS) as response:
            response.read(_ERROR_BODY_LIMIT)
            return response.status, None
    except urllib.error.HTTPError as exc:
        try:
            detail = exc.read(_ERROR_BODY_LIMIT).decode("utf-8", "replace")
        except Exception:  # noqa: BLE001 - the status is what matters
            detail = ""
        return exc.code, f"HTTP {exc.code}: {detail}".strip()
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return None, f"{type(exc).__name__}: {reason}"


_CLAIM = (
    "UPDATE recon.webhook_deliveries"
    " SET lease_token = %(token)s, lease_until = now() + make_interval(secs => %(lease)s)"
    " WHERE delivery_id = %(id)s AND status = 'PENDING' AND attempts = %(attempt)s"
    " AND (lease_until IS NULL OR lease_until < now())"
    " RETURNING event, url, payload, attempts"
)
_DELIVERED = (
    "UPDATE recon.webhook_deliveries"
    " SET status = 'DELIVERED', attempts = attempts + 1, response_status = %(status)s, last_error = NULL,"
    " delivered_at = now(), next_attempt_at = NULL, lease_token = NULL, lease_until = NULL"
    " WHERE delivery_id = %(id)s AND lease_token = %(token)s"
    " RETURNING attempts"
)
_FAILED_ATTEMPT = (
    "UPDATE recon.webhook_deliveries"
    " SET attempts = attempts + 1, response_status = %(status)s, last_error = %(error)s,"
    " status = CASE WHEN attempts + 1 >= %(max)s THEN 'FAILED' ELSE 'PENDING' END,"
    " next_attempt_at = CASE WHEN attempts + 1 >= %(max)s THEN NULL"
    "   ELSE now() + make_interval(secs => %(delay)s) END,"
    " lease_token = NULL, lease_until = NULL"
    " WHERE delivery_id = %(id)s AND lease_token = %(token)s"
    " RETURNING attempts, status"
)


def handle_delivery_message(body: dict, receive_count: int) -> None:
    """Worker for one `recon-alerts` message {"delivery_id", "attempt"}.

    The message is for attempt number `attempt` (attempts already made when it was sent). It is acted
    on only if the delivery is still PENDING with exactly that many attempts and nobody holds its
    claim, so duplicates (SQS redelivery, a second enqueue, the sweeper) never POST twice for one
    attempt and an already DELIVERED delivery is never POSTed again. On failure the next attempt is
    a new message delayed by `retry_delay_seconds`; after MAX_ATTEMPTS the delivery is FAILED.
    Database or SQS errors propagate, so SQS redelivers this message (its claim expires first)."""
    try:
        delivery_id = uuid.UUID(str(body["delivery_id"]))
        attempt = int(body.get("attempt", 0))
    except (KeyError, TypeError, ValueError):
        logger.error("malformed alerts message dropped", extra={"body": str(body)[:500]})
        return
    log = {"delivery_id": str(delivery_id), "attempt": attempt + 1, "receive_count": receive_count}

    token = uuid.uuid4()
    with transaction() as conn:
        claimed = conn.execute(
            _CLAIM, {"token": token, "lease": LEASE_SECONDS, "id": delivery_id, "attempt": attempt}
        ).fetchone()
        if claimed is None:
            current = conn.execute(
                "SELECT status, attempts, (lease_until IS NOT NULL AND lease_until >= now()) AS claimed"
                " FROM recon.webhook_deliveries WHERE delivery_id = %s",
                (delivery_id,),
            ).fetchone()
    if claimed is None:
        if current is None:
            logger.warning("alerts message for an unknown delivery dropped", extra=log)
        else:
            logger.info("alerts message skipped (duplicate or stale)", extra={**log, **_as_dict(current)})
        return

    event, url, payload = claimed["event"], claimed["url"], claimed["payload"]
    if isinstance(payload, str):
        payload = json.loads(payload)
    text = serialize_payload(payload)
    secret = get_settings().webhook_secret
    if not secret:
        status, error = None, "WEBHOOK_SECRET is not set: refusing to send an unsigned webhook"
    else:
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Recon-Event": event,
            "X-Recon-Delivery": str(delivery_id),
            "X-Recon-Timestamp": timestamp,
            "X-Recon-Signature": sign(secret, timestamp, text),
        }
        status, error = _post(url, text.encode("utf-8"), headers)

    if status is not None and 200 <= status < 300:
        with transaction() as conn:
            done = conn.execute(_DELIVERED, {"status": status, "id": delivery_id, "token": token}).fetchone()
        if done is None:
            logger.warning("webhook delivered but the claim was lost before recording it", extra=log)
        else:
            logger.info("webhook delivered", extra={**log, "event": event, "response_status": status})
        return

    delay = retry_delay_seconds(attempt + 1)
    with transaction() as conn:
        outcome = conn.execute(
            _FAILED_ATTEMPT,
            {
                "status": status,
                "error": (error or f"HTTP {status}")[:2000],
                "max": MAX_ATTEMPTS,
                "delay": delay,
                "id": delivery_id,
                "token": token,
            },
        ).fetchone()
    if outcome is None:
        logger.warning("webhook attempt failed and the claim was lost before recording it", extra=log)
        return
    if outcome["status"] == "FAILED":
        logger.error(
            "webhook delivery failed for good",
            extra={**log, "event": event, "response_status": status, "error": error},
        )
        return
    logger.warning(
        "webhook attempt failed; retrying",
        extra={**log, "event": event, "response_status": status, "error": error, "retry_in_s": delay},
    )
    aws.send_message(ALERTS_QUEUE, _message(delivery_id, outcome["attempts"]), delay_seconds=delay)


def _as_dict(row: Any) -> dict:
    return dict(row) if isinstance(row, dict) else {}


def requeue_stalled_deliveries(stalled_after_s: int = STALLED_AFTER_SECONDS, limit: int = 100) -> int:
    """Safety net for a lost message (e.g. a crash between a commit and its SQS send): re-enqueue
    PENDING deliveries whose attempt is overdue by more than `stalled_after_s`. Harmless when the
    original message is merely late: the duplicate is skipped by the attempt/claim check.
    Meant for a periodic caller (e.g. the hourly scheduler). Returns the number re-enqueued."""
    with transaction() as conn:
        rows = conn.execute(
            "UPDATE recon.webhook_deliveries SET next_attempt_at = now()"
            " WHERE delivery_id IN ("
            "   SELECT delivery_id FROM recon.webhook_deliveries"
            "   WHERE status = 'PENDING' AND next_attempt_at < now() - make_interval(secs => %s)"
            "   AND (lease_until IS NULL OR lease_until < now())"
            "   ORDER BY next_attempt_at LIMIT %s FOR UPDATE SKIP LOCKED)"
            " RETURNING delivery_id, attempts",
            (stalled_after_s, limit),
        ).fetchall()
    messages = [_message(r["delivery_id"], r["attempts"]) for r in rows]
    if messages:
        aws.send_messages(ALERTS_QUEUE, messages)
        logger.warning("stalled webhook deliveries re-enqueued", extra={"count": len(messages)})
    return len(messages)


__all__ = [
    "EVENT_DRIFT_DETECTED",
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
