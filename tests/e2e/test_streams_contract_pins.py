"""The streams contracts' list parameters, answer keys and run states pinned over HTTP on the running stack:
every parameter of the paginated lists of streams and of a stream's runs at its bounds and just past them,
the exact keys of each object the streams contract prints (§4.1–4.8), the fields of a run at each status,
and the 409s the platform document lists for runs (a run on a non-ACTIVE stream, a second active run, a
cancel of a finished run)."""
from __future__ import annotations

import time
import uuid

import pytest

from tests.e2e.conftest import poll as _poll
from tests.e2e.test_streams_contract_shapes import CSV_SRC, CSV_TGT, RULES, TIMESTAMP, Client, _new_key

OWNER = "e2e-streams-pins@recon.local"
FINISHED = ("COMPLETED", "FAILED", "PARTIAL_FAILED", "CANCELED")
PAGE_KEYS = ["items", "page", "pageSize", "totalItems", "totalPages"]
# streams §4.4–4.8, as printed
CREATED_KEYS = ["runId", "streamId", "status", "currentStepOrder", "startedAt", "createdAt"]
RUN_KEYS = {"id", "streamId", "status", "currentStepOrder", "metrics", "errorMessage", "startedAt", "completedAt",
            "createdAt", "updatedAt"}
METRIC_KEYS = ["totalSteps", "completedSteps", "failedSteps", "matchedRecords", "exceptionCount"]
STEP_RUN_KEYS = {"id", "runId", "stepId", "stepOrder", "status", "attemptNo", "progress", "reconciliationId",
                 "startedAt", "completedAt"}
ARTIFACT_KEYS = ["id", "artifactType", "fileId", "filename", "rowCount", "checksum", "downloadUrl", "createdAt"]
CANCELED_KEYS = ["runId", "status", "completedAt"]
STREAM_KEYS = {"id", "name", "description", "status", "domain", "triggerType", "triggerConfig", "steps", "createdAt",
               "updatedAt"}
STEP_KEYS = ["id", "stepOrder", "name", "sourceInput", "targetInput", "ruleSetId", "config"]


@pytest.fixture(scope="module")
def client(stack):
    return Client(stack["url"], _new_key(stack, OWNER))


@pytest.fixture(scope="module")
def world(client):
    tag = uuid.uuid4().hex[:8]
    src = client.data("POST", "/files", params={"filename": f"pins_src_{tag}.csv"}, data=CSV_SRC.encode(), status=201)
    tgt = client.data("POST", "/files", params={"filename": f"pins_tgt_{tag}.csv"}, data=CSV_TGT.encode(), status=201)
    assert src["status"] == tgt["status"] == "READY"
    rs = client.data("POST", "/rule-sets", RULES, status=201)
    return {"src": src["id"], "tgt": tgt["id"], "rule_set": rs["id"], "tag": tag}


def _step(world, order: int, name: str, *, source=None, continue_on_failure=False, max_retries=0) -> dict:
    return {"stepOrder": order, "name": name, "sourceInput": source or {"type": "FILE", "id": world["src"]},
            "targetInput": {"type": "FILE", "id": world["tgt"]}, "ruleSetId": world["rule_set"],
            "config": {"continueOnFailure": continue_on_failure, "maxRetries": max_retries}}


def _stream(client, world, steps: list[dict], **extra) -> int:
    body = {"name": f"pins {uuid.uuid4().hex[:8]}", "steps": steps, **extra}
    return client.data("POST", "/streams", body, status=201)["id"]


def _finished(client, run_id: int, timeout: float = 180) -> dict:
    return _poll(lambda: (lambda r: r if r["status"] in FINISHED else None)(
        client.data("GET", f"/stream-runs/{run_id}")), timeout, f"run {run_id} to finish")


def _problem(r, status: int = 400) -> tuple[str, str]:
    assert r.status_code == status, r.text
    body = r.json()
    assert (body["success"], body["data"]) == (False, None), body
    assert body["errorCode"] == {400: "VALIDATION_ERROR", 404: "NOT_FOUND", 409: "CONFLICT"}[status], body
    if status != 400:
        assert body["errors"] == [], body
        return "", body["message"]
    assert len(body["errors"]) == 1, body
    return body["errors"][0]["field"], body["errors"][0]["code"]


