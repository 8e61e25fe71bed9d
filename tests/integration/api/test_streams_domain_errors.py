"""The streams routes answer the domain's NotFound / Conflict / Invalid in the platform's error shape:
404 NOT_FOUND `<Kind> <id> not found`, 409 CONFLICT with the domain's words, 400 VALIDATION_ERROR listing
every issue. Driven through the real app in-process on a real PostgreSQL; the state each 409 needs is
built through the API (files are registered directly: their bytes are not read by these checks)."""
from __future__ import annotations

import json
import uuid

import pytest

MISSING = 987654321
RULES = {"name": "Orders by reference", "sourceKey": "order_id", "targetKey": "txn_id", "passes": [
    {"name": "Reference", "cardinality": "ONE_TO_ONE", "conditions": [
        {"source": "order_id", "target": "order_ref", "operator": "EQUALS"}]}]}


def call(api, method: str, path: str, body=None, query: str = ""):
    headers = {**api.headers, "Content-Type": "application/json"}
    raw = b"" if body is None else json.dumps(body).encode()
    r = api.client.http.request(method, "/api/v1" + path + query, headers=headers, body=raw)
    return r.status_code, json.loads(r.body)


def error(status: int, code: str, message: str, errors=()) -> tuple[int, dict]:
    return status, {"success": False, "message": message, "data": None, "errorCode": code, "errors": list(errors)}


def step(source: int, target: int, rule_set: int, source_type: str = "FILE") -> list[dict]:
    return [{"stepOrder": 1, "name": "Orders vs marketplace", "sourceInput": {"type": source_type, "id": source},
             "targetInput": {"type": "FILE", "id": target}, "ruleSetId": rule_set}]


@pytest.fixture
def world(api):
    """Two READY uploads, an artifact, a rule set, a data source, and streams in every state a 409 needs."""
    from chalicelib.streams import files

    def register(name, origin, columns):
        return files.register_file(filename=name, origin=origin, s3_key=f"tests/{uuid.uuid4().hex}/{name}", size_bytes=10,
                                   sha256="0" * 64, row_count=1,
                                   columns=[{"name": c, "type": "VARCHAR"} for c in columns])["file_id"]

    w = {"src": register("orders.csv", "UPLOAD", ["order_id", "amount"]),
         "tgt": register("marketplace.csv", "UPLOAD", ["txn_id", "order_ref"]),
         "artifact": register("unmatched.csv", "ARTIFACT", ["order_id"])}

    def created(path, body):
        status, out = call(api, "POST", path, body)
        assert status == 201, out
        return out["data"]

    w["rs"] = created("/rule-sets", RULES)["id"]
    w["ds"] = created("/data-sources", {"name": "OMS orders", "type": "POSTGRES",
                                        "config": {"query": "SELECT 'O1'::text AS order_id"}})["id"]
    w["active"] = created("/streams", {"name": "Active", "steps": step(w["src"], w["tgt"], w["rs"])})["id"]
    w["on_ds"] = created("/streams", {"name": "On the data source",
                                      "steps": step(w["ds"], w["tgt"], w["rs"], "DATA_SOURCE_SNAPSHOT")})["id"]
    w["archived"] = created("/streams", {"name": "Archived", "steps": step(w["src"], w["tgt"], w["rs"])})["id"]
    assert call(api, "DELETE", f"/streams/{w['archived']}")[0] == 200
    w["paused"] = created("/streams", {"name": "Paused", "steps": step(w["src"], w["tgt"], w["rs"])})["id"]
    assert call(api, "POST", f"/streams/{w['paused']}/pause")[0] == 200
    # a legacy reconciliation: its implicit stream holds a PENDING run (created, not started)
    w["rec"] = created("/reconciliations", {"name": "Feb close", "sourceFileId": w["src"], "targetFileId": w["tgt"],
                                            "ruleSetId": w["rs"]})["id"]
    _, rec = call(api, "GET", f"/reconciliations/{w['rec']}")
    w["legacy_stream"], w["legacy_run"] = rec["data"]["streamId"], rec["data"]["runId"]
    return w


