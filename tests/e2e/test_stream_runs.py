"""Stream runs end to end over HTTP against the running stack: API → PostgreSQL → Step Functions
(LocalStack) → SQS → the local Lambda runner → the matching engine → S3 → API.

Faults are caused, not mocked: the step worker's test-only hooks (chalicelib/streams/step_worker.py,
active against a local endpoint) fail a step whose name carries `[fail-once]` / `[fail-always]` and
keep one with `[hold=N]` working for N seconds.
"""
from __future__ import annotations

import csv
import io
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest

from chalicelib.demo import streams_demo

FINISHED = ("COMPLETED", "FAILED", "PARTIAL_FAILED", "CANCELED")


def _data(resp, status=200):
    assert resp.status_code == status, resp.text[:1000]
    body = resp.json()
    assert body["success"] is True
    return body["data"]


def _upload(api, path: Path) -> int:
    f = _data(api.s.post(api.url + "/files", params={"filename": path.name}, data=path.read_bytes(), timeout=60), 201)
    deadline = time.monotonic() + 60
    while f["status"] == "PROCESSING" and time.monotonic() < deadline:
        time.sleep(0.3)
        f = _data(api.get(f"/files/{f['id']}"))
    assert f["status"] == "READY", f
    return f["id"]


def wait_run(api, run_id: int, until=lambda r: r["status"] in FINISHED, deadline_s: float = 120) -> dict:
    deadline = time.monotonic() + deadline_s
    run = None
    while time.monotonic() < deadline:
        run = _data(api.get(f"/stream-runs/{run_id}"))
        if until(run):
            return run
        time.sleep(0.3)
    raise AssertionError(f"run {run_id} did not reach the expected state in {deadline_s} s: {run}")


def steps_of(api, run_id: int, **params) -> list[dict]:
    return _data(api.get(f"/stream-runs/{run_id}/steps", **params))


def exceptions_of(api, run_id: int) -> list[dict]:
    """Every exception of a run, page after page."""
    out, page = [], 1
    while True:
        body = api.get("/exceptions", runId=run_id, pageSize=100, page=page).json()
        assert body["success"] is True, body
        out += body["data"]["items"]
        if page >= body["data"]["totalPages"]:
            return out
        page += 1


@pytest.fixture(scope="module")
def setup(api, stack, tmp_path_factory):
    """Demo data (600 orders), its truth, files, rule sets and an orders data source on a private table."""
    work = tmp_path_factory.mktemp("streams")
    data = streams_demo.generate(600, 11, work)
    table = f"oms_orders_{uuid.uuid4().hex[:8]}"
    streams_demo.load_orders(stack["env"]["DATABASE_URL"], data.orders, table=table)
    file_ids = {name: _upload(api, path) for name, path in data.files.items()}
    orders_file = _upload(api, streams_demo.orders_csv(data.orders, work / "orders.csv"))
    rs = {name: _data(api.post("/rule-sets", body), 201)["id"] for name, body in streams_demo.rule_sets().items()}
    ds = _data(api.post("/data-sources", {"name": f"OMS {table}", "type": "POSTGRES",
                                          "config": {"schema": streams_demo.SCHEMA, "table": table}}), 201)
    return {"data": data, "files": file_ids, "orders_file": orders_file, "rule_sets": rs, "data_source": ds["id"],
            "work": work}


def _stream(api, setup, *, source=None, names=None, configs=None, steps=None, **extra) -> int:
    body = streams_demo.stream_body(f"test {uuid.uuid4().hex[:8]}",
                                    source or {"type": "DATA_SOURCE_SNAPSHOT", "id": setup["data_source"]},
                                    setup["files"], setup["rule_sets"], step_names=names, configs=configs)
    if steps is not None:
        body["steps"] = body["steps"][:steps]
    body.update(extra)
    return _data(api.post("/streams", body), 201)["id"]


def _run(api, stream_id: int, **metadata) -> int:
    created = _data(api.post(f"/streams/{stream_id}/runs", {"triggerMetadata": metadata or {"reason": "test"}}), 201)
    assert created["status"] in ("PENDING", "RUNNING") and created["streamId"] == stream_id
    return created["runId"]


def test_three_step_chained_run_counts_equal_the_generators_truth(api, setup, tmp_path):
    stream_id = _stream(api, setup)
    run_id = _run(api, stream_id, requestedBy="ops@example.com")
    run = wait_run(api, run_id)
    assert run["status"] == "COMPLETED", run
    truth = setup["data"].truth
    steps = steps_of(api, run_id)
    assert [s["stepOrder"] for s in steps] == [1, 2, 3]
    for s in steps:
        t = truth[s["stepOrder"]]
        assert s["status"] == "COMPLETED" and s["progress"] == 100 and s["attemptNo"] == 1
        assert (s["matchedSourceRows"], s["unmatchedSourceRows"], s["unmatchedTargetRows"]) == \
            (t["matched"], t["unmatchedSource"], t["unmatchedTarget"]), (s, t)
    # exceptions: the unmatched rows no later step consumes (every target side, the last step's source)
    expected_exceptions = sum(truth[o]["unmatchedTarget"] for o in (1, 2, 3)) + truth[3]["unmatchedSource"]
    assert run["metrics"] == {"totalSteps": 3, "completedSteps": 3, "failedSteps": 0,
                              "matchedRecords": sum(truth[o]["matched"] for o in (1, 2, 3)),
                              "exceptionCount": expected_exceptions}
    assert run["triggerType"] == "MANUAL" and run["triggerMetadata"]["requestedBy"] == "ops@example.com"
    # artifacts: snapshot of the orders at step 1, three outputs per step, downloadable, counted
    first = {a["artifactType"]: a for a in _data(api.get(f"/step-runs/{steps[0]['id']}/artifacts"))}
    assert set(first) == {"SNAPSHOT_SOURCE", "MATCHED", "UNMATCHED_SOURCE", "UNMATCHED_TARGET"}
    assert first["SNAPSHOT_SOURCE"]["rowCount"] == len(setup["data"].orders)
    # a snapshot is an input like an uploaded file: its columns carry the types read from its bytes
    snap = first["SNAPSHOT_SOURCE"]
    meta = _data(api.get(f"/files/{snap['fileId']}"))
    body = api.s.get(api.url.removesuffix("/api/v1") + snap["downloadUrl"], allow_redirects=True, timeout=30).content
    local = tmp_path / "snapshot.csv"
    local.write_bytes(body)
    from chalicelib.matching import inspect_file
    assert meta["columns"] == [{"name": c.name, "type": c.type} for c in inspect_file(str(local)).columns]
    assert {c["type"] for c in meta["columns"]} != {"VARCHAR"}, meta["columns"]
    assert first["UNMATCHED_SOURCE"]["rowCount"] == truth[1]["unmatchedSource"]
    for a in first.values():
        assert a["checksum"].startswith("sha256:") and a["downloadUrl"] == f"/api/v1/files/{a['fileId']}/download"
    lines = api.s.get(api.url.removesuffix("/api/v1") + first["UNMATCHED_TARGET"]["downloadUrl"],
                      allow_redirects=True, timeout=30).text.strip().splitlines()
    assert len(lines) == 1 + truth[1]["unmatchedTarget"]
    matched = api.s.get(api.url.removesuffix("/api/v1") + first["MATCHED"]["downloadUrl"],
                        allow_redirects=True, timeout=30).text
    assert first["MATCHED"]["rowCount"] == len(list(csv.reader(io.StringIO(matched)))) - 1 == truth[1]["matched"]
    # the second step read the first step's unmatched source output of this run
    assert steps[1]["sourceRows"] == truth[1]["unmatchedSource"]
    listed = _data(api.get(f"/streams/{stream_id}/runs"))
    assert listed["totalItems"] == 1 and listed["items"][0]["id"] == run_id
    assert len({s["reconciliationId"] for s in steps}) == 3
    # Prometheus: runs by stream and status, matched records, open exceptions, step durations
    text = api.s.get(api.url.removesuffix("/api/v1") + "/metrics", timeout=30).text
    sid = f'stream_id="{stream_id}"'
    assert f'recon_stream_runs_total{{status="COMPLETED",{sid}}} 1.0' in text
    assert f"recon_stream_matched_records_total{{{sid}}} {float(run['metrics']['matchedRecords'])}" in text
    assert f"recon_stream_open_exceptions{{{sid}}} {float(expected_exceptions)}" in text
    assert f'recon_stream_step_duration_seconds_count{{step_order="3",{sid}}} 1.0' in text


