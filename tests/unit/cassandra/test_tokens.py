import datetime
import random
import uuid
from decimal import Decimal

import pytest
from cassandra import cqltypes
from cassandra.metadata import Murmur3Token
from cassandra.murmur3 import _murmur3, murmur3
from cassandra.protocol import ColumnMetadata
from cassandra.query import PreparedStatement
from cassandra.util import uuid_from_time

from chalicelib.cassandra import tokens
from chalicelib.cassandra.tokens import (
    MAX_TOKEN,
    MIN_TOKEN,
    TokenFunction,
    TokenRange,
    cql_type,
    segment_of,
    split_ring,
    token_for,
)


# ---------------------------------------------------------------- split_ring


@pytest.mark.parametrize("n", [1, 2, 3, 7, 16, 64, 100, 1000, 4097])
def test_split_ring_covers_ring_without_gaps_or_overlaps(n):
    ranges = split_ring(n)
    assert len(ranges) == n
    assert ranges[0].start == MIN_TOKEN
    assert ranges[-1].end == MAX_TOKEN
    for a, b in zip(ranges, ranges[1:]):
        assert a.end == b.start  # contiguous: (a.start, a.end] then (a.end, b.end]
    sizes = [r.end - r.start for r in ranges]
    assert all(s > 0 for s in sizes)
    assert max(sizes) - min(sizes) <= 1
    assert sum(sizes) == MAX_TOKEN - MIN_TOKEN  # every token but MIN_TOKEN, exactly once


def test_split_ring_one_is_full_ring():
    assert split_ring(1) == [TokenRange(MIN_TOKEN, MAX_TOKEN)]


@pytest.mark.parametrize("bad", [0, -1, 1.5, "3", True, None])
def test_split_ring_rejects_bad_counts(bad):
    with pytest.raises(ValueError):
        split_ring(bad)


def test_every_token_lands_in_exactly_one_range():
    rnd = random.Random(7)
    probes = [MIN_TOKEN + 1, MAX_TOKEN, 0, -1, 1] + [rnd.randint(MIN_TOKEN + 1, MAX_TOKEN) for _ in range(2000)]
    for n in (1, 2, 7, 64):
        ranges = split_ring(n)
        probes_with_bounds = probes + [r.end for r in ranges] + [r.end + 1 for r in ranges[:-1]]
        for t in probes_with_bounds:
            holders = [i for i, r in enumerate(ranges) if r.start < t <= r.end]
            assert len(holders) == 1, (n, t)
            assert segment_of(t, ranges) == holders[0]
            assert ranges[holders[0]].contains(t)


def test_segment_of_boundaries():
    ranges = split_ring(4)
    assert segment_of(ranges[0].end, ranges) == 0
    assert segment_of(ranges[0].end + 1, ranges) == 1
    assert segment_of(MAX_TOKEN, ranges) == 3
    assert segment_of(MIN_TOKEN + 1, ranges) == 0
    with pytest.raises(ValueError):
        segment_of(MIN_TOKEN, ranges)  # no key has MIN_TOKEN; (MIN, x] excludes it
    with pytest.raises(ValueError):
        segment_of(0, [])


def test_segment_of_partial_split():
    ranges = [TokenRange(-100, 0), TokenRange(0, 100)]
    assert segment_of(-99, ranges) == 0
    assert segment_of(100, ranges) == 1
    for t in (-100, 101, MIN_TOKEN):
        with pytest.raises(ValueError):
            segment_of(t, ranges)


# ---------------------------------------------------------------- TokenRange.unwrap


def test_unwrap_plain_range():
    assert TokenRange(-5, 5).unwrap() == [TokenRange(-5, 5)]
    assert not TokenRange(-5, 5).wraps


def test_unwrap_wrapping_range():
    r = TokenRange(100, -100)
    assert r.wraps
    assert r.unwrap() == [TokenRange(100, MAX_TOKEN), TokenRange(MIN_TOKEN, -100)]
    assert r.contains(MAX_TOKEN) and r.contains(MIN_TOKEN + 1) and r.contains(-100)
    assert not r.contains(0) and not r.contains(100)