def test_every_route_answers_an_unknown_id_with_404_naming_it(api):
    cases = [
        ("POST", f"/files/{MISSING}/complete", None, "File"), ("GET", f"/files/{MISSING}", None, "File"),
        ("GET", f"/files/{MISSING}/download", None, "File"), ("DELETE", f"/files/{MISSING}", None, "File"),
        ("GET", f"/rule-sets/{MISSING}", None, "Rule set"), ("PUT", f"/rule-sets/{MISSING}", RULES, "Rule set"),
        ("DELETE", f"/rule-sets/{MISSING}", None, "Rule set"),
        ("GET", f"/data-sources/{MISSING}", None, "Data source"),
        ("PUT", f"/data-sources/{MISSING}", {"name": "x", "type": "POSTGRES", "config": {"table": "t"}},
         "Data source"),
        ("DELETE", f"/data-sources/{MISSING}", None, "Data source"),
        ("POST", f"/data-sources/{MISSING}/test", None, "Data source"),
        ("GET", f"/streams/{MISSING}", None, "Stream"), ("POST", f"/streams/{MISSING}/pause", None, "Stream"),
        ("POST", f"/streams/{MISSING}/resume", None, "Stream"), ("DELETE", f"/streams/{MISSING}", None, "Stream"),
        ("POST", f"/streams/{MISSING}/validate", None, "Stream"),
        ("POST", f"/streams/{MISSING}/runs", {"triggerType": "MANUAL"}, "Stream"),
        ("GET", f"/streams/{MISSING}/runs", None, "Stream"),
        ("GET", f"/stream-runs/{MISSING}", None, "Stream run"), ("GET", f"/stream-runs/{MISSING}/steps", None, "Stream run"),
        ("POST", f"/stream-runs/{MISSING}/cancel", None, "Stream run"),
        ("GET", f"/step-runs/{MISSING}/artifacts", None, "Step run"),
        ("GET", f"/exceptions/{MISSING}", None, "Exception"),
        ("PATCH", f"/exceptions/{MISSING}", {"note": "checked"}, "Exception"),
        ("GET", f"/exceptions/{MISSING}/history", None, "Exception"),
        ("GET", f"/reconciliations/{MISSING}", None, "Reconciliation"),
        ("POST", f"/reconciliations/{MISSING}/start", None, "Reconciliation"),
        ("GET", f"/reconciliations/{MISSING}/status", None, "Reconciliation"),
        ("POST", f"/reconciliations/{MISSING}/cancel", None, "Reconciliation"),
        ("GET", f"/reconciliations/{MISSING}/exceptions", None, "Reconciliation"),
    ]
    for method, path, body, kind in cases:
        assert call(api, method, path, body) == error(404, "NOT_FOUND", f"{kind} {MISSING} not found"), (method, path)


def test_unknown_ids_inside_a_definition(api, world):
    w = world
    assert call(api, "GET", f"/rule-sets/{w['rs']}", query="?version=7") == error(
        404, "NOT_FOUND", f"Rule set {w['rs']} version 7 not found")
    assert call(api, "PUT", f"/streams/{MISSING}", {"name": "x", "steps": step(w["src"], w["tgt"], w["rs"])}) == \
        error(404, "NOT_FOUND", f"Stream {MISSING} not found")


def test_conflicts_answer_409_with_the_reason(api, world):
    w = world
    same_steps = {"name": "Renamed", "steps": step(w["src"], w["tgt"], w["rs"])}
    expected = [
        (("DELETE", f"/files/{w['src']}"),
         f"File {w['src']} is in use by reconciliation {w['rec']}, stream {w['active']} step 1, "
         f"stream {w['paused']} step 1"),
        (("POST", f"/files/{w['artifact']}/complete"), f"File {w['artifact']} is an artifact, not an upload session"),
        (("POST", f"/files/{w['tgt']}/complete"),
         f"File {w['tgt']} was uploaded directly (POST /api/v1/files): it has no upload session to complete;"
         " its status is READY"),
        (("DELETE", f"/rule-sets/{w['rs']}"),
         f"Rule set {w['rs']} is in use by reconciliation {w['rec']}, stream {w['active']}, stream {w['on_ds']}, "
         f"stream {w['paused']}"),
        (("DELETE", f"/data-sources/{w['ds']}"), f"Data source {w['ds']} is in use by stream {w['on_ds']}"),
        (("PUT", f"/streams/{w['archived']}", same_steps), f"Stream {w['archived']} is ARCHIVED and cannot be changed"),
        (("POST", f"/streams/{w['archived']}/pause"), f"Stream {w['archived']} is ARCHIVED and cannot be paused"),
        (("POST", f"/streams/{w['archived']}/resume"), f"Stream {w['archived']} is ARCHIVED and cannot be resumed"),
        (("POST", f"/streams/{w['archived']}/runs", {}), f"Stream {w['archived']} is ARCHIVED: only an ACTIVE stream can run"),
        (("POST", f"/streams/{w['paused']}/runs", {}), f"Stream {w['paused']} is PAUSED: only an ACTIVE stream can run"),
        (("PUT", f"/streams/{w['legacy_stream']}", same_steps),
         f"Stream {w['legacy_stream']} belongs to a legacy reconciliation and cannot be edited"),
        (("POST", f"/streams/{w['legacy_stream']}/pause"),
         f"Stream {w['legacy_stream']} belongs to a legacy reconciliation: use /reconciliations"),
        (("DELETE", f"/streams/{w['legacy_stream']}"),
         f"Stream {w['legacy_stream']} belongs to a legacy reconciliation: use /reconciliations"),
        (("POST", f"/streams/{w['legacy_stream']}/runs", {}),
         f"Stream {w['legacy_stream']} belongs to a legacy reconciliation: use /reconciliations"),
    ]
    for request, message in expected:
        assert call(api, *request) == error(409, "CONFLICT", message), request


