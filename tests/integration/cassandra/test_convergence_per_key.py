"""Every job re-checks the table's earlier PENDING mismatches and marks converged ones AUTO_RESOLVED
(docs/decisions.md, "Live CDC"). A difference nobody fixes is recorded again by every job, so the oldest
PENDING mismatches soon are all copies of the same few keys: the re-check takes the oldest *keys*, so a key
fixed later is still reached. In-process job engine on real PostgreSQL and the Cassandra side."""
from __future__ import annotations

from datetime import datetime, timezone

import psycopg
import pytest
from psycopg.rows import dict_row

from chalicelib.cdc import jobs, rechecks
from tests.integration.engine import tables
from tests.integration.engine.conftest import (  # noqa: F401 - fixtures
    cassandra_endpoint,
    cql_session,
    database,
    drain,
    engine_env,
)


def q(url, sql, *args):
    with psycopg.connect(url, row_factory=dict_row, autocommit=True) as conn:
        cur = conn.execute(sql, args)
        return cur.fetchall() if cur.description else []


def run(url) -> str:
    job_id = jobs.create_jobs(["kv"], "CHECKSUM", "NORMAL", "MANUAL_ONDEMAND", None)[0]["job_id"]
    drain()
    assert q(url, "SELECT status FROM recon.jobs WHERE job_id = %s", job_id)[0]["status"] == "COMPLETED"
    return job_id


def test_a_key_fixed_after_older_unfixed_ones_is_still_auto_resolved(engine_env, cql_session, database, tmp_path,
                                                                    monkeypatch):
    monkeypatch.setattr(rechecks, "CONVERGENCE_BATCH", 3)   # 5000 in production: the same situation, sooner
    (tmp_path / "catalog.yml").write_text(tables.CATALOG)
    tables.create(cql_session, database)
    rows, expected = tables.inject(tables.kv_rows(200, 5, datetime.now(timezone.utc)), 6, 2, 0, 0)
    tables.write_kv(cql_session, database, rows, pg_variant=tables.differ)
    stuck = sorted(expected)                                 # two rows missing in PostgreSQL, never fixed
    run(database)
    run(database)                                            # 4 PENDING mismatches of the 2 stuck keys
    fixed = next(r["id"] for r in rows if r["id"] not in expected)
    (saved,) = q(database, "DELETE FROM public.kv WHERE id = %s RETURNING *", fixed)
    third = run(database)                                    # the third key drifts...
    if saved["attrs"] is not None:
        saved["attrs"] = psycopg.types.json.Jsonb(saved["attrs"])
    q(database, f"INSERT INTO public.kv ({', '.join(saved)}) VALUES ({', '.join(['%s'] * len(saved))})", *saved.values())
    fourth = run(database)                                   # ...and is fixed before the fourth job
    status = {(r["job_id"], r["primary_key_value"]): r["resolution_status"] for r in
              q(database, "SELECT job_id, primary_key_value, resolution_status FROM recon.mismatches")}
    assert status[(third, fixed)] == "AUTO_RESOLVED"
    assert [s for (j, k), s in status.items() if k in stuck] == ["PENDING"] * 8
    assert q(database, "SELECT auto_resolved_count FROM recon.jobs WHERE job_id = %s", fourth)[0]["auto_resolved_count"] == 1