def test_two_runs_on_the_same_inputs_give_identical_artifacts(api, setup):
    stream_id = _stream(api, setup, steps=2)
    sums = []
    for _ in range(2):
        run_id = _run(api, stream_id)
        assert wait_run(api, run_id)["status"] == "COMPLETED"
        per_run = {}
        for s in steps_of(api, run_id):
            for a in _data(api.get(f"/step-runs/{s['id']}/artifacts")):
                per_run[(s["stepOrder"], a["artifactType"])] = (a["checksum"], a["rowCount"], a["fileId"])
        sums.append(per_run)
    assert set(sums[0]) == set(sums[1]) and len(sums[0]) == 7
    for key in sums[0]:
        assert sums[0][key][:2] == sums[1][key][:2], key
        assert sums[0][key][2] != sums[1][key][2]   # new files, same bytes


def test_a_step_made_to_fail_once_succeeds_on_attempt_two(api, setup):
    stream_id = _stream(api, setup, steps=2, names={2: "Gateway [fail-once]"},
                        configs={2: {"continueOnFailure": False, "maxRetries": 1}})
    run_id = _run(api, stream_id)
    run = wait_run(api, run_id)
    assert run["status"] == "COMPLETED", run
    latest = steps_of(api, run_id)
    assert latest[1]["attemptNo"] == 2 and latest[1]["status"] == "COMPLETED"
    assert latest[1]["matchedSourceRows"] == setup["data"].truth[2]["matched"]
    every = steps_of(api, run_id, attempts="all")
    assert [(s["stepOrder"], s["attemptNo"], s["status"]) for s in every] == \
        [(1, 1, "COMPLETED"), (2, 1, "FAILED"), (2, 2, "COMPLETED")]
    assert "injected fault" in every[1]["errorMessage"]
    assert every[1]["reconciliationId"] == every[2]["reconciliationId"]   # one reconciliation per (run, step)


def test_a_failing_step_without_retries_left_fails_the_run_and_skips_the_rest(api, setup):
    stream_id = _stream(api, setup, names={1: "Marketplace [fail-always]"},
                        configs={1: {"continueOnFailure": False, "maxRetries": 1}})
    run_id = _run(api, stream_id)
    run = wait_run(api, run_id)
    assert run["status"] == "FAILED" and "Step 1" in run["errorMessage"], run
    assert [(s["status"], s["attemptNo"]) for s in steps_of(api, run_id)] == \
        [("FAILED", 2), ("SKIPPED", 1), ("SKIPPED", 1)]
    assert run["metrics"]["failedSteps"] == 1 and run["metrics"]["completedSteps"] == 0


def test_continue_on_failure_gives_partial_failed_with_skipped_dependants(api, setup):
    # step 2 fails for good but lets the run go on; step 3 needs step 2's output (SKIPPED).
    stream_id = _stream(api, setup, names={2: "Gateway [fail-always]"},
                        configs={2: {"continueOnFailure": True, "maxRetries": 0}})
    run_id = _run(api, stream_id)
    run = wait_run(api, run_id)
    assert run["status"] == "PARTIAL_FAILED", run
    steps = steps_of(api, run_id)
    assert [s["status"] for s in steps] == ["COMPLETED", "FAILED", "SKIPPED"]
    assert steps[2]["startedAt"] is None and steps[2]["completedAt"] is not None   # it never ran
    assert run["metrics"]["completedSteps"] == 1 and run["metrics"]["failedSteps"] == 1


def test_cancel_mid_step_stops_the_worker_and_skips_pending_steps(api, setup):
    stream_id = _stream(api, setup, names={1: "Marketplace [hold=60]"})
    run_id = _run(api, stream_id)
    wait_run(api, run_id, until=lambda r: r["status"] == "RUNNING", deadline_s=30)
    deadline = time.monotonic() + 30
    while steps_of(api, run_id)[0]["progress"] == 0 and time.monotonic() < deadline:
        time.sleep(0.3)
    # one run at a time per stream
    second = api.post(f"/streams/{stream_id}/runs", {})
    assert second.status_code == 409 and second.json()["errorCode"] == "CONFLICT"
    t0 = time.monotonic()
    canceled = _data(api.post(f"/stream-runs/{run_id}/cancel"))
    assert canceled["status"] == "CANCELED" and canceled["runId"] == run_id and canceled["completedAt"]
    assert [s["status"] for s in steps_of(api, run_id)] == ["CANCELED", "SKIPPED", "SKIPPED"]
    # the worker notices within seconds: it frees its slot and the step's progress stops moving
    frozen = steps_of(api, run_id)[0]["progress"]
    time.sleep(3)
    assert steps_of(api, run_id)[0]["progress"] == frozen
    assert time.monotonic() - t0 < 10
    again = api.post(f"/stream-runs/{run_id}/cancel")
    assert again.status_code == 409 and "CANCELED" in again.json()["message"]
    # the stream can run again right away
    run2 = _run(api, stream_id)
    assert _data(api.post(f"/stream-runs/{run2}/cancel"))["status"] == "CANCELED"


def test_run_errors_use_the_contract_shapes(api, setup):
    r = api.post("/streams/999999/runs", {})
    assert r.status_code == 404 and r.json()["errorCode"] == "NOT_FOUND" and "999999" in r.json()["message"]
    r = api.post(f"/streams/{_stream(api, setup, steps=1)}/runs", {"triggerType": "MANUAL", "bogus": 1})
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "bogus"
    assert api.get("/stream-runs/999999").status_code == 404
    assert api.get("/step-runs/999999/artifacts").status_code == 404
    r = api.get("/stream-runs/1/steps", attempts="some")
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "attempts"
    paused = _stream(api, setup, steps=1)
    _data(api.post(f"/streams/{paused}/pause"))
    r = api.post(f"/streams/{paused}/runs", {})
    assert r.status_code == 409 and "PAUSED" in r.json()["message"]


