"""A job that cannot run ends FAILED with a reason a person can act on, seen over HTTP: the job's
validation_errors, its counts null, its outcome counted by /metrics; a job riding out an outage says
what it waits for while it runs."""
from __future__ import annotations

import os
import re
import signal
import subprocess

import psycopg
import pytest

from tests.e2e.conftest import ROOT, Api, poll
from tests.e2e.test_cdc_contract_http import TRIGGER, new_key
from tests.e2e.test_faults_postgres import _alive, _pg_env, _stack_dir, _wait


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


def test_a_job_waiting_for_an_unreachable_cassandra_says_so_while_it_runs(stack, demo):
    """Cassandra (the stack's CQL dev server) is down: the job stays RUNNING (it rides the outage out) and
    its validation_errors say what it is waiting for, within seconds, not only at its deadline an hour
    later; once Cassandra is back the job completes with validation_errors null."""
    pidfile = _stack_dir(stack) / "pids" / "cqlserver.pid"
    if not pidfile.exists():
        pytest.skip("Cassandra is not the stack's CQL dev server (CASSANDRA_HOSTS points elsewhere): cannot stop it")
    own = Api(stack["url"], new_key(stack, "e2e-cdc-failures@recon.local"))
    server = int(pidfile.read_text().strip())
    os.killpg(server, signal.SIGKILL)
    _wait(lambda: not _alive(server), 10, "the CQL server to die")
    try:
        r = own.post(TRIGGER, {"tables": ["users"], "validation_strategy": "CHECKSUM", "priority": "HIGH"})
        assert r.status_code == 202, r.text
        job_id = r.json()["job_ids"][0]
        job = poll(lambda: (lambda j: j if j["validation_errors"] else None)(
            own.get(f"/reconciliation/jobs/{job_id}").json()), 60, "the running job to say why it waits")
        assert job["status"] == "RUNNING", job
        (note,) = job["validation_errors"]
        assert re.fullmatch(r"retrying since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ: (planning|segment \d+): "
                            r"Cassandra unreachable: NoHostAvailable: .+", note), note
    finally:
        env = _pg_env(stack)
        env["DATABASE_URL"] = stack["env"]["DATABASE_URL"]
        env.pop("CASSANDRA_HOSTS", None)  # stack.sh starts its own CQL dev server only when none is given
        env.pop("CASSANDRA_PORT", None)
        started = subprocess.run(["bash", "scripts/stack.sh", "up", "--no-demo"], cwd=ROOT, env=env,
                                 capture_output=True, text=True, timeout=600)
        assert started.returncode == 0, started.stdout[-2000:] + started.stderr[-2000:]
    job = own.wait_job(job_id)
    assert job["status"] == "COMPLETED" and job["validation_errors"] is None, job
