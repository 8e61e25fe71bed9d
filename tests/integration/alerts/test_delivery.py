"""Signed webhook deliveries end to end: PostgreSQL, SQS (moto) and a real HTTP receiver."""
from __future__ import annotations

import json
import socket
import threading
import time
from datetime import datetime, timezone

import pytest

from chalicelib.cdc import alerts
from chalicelib.runs import webhooks
from chalicelib.db import pool

from .conftest import SECRET, deliveries, make_job


def plan_and_enqueue(job):
    with pool.transaction() as conn:
        fired, ids = alerts.plan_job_events(conn, job)
    alerts.enqueue_deliveries(ids)
    return fired, ids


def by_id(db, delivery_id):
    (row,) = db("SELECT * FROM recon.webhook_deliveries WHERE delivery_id = %s", (delivery_id,))
    return row


def one_delivery(env, db, queue, receiver, **job_kwargs):
    """Plan a below-threshold job (one job_completed delivery to the receiver) and take its first
    message off the queue (not yet handled)."""
    env(webhook_urls=receiver.url)
    job = make_job(db, **job_kwargs)
    _, (delivery_id,) = plan_and_enqueue(job)
    ((body, count, _),) = queue.receive_all()
    assert body == {"delivery_id": str(delivery_id), "attempt": 0}
    return job, delivery_id, body, count


def test_delivery_success_signed_exact_payload(env, db, queue, receiver):
    env(webhook_urls=receiver.url, drift_alert_threshold_percentage="1.0")
    job = make_job(db, drift=5.2, mismatches=52, rows=1000, duration_s=135)

    fired, ids = plan_and_enqueue(job)
    assert fired and len(ids) == 2
    assert queue.attributes()["ApproximateNumberOfMessages"] == 2

    before = int(datetime.now(timezone.utc).timestamp())
    assert queue.work() == 2

    posts = receiver.posts()
    assert len(posts) == 2
    assert all(p["valid"] for p in posts)
    assert {p["path"] for p in posts} == {"/hooks/recon"}
    drift = next(p for p in posts if p["headers"]["x-recon-event"] == "reconciliation.drift_detected")
    completed_at = job["completed_at"].strftime("%Y-%m-%dT%H:%M:%SZ")
    expected = {
        "event": "reconciliation.drift_detected",
        "timestamp": completed_at,
        "data": {"job_id": str(job["job_id"]), "table": "users", "drift_percentage": 5.2, "severity": "CRITICAL"},
    }
    assert json.loads(drift["body"]) == expected
    # the exact bytes: compact JSON in the contract's field order
    assert drift["body"] == json.dumps(expected, separators=(",", ":")).encode()
    h = drift["headers"]
    assert h["content-type"] == "application/json"
    assert h["x-recon-delivery"] in {str(i) for i in ids}
    assert before - 1 <= int(h["x-recon-timestamp"]) <= before + 60
    assert h["x-recon-signature"] == alerts.sign(SECRET, h["x-recon-timestamp"], drift["body"])
    # a receiver with a different secret would reject it
    assert not alerts.verify_signature("other-secret", h["x-recon-timestamp"], drift["body"], h["x-recon-signature"])

    completed = next(p for p in posts if p["headers"]["x-recon-event"] == "reconciliation.job_completed")
    assert list(json.loads(completed["body"])["data"]) == [
        "job_id", "table", "status", "validation_strategy", "mismatch_count", "drift_percentage", "duration_seconds",
    ]

    for row in deliveries(db, job["job_id"]):
        assert row["status"] == "DELIVERED"
        assert row["attempts"] == 1
        assert row["response_status"] == 200
        assert row["delivered_at"] is not None
        assert row["last_error"] is None
    assert queue.sent == []  # no retry scheduled
    assert queue.attributes() == {"ApproximateNumberOfMessages": 0, "ApproximateNumberOfMessagesDelayed": 0}


