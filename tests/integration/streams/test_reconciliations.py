"""Legacy reconciliations over HTTP: create (PENDING, references checked), get, status, list, start (409
once started), cancel (409 once finished); step runs of ordinary streams are reconciliations too."""
from __future__ import annotations

import re

from tests.integration.streams.conftest import SOURCE_CSV, TARGET_CSV, assert_error, rule_set_body, step, wait_for


def _create(api, uid, **over):
    src = api.upload(f"lg_src_{uid}.csv", SOURCE_CSV)
    tgt = api.upload(f"lg_tgt_{uid}.csv", TARGET_CSV)
    rs = api.rule_set()
    body = {"name": f"Feb close {uid}", "description": "orders vs marketplace", "sourceFileId": src["id"],
            "targetFileId": tgt["id"], "ruleSetId": rs["id"], **over}
    r = api.post("/reconciliations", body)
    assert r.status_code == 201, r.text
    return r.json()["data"], body


def test_create_get_status_list(api, uid):
    rec, body = _create(api, uid)
    assert set(rec) == {"id", "name", "status", "sourceFileId", "targetFileId", "ruleSetId", "createdAt"}
    assert (rec["status"], rec["name"], rec["sourceFileId"], rec["ruleSetId"]) == (
        "PENDING", body["name"], body["sourceFileId"], body["ruleSetId"])
    full = api.get(f"/reconciliations/{rec['id']}").json()["data"]
    assert (full["description"], full["status"], full["exceptionCount"], full["matchRate"], full["startedAt"]) == (
        "orders vs marketplace", "PENDING", 0, None, None)
    for k in ("totalSourceRecords", "totalTargetRecords", "matchedRecords", "unmatchedSourceRecords",
              "unmatchedTargetRecords", "errorMessage", "completedAt"):
        assert full[k] is None, k
    assert api.get(f"/reconciliations/{rec['id']}/status").json()["data"] == {"id": rec["id"], "status": "PENDING",
                                                                            "progress": 0}
    listed = api.get("/reconciliations", pageSize=100).json()["data"]
    assert rec["id"] in [x["id"] for x in listed["items"]]
    # the implicit stream is not among the user's streams, and cannot be archived behind the reconciliation's back
    assert full["streamId"] not in [s["id"] for s in api.get("/streams", pageSize=100).json()["data"]["items"]]
    assert_error(api.delete(f"/streams/{full['streamId']}"), 409, "CONFLICT")
    assert_error(api.post(f"/streams/{full['streamId']}/pause"), 409, "CONFLICT")


def test_references_are_checked(api, uid):
    bad = api.upload(f"lg_bad_{uid}.csv", "a,b\n1\n")
    r = api.post("/reconciliations", {"name": "x", "sourceFileId": bad["id"], "targetFileId": 99999998,
                                      "ruleSetId": 99999998})
    assert_error(r, 400, "VALIDATION_ERROR", ("sourceFileId", "FILE_NOT_READY"), ("targetFileId", "FILE_NOT_FOUND"),
                 ("ruleSetId", "RULE_SET_NOT_FOUND"))
    assert_error(api.post("/reconciliations", {"name": "x", "sourceFileId": "1"}), 400, "VALIDATION_ERROR",
                 ("sourceFileId", "INVALID_TYPE"), ("targetFileId", "REQUIRED"), ("ruleSetId", "REQUIRED"))
    # a malformed body still names its broken references (a 400 lists every problem)
    r = api.post("/reconciliations", {"name": "", "sourceFileId": bad["id"], "targetFileId": 99999998,
                                      "ruleSetId": 99999998, "colour": "red"})
    errors = assert_error(r, 400, "VALIDATION_ERROR", ("name", "TOO_SHORT"), ("colour", "UNKNOWN_FIELD"),
                          ("sourceFileId", "FILE_NOT_READY"), ("targetFileId", "FILE_NOT_FOUND"),
                          ("ruleSetId", "RULE_SET_NOT_FOUND"))["errors"]
    assert {e["field"]: e["message"] for e in errors}["targetFileId"] == "target file 99999998 not found"


