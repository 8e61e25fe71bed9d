"""Fixtures for the reconciliation API tests: a private database on a real PostgreSQL, the Chalice
app driven in-process, an API key, a small catalog, and SQS sending replaced by a recorder (the only
thing stubbed)."""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from tests.pgcluster import database_url_or_cluster, fresh_database
from psycopg.types.json import Jsonb

CATALOG_YAML = """
tables:
  users:
    cassandra: {keyspace: app, table: users}
    postgres: {schema: public, table: users}
    partition_key: [user_id]
    columns:
      user_id: {type: text}
      name: {type: text}
  orders:
    cassandra: {keyspace: app, table: orders}
    postgres: {schema: public, table: orders}
    partition_key: [order_id]
    columns:
      order_id: {type: uuid}
      total: {type: decimal}
  products:
    cassandra: {keyspace: app, table: products}
    postgres: {schema: public, table: products}
    partition_key: [sku]
    columns:
      sku: {type: text}
      price: {type: decimal}
"""
CATALOG_TABLES = ["users", "orders", "products"]  # the catalog's order (as in the contract's example)
OWNER = "alice@example.com"


@pytest.fixture(scope="session")
def server_url(tmp_path_factory):
    """A PostgreSQL server: DATABASE_URL when set, otherwise a private cluster."""
    url, stop = database_url_or_cluster(tmp_path_factory.mktemp("api-pg"))
    yield url
    stop()


@pytest.fixture(scope="session")
def database_url(server_url):
    """A database of our own on that server (created, migrated, dropped), so totals are exact."""
    from chalicelib.db.migrate import migrate

    with fresh_database(server_url, "recon_api") as url:
        migrate(url, log=lambda *_: None)
        yield url


@dataclass
class Api:
    client: object
    key: str
    key_id: uuid.UUID
    database_url: str
    sent: list = field(default_factory=list)

    @property
    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.key}"}

    def get(self, path: str, headers: dict | None = None):
        return self.client.http.get(path, headers=self.headers if headers is None else headers)

    def post(self, path: str, body, headers: dict | None = None):
        h = {**self.headers, "Content-Type": "application/json"} if headers is None else headers
        raw = body if isinstance(body, (bytes, str)) else json.dumps(body)
        return self.client.http.post(path, headers=h, body=raw)

    def sql(self, statement: str, params=None) -> list[dict]:
        with psycopg.connect(self.database_url, autocommit=True, row_factory=psycopg.rows.dict_row) as conn:
            cur = conn.execute(statement, params)
            return cur.fetchall() if cur.description else []


def body(response) -> dict:
    return json.loads(response.body)


@pytest.fixture
def settings_env(database_url, tmp_path, monkeypatch):
    """Service settings for one test; returns a function to change them (re-reads settings)."""
    from chalicelib.cdc.catalog import get_catalog
    from chalicelib.config import reset_settings

    catalog = tmp_path / "catalog.yml"
    catalog.write_text(CATALOG_YAML)
    values = {
        "DATABASE_URL": database_url,
        "CATALOG_PATH": str(catalog),
        "RECONCILIATION_ENABLED": "true",
        "RATE_LIMIT_TRIGGER_PER_MINUTE": "10",
        "SAMPLE_MISMATCHES_IN_JOB": "20",
        "DB_POOL_MAX": "4",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }

    def set_env(**changes):
        values.update({k.upper(): str(v) for k, v in changes.items()})
        for k, v in values.items():
            monkeypatch.setenv(k, v)
        reset_settings()
        get_catalog.cache_clear()

    set_env()
    yield set_env
    reset_settings()
    get_catalog.cache_clear()