def test_failures_retried_with_growing_delay_then_delivered(env, db, queue, receiver):
    job, delivery_id, body, count = one_delivery(env, db, queue, receiver)
    receiver.fail_next(2, status=500)

    alerts.handle_delivery_message(body, count)
    row = by_id(db, delivery_id)
    assert (row["status"], row["attempts"], row["response_status"]) == ("PENDING", 1, 500)
    assert "500" in row["last_error"] and "receiver says no" in row["last_error"]
    assert 55 <= (row["next_attempt_at"] - datetime.now(timezone.utc)).total_seconds() <= 61
    assert queue.attributes()["ApproximateNumberOfMessagesDelayed"] == 1  # really sent, with a delay
    assert queue.sent[-1] == {"queue": "recon-alerts", "body": {"delivery_id": str(delivery_id), "attempt": 1},
                              "delay_seconds": 60}

    # the first message comes back (redelivery) while the retry is pending: stale, no POST
    alerts.handle_delivery_message(body, count + 1)
    assert len(receiver.posts()) == 1
    assert by_id(db, delivery_id)["attempts"] == 1

    queue.purge()  # stand-in for the delay passing: SQS would now hand the worker that message
    alerts.handle_delivery_message(queue.sent[-1]["body"], 1)
    row = by_id(db, delivery_id)
    assert (row["status"], row["attempts"]) == ("PENDING", 2)
    assert queue.sent[-1]["delay_seconds"] == 120

    alerts.handle_delivery_message(queue.sent[-1]["body"], 1)
    row = by_id(db, delivery_id)
    assert (row["status"], row["attempts"], row["response_status"], row["last_error"]) == ("DELIVERED", 3, 200, None)
    assert [s["delay_seconds"] for s in queue.sent] == [60, 120]
    posts = receiver.posts()
    assert len(posts) == 3
    assert all(p["valid"] for p in posts)
    assert len({p["body"] for p in posts}) == 1  # same payload every attempt
    assert {p["headers"]["x-recon-delivery"] for p in posts} == {str(delivery_id)}


def test_failed_after_max_attempts(env, db, queue, receiver):
    job, delivery_id, body, count = one_delivery(env, db, queue, receiver)
    receiver.fail_next(100, status=503)

    message = body
    for n in range(1, alerts.MAX_ATTEMPTS + 1):
        alerts.handle_delivery_message(message, 1)
        row = by_id(db, delivery_id)
        assert row["attempts"] == n
        if n < alerts.MAX_ATTEMPTS:
            assert row["status"] == "PENDING"
            message = queue.sent[-1]["body"]
            assert message == {"delivery_id": str(delivery_id), "attempt": n}

    row = by_id(db, delivery_id)
    assert (row["status"], row["attempts"], row["response_status"]) == ("FAILED", 6, 503)
    assert row["next_attempt_at"] is None and row["delivered_at"] is None
    assert [s["delay_seconds"] for s in queue.sent] == [60, 120, 240, 480, 900]
    assert len(receiver.posts()) == 6

    # a late duplicate of any message never POSTs again
    alerts.handle_delivery_message(message, 3)
    alerts.handle_delivery_message(body, 5)
    assert len(receiver.posts()) == 6
    assert len(queue.sent) == 5


def test_redelivered_message_after_delivery_does_not_post_again(env, db, queue, receiver):
    job, delivery_id, body, count = one_delivery(env, db, queue, receiver)
    alerts.handle_delivery_message(body, count)
    assert by_id(db, delivery_id)["status"] == "DELIVERED"

    # SQS redelivers the same message (e.g. the worker died before deleting it), and a second enqueue
    alerts.handle_delivery_message(body, count + 1)
    alerts.enqueue_deliveries([delivery_id])
    assert queue.work() == 1
    # even a message naming the attempt count it now has (a manual re-drive) does not resend it
    alerts.handle_delivery_message({"delivery_id": str(delivery_id), "attempt": 1}, 1)

    assert len(receiver.posts()) == 1
    row = by_id(db, delivery_id)
    assert (row["status"], row["attempts"]) == ("DELIVERED", 1)


def test_claimed_delivery_is_not_posted_concurrently(env, db, queue, receiver):
    job, delivery_id, body, count = one_delivery(env, db, queue, receiver)
    db("UPDATE recon.webhook_deliveries SET lease_token = gen_random_uuid(), lease_until = now() + interval '1 minute'"
       " WHERE delivery_id = %s", (delivery_id,))
    alerts.handle_delivery_message(body, 2)
    assert receiver.posts() == []

    # the holder died: once its claim has expired the redelivered message goes through
    db("UPDATE recon.webhook_deliveries SET lease_until = now() - interval '1 second' WHERE delivery_id = %s",
       (delivery_id,))
    alerts.handle_delivery_message(body, 3)
    assert len(receiver.posts()) == 1
    assert by_id(db, delivery_id)["status"] == "DELIVERED"