def test_trigger_metadata_is_bounded_and_a_refused_run_is_not_created(api, setup):
    """triggerMetadata keeps keys of the caller's own, but not without bound: it is stored with the run
    and sent back in every read of it."""
    stream_id = _stream(api, setup, steps=1)
    before = _data(api.get(f"/streams/{stream_id}/runs"))["totalItems"]
    big = {"reason": "month end", **{f"k{i}": "x" * 40 for i in range(400)}}       # ~20 KB of JSON
    r = api.post(f"/streams/{stream_id}/runs", {"triggerMetadata": big})
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["errorCode"] == "VALIDATION_ERROR"
    assert [(e["field"], e["code"]) for e in body["errors"]] == [("triggerMetadata", "TOO_LARGE")], body
    assert "8192" in body["errors"][0]["message"]
    assert _data(api.get(f"/streams/{stream_id}/runs"))["totalItems"] == before
    # a few keys of the caller's own are kept as they are
    run_id = _run(api, stream_id, reason="month end", ticket="FIN-1234", batch={"day": 31})
    run = _data(api.get(f"/stream-runs/{run_id}"))
    assert run["triggerMetadata"]["ticket"] == "FIN-1234" and run["triggerMetadata"]["batch"] == {"day": 31}


def test_a_schedule_occurrence_is_fired_once_by_two_dispatchers(api, setup, stack, monkeypatch):
    for k in ("DATABASE_URL", "AWS_ENDPOINT_URL", "AWS_REGION", "ARTIFACTS_BUCKET"):
        monkeypatch.setenv(k, stack["env"][k])
    from chalicelib import aws
    from chalicelib.config import reset_settings
    from chalicelib.db.pool import close_pool, transaction
    from chalicelib.streams import schedules

    reset_settings(), close_pool(), aws.reset_clients()
    # once a year, far enough ahead that the stack's own one-minute tick cannot see it; the dispatches below
    # look at this stream only (a dispatch in 2027 would start, and move the schedule of, every other stream)
    stream_id = _stream(api, setup, steps=1, triggerType="SCHEDULED",
                        triggerConfig={"cron": "0 0 3 1 1 *", "timezone": "Europe/Berlin"})
    occurrence = datetime(2027, 1, 1, 2, 0, tzinfo=timezone.utc)   # 03:00 in Berlin (CET)
    now = datetime(2027, 1, 1, 2, 0, 30, tzinfo=timezone.utc)
    results, barrier = [], threading.Barrier(2)

    def dispatcher():
        barrier.wait()
        results.append(schedules.dispatch(now=now, stream_ids=[stream_id]))

    threads = [threading.Thread(target=dispatcher) for _ in range(2)]
    [t.start() for t in threads]
    [t.join(60) for t in threads]
    mine = [d for r in results for d in r if d["streamId"] == stream_id]
    assert len(mine) == 1 and mine[0]["outcome"] == "STARTED" and mine[0]["occurrence"] == occurrence
    with transaction() as conn:
        claims = conn.execute("SELECT occurrence_at, outcome, run_id, late FROM recon.stream_schedule_claims"
                              " WHERE stream_id = %s", (stream_id,)).fetchall()
    assert len(claims) == 1 and claims[0]["run_id"] == mine[0]["runId"] and claims[0]["late"] is False
    runs = _data(api.get(f"/streams/{stream_id}/runs"))
    assert runs["totalItems"] == 1 and runs["items"][0]["triggerType"] == "SCHEDULED"
    assert runs["items"][0]["triggerMetadata"]["schedule"]["occurrence"] == "2027-01-01T02:00:00Z"
    assert wait_run(api, mine[0]["runId"])["status"] == "COMPLETED"
    # a third dispatcher later finds nothing new to fire
    assert [d for d in schedules.dispatch(now=now, stream_ids=[stream_id]) if d["streamId"] == stream_id] == []
    close_pool()


def test_an_occurrence_meeting_an_active_run_is_skipped_and_shown_on_the_stream(api, setup, stack, monkeypatch):
    for k in ("DATABASE_URL", "AWS_ENDPOINT_URL", "AWS_REGION", "ARTIFACTS_BUCKET"):
        monkeypatch.setenv(k, stack["env"][k])
    from chalicelib import aws
    from chalicelib.config import reset_settings
    from chalicelib.db.pool import close_pool
    from chalicelib.streams import schedules

    reset_settings(), close_pool(), aws.reset_clients()
    # once a year at 03:00 Berlin, far ahead of the stack's own one-minute tick
    stream_id = _stream(api, setup, steps=1, names={1: "Marketplace [hold=60]"}, triggerType="SCHEDULED",
                        triggerConfig={"cron": "0 0 3 1 1 *", "timezone": "Europe/Berlin"})
    assert _data(api.get(f"/streams/{stream_id}"))["recentOccurrences"] == []
    held = _run(api, stream_id)
    wait_run(api, held, until=lambda r: r["status"] == "RUNNING", deadline_s=30)
    skipped = [d for d in schedules.dispatch(now=datetime(2027, 1, 1, 2, 0, 20, tzinfo=timezone.utc),
                                                stream_ids=[stream_id])
               if d["streamId"] == stream_id]
    assert [(d["outcome"], d["runId"]) for d in skipped] == [("SKIPPED_RUN_ACTIVE", None)]
    stream = _data(api.get(f"/streams/{stream_id}"))
    assert stream["recentOccurrences"] == [{"occurrenceAt": "2027-01-01T02:00:00Z", "status": "SKIPPED_RUN_ACTIVE",
                                            "late": False, "runId": None,
                                            "detail": stream["recentOccurrences"][0]["detail"]}]
    assert "in progress" in stream["recentOccurrences"][0]["detail"]
    assert _data(api.post(f"/stream-runs/{held}/cancel"))["status"] == "CANCELED"
    # the next year's occurrence, two minutes late, finds no active run: it starts one
    started = [d for d in schedules.dispatch(now=datetime(2028, 1, 1, 2, 2, tzinfo=timezone.utc),
                                                stream_ids=[stream_id])
               if d["streamId"] == stream_id]
    assert [d["outcome"] for d in started] == ["STARTED"]
    recent = _data(api.get(f"/streams/{stream_id}"))["recentOccurrences"]
    assert [(o["occurrenceAt"], o["status"], o["late"], o["runId"]) for o in recent] == [
        ("2028-01-01T02:00:00Z", "STARTED", True, started[0]["runId"]),
        ("2027-01-01T02:00:00Z", "SKIPPED_RUN_ACTIVE", False, None)]
    _data(api.post(f"/stream-runs/{started[0]['runId']}/cancel"))
    # the field is declared in the API description
    doc = api.s.get(api.url + "/openapi.json", timeout=30).json()
    out = doc["components"]["schemas"]
    stream_schema = next(v for k, v in out.items() if "recentOccurrences" in v.get("properties", {}))
    assert stream_schema["properties"]["recentOccurrences"]["type"] == "array"
    close_pool()