def test_finished_runs_and_reconciliations_conflict(api, world):
    w = world
    # the run ends (as its worker would record it); starting or canceling it again is a conflict
    api.sql("UPDATE recon.stream_runs SET status = 'CANCELED', completed_at = now() WHERE run_id = %s",
            (w["legacy_run"],))
    assert call(api, "POST", f"/stream-runs/{w['legacy_run']}/cancel") == error(
        409, "CONFLICT", f"Stream run {w['legacy_run']} is already CANCELED")
    assert call(api, "POST", f"/reconciliations/{w['rec']}/start") == error(
        409, "CONFLICT", f"Reconciliation {w['rec']} was canceled before it started (CANCELED): "
        "create a new one to run it")
    assert call(api, "POST", f"/reconciliations/{w['rec']}/cancel") == error(
        409, "CONFLICT", f"Reconciliation {w['rec']} is already CANCELED")


def problem(field, code, message):
    return {"field": field, "code": code, "message": message}


def test_invalid_definitions_list_every_issue(api, world):
    w = world
    # a stream: the message is the domain's summary of its first issue
    status, body = call(api, "POST", "/streams", {"name": "x", "steps": step(MISSING, w["tgt"], MISSING)})
    assert (status, body["errorCode"], body["data"]) == (400, "VALIDATION_ERROR", None)
    assert body["message"] == f"Step 1: source file {MISSING} not found (and 1 more problem(s))"
    assert [(e["field"], e["code"]) for e in body["errors"]] == [
        ("steps[0].sourceInput.id", "FILE_NOT_FOUND"), ("steps[0].ruleSetId", "RULE_SET_NOT_FOUND")]
    # a data source's config: the message names the first field
    status, body = call(api, "POST", "/data-sources", {"name": "x", "type": "POSTGRES",
                                                       "config": {"tabel": "t", "x": 1}})
    assert status == 400 and body["message"] == "config.tabel: is not a known field (and 1 more problem(s))"
    assert body["errors"][:2] == [problem("config.tabel", "UNKNOWN_FIELD", "is not a known field"),
                                  problem("config.x", "UNKNOWN_FIELD", "is not a known field")]
    # checked before the id: an invalid config for an unknown data source is a 400, not a 404
    status, body = call(api, "PUT", f"/data-sources/{MISSING}", {"name": "x", "type": "CDC_TABLE",
                                                                 "config": {"table": "nope"}})
    assert status == 400 and body["errors"] == [problem(
        "config.table", "INVALID_VALUE", "'nope' is not a table of the CDC catalog (tables: users, orders, products)")]
    assert body["message"] == "config.table: 'nope' is not a table of the CDC catalog (tables: users, orders, products)"
    # a legacy reconciliation: the request's field names
    status, body = call(api, "POST", "/reconciliations", {"name": "x", "sourceFileId": w["src"],
                                                          "targetFileId": w["tgt"], "ruleSetId": MISSING})
    assert (status, body["message"]) == (400, f"ruleSetId: rule set {MISSING} not found")
    assert [e["field"] for e in body["errors"]] == ["ruleSetId"]
