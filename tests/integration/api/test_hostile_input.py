"""Input an attacker or a careless client sends: dates at the ends of the calendar, absurdly nested
JSON, NUL characters. Each is a contract-shaped 400 (or a normal answer), never a 500."""
from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from tests.integration.api.conftest import body, insert_job, insert_mismatch
from tests.integration.api.contract_schemas import check_against_document

JOBS = "/api/v1/reconciliation/jobs"
MISMATCHES = "/api/v1/reconciliation/mismatches"


@pytest.mark.parametrize("route", [JOBS, MISMATCHES])
@pytest.mark.parametrize("query", ["to_date=9999-12-31", "to_date=9999-12-31T23:59:59.999999Z",
                                   "to_date=9999-12-31T23:59:59Z", "from_date=0001-01-01&to_date=9999-12-31",
                                   "from_date=0001-01-01T00:00:00-14:00"])
def test_dates_at_the_end_of_the_calendar_are_answered(api, route, query):
    job = insert_job(api)
    insert_mismatch(api, job)
    r = api.get(f"{route}?{query}")
    assert r.status_code == 200, r.body
    data = body(r)
    assert data["pagination"]["total_items"] == 1
    check_against_document(data, route, "get", 200)


@pytest.mark.parametrize("route", [JOBS, MISMATCHES])
@pytest.mark.parametrize("name, value", [("from_date", "0001-01-01T00:00:00+14:00"),
                                         ("to_date", "0001-01-01T00:00:00+00:01"),
                                         ("from_date", "9999-12-31T23:59:59-00:01")])
def test_dates_outside_the_representable_range_are_400_naming_the_field(api, route, name, value):
    r = api.get(f"{route}?{name}={quote(value)}")
    assert r.status_code == 400, r.body
    data = body(r)
    assert data["error"] == "VALIDATION_ERROR"
    assert data["details"] == [{"field": name, "problem": data["details"][0]["problem"]}]
    assert "outside the representable range" in data["details"][0]["problem"]
    check_against_document(data, route, "get", 400)


def deep(n: int) -> str:
    return "[" * n + "]" * n


@pytest.mark.parametrize("raw", [deep(100_000), '{"tables":' + deep(100_000) + "}",
                                 '{"tables": [], "validation_strategy": "CHECKSUM", "x": ' + '{"a":' * 50_000 + "1" + "}" * 50_000 + "}"],
                         ids=["arrays", "in-a-field", "objects"])
def test_deeply_nested_trigger_body_is_400(api, raw):
    r = api.post("/api/v1/reconciliation/trigger", raw)
    assert r.status_code == 400, r.body[:300]
    data = body(r)
    assert data["error"] == "VALIDATION_ERROR" and data["details"][0]["field"] == "body"
    assert "nested too deeply" in data["details"][0]["problem"]
    check_against_document(data, "/api/v1/reconciliation/trigger", "post", 400)
    assert api.sent == []


def test_deeply_nested_resolve_body_is_400(api):
    mid = insert_mismatch(api, insert_job(api))
    path = f"/api/v1/reconciliation/mismatches/{mid}/resolve"
    r = api.post(path, deep(100_000))
    assert r.status_code == 400, r.body[:300]
    data = body(r)
    assert data["details"][0]["field"] == "body" and "nested too deeply" in data["details"][0]["problem"]
    check_against_document(data, "/api/v1/reconciliation/mismatches/{mismatch_id}/resolve", "post", 400)


def test_nul_character_in_resolution_notes_is_400_and_nothing_changes(api):
    mid = insert_mismatch(api, insert_job(api))
    path = f"/api/v1/reconciliation/mismatches/{mid}/resolve"
    r = api.post(path, {"resolution_status": "IGNORED", "resolution_notes": "a\u0000b"})
    assert r.status_code == 400, r.body
    data = body(r)
    assert data["error"] == "VALIDATION_ERROR"
    assert data["details"] == [{"field": "resolution_notes", "problem": "must not contain NUL (\\u0000) characters"}]
    check_against_document(data, "/api/v1/reconciliation/mismatches/{mismatch_id}/resolve", "post", 400)
    assert api.sql("SELECT resolution_status FROM recon.mismatches WHERE mismatch_id = %s", (mid,)) == [
        {"resolution_status": "PENDING"}]


@pytest.mark.parametrize("query", ["table=us%00ers", "to_date=2025-11-01%00", "job_id=%00"])
def test_nul_character_in_a_query_parameter_is_400(api, query):
    r = api.get(f"{MISMATCHES}?{query}")
    assert r.status_code == 400, r.body
    assert body(r)["error"] == "VALIDATION_ERROR"


def test_nul_character_in_a_table_name_is_400(api):
    r = api.post("/api/v1/reconciliation/trigger", {"tables": ["us\u0000ers"], "validation_strategy": "CHECKSUM"})
    assert r.status_code == 400, r.body
    assert body(r)["details"][0]["field"] == "tables[0]"