def test_a_worker_gone_silent_mid_step_is_timed_out_and_the_retry_finishes_the_step(api, setup):
    # the first attempt's worker stops answering and beating, as if killed; the state machine's heartbeat
    # timeout (30 s on the local stack) fails that attempt and the retry completes the step. maxRetries 0
    # (the default): a lost worker is not the step failing and uses up no retry (the run FAILED before)
    stream_id = _stream(api, setup, steps=1, names={1: "Marketplace [vanish-once]"},
                        configs={1: {"continueOnFailure": False, "maxRetries": 0}})
    run_id = _run(api, stream_id)
    run = wait_run(api, run_id, deadline_s=120)
    assert run["status"] == "COMPLETED", run
    every = steps_of(api, run_id, attempts="all")
    assert [(s["attemptNo"], s["status"]) for s in every] == [(1, "FAILED"), (2, "COMPLETED")]
    assert "heartbeat" in every[0]["errorMessage"]
    assert every[1]["matchedSourceRows"] == setup["data"].truth[1]["matched"]


def test_event_triggers_an_upload_starts_a_run_with_the_file_bound_and_a_completed_run_chains(api, setup):
    tag = uuid.uuid4().hex[:8]
    by_upload = _stream(api, setup, steps=1, triggerType="EVENT",
                        triggerConfig={"event": "FILE_UPLOADED", "filenamePattern": f"mp_{tag}_*.csv",
                                       "bind": {"stepOrder": 1, "input": "TARGET"}})
    chained = _stream(api, setup, steps=1, triggerType="EVENT",
                      triggerConfig={"event": "STREAM_RUN_COMPLETED", "streamId": by_upload})
    # a file whose name does not match starts nothing; a matching one starts exactly one run
    other = setup["work"] / f"other_{tag}.csv"
    other.write_bytes(setup["data"].files["marketplace"].read_bytes())
    _upload(api, other)
    path = setup["work"] / f"mp_{tag}_2026-02.csv"
    path.write_bytes(setup["data"].files["marketplace"].read_bytes())
    file_id = _upload(api, path)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not _data(api.get(f"/streams/{by_upload}/runs"))["items"]:
        time.sleep(0.5)
    listed = _data(api.get(f"/streams/{by_upload}/runs"))
    assert listed["totalItems"] == 1, listed
    run = wait_run(api, listed["items"][0]["id"])
    assert run["status"] == "COMPLETED" and run["triggerType"] == "EVENT"
    assert run["triggerMetadata"]["fileId"] == file_id and run["triggerMetadata"]["event"] == "FILE_UPLOADED"
    assert run["triggerMetadata"]["detailType"] == "FileReady"
    (step,) = steps_of(api, run["id"])
    assert step["matchedSourceRows"] == setup["data"].truth[1]["matched"]
    artifacts = {a["artifactType"] for a in _data(api.get(f"/step-runs/{step['id']}/artifacts"))}
    assert "UNMATCHED_TARGET" in artifacts
    # the bound file was the target: the stream's own target file is another file id
    stream = _data(api.get(f"/streams/{by_upload}"))
    assert stream["steps"][0]["targetInput"]["id"] != file_id
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not _data(api.get(f"/streams/{chained}/runs"))["items"]:
        time.sleep(0.5)
    chained_runs = _data(api.get(f"/streams/{chained}/runs"))["items"]
    assert len(chained_runs) == 1 and chained_runs[0]["triggerMetadata"]["sourceRunId"] == run["id"]
    assert wait_run(api, chained_runs[0]["id"])["status"] == "COMPLETED"


def test_a_run_completed_event_delivered_twice_starts_one_chained_run(api, setup, stack, monkeypatch):
    for k in ("DATABASE_URL", "AWS_ENDPOINT_URL", "AWS_REGION", "ARTIFACTS_BUCKET"):
        monkeypatch.setenv(k, stack["env"][k])
    from chalicelib import aws
    from chalicelib.config import reset_settings
    from chalicelib.db.pool import close_pool
    from chalicelib.streams import events

    reset_settings(), close_pool(), aws.reset_clients()
    source = _stream(api, setup, steps=1)
    chained = _stream(api, setup, steps=1, triggerType="EVENT",
                      triggerConfig={"event": "STREAM_RUN_COMPLETED", "streamId": source})
    source_run = wait_run(api, _run(api, source))
    assert source_run["status"] == "COMPLETED"
    # the first delivery: through the bus, its rule, the queue and the runner
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not _data(api.get(f"/streams/{chained}/runs"))["items"]:
        time.sleep(0.3)
    (first,) = _data(api.get(f"/streams/{chained}/runs"))["items"]
    assert first["triggerMetadata"]["sourceRunId"] == source_run["id"]
    assert wait_run(api, first["id"])["status"] == "COMPLETED"
    # then the same completion again, after the chained run ended (no active run to hide a second start):
    # redelivered with the first envelope's id, and re-published with a new one
    detail = {"runId": source_run["id"], "streamId": source, "status": "COMPLETED", "metrics": source_run["metrics"],
              "errorMessage": None, "completedAt": source_run["completedAt"]}
    envelope = {"id": first["triggerMetadata"]["eventId"], "detail-type": "StreamRunCompleted",
                "source": "recon.streams", "detail": detail}
    assert events.handle_event(envelope) == []
    assert events.handle_event({**envelope, "id": str(uuid.uuid4())}) == []
    listed = _data(api.get(f"/streams/{chained}/runs"))
    assert listed["totalItems"] == 1 and listed["items"][0]["id"] == first["id"]
    # the claim records what became of the event (it stayed CLAIMED: the outcome was written under another key)
    from chalicelib.db.pool import transaction
    with transaction() as conn:
        claims = conn.execute("SELECT event_id, outcome, run_id FROM recon.stream_event_runs WHERE stream_id = %s",
                              (chained,)).fetchall()
    assert [(c["event_id"], c["outcome"], c["run_id"]) for c in claims] == [
        (f"StreamRunCompleted:run-{source_run['id']}", "STARTED", first["id"])], claims
    # another completed run of the source is another event: it chains again (through the bus)
    second_source = wait_run(api, _run(api, source))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and _data(api.get(f"/streams/{chained}/runs"))["totalItems"] < 2:
        time.sleep(0.3)
    newest = _data(api.get(f"/streams/{chained}/runs"))["items"][0]
    assert newest["triggerMetadata"]["sourceRunId"] == second_source["id"]
    assert wait_run(api, newest["id"])["status"] == "COMPLETED"
    close_pool()


