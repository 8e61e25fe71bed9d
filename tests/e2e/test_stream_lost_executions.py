"""A run whose execution ended without finishing it does not hold its stream for ever.

An execution can end outside the service — stopped from the Step Functions console, timed out, or gone
with a local stack restarted without its Step Functions state. No FINISH comes for its run, which would
stay RUNNING: every new run of the stream refused (409), every schedule occurrence skipped. The
maintenance pass ends such a run, naming what became of its execution.
"""
from __future__ import annotations

import uuid

from tests.e2e.conftest import poll
from tests.e2e.test_stream_lost_starts import inproc  # noqa: F401 — a fixture
from tests.e2e.test_stream_runs import _data, _run, _stream, setup, steps_of, wait_run  # noqa: F401 — setup


def test_a_run_whose_execution_was_stopped_outside_the_service_fails_and_frees_its_stream(api, setup, inproc):  # noqa: F811
    from chalicelib.streams import runs, state_machine

    stream_id = _stream(api, setup, names={1: "[hold=30] Orders vs marketplace"})
    run_id = _run(api, stream_id)
    wait_run(api, run_id, until=lambda r: r["status"] == "RUNNING")
    # a run whose execution is still going is left alone
    assert runs.end_lost_executions(older_than=0)["ended"] == 0
    assert _data(api.get(f"/stream-runs/{run_id}"))["status"] == "RUNNING"
    arn = state_machine.execution_arn(run_id)
    state_machine.stop(arn, cause="stopped from the Step Functions console")
    # AWS reads ABORTED; LocalStack 4.9 ends the waiting task's execution FAILED, up to a heartbeat later
    ended = poll(lambda: state_machine.describe(arn)["status"] != "RUNNING" and state_machine.describe(arn)["status"],
                 90, "the execution to end")
    conflict = api.post(f"/streams/{stream_id}/runs", {})
    assert conflict.status_code == 409, conflict.text   # the stream is still held by the run

    assert runs.end_lost_executions(older_than=0)["ended"] >= 1
    run = wait_run(api, run_id)
    assert run["status"] == "FAILED", run
    assert f"the run's execution ended {ended} before the run finished" in run["errorMessage"], run
    steps = steps_of(api, run_id)
    assert [s["status"] for s in steps] == ["FAILED", "SKIPPED", "SKIPPED"], steps
    assert steps[0]["errorMessage"] == f"the run's execution ended {ended} before the run finished"
    # the stream takes runs again, and a second pass changes nothing
    assert runs.end_lost_executions(older_than=0)["ended"] == 0
    rerun = _data(api.post(f"/streams/{stream_id}/runs", {}), 201)["runId"]
    assert rerun != run_id
    assert _data(api.post(f"/stream-runs/{rerun}/cancel"))["status"] == "CANCELED"


def test_a_run_whose_execution_no_longer_exists_fails(api, setup, inproc):  # noqa: F811
    from chalicelib.db.pool import transaction
    from chalicelib.streams import runs, state_machine

    stream_id = _stream(api, setup, steps=2)
    run_id = runs.create_run(stream_id, "MANUAL", {"reason": "its execution is lost"}, start=False)["runId"]
    # started once, on a Step Functions that has since lost its executions (a restarted local stack)
    gone = state_machine.execution_arn(run_id).rsplit(":", 1)[0] + f":lost-{uuid.uuid4().hex[:8]}"
    with transaction() as conn:
        conn.execute("UPDATE recon.stream_runs SET status = 'RUNNING', execution_arn = %s WHERE run_id = %s",
                     (gone, run_id))
    fresh = runs.end_lost_executions(older_than=3600)
    assert _data(api.get(f"/stream-runs/{run_id}"))["status"] == "RUNNING", fresh   # too young to be judged
    runs.end_lost_executions(older_than=0)
    run = wait_run(api, run_id)
    assert run["status"] == "FAILED" and "execution no longer exists" in run["errorMessage"], run
    assert [s["status"] for s in steps_of(api, run_id)] == ["FAILED", "SKIPPED"]
