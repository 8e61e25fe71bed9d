"""Every answer of the CDC reconciliation API has the contract's fields, types, enum values, timestamp
format and error bodies (contracts/cdc-reconciliation-api.md), seen over HTTP on the running stack."""
from __future__ import annotations

import re
import uuid

import pytest
import requests

from tests.e2e.test_cdc_contract_http import TRIGGER, new_key
from tests.e2e.conftest import Api

TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
JOB_FIELDS = {"job_id", "table_name", "job_type", "validation_strategy", "started_at", "completed_at",
              "duration_seconds", "status", "cassandra_row_count", "postgres_row_count", "mismatch_count",
              "drift_percentage", "alert_fired"}
MISMATCH_FIELDS = {"mismatch_id", "job_id", "table_name", "primary_key_value", "mismatch_type", "cassandra_checksum",
                   "postgres_checksum", "cassandra_data", "postgres_data", "detected_at", "resolution_status",
                   "resolution_notes", "resolved_at"}
TYPES = {"MISSING_IN_POSTGRES", "MISSING_IN_CASSANDRA", "DATA_MISMATCH"}
RESOLUTIONS = {"PENDING", "AUTO_RESOLVED", "MANUAL_RESOLVED", "IGNORED"}


def is_uuid(value) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except (TypeError, ValueError):
        return False


@pytest.fixture(scope="module")
def own(stack, demo):
    """A key of its own (the trigger limit is per key); the demo data loaded, with drift in every table."""
    return Api(stack["url"], new_key(stack, "e2e-cdc-shapes@recon.local"))


@pytest.fixture(scope="module")
def finished(own):
    """A CHECKSUM job of every table (the demo data has drift in each), finished."""
    r = own.post(TRIGGER, {"tables": [], "validation_strategy": "CHECKSUM", "priority": "HIGH"})
    assert r.status_code == 202, r.text
    body = r.json()
    assert set(body) == {"job_ids", "status", "message", "estimated_completion"}
    assert body["status"] == "RUNNING" and TS.match(body["estimated_completion"])
    assert len(body["job_ids"]) == 3 and all(is_uuid(j) for j in body["job_ids"])
    assert body["message"] == "Reconciliation jobs queued for 3 tables"
    jobs = [own.wait_job(j) for j in body["job_ids"]]
    assert [j["status"] for j in jobs] == ["COMPLETED"] * 3, jobs
    return jobs


def check_job(job: dict) -> None:
    assert JOB_FIELDS <= set(job), job
    assert is_uuid(job["job_id"]) and job["table_name"] in ("orders", "products", "users")
    assert job["job_type"] in ("HOURLY_SCHEDULED", "MANUAL_ONDEMAND")
    assert job["validation_strategy"] in ("ROW_COUNT", "CHECKSUM", "TIMESTAMP_RANGE", "SAMPLE")
    assert job["status"] in ("RUNNING", "COMPLETED", "FAILED")
    assert isinstance(job["alert_fired"], bool)
    assert TS.match(job["started_at"]), job  # RUNNING from its acceptance: never null
    if job["status"] == "COMPLETED":
        assert TS.match(job["started_at"]) and TS.match(job["completed_at"]), job
        assert job["started_at"] <= job["completed_at"]
        for k in ("duration_seconds", "cassandra_row_count", "postgres_row_count", "mismatch_count"):
            assert isinstance(job[k], int) and not isinstance(job[k], bool) and job[k] >= 0, (k, job)
        assert isinstance(job["drift_percentage"], float)
        if job["cassandra_row_count"]:
            assert job["drift_percentage"] == pytest.approx(100 * job["mismatch_count"] / job["cassandra_row_count"],
                                                            abs=1e-6)


def test_trigger_one_table_answers_one_job(own):
    r = own.post(TRIGGER, {"tables": ["users"], "validation_strategy": "ROW_COUNT"})
    assert r.status_code == 202, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert len(body["job_ids"]) == 1 and body["message"] == "Reconciliation job queued for 1 table"
    job = own.get(f"/reconciliation/jobs/{body['job_ids'][0]}").json()
    assert (job["table_name"], job["job_type"], job["validation_strategy"]) == ("users", "MANUAL_ONDEMAND", "ROW_COUNT")


def test_a_job_just_triggered_is_running_with_a_start_time(own):
    """The trigger answers RUNNING; read at once (the third job still waits for a worker), every job is
    RUNNING with a started_at and no completed_at or duration; later started_at only moves forward."""
    r = own.post(TRIGGER, {"tables": [], "validation_strategy": "SAMPLE", "priority": "LOW"})
    assert r.status_code == 202, r.text
    seen = [own.get(f"/reconciliation/jobs/{j}").json() for j in r.json()["job_ids"]]
    for job in seen:
        assert TS.match(job["started_at"] or ""), job
        if job["status"] == "RUNNING":
            assert (job["completed_at"], job["duration_seconds"]) == (None, None), job
    finished = [own.wait_job(j) for j in r.json()["job_ids"]]
    for early, late in zip(seen, finished):
        assert late["status"] == "COMPLETED" and late["started_at"] >= early["started_at"], (early, late)
        check_job(late)


