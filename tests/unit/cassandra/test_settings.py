import pytest
from pydantic import ValidationError

from chalicelib.cassandra.settings import CassandraSettings
from chalicelib.cassandra.session import build_cluster


def test_defaults(monkeypatch):
    for k in ("HOSTS", "PORT", "CONSISTENCY", "FETCH_SIZE", "LOCAL_DC", "PROTOCOL_VERSION", "USERNAME", "SSL"):
        monkeypatch.delenv(f"CASSANDRA_{k}", raising=False)
    s = CassandraSettings()
    assert s.hosts == ("127.0.0.1",) and s.port == 9042
    assert s.consistency == "LOCAL_QUORUM" and s.fetch_size == 5000
    assert s.protocol_version is None and s.local_dc is None


def test_from_env(monkeypatch):
    monkeypatch.setenv("CASSANDRA_HOSTS", " a.example , b.example,")
    monkeypatch.setenv("CASSANDRA_PORT", "19042")
    monkeypatch.setenv("CASSANDRA_CONSISTENCY", "quorum")
    monkeypatch.setenv("CASSANDRA_PROTOCOL_VERSION", "4")
    monkeypatch.setenv("CASSANDRA_PASSWORD", "s3cret")
    monkeypatch.setenv("CASSANDRA_LOCAL_DC", "")
    s = CassandraSettings()
    assert s.hosts == ("a.example", "b.example") and s.port == 19042
    assert s.consistency == "QUORUM" and s.protocol_version == 4 and s.local_dc is None
    assert "s3cret" not in repr(s) and "s3cret" not in s.describe()


@pytest.mark.parametrize("env,value", [("CONSISTENCY", "MOST"), ("HOSTS", " , "), ("FETCH_SIZE", "0")])
def test_invalid(monkeypatch, env, value):
    monkeypatch.setenv(f"CASSANDRA_{env}", value)
    with pytest.raises(ValidationError):
        CassandraSettings()


def test_cluster_configuration():
    from cassandra.auth import PlainTextAuthProvider
    from cassandra.cluster import EXEC_PROFILE_DEFAULT
    from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy

    s = CassandraSettings(hosts="127.0.0.1,127.0.0.2", port=9142, username="u", password="p", local_dc="dc1",
                          consistency="LOCAL_ONE", request_timeout=7, protocol_version=4)
    cluster = build_cluster(s)
    try:
        assert cluster.contact_points == ["127.0.0.1", "127.0.0.2"] and cluster.port == 9142
        assert cluster.protocol_version == 4
        assert isinstance(cluster.auth_provider, PlainTextAuthProvider)
        profile = cluster.profile_manager.profiles[EXEC_PROFILE_DEFAULT]
        assert isinstance(profile.load_balancing_policy, TokenAwarePolicy)
        child = profile.load_balancing_policy._child_policy
        assert isinstance(child, DCAwareRoundRobinPolicy) and child.local_dc == "dc1"
        assert profile.request_timeout == 7 and profile.consistency_level == s.consistency_level
    finally:
        cluster.shutdown()
