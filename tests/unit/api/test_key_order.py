"""Objects stored as jsonb (keys sorted by length) are answered in the contracts' order."""
from __future__ import annotations

from datetime import datetime, timezone

from chalicelib.api.stream_runs import RunOut

NOW = datetime(2026, 2, 21, 6, 20, tzinfo=timezone.utc)


def _run(metadata: dict) -> dict:
    return RunOut.model_validate({
        "id": 9201, "stream_id": 9001, "stream_version": 1, "status": "COMPLETED", "current_step_order": 1,
        "trigger_type": "SCHEDULED", "trigger_metadata": metadata,
        "metrics": {"total_steps": 1, "completed_steps": 1, "failed_steps": 0, "matched_records": 0,
                    "exception_count": 0},
        "created_at": NOW, "updated_at": NOW}).model_dump(mode="json", by_alias=True)


def test_trigger_metadata_reads_requested_by_then_reason_and_a_schedule_occurrence_then_late():
    as_stored = {"reason": "Month-end close run", "requestedBy": "amit@company.com"}   # jsonb's order
    assert list(_run(as_stored)["triggerMetadata"]) == ["requestedBy", "reason"]
    scheduled = _run({"schedule": {"late": False, "occurrence": "2026-02-21T02:30:00Z"}})["triggerMetadata"]
    assert list(scheduled["schedule"]) == ["occurrence", "late"]


def test_artifacts_are_listed_outputs_first_whatever_the_registration_order():
    from chalicelib.api.stream_runs import in_type_order
    registered = [{"id": 9403, "artifactType": "UNMATCHED_TARGET"}, {"id": 9401, "artifactType": "SNAPSHOT_SOURCE"},
                  {"id": 9405, "artifactType": "MATCHED"}, {"id": 9402, "artifactType": "UNMATCHED_SOURCE"},
                  {"id": 9404, "artifactType": "SNAPSHOT_TARGET"}]
    assert [a["artifactType"] for a in in_type_order(registered)] == [
        "MATCHED", "UNMATCHED_SOURCE", "UNMATCHED_TARGET", "SNAPSHOT_SOURCE", "SNAPSHOT_TARGET"]
