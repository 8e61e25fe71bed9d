"""Cassandra endpoint for integration tests: a real cluster when CASSANDRA_HOSTS is set, otherwise
the CQL dev server started in-process on a free port. Each test session works in its own keyspace,
dropped at the end."""
from __future__ import annotations

import os
import uuid

import pytest

from chalicelib.cassandra import session as session_mod
from chalicelib.cassandra.settings import CassandraSettings


@pytest.fixture(scope="session")
def cassandra_settings():
    if os.environ.get("CASSANDRA_HOSTS"):
        print("\nCassandra: real cluster at", os.environ["CASSANDRA_HOSTS"])
        yield CassandraSettings()
        session_mod.shutdown()
        return
    try:
        from infra.local.cqlserver import CqlServer
    except ImportError as exc:  # pragma: no cover - depends on the tree
        pytest.skip(f"CASSANDRA_HOSTS not set and the CQL dev server is not importable: {exc}")
    print("\nCassandra: CASSANDRA_HOSTS not set, using the in-process CQL dev server")
    srv = CqlServer(host="127.0.0.1", port=0)
    srv.start()
    yield CassandraSettings(hosts="127.0.0.1", port=srv.port)
    session_mod.shutdown()
    srv.stop()


@pytest.fixture(scope="session")
def cql(cassandra_settings):
    return session_mod.get_session(cassandra_settings)


@pytest.fixture(scope="session")
def keyspace(cql, cassandra_settings):
    name = f"recon_it_{uuid.uuid4().hex[:10]}"
    cql.execute(
        f"CREATE KEYSPACE {name} WITH replication = {{'class': 'SimpleStrategy', 'replication_factor': 1}}"
    )
    yield name
    # the process-wide session may have been shut down by another suite meanwhile: ask for it again
    session_mod.get_session(cassandra_settings).execute(f"DROP KEYSPACE IF EXISTS {name}")
