"""Prepared statements, paging, token ranges, clustering, COUNT, WRITETIME, DELETE, errors."""

import pytest
from cassandra import InvalidRequest
from cassandra.protocol import SyntaxException
from cassandra.metadata import Murmur3Token
from cassandra.murmur3 import murmur3
from cassandra.query import BatchStatement, BatchType, SimpleStatement

pytestmark = pytest.mark.timeout(180)  # a hung server must fail the test, not the run

MIN = -(1 << 63)
MAX = (1 << 63) - 1


def driver_token(key: bytes) -> int:
    return Murmur3Token.hash_fn(key)


@pytest.fixture
def kv(session, ks):
    session.execute("CREATE TABLE %s.kv (k int PRIMARY KEY, v text)" % ks)
    insert = session.prepare("INSERT INTO %s.kv (k, v) VALUES (?, ?)" % ks)
    batch = BatchStatement(batch_type=BatchType.UNLOGGED)
    for i in range(500):
        batch.add(insert, (i, "v%d" % i))
    session.execute(batch)
    return "%s.kv" % ks


def test_prepared_positional_and_named_binds(session, kv):
    positional = session.prepare("SELECT v FROM %s WHERE k = ?" % kv)
    assert session.execute(positional, (7,)).one().v == "v7"
    named = session.prepare("SELECT v FROM %s WHERE k = :key" % kv)
    assert [c.name for c in named.column_metadata] == ["key"]
    assert session.execute(named, {"key": 8}).one().v == "v8"
    # routing metadata: the driver computes the routing key from the pk indexes
    bound = positional.bind((7,))
    assert bound.routing_key == b"\x00\x00\x00\x07"
    assert positional.routing_key_indexes == [0]
    # simple statement with positional parameters (client side interpolation)
    assert session.execute("SELECT v FROM %s WHERE k = %%s" % kv, (9,)).one().v == "v9"


def test_prepared_statement_ids_are_stable(session, kv):
    a = session.prepare("SELECT v FROM %s WHERE k = ?" % kv)
    b = session.prepare("SELECT v FROM %s WHERE k = ?" % kv)
    assert a.query_id == b.query_id


@pytest.mark.parametrize("fetch_size", [1, 7, 5000])
def test_paging_returns_each_row_once_in_token_order(session, kv, fetch_size):
    for stmt in (SimpleStatement("SELECT k, token(k) FROM %s" % kv, fetch_size=fetch_size),
                 session.prepare("SELECT k, token(k) FROM %s" % kv)):
        if not isinstance(stmt, SimpleStatement):
            stmt.fetch_size = fetch_size
        result = session.execute(stmt)
        rows = list(result)
        keys = [r[0] for r in rows]
        tokens = [r[1] for r in rows]
        assert sorted(keys) == list(range(500))
        assert tokens == sorted(tokens)
        assert tokens == [driver_token(k.to_bytes(4, "big", signed=True)) for k in keys]


def test_paging_with_limit(session, kv):
    rows = list(session.execute(SimpleStatement("SELECT k FROM %s LIMIT 23" % kv, fetch_size=5)))
    assert len(rows) == 23
    prepared = session.prepare("SELECT k FROM %s LIMIT ?" % kv)
    prepared.fetch_size = 4
    assert len(list(session.execute(prepared, (10,)))) == 10


def _ranges(n):
    """n contiguous ranges covering the ring, the last one wrapping around."""
    step = (1 << 64) // n
    starts = [MIN + 12345 + i * step for i in range(n)]
    return [(starts[i], starts[(i + 1) % n]) for i in range(n)]