def test_start_twice_and_cancel(api, uid):
    rec, _ = _create(api, uid)
    r = api.post(f"/reconciliations/{rec['id']}/start")
    assert r.status_code == 200, r.text
    started = r.json()["data"]
    assert started["id"] == rec["id"] and started["status"] == "IN_PROGRESS" and started["startedAt"].endswith("Z")
    assert_error(api.post(f"/reconciliations/{rec['id']}/start"), 409, "CONFLICT")
    status = api.get(f"/reconciliations/{rec['id']}/status").json()["data"]["status"]
    assert status in ("IN_PROGRESS", "COMPLETED")
    r = api.post(f"/reconciliations/{rec['id']}/cancel")
    if status == "COMPLETED" or r.status_code == 409:
        assert_error(r, 409, "CONFLICT")
        return
    assert r.status_code == 200, r.text
    assert r.json()["data"]["status"] == "CANCELED" and r.json()["data"]["completedAt"].endswith("Z")
    assert api.get(f"/reconciliations/{rec['id']}").json()["data"]["status"] == "CANCELED"
    assert_error(api.post(f"/reconciliations/{rec['id']}/cancel"), 409, "CONFLICT")


def test_cancel_before_start(api, uid):
    rec, _ = _create(api, uid)
    r = api.post(f"/reconciliations/{rec['id']}/cancel")
    assert r.status_code == 200 and r.json()["data"]["status"] == "CANCELED"
    assert_error(api.post(f"/reconciliations/{rec['id']}/start"), 409, "CONFLICT")


def test_unknown_ids(api):
    for r in (api.get("/reconciliations/99999997"), api.get("/reconciliations/99999997/status"),
              api.post("/reconciliations/99999997/start"), api.post("/reconciliations/99999997/cancel")):
        body = assert_error(r, 404, "NOT_FOUND")
        assert body["message"] == "Reconciliation 99999997 not found"


def test_step_runs_of_streams_are_reconciliations(api, db, uid):
    src = api.upload(f"lg2_src_{uid}.csv", SOURCE_CSV)
    tgt = api.upload(f"lg2_tgt_{uid}.csv", TARGET_CSV)
    rs = api.rule_set()
    s = api.stream({"name": f"two steps {uid}", "steps": [
        step(1, ("FILE", src["id"]), ("FILE", tgt["id"]), rs["id"]),
        step(2, ("STEP_OUTPUT_UNMATCHED_SOURCE", 1), ("FILE", tgt["id"]), rs["id"])]})
    r = api.post(f"/streams/{s['id']}/runs", {"triggerType": "MANUAL", "triggerMetadata": {"reason": "test"}})
    assert r.status_code == 201, r.text
    run_id = r.json()["data"]["runId"]
    steps = api.get(f"/stream-runs/{run_id}/steps").json()["data"]
    assert len(steps) == 2
    for st in steps:
        rec = api.get(f"/reconciliations/{st['reconciliationId']}").json()["data"]
        assert (rec["streamId"], rec["runId"], rec["stepOrder"]) == (s["id"], run_id, st["stepOrder"])
        assert rec["name"] == f"two steps {uid} / Step {st['stepOrder']}"
        assert rec["ruleSetId"] == rs["id"]
    # a stream's step starts with its run, not on its own
    assert_error(api.post(f"/reconciliations/{steps[1]['reconciliationId']}/start"), 409, "CONFLICT")


def test_a_run_that_could_not_start_reads_failed(api, db, uid):
    rec, _ = _create(api, uid)
    full = api.get(f"/reconciliations/{rec['id']}").json()["data"]
    # what the runtime records when StartExecution fails: run FAILED with the reason, its step SKIPPED
    db.execute("UPDATE recon.stream_runs SET status = 'FAILED', completed_at = now(),"
               " error_message = 'the run could not be started: EndpointConnectionError' WHERE run_id = %s",
               (full["runId"],))
    db.execute("UPDATE recon.stream_step_runs SET status = 'SKIPPED' WHERE run_id = %s", (full["runId"],))
    after = api.get(f"/reconciliations/{rec['id']}").json()["data"]
    assert (after["status"], after["errorMessage"]) == ("FAILED", "the run could not be started: EndpointConnectionError")
    assert_error(api.post(f"/reconciliations/{rec['id']}/cancel"), 409, "CONFLICT")
    assert_error(api.post(f"/reconciliations/{rec['id']}/start"), 409, "CONFLICT")


