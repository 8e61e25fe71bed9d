"""The hot path of the segment diff: raw rows canonicalized inside the merge, equal pairs hashed
once, one-row tokens without grouping.  Each fast path must give exactly what the general path
gives: the same diffs (records, checksums, keys), the same segment digests."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.cdc.canonical import (
    CASSANDRA,
    POSTGRES,
    ColumnSpec,
    build_canonicalizer,
    row_digest,
    same_canonical_form,
)
from chalicelib.cdc.diff import MismatchType, RowMatcher, TokenOrderError, canonical_stream, diff_segment

ROOT = Path(__file__).resolve().parents[3]

USERS = [
    ColumnSpec("user_id", "text"),
    ColumnSpec("email", "text"),
    ColumnSpec("age", "int"),
    ColumnSpec("balance", "decimal", tolerance="0.01"),
    ColumnSpec("account", "uuid"),
    ColumnSpec("active", "boolean"),
    ColumnSpec("score", "double"),
    ColumnSpec("ratio", "float"),
    ColumnSpec("tags", "set<text>"),
    ColumnSpec("attrs", "map<text, int>"),
    ColumnSpec("updated_at", "timestamp", tolerance="5"),
]


def _pair(i: int, rnd: random.Random) -> tuple[tuple, tuple]:
    """One users-like row as each driver would decode it."""
    u = uuid.UUID(int=rnd.getrandbits(128))
    at = datetime(2025, 1, 1) + timedelta(milliseconds=rnd.randrange(10**10))
    tags = rnd.sample(["a", "b", "vip", "é", ""], rnd.randint(0, 3))
    bal = Decimal(rnd.randrange(10**6)).scaleb(-2)
    score = rnd.choice([0.0, -0.0, 1.5, rnd.random(), float("nan"), float("inf")])
    ratio = rnd.choice([0.1, 1.0, 3.4028234663852886e38])
    attrs = {"x": rnd.randrange(3)} if i % 3 else None
    c = (f"u{i}", f"u{i}@x", rnd.randrange(100), bal, u, bool(i % 2), score, ratio, set(tags) or None, attrs, at)
    p = (f"u{i}", f"u{i}@x", c[2], Decimal(f"{bal}000"), str(u).upper(), c[5], score, ratio,
         list(reversed(tags)), dict(attrs or {}), at.replace(tzinfo=timezone.utc))
    return c, p


def _streams(c_raw, p_raw, canon_c, canon_p, pk=(0,)):
    return canonical_stream(c_raw, canon_c, pk), canonical_stream(p_raw, canon_p, pk)


def _general(stream):
    """The same items as a plain iterator of (token, pk, row): the engine's general path."""
    return iter(list(stream))


def _run(c, p, cols=USERS):
    sd = diff_segment(RowMatcher(cols), c, p)
    return sd, [d.to_record() for d in sd]


def _drifted(n: int, seed: int):
    rnd = random.Random(seed)
    canon_c, canon_p = build_canonicalizer(USERS, CASSANDRA), build_canonicalizer(USERS, POSTGRES)
    c_raw, p_raw = [], []
    for i in range(n):
        tok = rnd.randrange(-50, 50)  # collisions and multi-row tokens too
        c, p = _pair(i, rnd)
        kind = rnd.randrange(8)
        if kind == 0:
            c_raw.append((tok, c))
        elif kind == 1:
            p_raw.append((tok, p))
        else:
            if kind == 2:
                p = p[:2] + (p[2] + 1,) + p[3:]
            elif kind == 3:  # within tolerance: the tuples differ, nothing is reported
                p = p[:3] + (p[3] + Decimal("0.01"),) + p[4:]
            elif kind == 4:  # within the 5 ms timestamp tolerance
                p = p[:10] + (p[10] + timedelta(milliseconds=4),)
            c_raw.append((tok, c))
            p_raw.append((tok, p))
    c_raw.sort(key=lambda x: x[0])
    p_raw.sort(key=lambda x: x[0])
    return c_raw, p_raw, canon_c, canon_p


@pytest.mark.parametrize("seed", range(6))
def test_fused_merge_equals_the_general_path(seed):
    c_raw, p_raw, canon_c, canon_p = _drifted(300, seed)
    fast_sd, fast = _run(*_streams(c_raw, p_raw, canon_c, canon_p))
    c, p = _streams(c_raw, p_raw, canon_c, canon_p)
    slow_sd, slow = _run(_general(c), _general(p))
    assert fast == slow and fast
    assert fast_sd.summary() == slow_sd.summary()
    assert fast_sd.cassandra.digest != fast_sd.postgres.digest


