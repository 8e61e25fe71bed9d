import itertools
import logging

import pytest
from cassandra.cluster import Cluster, ExecutionProfile, EXEC_PROFILE_DEFAULT
from cassandra.policies import RoundRobinPolicy

from infra.local.cqlserver import CqlServer

logging.getLogger("cassandra").setLevel(logging.ERROR)
_names = itertools.count()


def connect(port, **kwargs):
    profile = ExecutionProfile(load_balancing_policy=RoundRobinPolicy(), request_timeout=30)
    kwargs.setdefault("protocol_version", 4)
    return Cluster(["127.0.0.1"], port=port, execution_profiles={EXEC_PROFILE_DEFAULT: profile},
                   connect_timeout=10, **kwargs)


@pytest.fixture(scope="session")
def server():
    srv = CqlServer(host="127.0.0.1", port=0)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def cluster(server):
    c = connect(server.port)
    yield c
    c.shutdown()


@pytest.fixture(scope="session")
def session(cluster):
    return cluster.connect()


@pytest.fixture
def ks(session):
    """A fresh keyspace for one test."""
    name = "ks%d" % next(_names)
    session.execute("CREATE KEYSPACE %s WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}"
                    % name)
    yield name
    session.execute("DROP KEYSPACE IF EXISTS %s" % name)
