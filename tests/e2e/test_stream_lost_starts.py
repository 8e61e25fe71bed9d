"""A run's start survives the death of the process that decided it.

A trigger (an event, a schedule occurrence) claims its subject once, creates the run and starts the
run's execution. A process that dies between those steps must leave work another one finishes: the
claim and the run commit together (or not at all, and the redelivered event or the next tick claims
again), and a run created but never started is started by the maintenance pass.
"""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tests.e2e.conftest import poll
from tests.e2e.test_stream_runs import _data, _stream, setup, wait_run  # noqa: F401 — setup is a fixture


class Died(BaseException):
    """The process ends here (not an error the code could record)."""


@pytest.fixture
def inproc(stack, monkeypatch):
    for k in ("DATABASE_URL", "AWS_ENDPOINT_URL", "AWS_REGION", "ARTIFACTS_BUCKET"):
        monkeypatch.setenv(k, stack["env"][k])
    from chalicelib import aws
    from chalicelib.config import reset_settings
    from chalicelib.db.pool import close_pool

    reset_settings(), close_pool(), aws.reset_clients()
    yield
    close_pool()


def _die_in_create_run(monkeypatch):
    from chalicelib.streams import runs

    def died(*a, **kw):
        raise Died()
    monkeypatch.setattr(runs, "create_run", died)


def test_an_event_whose_handler_died_before_its_run_is_handled_on_redelivery(api, setup, inproc, monkeypatch):  # noqa: F811
    from chalicelib.db.pool import transaction
    from chalicelib.streams import events, runs

    upstream = _stream(api, setup, steps=1)
    stream_id = _stream(api, setup, steps=1, triggerType="EVENT",
                        triggerConfig={"event": "STREAM_RUN_COMPLETED", "streamId": upstream})
    detail = {"runId": 987654321, "streamId": upstream, "status": "COMPLETED"}   # a run of upstream ended
    real_create = runs.create_run
    _die_in_create_run(monkeypatch)
    with pytest.raises(Died):
        events._start_once("evt-lost-1", stream_id, "StreamRunCompleted", detail, [])
    with transaction() as conn:
        left = conn.execute("SELECT outcome FROM recon.stream_event_runs WHERE stream_id = %s", (stream_id,)).fetchall()
    assert left == [], f"the dead handler left a claim that swallows the event: {left}"
    assert _data(api.get(f"/streams/{stream_id}"))["recentOccurrences"] == []
    monkeypatch.setattr(runs, "create_run", real_create)
    # the same event delivered again (another envelope, the same file) starts the run
    run_id = events._start_once("evt-lost-2", stream_id, "StreamRunCompleted", detail, [])
    assert run_id is not None
    recent = _data(api.get(f"/streams/{stream_id}"))["recentOccurrences"]
    assert [(o["status"], o["runId"]) for o in recent] == [("STARTED", run_id)]
    assert wait_run(api, run_id)["status"] == "COMPLETED"
    # and once handled, it is not handled again
    assert events._start_once("evt-lost-3", stream_id, "StreamRunCompleted", detail, []) is None


def test_a_schedule_occurrence_whose_dispatcher_died_is_claimed_by_the_next_tick(api, setup, inproc, monkeypatch):  # noqa: F811
    from chalicelib.db.pool import transaction
    from chalicelib.streams import runs, schedules

    # once a year, far ahead of the stack's own one-minute tick; the dispatches look at this stream only
    stream_id = _stream(api, setup, steps=1, triggerType="SCHEDULED",
                        triggerConfig={"cron": "0 0 3 1 1 *", "timezone": "Europe/Berlin"})
    now = datetime(2029, 1, 1, 2, 0, 30, tzinfo=timezone.utc)
    real_create = runs.create_run
    _die_in_create_run(monkeypatch)
    with pytest.raises(Died):
        schedules.dispatch(now=now, stream_ids=[stream_id])
    with transaction() as conn:
        left = conn.execute("SELECT outcome FROM recon.stream_schedule_claims WHERE stream_id = %s",
                            (stream_id,)).fetchall()
    assert left == [], f"the dead dispatcher left a claim without a run: {left}"
    monkeypatch.setattr(runs, "create_run", real_create)
    started = [d for d in schedules.dispatch(now=now, stream_ids=[stream_id]) if d["streamId"] == stream_id]
    assert [d["outcome"] for d in started] == ["STARTED"] and started[0]["runId"] is not None
    assert started[0]["occurrence"] == datetime(2029, 1, 1, 2, 0, tzinfo=timezone.utc)
    assert wait_run(api, started[0]["runId"])["status"] == "COMPLETED"
    assert [d for d in schedules.dispatch(now=now, stream_ids=[stream_id]) if d["streamId"] == stream_id] == []


def test_a_run_created_but_never_started_is_started_by_the_maintenance_pass(api, setup, inproc):  # noqa: F811
    from chalicelib.db.pool import transaction
    from chalicelib.streams import runs

    stream_id = _stream(api, setup, steps=1)
    # the creating process died after its commit, before StartExecution
    run_id = runs.create_run(stream_id, "MANUAL", {"reason": "lost start"}, start=False)["runId"]
    fresh = runs.create_run(_stream(api, setup, steps=1), "MANUAL", {"reason": "just created"}, start=False)["runId"]
    # a run created moments ago is left alone: its creator may be about to start it
    runs.start_stalled()
    view = _data(api.get(f"/stream-runs/{fresh}"))
    assert view["status"] == "PENDING"
    with transaction() as conn:
        assert conn.execute("SELECT execution_arn FROM recon.stream_runs WHERE run_id = %s",
                            (fresh,)).fetchone()["execution_arn"] is None
        # the lost one has waited past the threshold
        conn.execute("UPDATE recon.stream_runs SET created_at = created_at - interval '5 minutes' WHERE run_id = %s",
                     (run_id,))
    assert _data(api.get(f"/stream-runs/{run_id}"))["status"] == "PENDING"
    runs.start_stalled()
    assert wait_run(api, run_id)["status"] == "COMPLETED"
    # a second pass finds nothing to start (the run is no longer PENDING)
    with transaction() as conn:
        conn.execute("UPDATE recon.stream_runs SET created_at = created_at - interval '5 minutes' WHERE run_id = %s",
                     (fresh,))
    assert runs.start_stalled()["stalledRuns"] >= 1        # only the fresh one, now old enough
    poll(lambda: _data(api.get(f"/stream-runs/{fresh}"))["status"] == "COMPLETED" or None, 120, "the second run")
