"""Alert decisions, payloads, signatures and retry schedule (no database, no network)."""
from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.cdc import alerts
from chalicelib.runs import webhooks
from chalicelib.config import reset_settings

JOB_ID = uuid.UUID("550e8400-e29b-41d4-a716-446655440000")
DONE = datetime(2025, 11, 20, 14, 2, 15, 400000, tzinfo=timezone.utc)


def job(**overrides):
    row = {
        "job_id": JOB_ID,
        "table_name": "users",
        "validation_strategy": "CHECKSUM",
        "status": "COMPLETED",
        "created_at": DONE - timedelta(seconds=200),
        "started_at": DONE - timedelta(seconds=135),
        "completed_at": DONE,
        "mismatch_count": 50,
        "drift_percentage": 0.005,
        "validation_errors": None,
    }
    row.update(overrides)
    return row


# ------------------------------------------------------------------------------------- severity
@pytest.mark.parametrize(
    "drift, expected",
    [
        (None, None),
        (0.0, None),
        (0.99, None),
        (1.0, None),  # at the threshold: no alert
        (1.0001, "WARNING"),
        (5.0, "WARNING"),  # exactly 5x: still WARNING
        (5.0001, "CRITICAL"),
        (5.2, "CRITICAL"),  # the contract's example
        (100.0, "CRITICAL"),
    ],
)
def test_severity_threshold_one(drift, expected):
    assert alerts.severity_for(drift, 1.0) == expected


def test_severity_other_threshold():
    assert alerts.severity_for(0.3, 0.25) == "WARNING"
    assert alerts.severity_for(1.3, 0.25) == "CRITICAL"
    assert alerts.severity_for(0.01, 0.0) == "CRITICAL"  # a zero threshold alerts on any drift


# ------------------------------------------------------------------------------------- payloads
def test_completed_below_threshold_only_job_completed():
    events = alerts.build_events(job(), threshold=1.0)
    assert events == [
        (
            "reconciliation.job_completed",
            {
                "event": "reconciliation.job_completed",
                "timestamp": "2025-11-20T14:02:15Z",
                "data": {
                    "job_id": str(JOB_ID),
                    "table": "users",
                    "status": "COMPLETED",
                    "validation_strategy": "CHECKSUM",
                    "mismatch_count": 50,
                    "drift_percentage": 0.005,
                    "duration_seconds": 135,
                },
            },
        )
    ]


def test_completed_above_threshold_adds_contract_shaped_drift_event():
    events = dict(alerts.build_events(job(drift_percentage=5.2, mismatch_count=52), threshold=1.0))
    assert set(events) == {"reconciliation.job_completed", "reconciliation.drift_detected"}
    body = alerts.serialize_payload(events["reconciliation.drift_detected"])
    # byte for byte the contract's example (compact)
    assert body == (
        '{"event":"reconciliation.drift_detected","timestamp":"2025-11-20T14:02:15Z",'
        '"data":{"job_id":"550e8400-e29b-41d4-a716-446655440000","table":"users",'
        '"drift_percentage":5.2,"severity":"CRITICAL"}}'
    )


def test_failed_job_event_carries_errors_and_never_drift():
    errors = ["planning failed: table 'users' is no longer in the catalog"]
    events = alerts.build_events(
        job(status="FAILED", drift_percentage=None, mismatch_count=None, validation_errors=errors), threshold=1.0
    )
    assert [e for e, _ in events] == ["reconciliation.job_failed"]
    data = events[0][1]["data"]
    assert data["validation_errors"] == errors
    assert data["status"] == "FAILED"
    assert data["mismatch_count"] is None and data["drift_percentage"] is None

    high = alerts.build_events(job(status="FAILED", drift_percentage=50.0), threshold=1.0)
    assert [e for e, _ in high] == ["reconciliation.job_failed"]


def test_running_job_refused():
    with pytest.raises(ValueError):
        alerts.build_events(job(status="RUNNING"), threshold=1.0)


def test_timestamps_and_duration_from_strings_and_naive_values():
    events = alerts.build_events(
        job(completed_at="2025-11-20T14:02:15Z", started_at=datetime(2025, 11, 20, 14, 0, 0)), threshold=1.0
    )
    payload = events[0][1]
    assert payload["timestamp"] == "2025-11-20T14:02:15Z"
    assert payload["data"]["duration_seconds"] == 135
    no_start = alerts.build_events(job(started_at=None), threshold=1.0)[0][1]["data"]
    assert no_start["duration_seconds"] is None  # never started: null, as GET /reconciliation/jobs shows it


def test_serialize_orders_fields_whatever_the_input_order():
    scrambled = {"data": {"severity": "WARNING", "drift_percentage": 2.0, "table": "t", "job_id": "j", "zz": 1},
                 "timestamp": "T", "event": "E"}
    body = alerts.serialize_payload(scrambled)
    assert body == '{"event":"E","timestamp":"T","data":{"job_id":"j","table":"t","drift_percentage":2.0,"severity":"WARNING","zz":1}}'
    assert json.loads(body) == scrambled


