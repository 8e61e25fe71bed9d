"""Exceptions over HTTP: list with filters, get, PATCH with history (who = the API key's owner) and the
legacy reconciliation's exception list. Rows are written the way the step worker writes them, on a
real reconciliation's run."""
from __future__ import annotations

import json

import pytest

from tests.integration.streams.conftest import SOURCE_CSV, TARGET_CSV, assert_error, step, wait_for


@pytest.fixture
def reconciliation(api, db, uid):
    src = api.upload(f"ex_src_{uid}.csv", SOURCE_CSV)
    tgt = api.upload(f"ex_tgt_{uid}.csv", TARGET_CSV)
    rs = api.rule_set()
    r = api.post("/reconciliations", {"name": f"ex {uid}", "sourceFileId": src["id"], "targetFileId": tgt["id"],
                                      "ruleSetId": rs["id"]})
    assert r.status_code == 201, r.text
    rec = api.get(f"/reconciliations/{r.json()['data']['id']}").json()["data"]
    step_run = db.execute("SELECT step_run_id FROM recon.stream_step_runs WHERE reconciliation_id = %s",
                          (rec["id"],)).fetchone()["step_run_id"]
    rows = [("SOURCE", 1, "O2", {"order_id": "O2", "amount": "20.00"}, "TOLERANCE_EXCEEDED",
             {"rowKey": "T2", "pass": "Exact reference and amount", "failedCondition": "amount",
              "detail": "amount differs by 0.01; tolerance 0"}, 0),
            ("SOURCE", 2, "O3", {"order_id": "O3", "amount": "5.00"}, "NO_CANDIDATE", None, 0),
            ("TARGET", 1, "T2", {"txn_id": "T2", "gross": "20.01"}, "TOLERANCE_EXCEEDED", None, 40)]
    ids = []
    for side, no, key, data, reason, closest, age_days in rows:
        ids.append(db.execute(
            "INSERT INTO recon.stream_exceptions (stream_id, run_id, step_run_id, reconciliation_id, step_order, side,"
            " row_no, row_key, row_data, reason, closest_candidate, created_at)"
            " VALUES (%s, %s, %s, %s, 1, %s, %s, %s, %s, %s, %s, now() - make_interval(days => %s))"
            " RETURNING exception_id",
            (rec["streamId"], rec["runId"], step_run, rec["id"], side, no, key, json.dumps(data), reason,
             json.dumps(closest) if closest else None, age_days)).fetchone()["exception_id"])
    return {**rec, "exception_ids": ids}


def test_get_and_list_with_filters(api, reconciliation):
    rec = reconciliation
    o2, o3, t2 = rec["exception_ids"]
    e = api.get(f"/exceptions/{o2}").json()["data"]
    assert (e["id"], e["reconciliationId"], e["side"], e["rowKey"], e["reason"], e["status"]) == (
        o2, rec["id"], "SOURCE", "O2", "TOLERANCE_EXCEEDED", "OPEN")
    assert e["rowData"] == {"order_id": "O2", "amount": "20.00"}
    assert e["closestCandidate"]["failedCondition"] == "amount"
    assert (e["streamId"], e["runId"], e["assignee"], e["note"], e["resolvedBy"]) == (
        rec["streamId"], rec["runId"], None, None, None)

    def ids(**filters):
        return [x["id"] for x in api.get("/exceptions", runId=rec["runId"], **filters).json()["data"]["items"]]

    assert ids() == [o3, o2, t2]                     # newest first
    assert ids(reason="NO_CANDIDATE") == [o3]
    assert ids(status="OPEN") == [o3, o2, t2] and ids(status="RESOLVED") == []
    assert ids(olderThanDays=30) == [t2]
    assert [x["id"] for x in api.get("/exceptions", streamId=rec["streamId"]).json()["data"]["items"]] == [o3, o2, t2]
    page = api.get("/exceptions", runId=rec["runId"], pageSize=2, page=2).json()["data"]
    assert ([x["id"] for x in page["items"]], page["totalItems"], page["totalPages"]) == ([t2], 3, 2)
    assert_error(api.get("/exceptions", reason="LATE"), 400, "VALIDATION_ERROR", ("reason", "INVALID_VALUE"))
    assert_error(api.get("/exceptions", runId="x"), 400, "VALIDATION_ERROR", ("runId", "INVALID_TYPE"))
    assert_error(api.get("/exceptions/999999999"), 404, "NOT_FOUND")