def test_tolerance_equal_pair_whose_tuples_differ_is_not_reported():
    canon_c, canon_p = build_canonicalizer(USERS, CASSANDRA), build_canonicalizer(USERS, POSTGRES)
    c, p = _pair(1, random.Random(3))
    p_tol = p[:3] + (p[3] + Decimal("0.01"),) + p[4:10] + (p[10] + timedelta(milliseconds=5),)
    assert canon_c(c) != canon_p(p_tol)  # the == fast path cannot settle it
    sd, diffs = _run(*_streams([(7, c)], [(7, p_tol)], canon_c, canon_p))
    assert diffs == []
    assert sd.cassandra.digest != sd.postgres.digest  # digests stay exact
    p_far = p[:3] + (p[3] + Decimal("0.02"),) + p[4:]
    _, diffs = _run(*_streams([(7, c)], [(7, p_far)], canon_c, canon_p))
    assert [d["differing_columns"] for d in diffs] == [["balance"]]


def test_equal_pair_hashed_once_has_both_sides_digests():
    canon_c, canon_p = build_canonicalizer(USERS, CASSANDRA), build_canonicalizer(USERS, POSTGRES)
    rnd = random.Random(5)
    pairs = [_pair(i, rnd) for i in range(200)]
    c_raw = [(i, c) for i, (c, _) in enumerate(pairs)]
    p_raw = [(i, p) for i, (_, p) in enumerate(pairs)]
    sd, diffs = _run(*_streams(c_raw, p_raw, canon_c, canon_p))
    assert diffs == []
    expect_c = sum(row_digest(canon_c(c)) for c, _ in pairs) % 2**64
    expect_p = sum(row_digest(canon_p(p)) for _, p in pairs) % 2**64
    assert sd.cassandra.digest.sum == expect_c == expect_p == sd.postgres.digest.sum
    assert sd.cassandra.rows == sd.postgres.rows == 200


def test_rows_given_already_canonical_are_hashed_per_side():
    """1 == 1.0 == True in Python but not in JSON: without canonicalizers vouching for the
    kinds, equal tuples must not share a digest."""
    cols = [ColumnSpec("k", "text"), ColumnSpec("v", "int")]
    sd, diffs = _run([(1, ("a",), ("a", 1))], [(1, ("a",), ("a", True))], cols)
    assert diffs == []  # == says equal, as before
    assert sd.cassandra.digest != sd.postgres.digest


def test_different_column_kinds_disable_the_shared_digest():
    a = build_canonicalizer([ColumnSpec("k", "text"), ColumnSpec("v", "int")], CASSANDRA)
    b = build_canonicalizer([ColumnSpec("k", "text"), ColumnSpec("v", "boolean")], POSTGRES)
    c = build_canonicalizer([ColumnSpec("k", "varchar"), ColumnSpec("v", "bigint")], POSTGRES)
    assert not same_canonical_form(a, b)
    assert same_canonical_form(a, c)
    assert not same_canonical_form(a, lambda r: r)
    sd, diffs = _run(*_streams([(1, ("a", 1))], [(1, ("a", True))], a, b), [ColumnSpec("k", "text"), ColumnSpec("v", "int")])
    assert diffs == [] and sd.cassandra.digest != sd.postgres.digest


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_equal_canonical_rows_have_equal_digests(data):
    """The property the shared digest rests on, for values from either side of every kind."""
    kinds = {
        "int": st.one_of(st.integers(-5, 5), st.booleans(), st.decimals(-3, 3, places=1, allow_nan=False)),
        "double": st.one_of(st.floats(width=64), st.integers(-3, 3), st.decimals(-2, 2, places=1, allow_nan=False)),
        "float": st.one_of(st.floats(width=32), st.integers(-3, 3)),
        "boolean": st.one_of(st.booleans(), st.sampled_from([0, 1, "t", "false"])),
        "set<double>": st.lists(st.one_of(st.floats(width=64), st.integers(-2, 2)), max_size=4),
        "list<int>": st.lists(st.one_of(st.integers(-2, 2), st.booleans()), max_size=4),
        "map<int, double>": st.dictionaries(st.integers(-2, 2), st.one_of(st.floats(), st.integers(-1, 1)), max_size=3),
        "decimal": st.one_of(st.integers(-3, 3), st.decimals(-2, 2, places=2, allow_nan=False)),
    }
    cql = data.draw(st.sampled_from(sorted(kinds)))
    cols = [ColumnSpec("v", cql)]
    a = build_canonicalizer(cols, CASSANDRA)((data.draw(kinds[cql]),))
    b = build_canonicalizer(cols, POSTGRES)((data.draw(kinds[cql]),))
    if a == b:
        assert row_digest(a) == row_digest(b)
        assert json.dumps(a) == json.dumps(b)


