"""Latency of the read side on a large control plane: `python -m tests.integration.api.bench_read_side URL`.

Creates a scratch database on the server at URL, fills it with N mismatches (default 100,000) spread
over 3 tables and 300 jobs, then times the listing queries (through the HTTP handlers, in-process)
and a /metrics scrape. Prints median and p95 per case. Not part of the test run.
"""
from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
import uuid

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo


def fill(url: str, n_mismatches: int) -> str:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("""
            INSERT INTO recon.jobs (job_id, table_name, job_type, validation_strategy, priority, status, phase,
                created_at, started_at, completed_at, deadline_at, cassandra_row_count, postgres_row_count,
                mismatch_count, drift_percentage)
            SELECT gen_random_uuid(), (ARRAY['users','orders','products'])[1 + i % 3],
                   CASE WHEN i % 5 = 0 THEN 'MANUAL_ONDEMAND' ELSE 'HOURLY_SCHEDULED' END, 'CHECKSUM', 1,
                   CASE WHEN i % 50 = 0 THEN 'FAILED' ELSE 'COMPLETED' END, 'DONE',
                   t, t + interval '3 s', t + interval '3 s' + (i % 400) * interval '1 s', t + interval '1 h',
                   1000000, 999000, 1000, 0.1
            FROM generate_series(1, 300) AS i, LATERAL (SELECT now() - i * interval '1 hour' AS t) x
        """)
        conn.execute("""
            INSERT INTO recon.mismatches (mismatch_id, job_id, table_name, primary_key_value, primary_key,
                mismatch_type, cassandra_checksum, postgres_checksum, cassandra_data, postgres_data,
                detected_at, resolution_status)
            SELECT gen_random_uuid(), j.job_id, j.table_name, 'pk-' || g, jsonb_build_object('id', g),
                   (ARRAY['MISSING_IN_POSTGRES','MISSING_IN_CASSANDRA','DATA_MISMATCH'])[1 + g %% 3],
                   md5(g::text), md5((g + 1)::text),
                   jsonb_build_object('id', g, 'name', 'n' || g, 'email', 'u' || g || '@example.com'),
                   jsonb_build_object('id', g, 'name', 'm' || g, 'email', 'u' || g || '@example.com'),
                   j.created_at + (g %% 3600) * interval '1 ms',
                   (ARRAY['PENDING','PENDING','PENDING','AUTO_RESOLVED','IGNORED','MANUAL_RESOLVED'])[1 + g %% 6]
            FROM generate_series(1, %s) AS g
            JOIN LATERAL (SELECT job_id, table_name, created_at FROM recon.jobs
                          ORDER BY job_id OFFSET (g %% 300) LIMIT 1) j ON true
        """, (n_mismatches,))
        conn.execute("ANALYZE recon.jobs")
        conn.execute("ANALYZE recon.mismatches")
        conn.execute("VACUUM recon.mismatches")
        return str(conn.execute("SELECT job_id FROM recon.jobs ORDER BY created_at DESC OFFSET 7 LIMIT 1").fetchone()[0])


def main() -> int:
    server = sys.argv[1] if len(sys.argv) > 1 else os.environ["DATABASE_URL"]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
    name = f"recon_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    params = conninfo_to_dict(server)
    params["dbname"] = name
    url = make_conninfo(**params)
    try:
        from chalicelib.db.migrate import migrate

        migrate(url, log=lambda *_: None)
        started = time.perf_counter()
        job_id = fill(url, n)
        print(f"filled {n} mismatches in {time.perf_counter() - started:.1f} s")

        tmp = tempfile.mkdtemp()
        with open(f"{tmp}/catalog.yml", "w") as f:
            f.write("tables:\n" + "".join(
                f"  {t}:\n    cassandra: {{keyspace: k, table: {t}}}\n    postgres: {{table: {t}}}\n"
                f"    partition_key: [id]\n    columns: {{id: {{type: text}}}}\n" for t in ("users", "orders", "products")))
        os.environ.update(DATABASE_URL=url, CATALOG_PATH=f"{tmp}/catalog.yml", POWERTOOLS_LOG_LEVEL="ERROR")
        from chalice.test import Client

        import app as application
        from chalicelib.api.auth import create_key

        key, _ = create_key("bench@example.com")
        client = Client(application.app, project_dir=tmp)
        headers = {"Authorization": f"Bearer {key}"}
        cases = {
            "mismatches, no filter, page 1": "/api/v1/reconciliation/mismatches",
            "mismatches, page 1000 of 2000 (size 50)": "/api/v1/reconciliation/mismatches?page=1000",
            "mismatches, table=users": "/api/v1/reconciliation/mismatches?table=users",
            "mismatches, table+type+status": "/api/v1/reconciliation/mismatches?table=users&mismatch_type=DATA_MISMATCH&resolution_status=PENDING",
            "mismatches, job_id": f"/api/v1/reconciliation/mismatches?job_id={job_id}",
            "mismatches, last 24 h": "/api/v1/reconciliation/mismatches?from_date="
                                     + time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 86400)),
            "jobs, no filter": "/api/v1/reconciliation/jobs",
            "jobs, table+status": "/api/v1/reconciliation/jobs?table=orders&status=COMPLETED&page_size=100",
            "job detail (summary + sample)": f"/api/v1/reconciliation/jobs/{job_id}",
            "metrics scrape": "/api/v1/metrics",
        }
        for label, path in cases.items():
            times = []
            for _ in range(25):
                t = time.perf_counter()
                r = client.http.get(path, headers=headers)
                times.append((time.perf_counter() - t) * 1000)
                assert r.status_code == 200, (path, r.body[:300])
            times.sort()
            print(f"{label:45s} median {statistics.median(times):7.1f} ms   p95 {times[int(len(times) * 0.95) - 1]:7.1f} ms")
    finally:
        from chalicelib.db import pool

        pool.close_pool()
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    sys.exit(main())
