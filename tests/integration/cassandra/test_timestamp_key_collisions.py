"""PostgreSQL rows whose timestamp key components fall in the same millisecond (Cassandra keeps
milliseconds, PostgreSQL microseconds): Cassandra can hold one of them, every other one is a row
without a counterpart and must be reported MISSING_IN_CASSANDRA under its own key, the same by every
strategy, the live-CDC re-check and the re-check of earlier mismatches (docs/decisions.md,
"Timestamp keys that collide below the millisecond").

In-process job engine: real PostgreSQL, the Cassandra side through the real driver (the CQL dev
server, or a cluster when CASSANDRA_HOSTS is set), the real worker handlers fed from SQS (moto)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from psycopg.rows import dict_row

from chalicelib.cassandra.tokens import token_for
from chalicelib.cdc import jobs
from tests.integration.engine.conftest import (  # noqa: F401 - fixtures
    cassandra_endpoint,
    cql_session,
    database,
    drain,
    engine_env,
)

KS = "tsk_it"
CATALOG = f"""
tables:
  ticks:
    cassandra: {{keyspace: {KS}, table: ticks}}
    postgres: {{schema: public, table: ticks}}
    partition_key: [tenant]
    clustering_key: [at]
    updated_at_column: updated_at
    columns:
      tenant: {{type: text}}
      at: {{type: timestamp}}
      title: {{type: text}}
      updated_at: {{type: timestamp}}