def test_patch_keeps_history_with_the_key_owner(api, reconciliation):
    o2 = reconciliation["exception_ids"][0]
    r = api.patch(f"/exceptions/{o2}", {"assignee": "bob@example.com", "note": "checking with the marketplace"})
    assert r.status_code == 200, r.text
    e = r.json()["data"]
    assert (e["status"], e["assignee"], e["note"]) == ("OPEN", "bob@example.com", "checking with the marketplace")
    r = api.patch(f"/exceptions/{o2}", {"status": "RESOLVED", "note": "fee of 0.01 booked"})
    e = r.json()["data"]
    assert (e["status"], e["resolvedBy"]) == ("RESOLVED", api.owner) and e["resolvedAt"].endswith("Z")
    # the same values again: nothing changes, no history entry
    api.patch(f"/exceptions/{o2}", {"status": "RESOLVED"})
    api.patch(f"/exceptions/{o2}", {"assignee": None})
    page = api.get(f"/exceptions/{o2}/history").json()["data"]
    h = page["items"]
    # a list of the platform: paginated, newest first
    assert (page["page"], page["pageSize"], page["totalItems"], page["totalPages"]) == (1, 20, 3, 1)
    assert [x["changes"] for x in h] == [
        {"assignee": {"from": "bob@example.com", "to": None}},
        {"status": {"from": "OPEN", "to": "RESOLVED"}, "note": {"from": "checking with the marketplace", "to": "fee of 0.01 booked"}},
        {"assignee": {"from": None, "to": "bob@example.com"}, "note": {"from": None, "to": "checking with the marketplace"}}]
    # fields in the order platform §8 writes the PATCH body (status, note, assignee), not jsonb's
    assert [list(x["changes"]) for x in h] == [["assignee"], ["status", "note"], ["note", "assignee"]]
    assert {x["changedBy"] for x in h} == {api.owner} and all(x["exceptionId"] == o2 for x in h)
    assert [x["changedAt"] for x in h] == sorted((x["changedAt"] for x in h), reverse=True)
    second = api.get(f"/exceptions/{o2}/history", page=2, pageSize=2).json()["data"]
    assert [x["id"] for x in second["items"]] == [h[2]["id"]] and second["totalPages"] == 2
    assert [x["id"] for x in api.get("/exceptions", runId=reconciliation["runId"], status="RESOLVED")
            .json()["data"]["items"]] == [o2]
    assert [x["id"] for x in api.get("/exceptions", runId=reconciliation["runId"], assignee="bob@example.com")
            .json()["data"]["items"]] == []


def test_patch_validation(api, reconciliation):
    o3 = reconciliation["exception_ids"][1]
    body = assert_error(api.patch(f"/exceptions/{o3}", {}), 400, "VALIDATION_ERROR", ("body", "INVALID_VALUE"))
    assert body["message"] == "Request body must give at least one of status, note, assignee", body
    assert_error(api.patch(f"/exceptions/{o3}", {"status": "DONE"}), 400, "VALIDATION_ERROR", ("status", "INVALID_VALUE"))
    body = assert_error(api.patch(f"/exceptions/{o3}", {"status": None}), 400, "VALIDATION_ERROR",
                        ("status", "INVALID_VALUE"))   # the problem is located at its field
    assert body["message"] == "status: cannot be null (OPEN, RESOLVED or IGNORED)", body
    assert_error(api.patch(f"/exceptions/{o3}", {"resolution": "x"}), 400, "VALIDATION_ERROR",
                 ("resolution", "UNKNOWN_FIELD"))
    # white space names nobody: refused at its field (null clears the assignee), nothing recorded
    for blank in ("", "   ", "\t"):
        assert_error(api.patch(f"/exceptions/{o3}", {"assignee": blank}), 400, "VALIDATION_ERROR",
                     ("assignee", "TOO_SHORT" if blank == "" else "INVALID_VALUE"))
    assert_error(api.patch("/exceptions/999999999", {"status": "IGNORED"}), 404, "NOT_FOUND")
    assert_error(api.get("/exceptions/999999999/history"), 404, "NOT_FOUND")
    assert api.get(f"/exceptions/{o3}/history").json()["data"]["items"] == []


def test_reconciliation_exceptions(api, reconciliation):
    rec = reconciliation
    o2, o3, t2 = rec["exception_ids"]
    page = api.get(f"/reconciliations/{rec['id']}/exceptions").json()["data"]
    assert [x["id"] for x in page["items"]] == [o3, o2, t2] and page["totalItems"] == 3
    assert [x["id"] for x in api.get(f"/reconciliations/{rec['id']}/exceptions", side="TARGET")
            .json()["data"]["items"]] == [t2]
    assert [x["id"] for x in api.get(f"/reconciliations/{rec['id']}/exceptions", reason="TOLERANCE_EXCEEDED",
                                     side="SOURCE").json()["data"]["items"]] == [o2]
    api.patch(f"/exceptions/{o3}", {"status": "IGNORED"})
    assert [x["id"] for x in api.get(f"/reconciliations/{rec['id']}/exceptions", status="IGNORED")
            .json()["data"]["items"]] == [o3]
    assert_error(api.get(f"/reconciliations/{rec['id']}/exceptions", side="LEFT"), 400, "VALIDATION_ERROR",
                 ("side", "INVALID_VALUE"))
    assert_error(api.get("/reconciliations/999999999/exceptions"), 404, "NOT_FOUND")


