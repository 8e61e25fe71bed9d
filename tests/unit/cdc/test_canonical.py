"""Type parser, compiled canonicalizers, digests, key display, and property tests of the
canonical form (driver decoding of real bytes against independently computed expectations)."""

from __future__ import annotations

import random
import struct
from datetime import datetime, timedelta, timezone
from decimal import Decimal, localcontext

import pytest
from cassandra.cqltypes import DateType
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.cdc.canonical import (
    CASSANDRA,
    POSTGRES,
    ColumnSpec,
    SegmentDigest,
    UnsupportedTypeError,
    build_canonicalizer,
    canonical,
    checksum_hex,
    parse_cql_type,
    pk_display,
    row_digest,
    values_equal,
)
from tests.unit.cdc.codecs import cassandra_decode, pg_decode

# ---- type strings ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,expected",
    [
        ("text", "text"),
        ("VARCHAR", "varchar"),
        (" bigint ", "bigint"),
        ("set<text>", "set<text>"),
        ("list< int >", "list<int>"),
        ("map<text,int>", "map<text, int>"),
        ("frozen<set<uuid>>", "frozen<set<uuid>>"),
        ("map<text, frozen<list<frozen<map<int, boolean>>>>>", "map<text, frozen<list<frozen<map<int, boolean>>>>>"),
    ],
)
def test_parse_round_trips(text, expected):
    assert str(parse_cql_type(text)) == expected


def test_parse_tree_shape():
    t = parse_cql_type("map<varchar, frozen<set<timeuuid>>>")
    assert (t.name, t.family, t.is_collection) == ("map", "map", True)
    k, v = t.params
    assert (k.name, k.family) == ("varchar", "text")
    assert v.frozen and v.family == "set" and v.params[0].family == "uuid"


@pytest.mark.parametrize(
    "bad",
    ["", "   ", "duration", "tuple<int,int>", "set", "set<>", "map<text>", "list<int,int>",
     "set<text", "set<text>>", "frozen", "text<int>", "my_udt", "int int", "map<text,int>x"],
)
def test_parse_rejects(bad):
    with pytest.raises(UnsupportedTypeError):
        parse_cql_type(bad)


def test_unsupported_type_error_is_a_value_error_naming_the_type():
    with pytest.raises(ValueError, match="duration"):
        ColumnSpec("d", "duration")


# ---- compiled canonicalizer ------------------------------------------------------------------

COLS = [ColumnSpec("id", "text"), ColumnSpec("n", "int", pg_name="num"), ColumnSpec("tags", "set<text>")]


def test_canonicalizer_accepts_tuples_lists_and_mappings():
    c = build_canonicalizer(COLS, CASSANDRA)
    p = build_canonicalizer(COLS, POSTGRES)
    expected = ("a", 1, ["x", "y"])
    assert c(("a", 1, ["y", "x"])) == expected
    assert c(["a", 1, ["y", "x"]]) == expected
    assert c({"id": "a", "n": 1, "tags": ["y", "x"]}) == expected
    assert p({"id": "a", "num": 1, "tags": ["y", "x"]}) == expected  # PostgreSQL column name


def test_canonicalizer_rejects_wrong_width_and_missing_columns():
    c = build_canonicalizer(COLS, CASSANDRA)
    with pytest.raises(ValueError, match="3"):
        c(("a", 1))
    with pytest.raises(ValueError, match="3"):
        c(("a", 1, None, 4))
    with pytest.raises(ValueError, match="num"):
        build_canonicalizer(COLS, POSTGRES)({"id": "a", "n": 1, "tags": None})


def test_canonicalizer_config_errors():
    with pytest.raises(ValueError):
        build_canonicalizer([], CASSANDRA)
    with pytest.raises(ValueError, match="duplicate"):
        build_canonicalizer([ColumnSpec("a", "int"), ColumnSpec("a", "text")], CASSANDRA)
    with pytest.raises(ValueError, match="side"):
        build_canonicalizer(COLS, "mysql")


def test_canonicalizer_wide_table_keeps_column_order():
    cols = [ColumnSpec(f"c{i}", "int") for i in range(300)]
    row = tuple(range(300))
    assert build_canonicalizer(cols, POSTGRES)(row) == row


def test_namedtuple_rows_from_the_driver():
    from collections import namedtuple

    Row = namedtuple("Row", "id n tags")
    assert build_canonicalizer(COLS, CASSANDRA)(Row("a", 1, None)) == ("a", 1, None)


