"""Signed webhook deliveries with retries, for any product (CDC job alerts, stream run events).

Three steps, each safe to repeat:

1. `plan(conn, event, body, subject, urls)` inside the transaction that finishes the subject (a job,
   a run): one `recon.webhook_deliveries` row per (event, url, subject); planning twice is a no-op.
   `body` is the exact JSON text that will be signed and sent.
2. `enqueue(ids)` after that commit: one message per delivery on the webhooks queue (`recon-alerts`).
3. `handle_message(body, receive_count)` is the queue worker: it claims the delivery, POSTs the signed
   body, records the outcome and, on failure, sends the next attempt's message with an exponential
   delay, until `MAX_ATTEMPTS` attempts have been made (then FAILED). `requeue_stalled()` (a sweeper
   hook) re-sends deliveries whose message was lost.

Signing: `X-Recon-Signature: sha256=<hex HMAC-SHA256(WEBHOOK_SECRET, f"{timestamp}.{body}")>` with the
`X-Recon-Timestamp` (unix seconds) of that attempt; receivers check it with `verify_signature`.
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
from typing import Any, Iterable

from chalicelib import aws
from chalicelib.config import get_settings
from chalicelib.db.pool import transaction
from chalicelib.observability import logger

QUEUE = "recon-alerts"
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


# --------------------------------------------------------------------------- bodies and signatures


def ordered_json(payload: dict, order: tuple[str, ...] = ("event", "timestamp", "data"),
                 data_order: tuple[str, ...] = ()) -> str:
    """Compact ASCII JSON with the envelope's fields (and `data`'s) in the given order, others sorted."""

    def arrange(obj: dict, keys: tuple[str, ...]) -> dict:
        out = {k: obj[k] for k in keys if k in obj}
        out.update({k: obj[k] for k in sorted(obj) if k not in out})
        return out

    envelope = arrange(payload, order)
    if isinstance(envelope.get("data"), dict):
        envelope["data"] = arrange(envelope["data"], data_order)
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def sign(secret: str, timestamp: str | int, body: str | bytes) -> str:
    """`sha256=<hex>` of HMAC-SHA256(secret, f"{timestamp}.{body}")."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    message = str(timestamp).encode("ascii") + b"." + body
    return "sha256=" + hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def verify_signature(secret: str, timestamp: str | int, body: str | bytes, signature: str,
                     tolerance_s: int = SIGNATURE_TOLERANCE_SECONDS, now: float | None = None) -> bool:
    """For receivers: True when `signature` (X-Recon-Signature) signs `timestamp` (X-Recon-Timestamp)
    and the raw request `body` with `secret`, and the timestamp is within `tolerance_s` of `now`
    (replay window). Constant-time comparison."""
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


def configured_urls() -> list[str]:
    """WEBHOOK_URLS: comma-separated; blanks ignored, duplicates dropped, order kept."""
    urls: list[str] = []
    for part in get_settings().webhook_urls.split(","):
        url = part.strip()
        if url and url not in urls:
            urls.append(url)
    return urls


def retry_delay_seconds(attempts_made: int) -> int:
    """Delay before the next attempt after `attempts_made` failed ones: 60, 120, 240, 480, 900 s."""
    return int(min(MAX_DELAY_SECONDS, BASE_DELAY_SECONDS * 2 ** attempts_made))


# --------------------------------------------------------------------------- planning (in the finishing transaction)

_INSERT = (
    "INSERT INTO recon.webhook_deliveries"
    " (delivery_id, event, url, job_id, subject, payload, body, status, next_attempt_at)"
    " VALUES (%s, %s, %s, %s, %s, %s::jsonb, %s, 'PENDING', now())"
    " ON CONFLICT (event, url, subject) DO NOTHING"
    " RETURNING delivery_id"
)


def plan(conn, event: str, body: str, subject: str, urls: Iterable[str] | None = None,
         job_id: Any = None) -> list[uuid.UUID]:
    """Insert one PENDING delivery per URL (default: WEBHOOK_URLS) for `event` about `subject`,
    idempotently. No network I/O: pass the returned ids to `enqueue` after the commit."""
    inserted: list[uuid.UUID] = []
    for url in (configured_urls() if urls is None else list(urls)):
        row = conn.execute(_INSERT, (uuid.uuid4(), event, url, job_id, subject, body, body)).fetchone()
        if row is not None:
            inserted.append(row["delivery_id"] if isinstance(row, dict) else row[0])
    return inserted


def _message(delivery_id: Any, attempt: int) -> dict:
    return {"delivery_id": str(delivery_id), "attempt": int(attempt)}


def enqueue(delivery_ids: Iterable[Any]) -> None:
    """After the commit: one queue message per delivery (first attempt, no delay)."""
    bodies = [_message(d, 0) for d in delivery_ids]
    if bodies:
        aws.send_messages(QUEUE, bodies)


def enqueue_quietly(delivery_ids: Iterable[Any]) -> None:
    """`enqueue`, logging instead of raising (the sweeper re-sends stalled deliveries)."""
    try:
        enqueue(delivery_ids)
    except Exception:
        logger.exception("could not enqueue webhook deliveries; the sweeper will")


# --------------------------------------------------------------------------- delivery (queue worker)


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
    " RETURNING event, url, payload, body, attempts"
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


def _body_text(claimed: dict) -> str:
    if claimed.get("body"):
        return claimed["body"]
    payload = claimed["payload"]  # a delivery planned before bodies were stored
    return ordered_json(json.loads(payload) if isinstance(payload, str) else payload)


def handle_message(body: dict, receive_count: int) -> None:
    """Worker for one webhooks-queue message {"delivery_id", "attempt"}.

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
        logger.error("malformed webhooks message dropped", extra={"body": str(body)[:500]})
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
            logger.warning("webhooks message for an unknown delivery dropped", extra=log)
        else:
            logger.info("webhooks message skipped (duplicate or stale)", extra={**log, **dict(current)})
        return

    event, url = claimed["event"], claimed["url"]
    text = _body_text(claimed)
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
            {"status": status, "error": (error or f"HTTP {status}")[:2000], "max": MAX_ATTEMPTS, "delay": delay,
             "id": delivery_id, "token": token},
        ).fetchone()
    if outcome is None:
        logger.warning("webhook attempt failed and the claim was lost before recording it", extra=log)
        return
    if outcome["status"] == "FAILED":
        logger.error("webhook delivery failed for good",
                     extra={**log, "event": event, "response_status": status, "error": error})
        return
    logger.warning("webhook attempt failed; retrying",
                   extra={**log, "event": event, "response_status": status, "error": error, "retry_in_s": delay})
    aws.send_message(QUEUE, _message(delivery_id, outcome["attempts"]), delay_seconds=delay)


def requeue_stalled(stalled_after_s: int = STALLED_AFTER_SECONDS, limit: int = 100) -> int:
    """Sweeper hook, the safety net for a lost message (e.g. a crash between a commit and its SQS
    send): re-enqueue PENDING deliveries whose attempt is overdue by more than `stalled_after_s`.
    Harmless when the original message is merely late: the duplicate is skipped by the attempt/claim
    check. Returns the number re-enqueued."""
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
        aws.send_messages(QUEUE, messages)
        logger.warning("stalled webhook deliveries re-enqueued", extra={"count": len(messages)})
    return len(messages)
