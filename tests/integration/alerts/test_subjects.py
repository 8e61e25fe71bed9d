"""Webhook deliveries for any subject (a stream run here): planned once, signed, delivered, retried."""
from __future__ import annotations

import json

from chalicelib.db import pool
from chalicelib.runs import webhooks

from .conftest import SECRET


def _plan(subject: str, url: str, payload: dict) -> list:
    body = webhooks.ordered_json(payload, ("event", "timestamp", "data"), ("runId", "status"))
    with pool.transaction() as conn:
        ids = webhooks.plan(conn, payload["event"], body, subject, [url])
    webhooks.enqueue(ids)
    return ids


def test_a_run_subject_is_planned_once_and_delivered_signed(env, db, queue, receiver):
    payload = {"event": "stream.run_completed", "timestamp": "2026-12-01T10:00:00Z",
               "data": {"status": "COMPLETED", "runId": 9201, "extra": True}}
    ids = _plan("run:9201", receiver.url, payload)
    assert len(ids) == 1
    assert _plan("run:9201", receiver.url, payload) == []  # planning twice is a no-op
    assert len(_plan("run:9202", receiver.url, payload)) == 1  # another subject is another delivery

    (row,) = db("SELECT job_id, subject, status FROM recon.webhook_deliveries WHERE delivery_id = %s", (ids[0],))
    assert row["job_id"] is None and row["subject"] == "run:9201" and row["status"] == "PENDING"

    assert queue.work() == 2
    posts = receiver.posts()
    assert len(posts) == 2 and all(p["valid"] for p in posts)
    sent = next(p for p in posts if p["headers"]["x-recon-delivery"] == str(ids[0]))
    # the exact body planned: envelope order, then data in the given order, others sorted
    assert sent["body"].decode() == ('{"event":"stream.run_completed","timestamp":"2026-12-01T10:00:00Z",'
                            '"data":{"runId":9201,"status":"COMPLETED","extra":true}}')
    assert webhooks.verify_signature(SECRET, sent["headers"]["x-recon-timestamp"], sent["body"],
                                     sent["headers"]["x-recon-signature"])
    assert json.loads(sent["body"])["data"]["runId"] == 9201
    (row,) = db("SELECT status, attempts FROM recon.webhook_deliveries WHERE delivery_id = %s", (ids[0],))
    assert (row["status"], row["attempts"]) == ("DELIVERED", 1)


def test_a_failed_attempt_of_a_run_delivery_is_retried_with_a_delay(env, db, queue, receiver):
    receiver.fail_next(1, status=503)
    (delivery_id,) = _plan("run:77", receiver.url, {"event": "stream.run_failed", "timestamp": "t", "data": {}})
    assert queue.work() == 1
    (row,) = db("SELECT status, attempts, response_status FROM recon.webhook_deliveries WHERE delivery_id = %s",
                (delivery_id,))
    assert (row["status"], row["attempts"], row["response_status"]) == ("PENDING", 1, 503)
    assert [(m["body"], m["delay_seconds"]) for m in queue.sent] == [
        ({"delivery_id": str(delivery_id), "attempt": 1}, webhooks.retry_delay_seconds(1))]
