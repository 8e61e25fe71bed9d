"""The state machine's warm-up (scripts/stack.sh runs it after deploying): an execution with no steps goes
through the real state machine in LocalStack and ends SUCCEEDED, and what it sends (a FINISH for run 0)
changes nothing in the control plane."""
from __future__ import annotations

import psycopg
import pytest


@pytest.fixture
def local_aws(stack, monkeypatch):
    for k in ("DATABASE_URL", "AWS_ENDPOINT_URL", "AWS_REGION", "ARTIFACTS_BUCKET"):
        monkeypatch.setenv(k, stack["env"][k])
    from chalicelib import aws
    from chalicelib.config import reset_settings
    from chalicelib.db.pool import close_pool
    from chalicelib.streams import state_machine

    reset_settings(), close_pool(), aws.reset_clients(), state_machine.reset()
    yield stack["env"]
    close_pool()


def _runs(url: str) -> tuple:
    with psycopg.connect(url) as c:
        return c.execute("SELECT count(*), coalesce(max(run_id), 0) FROM recon.stream_runs").fetchone()


def test_the_warm_up_execution_runs_the_state_machine_and_changes_nothing(local_aws):
    from chalicelib import aws
    from chalicelib.streams import state_machine, step_worker

    before = _runs(local_aws["DATABASE_URL"])
    out = state_machine.warm_up()
    assert out["status"] == "SUCCEEDED", out
    sfn = aws.client("stepfunctions")
    warm = [e for e in sfn.list_executions(stateMachineArn=state_machine.state_machine_arn())["executions"]
            if e["name"].startswith("warm-up-")]
    assert warm, "no warm-up execution listed"
    history = sfn.get_execution_history(executionArn=max(warm, key=lambda e: e["startDate"])["executionArn"])
    types = [e["type"] for e in history["events"]]
    assert "MapStateSucceeded" in types and "TaskSucceeded" in types          # the Map, then Finish's send
    assert "TaskSubmitted" not in types                                         # no step task was sent
    # what Finish sent, handled again here: run 0 does not exist, nothing happens
    assert step_worker.finish_run(0) is None
    step_worker.handle_message({"kind": "FINISH", "runId": 0})
    assert _runs(local_aws["DATABASE_URL"]) == before
