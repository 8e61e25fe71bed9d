"""Planning webhook deliveries for a finished job, against a real PostgreSQL."""
from __future__ import annotations

import pytest

from chalicelib.cdc import alerts
from chalicelib.db import pool

from .conftest import deliveries, make_job

HOOK_A = "http://127.0.0.1:9/a"
HOOK_B = "http://127.0.0.1:9/b"


def plan(job):
    with pool.transaction() as conn:
        return alerts.plan_job_events(conn, job)


def test_threshold_crossing_fires_alert_and_plans_drift_deliveries(env, db):
    env(webhook_urls=f"{HOOK_A}, {HOOK_B},{HOOK_A}", drift_alert_threshold_percentage="1.0")
    job = make_job(db, drift=2.5, mismatches=25, rows=1000)

    fired, ids = plan(job)

    assert fired is True
    rows = deliveries(db, job["job_id"])
    assert sorted(r["delivery_id"] for r in rows) == sorted(ids)
    assert [(r["event"], r["url"]) for r in rows] == [
        ("reconciliation.drift_detected", HOOK_A),
        ("reconciliation.drift_detected", HOOK_B),
        ("reconciliation.job_completed", HOOK_A),
        ("reconciliation.job_completed", HOOK_B),
    ]
    assert all(r["status"] == "PENDING" and r["attempts"] == 0 for r in rows)
    drift = rows[0]["payload"]
    assert drift == {
        "event": "reconciliation.drift_detected",
        "timestamp": job["completed_at"].strftime("%Y-%m-%dT%H:%M:%SZ"),
        "data": {"job_id": str(job["job_id"]), "table": "users", "drift_percentage": 2.5, "severity": "WARNING"},
    }
    (stored,) = db("SELECT alert_fired FROM recon.jobs WHERE job_id = %s", (job["job_id"],))
    assert stored["alert_fired"] is True


def test_drift_above_five_times_threshold_is_critical(env, db):
    env(webhook_urls=HOOK_A, drift_alert_threshold_percentage="1.0")
    job = make_job(db, drift=5.2, mismatches=52, rows=1000)
    fired, _ = plan(job)
    assert fired
    (row,) = [r for r in deliveries(db, job["job_id"]) if r["event"] == "reconciliation.drift_detected"]
    assert row["payload"]["data"]["severity"] == "CRITICAL"
    assert row["payload"]["data"]["drift_percentage"] == 5.2


def test_at_or_below_threshold_no_drift_alert(env, db):
    env(webhook_urls=HOOK_A, drift_alert_threshold_percentage="1.0")
    for drift in (0.0, 0.5, 1.0):
        job = make_job(db, drift=drift, mismatches=int(drift * 10), rows=1000)
        fired, ids = plan(job)
        assert fired is False, drift
        rows = deliveries(db, job["job_id"])
        assert [r["event"] for r in rows] == ["reconciliation.job_completed"]
        assert [r["delivery_id"] for r in rows] == ids
        (stored,) = db("SELECT alert_fired FROM recon.jobs WHERE job_id = %s", (job["job_id"],))
        assert stored["alert_fired"] is False


def test_job_completed_payload(env, db):
    env(webhook_urls=HOOK_A)
    job = make_job(db, drift=0.005, mismatches=50, rows=1_000_000, duration_s=135)
    plan(job)
    (row,) = deliveries(db, job["job_id"])
    assert row["payload"] == {
        "event": "reconciliation.job_completed",
        "timestamp": job["completed_at"].strftime("%Y-%m-%dT%H:%M:%SZ"),
        "data": {
            "job_id": str(job["job_id"]),
            "table": "users",
            "status": "COMPLETED",
            "validation_strategy": "CHECKSUM",
            "mismatch_count": 50,
            "drift_percentage": 0.005,
            "duration_seconds": 135,
        },
    }


def test_failed_job_plans_job_failed_and_never_drift(env, db):
    env(webhook_urls=HOOK_A, drift_alert_threshold_percentage="1.0")
    errors = ["deadline exceeded: still SCANNING after 3600 s (3/16 segments done)"]
    job = make_job(db, status="FAILED", drift=40.0, mismatches=None, errors=errors, strategy="ROW_COUNT", duration_s=3600)

    fired, ids = plan(job)

    assert fired is False
    (row,) = deliveries(db, job["job_id"])
    assert row["delivery_id"] == ids[0]
    assert row["event"] == "reconciliation.job_failed"
    data = row["payload"]["data"]
    assert data["status"] == "FAILED"
    assert data["validation_strategy"] == "ROW_COUNT"
    assert data["validation_errors"] == errors
    assert data["duration_seconds"] == 3600
    assert data["mismatch_count"] is None


def test_planning_twice_inserts_nothing_new(env, db):
    env(webhook_urls=f"{HOOK_A},{HOOK_B}")
    job = make_job(db, drift=3.0, mismatches=30, rows=1000)

    fired1, ids1 = plan(job)
    fired2, ids2 = plan(job)
    with pool.transaction() as conn:  # and twice inside one transaction
        fired3, ids3 = alerts.plan_job_events(conn, job)
        fired4, ids4 = alerts.plan_job_events(conn, job)

    assert (fired1, fired2, fired3, fired4) == (True, True, True, True)
    assert len(ids1) == 4
    assert ids2 == ids3 == ids4 == []
    assert len(deliveries(db, job["job_id"])) == 4


def test_planning_is_part_of_the_callers_transaction(env, db):
    env(webhook_urls=HOOK_A)
    job = make_job(db, drift=3.0, mismatches=30, rows=1000)

    class Abort(Exception):
        pass

    try:
        with pool.transaction() as conn:
            fired, ids = alerts.plan_job_events(conn, job)
            assert fired and len(ids) == 2
            raise Abort
    except Abort:
        pass
    assert deliveries(db, job["job_id"]) == []
    fired, ids = plan(job)  # a later, committed finalisation still plans them
    assert len(ids) == 2


def test_no_urls_configured_still_reports_alert(env, db):
    env(webhook_urls="  ,  ")
    job = make_job(db, drift=9.0, mismatches=90, rows=1000)
    fired, ids = plan(job)
    assert fired is True and ids == []
    assert deliveries(db, job["job_id"]) == []


def test_running_job_is_refused(env, db):
    env(webhook_urls=HOOK_A)
    job = make_job(db)
    job = {**job, "status": "RUNNING"}
    with pytest.raises(ValueError, match="only COMPLETED or FAILED"):
        plan(job)