def test_cancel_loses_to_a_step_that_finished_first(api, uid, db):
    """The step completed while its run was still closing (exceptions loading, FINISH pending): the
    reconciliation is finished, so a cancel racing that moment is a 409 and changes nothing."""
    import pytest

    from chalicelib.streams import runs

    rec, _ = _create(api, uid)
    full = api.get(f"/reconciliations/{rec['id']}").json()["data"]
    db.execute("UPDATE recon.stream_step_runs SET status = 'COMPLETED', progress = 100, completed_at = now()"
               " WHERE run_id = %s", (full["runId"],))
    db.execute("UPDATE recon.stream_runs SET status = 'RUNNING', started_at = now() WHERE run_id = %s",
               (full["runId"],))
    with pytest.raises(runs.RunConflict):
        runs.cancel_run(full["runId"], step_order=full["stepOrder"])
    run_status = db.execute("SELECT status FROM recon.stream_runs WHERE run_id = %s", (full["runId"],)).fetchone()
    assert run_status["status"] == "RUNNING"
    assert_error(api.post(f"/reconciliations/{rec['id']}/cancel"), 409, "CONFLICT")


def test_start_waits_for_its_files_to_be_ready(api, db, uid):
    """A reconciliation may be created while an input is still PROCESSING (like a stream). Starting it then
    failed the reconciliation for good ('file N is PROCESSING'): now the start is a 409 saying so and the
    reconciliation stays PENDING, to be started once the file is READY. An INVALID input is refused the same way."""
    import requests

    from tests.integration.streams.conftest import wait_for

    data = SOURCE_CSV.encode()
    s = api.post("/files/uploads", {"filename": f"lg_late_{uid}.csv", "sizeBytes": len(data)}).json()["data"]
    tgt = api.upload(f"lg_tgt_{uid}.csv", TARGET_CSV)
    rs = api.rule_set()
    r = api.post("/reconciliations", {"name": f"late {uid}", "sourceFileId": s["fileId"], "targetFileId": tgt["id"],
                                      "ruleSetId": rs["id"]})
    assert r.status_code == 201, r.text
    rid = r.json()["data"]["id"]
    body = assert_error(api.post(f"/reconciliations/{rid}/start"), 409, "CONFLICT")
    assert f"source file {s['fileId']} is PROCESSING" in body["message"], body
    assert api.get(f"/reconciliations/{rid}/status").json()["data"] == {"id": rid, "status": "PENDING", "progress": 0}

    assert requests.put(s["uploadUrl"], data=data, timeout=60).status_code == 200
    assert api.post(f"/files/{s['fileId']}/complete").status_code == 202
    wait_for(lambda: api.get(f"/files/{s['fileId']}").json()["data"]["status"] == "READY", 60, "the file worker")
    r = api.post(f"/reconciliations/{rid}/start")
    assert r.status_code == 200 and r.json()["data"]["status"] == "IN_PROGRESS", r.text

    rec, body = _create(api, f"{uid}b")
    db.execute("UPDATE recon.files SET status = 'INVALID', error_message = 'line 2: 1 fields, header has 5'"
               " WHERE file_id = %s", (body["targetFileId"],))
    err = assert_error(api.post(f"/reconciliations/{rec['id']}/start"), 409, "CONFLICT")
    assert f"target file {body['targetFileId']} is INVALID (line 2: 1 fields, header has 5)" in err["message"], err
    assert api.get(f"/reconciliations/{rec['id']}").json()["data"]["status"] == "PENDING"


def _stream_series(api, name: str, stream_id: int) -> dict[str, float]:
    """{labels: value} of one /metrics family for one stream."""
    text = api.get("/metrics").text
    return {m.group(1): float(m.group(2)) for m in re.finditer(
        rf'^{name}{{([^}}]*stream_id="{stream_id}"[^}}]*)}} (\S+)$', text, re.M)}


