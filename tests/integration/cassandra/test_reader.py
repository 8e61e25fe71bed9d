"""CassandraReader against the CQL dev server (or a real cluster with CASSANDRA_HOSTS)."""
from __future__ import annotations

import datetime
import struct
import time
import uuid
from decimal import Decimal

import pytest
from cassandra.concurrent import execute_concurrent_with_args
from cassandra.util import uuid_from_time

from chalicelib.cassandra.errors import CassandraReadError
from chalicelib.cassandra.reader import CassandraReader
from chalicelib.cassandra.tokens import MAX_TOKEN, MIN_TOKEN, TokenRange, split_ring, token_for

N_USERS = 600


@pytest.fixture(scope="module")
def users(cql, keyspace, cassandra_settings):
    cql.execute(f"CREATE TABLE {keyspace}.scan_users (user_id text PRIMARY KEY, email text, age int)")
    ins = cql.prepare(f"INSERT INTO {keyspace}.scan_users (user_id, email, age) VALUES (?, ?, ?)")
    rows = [(f"user-{i}", f"u{i}@example.com", i % 90) for i in range(N_USERS)]
    execute_concurrent_with_args(cql, ins, rows, concurrency=50, raise_on_first_error=True)
    reader = CassandraReader(keyspace, "scan_users", ["user_id"], [], ["user_id", "email", "age"],
                             settings=cassandra_settings)
    return reader, {r[0]: r for r in rows}


@pytest.mark.parametrize("n_ranges", [1, 2, 7, 64])
def test_every_row_exactly_once_across_ranges(users, n_ranges):
    reader, expected = users
    seen = []
    for rng in split_ring(n_ranges):
        for row in reader.scan_range(rng):
            assert rng.start < row[0] <= rng.end
            seen.append(row)
    keys = [r[1] for r in seen]
    assert len(keys) == len(set(keys)) == N_USERS
    assert {r[1]: tuple(r[1:]) for r in seen} == expected


@pytest.mark.parametrize("fetch_size", [1, 3, 100, 200, N_USERS, N_USERS + 1, 5000])
def test_paging_boundaries(users, fetch_size):
    reader, expected = users
    seen = [r[1] for rng in split_ring(2) for r in reader.scan_range(rng, fetch_size=fetch_size)]
    assert sorted(seen) == sorted(expected)


def test_tokens_match_server_token_function(users, cql, keyspace):
    reader, _ = users
    for tok, user_id in cql.execute(f"SELECT token(user_id), user_id FROM {keyspace}.scan_users"):
        assert tok == token_for([user_id], ["text"])
    for row in reader.scan_range(split_ring(1)[0]):
        assert row[0] == token_for([row[1]], ["text"])


@pytest.mark.parametrize("n_ranges", [1, 7, 64])
def test_count_range_sums_to_total(users, n_ranges):
    reader, _ = users
    counts = [reader.count_range(r) for r in split_ring(n_ranges)]
    assert sum(counts) == N_USERS
    scanned = [sum(1 for _ in reader.scan_range(r)) for r in split_ring(n_ranges)]
    assert counts == scanned