def test_an_event_queued_behind_a_run_starts_when_that_run_ends_or_on_the_next_tick(api, setup, stack, monkeypatch):
    """A FileReady event that meets a run of its EVENT stream in flight waits for it (QUEUED) and starts its own run,
    the file bound, when that run ends. A run whose end was never followed up (its worker gone before the hook)
    leaves the event for the one-minute tick, which starts it; an event queued on a stream paused meanwhile starts
    nothing (as an upload to a paused stream) and says so."""
    for k in ("DATABASE_URL", "AWS_ENDPOINT_URL", "AWS_REGION", "ARTIFACTS_BUCKET"):
        monkeypatch.setenv(k, stack["env"][k])
    from chalicelib import aws
    from chalicelib.config import reset_settings
    from chalicelib.db.pool import close_pool, transaction
    from chalicelib.streams import events, runs
    from chalicelib.workers import streams as stream_workers

    reset_settings(), close_pool(), aws.reset_clients()
    upload = setup["files"]["marketplace"]      # step 1's own target: the bound file fits its rule set
    filename = _data(api.get(f"/files/{upload}"))["filename"]
    trigger = {"event": "FILE_UPLOADED", "filenamePattern": filename, "bind": {"stepOrder": 1, "input": "TARGET"}}

    def claims(stream_id):
        with transaction() as conn:
            return [(c["outcome"], c["run_id"]) for c in conn.execute(
                "SELECT outcome, run_id FROM recon.stream_event_runs WHERE stream_id = %s ORDER BY received_at",
                (stream_id,)).fetchall()]

    def file_ready(stream_id):
        """The stream's run in flight (created, not started), then the upload's event: queued behind it."""
        held = runs.create_run(stream_id, "MANUAL", {"reason": "in flight"}, start=False)["runId"]
        envelope = {"id": str(uuid.uuid4()), "detail-type": "FileReady", "source": "recon.files",
                    "detail": {"fileId": upload, "filename": filename}}
        assert events.handle_event(envelope) == []
        assert claims(stream_id) == [("QUEUED", None)]
        return held

    stream_id = _stream(api, setup, steps=1, triggerType="EVENT", triggerConfig=trigger)
    held = file_ready(stream_id)
    # the run in flight ends without its end being followed up (as when its worker died after writing it)
    with transaction() as conn:
        conn.execute("UPDATE recon.stream_runs SET status = 'CANCELED', completed_at = clock_timestamp()"
                     " WHERE run_id = %s", (held,))
        conn.execute("UPDATE recon.stream_step_runs SET status = 'SKIPPED' WHERE run_id = %s", (held,))
    stream_workers.handle_tick_message("{}")
    ((outcome, run_id),) = claims(stream_id)
    assert outcome == "STARTED" and run_id is not None
    run = wait_run(api, run_id)
    assert run["status"] == "COMPLETED", run
    assert run["triggerType"] == "EVENT" and run["triggerMetadata"]["fileId"] == upload and run["triggerMetadata"]["queuedAt"]
    # a second tick starts nothing more
    stream_workers.handle_tick_message("{}")
    assert claims(stream_id) == [("STARTED", run_id)]
    assert _data(api.get(f"/streams/{stream_id}/runs"))["totalItems"] == 2

    paused = _stream(api, setup, steps=1, triggerType="EVENT", triggerConfig=trigger)
    held = file_ready(paused)
    assert api.post(f"/streams/{paused}/pause").status_code == 200
    assert api.post(f"/stream-runs/{held}/cancel").status_code == 200       # its end: the queue is looked at
    assert claims(paused) == [("SKIPPED_NOT_ACTIVE", None)]
    recent = _data(api.get(f"/streams/{paused}"))["recentOccurrences"]
    assert [o["status"] for o in recent] == ["SKIPPED_NOT_ACTIVE"] and "paused" in recent[0]["detail"], recent
    assert _data(api.get(f"/streams/{paused}/runs"))["totalItems"] == 1


def test_duplicate_and_late_task_messages_change_nothing(api, setup, stack, monkeypatch):
    for k in ("DATABASE_URL", "AWS_ENDPOINT_URL", "AWS_REGION", "ARTIFACTS_BUCKET"):
        monkeypatch.setenv(k, stack["env"][k])
    from chalicelib import aws
    from chalicelib.config import reset_settings
    from chalicelib.db.pool import close_pool
    from chalicelib.streams import step_worker

    reset_settings(), close_pool(), aws.reset_clients()
    stream_id = _stream(api, setup, steps=2, names={1: "Marketplace [hold=4]"})
    run_id = _run(api, stream_id)
    wait_run(api, run_id, until=lambda r: r["status"] == "RUNNING", deadline_s=30)
    # while attempt 1 of step 1 works: its redelivery, and the next step's message arriving early
    step_worker.handle_message({"kind": "STEP", "runId": run_id, "stepOrder": 1, "retryCount": 0, "taskToken": "dup"})
    during = steps_of(api, run_id, attempts="all")
    assert [(s["stepOrder"], s["attemptNo"], s["status"]) for s in during] == \
        [(1, 1, "IN_PROGRESS"), (2, 1, "PENDING")]
    assert wait_run(api, run_id)["status"] == "COMPLETED"
    before_steps = steps_of(api, run_id, attempts="all")
    before_run = _data(api.get(f"/stream-runs/{run_id}"))
    # the same task again (a redelivery), an attempt of the past, a FINISH again: all ignored;
    # none of them answers the (invalid) token, so no Step Functions call can fail either
    for body in ({"kind": "STEP", "runId": run_id, "stepOrder": 2, "retryCount": 0, "taskToken": "dup"},
                 {"kind": "STEP", "runId": run_id, "stepOrder": 1, "retryCount": 0, "taskToken": "late"},
                 {"kind": "STEP", "runId": run_id, "stepOrder": 1, "retryCount": 3, "taskToken": "late"},
                 {"kind": "FINISH", "runId": run_id}):
        step_worker.handle_message(body)
    assert steps_of(api, run_id, attempts="all") == before_steps
    assert _data(api.get(f"/stream-runs/{run_id}")) == before_run
    close_pool()


def test_snapshots_of_a_cdc_table_and_a_postgres_query_find_the_generators_drift(api, demo):
    # the CDC demo tables: users in Cassandra (CDC_TABLE, token-range reader) vs its PostgreSQL copy
    # (POSTGRES read-only query); the generator's manifest says which keys are missing on each side
    from tests.e2e.conftest import expected_drift

    drift = expected_drift(demo, "users")
    cass = _data(api.post("/data-sources", {"name": "users (Cassandra)", "type": "CDC_TABLE",
                                            "config": {"table": "users"}}), 201)["id"]
    pg = _data(api.post("/data-sources", {"name": "users (PostgreSQL)", "type": "POSTGRES",
                                          "config": {"query": "SELECT user_id, email FROM public.users"}}), 201)["id"]
    rs = _data(api.post("/rule-sets", {"name": "users by id", "sourceKey": "user_id", "targetKey": "user_id",
                                       "passes": [{"name": "id", "cardinality": "ONE_TO_ONE", "conditions": [
                                           {"source": "user_id", "target": "user_id", "operator": "EQUALS"}]}]}),
               201)["id"]
    stream = _data(api.post("/streams", {
        "name": f"users {uuid.uuid4().hex[:6]}", "triggerType": "MANUAL",
        "steps": [{"stepOrder": 1, "name": "Cassandra vs PostgreSQL", "ruleSetId": rs,
                   "sourceInput": {"type": "DATA_SOURCE_SNAPSHOT", "id": cass},
                   "targetInput": {"type": "DATA_SOURCE_SNAPSHOT", "id": pg},
                   "config": {"continueOnFailure": False, "maxRetries": 0}}]}), 201)["id"]
    run = wait_run(api, _run(api, stream))
    assert run["status"] == "COMPLETED", run
    (step,) = steps_of(api, run["id"])
    arts = {a["artifactType"]: a for a in _data(api.get(f"/step-runs/{step['id']}/artifacts"))}
    assert {"SNAPSHOT_SOURCE", "SNAPSHOT_TARGET"} <= set(arts)
    assert arts["SNAPSHOT_SOURCE"]["rowCount"] == step["sourceRows"]
    assert arts["SNAPSHOT_TARGET"]["rowCount"] == step["targetRows"]

    def keys(artifact):
        text = api.s.get(api.url.removesuffix("/api/v1") + artifact["downloadUrl"], timeout=30).text
        rows = list(csv.DictReader(io.StringIO(text)))
        return {r["user_id"] for r in rows}

    missing = {k for k, t in drift.items() if t in ("MISSING_IN_POSTGRES", "MISSING_IN_CASSANDRA")}
    assert missing, "the generator injected no missing users: the check below would prove nothing"
    assert step["matchedSourceRows"] == step["sourceRows"] - len(keys(arts["UNMATCHED_SOURCE"]))
    assert keys(arts["UNMATCHED_SOURCE"]) == {k for k, t in drift.items() if t == "MISSING_IN_POSTGRES"}
    assert keys(arts["UNMATCHED_TARGET"]) == {k for k, t in drift.items() if t == "MISSING_IN_CASSANDRA"}