@pytest.mark.parametrize("t", [MIN_TOKEN, 0, 12345, MAX_TOKEN])
def test_unwrap_equal_bounds_is_full_ring(t):
    pieces = TokenRange(t, t).unwrap()
    assert sum(e - s for s, e in pieces) == MAX_TOKEN - MIN_TOKEN
    assert all(s < e for s, e in pieces)


def test_unwrap_range_ending_at_min_goes_to_ring_end():
    assert TokenRange(0, MIN_TOKEN).unwrap() == [TokenRange(0, MAX_TOKEN)]
    assert TokenRange(MAX_TOKEN, 5).unwrap() == [TokenRange(MIN_TOKEN, 5)]


# ---------------------------------------------------------------- token_for vs the driver


def _driver_token(values, type_names):
    """Token as the driver computes it for routing a prepared statement bound with ``values``."""
    cols = [ColumnMetadata("ks", "t", f"c{i}", cql_type(t)) for i, t in enumerate(type_names)]
    stmt = PreparedStatement(cols, b"id", list(range(len(cols))), "SELECT", "ks", 4, [], None)
    bound = stmt.bind(values)
    return Murmur3Token.from_key(bound.routing_key).value


def _values(type_name, rnd):
    if type_name in ("text", "varchar"):
        n = rnd.randint(0, 40)
        return "".join(rnd.choice("abcxyz-_09éλ🙂") for _ in range(n))
    if type_name == "ascii":
        return "".join(rnd.choice("abcdefXYZ0123") for _ in range(rnd.randint(0, 30)))
    if type_name == "int":
        return rnd.randint(-(2**31), 2**31 - 1)
    if type_name == "bigint":
        return rnd.randint(-(2**63), 2**63 - 1)
    if type_name == "smallint":
        return rnd.randint(-(2**15), 2**15 - 1)
    if type_name == "uuid":
        return uuid.UUID(int=rnd.getrandbits(128), version=4)
    if type_name == "timeuuid":
        return uuid_from_time(rnd.uniform(0, 2e9), node=rnd.getrandbits(48), clock_seq=rnd.getrandbits(14))
    if type_name == "timestamp":
        return datetime.datetime(2020, 1, 1) + datetime.timedelta(milliseconds=rnd.randint(0, 10**11))
    if type_name == "date":
        return datetime.date(2000, 1, 1) + datetime.timedelta(days=rnd.randint(0, 20000))
    if type_name == "boolean":
        return rnd.random() < 0.5
    if type_name == "blob":
        return bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 50)))
    if type_name == "decimal":
        return Decimal(rnd.randint(-10**8, 10**8)) / 100
    if type_name == "double":
        return rnd.uniform(-1e9, 1e9)
    raise AssertionError(type_name)


SIMPLE_TYPES = [
    "text", "varchar", "ascii", "int", "bigint", "smallint", "uuid", "timeuuid",
    "timestamp", "date", "boolean", "blob", "decimal", "double",
]


@pytest.mark.parametrize("type_name", SIMPLE_TYPES)
def test_token_for_single_component_matches_driver(type_name):
    rnd = random.Random(type_name)
    for _ in range(300):
        v = _values(type_name, rnd)
        assert token_for([v], [type_name]) == _driver_token([v], [type_name]), v


@pytest.mark.parametrize(
    "types",
    [
        ["uuid", "text"],
        ["text", "int"],
        ["bigint", "timeuuid", "ascii"],
        ["int", "int"],
        ["date", "uuid", "boolean", "blob"],
    ],
)
def test_token_for_composite_matches_driver(types):
    rnd = random.Random(",".join(types))
    for _ in range(300):
        values = [_values(t, rnd) for t in types]
        assert token_for(values, types) == _driver_token(values, types), values


def test_composite_serialization_layout():
    key = tokens.routing_key(["ab", 1], ["text", "int"])
    assert key == b"\x00\x02ab\x00" + b"\x00\x04\x00\x00\x00\x01\x00"
    assert token_for(["ab", 1], ["text", "int"]) == murmur3(key)