def test_job_listing(own, finished):
    r = own.get("/reconciliation/jobs", status="COMPLETED", job_type="MANUAL_ONDEMAND", page=1, page_size=20)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"jobs", "pagination"}
    assert set(body["pagination"]) == {"page", "page_size", "total_pages", "total_items"}
    p = body["pagination"]
    assert (p["page"], p["page_size"]) == (1, 20)
    assert p["total_pages"] == -(-p["total_items"] // 20)
    assert 1 <= len(body["jobs"]) <= 20
    for job in body["jobs"]:
        check_job(job)
        assert job["status"] == "COMPLETED" and job["job_type"] == "MANUAL_ONDEMAND"
    users = own.get("/reconciliation/jobs", table="users").json()
    assert users["jobs"] and {j["table_name"] for j in users["jobs"]} == {"users"}
    defaults = own.get("/reconciliation/jobs").json()["pagination"]
    assert (defaults["page"], defaults["page_size"]) == (1, 50)
    assert own.get("/reconciliation/jobs", page_size=100).status_code == 200


def test_job_detail(own, finished):
    for job in finished:
        check_job(job)
        assert "validation_errors" in job and job["validation_errors"] is None
        assert set(job["mismatches_summary"]) == TYPES
        assert sum(job["mismatches_summary"].values()) == job["mismatch_count"]
        for m in job["sample_mismatches"]:
            assert is_uuid(m["mismatch_id"]) and m["mismatch_type"] in TYPES and TS.match(m["detected_at"])
            assert m["resolution_status"] in RESOLUTIONS and isinstance(m["primary_key_value"], str)
            if m["mismatch_type"] == "DATA_MISMATCH":
                assert m["cassandra_checksum"] != m["postgres_checksum"]
            assert set(m) <= {"mismatch_id", "primary_key_value", "mismatch_type", "cassandra_checksum",
                              "postgres_checksum", "detected_at", "resolution_status"}
    missing = str(uuid.uuid4())
    r = own.get(f"/reconciliation/jobs/{missing}")
    assert r.status_code == 404
    assert r.json() == {"error": "JOB_NOT_FOUND", "message": f"Reconciliation job with ID '{missing}' not found"}


def test_drift_is_the_contracts_formula_unrounded(own, finished):
    """drift_percentage = 100 x mismatch_count / cassandra_row_count, as a client computes it from the
    counts it is shown (18 of 2995 is 0.6010016694490818, not 0.601002), in the job and in /metrics."""
    from prometheus_client.parser import text_string_to_metric_families

    scraped = {s.labels["table"]: s.value for f in text_string_to_metric_families(own.get("/metrics").text)
               for s in f.samples if s.name == "cdc_reconciliation_drift_percentage"}
    for job in finished:
        assert job["cassandra_row_count"] > 0 and job["mismatch_count"] > 0, job
        assert job["drift_percentage"] == 100 * job["mismatch_count"] / job["cassandra_row_count"], job
        listed = own.get("/reconciliation/jobs", table=job["table_name"], page_size=100).json()["jobs"]
        assert next(j for j in listed if j["job_id"] == job["job_id"])["drift_percentage"] == job["drift_percentage"]
        # the gauge is the unrounded drift of a completed job of the table (the latest one when scraped)
        done = own.get("/reconciliation/jobs", table=job["table_name"], status="COMPLETED", page_size=100).json()["jobs"]
        assert scraped[job["table_name"]] in {100 * j["mismatch_count"] / j["cassandra_row_count"] if j["cassandra_row_count"]
                                              else j["drift_percentage"] for j in done}


def test_mismatch_listing(own, finished):
    users = next(j for j in finished if j["table_name"] == "users")
    r = own.get("/reconciliation/mismatches", table="users", mismatch_type="DATA_MISMATCH",
                resolution_status="PENDING", job_id=users["job_id"], page=1)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"mismatches", "pagination"}
    assert body["pagination"]["page_size"] == 50
    assert body["pagination"]["total_items"] == users["mismatches_summary"]["DATA_MISMATCH"] > 0
    for m in body["mismatches"]:
        assert MISMATCH_FIELDS <= set(m), m
        assert (m["job_id"], m["table_name"], m["mismatch_type"], m["resolution_status"]) == (
            users["job_id"], "users", "DATA_MISMATCH", "PENDING")
        assert isinstance(m["cassandra_data"], dict) and isinstance(m["postgres_data"], dict)
        assert isinstance(m["cassandra_checksum"], str) and isinstance(m["postgres_checksum"], str)
        assert m["resolution_notes"] is None and m["resolved_at"] is None
        assert TS.match(m["detected_at"])
    stamps = [m["detected_at"] for m in own.get("/reconciliation/mismatches", page_size=100).json()["mismatches"]]
    assert stamps == sorted(stamps, reverse=True)