@pytest.mark.parametrize("n", [1, 2, 3, 16, 97])
def test_token_ranges_cover_every_row_exactly_once(session, kv, n):
    select = session.prepare("SELECT k FROM %s WHERE token(k) > ? AND token(k) <= ?" % kv)
    select_gt = session.prepare("SELECT k FROM %s WHERE token(k) > ?" % kv)
    select_le = session.prepare("SELECT k FROM %s WHERE token(k) <= ?" % kv)
    count = session.prepare("SELECT COUNT(*) FROM %s WHERE token(k) > ? AND token(k) <= ?" % kv)
    seen = []
    total = 0
    for start, end in _ranges(n):
        if start < end:
            keys = [r.k for r in session.execute(select, (start, end))]
            assert session.execute(count, (start, end)).one()[0] == len(keys)
        else:  # wrap-around range: (start, MAX] + [MIN, end]
            keys = [r.k for r in session.execute(select_gt, (start,))]
            keys += [r.k for r in session.execute(select_le, (end,))]
        for k in keys:
            tok = driver_token(k.to_bytes(4, "big", signed=True))
            assert (start < tok <= end) if start < end else (tok > start or tok <= end)
        seen += keys
        total += len(keys)
    assert sorted(seen) == list(range(500))
    assert total == 500


def test_token_range_bounds(session, kv):
    toks = sorted(r[0] for r in session.execute("SELECT token(k) FROM %s" % kv))
    lo, hi = toks[10], toks[20]
    def n(where, *args):
        return session.execute("SELECT COUNT(*) FROM %s WHERE %s" % (kv, where), args).one()[0]
    assert n("token(k) > %s AND token(k) <= %s", lo, hi) == 10
    assert n("token(k) >= %s AND token(k) <= %s", lo, hi) == 11
    assert n("token(k) >= %s AND token(k) < %s", lo, hi) == 10
    assert n("token(k) > %s AND token(k) < %s", lo, hi) == 9
    assert n("token(k) > %s AND token(k) <= %s", hi, lo) == 0   # no wrap-around in CQL
    assert n("token(k) > %s AND token(k) <= %s", toks[-2], MIN) == 1  # min token as end = end of ring
    assert n("token(k) >= %s", MIN) == 500


def test_tokens_match_driver_for_single_and_composite_keys(cluster, session, ks):
    session.execute("CREATE TABLE %s.comp (a text, b int, c int, v int, PRIMARY KEY ((a, b), c))" % ks)
    session.execute("CREATE TABLE %s.single (a text PRIMARY KEY, v int)" % ks)
    ins_comp = session.prepare("INSERT INTO %s.comp (a, b, c, v) VALUES (?, ?, ?, ?)" % ks)
    ins_single = session.prepare("INSERT INTO %s.single (a, v) VALUES (?, ?)" % ks)
    token_class = cluster.metadata.token_map.token_class
    for i in range(50):
        a = "key-%d-é" % i
        session.execute(ins_comp, (a, i, 1, i))
        session.execute(ins_single, (a, i))
        server_tok = session.execute("SELECT token(a, b) FROM %s.comp WHERE a = %%s AND b = %%s" % ks,
                                     (a, i)).one()[0]
        routing_key = ins_comp.bind((a, i, 1, i)).routing_key
        assert server_tok == token_class.from_key(routing_key).value == murmur3(routing_key)
        server_tok = session.execute("SELECT token(a) FROM %s.single WHERE a = %%s" % ks, (a,)).one()[0]
        routing_key = ins_single.bind((a, i)).routing_key
        assert routing_key == a.encode()
        assert server_tok == token_class.from_key(routing_key).value


def test_clustering_order_and_ranges(session, ks):
    session.execute("CREATE TABLE %s.ts (p text, d int, t int, v text, PRIMARY KEY (p, d, t)) "
                    "WITH CLUSTERING ORDER BY (d ASC, t DESC)" % ks)
    ins = session.prepare("INSERT INTO %s.ts (p, d, t, v) VALUES (?, ?, ?, ?)" % ks)
    for d in range(3):
        for t in range(-3, 4):
            session.execute(ins, ("x", d, t, "%d/%d" % (d, t)))
    rows = [(r.d, r.t) for r in session.execute("SELECT d, t FROM %s.ts WHERE p = 'x'" % ks)]
    assert rows == [(d, t) for d in range(3) for t in range(3, -4, -1)]
    q = "SELECT t FROM %s.ts WHERE p = 'x' AND d = 1 AND t > -2 AND t <= 2" % ks
    assert [r.t for r in session.execute(q)] == [2, 1, 0, -1]
    q = "SELECT d FROM %s.ts WHERE p = 'x' AND d >= 1" % ks
    assert len(list(session.execute(q))) == 14
    q = "SELECT t FROM %s.ts WHERE p = 'x' AND d = 2 ORDER BY d DESC, t ASC" % ks
    assert [r.t for r in session.execute(q)] == list(range(-3, 4))
    q = "SELECT d, t FROM %s.ts WHERE p = 'x' AND d IN (0, 2) AND t = 0" % ks
    assert [(r.d, r.t) for r in session.execute(q)] == [(0, 0), (2, 0)]