def _webhook_receiver():
    """A local HTTP receiver answering 204; returns (server, [(headers, body), ...] received so far)."""
    import http.server

    received = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((dict(self.headers), body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, received


def settled_deliveries(stack, subjects: list[str], count: int, deadline: float) -> list[tuple]:
    """(subject, event, status, attempts) of the webhook deliveries of `subjects`, ordered, polled until
    `count` rows are all DELIVERED or the (monotonic) deadline has passed."""
    import psycopg

    with psycopg.connect(stack["env"]["DATABASE_URL"], autocommit=True) as conn:
        while True:
            rows = conn.execute("SELECT subject, event, status, attempts FROM recon.webhook_deliveries"
                                " WHERE subject = ANY(%s) ORDER BY subject, event", (subjects,)).fetchall()
            if (len(rows) == count and all(r[2] == "DELIVERED" for r in rows)) or time.monotonic() >= deadline:
                return rows
            time.sleep(0.2)


def test_finished_runs_send_signed_webhooks_through_the_shared_delivery(api, setup, stack, monkeypatch):
    # the stack's runner has no webhook URL configured: plan and deliver here, with the same code
    import json as jsonlib

    for k in ("DATABASE_URL", "AWS_ENDPOINT_URL", "AWS_REGION", "ARTIFACTS_BUCKET"):
        monkeypatch.setenv(k, stack["env"][k])
    server, received = _webhook_receiver()
    monkeypatch.setenv("WEBHOOK_URLS", f"http://127.0.0.1:{server.server_port}/hook")
    monkeypatch.setenv("WEBHOOK_SECRET", "s3cret")
    from chalicelib import aws
    from chalicelib.config import reset_settings
    from chalicelib.db.pool import close_pool
    from chalicelib.runs import webhooks
    from chalicelib.streams import events, runs

    reset_settings(), close_pool(), aws.reset_clients()
    planned = []
    monkeypatch.setattr(webhooks, "enqueue_quietly", lambda ids: planned.extend(ids))
    ok_run = wait_run(api, _run(api, _stream(api, setup, steps=1)))["id"]
    bad_run = wait_run(api, _run(api, _stream(api, setup, steps=1, names={1: "x [fail-always]"},
                                              configs={1: {"continueOnFailure": False, "maxRetries": 0}})))["id"]
    try:
        for run_id in (ok_run, bad_run, ok_run):          # the third: planning twice sends nothing twice
            events.run_finished(runs.get_run(run_id))
        assert len(planned) == 2
        for delivery_id in planned:
            webhooks.handle_message({"delivery_id": str(delivery_id), "attempt": 0}, 1)   # first attempt
    finally:
        server.shutdown()
        close_pool()
    assert len(received) == 2
    by_run = {}
    for headers, body in received:
        assert webhooks.verify_signature("s3cret", headers["X-Recon-Timestamp"], body, headers["X-Recon-Signature"])
        doc = jsonlib.loads(body)
        by_run[doc["data"]["runId"]] = doc
    assert by_run[ok_run]["event"] == "stream.run.completed" and by_run[ok_run]["data"]["status"] == "COMPLETED"
    assert by_run[bad_run]["event"] == "stream.run.failed" and by_run[bad_run]["data"]["status"] == "FAILED"
    assert "Step 1" in by_run[bad_run]["data"]["errorMessage"]


def _runner_pid_file(stack) -> Path:
    root = Path(__file__).resolve().parents[2]
    return Path(stack["env"].get("STACK_DIR", root / ".local" / "test")) / "pids" / "runner.pid"


def _restart_runner(stack, sig, extra_env: dict | None = None) -> None:
    """Stop the stack's local Lambda runner (its process group) with `sig` and start a new one with the
    stack's environment (+ extra_env); the pid file follows, so `stack.sh down` stops the new one."""
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    pid_file = _runner_pid_file(stack)
    old = int(pid_file.read_text())
    try:
        os.killpg(old, sig)
    except ProcessLookupError:
        pass
    finally:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                os.kill(old, 0)
                time.sleep(0.1)
            except ProcessLookupError:
                break
        # detached like scripts/stack.sh starts it (its own session, parented to init): a runner that is
        # this process's child would stay a zombie once killed, and look alive to `kill -0` (to
        # `stack.sh up` and to the fault tests) until this process reaped it
        log = pid_file.parent.parent / "logs" / "runner.log"
        started = subprocess.run(
            ["bash", "-c", 'setsid "$0" -m infra.local.runner --app app:app --concurrency "$1" >>"$2" 2>&1 </dev/null & echo $!',
             sys.executable, os.environ.get("RUNNER_CONCURRENCY", "2"), str(log)],
            cwd=root, env={**stack["env"], **(extra_env or {})}, capture_output=True, text=True, check=True, timeout=30)
        pid_file.write_text(started.stdout.strip())


def test_the_runner_delivers_one_signed_webhook_per_finished_run(api, setup, stack):
    # the runner itself, started with a webhook URL (a receiver in this test) and a secret, plans and
    # delivers when a run completes or fails; the signature is checked with the documented scheme
    import hashlib
    import hmac
    import json as jsonlib
    import signal

    server, received = _webhook_receiver()
    secret = f"whsec-{uuid.uuid4().hex}"
    _restart_runner(stack, signal.SIGTERM, {"WEBHOOK_URLS": f"http://127.0.0.1:{server.server_port}/hook",
                                            "WEBHOOK_SECRET": secret})
    try:
        ok_run = wait_run(api, _run(api, _stream(api, setup, steps=1)))
        bad_run = wait_run(api, _run(api, _stream(api, setup, steps=1, names={1: "x [fail-always]"},
                                                  configs={1: {"continueOnFailure": False, "maxRetries": 0}})))
        assert (ok_run["status"], bad_run["status"]) == ("COMPLETED", "FAILED")
        mine = lambda: [r for r in list(received)  # noqa: E731
                        if jsonlib.loads(r[1])["data"].get("runId") in (ok_run["id"], bad_run["id"])]
        deadline = time.monotonic() + 60
        while len(mine()) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        # both recorded DELIVERED (so nothing is left to retry), and a redelivery would show here
        rows = settled_deliveries(stack, [f"stream-run:{ok_run['id']}", f"stream-run:{bad_run['id']}"], 2, deadline)
        assert [(r[2], r[3]) for r in rows] == [("DELIVERED", 1), ("DELIVERED", 1)], rows
    finally:
        _restart_runner(stack, signal.SIGTERM)
        server.shutdown()
    got = mine()
    assert len(got) == 2, [jsonlib.loads(b)["data"].get("runId") for _, b in received]
    by_run = {}
    for headers, body in got:
        ts, signature = headers["X-Recon-Timestamp"], headers["X-Recon-Signature"]
        expected = "sha256=" + hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(signature, expected)
        assert abs(time.time() - int(ts)) < 300
        doc = jsonlib.loads(body)
        by_run[doc["data"]["runId"]] = doc
    assert by_run[ok_run["id"]]["event"] == "stream.run.completed"
    assert by_run[ok_run["id"]]["data"]["status"] == "COMPLETED"
    assert by_run[bad_run["id"]]["event"] == "stream.run.failed"
    assert by_run[bad_run["id"]]["data"]["status"] == "FAILED" and "Step 1" in by_run[bad_run["id"]]["data"]["errorMessage"]


def test_a_worker_killed_mid_step_is_timed_out_and_the_retry_finishes_the_step(api, setup, stack):
    # SIGKILL the stack's local Lambda runner while it works on a step (no answer, no heartbeat, the SQS
    # message left in flight), start a new one: the heartbeat timeout fails the attempt, the retry completes
    import signal

    assert _runner_pid_file(stack).exists(), "the stack's runner is not running"
    stream_id = _stream(api, setup, steps=1, names={1: "Marketplace [hold=20]"},
                        configs={1: {"continueOnFailure": False, "maxRetries": 1}})
    run_id = _run(api, stream_id)
    deadline = time.monotonic() + 30
    while steps_of(api, run_id)[0]["progress"] == 0 and time.monotonic() < deadline:
        time.sleep(0.3)
    assert steps_of(api, run_id)[0]["status"] == "IN_PROGRESS"
    _restart_runner(stack, signal.SIGKILL)
    run = wait_run(api, run_id, deadline_s=150)
    assert run["status"] == "COMPLETED", run
    every = steps_of(api, run_id, attempts="all")
    assert [(s["attemptNo"], s["status"]) for s in every] == [(1, "FAILED"), (2, "COMPLETED")]
    assert "heartbeat" in every[0]["errorMessage"]
    assert every[1]["matchedSourceRows"] == setup["data"].truth[1]["matched"]


def test_occurrences_missed_while_down_run_once_late_within_24_hours(api, setup, stack, monkeypatch):
    for k in ("DATABASE_URL", "AWS_ENDPOINT_URL", "AWS_REGION", "ARTIFACTS_BUCKET"):
        monkeypatch.setenv(k, stack["env"][k])
    from chalicelib import aws
    from chalicelib.config import reset_settings
    from chalicelib.db.pool import close_pool, transaction
    from chalicelib.streams import schedules

    reset_settings(), close_pool(), aws.reset_clients()
    # every six hours (UTC), last looked at long ago; the service comes back at 2027-03-01 13:10 UTC
    stream_id = _stream(api, setup, steps=1, triggerType="SCHEDULED",
                        triggerConfig={"cron": "0 0 */6 * * *", "timezone": "UTC"})
    with transaction() as conn:
        conn.execute("INSERT INTO recon.stream_schedule_cursors (stream_id, checked_until) VALUES (%s, %s)",
                     (stream_id, datetime(2027, 2, 20, tzinfo=timezone.utc)))
    now = datetime(2027, 3, 1, 13, 10, tzinfo=timezone.utc)
    done = [d for d in schedules.dispatch(now=now, stream_ids=[stream_id]) if d["streamId"] == stream_id]
    with transaction() as conn:
        claims = conn.execute("SELECT occurrence_at, outcome, late, run_id FROM recon.stream_schedule_claims"
                              " WHERE stream_id = %s ORDER BY occurrence_at", (stream_id,)).fetchall()
    # only the last 24 hours count: 2027-02-28 18:00, 03-01 00:00, 06:00, 12:00; the latest runs, late
    assert [c["occurrence_at"] for c in claims] == [datetime(2027, 2, 28, 18, tzinfo=timezone.utc),
                                                    datetime(2027, 3, 1, 0, tzinfo=timezone.utc),
                                                    datetime(2027, 3, 1, 6, tzinfo=timezone.utc),
                                                    datetime(2027, 3, 1, 12, tzinfo=timezone.utc)]
    assert [c["outcome"] for c in claims] == ["SKIPPED_RUN_ACTIVE"] * 3 + ["STARTED"]
    assert all(c["late"] for c in claims) and claims[-1]["run_id"] == done[-1]["runId"]
    run = wait_run(api, claims[-1]["run_id"])
    assert run["status"] == "COMPLETED" and run["triggerMetadata"]["schedule"]["late"] is True
    assert _data(api.get(f"/streams/{stream_id}/runs"))["totalItems"] == 1
    recent = schedules.recent_claims(stream_id)
    assert [r["outcome"] for r in recent] == ["STARTED"] + ["SKIPPED_RUN_ACTIVE"] * 3
    assert recent[1]["detail"] == "superseded by a later missed occurrence"
    close_pool()


def test_exceptions_a_dead_worker_did_not_load_are_loaded_before_the_run_ends(api, setup):
    # step 1 completes and answers, then its worker stops before loading step 1's exceptions (as if it
    # died): the run waits in RUNNING, FINISH has them loaded from the artifacts after a minute
    stream_id = _stream(api, setup, steps=2, names={1: "Marketplace [no-exception-load]"})
    run_id = _run(api, stream_id)
    run = wait_run(api, run_id, deadline_s=180)
    assert run["status"] == "COMPLETED", run
    truth = setup["data"].truth
    assert run["metrics"]["exceptionCount"] == truth[1]["unmatchedTarget"] + truth[2]["unmatchedTarget"] + \
        truth[2]["unmatchedSource"]
    text = api.s.get(api.url.removesuffix("/api/v1") + "/metrics", timeout=30).text
    assert f'recon_stream_open_exceptions{{stream_id="{stream_id}"}} {float(run["metrics"]["exceptionCount"])}' in text


def _listed_exceptions(api, run_id: int) -> int:
    return _data(api.get("/exceptions", runId=run_id, pageSize=1))["totalItems"]


def test_a_last_step_whose_worker_died_before_answering_is_answered_for_not_run_again(api, setup):
    # the worker dies after the completion (exceptions loaded in that commit) and before it answers: the
    # heartbeat timeout sends attempt 2, which must answer for the completed step. Run again, it loaded every
    # exception a second time (the run said 1504, the lists 3008). maxRetries 0: a lost answer is no failure
    stream_id = _stream(api, setup, steps=1, names={1: "Marketplace [no-answer-once]"},
                        configs={1: {"continueOnFailure": False, "maxRetries": 0}})
    run_id = _run(api, stream_id)
    run = wait_run(api, run_id, deadline_s=150)
    assert run["status"] == "COMPLETED", run
    truth = setup["data"].truth[1]
    every = steps_of(api, run_id, attempts="all")
    assert [(s["attemptNo"], s["status"]) for s in every] == [(1, "COMPLETED")]
    assert every[0]["matchedSourceRows"] == truth["matched"]
    expected = truth["unmatchedSource"] + truth["unmatchedTarget"]
    assert run["metrics"]["exceptionCount"] == expected
    assert _listed_exceptions(api, run_id) == expected


def test_an_earlier_step_whose_worker_died_before_answering_runs_again_and_the_run_equals_an_undisturbed_one(
        api, setup):
    # step 1 completes (only the output step 2 reads is stored) and its worker dies before answering, so its
    # deferred work (MATCHED, its unmatched target, its exceptions) never begins: attempt 2 runs the step again
    # (the first is FAILED, not counted against maxRetries 0) and the run ends as an undisturbed one
    stream_id = _stream(api, setup, steps=2, names={1: "Marketplace [no-answer-once]"},
                        configs={1: {"continueOnFailure": False, "maxRetries": 0}})
    run_id = _run(api, stream_id)
    run = wait_run(api, run_id, deadline_s=150)
    assert run["status"] == "COMPLETED", run
    truth = setup["data"].truth
    every = steps_of(api, run_id, attempts="all")
    assert [(s["stepOrder"], s["attemptNo"], s["status"]) for s in every] == [
        (1, 1, "FAILED"), (1, 2, "COMPLETED"), (2, 1, "COMPLETED")]
    assert "before it answered" in every[0]["errorMessage"]
    # the superseded attempt keeps no outputs, only the snapshot it read (each attempt reads its own): one file per
    # output name
    assert {a["artifactType"] for a in _data(api.get(f"/step-runs/{every[0]['id']}/artifacts"))} == {"SNAPSHOT_SOURCE"}
    names = [f["filename"] for f in _data(api.get("/files", filename=f"stream_{run_id}_step_1_", pageSize=100))["items"]
             if "snapshot" not in f["filename"]]
    assert sorted(names) == sorted(f"stream_{run_id}_step_1_{t}.csv" for t in ("matched", "unmatched_source",
                                                                               "unmatched_target")), names
    kept = {a["artifactType"] for a in _data(api.get(f"/step-runs/{every[1]['id']}/artifacts"))}
    assert {"MATCHED", "UNMATCHED_SOURCE", "UNMATCHED_TARGET"} <= kept
    expected = truth[1]["unmatchedTarget"] + truth[2]["unmatchedTarget"] + truth[2]["unmatchedSource"]
    assert run["metrics"]["exceptionCount"] == expected
    assert _listed_exceptions(api, run_id) == expected


def test_outputs_a_dead_worker_never_uploaded_are_made_again_and_the_run_completes(api, setup):
    # step 1 answers with only the output step 2 reads in storage, then its worker stops before uploading
    # the others (MATCHED, the unmatched target) and loading its exceptions: step 2 runs on what it needs,
    # and after a minute another worker makes the missing outputs again from step 1's recorded inputs (the
    # stored output must come out byte for byte the same) and loads the exceptions. The run FAILED before.
    stream_id = _stream(api, setup, steps=2, names={1: "Marketplace [no-deferred-work]"})
    run_id = _run(api, stream_id)
    run = wait_run(api, run_id, deadline_s=180)
    assert run["status"] == "COMPLETED", run
    truth = setup["data"].truth
    first, second = steps_of(api, run_id)
    assert (first["status"], first["attemptNo"], second["status"]) == ("COMPLETED", 1, "COMPLETED")
    artifacts = {a["artifactType"]: a for a in _data(api.get(f"/step-runs/{first['id']}/artifacts"))}
    assert set(artifacts) == {"SNAPSHOT_SOURCE", "MATCHED", "UNMATCHED_SOURCE", "UNMATCHED_TARGET"}
    assert artifacts["UNMATCHED_TARGET"]["rowCount"] == truth[1]["unmatchedTarget"]
    expected = truth[1]["unmatchedTarget"] + truth[2]["unmatchedTarget"] + truth[2]["unmatchedSource"]
    assert run["metrics"]["exceptionCount"] == expected
    assert _listed_exceptions(api, run_id) == expected
    # the outputs made again are those an undisturbed run of the same stream stores
    plain = _stream(api, setup, steps=2)
    again = wait_run(api, _run(api, plain), deadline_s=120)
    assert again["status"] == "COMPLETED", again
    plain_first = steps_of(api, again["id"])[0]
    undisturbed = {a["artifactType"]: a for a in _data(api.get(f"/step-runs/{plain_first['id']}/artifacts"))}
    for t in ("MATCHED", "UNMATCHED_SOURCE", "UNMATCHED_TARGET"):
        assert artifacts[t]["checksum"] == undisturbed[t]["checksum"], t


def test_a_worker_slower_than_the_minute_of_grace_changes_nothing_once_its_work_was_made_again(api, setup, stack):
    # step 1's worker is alive but waits 70 s before its deferred work: after a minute another worker makes
    # the outputs again and loads the exceptions; the slow worker then finds them registered and loaded.
    # The run FAILED before ("the worker stopped before keeping its outputs") while that worker was alive
    from tests.e2e.test_faults_postgres import _stack_dir

    log = _stack_dir(stack) / "logs" / "runner.log"
    offset = log.stat().st_size
    stream_id = _stream(api, setup, steps=2, names={1: "Marketplace [hold-deferred=70]"})
    run_id = _run(api, stream_id)
    run = wait_run(api, run_id, deadline_s=180)
    assert run["status"] == "COMPLETED", run
    truth = setup["data"].truth
    first = steps_of(api, run_id)[0]
    expected = truth[1]["unmatchedTarget"] + truth[2]["unmatchedTarget"] + truth[2]["unmatchedSource"]
    # the slow worker's turn comes after the run's end: until it logs its step done
    done = f'"run_id":{run_id},"step_order":1,'
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        with open(log, encoding="utf-8", errors="replace") as f:
            f.seek(offset)
            lines = f.read().splitlines()
        if any('"step completed"' in line and done in line for line in lines):
            break
        time.sleep(1)
    else:
        raise AssertionError("the slow worker never finished its deferred work")
    assert any("outputs its worker never stored were made again" in line and f'"step_run_id":{first["id"]}' in line
               for line in lines)
    artifacts = [a["artifactType"] for a in _data(api.get(f"/step-runs/{first['id']}/artifacts"))]
    assert sorted(artifacts) == ["MATCHED", "SNAPSHOT_SOURCE", "UNMATCHED_SOURCE", "UNMATCHED_TARGET"]
    assert _data(api.get(f"/stream-runs/{run_id}"))["metrics"]["exceptionCount"] == expected
    assert _listed_exceptions(api, run_id) == expected