# ------------------------------------------------------------------------------------------- lists


BAD_PAGES = [({"page": "0"}, "page", "OUT_OF_RANGE"), ({"page": "-1"}, "page", "OUT_OF_RANGE"),
             ({"pageSize": "0"}, "pageSize", "OUT_OF_RANGE"), ({"pageSize": "101"}, "pageSize", "OUT_OF_RANGE"),
             ({"page": "one"}, "page", "INVALID_TYPE"), ({"pageSize": ""}, "pageSize", "INVALID_TYPE"),
             ({"pageSize": "2.0"}, "pageSize", "INVALID_TYPE"), ({"page_size": "5"}, "page_size", "UNKNOWN_FIELD"),
             ({"sort": "createdAt"}, "sort", "UNKNOWN_FIELD")]


def test_the_runs_of_a_stream_page_and_filter_as_platform_section_1_says(client, world):
    stream_id = _stream(client, world, [_step(world, 1, "one [hold=30]")])
    run_ids = []
    for _ in range(3):
        run = client.data("POST", f"/streams/{stream_id}/runs", {}, status=201)
        run_ids.append(run["runId"])
        assert client.data("POST", f"/stream-runs/{run['runId']}/cancel")["status"] == "CANCELED"
    newest_first = sorted(run_ids, reverse=True)

    page = client.data("GET", f"/streams/{stream_id}/runs")
    assert list(page) == PAGE_KEYS, page
    assert (page["page"], page["pageSize"], page["totalItems"], page["totalPages"]) == (1, 20, 3, 1)
    assert [r["id"] for r in page["items"]] == newest_first
    assert page["items"][0] == client.data("GET", f"/stream-runs/{newest_first[0]}")   # the same object as GET
    # pages of two: 2 + 1, then an empty page past the end that still tells the totals
    pages = [client.data("GET", f"/streams/{stream_id}/runs", params={"page": str(n), "pageSize": "2"})
             for n in (1, 2, 3)]
    assert [[r["id"] for r in p["items"]] for p in pages] == [newest_first[:2], newest_first[2:], []]
    assert {(p["pageSize"], p["totalItems"], p["totalPages"]) for p in pages} == {(2, 3, 2)}
    assert [p["page"] for p in pages] == [1, 2, 3]
    # the bounds themselves are accepted
    assert client.data("GET", f"/streams/{stream_id}/runs", params={"pageSize": "100"})["pageSize"] == 100
    # page has no bound of its own (§1 bounds pageSize): any page past the last is empty, up to the largest
    # offset a query can take (a bigint: 100 items a page)
    for far in ("1000001", str((2**63 - 1) // 100)):
        got = client.data("GET", f"/streams/{stream_id}/runs", params={"page": far, "pageSize": "100"})
        assert (got["items"], got["page"], got["totalItems"], got["totalPages"]) == ([], int(far), 3, 1), got
    r = client.call("GET", f"/streams/{stream_id}/runs", params={"page": str((2**63 - 1) // 100 + 1)})
    assert _problem(r) == ("page", "OUT_OF_RANGE"), r.text
    assert client.data("GET", f"/streams/{stream_id}/runs", params={"pageSize": "1"})["totalPages"] == 3
    # the status filter: every RunStatus is a valid value, only that status comes back
    for status in ("PENDING", "RUNNING", "PARTIAL_FAILED", "FAILED", "COMPLETED", "CANCELED"):
        got = client.data("GET", f"/streams/{stream_id}/runs", params={"status": status})
        want = newest_first if status == "CANCELED" else []
        assert [r["id"] for r in got["items"]] == want and got["totalItems"] == len(want), (status, got)
        assert got["totalPages"] == (1 if want else 0)
    for params, field, code in BAD_PAGES + [({"status": "CANCELLED"}, "status", "INVALID_VALUE"),
                                            ({"status": "canceled"}, "status", "INVALID_VALUE"),
                                            ({"status": ""}, "status", "INVALID_VALUE"),
                                            ({"domain": "X"}, "domain", "UNKNOWN_FIELD")]:
        r = client.call("GET", f"/streams/{stream_id}/runs", params=params)
        assert _problem(r) == (field, code), (params, r.text)
    r = client.call("GET", "/streams/987654321/runs")
    assert _problem(r, 404)[1] == "Stream 987654321 not found"


def test_streams_page_and_filter_by_status_and_domain(client, world):
    domain = f"PINS_{world['tag'].upper()}"
    ids = [_stream(client, world, [_step(world, 1, "one")], domain=domain) for _ in range(3)]
    client.data("POST", f"/streams/{ids[0]}/pause")
    client.data("DELETE", f"/streams/{ids[1]}")
    every = client.data("GET", "/streams", params={"domain": domain})
    assert list(every) == PAGE_KEYS
    assert [s["id"] for s in every["items"]] == ids[::-1] and every["totalItems"] == 3   # newest first, archived too
    for status, want in (("ACTIVE", [ids[2]]), ("PAUSED", [ids[0]]), ("ARCHIVED", [ids[1]])):
        got = client.data("GET", "/streams", params={"domain": domain, "status": status})
        assert [s["id"] for s in got["items"]] == want and got["items"][0]["status"] == status, (status, got)
    # domains match exactly
    assert client.data("GET", "/streams", params={"domain": domain.lower()})["totalItems"] == 0
    second = client.data("GET", "/streams", params={"domain": domain, "pageSize": "2", "page": "2"})
    assert [s["id"] for s in second["items"]] == [ids[0]] and (second["totalItems"], second["totalPages"]) == (3, 2)
    for params, field, code in BAD_PAGES + [({"status": "DELETED"}, "status", "INVALID_VALUE"),
                                            ({"status": "active"}, "status", "INVALID_VALUE"),
                                            ({"domain": ""}, "domain", "TOO_SHORT")]:
        r = client.call("GET", "/streams", params=params)
        assert _problem(r) == (field, code), (params, r.text)


def test_the_step_runs_of_a_run_are_not_paginated_and_take_only_attempts(client, world):
    stream_id = _stream(client, world, [_step(world, 1, "one")])
    run_id = client.data("POST", f"/streams/{stream_id}/runs", status=201)["runId"]
    for params, field, code in (({"page": "1"}, "page", "UNKNOWN_FIELD"), ({"attempts": "ALL"}, "attempts", "INVALID_VALUE"),
                                ({"attempts": ""}, "attempts", "INVALID_VALUE")):
        assert _problem(client.call("GET", f"/stream-runs/{run_id}/steps", params=params)) == (field, code), params
    latest = client.data("GET", f"/stream-runs/{run_id}/steps", params={"attempts": "latest"})
    assert isinstance(latest, list) and [s["stepOrder"] for s in latest] == [1]
    _finished(client, run_id)
    step = client.data("GET", f"/stream-runs/{run_id}/steps")[0]
    assert _problem(client.call("GET", f"/step-runs/{step['id']}/artifacts", params={"page": "1"})) == (
        "page", "UNKNOWN_FIELD")


# ------------------------------------------------------------------------------------------ shapes


def test_each_object_carries_the_keys_the_contract_prints(client, world):
    stream_id = _stream(client, world, [
        _step(world, 1, "Orders vs Marketplace", max_retries=1),
        _step(world, 2, "Remaining", source={"type": "STEP_OUTPUT_UNMATCHED_SOURCE", "id": 1}, continue_on_failure=True)])
    stream = client.data("GET", f"/streams/{stream_id}")
    assert STREAM_KEYS <= set(stream), STREAM_KEYS - set(stream)
    for step in stream["steps"]:
        assert list(step) == STEP_KEYS, step
        assert list(step["sourceInput"]) == list(step["targetInput"]) == ["type", "id"]
        assert list(step["config"]) == ["continueOnFailure", "maxRetries"]
    assert [s["config"] for s in stream["steps"]] == [{"continueOnFailure": False, "maxRetries": 1},
                                                       {"continueOnFailure": True, "maxRetries": 0}]
    validated = client.data("POST", f"/streams/{stream_id}/validate")
    assert list(validated) == ["valid", "errors", "warnings"] and validated["valid"] is True

    created = client.data("POST", f"/streams/{stream_id}/runs", {
        "triggerType": "MANUAL", "triggerMetadata": {"requestedBy": "amit@company.com", "reason": "Month-end close run"}},
        status=201)
    assert list(created) == CREATED_KEYS, created
    assert (created["streamId"], created["status"], created["currentStepOrder"], created["startedAt"]) == (
        stream_id, "PENDING", 0, None)
    assert TIMESTAMP.match(created["createdAt"])
    run = _finished(client, created["runId"])
    assert run["status"] == "COMPLETED", run
    assert RUN_KEYS <= set(run), RUN_KEYS - set(run)
    assert list(run["metrics"]) == METRIC_KEYS
    assert all(type(v) is int for v in run["metrics"].values()), run["metrics"]
    assert run["triggerMetadata"] == {"requestedBy": "amit@company.com", "reason": "Month-end close run"}
    steps = client.data("GET", f"/stream-runs/{run['id']}/steps")
    assert [s["stepId"] for s in steps] == [s["id"] for s in stream["steps"]]
    for s in steps:
        assert STEP_RUN_KEYS <= set(s), STEP_RUN_KEYS - set(s)
        assert (s["runId"], s["status"], s["attemptNo"], s["progress"]) == (run["id"], "COMPLETED", 1, 100)
        artifacts = client.data("GET", f"/step-runs/{s['id']}/artifacts")
        assert {a["artifactType"] for a in artifacts} == {"MATCHED", "UNMATCHED_SOURCE", "UNMATCHED_TARGET"}
        for a in artifacts:
            assert list(a) == ARTIFACT_KEYS, a
            assert a["downloadUrl"] == f"/api/v1/files/{a['fileId']}/download"
            assert a["filename"] == f"stream_{run['id']}_step_{s['stepOrder']}_{a['artifactType'].lower()}.csv"
            assert a["checksum"].startswith("sha256:") and type(a["rowCount"]) is int
    r = client.call("POST", f"/stream-runs/{run['id']}/cancel")
    assert _problem(r, 409)[1] == f"Stream run {run['id']} is already COMPLETED"


# ------------------------------------------------------------------------------------------- runs


def test_a_run_reads_as_its_status_says_while_it_works_and_when_canceled(client, world):
    """RUNNING: started, not completed, the working step's order, nothing counted yet; CANCELED: the cancel's
    answer is the run's end, the working step CANCELED at that instant, the pending one SKIPPED and never
    started; a finished run takes no cancel and the stream takes a new run."""
    stream_id = _stream(client, world, [_step(world, 1, "one [hold=30]"), _step(world, 2, "two")])
    run_id = client.data("POST", f"/streams/{stream_id}/runs", status=201)["runId"]

    def working():
        steps = client.data("GET", f"/stream-runs/{run_id}/steps")
        return steps if steps[0]["status"] == "IN_PROGRESS" and steps[0]["progress"] > 0 else None
    steps = _poll(working, 60, "step 1 to work")
    run = client.data("GET", f"/stream-runs/{run_id}")
    assert (run["status"], run["currentStepOrder"], run["completedAt"], run["errorMessage"]) == ("RUNNING", 1, None, None)
    assert TIMESTAMP.match(run["startedAt"]) and run["startedAt"] >= run["createdAt"]
    assert run["metrics"] == {"totalSteps": 2, "completedSteps": 0, "failedSteps": 0, "matchedRecords": 0,
                              "exceptionCount": 0}
    assert steps[0]["startedAt"] and steps[0]["completedAt"] is None and 0 < steps[0]["progress"] < 100
    assert (steps[1]["status"], steps[1]["startedAt"], steps[1]["completedAt"]) == ("PENDING", None, None)
    r = client.call("POST", f"/streams/{stream_id}/runs", {})
    assert _problem(r, 409)[1] == f"Stream {stream_id} already has a run in progress (run {run_id}, RUNNING)"

    canceled = client.data("POST", f"/stream-runs/{run_id}/cancel")
    assert list(canceled) == CANCELED_KEYS and (canceled["runId"], canceled["status"]) == (run_id, "CANCELED")
    run = client.data("GET", f"/stream-runs/{run_id}")
    assert (run["status"], run["completedAt"], run["errorMessage"]) == ("CANCELED", canceled["completedAt"], None)
    assert run["metrics"]["completedSteps"] == run["metrics"]["failedSteps"] == 0
    first, second = client.data("GET", f"/stream-runs/{run_id}/steps")
    assert (first["status"], first["completedAt"]) == ("CANCELED", canceled["completedAt"]), first
    assert (second["status"], second["startedAt"], second["attemptNo"]) == ("SKIPPED", None, 1), second
    assert client.data("GET", f"/streams/{stream_id}/runs", params={"status": "CANCELED"})["totalItems"] == 1
    r = client.call("POST", f"/stream-runs/{run_id}/cancel")
    assert _problem(r, 409)[1] == f"Stream run {run_id} is already CANCELED"
    # the canceled step stays canceled: its worker stops and answers nothing that changes it
    deadline = time.monotonic() + 4
    while time.monotonic() < deadline:
        assert [s["status"] for s in client.data("GET", f"/stream-runs/{run_id}/steps", params={"attempts": "all"})] == [
            "CANCELED", "SKIPPED"]
        time.sleep(0.5)
    again = client.data("POST", f"/streams/{stream_id}/runs", status=201)
    assert client.data("POST", f"/stream-runs/{again['runId']}/cancel")["status"] == "CANCELED"


def test_only_an_active_stream_runs(client, world):
    stream_id = _stream(client, world, [_step(world, 1, "one")])
    client.data("POST", f"/streams/{stream_id}/pause")
    r = client.call("POST", f"/streams/{stream_id}/runs", {"triggerType": "MANUAL"})
    assert _problem(r, 409)[1] == f"Stream {stream_id} is PAUSED: only an ACTIVE stream can run"
    client.data("DELETE", f"/streams/{stream_id}")
    r = client.call("POST", f"/streams/{stream_id}/runs", {"triggerType": "MANUAL"})
    assert _problem(r, 409)[1] == f"Stream {stream_id} is ARCHIVED: only an ACTIVE stream can run"
    assert client.data("GET", f"/streams/{stream_id}/runs")["totalItems"] == 0
    for action in ("pause", "resume"):
        r = client.call("POST", f"/streams/{stream_id}/{action}")
        assert _problem(r, 409)[1].startswith(f"Stream {stream_id} is ARCHIVED"), r.text
    # archiving again is no error, and the stream stays readable
    assert client.data("DELETE", f"/streams/{stream_id}")["status"] == "ARCHIVED"
    assert client.data("GET", f"/streams/{stream_id}")["status"] == "ARCHIVED"


def test_a_run_started_through_the_api_is_manual(client, world):
    """streams §4.4 sends `"triggerType": "MANUAL"`; SCHEDULED and EVENT runs are started by the schedule and the
    event trigger themselves (platform §6), so a request naming them is refused, not recorded as what it is not."""
    stream_id = _stream(client, world, [_step(world, 1, "one")], triggerType="SCHEDULED",
                        triggerConfig={"cron": "0 30 2 * * *", "timezone": "UTC"})
    for value in ("SCHEDULED", "EVENT", "manual", None, 1):
        r = client.call("POST", f"/streams/{stream_id}/runs", {"triggerType": value})
        assert _problem(r) == ("triggerType", "INVALID_VALUE"), (value, r.text)
    assert client.data("GET", f"/streams/{stream_id}/runs")["totalItems"] == 0
    created = client.data("POST", f"/streams/{stream_id}/runs", {"triggerType": "MANUAL"}, status=201)
    run = client.data("GET", f"/stream-runs/{created['runId']}")
    assert run["triggerType"] == "MANUAL" and run["triggerMetadata"] == {"requestedBy": OWNER}, run
    client.call("POST", f"/stream-runs/{created['runId']}/cancel")


def _runner_logged(log, offset: int, message: str, run_id: int) -> bool:
    import re

    with open(log, "rb") as f:
        f.seek(offset)
        text = f.read().decode("utf-8", "replace")
    return any(message in line and re.search(rf'"run_id": ?{run_id}\b', line) for line in text.splitlines())


@pytest.mark.parametrize("steps", [1, 2], ids=["last step", "earlier step"])
def test_a_step_canceled_as_its_engine_ends_keeps_no_outputs(stack, client, world, steps):
    """Platform §5: MATCHED / UNMATCHED_* are the artifacts of a *completed* step run. A cancel that lands after
    the engine ended, while the worker uploads and registers the outputs, leaves a CANCELED step run: it lists
    no outputs, and the files registered for them are gone."""
    from tests.e2e.test_faults_postgres import _stack_dir

    first = _step(world, 1, "one [hold-outputs=3]")
    chain = [first, _step(world, 2, "two", source={"type": "STEP_OUTPUT_UNMATCHED_SOURCE", "id": 1})][:steps]
    stream_id = _stream(client, world, chain)
    log = _stack_dir(stack) / "logs" / "runner.log"
    offset = log.stat().st_size
    run_id = client.data("POST", f"/streams/{stream_id}/runs", status=201)["runId"]
    _poll(lambda: _runner_logged(log, offset, "fault hook: the outputs wait", run_id), 60, "the engine to end")
    assert client.data("POST", f"/stream-runs/{run_id}/cancel")["status"] == "CANCELED"
    _poll(lambda: _runner_logged(log, offset, "attempt no longer in progress at completion", run_id), 60,
          "the worker to meet the cancel")
    step = client.data("GET", f"/stream-runs/{run_id}/steps")[0]
    assert step["status"] == "CANCELED", step
    artifacts = f"/step-runs/{step['id']}/artifacts"
    named = {"origin": "ARTIFACT", "filename": f"stream_{run_id}_"}   # the run's outputs, by filename prefix

    def outputs_gone():
        return not client.data("GET", artifacts) and client.data("GET", "/files", params=named)["totalItems"] == 0
    deadline = time.monotonic() + 20
    while not outputs_gone():
        assert time.monotonic() < deadline, (client.data("GET", artifacts), client.data("GET", "/files", params=named))
        time.sleep(0.5)
    run = client.data("GET", f"/stream-runs/{run_id}")
    assert run["status"] == "CANCELED" and run["metrics"]["completedSteps"] == 0, run


def test_the_outputs_of_a_completed_step_run_are_never_discarded(stack, client, world, monkeypatch):
    """The removal of an unfinished attempt's outputs leaves a COMPLETED step run alone (a completion done again
    after its answer failed meets a COMPLETED attempt and must keep what it registered)."""
    from types import SimpleNamespace

    for k in ("DATABASE_URL", "AWS_ENDPOINT_URL", "AWS_REGION", "ARTIFACTS_BUCKET"):
        monkeypatch.setenv(k, stack["env"][k])
    from chalicelib import aws
    from chalicelib.config import reset_settings
    from chalicelib.db.pool import close_pool
    from chalicelib.streams import step_worker

    reset_settings(), close_pool(), aws.reset_clients()
    stream_id = _stream(client, world, [_step(world, 1, "one")])
    run = _finished(client, client.data("POST", f"/streams/{stream_id}/runs", status=201)["runId"])
    assert run["status"] == "COMPLETED", run
    step = client.data("GET", f"/stream-runs/{run['id']}/steps")[0]
    before = client.data("GET", f"/step-runs/{step['id']}/artifacts")
    assert len(before) == 3
    step_worker._discard_outputs(SimpleNamespace(step_run_id=step["id"], run_id=run["id"], step_order=1))
    assert client.data("GET", f"/step-runs/{step['id']}/artifacts") == before
    for a in before:
        assert client.call("GET", a["downloadUrl"].removeprefix("/api/v1")).status_code == 200