@pytest.fixture
def api(settings_env, database_url, tmp_path, monkeypatch):
    from chalice.test import Client

    import app as application
    from chalicelib import aws
    from chalicelib.api.auth import create_key
    from chalicelib.db import pool

    pool.close_pool()
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("TRUNCATE recon.jobs, recon.mismatches, recon.rate_limit_events, recon.api_keys CASCADE")

    sent: list = []
    monkeypatch.setattr(aws, "send_messages", lambda queue, bodies: sent.extend((queue, b) for b in bodies))
    monkeypatch.setattr(aws, "send_message", lambda queue, b, delay_seconds=0: sent.append((queue, b)) or "m-1")

    key, key_id = create_key(OWNER)
    # an empty project dir: no .chalice stage variables are layered over the test's environment
    project = tmp_path / "chalice-project"
    project.mkdir()
    client = Client(application.app, project_dir=str(project))
    yield Api(client=client, key=key, key_id=key_id, database_url=database_url, sent=sent)
    pool.close_pool()


# ------------------------------------------------------------------------------------ data builders

T0 = datetime(2025, 11, 20, 12, 0, 0, tzinfo=timezone.utc)


def insert_job(api: Api, *, table="users", job_type="MANUAL_ONDEMAND", strategy="CHECKSUM", status="COMPLETED",
               priority=1, created_at=T0, started_at="auto", completed_at="auto", cassandra=1000, postgres=1000,
               mismatch_count=0, drift=None, alert_fired=False, validation_errors=None, segment_count=16,
               segments_done=16, transient_count=0, auto_resolved_count=0, job_id=None) -> str:
    job_id = job_id or str(uuid.uuid4())
    if started_at == "auto":
        started_at = created_at + timedelta(seconds=5)
    if completed_at == "auto":
        completed_at = None if status == "RUNNING" else started_at + timedelta(seconds=135)
    if drift is None and status == "COMPLETED" and cassandra:
        drift = 100.0 * mismatch_count / cassandra
    phase = "DONE" if status != "RUNNING" else "SCANNING"
    api.sql(
        "INSERT INTO recon.jobs (job_id, table_name, job_type, validation_strategy, priority, status, phase,"
        " requested_by, created_at, started_at, completed_at, deadline_at, segment_count, segments_done,"
        " cassandra_row_count, postgres_row_count, mismatch_count, transient_count, auto_resolved_count,"
        " drift_percentage, validation_errors, alert_fired)"
        " VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
        (job_id, table, job_type, strategy, priority, status, phase, OWNER, created_at, started_at, completed_at,
         created_at + timedelta(hours=1), segment_count, segments_done,
         cassandra if status != "RUNNING" else None, postgres if status != "RUNNING" else None,
         mismatch_count if status != "RUNNING" else None, transient_count, auto_resolved_count, drift,
         Jsonb(validation_errors) if validation_errors is not None else None, alert_fired),
    )
    return job_id


def insert_mismatch(api: Api, job_id: str, *, table="users", pk="user-1", mtype="DATA_MISMATCH",
                    detected_at=T0, status="PENDING", cassandra_data=None, postgres_data=None,
                    mismatch_id=None, notes=None, resolved_at=None, resolved_by=None) -> str:
    mismatch_id = mismatch_id or str(uuid.uuid4())
    data_c = cassandra_data if cassandra_data is not None else (None if mtype == "MISSING_IN_CASSANDRA" else {"user_id": pk, "name": "John Doe"})
    data_p = postgres_data if postgres_data is not None else (None if mtype == "MISSING_IN_POSTGRES" else {"user_id": pk, "name": "John Smith"})
    api.sql(
        "INSERT INTO recon.mismatches (mismatch_id, job_id, table_name, primary_key_value, primary_key, mismatch_type,"
        " cassandra_checksum, postgres_checksum, cassandra_data, postgres_data, differing_columns, detected_at,"
        " resolution_status, resolution_notes, resolved_at, resolved_by)"
        " VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
        (mismatch_id, job_id, table, pk, Jsonb({"user_id": pk}), mtype,
         "a1b2c3d4e5f6" if mtype == "DATA_MISMATCH" else None, "f6e5d4c3b2a1" if mtype == "DATA_MISMATCH" else None,
         Jsonb(data_c) if data_c is not None else None, Jsonb(data_p) if data_p is not None else None,
         ["name"] if mtype == "DATA_MISMATCH" else None, detected_at, status, notes, resolved_at, resolved_by),
    )
    return mismatch_id
