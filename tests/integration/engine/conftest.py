"""Engine fixtures: a fresh PostgreSQL database per test (real server), the Cassandra side (the CQL
dev server in-process, or a real cluster when CASSANDRA_HOSTS is set), SQS through moto, and a
drain loop that feeds queued messages to the real worker handlers."""
from __future__ import annotations

import json
import os
import time

import pytest

from chalicelib import aws
from chalicelib.cdc import catalog as catalog_mod
from chalicelib.config import reset_settings
from chalicelib.db.pool import close_pool
from chalicelib.workers import cdc as cdc_worker
from tests.pgcluster import fresh_database

QUEUES = ["recon-jobs", "recon-segments", "recon-schedule", "recon-maintenance", "recon-alerts"]


@pytest.fixture
def database(pg_server):
    """A new, migrated database for one test; dropped afterwards."""
    from chalicelib.db.migrate import migrate

    with fresh_database(pg_server) as url:
        migrate(url, log=lambda *_: None)
        yield url


@pytest.fixture(scope="session")
def cassandra_endpoint():
    hosts = os.environ.get("CASSANDRA_HOSTS")
    if hosts:
        yield hosts, int(os.environ.get("CASSANDRA_PORT", "9042"))
        return
    from infra.local.cqlserver import CqlServer

    srv = CqlServer(host="127.0.0.1", port=0)
    srv.start()
    yield "127.0.0.1", srv.port
    srv.stop()


@pytest.fixture
def cql_session(cassandra_endpoint):
    from cassandra.cluster import Cluster

    host, port = cassandra_endpoint
    cluster = Cluster([host.split(",")[0]], port=port)
    session = cluster.connect()
    yield session
    cluster.shutdown()


@pytest.fixture
def engine_env(database, cassandra_endpoint, tmp_path, monkeypatch):
    """Settings for the engine under test; returns a setter for more settings."""
    from moto import mock_aws

    host, port = cassandra_endpoint
    values = {
        "DATABASE_URL": database, "CASSANDRA_HOSTS": host, "CASSANDRA_PORT": str(port),
        "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "REPLICATION_LAG_SECONDS": "0", "RECHECK_GRACE_SECONDS": "0", "SEGMENTS_PER_JOB": "8",
        "CATALOG_PATH": str(tmp_path / "catalog.yml"), "WEBHOOK_URLS": "",
    }
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)

    def set_env(**changes):
        values.update({k.upper(): str(v) for k, v in changes.items()})
        for k, v in values.items():
            monkeypatch.setenv(k, v)
        reset_settings()
        close_pool()   # a pool opened by an earlier suite would still point at its database
        catalog_mod.get_catalog.cache_clear()
        cdc_worker.reset_contexts()

    with mock_aws():
        set_env()
        aws.reset_clients()
        for q in QUEUES:
            aws.client("sqs").create_queue(QueueName=q)
        yield set_env
        aws.reset_clients()
    # the process-wide Cassandra session is shared with other suites (same settings): keep it open
    cdc_worker.reset_contexts()
    catalog_mod.get_catalog.cache_clear()
    reset_settings()
    close_pool()


def drain(deadline_s: float = 120.0, until=None, max_messages: int | None = None) -> int:
    """Feed queued messages to the real handlers, one at a time (a single worker), until the queues
    are empty (or `until()` is true). Failed messages are made visible again at once so the loop
    sees redeliveries without waiting for a visibility timeout."""
    sqs = aws.client("sqs")
    handlers = {"recon-jobs": cdc_worker.handle_job_message, "recon-segments": cdc_worker.handle_segment_message,
                "recon-schedule": cdc_worker.handle_schedule_event, "recon-maintenance": cdc_worker.handle_maintenance_event}
    deadline = time.monotonic() + deadline_s
    handled = 0
    idle_rounds = 0
    while time.monotonic() < deadline:
        if until is not None and until():
            return handled
        got = False
        for q, fn in handlers.items():
            url = aws.queue_url(q)
            msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, WaitTimeSeconds=0).get("Messages", [])
            for m in msgs:
                got = True
                try:
                    fn(m["Body"])
                except cdc_worker.RetryLater:
                    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)
                    continue
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
                handled += 1
                if max_messages is not None and handled >= max_messages:
                    return handled
            if got:
                break  # jobs first, then segments: re-poll from the top after each message
        if not got:
            idle_rounds += 1
            if until is None and idle_rounds > 2:
                return handled
            time.sleep(0.05)  # queues empty: delayed messages (DelaySeconds) become visible
        else:
            idle_rounds = 0
    raise AssertionError("queues did not drain before the deadline")


def queue_bodies(name: str) -> list[dict]:
    sqs = aws.client("sqs")
    out = []
    while True:
        msgs = sqs.receive_message(QueueUrl=aws.queue_url(name), MaxNumberOfMessages=10).get("Messages", [])
        if not msgs:
            return out
        for m in msgs:
            out.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=aws.queue_url(name), ReceiptHandle=m["ReceiptHandle"])
