"""The CDC reconciliation contract (contracts/cdc-reconciliation-api.md) as an outside client sees it:
HTTP against the running stack, answers compared with the document's statements."""
from __future__ import annotations

import re
import subprocess
import sys
import time

import pytest
import requests

from tests.e2e.conftest import ROOT, Api

TRIGGER = "/reconciliation/trigger"


def new_key(stack, owner: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "chalicelib.cli", "keys", "create", "--owner", owner, "--quiet"],
                          cwd=ROOT, env=stack["env"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


@pytest.fixture
def own_api(stack, demo):
    """A key of its own: the trigger limit is per key, other suites share the stack's key. The demo
    data (tables with drift on both sides) is loaded, so the jobs triggered here complete."""
    return Api(stack["url"], new_key(stack, "e2e-cdc-contract@recon.local"))


# ------------------------------------------------------------------------------------------ rate limit


def test_rejected_triggers_do_not_use_up_the_rate_limit(own_api):
    """"10 requests per minute per API key" limits reconciliations: a request that queues nothing
    (malformed, unknown table) is answered 400 and leaves the caller's ten triggers intact."""
    rejected = [
        {"tables": ["users"]},
        {"tables": ["users"], "validation_strategy": "FAST"},
        {"tables": ["no_such_table"], "validation_strategy": "ROW_COUNT"},
        {"tables": ["users"], "validation_strategy": "ROW_COUNT", "priority": "URGENT"},
    ] * 3
    for body in rejected:
        r = own_api.post(TRIGGER, body)
        assert r.status_code == 400, r.text
        assert r.json()["error"] in ("VALIDATION_ERROR", "INVALID_TABLE"), r.text
    for i in range(10):
        r = own_api.post(TRIGGER, {"tables": ["orders"], "validation_strategy": "ROW_COUNT", "priority": "LOW"})
        assert r.status_code == 202, (i, r.text)
    r = own_api.post(TRIGGER, {"tables": ["orders"], "validation_strategy": "ROW_COUNT"})
    assert r.status_code == 429, r.text
    body = r.json()
    assert body["error"] == "RATE_LIMIT_EXCEEDED"
    assert isinstance(body["retry_after"], int) and 1 <= body["retry_after"] <= 60
    assert body["message"] == f"Rate limit exceeded. Try again in {body['retry_after']} seconds."
    assert r.headers["Retry-After"] == str(body["retry_after"])
    # a malformed request is still told what is wrong with it while the limit is reached
    r = own_api.post(TRIGGER, {"tables": ["users"], "validation_strategy": "FAST"})
    assert r.status_code == 400 and r.json()["error"] == "VALIDATION_ERROR", r.text


# --------------------------------------------------------------------------------------------- metrics

SAMPLE = re.compile(r'^(?P<name>[a-z_]+)\{(?P<labels>[^}]*)\} (?P<value>\S+)$')


@pytest.fixture(scope="module")
def scraped(api, demo):
    """A finished job first, so every CDC family has series; then the exposition's CDC lines."""
    r = api.post(TRIGGER, {"tables": ["products"], "validation_strategy": "ROW_COUNT"})
    assert r.status_code == 202, r.text
    job = api.wait_job(r.json()["job_ids"][0])
    assert job["status"] == "COMPLETED", job
    r = api.get("/metrics")
    assert r.status_code == 200, r.text
    return [line for line in r.text.splitlines() if line.startswith("cdc_reconciliation_")]


def _labels(line: str) -> list[str]:
    m = SAMPLE.match(line)
    assert m, line
    return [kv.split("=", 1)[0] for kv in m["labels"].split(",")]


def test_metric_labels_are_in_the_contracts_order(scraped):
    """The contract writes {table="users",status="COMPLETED"}, {table="users",type=...} and
    {table="users",le="10"}: table first, a histogram's le last."""
    expected = {
        "cdc_reconciliation_drift_percentage": ["table"],
        "cdc_reconciliation_cassandra_rows": ["table"],
        "cdc_reconciliation_postgres_rows": ["table"],
        "cdc_reconciliation_mismatches_total": ["table", "type"],
        "cdc_reconciliation_jobs_completed_total": ["table", "status"],
        "cdc_reconciliation_duration_seconds_bucket": ["table", "le"],
        "cdc_reconciliation_duration_seconds_sum": ["table"],
        "cdc_reconciliation_duration_seconds_count": ["table"],
    }
    seen = set()
    for line in scraped:
        name = SAMPLE.match(line)["name"]
        assert _labels(line) == expected[name], line
        seen.add(name)
    assert seen >= set(expected) - {"cdc_reconciliation_mismatches_total"}  # mismatches need a drifting job
    assert any(re.fullmatch(r'cdc_reconciliation_jobs_completed_total\{table="products",status="COMPLETED"\} \d+', x)
               for x in scraped), scraped
    assert any(re.fullmatch(r'cdc_reconciliation_duration_seconds_bucket\{table="products",le="\+Inf"\} \d+', x)
               for x in scraped), scraped


def test_metric_counts_are_integers(scraped):
    """Row counts, counters and bucket counts are whole numbers, written as the contract writes them
    (`... 1000000`, `... 156`), not as floats (`1000000.0`)."""
    whole = ("cdc_reconciliation_cassandra_rows", "cdc_reconciliation_postgres_rows",
             "cdc_reconciliation_mismatches_total", "cdc_reconciliation_jobs_completed_total",
             "cdc_reconciliation_duration_seconds_bucket", "cdc_reconciliation_duration_seconds_count")
    checked = 0
    for line in scraped:
        m = SAMPLE.match(line)
        if m["name"] in whole:
            assert re.fullmatch(r"\d+", m["value"]), line
            checked += 1
        else:
            float(m["value"])
    assert checked >= 5


def test_metrics_parse_as_prometheus_text(stack, api, scraped):
    from prometheus_client.parser import text_string_to_metric_families

    text = api.get("/metrics").text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["cdc_reconciliation_jobs_completed"].type == "counter"
    assert families["cdc_reconciliation_duration_seconds"].type == "histogram"
    assert families["cdc_reconciliation_drift_percentage"].type == "gauge"
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in families.values() for s in f.samples}
    assert samples[("cdc_reconciliation_jobs_completed_total", (("status", "COMPLETED"), ("table", "products")))] >= 1


