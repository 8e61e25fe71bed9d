"""A stream run outlives a PostgreSQL outage: the control plane is killed (SIGKILL) while a step works
(or inside its completion transaction) and started again. The step must end COMPLETED in its first
attempt (no retry configured: a database restart is not the step's failure), with the artifacts of an
undisturbed run of the same inputs, byte for byte (their sha256), and the same exceptions.
"""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.e2e.test_faults_postgres import _stack_dir, kill_postgres, poll_through_outage, restart_postgres
from tests.e2e.test_stream_runs import (FINISHED, _data, _run, _stream, exceptions_of,  # noqa: F401 (fixture)
                                        setup, steps_of)

ARTIFACTS = ("SNAPSHOT_SOURCE", "MATCHED", "UNMATCHED_SOURCE", "UNMATCHED_TARGET")


def _wait_run(api, run_id: int, deadline_s: float = 240) -> dict:
    return poll_through_outage(api, f"/stream-runs/{run_id}", lambda body: body["data"]["status"] in FINISHED,
                               deadline_s, f"run {run_id} finished")["data"]


def _outcome(api, run_id: int) -> dict:
    steps = steps_of(api, run_id, attempts="all")
    assert len(steps) == 1, steps
    step = steps[0]
    arts = {a["artifactType"]: a for a in _data(api.get(f"/step-runs/{step['id']}/artifacts"))}
    assert set(arts) == set(ARTIFACTS), arts
    exceptions = exceptions_of(api, run_id)
    assert exceptions
    return {
        "attempts": [(s["attemptNo"], s["status"]) for s in steps],
        "counts": {k: step[k] for k in ("matchedSourceRows", "matchedTargetRows", "unmatchedSourceRows",
                                        "unmatchedTargetRows")},
        "artifacts": {k: (arts[k]["rowCount"], arts[k]["checksum"]) for k in ARTIFACTS},
        "exceptions": sorted((e["side"], e["rowKey"], e["reason"]) for e in exceptions),
    }


def _log_grew_with(path: Path, offset: int, needle: str) -> bool:
    with open(path, "rb") as f:
        f.seek(offset)
        return needle.encode() in f.read()


CONFIG = {1: {"continueOnFailure": False, "maxRetries": 0}}


def _run_until_logged(api, setup, stack, step_name: str, needle: str) -> tuple[int, Path, int]:
    """Start a run of a one-step stream whose step has this name; return once the runner logged `needle`
    (with the run's id, the log and the log's size before the run)."""
    stream_id = _stream(api, setup, steps=1, names={1: step_name}, configs=CONFIG)
    log = _stack_dir(stack) / "logs" / "runner.log"
    offset = log.stat().st_size
    run_id = _run(api, stream_id)
    deadline = time.monotonic() + 60
    while not _log_grew_with(log, offset, needle):
        assert time.monotonic() < deadline, f"the runner never logged {needle!r}"
        time.sleep(0.1)
    return run_id, log, offset


@pytest.fixture(scope="module")
def undisturbed(api, setup):
    """A run of the same one-step stream that nothing disturbed, and what it produced."""
    run_id = _run(api, _stream(api, setup, steps=1, configs=CONFIG))
    run = _wait_run(api, run_id)
    assert run["status"] == "COMPLETED", run
    expected = _outcome(api, run_id)
    assert expected["attempts"] == [(1, "COMPLETED")]
    assert expected["counts"]["matchedSourceRows"] == setup["data"].truth[1]["matched"]
    return run, expected


def _same_as_undisturbed(api, run_id: int, undisturbed) -> None:
    reference, expected = undisturbed
    run = _wait_run(api, run_id)
    assert run["status"] == "COMPLETED", run
    got = _outcome(api, run_id)
    assert got["attempts"] == [(1, "COMPLETED")], got["attempts"]
    for key in ("counts", "exceptions"):
        assert got[key] == expected[key], key
    # the snapshot and the three outputs are the same bytes
    assert got["artifacts"] == expected["artifacts"]
    assert run["metrics"] == reference["metrics"]
    # nothing registered twice: one file per artifact
    files = api.get("/files", filename=f"stream_{run_id}_step_1_", pageSize=100).json()["data"]
    assert sorted(f["filename"] for f in files["items"]) == sorted(
        f"stream_{run_id}_step_1_{k.lower()}.csv" for k in ARTIFACTS), files