@pytest.mark.parametrize(
    "cql_type,value",
    [("int", "abc"), ("int", [1]), ("uuid", "not-a-uuid"), ("boolean", "maybe"), ("boolean", 2),
     ("timestamp", "yesterday"), ("date", "2025-13-01"), ("inet", "300.1.1.1"), ("blob", "zz"),
     ("double", "fast"), ("decimal", "1.2.3"), ("set<int>", {"a": 1}), ("time", "25:00:00"),
     ("text", {1, 2})],
)
def test_uninterpretable_values_raise_instead_of_guessing(cql_type, value):
    with pytest.raises(ValueError):
        canonical(value, cql_type, POSTGRES)


def test_json_values_where_text_is_expected_are_their_json_text():
    """A map<text, text> stored as jsonb may hold a number, a boolean or an object as a value: its text is its
    compact JSON, as map keys are (an object failed the whole job; true read 'True' and never equalled 'true')."""
    assert canonical({"k": {"a": 1}}, "map<text, text>", POSTGRES) == {"k": '{"a":1}'}
    assert canonical({"k": True, "n": 1, "f": 1.5, "l": [1, "x"]}, "map<text, text>", POSTGRES) == {
        "f": "1.5", "k": "true", "l": '[1,"x"]', "n": "1"}
    assert canonical({"k": "true"}, "map<text, text>", CASSANDRA) == canonical({"k": True}, "map<text, text>", POSTGRES)


def test_collections_stored_as_json_text():
    assert canonical('["b","a"]', "set<text>", POSTGRES) == ["a", "b"]
    assert canonical('{"2": 1.50}', "map<int, decimal>", POSTGRES) == {"2": "1.5"}


def test_set_with_null_and_nan_elements_still_has_a_total_order():
    assert canonical([2.0, float("nan"), 1.0], "set<double>") == [1.0, 2.0, "NaN"]
    assert canonical(["b", None, "a"], "list<text>") == ["b", None, "a"]


def test_set_from_array_with_duplicates_is_a_set():
    assert canonical(pg_decode("text[]", "{a,b,a}"), "set<text>", POSTGRES) == ["a", "b"]


def test_map_with_frozen_collection_keys_from_jsonb():
    c = canonical(cassandra_decode("map<frozen<list<int>>, text>", [([1, 2], "x")]), "map<frozen<list<int>>, text>", CASSANDRA)
    p = canonical({"[1, 2]": "x"}, "map<frozen<list<int>>, text>", POSTGRES)
    assert c == p == {"[1,2]": "x"}


# ---- digests -----------------------------------------------------------------------------------


def test_row_digest_is_stable_and_64_bit():
    row = ("user-1", 42, "10.5", ["a", "b"], {"k": 1}, None, True, 0.1, "2025-11-20T13:30:00.123Z")
    h = row_digest(row)
    assert 0 <= h < 2**64
    assert h == row_digest(list(row))
    assert checksum_hex(row) == checksum_hex(h) == f"{h:016x}"
    assert len(checksum_hex(row)) == 16


def test_row_digest_is_pinned():
    """The digest format is persisted with segment results: changing it must be deliberate.
    Expected value: blake2b-64 of the compact JSON array, computed independently here."""
    import hashlib
    import json

    row = ("user-1", 42, None, ["a"], {"k": 1.5}, True, "é")
    text = json.dumps(list(row), separators=(",", ":"), ensure_ascii=False)
    assert text == '["user-1",42,null,["a"],{"k":1.5},true,"é"]'
    assert row_digest(row) == int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def test_row_digest_distinguishes_types_and_positions():
    rows = [("1",), (1,), (1.0,), (True,), (None,), ("",), ([],), ({},), ("a", "b"), ("b", "a"),
            ("ab", ""), ("a", "b"), ("a|b",), (["a", "b"],), ("a,b",)]
    digests = {row_digest(r) for r in rows}
    assert len(digests) == len({repr(r) for r in rows})


def test_row_digest_of_mapping_follows_column_order():
    cols = [ColumnSpec("a", "int"), ColumnSpec("b", "int")]
    assert row_digest({"b": 2, "a": 1}, cols) == row_digest((1, 2))
    with pytest.raises(ValueError):
        row_digest({"a": 1, "b": 2})


