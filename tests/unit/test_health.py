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
