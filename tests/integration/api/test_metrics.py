"""GET /api/v1/metrics and GET /metrics: the contract's metric names, types and labels, values computed
from what is in the control plane."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.api.conftest import T0, insert_job, insert_mismatch


def scrape(api, path="/api/v1/metrics") -> dict:
    r = api.get(path)
    assert r.status_code == 200, r.body
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = r.body.decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    return {"text": text, "families": families}


def samples(result, family) -> dict:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for s in result["families"][family].samples}


def test_metrics_are_computed_from_the_control_plane(api):
    # users: an older completed job, the latest completed one, a failed one and a running one
    insert_job(api, table="users", created_at=T0 - timedelta(hours=2), cassandra=900, postgres=890, mismatch_count=10,
               started_at=T0 - timedelta(hours=2), completed_at=T0 - timedelta(hours=2) + timedelta(seconds=8))
    latest = insert_job(api, table="users", created_at=T0 - timedelta(hours=1), cassandra=1_000_000, postgres=999_950,
                        mismatch_count=50, started_at=T0 - timedelta(hours=1),
                        completed_at=T0 - timedelta(hours=1) + timedelta(seconds=45))
    insert_job(api, table="users", status="FAILED", created_at=T0, started_at=T0, completed_at=T0 + timedelta(seconds=3600),
               cassandra=None)
    insert_job(api, table="users", status="RUNNING", created_at=T0 + timedelta(minutes=5))
    # orders: one completed job of 200 s
    insert_job(api, table="orders", cassandra=5_000_000, postgres=5_000_000, mismatch_count=0,
               started_at=T0, completed_at=T0 + timedelta(seconds=200))
    for i in range(30):
        insert_mismatch(api, latest, pk=f"p{i}", mtype="MISSING_IN_POSTGRES")
    for i in range(10):
        insert_mismatch(api, latest, pk=f"d{i}", mtype="DATA_MISMATCH", status="MANUAL_RESOLVED")

    m = scrape(api)
    fam = m["families"]
    # the CDC product's families (the streams product exposes its own recon_stream_* beside them)
    assert {n: f.type for n, f in fam.items() if n.startswith("cdc_")} == {
        "cdc_reconciliation_drift_percentage": "gauge",
        "cdc_reconciliation_cassandra_rows": "gauge",
        "cdc_reconciliation_postgres_rows": "gauge",
        "cdc_reconciliation_mismatches": "counter",
        "cdc_reconciliation_jobs_completed": "counter",
        "cdc_reconciliation_duration_seconds": "histogram",
    }
    # the exposition names the counters with _total, as the contract does
    assert "# TYPE cdc_reconciliation_mismatches_total counter" in m["text"]
    assert "# TYPE cdc_reconciliation_jobs_completed_total counter" in m["text"]

    assert samples(m, "cdc_reconciliation_drift_percentage") == {
        ("cdc_reconciliation_drift_percentage", (("table", "users"),)): pytest.approx(0.005),
        ("cdc_reconciliation_drift_percentage", (("table", "orders"),)): 0.0,
    }
    assert samples(m, "cdc_reconciliation_cassandra_rows") == {
        ("cdc_reconciliation_cassandra_rows", (("table", "users"),)): 1_000_000,
        ("cdc_reconciliation_cassandra_rows", (("table", "orders"),)): 5_000_000,
    }
    assert samples(m, "cdc_reconciliation_postgres_rows")[("cdc_reconciliation_postgres_rows", (("table", "users"),))] == 999_950

    mm = samples(m, "cdc_reconciliation_mismatches")
    assert mm[("cdc_reconciliation_mismatches_total", (("table", "users"), ("type", "MISSING_IN_POSTGRES")))] == 30
    assert mm[("cdc_reconciliation_mismatches_total", (("table", "users"), ("type", "DATA_MISMATCH")))] == 10
    assert mm[("cdc_reconciliation_mismatches_total", (("table", "users"), ("type", "MISSING_IN_CASSANDRA")))] == 0

    jobs = samples(m, "cdc_reconciliation_jobs_completed")
    assert jobs[("cdc_reconciliation_jobs_completed_total", (("status", "COMPLETED"), ("table", "users")))] == 2
    assert jobs[("cdc_reconciliation_jobs_completed_total", (("status", "FAILED"), ("table", "users")))] == 1
    assert jobs[("cdc_reconciliation_jobs_completed_total", (("status", "COMPLETED"), ("table", "orders")))] == 1

    h = samples(m, "cdc_reconciliation_duration_seconds")

    def bucket(table, le):
        return h[("cdc_reconciliation_duration_seconds_bucket", (("le", le), ("table", table)))]

    # users' completed jobs took 8 s and 45 s (the failed one is not a completion time)
    assert [bucket("users", le) for le in ("10", "30", "60", "+Inf")] == [1, 1, 2, 2]
    assert h[("cdc_reconciliation_duration_seconds_sum", (("table", "users"),))] == 53
    assert h[("cdc_reconciliation_duration_seconds_count", (("table", "users"),))] == 2
    assert [bucket("orders", le) for le in ("10", "30", "60", "120", "300", "+Inf")] == [0, 0, 0, 0, 1, 1]


def test_root_metrics_path_serves_the_same(api):
    insert_job(api, table="orders")
    assert scrape(api, "/metrics")["text"] == scrape(api)["text"]


def test_empty_control_plane_scrapes_fine(api):
    assert scrape(api)["families"]["cdc_reconciliation_mismatches"].samples == []


@pytest.mark.parametrize("path", ["/api/v1/metrics", "/metrics"])
def test_metrics_need_a_key(api, path):
    r = api.get(path, headers={})
    assert r.status_code == 401


CONTRACT_GAUGES = """\
# HELP cdc_reconciliation_drift_percentage Percentage of records out of sync
# TYPE cdc_reconciliation_drift_percentage gauge
cdc_reconciliation_drift_percentage{table="users"} 0.005
cdc_reconciliation_drift_percentage{table="orders"} 0.0
cdc_reconciliation_drift_percentage{table="products"} 0.12