"""
T = datetime(2026, 11, 20, 13, 30, 0, tzinfo=timezone.utc)
WRITTEN = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=10)  # inside the last hour

# (tenant, at, title) on each side
CASSANDRA_ROWS = [
    ("a", T.replace(microsecond=123000), "one"),
    ("b", T.replace(microsecond=5000), "bee"),
    ("c", T.replace(microsecond=7000), "sea"),
    ("e", T.replace(microsecond=42000), "eel"),
]
OLD = WRITTEN - timedelta(days=3)                   # outside TIMESTAMP_RANGE's window
POSTGRES_ROWS = [
    ("a", T.replace(microsecond=123000), "one"),     # the counterpart of Cassandra's a|.123
    ("a", T.replace(microsecond=123456), "one"),     # same millisecond: no counterpart
    ("b", T.replace(microsecond=5000), "bee"),
    ("c", T.replace(microsecond=7250), "sea"),       # Cassandra's c|.007 copied with its microseconds: equal
    ("c", T.replace(microsecond=7900), "other"),     # same millisecond, other data: no counterpart
    ("d", T.replace(microsecond=9001), "dee"),       # alone, no Cassandra row at all
    ("d", T.replace(microsecond=9999), "dee"),       # same millisecond, no Cassandra row either
    ("e", T.replace(microsecond=42000), "eel", OLD),  # Cassandra's exact millisecond: the counterpart, older
    ("e", T.replace(microsecond=42456), "eel"),       # equal to Cassandra's row, but an extra one
]
EXTRA = {
    "a|2026-11-20T13:30:00.123456Z": "MISSING_IN_CASSANDRA",
    "c|2026-11-20T13:30:00.007900Z": "MISSING_IN_CASSANDRA",
    "d|2026-11-20T13:30:00.009001Z": "MISSING_IN_CASSANDRA",
    "d|2026-11-20T13:30:00.009999Z": "MISSING_IN_CASSANDRA",
    "e|2026-11-20T13:30:00.042Z": "DATA_MISMATCH",
    "e|2026-11-20T13:30:00.042456Z": "MISSING_IN_CASSANDRA",
}


def q(url, sql, *args):
    with psycopg.connect(url, row_factory=dict_row, autocommit=True) as conn:
        cur = conn.execute(sql, args)
        return cur.fetchall() if cur.description else []


@pytest.fixture
def world(engine_env, cql_session, database, tmp_path):
    (tmp_path / "catalog.yml").write_text(CATALOG)
    cql = cql_session
    cql.execute(f"CREATE KEYSPACE IF NOT EXISTS {KS} WITH replication = {{'class': 'SimpleStrategy', 'replication_factor': 1}}")
    cql.execute(f"DROP TABLE IF EXISTS {KS}.ticks")
    cql.execute(f"CREATE TABLE {KS}.ticks (tenant text, at timestamp, title text, updated_at timestamp,"
                f" PRIMARY KEY (tenant, at))")
    ins = cql.prepare(f"INSERT INTO {KS}.ticks (tenant, at, title, updated_at) VALUES (?, ?, ?, ?)")
    for tenant, at, title in CASSANDRA_ROWS:
        cql.execute(ins, (tenant, at, title, WRITTEN))
    q(database, "CREATE TABLE public.ticks (tenant text, at timestamptz, title text, updated_at timestamptz,"
                " recon_token bigint, PRIMARY KEY (tenant, at))")
    q(database, "CREATE INDEX ON public.ticks (recon_token)")
    for tenant, at, title, *written in POSTGRES_ROWS:
        q(database, "INSERT INTO public.ticks VALUES (%s, %s, %s, %s, %s)",
          tenant, at, title, (written or [WRITTEN])[0], token_for([tenant], ["text"]))
    yield database
    cql.execute(f"DROP TABLE IF EXISTS {KS}.ticks")


def run(strategy: str) -> str:
    job_id = jobs.create_jobs(["ticks"], strategy, "NORMAL", "MANUAL_ONDEMAND", "tester@example.com")[0]["job_id"]
    drain()
    return job_id


def found(url, job_id) -> dict:
    return {r["primary_key_value"]: r["mismatch_type"] for r in
            q(url, "SELECT primary_key_value, mismatch_type FROM recon.mismatches WHERE job_id = %s", job_id)}


def job_row(url, job_id) -> dict:
    return q(url, "SELECT * FROM recon.jobs WHERE job_id = %s", job_id)[0]


@pytest.mark.parametrize("strategy,wire", [("CHECKSUM", "1"), ("CHECKSUM", "0"), ("SAMPLE", "1"),
                                           ("TIMESTAMP_RANGE", "1")])
def test_every_row_without_a_counterpart_is_reported_under_its_own_key(world, engine_env, strategy, wire):
    engine_env(checksum_wire_comparison=wire)
    job_id = run(strategy)
    job = job_row(world, job_id)
    assert job["status"] == "COMPLETED", job["validation_errors"]
    assert found(world, job_id) == EXTRA
    rows = (4, 8) if strategy == "TIMESTAMP_RANGE" else (4, 9)   # the window leaves e's older row out
    assert (job["cassandra_row_count"], job["postgres_row_count"], job["mismatch_count"]) == (*rows, 6)
    rows = q(world, "SELECT primary_key, postgres_data, cassandra_data FROM recon.mismatches"
                    " WHERE job_id = %s AND primary_key_value = %s", job_id, "c|2026-11-20T13:30:00.007900Z")
    assert rows[0]["primary_key"] == ["c", "2026-11-20T13:30:00.007900Z"]
    assert rows[0]["postgres_data"]["title"] == "other" and rows[0]["cassandra_data"] is None


def test_a_later_job_keeps_them_pending_until_the_extra_row_is_gone(world):
    first = run("CHECKSUM")
    assert found(world, first) == EXTRA
    # nothing changed: the re-check of earlier mismatches (done by every job) must not resolve them
    second = run("SAMPLE")
    statuses = {r["primary_key_value"]: r["resolution_status"] for r in
                q(world, "SELECT primary_key_value, resolution_status FROM recon.mismatches WHERE job_id = %s", first)}
    assert statuses == dict.fromkeys(EXTRA, "PENDING")
    assert job_row(world, second)["auto_resolved_count"] == 0
    # the extra row of a is deleted; c's extra row becomes the only one of its millisecond but still has
    # other data than Cassandra's, so the pair is now c's counterpart (a DATA_MISMATCH under Cassandra's key)
    q(world, "DELETE FROM public.ticks WHERE tenant = 'a' AND at = %s", T.replace(microsecond=123456))
    q(world, "DELETE FROM public.ticks WHERE tenant = 'c' AND at = %s", T.replace(microsecond=7250))
    third = run("CHECKSUM")
    statuses = {r["primary_key_value"]: r["resolution_status"] for r in
                q(world, "SELECT primary_key_value, resolution_status FROM recon.mismatches WHERE job_id = %s", first)}
    assert statuses == {"a|2026-11-20T13:30:00.123456Z": "AUTO_RESOLVED",
                        "c|2026-11-20T13:30:00.007900Z": "AUTO_RESOLVED",
                        "d|2026-11-20T13:30:00.009001Z": "PENDING",
                        "d|2026-11-20T13:30:00.009999Z": "PENDING",
                        "e|2026-11-20T13:30:00.042Z": "PENDING",
                        "e|2026-11-20T13:30:00.042456Z": "PENDING"}
    assert found(world, third) == {"c|2026-11-20T13:30:00.007Z": "DATA_MISMATCH",
                                   "d|2026-11-20T13:30:00.009001Z": "MISSING_IN_CASSANDRA",
                                   "d|2026-11-20T13:30:00.009999Z": "MISSING_IN_CASSANDRA",
                                   "e|2026-11-20T13:30:00.042Z": "DATA_MISMATCH",
                                   "e|2026-11-20T13:30:00.042456Z": "MISSING_IN_CASSANDRA"}


def test_the_live_cdc_recheck_keeps_a_colliding_row_that_is_still_there(world, engine_env):
    engine_env(replication_lag_seconds=3600 * 24 * 3650, recheck_grace_seconds=0)   # every difference is a suspect
    job_id = run("CHECKSUM")
    job = job_row(world, job_id)
    assert job["status"] == "COMPLETED", job["validation_errors"]
    assert found(world, job_id) == EXTRA
    assert job["transient_count"] == 0