def test_token_order_errors_on_the_fused_path():
    canon = build_canonicalizer([ColumnSpec("k", "int")], CASSANDRA)
    for c_raw in ([(2, (1,)), (1, (2,))], [(2, (1,)), (2, (3,)), (1, (2,))]):
        c, p = canonical_stream(c_raw, canon, [0]), canonical_stream([(2, (1,))], canon, [0])
        with pytest.raises(TokenOrderError):
            list(diff_segment([ColumnSpec("k", "int")], c, p))


def test_canonical_stream_is_still_a_stream_of_items():
    canon = build_canonicalizer([ColumnSpec("k", "set<int>"), ColumnSpec("v", "text")], CASSANDRA)
    s = canonical_stream([(1, ({2, 1}, "a")), (2, (None, "b"))], canon, [0])
    assert list(s) == [(1, ((1, 2),), ([1, 2], "a")), (2, (None,), (None, "b"))]
    with pytest.raises(ValueError):
        canonical_stream([], canon, [])


def test_missing_rows_on_the_fused_path_keep_pk_and_checksums():
    canon_c = build_canonicalizer(USERS, CASSANDRA)
    canon_p = build_canonicalizer(USERS, POSTGRES)
    c, p = _pair(1, random.Random(9))
    c2 = ("other",) + c[1:]
    _, diffs = _run(*_streams([(5, c2)], [(5, p)], canon_c, canon_p))
    assert [(d["mismatch_type"], d["primary_key_value"]) for d in diffs] == [
        (MismatchType.MISSING_IN_POSTGRES.value, "other"), (MismatchType.MISSING_IN_CASSANDRA.value, "u1")]
    assert diffs[0]["cassandra_checksum"] == f"{row_digest(canon_c(c2)):016x}"
    assert diffs[1]["postgres_checksum"] == f"{row_digest(canon_p(p)):016x}"


_DIGEST_SCRIPT = """
import random, sys
sys.path.insert(0, {root!r})
from tests.unit.cdc.test_fast_paths import USERS, _drifted, _streams, _run
c_raw, p_raw, canon_c, canon_p = _drifted(200, 11)
sd, diffs = _run(*_streams(c_raw, p_raw, canon_c, canon_p))
print(sd.cassandra.digest.hex(), sd.postgres.digest.hex(), ",".join(sorted(d["cassandra_checksum"] or d["postgres_checksum"] for d in diffs)))
"""


def test_digests_are_the_same_in_separate_processes():
    """Segment digests are stored and compared across runs: they must not depend on the process
    (no salted hash(), no id(), no set iteration order).  PYTHONHASHSEED differs per run."""
    outs = set()
    for seed in ("1", "2"):
        env = {"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"}
        r = subprocess.run([sys.executable, "-c", _DIGEST_SCRIPT.format(root=str(ROOT))], env=env, cwd=ROOT,
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        outs.add(r.stdout)
    assert len(outs) == 1
    c_raw, p_raw, canon_c, canon_p = _drifted(200, 11)
    sd, diffs = _run(*_streams(c_raw, p_raw, canon_c, canon_p))
    here = (f"{sd.cassandra.digest.hex()} {sd.postgres.digest.hex()} "
            + ",".join(sorted(d["cassandra_checksum"] or d["postgres_checksum"] for d in diffs)) + "\n")
    assert outs == {here}


# ---- converter fast paths give the text of the general rules -----------------------------------


@settings(max_examples=300, deadline=None)
@given(st.uuids())
def test_uuid_text_is_str_of_uuid(u):
    from chalicelib.cdc.canonical import canonical

    assert canonical(u, "uuid") == str(u) == canonical(str(u).upper(), "uuid", POSTGRES)


@settings(max_examples=500, deadline=None)
@given(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59, 999999)))
def test_timestamp_text_fast_paths_match_the_rule(dt):
    from chalicelib.cdc.canonical import canonical

    ms = dt.replace(microsecond=dt.microsecond // 1000 * 1000)
    expect = ms.strftime("%Y-%m-%dT%H:%M:%S") + f".{ms.microsecond // 1000:03d}Z"
    expect = f"{ms.year:04d}" + expect[len(str(ms.year)):] if ms.year < 1000 else expect
    assert canonical(dt, "timestamp", POSTGRES) == expect  # naive: truncated
    assert canonical(dt.replace(tzinfo=timezone.utc), "timestamp", POSTGRES) == expect
    assert canonical(dt.replace(tzinfo=timezone(timedelta(0))), "timestamp", POSTGRES) == expect
    assert canonical(ms, "timestamp", CASSANDRA) == expect  # whole milliseconds: as they are
    assert canonical(ms.isoformat() + "+00:00", "timestamp") == expect


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=3), st.none(), st.integers(0, 3)), max_size=5))
def test_set_of_text_fast_path_matches_the_general_path(values):
    from chalicelib.cdc.canonical import _sorted_unique, canonical

    class TextSet(set):
        pass

    class Sub(str):
        pass

    for v in (values, set(values), TextSet(values), [Sub(x) if type(x) is str else x for x in values]):
        try:
            got = canonical(v, "set<text>", CASSANDRA)
        except ValueError:
            continue  # ints in a set<text> column are read as their text: no error expected here
        expect = _sorted_unique([None if x is None else str(x) for x in v]) or None
        assert got == expect and all(type(x) is str or x is None for x in got or [])