@given(st.lists(st.integers(min_value=0, max_value=2**64 - 1), max_size=60), st.randoms(use_true_random=False))
def test_segment_digest_is_order_independent_and_mergeable(hashes, rnd):
    whole = SegmentDigest.of(hashes)
    shuffled = hashes[:]
    rnd.shuffle(shuffled)
    cut = rnd.randint(0, len(shuffled))
    a, b = SegmentDigest.of(shuffled[:cut]), SegmentDigest.of(shuffled[cut:])
    assert a.merge(b) == b.merge(a) == whole
    assert whole.count == len(hashes)
    assert whole.sum == sum(hashes) % 2**64
    assert SegmentDigest.from_dict(whole.to_dict()) == whole


def test_segment_digest_detects_changes():
    base = [row_digest((i, f"v{i}")) for i in range(100)]
    d = SegmentDigest.of(base)
    assert SegmentDigest.of(base[:-1]) != d  # a missing row
    assert SegmentDigest.of(base + [base[0]]) != d  # a duplicated row
    changed = base[:]
    changed[5] = row_digest((5, "v5 "))
    assert SegmentDigest.of(changed) != d
    swapped = base[:]
    swapped[0], swapped[1] = row_digest((0, "v1")), row_digest((1, "v0"))
    assert SegmentDigest.of(swapped) != d
    assert len(d.hex()) == 32


def test_segment_digest_from_dict_validates():
    with pytest.raises(ValueError):
        SegmentDigest.from_dict({"count": 1, "digest": "abc"})
    with pytest.raises(ValueError):
        SegmentDigest.from_dict({"count": 1, "digest": "0" * 32, "version": 99})


# ---- key display -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pk,expected",
    [
        (("user-12345",), "user-12345"),
        ((42,), "42"),
        (("a8098c1a-f86e-11da-bd1a-00112444be1e",), "a8098c1a-f86e-11da-bd1a-00112444be1e"),
        (("tenant-1", "2025-11-20T13:30:00.123Z", 7), "tenant-1|2025-11-20T13:30:00.123Z|7"),
        (("a|b", "c"), "a\\|b|c"),
        (("a\\", "b"), "a\\\\|b"),
        (("a|b",), "a|b"),
        ((True, 1.5), "true|1.5"),
        ((["x", "y"],), '["x","y"]'),
    ],
)
def test_pk_display(pk, expected):
    assert pk_display(pk) == expected


def test_pk_display_composites_do_not_collide():
    assert pk_display(("a|b", "c")) != pk_display(("a", "b|c"))
    assert pk_display(("a\\", "|b")) != pk_display(("a\\|", "b"))


# ---- properties on real driver decoding ---------------------------------------------------------

MIN_MS = -62135596800000  # 0001-01-01T00:00:00.000Z
MAX_MS = 253402300799999  # 9999-12-31T23:59:59.999Z