def test_runs_total_is_a_counter_of_runs_that_ended(api, stack_env, uid):
    # a PENDING or RUNNING series of a counter would fall as the run moves on: Prometheus reads a reset.
    # A reconciliation created and not started is PENDING, but nothing runs it until its start (it may wait
    # for ever): runs_active counted it, so a dashboard showed runs active that nothing would run
    import psycopg

    rec, _ = _create(api, uid)
    full = api.get(f"/reconciliations/{rec['id']}").json()["data"]
    sid = full["streamId"]
    assert _stream_series(api, "recon_stream_runs_total", sid) == {}
    assert _stream_series(api, "recon_stream_runs_active", sid) == {}
    with psycopg.connect(stack_env["DATABASE_URL"]) as hold:   # started, its step not yet taken by a worker
        hold.execute("SELECT 1 FROM recon.stream_step_runs WHERE run_id = %s FOR UPDATE", (full["runId"],))
        assert api.post(f"/reconciliations/{rec['id']}/start").status_code == 200
        assert _stream_series(api, "recon_stream_runs_active", sid) == {f'stream_id="{sid}"': 1.0}
        hold.rollback()
    wait_for(lambda: api.get(f"/reconciliations/{rec['id']}/status").json()["data"]["status"] == "COMPLETED", 60,
             "the reconciliation to complete")
    run_id = api.get(f"/reconciliations/{rec['id']}").json()["data"]["runId"]
    wait_for(lambda: api.get(f"/stream-runs/{run_id}").json()["data"]["status"] == "COMPLETED", 60, "its run to end")
    assert _stream_series(api, "recon_stream_runs_total", sid) == {f'status="COMPLETED",stream_id="{sid}"': 1.0}
    assert _stream_series(api, "recon_stream_runs_active", sid) == {}


def test_a_reconciliation_starts_with_its_rule_set_as_it_is_at_the_start(api, uid):
    # created, then its rule set corrected (the amount must now match within 0.05), then started: the
    # correction is what it matches with (a rule set is pinned when its run starts, as for a stream run)
    rec, body = _create(api, uid)
    fixed = rule_set_body()
    fixed["passes"][0]["conditions"][1] = {"source": "amount", "target": "gross", "operator": "AMOUNT_TOLERANCE",
                                           "absolute": 0.05}
    r = api.put(f"/rule-sets/{body['ruleSetId']}", fixed)
    assert r.status_code == 200 and r.json()["data"]["version"] == 2, r.text
    run_id = api.get(f"/reconciliations/{rec['id']}").json()["data"]["runId"]
    assert api.get(f"/stream-runs/{run_id}/steps").json()["data"][0]["ruleSetVersion"] == 1   # as created
    assert api.post(f"/reconciliations/{rec['id']}/start").status_code == 200
    # pinned again by the start, shown at once (before a worker has taken the step)
    assert api.get(f"/stream-runs/{run_id}/steps").json()["data"][0]["ruleSetVersion"] == 2
    wait_for(lambda: api.get(f"/reconciliations/{rec['id']}/status").json()["data"]["status"] == "COMPLETED", 60,
             "the reconciliation to complete")
    full = api.get(f"/reconciliations/{rec['id']}").json()["data"]
    step_run = api.get(f"/stream-runs/{full['runId']}/steps").json()["data"][0]
    assert (step_run["ruleSetId"], step_run["ruleSetVersion"]) == (body["ruleSetId"], 2)
    assert full["matchedRecords"] == 2   # O2 (20.00 vs 20.01) matches within the corrected tolerance


