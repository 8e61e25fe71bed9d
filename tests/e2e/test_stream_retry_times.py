"""A failed attempt that is retried ended when it failed: while it waits for its retry (RETRY_WAIT) its
step shows no completedAt (the step is not complete, also through the legacy reconciliation view, where
it reads IN_PROGRESS); once the next attempt has taken over, the failed attempt's completedAt is its
failure time, before the retry started (the backoff lies between them). A run canceled during the wait
ends that step at the cancel."""
from __future__ import annotations

from datetime import datetime

from tests.e2e.test_stream_runs import _data, _run, _stream, setup, steps_of, wait_run  # noqa: F401 (fixture)


def _t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _waiting(api, run_id: int) -> dict:
    seen = {}

    def until(run):
        seen["step"] = next((s for s in steps_of(api, run_id) if s["status"] == "RETRY_WAIT"), None)
        return seen["step"] is not None or run["status"] not in ("PENDING", "RUNNING")
    wait_run(api, run_id, until=until)
    assert seen["step"] is not None, "the step never waited for its retry"
    return seen["step"]


def test_a_retried_attempt_ends_at_its_failure_and_shows_no_completion_while_waiting(api, setup):
    stream_id = _stream(api, setup, steps=1, names={1: "Marketplace [fail-once]"},
                        configs={1: {"continueOnFailure": False, "maxRetries": 1}})
    run_id = _run(api, stream_id)
    waiting = _waiting(api, run_id)
    assert waiting["completedAt"] is None and waiting["attemptNo"] == 1, waiting
    legacy = _data(api.get(f"/reconciliations/{waiting['reconciliationId']}"))
    assert legacy["status"] == "IN_PROGRESS" and legacy["completedAt"] is None, legacy
    assert wait_run(api, run_id)["status"] == "COMPLETED"
    first, second = steps_of(api, run_id, attempts="all")
    assert (first["status"], second["status"]) == ("FAILED", "COMPLETED"), (first, second)
    assert _t(first["startedAt"]) <= _t(first["completedAt"]) < _t(second["startedAt"]), (first, second)


def test_a_run_canceled_while_a_step_waits_for_its_retry_ends_the_step_at_the_cancel(api, setup):
    import time

    stream_id = _stream(api, setup, steps=1, names={1: "Marketplace [fail-always]"},
                        configs={1: {"continueOnFailure": False, "maxRetries": 3}})
    run_id = _run(api, stream_id)
    waiting = _waiting(api, run_id)
    # the cancel comes well after the failure (the first wait lasts 2 s): their times tell apart
    seen = time.monotonic()
    while time.monotonic() - seen < 1.3:
        step = steps_of(api, run_id)[0]
        assert (step["status"], step["attemptNo"]) == ("RETRY_WAIT", waiting["attemptNo"]), step
        time.sleep(0.1)
    canceled = _data(api.post(f"/stream-runs/{run_id}/cancel"))
    assert canceled["status"] == "CANCELED", canceled
    every = steps_of(api, run_id, attempts="all")
    step = every[-1]
    assert step["status"] == "CANCELED" and step["attemptNo"] == waiting["attemptNo"], every
    # the step ends with its run, at the cancel, not at the attempt's failure
    assert step["completedAt"] == canceled["completedAt"], (step, canceled)


def test_an_attempt_whose_outputs_cannot_be_registered_fails_at_once_with_the_reason(api, setup):
    """platform §5 retries: a failing step is retried, after the last failure the run is FAILED. An error while
    the worker registered a completed engine run's outputs (a value the control plane could not store, say) left
    the attempt IN_PROGRESS until its heartbeat timed out (30 s), then FAILED "the worker stopped answering", the
    reason only in the worker's log. The attempt now fails at once, retried as any failure, with the reason."""
    import time

    stream_id = _stream(api, setup, steps=1, names={1: "Marketplace [fail-completion]"},
                        configs={1: {"continueOnFailure": False, "maxRetries": 1}})
    t0 = time.monotonic()
    run = wait_run(api, _run(api, stream_id), deadline_s=120)
    took = time.monotonic() - t0
    assert run["status"] == "FAILED", run
    first, second = steps_of(api, run["id"], attempts="all")
    for attempt in (first, second):
        assert attempt["status"] == "FAILED", attempt
        assert attempt["errorMessage"].startswith("its outputs could not be registered: injected fault"), attempt
    assert took < 25, f"the run took {took:.1f} s: an attempt waited for its heartbeat timeout"
    # nothing of the failed attempts' outputs stays (snapshots are what they read)
    arts = {a["artifactType"] for a in _data(api.get(f"/step-runs/{second['id']}/artifacts"))}
    assert arts <= {"SNAPSHOT_SOURCE", "SNAPSHOT_TARGET"}, arts
