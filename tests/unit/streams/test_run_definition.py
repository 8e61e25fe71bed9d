"""What a run keeps of its stream's definition, and inputs bound by an EVENT trigger."""
from __future__ import annotations

from chalicelib.streams import runs, step_worker


def _version():
    return {"version": 3, "steps": [
        {"step_id": 9102, "step_order": 2, "name": "b", "source_type": "STEP_OUTPUT_UNMATCHED_SOURCE", "source_id": 1,
         "target_type": "FILE", "target_id": 1003, "rule_set_id": 56, "max_retries": 2, "continue_on_failure": True},
        {"step_id": 9101, "step_order": 1, "name": "a", "source_type": "DATA_SOURCE_SNAPSHOT", "source_id": 300,
         "target_type": "FILE", "target_id": 1002, "rule_set_id": 55, "max_retries": 0, "continue_on_failure": False},
    ]}


def test_definition_keeps_inputs_rules_and_retry_settings():
    steps = {s["stepOrder"]: s for s in runs._definition(_version(), [])}
    assert steps[2] == {"stepOrder": 2, "stepId": 9102, "name": "b",
                        "sourceInput": {"type": "STEP_OUTPUT_UNMATCHED_SOURCE", "id": 1},
                        "targetInput": {"type": "FILE", "id": 1003}, "ruleSetId": 56, "maxRetries": 2,
                        "continueOnFailure": True}
    assert steps[1]["sourceInput"] == {"type": "DATA_SOURCE_SNAPSHOT", "id": 300}


def test_bound_inputs_replace_the_named_side_with_the_file():
    steps = {s["stepOrder"]: s for s in runs._definition(
        _version(), [{"stepOrder": 1, "input": "TARGET", "fileId": 4242}, {"stepOrder": 2, "input": "source",
                                                                             "fileId": 77}])}
    assert steps[1]["targetInput"] == {"type": "FILE", "id": 4242}
    assert steps[1]["sourceInput"] == {"type": "DATA_SOURCE_SNAPSHOT", "id": 300}
    assert steps[2]["sourceInput"] == {"type": "FILE", "id": 77}


def test_sides_consumed_by_later_steps_are_not_exceptions():
    definition = runs._definition(_version(), [])
    run = {"definition": definition}
    first = step_worker.Attempt(1, 1, 1, "t", definition[1], run)
    second = step_worker.Attempt(1, 2, 1, "t", definition[0], run)
    assert step_worker._consumed_sides(first) == {"SOURCE"}      # step 2 reads step 1's unmatched source
    assert step_worker._consumed_sides(second) == set()            # the last step: both sides are exceptions