def test_metrics_need_the_api_key(stack):
    for path in ("/metrics",):
        r = requests.get(stack["url"] + path, timeout=30)
        assert r.status_code == 401
        assert r.json() == {"error": "UNAUTHORIZED", "message": "Invalid or missing API key"}


# ------------------------------------------------------------------------------------ job date filters


def test_job_date_filters_apply_to_the_started_at_the_listing_shows(own_api):
    """from_date/to_date (inclusive) select jobs by the time a client sees in the listing: a job's own
    started_at as both bounds finds it, and every job returned has a started_at inside the bounds.
    The listing is newest first by that same time."""
    ids = []
    for strategy in ("CHECKSUM", "ROW_COUNT") * 2:
        # requested in the last hundredths of a second (the stack runs on this host's clock), a job is
        # started by a worker in the next second: the two moments differ in the listing's precision
        while time.time() % 1 < 0.97:
            time.sleep(0.005)
        r = own_api.post(TRIGGER, {"tables": [], "validation_strategy": strategy, "priority": "LOW"})
        assert r.status_code == 202, r.text
        ids += r.json()["job_ids"]
    jobs = [own_api.wait_job(j) for j in ids]
    for job in jobs:
        assert job["status"] == "COMPLETED", job
        at = job["started_at"]
        r = own_api.get("/reconciliation/jobs", from_date=at, to_date=at, page_size=100)
        assert r.status_code == 200, r.text
        listed = r.json()["jobs"]
        assert job["job_id"] in [j["job_id"] for j in listed], (at, listed)
        assert {j["started_at"] for j in listed} == {at}, (at, listed)
    r = own_api.get("/reconciliation/jobs", page_size=100)
    shown = [j["started_at"] for j in r.json()["jobs"] if j["started_at"] is not None]
    assert shown == sorted(shown, reverse=True)


# ------------------------------------------------------------------------- table filters of the listings


@pytest.fixture
def retired_table(stack):
    """History of a table that is no longer in the catalog (replication of it was stopped): a finished
    job and one of its mismatches, as the engine left them in the control plane."""
    import uuid

    import psycopg

    table = f"retired_{uuid.uuid4().hex[:8]}"
    job_id, mismatch_id = uuid.uuid4(), uuid.uuid4()
    with psycopg.connect(stack["env"]["DATABASE_URL"], autocommit=True) as conn:
        conn.execute(
            "INSERT INTO recon.jobs (job_id, table_name, job_type, validation_strategy, priority, status, phase,"
            " requested_by, created_at, started_at, completed_at, deadline_at, cassandra_row_count,"
            " postgres_row_count, mismatch_count, drift_percentage)"
            " VALUES (%s, %s, 'MANUAL_ONDEMAND', 'CHECKSUM', 1, 'COMPLETED', 'DONE', 'ops@example.com',"
            " now() - interval '2 days', now() - interval '2 days', now() - interval '2 days' + interval '9 seconds',"
            " now() - interval '1 day', 10, 9, 1, 10.0)",
            (job_id, table),
        )
        conn.execute(
            "INSERT INTO recon.mismatches (mismatch_id, job_id, table_name, primary_key_value, primary_key,"
            " mismatch_type, cassandra_checksum, cassandra_data, detected_at, resolution_status)"
            " VALUES (%s, %s, %s, 'k-1', '{\"id\": \"k-1\"}', 'MISSING_IN_POSTGRES', 'abc', '{\"id\": \"k-1\"}',"
            " now() - interval '2 days', 'PENDING')",
            (mismatch_id, job_id, table),
        )
    yield table, str(job_id), str(mismatch_id)
    with psycopg.connect(stack["env"]["DATABASE_URL"], autocommit=True) as conn:
        conn.execute("DELETE FROM recon.jobs WHERE job_id = %s", (job_id,))  # its mismatches go with it