def test_in_restrictions_on_partition_key(session, kv):
    prepared = session.prepare("SELECT k FROM %s WHERE k IN ?" % kv)
    assert sorted(r.k for r in session.execute(prepared, ([1, 2, 3, 999],))) == [1, 2, 3]
    rows = session.execute("SELECT k FROM %s WHERE k IN (4, 5, 4)" % kv)
    assert sorted(r.k for r in rows) == [4, 5]


def test_count_variants(session, kv):
    assert session.execute("SELECT COUNT(*) FROM %s" % kv).one().count == 500
    assert session.execute("SELECT count(1) AS n FROM %s" % kv).one().n == 500
    assert session.execute("SELECT COUNT(*) FROM %s WHERE k = 3" % kv).one()[0] == 1


def test_writetime_and_using_timestamp(session, ks):
    session.execute("CREATE TABLE %s.w (k int PRIMARY KEY, a int, b text)" % ks)
    session.execute("INSERT INTO %s.w (k, a, b) VALUES (1, 1, 'x') USING TIMESTAMP 1000" % ks)
    row = session.execute("SELECT WRITETIME(a), writetime(b) AS wb FROM %s.w WHERE k = 1" % ks).one()
    assert row[0] == 1000 and row.wb == 1000
    session.execute("UPDATE %s.w USING TIMESTAMP 2000 SET a = 2 WHERE k = 1" % ks)
    # an older write loses (last write wins per cell)
    session.execute("INSERT INTO %s.w (k, a, b) VALUES (1, 99, 'old') USING TIMESTAMP 1500" % ks)
    row = session.execute("SELECT a, b, writetime(a), writetime(b) FROM %s.w WHERE k = 1" % ks).one()
    assert (row[0], row[1], row[2], row[3]) == (2, "old", 2000, 1500)
    prepared = session.prepare("INSERT INTO %s.w (k, a) VALUES (?, ?) USING TIMESTAMP ?" % ks)
    session.execute(prepared, (2, 5, 123456789))
    assert session.execute("SELECT writetime(a) FROM %s.w WHERE k = 2" % ks).one()[0] == 123456789
    # without USING TIMESTAMP the driver's client timestamp is used (microseconds)
    import time
    before = int(time.time() * 1e6)
    session.execute("INSERT INTO %s.w (k, a) VALUES (3, 1)" % ks)
    wt = session.execute("SELECT writetime(a) FROM %s.w WHERE k = 3" % ks).one()[0]
    assert before - 5_000_000 < wt < before + 5_000_000
    # null cell: writetime is null
    assert session.execute("SELECT writetime(b) FROM %s.w WHERE k = 3" % ks).one()[0] is None
    with pytest.raises(InvalidRequest):
        session.execute("SELECT writetime(k) FROM %s.w" % ks)


def test_delete_row_partition_and_columns(session, ks):
    session.execute("CREATE TABLE %s.d (p int, c int, v int, w int, PRIMARY KEY (p, c))" % ks)
    ins = session.prepare("INSERT INTO %s.d (p, c, v, w) VALUES (?, ?, ?, ?)" % ks)
    for p in range(3):
        for c in range(5):
            session.execute(ins, (p, c, c, c))
    session.execute("DELETE FROM %s.d WHERE p = 0 AND c = 1" % ks)
    assert [r.c for r in session.execute("SELECT c FROM %s.d WHERE p = 0" % ks)] == [0, 2, 3, 4]
    session.execute("DELETE FROM %s.d WHERE p = 1" % ks)
    assert list(session.execute("SELECT * FROM %s.d WHERE p = 1" % ks)) == []
    session.execute("DELETE v FROM %s.d WHERE p = 2 AND c = 2" % ks)
    row = session.execute("SELECT v, w FROM %s.d WHERE p = 2 AND c = 2" % ks).one()
    assert row.v is None and row.w == 2
    session.execute("DELETE FROM %s.d WHERE p = 2 AND c >= 3" % ks)
    assert [r.c for r in session.execute("SELECT c FROM %s.d WHERE p = 2" % ks)] == [0, 1, 2]
    # a delete with an older timestamp does not remove newer data
    session.execute("DELETE FROM %s.d USING TIMESTAMP 1 WHERE p = 2 AND c = 0" % ks)
    assert session.execute("SELECT v FROM %s.d WHERE p = 2 AND c = 0" % ks).one().v == 0
    assert session.execute("SELECT COUNT(*) FROM %s.d" % ks).one()[0] == 4 + 0 + 3
    session.execute("TRUNCATE %s.d" % ks)
    assert session.execute("SELECT COUNT(*) FROM %s.d" % ks).one()[0] == 0