def test_started_at_is_the_start_answers_from_the_start_on(api, stack_env, uid):
    """platform §7: start answers {id, status: IN_PROGRESS, startedAt}. The reconciliation reads IN_PROGRESS
    from then on, but its GET and list said startedAt null until a worker took its step, then that later
    time: never the startedAt the start answered. The step's claim is held back here (its row locked)."""
    import psycopg

    rec, _ = _create(api, uid)
    run_id = api.get(f"/reconciliations/{rec['id']}").json()["data"]["runId"]
    with psycopg.connect(stack_env["DATABASE_URL"]) as hold:
        hold.execute("SELECT 1 FROM recon.stream_step_runs WHERE run_id = %s FOR UPDATE", (run_id,))
        r = api.post(f"/reconciliations/{rec['id']}/start")
        assert r.status_code == 200, r.text
        started = r.json()["data"]
        assert started["status"] == "IN_PROGRESS" and started["startedAt"], started
        waiting = api.get(f"/reconciliations/{rec['id']}").json()["data"]
        listed = [x for x in api.get("/reconciliations", pageSize=100).json()["data"]["items"] if x["id"] == rec["id"]]
        assert (waiting["status"], waiting["startedAt"]) == ("IN_PROGRESS", started["startedAt"]), waiting
        assert [x["startedAt"] for x in listed] == [started["startedAt"]], listed
        hold.rollback()   # the worker takes the step now
    wait_for(lambda: api.get(f"/reconciliations/{rec['id']}/status").json()["data"]["status"] == "COMPLETED", 60,
             "the reconciliation to complete")
    done = api.get(f"/reconciliations/{rec['id']}").json()["data"]
    step_run = api.get(f"/stream-runs/{run_id}/steps").json()["data"][0]
    assert done["startedAt"] == started["startedAt"] <= step_run["startedAt"] <= done["completedAt"], (done, step_run)


def test_the_list_filters_by_legacy_status(api, db, stack_env, uid):
    """GET /reconciliations lists every step run of every stream: without a filter, finding the failed or
    running ones meant paging through all of them (a `status` was a 400 UNKNOWN_FIELD). `status` takes the
    five legacy statuses, as GET /reconciliations/{id} reads them."""
    import psycopg

    made = {}
    made["PENDING"] = _create(api, f"{uid}p")[0]["id"]
    made["CANCELED"] = _create(api, f"{uid}c")[0]["id"]
    assert api.post(f"/reconciliations/{made['CANCELED']}/cancel").status_code == 200
    made["COMPLETED"] = _create(api, f"{uid}d")[0]["id"]
    assert api.post(f"/reconciliations/{made['COMPLETED']}/start").status_code == 200
    wait_for(lambda: api.get(f"/reconciliations/{made['COMPLETED']}/status").json()["data"]["status"] == "COMPLETED",
             60, "the reconciliation to complete")
    made["FAILED"] = _create(api, f"{uid}f")[0]["id"]   # its run could not start (as the runtime records it)
    run_id = api.get(f"/reconciliations/{made['FAILED']}").json()["data"]["runId"]
    db.execute("UPDATE recon.stream_runs SET status = 'FAILED', completed_at = now(),"
               " error_message = 'the run could not be started: EndpointConnectionError' WHERE run_id = %s", (run_id,))
    db.execute("UPDATE recon.stream_step_runs SET status = 'SKIPPED' WHERE run_id = %s", (run_id,))
    made["IN_PROGRESS"] = _create(api, f"{uid}i")[0]["id"]
    run_id = api.get(f"/reconciliations/{made['IN_PROGRESS']}").json()["data"]["runId"]
    with psycopg.connect(stack_env["DATABASE_URL"]) as hold:   # started, its step not yet taken by a worker
        hold.execute("SELECT 1 FROM recon.stream_step_runs WHERE run_id = %s FOR UPDATE", (run_id,))
        assert api.post(f"/reconciliations/{made['IN_PROGRESS']}/start").status_code == 200
        for status in made:
            page = api.get("/reconciliations", status=status, pageSize=100).json()["data"]
            assert all(x["status"] == status for x in page["items"]), (status, page["items"])
            listed = {x["id"] for x in page["items"]}
            assert {s: rid in listed for s, rid in made.items()} == {s: s == status for s in made}, (status, made)
            assert page["totalItems"] >= len(page["items"]) >= 1 and page["pageSize"] == 100
        hold.rollback()
    assert_error(api.get("/reconciliations", status="RETRY_WAIT"), 400, "VALIDATION_ERROR", ("status", "INVALID_VALUE"))
