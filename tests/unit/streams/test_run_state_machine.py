"""The stream-run state machine as defined in infra/resources.yml, and the worker's pure parts."""
from __future__ import annotations

import unicodedata
from pathlib import Path

from chalicelib.streams import artifacts, events, state_machine


def test_definition_is_a_sequential_map_of_task_token_steps():
    d = state_machine.template_definition({"StreamStepHeartbeatSeconds": "17"})
    steps = d["States"][d["StartAt"]]
    assert steps["Type"] == "Map" and steps["ItemsPath"] == "$.steps" and steps["MaxConcurrency"] == 1
    proc = steps["ItemProcessor"]
    task = proc["States"][proc["StartAt"]]
    assert task["Resource"] == "arn:aws:states:::sqs:sendMessage.waitForTaskToken"
    body = task["Parameters"]["MessageBody"]
    assert body["taskToken.$"] == "$$.Task.Token" and body["retryCount.$"] == "$$.State.RetryCount"
    assert body["runId.$"] == "$.runId" and body["stepOrder.$"] == "$.step.stepOrder"
    assert task["HeartbeatSeconds"] == 17
    # retried: a failed attempt and a heartbeat timeout; anything else goes straight to the Catch
    (retry,) = task["Retry"]
    assert set(retry["ErrorEquals"]) == {state_machine.ATTEMPT_FAILED, "States.Timeout"}
    # room for the largest maxRetries (10) and the attempts that are no failure of the step (lost workers ...)
    from chalicelib.streams import step_worker
    assert retry["BackoffRate"] > 1 and retry["MaxAttempts"] >= 10 + step_worker.MAX_WORKER_LOSSES + 2
    assert state_machine.STEP_FAILED not in retry["ErrorEquals"]
    (catch,) = task["Catch"]
    choice = proc["States"][catch["Next"]]
    assert choice["Type"] == "Choice"
    (rule,) = choice["Choices"]
    assert rule["Variable"] == "$.step.continueOnFailure" and rule["BooleanEquals"] is True
    assert proc["States"][rule["Next"]]["Type"] == "Pass"
    assert proc["States"][choice["Default"]]["Type"] == "Fail"
    # whatever happens, FINISH is sent for the run
    assert steps["Next"] == "Finish" and steps["Catch"][0]["Next"] == "Finish"
    finish = d["States"]["Finish"]
    assert finish["Resource"] == "arn:aws:states:::sqs:sendMessage"
    assert finish["Parameters"]["MessageBody"]["kind"] == "FINISH" and finish.get("End") is True


def test_execution_input_orders_steps_and_keeps_what_the_machine_reads():
    inp = state_machine.execution_input(9201, [
        {"stepOrder": 2, "maxRetries": 3, "continueOnFailure": True, "name": "b"},
        {"stepOrder": 1, "name": "a"}])
    assert inp == {"runId": 9201, "steps": [{"stepOrder": 1, "maxRetries": 0, "continueOnFailure": False},
                                            {"stepOrder": 2, "maxRetries": 3, "continueOnFailure": True}]}
    assert state_machine.execution_name(9201) == "9201"


def test_file_uploaded_trigger_matches_pattern_and_binds_the_input():
    cfg = {"event": "FILE_UPLOADED", "filenamePattern": "bank_*.csv", "bind": {"stepOrder": 1, "input": "TARGET"}}
    assert events._matches(cfg, "FileReady", {"fileId": 5, "filename": "bank_2026.csv"}, 1) == \
        [{"stepOrder": 1, "input": "TARGET", "fileId": 5}]
    assert events._matches(cfg, "FileReady", {"fileId": 5, "filename": "gateway.csv"}, 1) is None
    assert events._matches(cfg, "StreamRunCompleted", {"streamId": 3}, 1) is None
    chain = {"event": "STREAM_RUN_COMPLETED", "streamId": 3}
    assert events._matches(chain, "StreamRunCompleted", {"streamId": 3}, 7) == []
    assert events._matches(chain, "StreamRunCompleted", {"streamId": 4}, 7) is None
    assert events._matches(chain, "StreamRunFailed", {"streamId": 3}, 7) is None


def test_file_uploaded_trigger_matches_a_name_in_either_unicode_form():
    # a pattern typed on most keyboards (composed 'Ü') and a name from macOS (U + combining diaeresis)
    composed, decomposed = (unicodedata.normalize(form, "Überweisung_*.csv") for form in ("NFC", "NFD"))
    assert composed != decomposed
    for pattern, name in ((composed, decomposed), (decomposed, composed)):
        cfg = {"event": "FILE_UPLOADED", "filenamePattern": pattern, "bind": {"stepOrder": 1, "input": "TARGET"}}
        got = events._matches(cfg, "FileReady", {"fileId": 5, "filename": name.replace("*", "2026-02")}, 1)
        assert got == [{"stepOrder": 1, "input": "TARGET", "fileId": 5}]
        assert events._matches(cfg, "FileReady", {"fileId": 5, "filename": "ueberweisung_2026-02.csv"}, 1) is None


def test_exception_rows_read_the_engines_explanation_columns(tmp_path: Path):
    p = tmp_path / "u.csv"
    p.write_text("order_id,amount,_row_key,_reason,_closest_key,_closest_pass,_failed_condition,_detail\n"
                 "ORD-1,10.00,ORD-1,TOLERANCE_EXCEEDED,MP-9,Reference and amount,amount,amount differs by 1.50\n"
                 "ORD-2,5.00,ORD-2,NO_CANDIDATE,,,,\n"
                 "ORD-3,7.00,ORD-3,TOLERANCE_EXCEEDED,,Reference and amount,amount,amount differs by 2\n")
    rows = list(artifacts.exception_rows(p))
    assert rows[0] == (1, "ORD-1", {"order_id": "ORD-1", "amount": "10.00"}, "TOLERANCE_EXCEEDED",
                       {"rowKey": "MP-9", "pass": "Reference and amount", "failedCondition": "amount",
                        "detail": "amount differs by 1.50"})
    assert rows[1] == (2, "ORD-2", {"order_id": "ORD-2", "amount": "5.00"}, "NO_CANDIDATE", None)
    # a closest candidate whose key value is empty is still named, by its pass (it was dropped)
    assert rows[2][4] == {"rowKey": None, "pass": "Reference and amount", "failedCondition": "amount",
                          "detail": "amount differs by 2"}
