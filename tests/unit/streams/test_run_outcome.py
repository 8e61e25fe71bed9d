"""The status a run ends with (`runtime.outcome`, FINISH's) and whether an active run's outcome is already
decided (`runtime.decided_outcome`, which a cancel respects: platform §5 "cancel of a finished run is 409")."""
from __future__ import annotations

import pytest

from chalicelib.streams import runtime


def _definition(*continue_on_failure: bool) -> list[dict]:
    return [{"stepOrder": i + 1, "continueOnFailure": c} for i, c in enumerate(continue_on_failure)]


def _steps(*statuses: str | None) -> dict[int, dict]:
    # None: the step has no attempt yet
    return {i + 1: {"status": s} for i, s in enumerate(statuses) if s is not None}


@pytest.mark.parametrize("statuses, tolerate, expected", [
    (("COMPLETED", "COMPLETED"), (False, False), ("COMPLETED", [])),
    (("COMPLETED", "SKIPPED"), (False, False), ("PARTIAL_FAILED", [])),
    (("FAILED", "SKIPPED"), (True, False), ("PARTIAL_FAILED", [1])),
    (("FAILED", "PENDING"), (False, False), ("FAILED", [1])),
    (("COMPLETED", "IN_PROGRESS"), (False, False), ("FAILED", [2])),      # the run ended without the step's answer
    (("COMPLETED", "RETRY_WAIT"), (False, True), ("PARTIAL_FAILED", [2])),
])
def test_outcome(statuses, tolerate, expected):
    assert runtime.outcome(_steps(*statuses), _definition(*tolerate)) == expected


@pytest.mark.parametrize("statuses, tolerate, expected", [
    (("COMPLETED", "COMPLETED"), (False, False), "COMPLETED"),
    (("COMPLETED", "SKIPPED"), (True, True), "PARTIAL_FAILED"),
    (("FAILED", "PENDING"), (False, False), "FAILED"),                # step 1 stops the run: step 2 never starts
    (("FAILED", None), (False, False), "FAILED"),
    (("SKIPPED", "COMPLETED"), (False, False), "PARTIAL_FAILED"),
    (("PENDING", "PENDING"), (False, False), None),                   # not started
    (("COMPLETED", "PENDING"), (False, False), None),                 # between the steps
    (("COMPLETED", None), (False, False), None),
    (("COMPLETED", "IN_PROGRESS"), (False, False), None),
    (("RETRY_WAIT", "PENDING"), (False, False), None),                # a retry is still to come
    (("COMPLETED", "RETRY_WAIT"), (False, False), None),
    (("FAILED", "PENDING"), (True, False), None),                     # step 2 runs after a failure step 1 tolerates
])
def test_decided_outcome(statuses, tolerate, expected):
    assert runtime.decided_outcome(_steps(*statuses), _definition(*tolerate)) == expected