def test_known_murmur3_vectors():
    # Cassandra's own hash test vectors (MurmurHash3 x64 128, first long, as Cassandra uses it)
    assert murmur3(b"123") == -7468325962851647638
    assert murmur3(b"\x00\xff\x10\xfa\x99" * 10) == 5837342703291459765
    assert murmur3(b"\xfe" * 8) == -8927430733708461935
    assert murmur3(b"\x10" * 8) == 1446172840243228796
    assert murmur3(b"9223372036854775807") == 7162290910810015547


def test_c_and_python_murmur3_agree():
    rnd = random.Random(3)
    for _ in range(500):
        data = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 70)))
        assert murmur3(data) == _murmur3(data)


def test_minimum_hash_normalized_to_max(monkeypatch):
    monkeypatch.setattr(tokens, "murmur3", lambda data: MIN_TOKEN)
    assert token_for(["x"], ["text"]) == MAX_TOKEN
    assert token_for(["x", 1], ["text", "int"]) == MAX_TOKEN
    assert Murmur3Token.hash_fn.__func__  # the driver does the same mapping (hash_fn)


def test_driver_maps_min_hash_like_cassandra(monkeypatch):
    import cassandra.metadata as md

    monkeypatch.setattr(md, "murmur3", lambda data: MIN_TOKEN)
    assert Murmur3Token.hash_fn(b"x") == MAX_TOKEN


def test_token_function_many_and_errors():
    tf = TokenFunction(["text"])
    keys = [[f"user-{i}"] for i in range(100)]
    assert tf.many(keys) == [token_for(k, ["text"]) for k in keys]
    with pytest.raises(ValueError):
        tf(["a", "b"])
    with pytest.raises(ValueError):
        token_for([None], ["text"])
    with pytest.raises(ValueError):
        token_for(["a"], ["text", "int"])
    with pytest.raises(ValueError):
        TokenFunction([])


def test_cql_type_parser():
    assert cql_type("text") is cqltypes.UTF8Type
    assert cql_type("VARCHAR") is cqltypes.VarcharType
    t = cql_type("frozen<map<text, list<int>>>")
    assert issubclass(t, cqltypes.MapType)
    assert t.subtypes[0] is cqltypes.UTF8Type
    assert issubclass(t.subtypes[1], cqltypes.ListType)
    assert issubclass(cql_type("set<uuid>"), cqltypes.SetType)
    for bad in ["", "nope", "list", "map<text>>", "list<int", "text int"]:
        with pytest.raises(ValueError):
            cql_type(bad)


def test_frozen_collection_partition_key_matches_driver():
    types = ["frozen<list<int>>", "text"]
    values = [[1, 2, 3], "k"]
    assert token_for(values, types) == _driver_token(values, types)


@pytest.mark.parametrize("types", [["timestamp"], ["text", "timestamp"]])
def test_a_timestamp_with_microseconds_hashes_as_the_millisecond_below_it(types):
    """PostgreSQL keeps microseconds; the canonical form and Cassandra's Java clients take the millisecond
    below (floor). The driver's own serializer truncates toward zero, so before 1970 a value with
    microseconds below the millisecond hashed as the next millisecond: its PostgreSQL row got another
    token (and segment) than the Cassandra row it is compared with."""
    utc = datetime.timezone.utc
    for us, ms in ((999_500, 999_000), (1, 0), (123_456, 123_000)):
        for year in (1969, 1900, 2026):
            value = datetime.datetime(year, 12, 31, 23, 59, 59, us, tzinfo=utc)
            stored = value.replace(microsecond=ms)
            key, floor_key = [*(["t"] * (len(types) - 1)), value], [*(["t"] * (len(types) - 1)), stored]
            assert token_for(key, types) == token_for(floor_key, types) == _driver_token(floor_key, types), value
            assert tokens.token_function(types)(key) == tokens.token_function(types)(floor_key), value
            naive = value.replace(tzinfo=None)
            assert token_for([*key[:-1], naive], types) == token_for(floor_key, types), naive
