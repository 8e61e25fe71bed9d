"""Driver handshake, protocol negotiation, system tables, schema and token metadata."""

import pytest
from cassandra.cluster import Cluster
from cassandra.metadata import Murmur3Token

from .conftest import connect

pytestmark = pytest.mark.timeout(180)  # a hung server must fail the test, not the run


def test_connect_with_protocol_v4_and_system_local(server):
    cluster = connect(server.port)
    try:
        session = cluster.connect()
        assert cluster.protocol_version == 4
        row = session.execute("SELECT * FROM system.local WHERE key = 'local'").one()
        assert row.partitioner == "org.apache.cassandra.dht.Murmur3Partitioner"
        assert row.data_center == "datacenter1"
        assert row.rack
        assert row.release_version.startswith("4.")
        assert row.cql_version
        assert len(row.tokens) == 16
        host = cluster.metadata.all_hosts()[0]
        assert host.datacenter == "datacenter1"
        assert str(host.broadcast_rpc_address) == "127.0.0.1"
    finally:
        cluster.shutdown()


def test_connect_without_protocol_version_downgrades_to_v4(server):
    cluster = Cluster(["127.0.0.1"], port=server.port, connect_timeout=10)
    try:
        session = cluster.connect()
        assert cluster.protocol_version == 4
        assert session.execute("SELECT release_version FROM system.local").one()[0]
    finally:
        cluster.shutdown()


def test_schema_metadata_for_composite_partition_key_and_desc_clustering(cluster, session, ks):
    session.execute("CREATE TABLE %s.events (tenant text, day int, ts timestamp, seq int, payload text, "
                    "tags set<text>, PRIMARY KEY ((tenant, day), ts, seq)) "
                    "WITH CLUSTERING ORDER BY (ts DESC, seq ASC) AND comment = 'x'" % ks)
    meta = cluster.metadata.keyspaces[ks].tables["events"]
    assert [c.name for c in meta.partition_key] == ["tenant", "day"]
    assert [c.name for c in meta.clustering_key] == ["ts", "seq"]
    assert meta.clustering_key[0].is_reversed and not meta.clustering_key[1].is_reversed
    assert meta.columns["tags"].cql_type == "set<text>"
    assert list(meta.columns) == ["tenant", "day", "ts", "seq", "payload", "tags"]
    assert "CLUSTERING ORDER BY (ts DESC, seq ASC)" in meta.as_cql_query()


def test_keyspace_and_table_ddl_if_exists(cluster, session, ks):
    session.execute("CREATE TABLE %s.t (k int PRIMARY KEY, v text)" % ks)
    session.execute("CREATE TABLE IF NOT EXISTS %s.t (k int PRIMARY KEY, v text)" % ks)
    from cassandra import AlreadyExists, InvalidRequest
    with pytest.raises(AlreadyExists):
        session.execute("CREATE TABLE %s.t (k int PRIMARY KEY, v text)" % ks)
    session.execute("DROP TABLE %s.t" % ks)
    session.execute("DROP TABLE IF EXISTS %s.t" % ks)
    with pytest.raises(InvalidRequest, match="does not exist"):
        session.execute("SELECT * FROM %s.t" % ks)
    assert "t" not in cluster.metadata.keyspaces[ks].tables
    session.execute("CREATE KEYSPACE IF NOT EXISTS %s WITH replication = {'class': 'SimpleStrategy', "
                    "'replication_factor': 1}" % ks)
    with pytest.raises(AlreadyExists):
        session.execute("CREATE KEYSPACE %s WITH replication = {'class': 'SimpleStrategy', "
                        "'replication_factor': 1}" % ks)


def test_token_map_for_single_node(cluster, session, ks):
    session.execute("CREATE TABLE %s.t (k int PRIMARY KEY)" % ks)
    token_map = cluster.metadata.token_map
    assert token_map.token_class is Murmur3Token
    assert len(token_map.ring) == 16
    host = cluster.metadata.all_hosts()[0]
    replicas = cluster.metadata.get_replicas(ks, b"\x00\x00\x00\x01")
    assert replicas == [host]


def test_use_keyspace_and_unqualified_names(server, session, ks):
    cluster = connect(server.port)
    try:
        s = cluster.connect(ks)
        s.execute("CREATE TABLE t (k int PRIMARY KEY, v int)")
        s.execute("INSERT INTO t (k, v) VALUES (1, 2)")
        assert s.execute("SELECT v FROM t WHERE k = 1").one().v == 2
        prepared = s.prepare("SELECT v FROM t WHERE k = ?")
        assert s.execute(prepared, (1,)).one().v == 2
    finally:
        cluster.shutdown()


def test_default_load_balancing_with_token_aware_routing(server, session, ks):
    session.execute("CREATE TABLE %s.r (a text, b int, v int, PRIMARY KEY ((a, b)))" % ks)
    cluster = Cluster(["127.0.0.1"], port=server.port, protocol_version=4, connect_timeout=10)
    try:
        s = cluster.connect()
        ins = s.prepare("INSERT INTO %s.r (a, b, v) VALUES (?, ?, ?)" % ks)
        sel = s.prepare("SELECT v FROM %s.r WHERE a = ? AND b = ?" % ks)
        assert ins.routing_key_indexes == [0, 1] and sel.routing_key_indexes == [0, 1]
        for i in range(20):
            s.execute(ins, ("k%d" % i, i, i * 3))
        assert [s.execute(sel, ("k%d" % i, i)).one().v for i in range(20)] == [i * 3 for i in range(20)]
        assert cluster.metadata.token_map.get_replicas(ks, cluster.metadata.token_map.token_class.from_key(
            sel.bind(("k1", 1)).routing_key)) == cluster.metadata.all_hosts()
    finally:
        cluster.shutdown()


@pytest.mark.parametrize("version", [5, 0x41, 0x42, 3])
def test_other_protocol_versions_get_a_protocol_error(server, version):
    import socket
    import struct
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(struct.pack(">BBhBi", version, 0, 7, 0x05, 0))  # OPTIONS
        data = b""
        while len(data) < 9:
            chunk = sock.recv(4096)
            assert chunk
            data += chunk
        _, _, stream, opcode, length = struct.unpack(">BBhBi", data[:9])
        while len(data) < 9 + length:
            data += sock.recv(4096)
        assert (stream, opcode) == (7, 0x00)
        code = struct.unpack(">i", data[9:13])[0]
        assert code == 0x000A
        assert b"unsupported protocol version" in data[15:]