def test_two_workers_with_the_same_message_post_once(env, db, queue, receiver):
    job, delivery_id, body, count = one_delivery(env, db, queue, receiver)
    receiver.script.append("hold")
    errors = []

    def first_worker():
        try:
            alerts.handle_delivery_message(body, count)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    worker = threading.Thread(target=first_worker)
    worker.start()
    try:
        assert receiver.arrived.wait(10), "the first worker's POST never arrived"
        alerts.handle_delivery_message(body, count + 1)  # a second copy while the first is in flight
        assert len(receiver.posts()) == 1
    finally:
        receiver.unhold.set()
        worker.join(10)
    assert not worker.is_alive() and errors == []
    assert len(receiver.posts()) == 1
    row = by_id(db, delivery_id)
    assert (row["status"], row["attempts"]) == ("DELIVERED", 1)


def test_connection_refused_is_a_failed_attempt(env, db, queue, receiver):
    with socket.socket() as s:  # a port with nobody listening
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/hook"
    env(webhook_urls=dead)
    job = make_job(db)
    _, (delivery_id,) = plan_and_enqueue(job)
    assert queue.work() == 1
    row = by_id(db, delivery_id)
    assert (row["status"], row["attempts"], row["response_status"]) == ("PENDING", 1, None)
    assert "refused" in row["last_error"].lower()
    assert queue.sent[-1]["delay_seconds"] == 60


def test_read_timeout_is_a_failed_attempt(env, db, queue, receiver, monkeypatch):
    monkeypatch.setattr(webhooks, "CONNECT_TIMEOUT_SECONDS", 5)
    monkeypatch.setattr(webhooks, "READ_TIMEOUT_SECONDS", 0.5)
    job, delivery_id, body, count = one_delivery(env, db, queue, receiver)
    receiver.script.append("hang")
    started = time.monotonic()
    alerts.handle_delivery_message(body, count)
    assert time.monotonic() - started < 4  # the read timeout applied, not the (longer) connect one
    row = by_id(db, delivery_id)
    assert (row["status"], row["attempts"], row["response_status"]) == ("PENDING", 1, None)
    assert "timed out" in row["last_error"].lower()
    assert len(receiver.posts()) == 1


def test_redirect_is_not_followed(env, db, queue, receiver):
    job, delivery_id, body, count = one_delivery(env, db, queue, receiver)
    receiver.script.append("redirect")
    alerts.handle_delivery_message(body, count)
    row = by_id(db, delivery_id)
    assert (row["status"], row["response_status"]) == ("PENDING", 302)
    assert len(receiver.posts()) == 1


def test_missing_secret_sends_nothing(env, db, queue, receiver):
    job, delivery_id, body, count = one_delivery(env, db, queue, receiver)
    env(webhook_secret="")
    alerts.handle_delivery_message(body, count)
    assert receiver.posts() == []
    row = by_id(db, delivery_id)
    assert (row["status"], row["attempts"]) == ("PENDING", 1)
    assert "WEBHOOK_SECRET" in row["last_error"]


def test_sweeper_requeues_stalled_deliveries(env, db, queue, receiver):
    job, delivery_id, body, count = one_delivery(env, db, queue, receiver)
    # the message was lost; nothing is overdue yet
    alerts.requeue_stalled_deliveries()
    assert not [m for m in queue.receive_all() if m[0]["delivery_id"] == str(delivery_id)]
    # long overdue (older than anything else a shared database may hold, so within the batch limit)
    db("UPDATE recon.webhook_deliveries SET next_attempt_at = now() - interval '100 years' WHERE delivery_id = %s",
       (delivery_id,))
    assert alerts.requeue_stalled_deliveries() >= 1
    mine = [m for m in queue.receive_all() if m[0]["delivery_id"] == str(delivery_id)]
    assert [m[0] for m in mine] == [{"delivery_id": str(delivery_id), "attempt": 0}]
    alerts.handle_delivery_message(mine[0][0], 1)
    assert by_id(db, delivery_id)["status"] == "DELIVERED"
    assert len(receiver.posts()) == 1


@pytest.mark.parametrize("body", [{}, {"delivery_id": "not-a-uuid"}, {"delivery_id": None}])
def test_malformed_or_unknown_message_is_dropped(env, db, queue, receiver, body):
    alerts.handle_delivery_message(body, 1)
    alerts.handle_delivery_message({"delivery_id": "00000000-0000-0000-0000-000000000000", "attempt": 0}, 1)
    assert receiver.posts() == []
