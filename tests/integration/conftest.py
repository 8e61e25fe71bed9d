"""Fixtures shared by the integration suites."""
from __future__ import annotations

import pytest

from tests.pgcluster import database_url_or_cluster


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory):
    """A PostgreSQL server for the session: ``$DATABASE_URL``'s (``make test`` gives the stack's) or a private
    cluster. Tests take a fresh database on it (tests.pgcluster.fresh_database), so suites stay isolated."""
    url, stop = database_url_or_cluster(tmp_path_factory.mktemp("pg"))
    yield url
    stop()
