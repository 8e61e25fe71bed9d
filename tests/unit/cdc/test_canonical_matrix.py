"""Cross-type matrix: a value as the cassandra-driver decodes it against the value psycopg decodes
from the matching PostgreSQL column.  Every MUST-EQUAL pair must compare equal (no false
positive) and canonicalise to the hand-written expected JSON value; every MUST-DIFFER pair must
compare unequal (no miss), both by ``values_equal`` and by row digest.

Values are produced by the real decoders from wire bytes wherever that is possible (see
codecs.py); a few cases construct the Python objects the drivers produce directly.
"""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, time, timedelta, timezone

import pytest
from cassandra.util import Date, OrderedMapSerializedKey, SortedSet, Time

from chalicelib.cdc.canonical import (
    CASSANDRA,
    POSTGRES,
    ColumnSpec,
    build_canonicalizer,
    canonical,
    row_digest,
    values_equal,
)
from tests.unit.cdc.codecs import cassandra_decode, cassandra_decode_row, pg_decode

C = cassandra_decode  # C(cql type, wire-level value)
P = pg_decode  # P(pg type, PostgreSQL text output)
U1 = "a8098c1a-f86e-11da-bd1a-00112444be1e"
U2 = "a8098c1a-f86e-11da-bd1a-00112444be1f"
TS_MS = 1763645400123  # 2025-11-20T13:30:00.123Z
PARIS = timezone(timedelta(hours=1))


def _col(cql_type: str, pg_type: str | None = None, tolerance=None) -> ColumnSpec:
    return ColumnSpec("v", cql_type, pg_type=pg_type, tolerance=tolerance)