def _expected_ts(ms: int) -> str:
    """Independent formatting of epoch milliseconds."""
    days, rem = divmod(ms, 86_400_000)
    d = datetime(1970, 1, 1) + timedelta(days=days)
    h, rem = divmod(rem, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, milli = divmod(rem, 1000)
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (d.year, d.month, d.day, h, m, s, milli)


@settings(max_examples=400, deadline=None)
@given(st.integers(min_value=MIN_MS, max_value=MAX_MS), st.integers(min_value=0, max_value=999))
def test_any_stored_timestamp_matches_postgres_microseconds(ms, extra_us):
    col = ColumnSpec("t", "timestamp")
    c = canonical(cassandra_decode("timestamp", ms), col, CASSANDRA)
    assert c == _expected_ts(ms)
    # the driver's non-Cython deserializer (used without the compiled extensions) agrees
    pure = DateType.deserialize(struct.pack(">q", ms), 4)
    assert canonical(pure, col, CASSANDRA) == c
    pg = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(milliseconds=ms, microseconds=extra_us)
    assert canonical(pg, col, POSTGRES) == c
    assert canonical(pg.replace(tzinfo=None), col, POSTGRES) == c
    if ms < MAX_MS:
        assert canonical(cassandra_decode("timestamp", ms + 1), col, CASSANDRA) != c


@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_any_float32_bit_pattern(bits):
    raw = struct.pack(">I", bits)
    f32 = struct.unpack(">f", raw)[0]
    col = ColumnSpec("f", "float")
    c = canonical(cassandra_decode("float", f32), col, CASSANDRA)
    if f32 != f32:
        assert c == "NaN"
        return
    # PostgreSQL prints real with up to 9 significant digits; psycopg reads it as a double.
    p = canonical(float("%.9g" % f32), col, POSTGRES)
    assert c == p
    if isinstance(c, float) and f32 != 0:
        assert struct.pack(">f", c) == raw  # the canonical number is that float32
        assert len(repr(c)) <= len(repr(float("%.9g" % f32)))


@given(st.decimals(allow_nan=False, allow_infinity=False), st.integers(min_value=0, max_value=6))
def test_decimal_scale_never_matters_and_value_always_does(d, extra_zeros):
    col = ColumnSpec("d", "decimal")
    c = canonical(cassandra_decode("decimal", d), col, CASSANDRA)
    sign, digits, exp = d.as_tuple()
    padded = Decimal((sign, digits + (0,) * extra_zeros, exp - extra_zeros))  # same value, more scale
    assert canonical(padded, col, POSTGRES) == c
    assert "E" not in c and "e" not in c
    assert Decimal(c) == d  # exact: no rounding to the default 28-digit context
    with localcontext() as ctx:
        ctx.prec = 10_000
        bumped = d + Decimal((0, (1,), exp))  # one unit in the last place
    assert canonical(bumped, col, POSTGRES) != c


@given(st.lists(st.text(max_size=5), max_size=8, unique=True), st.randoms(use_true_random=False))
def test_set_order_never_matters(items, rnd):
    col = ColumnSpec("s", "set<text>")
    c = canonical(cassandra_decode("set<text>", items), col, CASSANDRA)
    shuffled = items[:]
    rnd.shuffle(shuffled)
    assert canonical(shuffled, col, POSTGRES) == c
    assert c == (sorted(items) or None)


@given(st.dictionaries(st.integers(min_value=-2**31, max_value=2**31 - 1), st.text(max_size=3), max_size=6))
def test_map_with_int_keys_against_jsonb(m):
    col = ColumnSpec("m", "map<int, text>")
    c = canonical(cassandra_decode("map<int, text>", m), col, CASSANDRA)
    jsonb = {str(k): v for k, v in reversed(list(m.items()))}
    assert canonical(jsonb, col, POSTGRES) == c
    assert c == ({str(k): m[k] for k in sorted(m, key=str)} or None)


def test_values_equal_without_tolerance_is_plain_equality():
    col = ColumnSpec("v", "text")
    assert values_equal("a", "a", col)
    assert not values_equal("a", None, col)
    assert values_equal(None, None, col)


def test_random_tolerance_boundaries_are_exact():
    rnd = random.Random(7)
    for _ in range(200):
        a = Decimal(rnd.randint(-10**6, 10**6)).scaleb(-3)
        tol = Decimal(rnd.randint(0, 10**4)).scaleb(-3)
        col = ColumnSpec("v", "decimal", tolerance=str(tol))
        ca = canonical(a, col)
        assert values_equal(ca, canonical(a + tol, col), col)
        assert values_equal(ca, canonical(a - tol, col), col)
        assert not values_equal(ca, canonical(a + tol + Decimal("0.001"), col), col)


def test_a_value_that_is_not_its_column_type_is_its_own_text_not_an_error():
    """A map held in jsonb can hold a string, a number or a list: the row's other columns are converted as
    usual and that value's form is its text, unequal to any map's form (the job reports a DATA_MISMATCH on
    the column instead of failing). The single-value converter still refuses it."""
    cols = [ColumnSpec("id", "text"), ColumnSpec("attrs", "map<text, text>"), ColumnSpec("n", "int")]
    pg, cass = build_canonicalizer(cols, POSTGRES), build_canonicalizer(cols, CASSANDRA)
    theirs = cass(("a", {"k": "v"}, 1))
    for held, form in (("hello", "hello"), (5, "5"), ([1, 2], "[1,2]"), (True, "true")):
        got = pg(("a", held, 1))
        assert got == ("a", form, 1)
        assert got != theirs and pg.against(("a", held, 1), ("a", {"k": "v"}, 1), theirs) == got
    assert pg(("a", '{"k": "v"}', 1)) == theirs          # JSON text of a map is still read as the map
    with pytest.raises(ValueError):
        canonical("hello", "map<text, text>", POSTGRES)