def test_wrap_around_and_full_ring_ranges(users):
    reader, expected = users
    tokens = sorted(token_for([k], ["text"]) for k in expected)
    lo, hi = tokens[N_USERS // 3], tokens[N_USERS // 4]  # start above end: wraps
    got = {r[1] for r in reader.scan_range(TokenRange(lo, hi), fetch_size=50)}
    want = {k for k in expected if not (hi < token_for([k], ["text"]) <= lo)}
    assert got == want
    assert reader.count_range(TokenRange(lo, hi)) == len(want)
    for t in (MIN_TOKEN, tokens[10], MAX_TOKEN):
        assert {r[1] for r in reader.scan_range(TokenRange(t, t))} == set(expected)
    # the boundary token itself is in (prev, t] and not in (t, next]
    t = tokens[5]
    key = next(k for k in expected if token_for([k], ["text"]) == t)
    assert key in {r[1] for r in reader.scan_range(TokenRange(tokens[4], t))}
    assert key not in {r[1] for r in reader.scan_range(TokenRange(t, tokens[6]))}


def test_get_rows_finds_existing_and_reports_missing(users):
    reader, expected = users
    keys = [("user-1",), ("user-599",), ("user-missing",), ("user-1",)]
    got = reader.get_rows(keys, concurrency=2)
    assert got[("user-1",)][1:] == expected["user-1"]
    assert got[("user-599",)][0] == token_for(["user-599"], ["text"])
    assert got[("user-missing",)] is None
    many = reader.get_rows([(f"user-{i}",) for i in range(0, 1000, 3)], concurrency=32)
    assert sum(v is not None for v in many.values()) == len(range(0, N_USERS, 3))


def test_sample_keys_spread(users):
    reader, expected = users
    sample = reader.sample_keys(100, seed=42)
    assert len(sample) == 100 and len(set(sample)) == 100
    assert all(k[0] in expected for k in sample)
    per_quarter = [0] * 4
    for (k,) in sample:
        per_quarter[min(3, (token_for([k], ["text"]) - MIN_TOKEN) * 4 // 2**64)] += 1
    assert min(per_quarter) >= 10, per_quarter  # spread over the ring


def test_writetime(cql, keyspace, cassandra_settings):
    cql.execute(f"CREATE TABLE {keyspace}.wt (k text PRIMARY KEY, v text, w int)")
    cql.execute(f"INSERT INTO {keyspace}.wt (k, v) VALUES ('a', 'x') USING TIMESTAMP 1700000000123456")
    before = int(time.time() * 1e6)
    cql.execute(f"INSERT INTO {keyspace}.wt (k, v) VALUES ('b', 'y')")
    after = int(time.time() * 1e6)
    reader = CassandraReader(keyspace, "wt", ["k"], [], ["k", "v", "w"], settings=cassandra_settings)
    assert reader.writetime(("a",), "v") == 1700000000123456
    assert before - 5_000_000 <= reader.writetime(("b",), "v") <= after + 5_000_000
    assert reader.writetime(("a",), "w") is None  # column never written
    assert reader.writetimes([("a",), ("zz",)], "v") == {("a",): 1700000000123456, ("zz",): None}


def test_composite_partition_key_and_clustering(cql, keyspace, cassandra_settings):
    cql.execute(
        f"CREATE TABLE {keyspace}.events (tenant uuid, day int, at timeuuid, seq int, payload text, "
        f"PRIMARY KEY ((tenant, day), at, seq)) WITH CLUSTERING ORDER BY (at DESC, seq ASC)"
    )
    ins = cql.prepare(f"INSERT INTO {keyspace}.events (tenant, day, at, seq, payload) VALUES (?, ?, ?, ?, ?)")
    tenants = [uuid.UUID(int=i * 7919 + 1, version=4) for i in range(12)]
    rows = []
    for t in tenants:
        for day in range(3):
            for j in range(5):
                at = uuid_from_time(1_700_000_000 + j, node=day, clock_seq=j)
                for seq in range(2):
                    rows.append((t, day, at, seq, f"{t}-{day}-{j}-{seq}"))
    execute_concurrent_with_args(cql, ins, rows, concurrency=50, raise_on_first_error=True)
    reader = CassandraReader(keyspace, "events", ["tenant", "day"], ["at", "seq"],
                             ["tenant", "day", "at", "seq", "payload"], settings=cassandra_settings)
    for n in (1, 7, 64):
        got = [r for rng in split_ring(n) for r in reader.scan_range(rng, fetch_size=7)]
        assert sorted(tuple(r[1:]) for r in got) == sorted(rows)
        for r in got:
            assert r[0] == token_for([r[1], r[2]], ["uuid", "int"])
    assert sum(reader.count_range(r) for r in split_ring(7)) == len(rows)
    server_tokens = {(t, d): tok for tok, t, d in cql.execute(
        f"SELECT token(tenant, day), tenant, day FROM {keyspace}.events")}
    assert all(tok == token_for(list(k), ["uuid", "int"]) for k, tok in server_tokens.items())
    got = reader.get_rows([rows[0][:4], rows[-1][:4], (tenants[0], 99, rows[0][2], 0)])
    assert got[rows[0][:4]][1:] == rows[0]
    assert got[rows[-1][:4]][1:] == rows[-1]
    assert got[(tenants[0], 99, rows[0][2], 0)] is None
    sample = reader.sample_keys(20, seed=3)
    assert len(sample) == 20 and all(len(k) == 4 for k in sample)
    assert set(sample) <= {r[:4] for r in rows}
    assert reader.writetime(rows[0][:4], "payload") is not None


ALL_TYPES = {
    "k": "int", "t": "text", "vc": "varchar", "asc": "ascii", "i": "int", "bi": "bigint",
    "si": "smallint", "b": "boolean", "d": "double", "f": "float", "dec": "decimal", "u": "uuid",
    "tu": "timeuuid", "ts": "timestamp", "dt": "date", "bl": "blob", "st": "set<text>",
    "li": "list<int>", "mp": "map<text, int>",
}


def _value_row(k):
    return (
        k, f"text-{k}-é🙂", f"varchar {k}", f"ascii-{k}", -(2**31) + k, 2**62 + k, -(2**15) + k,
        k % 2 == 0, 1.0 / (k + 3), 1.5 + k, Decimal(f"{k}.{k:02d}") * (-1 if k % 3 else 1),
        uuid.UUID(int=k + 12345, version=4),
        uuid_from_time(1_600_000_000 + k, node=k, clock_seq=k),
        datetime.datetime(2024, 2, 29, 23, 59, 59, 123000) + datetime.timedelta(days=k),
        datetime.date(1969, 12, 31) + datetime.timedelta(days=k * 100),
        bytes(range(k % 256)) + b"\x00\xff",
        {f"s{k}", "a", "z"}, [k, -k, 0, k], {"x": k, "y": -1},
    )


def _normalize(name, value):
    if value is None:
        return None
    if ALL_TYPES[name] == "date" and hasattr(value, "date"):
        return value.date()
    if ALL_TYPES[name] == "float":
        return struct.unpack(">f", struct.pack(">f", value))[0]
    if ALL_TYPES[name].startswith("set"):
        return set(value)
    if ALL_TYPES[name].startswith("map"):
        return dict(value)
    if ALL_TYPES[name].startswith("list"):
        return list(value)
    return value


def test_round_trip_of_every_supported_type(cql, keyspace, cassandra_settings):
    cols = list(ALL_TYPES)
    cql.execute(f"CREATE TABLE {keyspace}.alltypes ("
                + ", ".join(f"{c} {t}" for c, t in ALL_TYPES.items()) + ", PRIMARY KEY (k))")
    ins = cql.prepare(f"INSERT INTO {keyspace}.alltypes ({', '.join(cols)}) "
                      f"VALUES ({', '.join('?' for _ in cols)})")
    rows = [_value_row(k) for k in range(1, 40)]
    # nulls and empty collections (Cassandra returns null for an empty collection)
    sparse = (0,) + (None,) * 15 + (set(), [], {})
    execute_concurrent_with_args(cql, ins, rows + [sparse], concurrency=20, raise_on_first_error=True)
    reader = CassandraReader(keyspace, "alltypes", ["k"], [], cols, settings=cassandra_settings)
    got = {r[1]: r for rng in split_ring(3) for r in reader.scan_range(rng, fetch_size=5)}
    assert len(got) == 40
    for row in rows:
        back = got[row[0]]
        for name, sent, received in zip(cols, row, back[1:]):
            assert _normalize(name, received) == _normalize(name, sent), (name, sent, received)
    assert got[0][2:] == (None,) * 18
    point = reader.get_rows([(5,)], as_dict=True)[(5,)]
    assert point["dec"] == rows[4][10] and point["ts"] == rows[4][13]
    assert point["_token"] == token_for([5], ["int"])


def test_raw_scan_gives_serialized_rows_that_decode_like_scan_range(cql, keyspace, cassandra_settings):
    """Undecoded pages: every value as the driver would serialize it, in the same rows and order as
    the decoded scan, and raw_decoder() gives back exactly the decoded row."""
    from cassandra import cqltypes

    cols = list(ALL_TYPES)
    cql.execute(f"CREATE TABLE IF NOT EXISTS {keyspace}.rawtypes ("
                + ", ".join(f"{c} {t}" for c, t in ALL_TYPES.items()) + ", PRIMARY KEY (k))")
    ins = cql.prepare(f"INSERT INTO {keyspace}.rawtypes ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})")
    execute_concurrent_with_args(cql, ins, [_value_row(k) for k in range(1, 30)] + [(0,) + (None,) * 18],
                                 concurrency=20, raise_on_first_error=True)
    reader = CassandraReader(keyspace, "rawtypes", ["k"], [], cols, settings=cassandra_settings)
    for rng in split_ring(3):
        decoded = list(reader.scan_range(rng, fetch_size=7))
        raw = [r for page in reader.scan_pages_raw(rng, fetch_size=7) for r in page]
        assert len(raw) == len(decoded)
        decode = reader.raw_decoder()
        for r, d in zip(raw, decoded):
            assert all(v is None or type(v) is bytes for v in r)
            assert decode(r) == d
            assert r[0] == cqltypes.LongType.serialize(d[0], 4)
            assert r[1] == cqltypes.Int32Type.serialize(d[1], 4)
    # the decoded session is unaffected by the raw one
    assert type(next(iter(reader.scan_range(split_ring(1)[0])))[1]) is int


@pytest.mark.parametrize("type_name,values", [
    ("text", ["a", "user-1", "é🙂" * 10]),
    ("bigint", [0, -1, 2**63 - 1, -(2**63)]),
    ("uuid", [uuid.UUID(int=0), uuid.UUID(int=2**128 - 1), uuid.uuid4()]),
    ("timeuuid", [uuid_from_time(0), uuid_from_time(1_900_000_000)]),
    ("timestamp", [datetime.datetime(1970, 1, 1), datetime.datetime(2030, 5, 6, 7, 8, 9, 10000)]),
    ("date", [datetime.date(1970, 1, 1), datetime.date(2099, 12, 31)]),
])
def test_server_token_equals_token_for_per_type(cql, keyspace, type_name, values):
    table = f"tok_{type_name}"
    cql.execute(f"CREATE TABLE IF NOT EXISTS {keyspace}.{table} (k {type_name} PRIMARY KEY, v int)")
    ins = cql.prepare(f"INSERT INTO {keyspace}.{table} (k, v) VALUES (?, 1)")
    for v in values:
        cql.execute(ins, (v,))
    got = list(cql.execute(f"SELECT token(k), k FROM {keyspace}.{table}"))
    assert len(got) == len(values)
    for tok, k in got:
        assert tok == token_for([k], [type_name]), (type_name, k)


def test_rate_limit_slows_scan(users):
    reader_fast, _ = users
    limited = CassandraReader(reader_fast.keyspace, "scan_users", ["user_id"], [], ["user_id"],
                              settings=reader_fast.settings, fetch_size=50, rate_limit=400)
    t0 = time.monotonic()
    n = sum(1 for _ in limited.scan_range(split_ring(1)[0]))
    elapsed = time.monotonic() - t0
    assert n == N_USERS
    assert elapsed >= (N_USERS - 400) / 400 * 0.9  # burst of 400, then 400 rows/s


def test_error_names_host_keyspace_table(keyspace, cassandra_settings):
    reader = CassandraReader(keyspace, "no_such_table", ["k"], [], ["k"], settings=cassandra_settings)
    with pytest.raises(CassandraReadError) as info:
        list(reader.scan_range(TokenRange(-10, 10)))
    msg = str(info.value)
    assert keyspace in msg and "no_such_table" in msg and str(cassandra_settings.port) in msg
    assert "(-10, 10]" in msg


def test_rows_come_in_token_order_and_clustering_order(cql, keyspace, cassandra_settings):
    """The engine merges both sides by token: a range scan must return partitions in token order,
    and rows of a partition in the declared clustering order."""
    cql.execute(f"CREATE TABLE {keyspace}.ordered (p text, c timeuuid, s int, v int, "
                f"PRIMARY KEY ((p), c, s)) WITH CLUSTERING ORDER BY (c DESC, s ASC)")
    ins = cql.prepare(f"INSERT INTO {keyspace}.ordered (p, c, s, v) VALUES (?, ?, ?, ?)")
    rows = [(f"p{i}", uuid_from_time(1_700_000_000 + j * 10, node=j, clock_seq=j), s, j)
            for i in range(40) for j in range(6) for s in (2, 0, 1)]
    execute_concurrent_with_args(cql, ins, rows, concurrency=20, raise_on_first_error=True)
    reader = CassandraReader(keyspace, "ordered", ["p"], ["c", "s"], ["p", "c", "s"], settings=cassandra_settings)
    for rng in split_ring(3):
        got = list(reader.scan_range(rng, fetch_size=4))
        tokens = [r[0] for r in got]
        assert tokens == sorted(tokens)
        by_partition = {}
        for _tok, p, c, s in got:
            by_partition.setdefault(p, []).append((c, s))
        for p, cs in by_partition.items():
            times = [c.time for c, _ in cs]
            assert times == sorted(times, reverse=True), p
            for t in set(times):
                assert [s for c, s in cs if c.time == t] == [0, 1, 2]
