"""GET /api/v1/health is public and answers 200 only when PostgreSQL, SQS and Cassandra are all up."""
from __future__ import annotations

import json
import socket

import pytest
from chalice.test import Client

from chalicelib.config import reset_settings
from chalicelib.db import pool


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def everything_down(monkeypatch):
    port = closed_port()
    monkeypatch.setenv("DATABASE_URL", f"postgresql://postgres@127.0.0.1:{port}/recon?connect_timeout=2")
    monkeypatch.setenv("DB_POOL_TIMEOUT", "2")
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    monkeypatch.setenv("CASSANDRA_HOSTS", "127.0.0.1")
    monkeypatch.setenv("CASSANDRA_PORT", str(port))
    monkeypatch.setenv("CASSANDRA_CONNECT_TIMEOUT", "2")
    from chalicelib import aws

    # Cassandra sessions are cached per settings: the closed port gets its own (failing) connection,
    # and sessions other suites hold stay open
    reset_settings(); pool.close_pool(); aws.reset_clients()
    yield
    reset_settings(); pool.close_pool(); aws.reset_clients()


def test_health_is_503_naming_each_dependency_that_is_down(everything_down):
    import app

    with Client(app.app) as client:
        r = client.http.get("/api/v1/health")  # no Authorization header: the route is public
    assert r.status_code == 503
    body = json.loads(r.body)
    assert body["status"] == "DOWN"
    assert {k: v["status"] for k, v in body["checks"].items()} == {"postgres": "DOWN", "sqs": "DOWN", "cassandra": "DOWN"}
    assert all(v["error"] for v in body["checks"].values())


def test_cassandra_is_up_when_a_new_connection_reaches_it_though_the_cached_session_waits(monkeypatch):
    """After a Cassandra restart the process's session fails until its next reconnection attempt; the check
    answers for Cassandra as it is now (a connection made for the check), not for that session."""
    from chalicelib.api import health
    from chalicelib.cassandra import session as sessions

    class Stale:
        def execute(self, query):
            raise RuntimeError("NoHostAvailable: Connection to 127.0.0.1:9042 is closed")

    made = []

    class Fresh:
        def connect(self):
            return self

        def execute(self, query):
            return self

        def one(self):
            return ("4.1.3",)

        def shutdown(self):
            made.append("shut down")

    monkeypatch.setattr(sessions, "get_session", lambda *a: Stale())
    monkeypatch.setattr(sessions, "build_cluster", lambda settings: Fresh())
    check = health._check(health._cassandra)
    assert check["status"] == "UP" and check["detail"] == "release 4.1.3 (reconnecting)", check
    assert made == ["shut down"]          # the check's own connection is not kept


def test_sessions_retry_a_node_that_was_down_within_seconds():
    from chalicelib.cassandra.session import build_cluster
    from chalicelib.cassandra.settings import CassandraSettings

    policy = build_cluster(CassandraSettings(hosts=["127.0.0.1"])).reconnection_policy
    delays = list(zip(range(30), policy.new_schedule()))
    assert max(d for _, d in delays) <= 10.0 and delays[0][1] <= 1.0