def test_history_of_a_table_no_longer_replicated_can_still_be_filtered(api, retired_table):
    """`table` filters the listings "by table name": the jobs and mismatches of a table removed from
    the catalog stay reachable; a name that is neither configured nor in the history is INVALID_TABLE."""
    table, job_id, mismatch_id = retired_table
    r = api.get("/reconciliation/jobs", table=table)
    assert r.status_code == 200, r.text
    assert [j["job_id"] for j in r.json()["jobs"]] == [job_id]
    r = api.get("/reconciliation/mismatches", table=table)
    assert r.status_code == 200, r.text
    assert [m["mismatch_id"] for m in r.json()["mismatches"]] == [mismatch_id]
    # a trigger only accepts configured tables
    r = api.post(TRIGGER, {"tables": [table], "validation_strategy": "CHECKSUM"})
    assert r.status_code == 400 and r.json()["error"] == "INVALID_TABLE", r.text
    for path in ("/reconciliation/jobs", "/reconciliation/mismatches"):
        r = api.get(path, table="no_such_table")
        assert r.status_code == 400, r.text
        assert r.json() == {"error": "INVALID_TABLE",
                            "message": "Table 'no_such_table' does not exist or is not configured for replication",
                            "valid_tables": ["users", "orders", "products"]}


def test_invalid_table_answer_is_the_contracts_example(own_api):
    """The contract's 400 example, byte for byte: `valid_tables` lists the configured tables in the
    catalog's order (users, orders, products), and a trigger of every table queues them in that order."""
    r = own_api.post(TRIGGER, {"tables": ["invalid_table"], "validation_strategy": "CHECKSUM"})
    assert r.status_code == 400, r.text
    assert r.content == (b'{"error":"INVALID_TABLE","message":"Table \'invalid_table\' does not exist or is not'
                         b' configured for replication","valid_tables":["users","orders","products"]}')
    assert own_api.get("/reconciliation/tables").json() == {"tables": ["users", "orders", "products"]}
    r = own_api.post(TRIGGER, {"tables": [], "validation_strategy": "ROW_COUNT", "priority": "LOW"})
    assert r.status_code == 202, r.text
    tables = [own_api.get(f"/reconciliation/jobs/{j}").json()["table_name"] for j in r.json()["job_ids"]]
    assert tables == ["users", "orders", "products"]


# ------------------------------------------------------------------------------------------- durations


def test_duration_is_the_difference_of_the_timestamps_shown(own_api):
    """The contract's job: started 14:00:00, completed 14:02:15, duration_seconds 135. A client that
    subtracts the two timestamps it is shown gets duration_seconds, for every finished job."""
    from datetime import datetime

    def at(s: str) -> datetime:
        return datetime.fromisoformat(s.replace("Z", "+00:00"))

    ids = []
    for strategy in ("CHECKSUM", "ROW_COUNT"):
        r = own_api.post(TRIGGER, {"tables": [], "validation_strategy": strategy})
        assert r.status_code == 202, r.text
        ids += r.json()["job_ids"]
    finished = [own_api.wait_job(j) for j in ids]
    finished += [j for j in own_api.get("/reconciliation/jobs", page_size=100).json()["jobs"] if j["completed_at"]]
    for job in finished:
        shown = (at(job["completed_at"]) - at(job["started_at"])).total_seconds()
        assert job["duration_seconds"] == shown, job


def _gauge(text: str, name: str, table: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and s.labels.get("table") == table:
                return s.value
    raise AssertionError(f"{name}{{table={table!r}}} not exported")


def test_row_gauges_are_table_totals_not_a_samples_size(own_api):
    """cdc_reconciliation_cassandra_rows / _postgres_rows are the "Total rows in ... table": a SAMPLE job
    (1000 rows compared) finishing after a CHECKSUM job does not replace the table's totals."""
    full = own_api.wait_job(own_api.post(TRIGGER, {"tables": ["users"], "validation_strategy": "CHECKSUM"}).json()["job_ids"][0])
    assert full["status"] == "COMPLETED", full
    assert full["cassandra_row_count"] > 1000, "the users table must be larger than a sample for this test"
    sample = own_api.wait_job(own_api.post(TRIGGER, {"tables": ["users"], "validation_strategy": "SAMPLE"}).json()["job_ids"][0])
    assert sample["status"] == "COMPLETED", sample
    assert sample["cassandra_row_count"] <= 1000
    text = own_api.get("/metrics").text
    assert _gauge(text, "cdc_reconciliation_cassandra_rows", "users") == full["cassandra_row_count"]
    assert _gauge(text, "cdc_reconciliation_postgres_rows", "users") == full["postgres_row_count"]