def test_resolve(own, finished):
    orders = next(j for j in finished if j["table_name"] == "orders")
    m = own.get("/reconciliation/mismatches", job_id=orders["job_id"], resolution_status="PENDING").json()["mismatches"][0]
    path = f"/reconciliation/mismatches/{m['mismatch_id']}/resolve"
    notes = "Manually synced user data from Cassandra to PostgreSQL. Name change was legitimate."
    r = own.post(path, {"resolution_status": "MANUAL_RESOLVED", "resolution_notes": notes})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"mismatch_id", "resolution_status", "resolution_notes", "resolved_at", "resolved_by"}
    assert (body["mismatch_id"], body["resolution_status"], body["resolution_notes"]) == (
        m["mismatch_id"], "MANUAL_RESOLVED", notes)
    assert TS.match(body["resolved_at"]) and body["resolved_by"] == "e2e-cdc-shapes@recon.local"
    listed = own.get("/reconciliation/mismatches", job_id=orders["job_id"], resolution_status="MANUAL_RESOLVED").json()
    item = next(x for x in listed["mismatches"] if x["mismatch_id"] == m["mismatch_id"])
    assert (item["resolution_notes"], item["resolved_at"]) == (notes, body["resolved_at"])
    r = own.post(path, {"resolution_status": "PENDING"})
    assert r.status_code == 400
    assert r.json()["error"] == "INVALID_STATUS_TRANSITION"
    assert r.json()["message"] == "Cannot change resolution_status from 'MANUAL_RESOLVED' to 'PENDING'"
    r = own.post(path, {"resolution_status": "IGNORED", "resolution_notes": "x" * 1001})
    assert r.status_code == 400 and r.json()["error"] == "VALIDATION_ERROR" and "resolution_notes" in r.json()["message"]
    unknown = str(uuid.uuid4())
    r = own.post(f"/reconciliation/mismatches/{unknown}/resolve", {"resolution_status": "IGNORED"})
    assert r.status_code == 404
    assert r.json() == {"error": "MISMATCH_NOT_FOUND", "message": f"Mismatch with ID '{unknown}' not found"}


