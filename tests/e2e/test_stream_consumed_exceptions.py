"""Exceptions are the unmatched rows no later step of the run consumes (platform §5): when the step that
was to take an earlier step's unmatched output does not complete (it fails, with or without
continueOnFailure), those rows were consumed by nothing and are exceptions of the earlier step — in its
exceptionCount, its reconciliation's, the run's metrics and GET /exceptions."""
from __future__ import annotations

import pytest

from tests.e2e.test_stream_runs import (_data, _run, _stream, exceptions_of, setup,  # noqa: F401 (fixture)
                                        steps_of, wait_run)


@pytest.mark.parametrize("continue_on_failure, run_status", [(True, "PARTIAL_FAILED"), (False, "FAILED")])
def test_rows_whose_consumer_failed_are_exceptions_of_their_step(api, setup, continue_on_failure, run_status):
    truth = setup["data"].truth[1]
    stream_id = _stream(api, setup, steps=2, names={2: "Remaining orders vs gateway [fail-always]"},
                        configs={1: {"continueOnFailure": False, "maxRetries": 0},
                                 2: {"continueOnFailure": continue_on_failure, "maxRetries": 0}})
    run_id = _run(api, stream_id)
    run = wait_run(api, run_id)
    assert run["status"] == run_status, run
    first, second = steps_of(api, run_id)
    assert first["status"] == "COMPLETED" and second["status"] == "FAILED", (first, second)
    expected = truth["unmatchedSource"] + truth["unmatchedTarget"]
    assert truth["unmatchedSource"] > 0 and first["unmatchedSourceRows"] == truth["unmatchedSource"]
    assert first["exceptionCount"] == expected, first
    assert run["metrics"]["exceptionCount"] == expected, run["metrics"]
    assert _data(api.get(f"/reconciliations/{first['reconciliationId']}"))["exceptionCount"] == expected
    got = exceptions_of(api, run_id)
    assert sorted(e["side"] for e in got) == sorted(["SOURCE"] * truth["unmatchedSource"]
                                                    + ["TARGET"] * truth["unmatchedTarget"])
    assert {e["stepOrder"] for e in got} == {1}


def test_rows_a_completed_step_consumed_are_not_exceptions_of_the_earlier_step(api, setup):
    truth = setup["data"].truth
    run_id = _run(api, _stream(api, setup, steps=2))
    run = wait_run(api, run_id)
    assert run["status"] == "COMPLETED", run
    first, _ = steps_of(api, run_id)
    assert first["exceptionCount"] == truth[1]["unmatchedTarget"], first
    assert run["metrics"]["exceptionCount"] == (truth[1]["unmatchedTarget"] + truth[2]["unmatchedSource"]
                                                + truth[2]["unmatchedTarget"])


def test_the_consumed_side_is_loaded_by_its_worker_when_the_run_ends_before_its_deferred_load(api, setup, stack):
    # step 1's worker waits before its deferred load; step 2 fails at once, so the run's end marks step 1's
    # consumed side for loading while that load is still to come: the worker loads it from its local output
    from tests.e2e.test_faults_postgres import _stack_dir
    from tests.e2e.test_faults_streams import _log_grew_with

    log = _stack_dir(stack) / "logs" / "runner.log"
    offset = log.stat().st_size
    truth = setup["data"].truth[1]
    stream_id = _stream(api, setup, steps=2,
                        names={1: "Orders vs marketplace [hold-deferred=4]", 2: "Remaining orders vs gateway [fail-always]"},
                        configs={1: {"continueOnFailure": False, "maxRetries": 0},
                                 2: {"continueOnFailure": True, "maxRetries": 0}})
    run_id = _run(api, stream_id)
    run = wait_run(api, run_id)
    assert run["status"] == "PARTIAL_FAILED", run
    assert _log_grew_with(log, offset, "the deferred work waits")
    first = steps_of(api, run_id)[0]
    expected = truth["unmatchedSource"] + truth["unmatchedTarget"]
    assert first["exceptionCount"] == expected and run["metrics"]["exceptionCount"] == expected, (first, run)
    assert len(exceptions_of(api, run_id)) == expected
    # no load from the artifacts was needed: the worker had the output
    assert not _log_grew_with(log, offset, "exceptions loaded from the artifacts")


def _canceled_during_step_two(api, setup, first_name: str, settle_s: float) -> None:
    """Run two steps, cancel while step 2 works, and wait (up to settle_s) for step 1's exceptions to be
    settled after the cancel's answer: step 1 then holds both its sides — the one step 2 was to take
    included — in its count, the exception queue and the run's metrics."""
    import time

    truth = setup["data"].truth[1]
    stream_id = _stream(api, setup, steps=2, names={1: first_name, 2: "Remaining orders vs gateway [hold=30]"},
                        configs={1: {"continueOnFailure": False, "maxRetries": 0},
                                 2: {"continueOnFailure": False, "maxRetries": 0}})
    run_id = _run(api, stream_id)
    wait_run(api, run_id, until=lambda r: any(s["stepOrder"] == 2 and s["status"] == "IN_PROGRESS"
                                              for s in steps_of(api, run_id)))
    assert _data(api.post(f"/stream-runs/{run_id}/cancel"))["status"] == "CANCELED"
    expected = truth["unmatchedSource"] + truth["unmatchedTarget"]
    deadline = time.monotonic() + settle_s
    while True:
        first = steps_of(api, run_id)[0]
        if first["exceptionCount"] == expected or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert first["status"] == "COMPLETED" and first["exceptionCount"] == expected, first
    got = exceptions_of(api, run_id)
    assert sorted(e["side"] for e in got) == sorted(["SOURCE"] * truth["unmatchedSource"]
                                                    + ["TARGET"] * truth["unmatchedTarget"])
    run = _data(api.get(f"/stream-runs/{run_id}"))
    assert run["status"] == "CANCELED" and run["metrics"]["exceptionCount"] == expected, run


def test_a_canceled_runs_completed_step_keeps_the_rows_the_canceled_step_was_to_take(api, setup):
    _canceled_during_step_two(api, setup, "Orders vs marketplace", settle_s=60)


def test_a_canceled_runs_step_whose_worker_died_before_its_load_gets_its_exceptions(api, setup):
    # step 1 answers, then its worker stops before loading the exceptions (as if it died). No FINISH
    # comes for a canceled run: the cancel's SETTLE comes back after the grace period and has both of
    # step 1's sides loaded from its artifacts
    _canceled_during_step_two(api, setup, "Orders vs marketplace [no-exception-load]", settle_s=150)