def test_postgres_killed_mid_step_the_run_completes_as_an_undisturbed_one(api, setup, stack, undisturbed):
    # the same step held at work for a few seconds, so that the database dies under it
    stream_id = _stream(api, setup, steps=1, names={1: "Marketplace [hold=4]"}, configs=CONFIG)
    run_id = _run(api, stream_id)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        step = steps_of(api, run_id)[0]
        if step["status"] == "IN_PROGRESS" and step["progress"] > 0:
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"the step never started working: {step}")
    log = _stack_dir(stack) / "logs" / "runner.log"
    offset = log.stat().st_size
    kill_postgres(stack)
    try:
        # the database stays away until the worker, done holding, has needed it and is waiting for it
        deadline = time.monotonic() + 60
        while not _log_grew_with(log, offset, '"policy":"stream-step"'):
            assert time.monotonic() < deadline, "the worker never waited for the database"
            time.sleep(0.2)
    finally:
        restart_postgres(stack)
    _same_as_undisturbed(api, run_id, undisturbed)


def test_postgres_killed_inside_the_completion_transaction_it_is_done_again(api, setup, stack, undisturbed):
    # the last step's completion (exception load, artifacts, COMPLETED) is one transaction; the
    # connection dies under it: the transaction is rolled back and the completion runs again
    run_id, log, offset = _run_until_logged(api, setup, stack, "Marketplace [hold-completion=3]",
                                            "the completion transaction is held open")
    kill_postgres(stack)
    restart_postgres(stack)
    _same_as_undisturbed(api, run_id, undisturbed)
    assert _log_grew_with(log, offset, '"operation":"stream step completion"'), "the completion was not retried"


def test_postgres_killed_inside_a_snapshot_the_inputs_are_prepared_again(api, setup, stack, undisturbed):
    # the step's source is a snapshot of a POSTGRES data source on the same cluster: the database dies
    # while the snapshot's transaction is open, so the input preparation fails and is done again once
    # the database is back (a new snapshot of the same rows: the same bytes)
    run_id, log, offset = _run_until_logged(api, setup, stack, "Marketplace [hold-snapshot=3]",
                                            "the snapshot's transaction is held open")
    kill_postgres(stack)
    try:
        # the database stays away until the preparation has failed (and waits to be done again, or
        # the attempt failed)
        deadline = time.monotonic() + 60
        while not any(_log_grew_with(log, offset, needle)
                      for needle in ('"operation":"stream step inputs"', "step attempt failed")):
            assert time.monotonic() < deadline, "the snapshot never failed"
            time.sleep(0.2)
    finally:
        restart_postgres(stack)
    _same_as_undisturbed(api, run_id, undisturbed)
    assert _log_grew_with(log, offset, '"operation":"stream step inputs"'), "the preparation was not retried"


def test_postgres_killed_inside_an_earlier_steps_deferred_load_it_is_done_again_by_its_worker(api, setup, stack):
    # step 1 answers, then loads its exceptions while step 2 runs; the database dies inside that load's
    # transaction: the worker loads again once the database is back. Before, the load was left to FINISH's
    # minute of grace (the run took 63 s instead of 2), loaded from the artifacts
    stream_id = _stream(api, setup, steps=2, names={1: "Marketplace [hold-deferred-load=3]"},
                        configs={1: CONFIG[1], 2: CONFIG[1]})
    log = _stack_dir(stack) / "logs" / "runner.log"
    offset = log.stat().st_size
    run_id = _run(api, stream_id)
    deadline = time.monotonic() + 60
    while not _log_grew_with(log, offset, "the deferred load's transaction is held open"):
        assert time.monotonic() < deadline, "the deferred load never began"
        time.sleep(0.1)
    kill_postgres(stack)
    restart_postgres(stack)
    run = _wait_run(api, run_id)
    assert run["status"] == "COMPLETED", run
    truth = setup["data"].truth
    expected = truth[1]["unmatchedTarget"] + truth[2]["unmatchedTarget"] + truth[2]["unmatchedSource"]
    assert run["metrics"]["exceptionCount"] == expected == len(exceptions_of(api, run_id))
    # step 1 completed once; step 2, claimed by its worker at that moment too, may have met the outage in its claim's
    # transaction (then its message waits for the heartbeat timeout's next attempt, not counted as a failure)
    every = [(s["stepOrder"], s["attemptNo"], s["status"]) for s in steps_of(api, run_id, attempts="all")]
    assert [a for a in every if a[0] == 1] == [(1, 1, "COMPLETED")], every
    assert [s["status"] for s in steps_of(api, run_id)] == ["COMPLETED", "COMPLETED"], every
    assert _log_grew_with(log, offset, '"operation":"deferred exception load"'), "the load was not retried"
    assert not _log_grew_with(log, offset, "exceptions loaded from the artifacts")