@pytest.mark.parametrize("method, path, body", [
    ("POST", TRIGGER, {"tables": ["users"], "validation_strategy": "CHECKSUM"}),
    ("GET", "/reconciliation/jobs", None),
    ("GET", "/reconciliation/jobs/550e8400-e29b-41d4-a716-446655440000", None),
    ("GET", "/reconciliation/mismatches", None),
    ("POST", "/reconciliation/mismatches/660e8400-e29b-41d4-a716-446655440001/resolve", {"resolution_status": "IGNORED"}),
    ("GET", "/metrics", None),
])
# (not the contracts' sample key test-api-key: every local stack accepts that one)
@pytest.mark.parametrize("authorization", [None, "Bearer no-such-api-key", "Bearer "])
def test_every_endpoint_needs_a_valid_key(stack, method, path, body, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    r = requests.request(method, stack["url"] + path, json=body, headers=headers, timeout=30)
    assert r.status_code == 401
    assert r.json() == {"error": "UNAUTHORIZED", "message": "Invalid or missing API key"}


@pytest.mark.parametrize("path, params, field", [
    ("/reconciliation/jobs", {"status": "DONE"}, "status"),
    ("/reconciliation/jobs", {"job_type": "WEEKLY"}, "job_type"),
    ("/reconciliation/jobs", {"page_size": "101"}, "page_size"),
    ("/reconciliation/jobs", {"page": "0"}, "page"),
    ("/reconciliation/jobs", {"from_date": "yesterday"}, "from_date"),
    ("/reconciliation/mismatches", {"mismatch_type": "MISSING"}, "mismatch_type"),
    ("/reconciliation/mismatches", {"resolution_status": "DONE"}, "resolution_status"),
    ("/reconciliation/mismatches", {"job_id": "42"}, "job_id"),
    ("/reconciliation/mismatches", {"to_date": "2025-02-30"}, "to_date"),
])
def test_bad_query_parameters_are_400_naming_them(own, path, params, field):
    r = own.get(path, **params)
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["error"] == "VALIDATION_ERROR" and field in body["message"]
    assert [d["field"] for d in body["details"]] == [field]


# ------------------------------------------------------------------ the contract's examples, verbatim

# the contract's example requests as written there, and the keys of its example answers
EXAMPLE_TRIGGER = """{
  "tables": ["users", "orders", "products"],
  "validation_strategy": "CHECKSUM",
  "priority": "HIGH"
}"""
EXAMPLE_JOBS = "/reconciliation/jobs?table=users&status=COMPLETED&from_date=2025-11-01T00:00:00Z&page=1&page_size=20"
EXAMPLE_MISMATCHES = "/reconciliation/mismatches?table=users&mismatch_type=DATA_MISMATCH&resolution_status=PENDING&page=1"
EXAMPLE_RESOLVE = """{
  "resolution_status": "MANUAL_RESOLVED",
  "resolution_notes": "Manually synced user data from Cassandra to PostgreSQL. Name change was legitimate."
}"""
DETAIL_FIELDS = JOB_FIELDS | {"validation_errors", "mismatches_summary", "sample_mismatches"}
SAMPLE_FIELDS = {"MISSING_IN_POSTGRES": {"mismatch_id", "primary_key_value", "mismatch_type", "detected_at",
                                         "resolution_status"},
                 "DATA_MISMATCH": {"mismatch_id", "primary_key_value", "mismatch_type", "cassandra_checksum",
                                   "postgres_checksum", "detected_at", "resolution_status"}}


def test_the_contracts_example_requests_sent_verbatim(own, finished):
    """Each example request of the contract, byte for byte, is answered with its documented status and
    every key of the documented example answer (additive keys aside: docs/api.md)."""
    headers = {"Content-Type": "application/json"}
    r = own.s.post(own.url + TRIGGER, data=EXAMPLE_TRIGGER, headers=headers, timeout=30)
    assert r.status_code == 202, r.text
    assert set(r.json()) == {"job_ids", "status", "message", "estimated_completion"}
    assert len(r.json()["job_ids"]) == 3 and r.json()["message"] == "Reconciliation jobs queued for 3 tables"
    [own.wait_job(j) for j in r.json()["job_ids"]]

    r = own.s.get(own.url + EXAMPLE_JOBS, timeout=30)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"jobs", "pagination"} and set(body["pagination"]) == {"page", "page_size", "total_pages",
                                                                                "total_items"}
    assert (body["pagination"]["page"], body["pagination"]["page_size"]) == (1, 20)
    assert 1 <= len(body["jobs"]) <= 20
    for job in body["jobs"]:
        assert set(job) == JOB_FIELDS, job   # a listing item has exactly the contract's keys
        assert (job["table_name"], job["status"]) == ("users", "COMPLETED") and job["started_at"] >= "2025-11-01T00:00:00Z"
        check_job(job)

    detail = own.get(f"/reconciliation/jobs/{body['jobs'][0]['job_id']}").json()
    assert DETAIL_FIELDS <= set(detail), detail
    assert list(detail["mismatches_summary"]) == ["MISSING_IN_POSTGRES", "MISSING_IN_CASSANDRA", "DATA_MISMATCH"]
    for m in detail["sample_mismatches"]:
        assert set(m) == SAMPLE_FIELDS.get(m["mismatch_type"], SAMPLE_FIELDS["MISSING_IN_POSTGRES"]), m

    r = own.s.get(own.url + EXAMPLE_MISMATCHES, timeout=30)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["pagination"]["page"], body["pagination"]["page_size"]) == (1, 50)
    assert body["mismatches"], "the demo data has DATA_MISMATCH rows in users"
    for m in body["mismatches"]:
        assert MISMATCH_FIELDS <= set(m), m
        assert (m["table_name"], m["mismatch_type"], m["resolution_status"]) == ("users", "DATA_MISMATCH", "PENDING")

    target = body["mismatches"][0]["mismatch_id"]
    r = own.s.post(f"{own.url}/reconciliation/mismatches/{target}/resolve", data=EXAMPLE_RESOLVE, headers=headers,
                   timeout=30)
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"mismatch_id", "resolution_status", "resolution_notes", "resolved_at", "resolved_by"}
    assert (r.json()["mismatch_id"], r.json()["resolution_status"]) == (target, "MANUAL_RESOLVED")

    # the error examples, whose ids belong to no job or mismatch here
    r = own.get("/reconciliation/jobs/550e8400-e29b-41d4-a716-446655440000")
    assert (r.status_code, r.json()) == (404, {
        "error": "JOB_NOT_FOUND", "message": "Reconciliation job with ID '550e8400-e29b-41d4-a716-446655440000' not found"})
    r = own.s.post(own.url + "/reconciliation/mismatches/660e8400-e29b-41d4-a716-446655440001/resolve",
                   data=EXAMPLE_RESOLVE, headers=headers, timeout=30)
    assert (r.status_code, r.json()) == (404, {
        "error": "MISMATCH_NOT_FOUND", "message": "Mismatch with ID '660e8400-e29b-41d4-a716-446655440001' not found"})
