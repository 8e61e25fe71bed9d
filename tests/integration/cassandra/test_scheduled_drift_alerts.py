"""The hourly schedule's drift alerts through the real job engine (docs/alerts.md, "Repeats and recovery"):
the second scheduled job of an unchanged drift does not fire again, an on-demand job does, and the job that
finds the table fixed closes the alert. Real PostgreSQL and the Cassandra side, the real worker handlers."""
from __future__ import annotations

from datetime import datetime, timezone

import psycopg
from psycopg.rows import dict_row

from chalicelib.cdc import jobs
from tests.integration.engine import tables
from tests.integration.engine.conftest import (  # noqa: F401 - fixtures
    cassandra_endpoint,
    cql_session,
    database,
    drain,
    engine_env,
)

HOOK = "http://127.0.0.1:9/hook"   # nothing listens: deliveries are planned, not delivered


def finish(url, job_type) -> dict:
    job_id = jobs.create_jobs(["kv"], "CHECKSUM", "NORMAL", job_type, None)[0]["job_id"]
    drain()
    with psycopg.connect(url, row_factory=dict_row) as conn:
        job = conn.execute("SELECT status, alert_fired, drift_percentage FROM recon.jobs WHERE job_id = %s",
                           (job_id,)).fetchone()
        events = [r["event"] for r in conn.execute(
            "SELECT event FROM recon.webhook_deliveries WHERE job_id = %s ORDER BY event", (job_id,))]
    assert job["status"] == "COMPLETED"
    return {"fired": job["alert_fired"], "events": events}


def test_the_schedule_pages_once_for_an_unchanged_drift(engine_env, cql_session, database, tmp_path):
    engine_env(webhook_urls=HOOK, drift_alert_threshold_percentage="1.0")
    (tmp_path / "catalog.yml").write_text(tables.CATALOG)
    tables.create(cql_session, database)
    rows, expected = tables.inject(tables.kv_rows(200, 9, datetime.now(timezone.utc)), 10, 4, 0, 0)  # 2 % drift
    tables.write_kv(cql_session, database, rows, pg_variant=tables.differ)
    assert finish(database, "HOURLY_SCHEDULED") == {"fired": True, "events": ["reconciliation.drift_detected",
                                                                            "reconciliation.job_completed"]}
    assert finish(database, "HOURLY_SCHEDULED") == {"fired": False, "events": ["reconciliation.job_completed"]}
    assert finish(database, "MANUAL_ONDEMAND")["fired"] is True
    with psycopg.connect(database, autocommit=True) as conn:   # the missing rows are replicated at last
        conn.execute("DELETE FROM public.kv")
    tables.write_kv(cql_session, database, [{k: v for k, v in r.items() if k != "_only"} for r in rows])
    assert finish(database, "HOURLY_SCHEDULED") == {"fired": False, "events": ["reconciliation.drift_resolved",
                                                                             "reconciliation.job_completed"]}
