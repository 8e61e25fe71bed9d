"""The stream-run state machine (`recon-stream-runs`, defined in infra/resources.yml) seen from the app:
its execution input, starting and stopping executions, and answering step tasks.

One state machine serves every stream: a Map over the run's steps (MaxConcurrency 1, so in order),
each step an `sqs:sendMessage.waitForTaskToken` task on `recon-stream-steps` with a heartbeat, a
Retry for `StepAttemptFailed` / `States.Timeout` and a Catch that either lets the run go on
(`continueOnFailure`) or fails the Map; a final task sends `FINISH` for the run. The execution's
name is the run id, so starting it twice starts it once.
"""
from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

from chalicelib import aws

STATE_MACHINE_NAME = "recon-stream-runs"
TEMPLATE = Path(__file__).resolve().parents[2] / "infra" / "resources.yml"

# errors the step worker answers with (the Retry matches the first, the Catch everything)
ATTEMPT_FAILED = "StepAttemptFailed"   # this attempt failed; the state machine retries it
STEP_FAILED = "StepFailed"             # no attempt left: the Catch decides whether the run goes on

_arn_lock = threading.Lock()
_arn: str | None = None


class ExecutionGone(Exception):
    """A task answer came too late: the token timed out, or the execution was stopped."""


def execution_name(run_id: int) -> str:
    return str(int(run_id))


def execution_input(run_id: int, steps: list[dict]) -> dict:
    """What an execution starts with: the run and, per step, what the state machine needs to know."""
    return {
        "runId": int(run_id),
        "steps": [
            {"stepOrder": int(s["stepOrder"]), "maxRetries": int(s.get("maxRetries", 0)),
             "continueOnFailure": bool(s.get("continueOnFailure", False))}
            for s in sorted(steps, key=lambda s: s["stepOrder"])
        ],
    }


def state_machine_arn() -> str:
    """STREAM_STATE_MACHINE_ARN when set, else looked up by name once per process."""
    global _arn
    env = os.environ.get("STREAM_STATE_MACHINE_ARN")
    if env:
        return env
    if _arn is None:
        with _arn_lock:
            if _arn is None:
                sfn = aws.client("stepfunctions")
                for page in sfn.get_paginator("list_state_machines").paginate():
                    for sm in page["stateMachines"]:
                        if sm["name"] == STATE_MACHINE_NAME:
                            _arn = sm["stateMachineArn"]
                if _arn is None:
                    raise RuntimeError(f"state machine {STATE_MACHINE_NAME} not found: deploy infra/resources.yml")
    return _arn


def reset() -> None:
    global _arn
    _arn = None


def execution_arn(run_id: int) -> str:
    """The ARN the run's execution has (or will have): executions are named after their run."""
    return f"{state_machine_arn().replace(':stateMachine:', ':execution:')}:{execution_name(run_id)}"


def start(run_id: int, steps: list[dict]) -> str:
    """Start the run's execution (idempotent: the same name and input give the same execution)."""
    sfn = aws.client("stepfunctions")
    try:
        resp = sfn.start_execution(stateMachineArn=state_machine_arn(), name=execution_name(run_id),
                                   input=json.dumps(execution_input(run_id, steps)))
    except sfn.exceptions.ExecutionAlreadyExists:
        # same name, different input: the run was started before with other steps; keep the first
        return execution_arn(run_id)
    return resp["executionArn"]


def stop(execution_arn: str, cause: str = "canceled") -> None:
    sfn = aws.client("stepfunctions")
    try:
        sfn.stop_execution(executionArn=execution_arn, error="Canceled", cause=cause[:256])
    except sfn.exceptions.ExecutionDoesNotExist:
        pass


def describe(execution_arn: str) -> dict:
    return aws.client("stepfunctions").describe_execution(executionArn=execution_arn)


def _answer(call: str, **kwargs: Any) -> None:
    sfn = aws.client("stepfunctions")
    try:
        getattr(sfn, call)(**kwargs)
    except (sfn.exceptions.TaskTimedOut, sfn.exceptions.InvalidToken, sfn.exceptions.TaskDoesNotExist) as exc:
        raise ExecutionGone(str(exc)) from exc


def succeed(token: str, output: dict) -> None:
    _answer("send_task_success", taskToken=token, output=json.dumps(output, default=str))


def fail(token: str, error: str, cause: str) -> None:
    _answer("send_task_failure", taskToken=token, error=error, cause=cause[:32000])


def heartbeat(token: str) -> None:
    _answer("send_task_heartbeat", taskToken=token)


def template_definition(substitutions: dict[str, str] | None = None) -> dict:
    """The state machine definition from infra/resources.yml with its ${...} filled (tests, docs)."""
    import yaml

    doc = yaml.safe_load(TEMPLATE.read_text())
    props = doc["Resources"]["StreamRunsStateMachine"]["Properties"]
    text = props["DefinitionString"]["Fn::Sub"]
    values = {"StreamStepsQueue": "https://sqs.local/recon-stream-steps", "StreamStepHeartbeatSeconds": "30",
              "StreamStepTimeoutSeconds": "3600", "StreamStepRetryIntervalSeconds": "2", **(substitutions or {})}
    for k, v in values.items():
        text = text.replace("${%s}" % k, v)
    return json.loads(text)


def warm_up(timeout: float = 30.0) -> dict:
    """Run one empty execution (no steps: the Map iterates nothing, Finish sends a FINISH for run 0,
    which the worker ignores) so that a freshly started local Step Functions has loaded what its first
    execution needs before the first real run. Returns the execution's status and its duration."""
    import time
    import uuid

    sfn = aws.client("stepfunctions")
    t0 = time.monotonic()
    arn = sfn.start_execution(stateMachineArn=state_machine_arn(), name=f"warm-up-{uuid.uuid4().hex[:12]}",
                              input=json.dumps({"runId": 0, "steps": []}))["executionArn"]
    while True:
        status = sfn.describe_execution(executionArn=arn)["status"]
        if status != "RUNNING" or time.monotonic() - t0 > timeout:
            return {"status": status, "seconds": round(time.monotonic() - t0, 3)}
        time.sleep(0.1)


if __name__ == "__main__":   # python -m chalicelib.streams.state_machine warm-up   (scripts/stack.sh, after deploying)
    import sys

    if sys.argv[1:] != ["warm-up"]:
        sys.exit("usage: python -m chalicelib.streams.state_machine warm-up")
    print(json.dumps(warm_up()))