def test_upsert_semantics_and_row_liveness(session, ks):
    session.execute("CREATE TABLE %s.u (k int PRIMARY KEY, a int, b int)" % ks)
    session.execute("INSERT INTO %s.u (k, a, b) VALUES (1, 1, 1)" % ks)
    session.execute("INSERT INTO %s.u (k, a) VALUES (1, 2)" % ks)  # b untouched
    assert tuple(session.execute("SELECT a, b FROM %s.u WHERE k = 1" % ks).one()) == (2, 1)
    session.execute("UPDATE %s.u SET a = 5 WHERE k = 2" % ks)      # update creates the row
    session.execute("UPDATE %s.u SET a = null WHERE k = 2" % ks)   # ... and it vanishes when empty
    assert session.execute("SELECT * FROM %s.u WHERE k = 2" % ks).one() is None
    session.execute("INSERT INTO %s.u (k) VALUES (3)" % ks)        # row marker keeps it alive
    assert session.execute("SELECT * FROM %s.u WHERE k = 3" % ks).one() is not None
    prepared = session.prepare("INSERT INTO %s.u (k, a, b) VALUES (?, ?, ?)" % ks)
    session.execute(prepared, (1, None, 7))                          # null bound = tombstone
    assert tuple(session.execute("SELECT a, b FROM %s.u WHERE k = 1" % ks).one()) == (None, 7)
    assert session.execute("INSERT INTO %s.u (k, a) VALUES (1, 0) IF NOT EXISTS" % ks).was_applied is False
    assert session.execute("INSERT INTO %s.u (k, a) VALUES (9, 0) IF NOT EXISTS" % ks).was_applied is True


@pytest.mark.parametrize("statement, error", [
    ("SELECT * FROM {t} WHERE v = 'x'", InvalidRequest),
    ("SELECT * FROM {t} WHERE v CONTAINS 'x' ALLOW FILTERING", InvalidRequest),
    ("SELECT DISTINCT v FROM {t}", InvalidRequest),
    ("SELECT ttl(k) FROM {t}", InvalidRequest),
    ("INSERT INTO {t} (k, v) VALUES (1, 'x') USING TTL -1", InvalidRequest),
    ("SELECT * FROM nosuchks.t", InvalidRequest),
    ("SELECT * FROM {ks}.nosuch", InvalidRequest),
    ("SELEC * FROM {t}", SyntaxException),
    ("SELECT * FROM {t} WHERE", SyntaxException),
    ("CREATE INDEX ON {t} (v)", InvalidRequest),
    ("ALTER TABLE {t} ADD x int", InvalidRequest),
    ("SELECT max(k) FROM {t}", InvalidRequest),
    ("INSERT INTO {t} (v) VALUES ('x')", InvalidRequest),
    ("UPDATE {t} SET v = 'x' WHERE v = 'y'", InvalidRequest),
    ("SELECT * FROM {t} WHERE token(k) > 'a'", InvalidRequest),
    ("CREATE TABLE {ks}.bad (k int PRIMARY KEY, c counter)", InvalidRequest),
])
def test_unsupported_or_invalid_statements_fail_cleanly(session, kv, ks, statement, error):
    with pytest.raises(error) as info:
        session.execute(statement.format(t=kv, ks=ks))
    assert str(info.value)
    # the connection keeps working
    assert session.execute("SELECT v FROM %s WHERE k = 1" % kv).one().v == "v1"


