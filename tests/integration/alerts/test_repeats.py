"""Drift alerts of the hourly schedule (docs/alerts.md, "Repeats and recovery"): an unchanged drift does not
page every hour, a worse one does at once, the alert comes back after DRIFT_ALERT_REPEAT_SECONDS, and a drift
back at or below the threshold is announced once. On-demand jobs alert on their own. Real PostgreSQL; each
test works on a table of its own (the database is shared)."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.cdc import alerts
from chalicelib.db import pool

from .conftest import deliveries, make_job

HOOK = "http://127.0.0.1:9/hook"
START = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=2)


@pytest.fixture
def hourly(env, db):
    """Finish scheduled jobs of a fresh table one hour apart: hourly(drift) -> (alert_fired, events)."""
    env(webhook_urls=HOOK, drift_alert_threshold_percentage="1.0", drift_alert_repeat_seconds="14400")
    table = f"t_{uuid.uuid4().hex[:10]}"
    state = {"hour": 0, "jobs": []}

    def finish(drift, job_type="HOURLY_SCHEDULED", at=None):
        completed = at or START + timedelta(hours=state["hour"])
        state["hour"] += 1
        job = make_job(db, drift=drift, mismatches=int(drift * 10), rows=1000, table=table, job_type=job_type,
                       completed=completed)
        with pool.transaction() as conn:
            fired, _ids = alerts.plan_job_events(conn, job)
        state["jobs"].append(job)
        rows = deliveries(db, job["job_id"])
        (stored,) = db("SELECT alert_fired FROM recon.jobs WHERE job_id = %s", (job["job_id"],))
        assert stored["alert_fired"] is fired
        return fired, {r["event"]: r["payload"] for r in rows}

    finish.jobs = state["jobs"]
    finish.table = table
    return finish


DRIFT, DONE, RESOLVED = "reconciliation.drift_detected", "reconciliation.job_completed", "reconciliation.drift_resolved"


def test_an_unchanged_drift_pages_once_a_worse_one_at_once(hourly):
    fired, events = hourly(2.5)
    assert fired and set(events) == {DRIFT, DONE}
    for drift in (2.6, 1.5, 4.9):                   # still WARNING, hour after hour: no new page
        fired, events = hourly(drift)
        assert not fired and set(events) == {DONE}, drift
    fired, events = hourly(7.0)                     # CRITICAL: worse, paged at once
    assert fired and events[DRIFT]["data"]["severity"] == "CRITICAL"
    fired, events = hourly(3.0)                     # back to WARNING while the CRITICAL alert is open
    assert not fired and set(events) == {DONE}


def test_the_alert_is_repeated_after_the_repeat_interval(hourly):
    assert hourly(2.5)[0]
    assert not hourly(2.5)[0]                       # 1 h after
    assert not hourly(2.5, at=START + timedelta(hours=3, minutes=59))[0]
    fired, events = hourly(2.5, at=START + timedelta(hours=4))     # 4 h after the alert: repeated
    assert fired and events[DRIFT]["data"]["severity"] == "WARNING"
    assert not hourly(2.5, at=START + timedelta(hours=5))[0]       # counted from the repeat


def test_a_recovery_is_announced_once_and_a_new_drift_pages_again(hourly):
    hourly(2.5)
    hourly(2.5)
    fired, events = hourly(0.4)
    assert not fired and set(events) == {DONE, RESOLVED}
    assert events[RESOLVED] == {
        "event": RESOLVED, "timestamp": events[DONE]["timestamp"],
        "data": {"job_id": str(hourly.jobs[2]["job_id"]), "table": hourly.table, "validation_strategy": "CHECKSUM",
                 "drift_percentage": 0.4, "alert_job_id": str(hourly.jobs[0]["job_id"])}}
    assert set(hourly(1.0)[1]) == {DONE}             # at the threshold: nothing open, nothing to resolve
    fired, events = hourly(1.2)                      # drift again: a new alert
    assert fired and set(events) == {DRIFT, DONE}


def test_a_drift_hovering_at_the_threshold_pages_once_and_resolves_only_clearly_below_it(hourly):
    """Hysteresis: with the threshold 1.0 and the default margin 0.2, a drift going 1.05, 0.95, 1.05, ...
    keeps the first alert open (no page, no resolution every other hour); it is resolved at 0.8 or below."""
    fired, events = hourly(1.05)
    assert fired and set(events) == {DRIFT, DONE}
    for drift in (0.95, 1.05, 0.99, 0.81):         # within the 4 h repeat interval
        fired, events = hourly(drift)
        assert not fired and set(events) == {DONE}, drift
    fired, events = hourly(0.8)                      # threshold x (1 - 0.2): resolved
    assert not fired and set(events) == {DONE, RESOLVED}
    assert events[RESOLVED]["data"]["alert_job_id"] == str(hourly.jobs[0]["job_id"])
    assert set(hourly(0.95)[1]) == {DONE}            # nothing open: nothing to resolve, no drift event
    assert hourly(1.05)[0]                           # above the threshold again: a new alert


def test_a_resolve_margin_of_zero_resolves_at_the_threshold(hourly, env):
    env(drift_alert_resolve_margin="0")
    assert hourly(1.05)[0]
    assert set(hourly(1.0)[1]) == {DONE, RESOLVED}


def test_on_demand_jobs_alert_on_their_own_and_leave_the_schedule_s_alert_open(hourly):
    assert hourly(2.5)[0]
    assert hourly(2.5, job_type="MANUAL_ONDEMAND")[0]          # a person asked: always told
    assert set(hourly(0.1, job_type="MANUAL_ONDEMAND")[1]) == {DONE}
    assert not hourly(2.5)[0]                                  # the schedule's alert is still open
    assert set(hourly(0.0)[1]) == {DONE, RESOLVED}


def test_a_repeat_interval_of_zero_pages_every_job(hourly, env):
    env(drift_alert_repeat_seconds="0")
    assert all(hourly(2.5)[0] for _ in range(3))


def test_a_failed_job_neither_repeats_nor_resolves(hourly, db):
    hourly(2.5)
    failed = make_job(db, status="FAILED", drift=None, mismatches=None, table=hourly.table, job_type="HOURLY_SCHEDULED",
                      errors=["deadline exceeded"], completed=START + timedelta(hours=1))
    with pool.transaction() as conn:
        assert alerts.plan_job_events(conn, failed)[0] is False
    assert [r["event"] for r in deliveries(db, failed["job_id"])] == ["reconciliation.job_failed"]
    assert not hourly(2.5)[0]