def test_open_exceptions_of_a_stream_read_zero_once_all_are_closed(api, uid):
    # the gauge of a stream whose queue was emptied reads 0, it does not vanish from /metrics (nor does its
    # active-runs gauge once the run ended)
    src = api.upload(f"ex_m_src_{uid}.csv", SOURCE_CSV)
    tgt = api.upload(f"ex_m_tgt_{uid}.csv", TARGET_CSV)
    stream = api.stream({"name": f"open {uid}", "triggerType": "MANUAL",
                         "steps": [step(1, ("FILE", src["id"]), ("FILE", tgt["id"]), api.rule_set()["id"])]})

    def gauge(name="recon_stream_open_exceptions"):
        found = [line for line in api.get("/metrics").text.splitlines()
                 if line.startswith(f'{name}{{stream_id="{stream["id"]}"}} ')]
        return [float(line.split()[-1]) for line in found]

    assert gauge() == [0.0]                      # not run yet
    assert gauge("recon_stream_runs_active") == [0.0]   # idle streams read 0 runs active as well
    run_id = api.post(f"/streams/{stream['id']}/runs").json()["data"]["runId"]
    wait_for(lambda: api.get(f"/stream-runs/{run_id}").json()["data"]["status"] == "COMPLETED", 60, "the run")
    assert gauge("recon_stream_runs_active") == [0.0]
    open_ = api.get("/exceptions", runId=run_id, pageSize=100).json()["data"]["items"]
    assert open_ and gauge() == [float(len(open_))]
    for e in open_:
        assert api.patch(f"/exceptions/{e['id']}", {"status": "RESOLVED"}).status_code == 200
    assert gauge() == [0.0]


def test_a_deep_page_looks_up_who_closed_only_the_rows_it_shows(stack_env, reconciliation, monkeypatch):
    """platform §1/§8: GET /exceptions pages newest first over every exception. Who closed a row (resolvedBy/At)
    is looked up for the page's rows, not for every row the OFFSET skips (a deep page of 480,000 exceptions
    took 11 s). The query's plan is read back: each lookup runs at most pageSize times."""
    import psycopg
    from psycopg.rows import dict_row

    from chalicelib.streams import exceptions as ex

    seen: list[tuple[str, list]] = []
    real = ex.fetch_all

    def spy(c, sql, params=()):
        seen.append((sql, list(params)))
        return real(c, sql, params)

    monkeypatch.setattr(ex, "fetch_all", spy)
    with psycopg.connect(stack_env["DATABASE_URL"], row_factory=dict_row) as conn:   # rolled back at the end
        conn.execute("SET LOCAL statement_timeout = '60s'")
        # 3,000 more exceptions on the fixture's step run, then the page after the first 2,000 rows
        conn.execute("INSERT INTO recon.stream_exceptions (stream_id, run_id, step_run_id, reconciliation_id, step_order,"
                     " side, row_no, row_key, row_data, reason) SELECT stream_id, run_id, step_run_id, reconciliation_id,"
                     " 1, 'SOURCE', 100 + g, 'K' || g, '{}'::jsonb, 'NO_CANDIDATE' FROM recon.stream_exceptions,"
                     " generate_series(1, 3000) g WHERE exception_id = %s", (reconciliation["exception_ids"][0],))
        rows, total = ex.list_exceptions(reconciliation_id=reconciliation["id"], offset=2000, limit=20, conn=conn)
        assert total == 3003 and len(rows) == 20
        sql, params = seen[-1]
        plan = conn.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params).fetchone()
        plan = plan[next(iter(plan))][0]["Plan"]
        loops = []

        def walk(node):
            if node.get("Parent Relationship") == "SubPlan":
                loops.append(node["Actual Loops"])
            for child in node.get("Plans", []):
                walk(child)

        walk(plan)
        assert len(loops) == 2 and max(loops) <= 20, loops
        conn.rollback()


def test_a_change_is_one_instant_on_the_exception_and_in_its_history(api, db, reconciliation):
    """The exception's updatedAt (and resolvedAt) and the history entry's changedAt were two clock readings of
    one change: a few microseconds apart, so across a second's edge they read different seconds."""
    eid = reconciliation["exception_ids"][0]
    for body in ({"status": "RESOLVED", "note": "fee"}, {"assignee": "ops@example.com"}, {"status": "IGNORED"}):
        r = api.patch(f"/exceptions/{eid}", body)
        assert r.status_code == 200, r.text
        stored = db.execute(
            "SELECT e.updated_at, (SELECT h.changed_at FROM recon.stream_exception_history h WHERE h.exception_id ="
            " e.exception_id ORDER BY h.changed_at DESC, h.history_id DESC LIMIT 1) AS changed_at"
            " FROM recon.stream_exceptions e WHERE e.exception_id = %s", (eid,)).fetchone()
        assert stored["updated_at"] == stored["changed_at"], (body, stored)
        e = r.json()["data"]
        latest = api.get(f"/exceptions/{eid}/history").json()["data"]["items"][0]
        assert e["updatedAt"] == latest["changedAt"] == (e["resolvedAt"] if "status" in body else latest["changedAt"])