def test_serialize_is_ascii():
    body = alerts.serialize_payload({"event": "E", "timestamp": "T", "data": {"table": "café"}})
    assert body.isascii() and json.loads(body)["data"]["table"] == "café"


# ------------------------------------------------------------------------------------- signatures
def test_sign_is_hmac_sha256_of_timestamp_dot_body():
    body = '{"event":"x"}'
    expected = hmac.new(b"s3cret", b"1700000000." + body.encode(), hashlib.sha256).hexdigest()
    assert alerts.sign("s3cret", "1700000000", body) == f"sha256={expected}"
    assert alerts.sign("s3cret", 1700000000, body.encode()) == f"sha256={expected}"


def test_verify_signature():
    body = b'{"event":"reconciliation.drift_detected"}'
    ts = 1_700_000_000
    sig = alerts.sign("s3cret", ts, body)
    assert alerts.verify_signature("s3cret", str(ts), body, sig, now=ts)
    assert alerts.verify_signature("s3cret", ts, body.decode(), sig, now=ts + 299)
    # tampering, wrong secret, other timestamp, missing/garbled parts
    assert not alerts.verify_signature("s3cret", ts, body + b" ", sig, now=ts)
    assert not alerts.verify_signature("other", ts, body, sig, now=ts)
    assert not alerts.verify_signature("s3cret", ts + 1, body, sig, now=ts)
    assert not alerts.verify_signature("s3cret", ts, body, sig.replace("sha256=", ""), now=ts)
    assert not alerts.verify_signature("s3cret", ts, body, "", now=ts)
    assert not alerts.verify_signature("", ts, body, sig, now=ts)
    assert not alerts.verify_signature("s3cret", "soon", body, sig, now=ts)
    assert not alerts.verify_signature("s3cret", None, body, sig, now=ts)
    assert not alerts.verify_signature("s3cret", ts, body, "sha256=é", now=ts)


def test_verify_signature_replay_window():
    body = b"{}"
    ts = 1_700_000_000
    sig = alerts.sign("k", ts, body)
    assert alerts.verify_signature("k", ts, body, sig, now=ts + 300)
    assert not alerts.verify_signature("k", ts, body, sig, now=ts + 301)  # too old: a replay
    assert not alerts.verify_signature("k", ts, body, sig, now=ts - 301)  # from the future
    assert alerts.verify_signature("k", ts, body, sig, tolerance_s=3600, now=ts + 3000)


# ------------------------------------------------------------------------------------- schedule
def test_retry_delays_grow_and_are_capped():
    assert [alerts.retry_delay_seconds(n) for n in range(1, alerts.MAX_ATTEMPTS)] == [60, 120, 240, 480, 900]
    assert alerts.retry_delay_seconds(20) == 900
    assert alerts.MAX_ATTEMPTS == 6


def test_configured_urls(monkeypatch):
    monkeypatch.setenv("WEBHOOK_URLS", " https://a.example/h , ,https://b.example/h,https://a.example/h ")
    reset_settings()
    try:
        assert alerts.configured_webhook_urls() == ["https://a.example/h", "https://b.example/h"]
    finally:
        monkeypatch.delenv("WEBHOOK_URLS")
        reset_settings()


def test_plan_does_no_network_io(monkeypatch):
    """plan_job_events only talks to the connection it is given."""
    monkeypatch.setenv("WEBHOOK_URLS", "https://a.example/h")
    monkeypatch.setenv("DRIFT_ALERT_THRESHOLD_PERCENTAGE", "1.0")
    reset_settings()

    def no_network(*args, **kwargs):
        raise AssertionError("network I/O during planning")

    monkeypatch.setattr(webhooks.aws, "send_message", no_network)
    monkeypatch.setattr(webhooks.aws, "send_messages", no_network)
    monkeypatch.setattr(webhooks, "_post", no_network)

    class Conn:
        def __init__(self):
            self.statements = []

        def execute(self, sql, params=()):
            self.statements.append((sql, params))

            class Cur:
                def fetchone(self_inner):
                    if sql.lstrip().startswith("INSERT"):
                        return {"delivery_id": params[0]}
                    return None

            return Cur()

    conn = Conn()
    try:
        fired, ids = alerts.plan_job_events(conn, job(drift_percentage=3.0))
    finally:
        reset_settings()
    assert fired is True
    assert len(ids) == 2
    assert any("alert_fired = true" in sql for sql, _ in conn.statements)
    inserted = [json.loads(p[5]) for sql, p in conn.statements if sql.lstrip().startswith("INSERT")]
    assert {p["event"] for p in inserted} == {"reconciliation.job_completed", "reconciliation.drift_detected"}
