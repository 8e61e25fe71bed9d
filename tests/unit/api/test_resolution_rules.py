"""The resolution transition table (docs/api.md) and what a repeated resolution does."""
import itertools

import pytest

from chalicelib.cdc.resolution import InvalidStatusTransition, decide, is_legal

STATUSES = ["PENDING", "AUTO_RESOLVED", "MANUAL_RESOLVED", "IGNORED"]
LEGAL = {("PENDING", "MANUAL_RESOLVED"), ("PENDING", "IGNORED"), ("IGNORED", "MANUAL_RESOLVED")}


@pytest.mark.parametrize("current, target", list(itertools.product(STATUSES, STATUSES)))
def test_transition_table(current, target):
    assert is_legal(current, target) == ((current, target) in LEGAL)


@pytest.mark.parametrize("current, target", [p for p in itertools.product(STATUSES, STATUSES) if p[0] != p[1]])
def test_decide_updates_legal_and_refuses_illegal_changes(current, target):
    if (current, target) in LEGAL:
        assert decide(current, None, target, "n") == "update"
    else:
        with pytest.raises(InvalidStatusTransition) as exc:
            decide(current, None, target, "n")
        assert str(exc.value) == f"Cannot change resolution_status from '{current}' to '{target}'"


@pytest.mark.parametrize("status", ["MANUAL_RESOLVED", "IGNORED"])
def test_repeating_a_resolution_is_idempotent(status):
    assert decide(status, "synced", status, "synced") == "unchanged"
    assert decide(status, "synced", status, None) == "unchanged"


@pytest.mark.parametrize("status", ["MANUAL_RESOLVED", "IGNORED"])
def test_repeating_with_other_notes_is_refused(status):
    with pytest.raises(InvalidStatusTransition, match="already"):
        decide(status, "synced", status, "something else")


@pytest.mark.parametrize("status", ["PENDING", "AUTO_RESOLVED"])
def test_system_statuses_cannot_be_set_by_hand_even_when_current(status):
    with pytest.raises(InvalidStatusTransition):
        decide(status, None, status, None)
