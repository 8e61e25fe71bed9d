"""A job that cannot run ends FAILED with a reason a person can act on, seen over HTTP: the job's
validation_errors, its counts null, its outcome counted by /metrics."""
from __future__ import annotations

import psycopg

from tests.e2e.conftest import Api
from tests.e2e.test_cdc_contract_http import TRIGGER, new_key


def test_a_job_on_a_dropped_postgres_table_fails_saying_so(stack, demo):
    own = Api(stack["url"], new_key(stack, "e2e-cdc-failures@recon.local"))
    # a job first, so the workers know the table (the failure must not depend on a fresh worker)
    first = own.wait_job(own.post(TRIGGER, {"tables": ["products"], "validation_strategy": "ROW_COUNT",
                                            "priority": "HIGH"}).json()["job_ids"][0])
    assert first["status"] == "COMPLETED", first
    url = stack["env"].get("TARGET_DATABASE_URL") or stack["env"]["DATABASE_URL"]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ALTER TABLE public.products RENAME TO products_renamed_by_test")
        try:
            r = own.post(TRIGGER, {"tables": ["products"], "validation_strategy": "CHECKSUM", "priority": "HIGH"})
            assert r.status_code == 202, r.text
            job = own.wait_job(r.json()["job_ids"][0])
        finally:
            conn.execute("ALTER TABLE public.products_renamed_by_test RENAME TO products")
    assert job["status"] == "FAILED", job
    assert job["validation_errors"] == [
        "planning failed: TargetSchemaError: PostgreSQL table public.products does not exist"], job
    assert (job["cassandra_row_count"], job["postgres_row_count"], job["mismatch_count"], job["drift_percentage"]) == (
        None, None, None, None)
    assert job["completed_at"] is not None and job["sample_mismatches"] == []
    # the table is back: the next job runs
    again = own.wait_job(own.post(TRIGGER, {"tables": ["products"], "validation_strategy": "ROW_COUNT",
                                            "priority": "HIGH"}).json()["job_ids"][0])
    assert again["status"] == "COMPLETED", again