# (id, cql type, pg type hint, cassandra-side value, postgres-side value, expected canonical)
EQUAL = [
    # text family
    ("text", "text", None, C("text", "hello"), P("text", "hello"), "hello"),
    ("text-unicode", "text", None, C("text", "Zürich ☃ 東京"), P("text", "Zürich ☃ 東京"), "Zürich ☃ 東京"),
    ("text-empty", "text", None, C("text", ""), P("text", ""), ""),
    ("varchar", "varchar", None, C("varchar", "x y"), P("varchar", "x y"), "x y"),
    ("ascii", "ascii", None, C("ascii", "abc"), P("text", "abc"), "abc"),
    ("char3-padding", "text", "char(3)", C("text", "ab"), P("bpchar", "ab "), "ab"),
    ("character4-padding", "varchar", "character(4)", C("varchar", "a"), P("bpchar", "a   "), "a"),
    ("text-trailing-space-kept", "text", "text", C("text", "ab "), P("text", "ab "), "ab "),
    # integers
    ("int", "int", None, C("int", 42), P("int4", "42"), 42),
    ("int-min", "int", None, C("int", -2**31), P("int4", str(-2**31)), -2**31),
    ("bigint", "bigint", None, C("bigint", 2**62 + 7), P("int8", str(2**62 + 7)), 2**62 + 7),
    ("smallint", "smallint", None, C("smallint", -32768), P("int2", "-32768"), -32768),
    ("tinyint-as-smallint", "tinyint", None, C("tinyint", -128), P("int2", "-128"), -128),
    ("varint-numeric", "varint", None, C("varint", 10**30 + 1), P("numeric", str(10**30 + 1)), 10**30 + 1),
    ("int-numeric-scale", "int", None, C("int", 42), P("numeric", "42.000"), 42),
    ("bigint-from-jsonb", "bigint", None, C("bigint", 7), "7", 7),
    # boolean
    ("boolean-true", "boolean", None, C("boolean", True), P("bool", "t"), True),
    ("boolean-false", "boolean", None, C("boolean", False), P("bool", "f"), False),
    # double
    ("double", "double", None, C("double", 0.1), P("float8", "0.1"), 0.1),
    ("double-big", "double", None, C("double", 1.7976931348623157e308), P("float8", "1.7976931348623157e+308"), 1.7976931348623157e308),
    ("double-neg-zero", "double", None, C("double", -0.0), P("float8", "0"), 0.0),
    ("double-nan", "double", None, C("double", float("nan")), P("float8", "NaN"), "NaN"),
    ("double-inf", "double", None, C("double", float("inf")), P("float8", "Infinity"), "Infinity"),
    ("double-minus-inf", "double", None, C("double", float("-inf")), P("float8", "-Infinity"), "-Infinity"),
    ("double-numeric", "double", None, C("double", 2.5), P("numeric", "2.50"), 2.5),
    ("double-int-valued", "double", None, C("double", 3.0), 3, 3.0),
    # float (32-bit both sides)
    ("float-0.1", "float", None, C("float", 0.1), P("float4", "0.1"), 0.1),
    ("float-third", "float", None, C("float", 1 / 3), P("float4", "0.33333334"), 0.33333334),
    ("float-pg-double-read", "float", None, C("float", 0.1), 0.10000000149011612, 0.1),
    ("float-max", "float", None, C("float", 3.4028234663852886e38), P("float4", "3.4028235e+38"), 3.4028235e38),
    ("float-tiny", "float", None, C("float", 1e-45), P("float4", "1e-45"), 1e-45),
    ("float-neg-zero", "float", None, C("float", -0.0), P("float4", "0"), 0.0),
    ("float-nan", "float", None, C("float", float("nan")), P("float4", "NaN"), "NaN"),
    ("float-big-int", "float", None, C("float", 16777216.0), P("float4", "1.6777216e+07"), 16777216.0),
    # decimal
    ("decimal-scale", "decimal", None, C("decimal", "10.50"), P("numeric", "10.5"), "10.5"),
    ("decimal-scale-2", "decimal", None, C("decimal", "10.5"), P("numeric", "10.500000"), "10.5"),
    ("decimal-neg-zero", "decimal", None, C("decimal", "-0.00"), P("numeric", "0"), "0"),
    ("decimal-neg-scale", "decimal", None, C("decimal", "1E+2"), P("numeric", "100"), "100"),
    ("decimal-small", "decimal", None, C("decimal", "1E-7"), P("numeric", "0.0000001"), "0.0000001"),
    ("decimal-negative", "decimal", None, C("decimal", "-12.340"), P("numeric", "-12.34"), "-12.34"),
    ("decimal-integer", "decimal", None, C("decimal", "5"), P("numeric", "5.00"), "5"),
    ("decimal-38-digits", "decimal", None, C("decimal", "12345678901234567890.123456789012345678"),
     P("numeric", "12345678901234567890.12345678901234567800"), "12345678901234567890.123456789012345678"),
    ("decimal-jsonb-number", "decimal", None, C("decimal", "10.25"), 10.25, "10.25"),
    # uuid / timeuuid
    ("uuid", "uuid", None, C("uuid", U1), P("uuid", U1), U1),
    ("uuid-uppercase-text", "uuid", None, C("uuid", U1), U1.upper(), U1),
    ("timeuuid", "timeuuid", None, C("timeuuid", U1), P("uuid", U1), U1),
    # timestamp: driver ms vs PostgreSQL µs, truncated toward the millisecond
    ("ts-tz-us", "timestamp", None, C("timestamp", TS_MS), P("timestamptz", "2025-11-20 13:30:00.123456+00"), "2025-11-20T13:30:00.123Z"),
    ("ts-tz-999us", "timestamp", None, C("timestamp", TS_MS), P("timestamptz", "2025-11-20 13:30:00.123999+00"), "2025-11-20T13:30:00.123Z"),
    ("ts-naive", "timestamp", None, C("timestamp", TS_MS), P("timestamp", "2025-11-20 13:30:00.123999"), "2025-11-20T13:30:00.123Z"),
    ("ts-offset", "timestamp", None, C("timestamp", TS_MS), datetime(2025, 11, 20, 14, 30, 0, 123400, tzinfo=PARIS), "2025-11-20T13:30:00.123Z"),
    ("ts-whole-second", "timestamp", None, C("timestamp", 1763645400000), P("timestamptz", "2025-11-20 13:30:00+00"), "2025-11-20T13:30:00.000Z"),
    ("ts-epoch", "timestamp", None, C("timestamp", 0), P("timestamptz", "1970-01-01 00:00:00+00"), "1970-01-01T00:00:00.000Z"),
    ("ts-before-epoch", "timestamp", None, C("timestamp", -1), P("timestamptz", "1969-12-31 23:59:59.999+00"), "1969-12-31T23:59:59.999Z"),
    ("ts-before-epoch-2", "timestamp", None, C("timestamp", -86_399_500), P("timestamp", "1969-12-31 00:00:00.500"), "1969-12-31T00:00:00.500Z"),
    ("ts-year-1", "timestamp", None, C("timestamp", -62135596800000 + 1), P("timestamp", "0001-01-01 00:00:00.001"), "0001-01-01T00:00:00.001Z"),
    # the driver decodes this one as ...59.998993 (float division): rounded, not truncated
    ("ts-year-9999", "timestamp", None, C("timestamp", 253402300799999), P("timestamp", "9999-12-31 23:59:59.999"), "9999-12-31T23:59:59.999Z"),
    ("ts-jsonb-string", "timestamp", None, C("timestamp", TS_MS), "2025-11-20T13:30:00.123456Z", "2025-11-20T13:30:00.123Z"),
    # date
    ("date", "date", None, C("date", 20412), P("date", "2025-11-20"), "2025-11-20"),
    ("date-before-epoch", "date", None, C("date", -1), P("date", "1969-12-31"), "1969-12-31"),
    ("date-year-1", "date", None, C("date", -719162), P("date", "0001-01-01"), "0001-01-01"),
    ("date-driver-date-object", "date", None, Date(date(2024, 2, 29)), date(2024, 2, 29), "2024-02-29"),
    # time: PostgreSQL µs, Cassandra ns truncated to µs
    ("time", "time", None, C("time", 48600123456000), P("time", "13:30:00.123456"), "13:30:00.123456"),
    ("time-ns-truncated", "time", None, C("time", 48600123456789), P("time", "13:30:00.123456"), "13:30:00.123456"),
    ("time-midnight", "time", None, C("time", 0), P("time", "00:00:00"), "00:00:00.000000"),
    ("time-driver-object", "time", None, Time(time(23, 59, 59, 999999)), time(23, 59, 59, 999999), "23:59:59.999999"),
    # blob
    ("blob", "blob", None, C("blob", b"\x00\xff\x10"), P("bytea", "\\x00ff10"), "00ff10"),
    ("blob-empty", "blob", None, C("blob", b""), P("bytea", "\\x"), ""),
    ("blob-memoryview", "blob", None, C("blob", b"\xde\xad"), memoryview(b"\xde\xad"), "dead"),
    # inet
    ("inet4", "inet", None, C("inet", "192.168.0.1"), P("inet", "192.168.0.1"), "192.168.0.1"),
    ("inet4-host-prefix", "inet", None, C("inet", "10.0.0.1"), P("inet", "10.0.0.1/32"), "10.0.0.1"),
    ("inet6", "inet", None, C("inet", "2001:db8::1"), P("inet", "2001:db8::1"), "2001:db8::1"),
    ("inet6-expanded", "inet", None, C("inet", "2001:db8::1"), "2001:0DB8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
    # set
    ("set-text-array", "set<text>", None, C("set<text>", ["b", "a", "c"]), P("text[]", "{c,a,b}"), ["a", "b", "c"]),
    ("set-text-jsonb", "set<text>", None, C("set<text>", ["b", "a"]), P("jsonb", '["b", "a"]'), ["a", "b"]),
    ("set-int-array", "set<int>", None, C("set<int>", [3, 1, 2]), P("int4[]", "{2,3,1}"), [1, 2, 3]),
    ("set-int-negative-order", "set<int>", None, C("set<int>", [-5, 10, 2]), P("int4[]", "{10,2,-5}"), [-5, 2, 10]),
    ("set-uuid", "set<uuid>", None, C("set<uuid>", [U2, U1]), P("uuid[]", "{%s,%s}" % (U2, U1)), [U1, U2]),
    ("set-timestamp-jsonb", "set<timestamp>", None, C("set<timestamp>", [TS_MS, 0]),
     P("jsonb", '["2025-11-20T13:30:00.123456+00:00", "1970-01-01T00:00:00Z"]'),
     ["1970-01-01T00:00:00.000Z", "2025-11-20T13:30:00.123Z"]),
    ("set-decimal-scale", "set<decimal>", None, C("set<decimal>", ["1.50", "2"]), P("numeric[]", "{2.00,1.5}"), ["1.5", "2"]),
    ("frozen-set", "frozen<set<text>>", None, C("frozen<set<text>>", ["x"]), P("text[]", "{x}"), ["x"]),
    # list
    ("list-int", "list<int>", None, C("list<int>", [3, 1, 2]), P("int4[]", "{3,1,2}"), [3, 1, 2]),
    ("list-text-dups", "list<text>", None, C("list<text>", ["a", "a"]), P("text[]", "{a,a}"), ["a", "a"]),
    ("list-jsonb", "list<double>", None, C("list<double>", [1.5, -0.0]), P("jsonb", "[1.5, 0]"), [1.5, 0.0]),
    ("list-of-sets", "list<frozen<set<int>>>", None, C("list<frozen<set<int>>>", [[2, 1], [3]]), P("jsonb", "[[1, 2], [3]]"), [[1, 2], [3]]),
    # map
    ("map-text-int", "map<text, int>", None, C("map<text, int>", {"b": 2, "a": 1}), P("jsonb", '{"a": 1, "b": 2}'), {"a": 1, "b": 2}),
    ("map-int-keys", "map<int, text>", None, C("map<int, text>", {10: "y", 1: "x"}), P("jsonb", '{"1": "x", "10": "y"}'), {"1": "x", "10": "y"}),
    ("map-uuid-decimal", "map<uuid, decimal>", None, C("map<uuid, decimal>", {U1: "10.50"}), P("jsonb", '{"%s": 10.5}' % U1.upper()), {U1: "10.5"}),
    ("map-text-timestamp", "map<text, timestamp>", None, C("map<text, timestamp>", {"seen": TS_MS}),
     P("jsonb", '{"seen": "2025-11-20 13:30:00.123789+00"}'), {"seen": "2025-11-20T13:30:00.123Z"}),
    ("map-text-set", "map<text, frozen<set<int>>>", None, C("map<text, frozen<set<int>>>", {"a": [2, 1]}), P("jsonb", '{"a": [1, 2]}'), {"a": [1, 2]}),
    ("map-bool-keys", "map<boolean, int>", None, C("map<boolean, int>", {True: 1, False: 0}), P("jsonb", '{"false": 0, "true": 1}'), {"false": 0, "true": 1}),
    # null and empty collections are the same thing
    ("null-text", "text", None, None, None, None),
    ("null-int", "int", None, None, None, None),
    ("null-timestamp", "timestamp", None, None, P("timestamptz", None), None),
    ("empty-set-vs-null", "set<text>", None, C("set<text>", []), None, None),
    ("null-set-vs-empty-array", "set<text>", None, None, P("text[]", "{}"), None),
    ("empty-set-vs-empty-jsonb", "set<int>", None, C("set<int>", []), P("jsonb", "[]"), None),
    ("empty-list-vs-null", "list<int>", None, C("list<int>", []), None, None),
    ("empty-map-vs-jsonb-object", "map<text, int>", None, C("map<text, int>", {}), P("jsonb", "{}"), None),
    ("null-map-vs-jsonb-null", "map<text, int>", None, None, P("jsonb", "null"), None),
    ("empty-sortedset-object", "set<text>", None, SortedSet(), [], None),
    ("empty-ordered-map-object", "map<int, int>", None, OrderedMapSerializedKey(None, 4), {}, None),
]

# (id, cql type, pg type hint, cassandra-side value, postgres-side value)
DIFFER = [
    ("text-case", "text", None, C("text", "a"), P("text", "A")),
    ("text-trailing-space-no-hint", "text", "varchar(10)", C("text", "ab"), P("varchar", "ab ")),
    ("text-leading-space-char", "text", "char(3)", C("text", "ab"), P("bpchar", " ab")),
    ("text-empty-vs-null", "text", None, C("text", ""), None),
    ("text-null-vs-empty", "text", None, None, P("text", "")),
    ("text-nfc-vs-nfd", "text", None, C("text", "é"), P("text", "e\u0301")),
    ("int", "int", None, C("int", 1), P("int4", "2")),
    ("int-vs-null", "int", None, C("int", 0), None),
    ("int-vs-fraction", "int", None, C("int", 1), P("numeric", "1.5")),
    ("varint-last-digit", "varint", None, C("varint", 10**30), P("numeric", str(10**30 + 1))),
    ("bigint-sign", "bigint", None, C("bigint", -5), P("int8", "5")),
    ("boolean", "boolean", None, C("boolean", True), P("bool", "f")),
    ("boolean-false-vs-null", "boolean", None, C("boolean", False), None),
    ("double-1.0001", "double", None, C("double", 1.0), P("float8", "1.0001")),
    ("double-next-ulp", "double", None, C("double", 0.1), P("float8", "0.10000000000000002")),
    ("double-nan-vs-zero", "double", None, C("double", float("nan")), P("float8", "0")),
    ("double-inf-signs", "double", None, C("double", float("inf")), P("float8", "-Infinity")),
    ("float-next-float32", "float", None, C("float", 0.1), P("float4", "0.10000001")),
    ("float-1-vs-1.0001", "float", None, C("float", 1.0), P("float4", "1.0001")),
    ("decimal-10.5-10.51", "decimal", None, C("decimal", "10.5"), P("numeric", "10.51")),
    ("decimal-38-last-digit", "decimal", None, C("decimal", "12345678901234567890.123456789012345678"),
     P("numeric", "12345678901234567890.123456789012345679")),
    ("decimal-sign", "decimal", None, C("decimal", "1"), P("numeric", "-1")),
    ("decimal-zero-vs-null", "decimal", None, C("decimal", "0"), None),
    ("decimal-magnitude", "decimal", None, C("decimal", "1E+2"), P("numeric", "10")),
    ("uuid", "uuid", None, C("uuid", U1), P("uuid", U2)),
    ("ts-1ms", "timestamp", None, C("timestamp", TS_MS), P("timestamptz", "2025-11-20 13:30:00.124+00")),
    ("ts-truncation-not-rounding", "timestamp", None, C("timestamp", TS_MS), P("timestamptz", "2025-11-20 13:30:00.122999+00")),
    ("ts-naive-is-utc-not-local", "timestamp", None, C("timestamp", TS_MS), datetime(2025, 11, 20, 14, 30, 0, 123000)),
    ("ts-offset-ignored-would-match", "timestamp", None, C("timestamp", TS_MS), datetime(2025, 11, 20, 13, 30, 0, 123000, tzinfo=PARIS)),
    ("ts-vs-null", "timestamp", None, C("timestamp", TS_MS), None),
    ("date-1-day", "date", None, C("date", 20412), P("date", "2025-11-21")),
    ("time-1us", "time", None, C("time", 48600123456000), P("time", "13:30:00.123457")),
    ("blob-empty-vs-null", "blob", None, C("blob", b""), None),
    ("blob-length", "blob", None, C("blob", b"\x00"), P("bytea", "\\x0000")),
    ("inet-v4-vs-mapped-v6", "inet", None, C("inet", "1.2.3.4"), P("inet", "::ffff:1.2.3.4")),
    ("inet-prefix", "inet", None, C("inet", "10.0.0.1"), P("inet", "10.0.0.1/24")),
    ("inet-address", "inet", None, C("inet", "10.0.0.1"), P("inet", "10.0.0.2")),
    ("set-element", "set<text>", None, C("set<text>", ["a", "b"]), P("text[]", "{a,c}")),
    ("set-subset", "set<text>", None, C("set<text>", ["a", "b"]), P("text[]", "{a}")),
    ("set-case", "set<text>", None, C("set<text>", ["a"]), P("text[]", "{A}")),
    ("set-vs-null", "set<int>", None, C("set<int>", [1]), None),
    ("list-order", "list<int>", None, C("list<int>", [1, 2, 3]), P("int4[]", "{3,2,1}")),
    ("list-dup", "list<text>", None, C("list<text>", ["a", "a"]), P("text[]", "{a}")),
    ("map-value", "map<text, int>", None, C("map<text, int>", {"a": 1}), P("jsonb", '{"a": 2}')),
    ("map-key", "map<text, int>", None, C("map<text, int>", {"a": 1}), P("jsonb", '{"b": 1}')),
    ("map-extra-key", "map<text, int>", None, C("map<text, int>", {"a": 1}), P("jsonb", '{"a": 1, "b": 2}')),
    ("map-int-key-value", "map<int, text>", None, C("map<int, text>", {1: "x"}), P("jsonb", '{"2": "x"}')),
]


@pytest.mark.parametrize("cql_type,pg_type,c_value,p_value,expected", [e[1:] for e in EQUAL], ids=[e[0] for e in EQUAL])
def test_must_equal(cql_type, pg_type, c_value, p_value, expected):
    col = _col(cql_type, pg_type)
    c = canonical(c_value, col, CASSANDRA)
    p = canonical(p_value, col, POSTGRES)
    assert c == expected and type(c) is type(expected)
    assert p == expected and type(p) is type(expected)
    assert values_equal(c, p, col)
    assert row_digest((c,)) == row_digest((p,))
    json.dumps(c, allow_nan=False)  # the canonical form is strict JSON
    _same_through_compiled_rows(col, c_value, p_value, c, p)


def _same_through_compiled_rows(col, c_value, p_value, c, p):
    """The compiled per-table canonicalizer (inlined fast paths) agrees with canonical()."""
    other = ColumnSpec("k", "int")
    assert build_canonicalizer([other, col], CASSANDRA)((1, c_value)) == (1, c)
    assert build_canonicalizer([col, other], POSTGRES)([p_value, 1]) == (p, 1)


@pytest.mark.parametrize("cql_type,pg_type,c_value,p_value", [d[1:] for d in DIFFER], ids=[d[0] for d in DIFFER])
def test_must_differ(cql_type, pg_type, c_value, p_value):
    col = _col(cql_type, pg_type)
    c = canonical(c_value, col, CASSANDRA)
    p = canonical(p_value, col, POSTGRES)
    assert not values_equal(c, p, col)
    assert row_digest((c,)) != row_digest((p,))
    _same_through_compiled_rows(col, c_value, p_value, c, p)


def test_matrix_covers_every_supported_type():
    supported = {"text", "varchar", "ascii", "int", "bigint", "smallint", "tinyint", "varint",
                 "boolean", "double", "float", "decimal", "uuid", "timeuuid", "timestamp", "date",
                 "time", "blob", "inet", "set", "list", "map"}
    base = lambda t: t.replace("frozen<", "").split("<")[0].strip()  # noqa: E731
    assert supported <= {base(e[1]) for e in EQUAL}
    assert supported - {"varchar", "ascii", "smallint", "tinyint", "timeuuid"} <= {base(d[1]) for d in DIFFER}


def test_whole_row_from_both_decoders_is_identical():
    """One wide row through both real decoders and the compiled canonicalizers."""
    columns = [
        ("user_id", "text"), ("email", "varchar"), ("age", "int"), ("balance", "decimal"),
        ("score", "float"), ("ratio", "double"), ("active", "boolean"), ("ext_id", "uuid"),
        ("born", "date"), ("wake", "time"), ("created_at", "timestamp"), ("avatar", "blob"),
        ("ip", "inet"), ("tags", "set<text>"), ("history", "list<int>"), ("attrs", "map<text, int>"),
        ("empty_tags", "set<text>"), ("code", "text"),
    ]
    cols = [ColumnSpec(n, t, pg_type="char(4)" if n == "code" else None) for n, t in columns]
    c_row = cassandra_decode_row(columns, [
        "user-1", "a@b.c", 42, "1234.50", 0.1, 2.5, True, U1, 20412, 48600123456789, TS_MS,
        b"\x01\x02", "2001:db8::1", ["vip", "beta"], [3, 1], {"z": 1, "a": 2}, [], "ab",
    ])
    p_row = (
        P("text", "user-1"), P("varchar", "a@b.c"), P("int4", "42"), P("numeric", "1234.5"),
        P("float4", "0.1"), P("float8", "2.5"), P("bool", "t"), P("uuid", U1), P("date", "2025-11-20"),
        P("time", "13:30:00.123456"), P("timestamptz", "2025-11-20 14:30:00.123456+01"),
        P("bytea", "\\x0102"), P("inet", "2001:db8::1"), P("text[]", "{beta,vip}"),
        P("int4[]", "{3,1}"), P("jsonb", '{"a": 2, "z": 1}'), None, P("bpchar", "ab  "),
    )
    c = build_canonicalizer(cols, CASSANDRA)(c_row)
    p = build_canonicalizer(cols, POSTGRES)(p_row)
    assert c == p
    assert row_digest(c) == row_digest(p)
    assert c[10] == "2025-11-20T13:30:00.123Z"
    assert c[13] == ["beta", "vip"] and c[15] == {"a": 2, "z": 1} and c[16] is None


# ---- tolerances ------------------------------------------------------------------------------

TOLERANCE_CASES = [
    # (cql type, tolerance, cassandra value, postgres value, equal?)
    ("double", 0.01, C("double", 1.0), P("float8", "1.01"), True),
    ("double", 0.01, C("double", 1.0), P("float8", "1.0100001"), False),
    ("double", 0.1, C("double", 1.0), P("float8", "1.1"), True),  # 1.1-1.0 is 0.10000000000000009 in binary
    ("double", 0.1, C("double", 1.0), P("float8", "0.9"), True),
    ("double", 0, C("double", 1.0), P("float8", "1.0000001"), False),
    ("double", 1, C("double", float("nan")), P("float8", "0"), False),
    ("double", 1, C("double", float("nan")), P("float8", "NaN"), True),
    ("double", 1e300, C("double", float("inf")), P("float8", "1e308"), False),
    ("float", 0.1, C("float", 1.0), P("float4", "1.1"), True),
    ("float", 0.01, C("float", 1.0), P("float4", "1.1"), False),
    ("decimal", "0.005", C("decimal", "10.50"), P("numeric", "10.505"), True),
    ("decimal", "0.005", C("decimal", "10.50"), P("numeric", "10.5051"), False),
    ("decimal", "0.01", C("decimal", "12345678901234567890.123456789012345678"),
     P("numeric", "12345678901234567890.133456789012345678"), True),
    ("decimal", "0.01", C("decimal", "12345678901234567890.123456789012345678"),
     P("numeric", "12345678901234567890.133456789012345679"), False),
    ("int", 2, C("int", 10), P("int4", "12"), True),
    ("int", 2, C("int", 10), P("int4", "13"), False),
    ("bigint", 0, C("bigint", 10), P("int8", "10"), True),
    ("varint", 1, C("varint", 10**30), P("numeric", str(10**30 + 1)), True),
    ("int", 5, C("int", 0), None, False),  # a tolerance never makes null equal to a value
    ("timestamp", 1000, C("timestamp", TS_MS), P("timestamptz", "2025-11-20 13:30:01.123999+00"), True),
    ("timestamp", 1000, C("timestamp", TS_MS), P("timestamptz", "2025-11-20 13:30:01.124+00"), False),
    ("timestamp", 1000, C("timestamp", TS_MS), P("timestamptz", "2025-11-20 13:29:59.123+00"), True),
    ("timestamp", 1000, C("timestamp", TS_MS), P("timestamptz", "2025-11-20 13:29:59.122+00"), False),
    ("timestamp", 0, C("timestamp", TS_MS), P("timestamptz", "2025-11-20 13:30:00.124+00"), False),
    ("timestamp", 60000, C("timestamp", TS_MS), None, False),
]


@pytest.mark.parametrize("cql_type,tol,c_value,p_value,equal", TOLERANCE_CASES)
def test_tolerance(cql_type, tol, c_value, p_value, equal):
    col = _col(cql_type, tolerance=tol)
    c = canonical(c_value, col, CASSANDRA)
    p = canonical(p_value, col, POSTGRES)
    assert values_equal(c, p, col) is equal
    assert values_equal(p, c, col) is equal
    # without the tolerance, only identical canonical values are equal
    assert values_equal(c, p, _col(cql_type)) is (c == p)


@pytest.mark.parametrize("cql_type", ["text", "boolean", "uuid", "date", "set<int>", "blob", "inet"])
def test_tolerance_rejected_on_non_numeric_types(cql_type):
    with pytest.raises(ValueError, match="tolerance"):
        ColumnSpec("v", cql_type, tolerance=1)


@pytest.mark.parametrize("tol", [-1, "abc", float("nan"), True])
def test_bad_tolerance_values_rejected(tol):
    with pytest.raises(ValueError, match="tolerance"):
        ColumnSpec("v", "double", tolerance=tol)


def test_timeuuid_and_uuid_from_driver_objects():
    t = uuid.uuid1()
    assert canonical(t, "timeuuid", CASSANDRA) == str(t).lower()
    assert canonical(str(t).upper(), "timeuuid", POSTGRES) == str(t).lower()


def test_dates_out_of_python_range_are_day_counts():
    far = C("date", 3_000_000)  # year ~10183: the driver keeps a cassandra.util.Date of days
    assert canonical(far, "date", CASSANDRA) == "3000000"
    assert canonical(C("date", -800_000), "date", CASSANDRA) == "-800000"
    assert canonical(far, "date", CASSANDRA) != canonical(C("date", 2_999_999), "date", CASSANDRA)