def test_unknown_table_message(session, ks):
    with pytest.raises(InvalidRequest, match="table nosuch does not exist"):
        session.execute("SELECT * FROM %s.nosuch" % ks)


def test_batch_statements(session, ks):
    session.execute("CREATE TABLE %s.b (k int PRIMARY KEY, v int)" % ks)
    session.execute("BEGIN BATCH INSERT INTO %s.b (k, v) VALUES (1, 1); INSERT INTO %s.b (k, v) VALUES (2, 2); "
                    "APPLY BATCH" % (ks, ks))
    batch = BatchStatement()
    batch.add("INSERT INTO %s.b (k, v) VALUES (%%s, %%s)" % ks, (3, 3))
    batch.add(session.prepare("UPDATE %s.b SET v = ? WHERE k = ?" % ks), (40, 4))
    batch.add(session.prepare("DELETE FROM %s.b WHERE k = ?" % ks), (1,))
    session.execute(batch)
    assert sorted(tuple(r) for r in session.execute("SELECT k, v FROM %s.b" % ks)) == [(2, 2), (3, 3), (4, 40)]


@pytest.mark.parametrize("fetch_size", [1, 7, 5000])
def test_paging_inside_one_partition_both_orders(session, ks, fetch_size):
    session.execute("CREATE TABLE %s.wide (p int, c int, v int, PRIMARY KEY (p, c)) "
                    "WITH CLUSTERING ORDER BY (c DESC)" % ks)
    ins = session.prepare("INSERT INTO %s.wide (p, c, v) VALUES (?, ?, ?)" % ks)
    for p in (1, 2):
        for c in range(60):
            session.execute(ins, (p, c, c))
    def fetch(query, *args):
        return [r.c for r in session.execute(SimpleStatement(query % ks, fetch_size=fetch_size), args)]
    assert fetch("SELECT c FROM %s.wide WHERE p = 1") == list(range(59, -1, -1))
    assert fetch("SELECT c FROM %s.wide WHERE p = 1 ORDER BY c ASC") == list(range(60))
    assert fetch("SELECT c FROM %s.wide WHERE p = 1 AND c >= %%s AND c < %%s", 10, 50) == list(range(49, 9, -1))
    assert fetch("SELECT c FROM %s.wide WHERE p = 1 AND c > %%s ORDER BY c ASC", 10) == list(range(11, 60))
    assert fetch("SELECT c FROM %s.wide WHERE p IN (1, 2) AND c < 3") == [2, 1, 0] * 2 or \
        sorted(fetch("SELECT c FROM %s.wide WHERE p IN (1, 2) AND c < 3")) == [0, 0, 1, 1, 2, 2]
    both = fetch("SELECT c FROM %s.wide WHERE token(p) >= %%s", MIN)
    assert sorted(both) == sorted(list(range(60)) * 2)


@pytest.mark.parametrize("fetch_size", [1, 7, 5000])
def test_allow_filtering(session, ks, fetch_size):
    session.execute("CREATE TABLE %s.f (p int, c1 int, c2 text, v int, t timestamp, PRIMARY KEY (p, c1, c2))" % ks)
    ins = session.prepare("INSERT INTO %s.f (p, c1, c2, v, t) VALUES (?, ?, ?, ?, ?)" % ks)
    for p in range(10):
        for c1 in range(5):
            session.execute(ins, (p, c1, "x%d" % c1, p * 10 + c1, p * 1000 + c1 if c1 != 4 else None))

    def rows(where, *args):
        stmt = SimpleStatement("SELECT p, c1, v FROM %s.f WHERE %s ALLOW FILTERING" % (ks, where),
                               fetch_size=fetch_size)
        return sorted((r.p, r.c1, r.v) for r in session.execute(stmt, args))

    def count(where, *args):
        return session.execute("SELECT COUNT(*) FROM %s.f WHERE %s ALLOW FILTERING" % (ks, where), args).one()[0]

    assert rows("v = 23") == [(2, 3, 23)]
    assert rows("v >= %s AND v < %s", 40, 43) == [(4, 0, 40), (4, 1, 41), (4, 2, 42)]
    assert rows("c2 = 'x1'") == [(p, 1, p * 10 + 1) for p in range(10)]
    assert rows("p = 3 AND c2 > 'x2'") == [(3, 3, 33), (3, 4, 34)]
    assert rows("t > %s", 8000) == [(8, 1, 81), (8, 2, 82), (8, 3, 83), (9, 0, 90), (9, 1, 91), (9, 2, 92), (9, 3, 93)]
    assert count("t > %s", 8000) == 7
    assert count("c1 = 4") == 10
    assert count("t < %s", 10 ** 9) == 40  # null cells never match
    with pytest.raises(InvalidRequest, match="ALLOW FILTERING"):
        session.execute("SELECT * FROM %s.f WHERE v = 1" % ks)


