"""A catalog entry that Cassandra does not have — the table, or one of its columns — fails the job where
it is planned, with Cassandra's reason, as a PostgreSQL table that does not match the catalog does; it
used to be found by every segment, each failing three times (≈ 15 s) before the job failed.

In-process job engine: real PostgreSQL, the Cassandra side through the real driver (the CQL dev server,
or a cluster when CASSANDRA_HOSTS is set), the real worker handlers fed from SQS (moto)."""
from __future__ import annotations

import psycopg
import pytest

from chalicelib.cdc import jobs
from tests.integration.engine.conftest import (  # noqa: F401 - fixtures
    cassandra_endpoint,
    cql_session,
    database,
    drain,
    engine_env,
)

KS = "catcheck_it"
CATALOG = f"""
tables:
  parcels:
    cassandra: {{keyspace: {KS}, table: parcels}}
    postgres: {{schema: public, table: parcels}}
    partition_key: [id]
    columns:
      id: {{type: int}}
      weight: {{type: int}}
"""


@pytest.fixture
def world(engine_env, cql_session, database, tmp_path):
    (tmp_path / "catalog.yml").write_text(CATALOG)
    cql_session.execute(f"CREATE KEYSPACE IF NOT EXISTS {KS} WITH replication = "
                        f"{{'class': 'SimpleStrategy', 'replication_factor': 1}}")
    cql_session.execute(f"DROP TABLE IF EXISTS {KS}.parcels")
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("CREATE TABLE public.parcels (id int PRIMARY KEY, weight int, recon_token bigint)")
    yield cql_session, database
    cql_session.execute(f"DROP TABLE IF EXISTS {KS}.parcels")


def _job(url: str, job_id) -> tuple[dict, int]:
    with psycopg.connect(url, autocommit=True) as conn:
        job = conn.execute("SELECT status, phase, validation_errors, segment_count FROM recon.jobs"
                           " WHERE job_id = %s", (job_id,)).fetchone()
        segments = conn.execute("SELECT count(*) FROM recon.segments WHERE job_id = %s", (job_id,)).fetchone()[0]
    return dict(zip(("status", "phase", "validation_errors", "segment_count"), job)), segments


@pytest.mark.parametrize("strategy", ["CHECKSUM", "ROW_COUNT"])
def test_a_table_cassandra_does_not_have_fails_the_job_at_planning(world, strategy):
    _cql, url = world
    job_id = jobs.create_jobs(["parcels"], strategy, "HIGH", "MANUAL_ONDEMAND", "tester@example.com")[0]["job_id"]
    drain(deadline_s=60)
    job, segments = _job(url, job_id)
    assert job["status"] == "FAILED", job
    assert segments == 0, "no segment should have been planned"
    [reason] = job["validation_errors"]
    assert reason.startswith(f"planning failed: CassandraSchemaError: Cassandra table {KS}.parcels does not "
                             "match the catalog: "), reason
    assert "parcels" in reason.split("catalog: ", 1)[1], reason   # Cassandra's own words name the table


def test_a_column_cassandra_does_not_have_fails_the_job_at_planning(world):
    cql, url = world
    cql.execute(f"CREATE TABLE {KS}.parcels (id int PRIMARY KEY, mass int)")
    job_id = jobs.create_jobs(["parcels"], "CHECKSUM", "HIGH", "MANUAL_ONDEMAND", "tester@example.com")[0]["job_id"]
    drain(deadline_s=60)
    job, segments = _job(url, job_id)
    assert job["status"] == "FAILED" and segments == 0, job
    [reason] = job["validation_errors"]
    assert "does not match the catalog" in reason and "weight" in reason, reason


def test_a_table_that_matches_is_planned_and_compared(world):
    cql, url = world
    cql.execute(f"CREATE TABLE {KS}.parcels (id int PRIMARY KEY, weight int)")
    cql.execute(f"INSERT INTO {KS}.parcels (id, weight) VALUES (1, 5)")
    job_id = jobs.create_jobs(["parcels"], "CHECKSUM", "HIGH", "MANUAL_ONDEMAND", "tester@example.com")[0]["job_id"]
    drain(deadline_s=60)
    job, segments = _job(url, job_id)
    assert job["status"] == "COMPLETED" and segments > 0, job
