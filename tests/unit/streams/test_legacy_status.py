"""The legacy reconciliation view of a step run (platform §7): the status mapping (RETRY_WAIT reads
IN_PROGRESS, SKIPPED reads CANCELED), the fields of GET /reconciliations/{id}, and the times of a retried step."""
from datetime import datetime, timezone

import pytest

from chalicelib.streams.legacy import status_of, view

T0 = datetime(2026, 2, 21, 6, 0, tzinfo=timezone.utc)
T1 = datetime(2026, 2, 21, 6, 5, tzinfo=timezone.utc)

# GET /reconciliations/{id}, platform §7, in the document's order
DOCUMENTED = ["id", "name", "description", "status", "sourceFileId", "targetFileId", "ruleSetId", "totalSourceRecords",
              "totalTargetRecords", "matchedRecords", "unmatchedSourceRecords", "unmatchedTargetRecords",
              "exceptionCount", "matchRate", "errorMessage", "startedAt", "completedAt", "createdAt"]


def row(**over) -> dict:
    """One row of legacy._SELECT: step 1 of an ordinary stream's run, completed."""
    base = {"reconciliation_id": 12001, "run_id": 9201, "step_order": 1, "step_name": "Orders vs Marketplace",
            "stream_id": 9001, "run_status": "RUNNING", "execution_arn": "arn:x", "run_created_at": T0,
            "run_started_at": T0, "run_completed_at": None, "run_error": None, "kind": "STREAM",
            "stream_name": "E-commerce", "status": "COMPLETED", "progress": 100, "sr_rule_set_id": 55,
            "source_file_id": 1001, "target_file_id": 1002, "source_rows": 4, "target_rows": 5,
            "matched_source_rows": 3, "unmatched_source_rows": 1, "unmatched_target_rows": 2, "exception_count": 3,
            "error_message": None, "started_at": T0, "completed_at": T1, "legacy_name": None,
            "legacy_description": None, "l_source_file_id": None, "l_target_file_id": None, "l_rule_set_id": None,
            "legacy_created_at": None,
            "definition": [{"stepOrder": 1, "sourceInput": {"type": "FILE", "id": 1001},
                            "targetInput": {"type": "FILE", "id": 1002}, "ruleSetId": 55}]}
    base.update(over)
    return base


@pytest.mark.parametrize("step, legacy", [
    ("PENDING", "PENDING"), ("IN_PROGRESS", "IN_PROGRESS"), ("RETRY_WAIT", "IN_PROGRESS"), ("COMPLETED", "COMPLETED"),
    ("FAILED", "FAILED"), ("SKIPPED", "CANCELED"), ("CANCELED", "CANCELED"), (None, "PENDING")])
def test_every_step_run_status_reads_as_one_of_the_five_legacy_ones(step, legacy):
    assert status_of(row(status=step)) == legacy


def test_a_started_legacy_reconciliation_waiting_for_a_worker_is_in_progress():
    legacy = dict(kind="LEGACY", legacy_name="Feb close", status="PENDING")
    assert status_of(row(**legacy, run_status="PENDING", execution_arn=None)) == "PENDING"   # not started
    assert status_of(row(**legacy, run_status="PENDING", execution_arn="arn:x")) == "IN_PROGRESS"
    assert status_of(row(**legacy, run_status="FAILED", execution_arn=None)) == "FAILED"      # could not start
    assert status_of(row(**legacy, run_status="CANCELED", execution_arn=None)) == "CANCELED"


def test_the_view_has_every_documented_field_in_order():
    v = view(row())
    assert [k for k in v if k in DOCUMENTED] == DOCUMENTED
    assert (v["status"], v["matchRate"], v["sourceFileId"], v["ruleSetId"], v["exceptionCount"]) == (
        "COMPLETED", 75.0, 1001, 55, 3)


def test_a_step_waiting_for_its_retry_is_in_progress_and_not_completed():
    """The failed attempt's completion time is not the reconciliation's: it has not ended."""
    v = view(row(status="RETRY_WAIT", completed_at=T1, error_message="attempt 1 failed"))
    assert (v["status"], v["completedAt"]) == ("IN_PROGRESS", None)


def test_a_skipped_step_reads_canceled_with_nothing_counted():
    v = view(row(status="SKIPPED", source_rows=None, target_rows=None, matched_source_rows=None,
                 unmatched_source_rows=None, unmatched_target_rows=None, exception_count=None, started_at=None,
                 progress=0))
    assert (v["status"], v["matchRate"], v["exceptionCount"], v["startedAt"]) == ("CANCELED", None, 0, None)


def test_a_start_that_loses_the_race_to_a_cancel_says_the_reconciliation_was_canceled(monkeypatch):
    # POST /start and POST /cancel at once: start finds the run PENDING, the cancel commits, then the
    # start meets the run's lock on a CANCELED run — the 409 says it was canceled, not "already started"
    from chalicelib.streams import legacy, runs
    from chalicelib.streams.defs_errors import Conflict

    pending = row(kind="LEGACY", run_status="PENDING", execution_arn=None, status="PENDING")
    canceled = dict(pending, run_status="CANCELED", status="SKIPPED")
    loads = iter([pending, canceled])
    monkeypatch.setattr(legacy, "_load", lambda rid: next(loads))
    monkeypatch.setattr(legacy, "_inputs_ready", lambda rid, r: None)
    monkeypatch.setattr(legacy, "_database_now", lambda: None)

    def start_run(run_id, **options):
        raise runs.RunConflict(f"Stream run {run_id} was already started (CANCELED)")

    monkeypatch.setattr(runs, "start_run", start_run)
    with pytest.raises(Conflict) as err:
        legacy.start(12001)
    assert "was canceled before it started" in str(err.value), str(err.value)


@pytest.mark.parametrize("read_back, answered", [("IN_PROGRESS", "IN_PROGRESS"), ("PENDING", "IN_PROGRESS"),
                                                 ("COMPLETED", "IN_PROGRESS"), ("FAILED", "FAILED")])
def test_a_start_answers_in_progress_even_when_the_step_finished_before_it_was_read(monkeypatch, read_back, answered):
    """POST /reconciliations/{id}/start → {id, status: "IN_PROGRESS", startedAt} (platform §7): a tiny step may be
    done by the time the start reads its reconciliation back; only a run that could not start says FAILED."""
    from chalicelib.api import reconciliations as routes

    monkeypatch.setattr(routes.legacy, "start", lambda rid: {"reconciliation_id": rid})
    monkeypatch.setattr(routes.legacy, "view", lambda r: {"status": read_back, "startedAt": T0})
    answer = routes.start_reconciliation(12001).data
    assert answer == {"id": 12001, "status": answered, "started_at": T0}