@pytest.mark.parametrize("fetch_size", [1, 3, 5000])
def test_select_distinct_partition_keys(session, ks, fetch_size):
    session.execute("CREATE TABLE %s.dd (a int, b text, c int, PRIMARY KEY ((a, b), c))" % ks)
    ins = session.prepare("INSERT INTO %s.dd (a, b, c) VALUES (?, ?, ?)" % ks)
    for a in range(8):
        for c in range(4):
            session.execute(ins, (a, "b", c))
    stmt = SimpleStatement("SELECT DISTINCT a, b, token(a, b) FROM %s.dd" % ks, fetch_size=fetch_size)
    rows = list(session.execute(stmt))
    assert sorted(r.a for r in rows) == list(range(8))
    assert [r[2] for r in rows] == sorted(r[2] for r in rows)


def test_ttl_expires_cells_and_rows():
    from infra.local.cqlserver import CqlServer
    from .conftest import connect
    with CqlServer(port=0) as srv:
        now = [1_900_000_000.0]
        srv.store.clock = lambda: now[0]
        cluster = connect(srv.port)
        try:
            s = cluster.connect()
            s.execute("CREATE KEYSPACE t WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}")
            s.execute("CREATE TABLE t.x (k int PRIMARY KEY, a int, b int)")
            s.execute("INSERT INTO t.x (k, a, b) VALUES (1, 1, 1) USING TTL 100")
            s.execute("INSERT INTO t.x (k, a) VALUES (2, 2)")
            s.execute(s.prepare("UPDATE t.x USING TTL ? SET b = ? WHERE k = ?"), (50, 2, 2))
            row = s.execute("SELECT ttl(a), ttl(b) FROM t.x WHERE k = 1").one()
            assert tuple(row) == (100, 100)
            assert s.execute("SELECT ttl(a), ttl(b) FROM t.x WHERE k = 2").one() == (None, 50)
            now[0] += 60
            assert tuple(s.execute("SELECT a, b FROM t.x WHERE k = 2").one()) == (2, None)  # cell expired
            assert s.execute("SELECT COUNT(*) FROM t.x").one()[0] == 2
            now[0] += 50
            assert s.execute("SELECT * FROM t.x WHERE k = 1").one() is None  # whole row expired
            assert [r.k for r in s.execute("SELECT k FROM t.x")] == [2]
            assert s.execute("SELECT COUNT(*) FROM t.x").one()[0] == 1
        finally:
            cluster.shutdown()


def test_filtering_pages_are_bounded_and_complete(session, ks, monkeypatch):
    from infra.local.cqlserver import executor
    monkeypatch.setattr(executor, "FILTER_SCAN_BUDGET", 10)
    session.execute("CREATE TABLE %s.fb (k int PRIMARY KEY, v int)" % ks)
    ins = session.prepare("INSERT INTO %s.fb (k, v) VALUES (?, ?)" % ks)
    for k in range(300):
        session.execute(ins, (k, k % 50))
    stmt = SimpleStatement("SELECT k FROM %s.fb WHERE v = 7 ALLOW FILTERING" % ks, fetch_size=4)
    result = session.execute(stmt)
    keys = [r.k for r in result]
    assert sorted(keys) == [k for k in range(300) if k % 50 == 7]
    stmt = SimpleStatement("SELECT k FROM %s.fb WHERE v = 7 LIMIT 3 ALLOW FILTERING" % ks, fetch_size=2)
    assert len(list(session.execute(stmt))) == 3


