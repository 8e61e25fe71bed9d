"""CDC reconciliation end to end: HTTP API → SQS (LocalStack) → local Lambda runner → workers →
Cassandra side + PostgreSQL → results over HTTP, checked against the demo generator's manifest."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import requests

from tests.e2e.conftest import expected_drift

TABLES = ("orders", "products", "users")


def trigger(api, tables, strategy, priority=None):
    body = {"tables": list(tables), "validation_strategy": strategy}
    if priority:
        body["priority"] = priority
    r = api.post("/reconciliation/trigger", body)
    assert r.status_code == 202, r.text
    return r.json()


@pytest.fixture(scope="module")
def checksum_jobs(api, demo):
    body = trigger(api, [], "CHECKSUM", "HIGH")  # empty list = every catalog table
    assert body["status"] == "RUNNING" and len(body["job_ids"]) == 3
    jobs = [api.wait_job(j) for j in body["job_ids"]]
    return {j["table_name"]: j for j in jobs}


def test_health_is_up(stack):
    r = requests.get(stack["url"] + "/health", timeout=30)
    assert r.status_code == 200, r.text
    assert {c["status"] for c in r.json()["checks"].values()} == {"UP"}


def test_checksum_reports_exactly_the_injected_drift(api, demo, checksum_jobs):
    for table in TABLES:
        job = checksum_jobs[table]
        assert job["status"] == "COMPLETED", job
        expected = expected_drift(demo, table)
        got = {m["primary_key_value"]: m["mismatch_type"] for m in api.mismatches(job_id=job["job_id"])}
        assert got == expected, table
        t = demo["tables"][table]
        assert (job["cassandra_row_count"], job["postgres_row_count"]) == (t["cassandra_rows"], t["postgres_rows"])
        assert job["mismatch_count"] == len(expected)
        assert job["drift_percentage"] == pytest.approx(100 * len(expected) / t["cassandra_rows"], abs=1e-6)
        assert job["mismatches_summary"] == {k: t[k] for k in ("MISSING_IN_POSTGRES", "MISSING_IN_CASSANDRA", "DATA_MISMATCH")}


def test_mismatch_records_explain_the_difference(api, checksum_jobs):
    rows = api.mismatches(job_id=checksum_jobs["users"]["job_id"], mismatch_type="DATA_MISMATCH")
    assert rows
    for m in rows:
        c, p = m["cassandra_data"], m["postgres_data"]
        assert c["user_id"] == p["user_id"] == m["primary_key_value"]
        assert [k for k in c if c[k] != p.get(k)], "a DATA_MISMATCH whose two sides are equal"
        assert m["cassandra_checksum"] != m["postgres_checksum"]
        assert c["updated_at"].endswith("Z")


def test_row_count(api, demo):
    job = api.wait_job(trigger(api, ["orders"], "ROW_COUNT")["job_ids"][0])
    t = demo["tables"]["orders"]
    assert job["status"] == "COMPLETED"
    assert (job["cassandra_row_count"], job["postgres_row_count"]) == (t["cassandra_rows"], t["postgres_rows"])
    assert job["mismatch_count"] == abs(t["cassandra_rows"] - t["postgres_rows"])


def test_timestamp_range_finds_recent_drift_of_all_types(api, demo, checksum_jobs):
    job = api.wait_job(trigger(api, ["users"], "TIMESTAMP_RANGE")["job_ids"][0])
    assert job["status"] == "COMPLETED", job
    since = datetime.fromisoformat(job["started_at"].replace("Z", "+00:00")) - timedelta(hours=1, seconds=5)

    def recent(m):
        stamps = [d["updated_at"] for d in (m["cassandra_data"], m["postgres_data"]) if d and d.get("updated_at")]
        return any(datetime.fromisoformat(s.replace("Z", "+00:00")) >= since for s in stamps)

    full = api.mismatches(job_id=checksum_jobs["users"]["job_id"])
    expected = {m["primary_key_value"]: m["mismatch_type"] for m in full if recent(m)}
    got = {m["primary_key_value"]: m["mismatch_type"] for m in api.mismatches(job_id=job["job_id"])}
    assert got == expected


def test_sample_reports_only_real_mismatches(api, demo):
    job = api.wait_job(trigger(api, ["products"], "SAMPLE", "LOW")["job_ids"][0])
    assert job["status"] == "COMPLETED", job
    expected = expected_drift(demo, "products")
    got = {m["primary_key_value"]: m["mismatch_type"] for m in api.mismatches(job_id=job["job_id"])}
    assert {k: expected.get(k) for k in got} == got  # no false positive, right types
    # 1000 distinct rows compared: each is on at least one side
    missing = sum(1 for t in got.values() if t != "DATA_MISMATCH")
    assert job["cassandra_row_count"] + job["postgres_row_count"] == 2 * 1000 - missing


def test_resolve_workflow(api, checksum_jobs):
    m = api.mismatches(job_id=checksum_jobs["orders"]["job_id"])[0]
    r = api.post(f"/reconciliation/mismatches/{m['mismatch_id']}/resolve",
                 {"resolution_status": "IGNORED", "resolution_notes": "soft delete upstream"})
    assert r.status_code == 200, r.text
    assert r.json()["resolved_by"] == "demo@recon.local" and r.json()["resolution_status"] == "IGNORED"
    r = api.post(f"/reconciliation/mismatches/{m['mismatch_id']}/resolve", {"resolution_status": "PENDING"})
    assert r.status_code == 400 and r.json()["error"] == "INVALID_STATUS_TRANSITION"
    assert r.json()["message"] == "Cannot change resolution_status from 'IGNORED' to 'PENDING'"
    listed = api.mismatches(job_id=checksum_jobs["orders"]["job_id"], resolution_status="IGNORED")
    assert [x["mismatch_id"] for x in listed] == [m["mismatch_id"]]


def test_metrics_reflect_the_latest_jobs(api, checksum_jobs):
    r = api.get("/metrics")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain")
    text = r.text
    users = checksum_jobs["users"]
    lines = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line and not line.startswith("#")}
    assert lines['cdc_reconciliation_cassandra_rows{table="users"}'] >= 0
    assert lines['cdc_reconciliation_jobs_completed_total{table="users",status="COMPLETED"}'] >= 1
    assert 'cdc_reconciliation_duration_seconds_bucket{table="users",le="+Inf"}' in lines
    assert lines['cdc_reconciliation_mismatches_total{table="users",type="MISSING_IN_POSTGRES"}'] >= users["mismatches_summary"]["MISSING_IN_POSTGRES"]


def test_errors_over_http(stack, api):
    r = requests.post(stack["url"] + "/reconciliation/trigger", json={"tables": ["users"], "validation_strategy": "CHECKSUM"}, timeout=30)
    assert r.status_code == 401 and r.json() == {"error": "UNAUTHORIZED", "message": "Invalid or missing API key"}
    r = api.post("/reconciliation/trigger", {"tables": ["nope"], "validation_strategy": "CHECKSUM"})
    assert r.status_code == 400 and r.json()["error"] == "INVALID_TABLE" and r.json()["valid_tables"] == ["users", "orders", "products"]
    r = api.get("/reconciliation/jobs/not-a-uuid")
    assert r.status_code == 400 and "job_id" in r.json()["message"]
    r = api.get("/reconciliation/jobs/550e8400-e29b-41d4-a716-446655440000")
    assert r.status_code == 404 and r.json()["error"] == "JOB_NOT_FOUND"