# HELP cdc_reconciliation_cassandra_rows Total rows in Cassandra table
# TYPE cdc_reconciliation_cassandra_rows gauge
cdc_reconciliation_cassandra_rows{table="users"} 1000000
cdc_reconciliation_cassandra_rows{table="orders"} 5000000

# HELP cdc_reconciliation_postgres_rows Total rows in PostgreSQL table
# TYPE cdc_reconciliation_postgres_rows gauge
cdc_reconciliation_postgres_rows{table="users"} 999950
cdc_reconciliation_postgres_rows{table="orders"} 5000000

"""


def test_the_contracts_example_is_written_as_the_contract_writes_it(api):
    """The contract's exposition, byte for byte where its example is precise: tables in the catalog's
    order (users, orders, products), one blank line between families, counts without a fraction.
    products' only job is a SAMPLE (its counts are a sample's), so it has a drift but no row totals."""
    insert_job(api, table="users", cassandra=1_000_000, postgres=999_950, mismatch_count=50)
    insert_job(api, table="orders", cassandra=5_000_000, postgres=5_000_000, mismatch_count=0)
    insert_job(api, table="products", strategy="SAMPLE", cassandra=1000, postgres=999, mismatch_count=0, drift=0.12)
    text = scrape(api)["text"]
    assert text.startswith(CONTRACT_GAUGES), text
    cdc = text[:text.index("# HELP recon_stream")] if "# HELP recon_stream" in text else text
    families = cdc.strip("\n").split("\n\n")
    assert [f.splitlines()[0].split()[2] for f in families] == [
        "cdc_reconciliation_drift_percentage", "cdc_reconciliation_cassandra_rows", "cdc_reconciliation_postgres_rows",
        "cdc_reconciliation_mismatches_total", "cdc_reconciliation_jobs_completed_total",
        "cdc_reconciliation_duration_seconds"]
    assert 'cdc_reconciliation_jobs_completed_total{table="users",status="COMPLETED"} 1\n' \
           'cdc_reconciliation_jobs_completed_total{table="users",status="FAILED"} 0\n' \
           'cdc_reconciliation_jobs_completed_total{table="orders",status="COMPLETED"} 1\n' in text


def test_duration_histogram_counts_the_whole_seconds_the_jobs_show(api):
    """"Time to complete reconciliation" is the jobs' duration_seconds (completed_at - started_at as
    shown, whole seconds): a client adding up the listed durations gets _sum, and a job listed at 10 s
    is in the le="10" bucket even when it took 10.8 s to the microsecond."""
    insert_job(api, table="users", started_at=T0 + timedelta(seconds=0.1), completed_at=T0 + timedelta(seconds=10.9))
    insert_job(api, table="users", started_at=T0 + timedelta(seconds=0.9), completed_at=T0 + timedelta(seconds=31.2))
    listed = [j["duration_seconds"] for j in json.loads(api.get("/api/v1/reconciliation/jobs").body)["jobs"]]
    assert sorted(listed) == [10, 31]
    text = scrape(api)["text"]
    assert 'cdc_reconciliation_duration_seconds_bucket{table="users",le="5"} 0\n' \
           'cdc_reconciliation_duration_seconds_bucket{table="users",le="10"} 1\n' \
           'cdc_reconciliation_duration_seconds_bucket{table="users",le="30"} 1\n' \
           'cdc_reconciliation_duration_seconds_bucket{table="users",le="60"} 2\n' in text, text
    assert 'cdc_reconciliation_duration_seconds_sum{table="users"} 41\n' \
           'cdc_reconciliation_duration_seconds_count{table="users"} 2\n' in text, text


def test_mismatch_counters_start_at_zero_once_a_table_is_checked(api):
    """A table whose jobs found nothing exports its mismatch counters at 0 (Prometheus: a counter
    that appears only with its first increment hides that increment from rate() and increase())."""
    insert_job(api, table="orders", cassandra=5_000_000, postgres=5_000_000, mismatch_count=0)
    text = scrape(api)["text"]
    assert 'cdc_reconciliation_mismatches_total{table="orders",type="MISSING_IN_POSTGRES"} 0\n' \
           'cdc_reconciliation_mismatches_total{table="orders",type="MISSING_IN_CASSANDRA"} 0\n' \
           'cdc_reconciliation_mismatches_total{table="orders",type="DATA_MISMATCH"} 0\n' in text, text
    insert_job(api, table="users", status="RUNNING")  # a table whose first job still runs has no series yet
    assert 'table="users"' not in scrape(api)["text"].split("# HELP cdc_reconciliation_jobs_completed_total")[0]


def test_a_running_jobs_mismatches_count_when_it_ends_so_the_counter_never_goes_down(api):
    """A job's re-check can replace what its scans recorded (a row read under a wrong token is re-read by key
    when the job ends, and the scans' records of it are deleted): counted while the job ran, those records made
    cdc_reconciliation_mismatches_total go down (570 -> 566), which Prometheus reads as a counter reset. The
    records of a job count from the moment it ends."""
    def count():
        mm = samples(scrape(api), "cdc_reconciliation_mismatches")
        return mm.get(("cdc_reconciliation_mismatches_total", (("table", "users"), ("type", "MISSING_IN_CASSANDRA"))), 0)

    insert_job(api, table="users", mismatch_count=0)
    before = count()
    running = insert_job(api, table="users", status="RUNNING", completed_at=None)
    for i in range(3):
        insert_mismatch(api, running, pk=f"wrong-token-{i}", mtype="MISSING_IN_CASSANDRA")
    assert count() == before                     # the scans' records of a running job: not yet
    # the job ends: its re-check replaced one record (deleted) in the transaction that completes it
    api.sql("DELETE FROM recon.mismatches WHERE job_id = %s AND primary_key_value = 'wrong-token-0'", (running,))
    api.sql("UPDATE recon.jobs SET status = 'COMPLETED', completed_at = now() WHERE job_id = %s", (running,))
    assert count() == before + 2