# ---- the PostgreSQL row of an equal pair reuses the Cassandra row's canonical values ------------

_AGAINST_COLS = [
    ColumnSpec("u", "uuid"),
    ColumnSpec("d", "decimal"),
    ColumnSpec("x", "double"),
    ColumnSpec("f", "float"),
    ColumnSpec("s", "set<text>"),
    ColumnSpec("l", "list<text>"),
    ColumnSpec("t", "text"),
    ColumnSpec("at", "timestamp"),
]


def _value(kind: str, draw):
    if kind == "u":
        return draw(st.one_of(st.uuids(), st.uuids().map(str), st.just(uuid.UUID(int=1))))
    if kind == "d":
        return draw(st.one_of(
            st.sampled_from([Decimal("1.50"), Decimal("1.5"), Decimal("15E-1"), Decimal("0"), Decimal("-0.00"),
                             Decimal("1E+2"), Decimal("100"), Decimal("NaN"), Decimal("-NaN"), Decimal("sNaN"),
                             Decimal("Infinity"), Decimal("-Infinity"), 1, 1.5, "1.50"]),
            st.decimals(allow_nan=True, allow_infinity=True, places=3)))
    if kind in "xf":
        return draw(st.one_of(st.sampled_from([0.0, -0.0, 0.1, 1.0, float("nan"), float("inf"), 1, "2.5"]), st.floats()))
    if kind in "sl":
        class Sub(str):
            pass

        base = draw(st.lists(st.sampled_from(["a", "b", "", "é"]), max_size=3))
        return draw(st.sampled_from([base, sorted(set(base)), [Sub(x) for x in sorted(set(base))], None, set(base), "[\"a\"]"]))
    if kind == "t":
        return draw(st.sampled_from(["a", "a ", None]))
    return draw(st.sampled_from([datetime(2025, 1, 1, 0, 0, 0, 5000), datetime(2025, 1, 1, 0, 0, 0, 5000, tzinfo=timezone.utc), None]))


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_against_gives_the_ordinary_canonical_row(data):
    canon_c, canon_p = build_canonicalizer(_AGAINST_COLS, CASSANDRA), build_canonicalizer(_AGAINST_COLS, POSTGRES)
    kinds = "udxfslta"
    c_raw = tuple(_value(k, data.draw) for k in kinds)
    # the PostgreSQL value: often the very same value (the reuse branch), sometimes another one
    p_raw = tuple(v if data.draw(st.booleans()) else _value(k, data.draw) for k, v in zip(kinds, c_raw))
    try:
        k = canon_c(c_raw)
    except ValueError:
        return
    try:
        expect = canon_p(p_raw)
    except ValueError:
        with pytest.raises(ValueError):
            canon_p.against(p_raw, c_raw, k)
        return
    got = canon_p.against(p_raw, c_raw, k)
    assert got == expect
    assert json.dumps(got) == json.dumps(expect)
    assert row_digest(got) == row_digest(expect)


def test_against_falls_back_for_other_shapes():
    canon_c, canon_p = build_canonicalizer(_AGAINST_COLS, CASSANDRA), build_canonicalizer(_AGAINST_COLS, POSTGRES)
    u = uuid.uuid4()
    c_raw = (u, Decimal("1.50"), 0.5, 0.1, ["b", "a"], ["a"], "t", datetime(2025, 1, 1))
    k = canon_c(c_raw)
    as_map = dict(zip([c.postgres_name for c in _AGAINST_COLS], c_raw))
    assert canon_p.against(as_map, c_raw, k) == canon_p(as_map) == canon_p.against(list(c_raw), c_raw, k)
    assert canon_p.against(c_raw, as_map, k) == canon_p(c_raw)
    with pytest.raises(ValueError):
        canon_p.against(c_raw[:-1], c_raw, k)