def test_unknown_prepared_id_is_reprepared_by_the_driver(server, session, kv):
    prepared = session.prepare("SELECT v FROM %s WHERE k = ?" % kv)
    server.executor.prepared.clear()  # as after a server restart
    assert session.execute(prepared, (5,)).one().v == "v5"
    assert prepared.query_id in server.executor.prepared


@pytest.mark.parametrize("where", ["token(k) > %d AND token(k) <= %d" % (MIN, MAX), "token(k) >= %d" % MIN, ""])
def test_paging_cost_is_linear(server, session, ks, where):
    """Each page seeks to its position: scanning with tiny pages costs about what one page costs."""
    session.execute("CREATE TABLE %s.lin (k int PRIMARY KEY, v int)" % ks)
    ins = session.prepare("INSERT INTO %s.lin (k, v) VALUES (?, ?)" % ks)
    for start in range(0, 4000, 200):
        batch = BatchStatement(batch_type=BatchType.UNLOGGED)
        for k in range(start, start + 200):
            batch.add(ins, (k, k))
        session.execute(batch)
    query = "SELECT k FROM %s.lin" % ks + (" WHERE " + where if where else "")

    def vm_steps(fetch_size):
        steps = [0]

        def tick():
            steps[0] += 1
            return 0
        with server.store.lock:
            server.store.db.set_progress_handler(tick, 100)
        try:
            rows = list(session.execute(SimpleStatement(query, fetch_size=fetch_size)))
        finally:
            with server.store.lock:
                server.store.db.set_progress_handler(None, 100)
        assert len(rows) == 4000
        return steps[0]

    one_page = vm_steps(5000)
    many_pages = vm_steps(40)   # 100 pages; a rescan per page would cost ~50x
    assert many_pages < one_page * 4, (one_page, many_pages)


def test_prepared_select_survives_table_recreation_with_other_columns(session, ks):
    session.execute("CREATE TABLE %s.re (k int PRIMARY KEY, a text)" % ks)
    session.execute("INSERT INTO %s.re (k, a) VALUES (1, 'x')" % ks)
    prepared = session.prepare("SELECT * FROM %s.re WHERE k = ?" % ks)
    assert tuple(session.execute(prepared, (1,)).one()) == (1, "x")
    session.execute("DROP TABLE %s.re" % ks)
    session.execute("CREATE TABLE %s.re (k int PRIMARY KEY, a int, b int)" % ks)
    session.execute("INSERT INTO %s.re (k, a, b) VALUES (1, 2, 3)" % ks)
    assert tuple(session.execute(prepared, (1,)).one()) == (1, 2, 3)


@pytest.mark.parametrize("columns", [
    ["token(k)", "k", "c", "a", "b"],           # token, then every column in table order
    ["token(k)", "token(k)", "k", "c", "a", "b"],
    ["b", "token(k)", "a"],
    ["a", "a", "k"],
    ["c", "b", "a", "k", "token(k)"],
    ["k", "c", "a"],
    ["token(k)"],
])
def test_projections(session, ks, columns):
    session.execute("CREATE TABLE %s.pr (k int, c text, a int, b text, PRIMARY KEY (k, c))" % ks)
    ins = session.prepare("INSERT INTO %s.pr (k, c, a, b) VALUES (?, ?, ?, ?)" % ks)
    for k in range(30):
        session.execute(ins, (k, "c%d" % k, k if k % 3 else None, "b%d" % k if k % 4 else None))
    full = {r.k: r for r in session.execute("SELECT k, c, a, b, token(k) AS t FROM %s.pr" % ks)}
    stmt = SimpleStatement("SELECT %s FROM %s.pr" % (", ".join(columns), ks), fetch_size=7)
    rows = list(session.execute(stmt))
    assert len(rows) == 30
    key_pos = columns.index("k") if "k" in columns else None
    tok_pos = columns.index("token(k)") if "token(k)" in columns else None
    for row in rows:
        values = tuple(row)
        if key_pos is not None:
            ref = full[values[key_pos]]
        else:
            ref = next(r for r in full.values() if r.t == values[tok_pos])
        expected = tuple(ref.t if c == "token(k)" else getattr(ref, c) for c in columns)
        assert values == expected
