"""Segment diff engine: streaming merge by token, matching by key, the three mismatch types,
digests, bounded memory, and agreement with a naive set-based model on random data."""

from __future__ import annotations

import hashlib
import json
import random
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.cdc.canonical import ColumnSpec, SegmentDigest, build_canonicalizer, CASSANDRA, POSTGRES
from chalicelib.cdc.diff import (
    MismatchType,
    RowMatcher,
    TokenOrderError,
    canonical_stream,
    diff_rows,
    diff_segment,
    freeze_pk,
)

MIP, MIC, DM = MismatchType.MISSING_IN_POSTGRES, MismatchType.MISSING_IN_CASSANDRA, MismatchType.DATA_MISMATCH

COLS = [
    ColumnSpec("user_id", "text"),
    ColumnSpec("seq", "int"),
    ColumnSpec("name", "text"),
    ColumnSpec("balance", "decimal", tolerance="0.01"),
]


def row(uid, seq, name="n", balance="1"):
    return (uid, seq, name, balance)


def item(token, r):
    return (token, (r[0], r[1]), r)


def kinds(diffs):
    return sorted((d.mismatch_type.value, d.pk) for d in diffs)


def run(c, p, cols=COLS):
    sd = diff_segment(cols, c, p)
    diffs = list(sd)
    return sd, diffs


def independent_checksum(r) -> str:
    text = json.dumps(list(r), separators=(",", ":"), ensure_ascii=False)
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


# ---- basic shapes -----------------------------------------------------------------------------


def test_identical_segments_report_nothing_and_equal_digests():
    c = [item(-50, row("a", 1)), item(-50, row("a", 2)), item(10, row("b", 1)), item(99, row("c", 1))]
    p = [item(-50, row("a", 2)), item(-50, row("a", 1)), item(10, row("b", 1)), item(99, row("c", 1))]
    sd, diffs = run(c, p)
    assert diffs == []
    assert sd.cassandra.rows == sd.postgres.rows == 4
    assert sd.cassandra.digest == sd.postgres.digest
    assert sd.summary()["digests_equal"] is True
    assert sd.done


def test_all_three_mismatch_types_with_interleaved_tokens():
    c = [item(1, row("a", 1)), item(3, row("c", 1, "Ann")), item(5, row("e", 1)), item(8, row("h", 1))]
    p = [item(2, row("b", 1)), item(3, row("c", 1, "Bob")), item(6, row("f", 1)), item(8, row("h", 1))]
    sd, diffs = run(c, p)
    assert kinds(diffs) == sorted([
        ("MISSING_IN_POSTGRES", ("a", 1)), ("MISSING_IN_CASSANDRA", ("b", 1)),
        ("DATA_MISMATCH", ("c", 1)), ("MISSING_IN_POSTGRES", ("e", 1)), ("MISSING_IN_CASSANDRA", ("f", 1)),
    ])
    # emitted in token order
    assert [d.token for d in diffs] == [1, 2, 3, 5, 6]
    assert sd.mismatch_counts == {MIP: 2, MIC: 2, DM: 1}
    assert (sd.cassandra.rows, sd.postgres.rows) == (4, 4)
    assert sd.cassandra.digest != sd.postgres.digest


def test_diff_record_contents():
    c = [item(3, row("c", 1, "Ann", "10.50")), item(4, row("d", 1))]
    p = [item(3, row("c", 1, "Bob", "10.5")), item(5, row("e", 2, "Eve", None))]
    _, diffs = run(c, p)
    dm, mip, mic = diffs
    assert dm.mismatch_type is DM and dm.differing_columns == ("name",)
    assert dm.cassandra_data == {"user_id": "c", "seq": 1, "name": "Ann", "balance": "10.50"}
    assert dm.postgres_data == {"user_id": "c", "seq": 1, "name": "Bob", "balance": "10.5"}
    assert dm.cassandra_checksum == independent_checksum(("c", 1, "Ann", "10.50"))
    assert dm.postgres_checksum == independent_checksum(("c", 1, "Bob", "10.5"))
    assert dm.pk == ("c", 1) and dm.pk_display == "c|1"
    assert mip.mismatch_type is MIP and mip.postgres_data is None and mip.postgres_checksum is None
    assert mip.cassandra_checksum == independent_checksum(row("d", 1))
    assert mic.mismatch_type is MIC and mic.cassandra_data is None and mic.cassandra_checksum is None
    assert mic.postgres_data == {"user_id": "e", "seq": 2, "name": "Eve", "balance": None}
    rec = dm.to_record()
    assert rec["primary_key_value"] == "c|1" and rec["mismatch_type"] == "DATA_MISMATCH"
    assert rec["differing_columns"] == ["name"]
    json.dumps(rec, allow_nan=False)


def test_tolerance_equal_rows_are_not_reported_but_beyond_tolerance_is():
    c = [item(1, row("a", 1, "x", "10.00")), item(2, row("b", 1, "x", "10.00"))]
    p = [item(1, row("a", 1, "x", "10.01")), item(2, row("b", 1, "x", "10.02"))]
    sd, diffs = run(c, p)
    assert [(d.pk, d.differing_columns) for d in diffs] == [(("b", 1), ("balance",))]
    # digests are exact: tolerance-equal data still makes the segment digests differ
    assert sd.cassandra.digest != sd.postgres.digest


def test_several_differing_columns_listed_in_catalog_order():
    c = [item(1, row("a", 1, "x", "1"))]
    p = [item(1, row("a", 1, "y", "2"))]
    _, (d,) = run(c, p)
    assert d.differing_columns == ("name", "balance")


def test_null_vs_value_is_a_mismatch_even_with_tolerance():
    _, diffs = run([item(1, row("a", 1, "x", None))], [item(1, row("a", 1, "x", "0"))])
    assert [d.differing_columns for d in diffs] == [("balance",)]


# ---- token groups ------------------------------------------------------------------------------


def test_partition_with_many_clustering_rows_in_any_order():
    rows = [row("p", i, f"v{i}") for i in range(50)]
    c = [item(7, r) for r in rows]
    p_rows = rows[:]
    random.Random(1).shuffle(p_rows)
    p_rows = [r for r in p_rows if r[1] != 13] + [row("p", 50)]
    p_rows[0] = (p_rows[0][0], p_rows[0][1], "changed", p_rows[0][3])
    sd, diffs = run(c, [item(7, r) for r in p_rows])
    assert kinds(diffs) == sorted([
        ("MISSING_IN_POSTGRES", ("p", 13)), ("MISSING_IN_CASSANDRA", ("p", 50)), ("DATA_MISMATCH", ("p", p_rows[0][1])),
    ])
    assert sd.max_group_rows == 50


def test_token_collision_two_partitions_same_token():
    # Two different partitions whose keys hash to the same token, split differently per side.
    c = [item(42, row("x", 1)), item(42, row("y", 1)), item(42, row("y", 2))]
    p = [item(42, row("y", 2)), item(42, row("x", 1, "other")), item(42, row("z", 9))]
    _, diffs = run(c, p)
    assert kinds(diffs) == sorted([
        ("DATA_MISMATCH", ("x", 1)), ("MISSING_IN_POSTGRES", ("y", 1)), ("MISSING_IN_CASSANDRA", ("z", 9)),
    ])


def test_same_token_single_rows_with_different_keys():
    _, diffs = run([item(5, row("a", 1))], [item(5, row("b", 1))])
    assert kinds(diffs) == [("MISSING_IN_CASSANDRA", ("b", 1)), ("MISSING_IN_POSTGRES", ("a", 1))]


@pytest.mark.parametrize("side", ["cassandra", "postgres"])
def test_empty_side(side):
    rows = [item(t, row(f"k{t}", 0)) for t in (-5, 0, 5)]
    c, p = (rows, []) if side == "postgres" else ([], rows)
    sd, diffs = run(c, p)
    expected = MIP if side == "postgres" else MIC
    assert [d.mismatch_type for d in diffs] == [expected] * 3
    assert getattr(sd, side).rows == 0
    assert getattr(sd, side).digest == SegmentDigest()


def test_both_sides_empty():
    sd, diffs = run(iter([]), iter([]))
    assert diffs == [] and sd.cassandra.rows == sd.postgres.rows == 0 and sd.tokens == 0


def test_duplicate_keys_on_one_side_are_counted_and_reported():
    # A PostgreSQL table without an enforced key can hold the same key twice.
    c = [item(1, row("a", 1))]
    p = [item(1, row("a", 1)), item(1, row("a", 1, "dup"))]
    sd, diffs = run(c, p)
    assert sd.postgres.duplicate_keys == 1
    assert kinds(diffs) == [("MISSING_IN_CASSANDRA", ("a", 1))]


@pytest.mark.parametrize("side", ["cassandra", "postgres"])
def test_unsorted_input_is_an_error_not_a_wrong_answer(side):
    bad = [item(5, row("a", 1)), item(3, row("b", 1))]
    good = [item(3, row("b", 1)), item(5, row("a", 1))]
    c, p = (bad, good) if side == "cassandra" else (good, bad)
    with pytest.raises(TokenOrderError, match=side):
        run(c, p)


def test_a_segment_diff_is_single_use():
    sd = diff_segment(COLS, [], [])
    list(sd)
    with pytest.raises(RuntimeError):
        list(sd)


def test_big_signed_murmur3_tokens():
    lo, hi = -(2**63), 2**63 - 1
    _, diffs = run([item(lo, row("a", 1)), item(hi, row("b", 1))], [item(hi, row("b", 1))])
    assert [(d.mismatch_type, d.token) for d in diffs] == [(MIP, lo)]


# ---- digests across segments -------------------------------------------------------------------


def test_segment_digests_merge_to_the_whole_table_digest_in_any_order():
    rnd = random.Random(3)
    rows = sorted(((rnd.randint(-1000, 1000), row(f"u{i}", i % 3, f"n{i}")) for i in range(500)), key=lambda x: x[0])
    whole, _ = run([item(t, r) for t, r in rows], [])
    bounds = sorted(rnd.sample(range(-1000, 1001), 7))
    ranges = list(zip([-1001] + bounds, bounds + [1001]))
    parts = []
    for lo, hi in ranges:
        sd, _ = run([item(t, r) for t, r in rows if lo < t <= hi], [])
        parts.append(sd.cassandra.digest)
    rnd.shuffle(parts)
    merged = SegmentDigest()
    for d in parts:
        merged = merged.merge(d)
    assert merged == whole.cassandra.digest
    # and the PostgreSQL side of the same data, delivered in another in-token order, agrees
    by_token: dict[int, list] = {}
    for t, r in rows:
        by_token.setdefault(t, []).append(r)
    p_items = [item(t, r) for t in sorted(by_token) for r in reversed(by_token[t])]
    sd, diffs = run([], p_items)
    assert sd.postgres.digest == whole.cassandra.digest


# ---- diff_rows (unordered) -----------------------------------------------------------------


def test_diff_rows_unordered_sets():
    c = {("a", 1): row("a", 1), ("b", 1): row("b", 1, "B"), ("c", 1): row("c", 1, "x", "1.00")}
    p = {("b", 1): row("b", 1, "b"), ("d", 1): row("d", 1), ("c", 1): row("c", 1, "x", "1.005")}
    diffs = diff_rows(c, p, COLS)
    assert kinds(diffs) == sorted([
        ("MISSING_IN_POSTGRES", ("a", 1)), ("DATA_MISMATCH", ("b", 1)), ("MISSING_IN_CASSANDRA", ("d", 1)),
    ])
    assert diff_rows({}, {}, COLS) == []
    assert diff_rows(c, c, RowMatcher(COLS)) == []


def test_diff_rows_accepts_rows_as_mappings():
    c = {("a", 1): {"user_id": "a", "seq": 1, "name": "x", "balance": "1"}}
    p = {("a", 1): row("a", 1, "y", "1")}
    (d,) = diff_rows(c, p, COLS)
    assert d.differing_columns == ("name",) and d.cassandra_data["name"] == "x"


def test_diff_rows_with_frozen_collection_in_the_key():
    cols = [ColumnSpec("k", "frozen<list<int>>"), ColumnSpec("v", "text")]
    # canonical_stream / freeze_pk give hashable keys: frozen collections become tuples
    c = {((1, 2),): ([1, 2], "a")}
    p = {((1, 2),): ([1, 2], "b")}
    (d,) = diff_rows(c, p, cols)
    assert d.mismatch_type is DM and d.pk_display == "[1,2]"


def test_canonical_stream_freezes_collection_keys():
    cols = [ColumnSpec("k", "frozen<set<int>>"), ColumnSpec("v", "text")]
    c = list(canonical_stream([(1, ([2, 1], "a"))], build_canonicalizer(cols, CASSANDRA), [0]))
    p = list(canonical_stream([(1, ([1, 2], "b"))], build_canonicalizer(cols, POSTGRES), [0]))
    assert c[0][1] == ((1, 2),) and c[0][2] == ([1, 2], "a")
    (d,) = diff_rows({c[0][1]: c[0][2]}, {p[0][1]: p[0][2]}, cols)
    assert d.differing_columns == ("v",) and d.pk_display == "[1,2]"
    assert freeze_pk(("a", {"x": [1]})) == ("a", (("x", (1,)),))


def test_raw_rows_through_canonical_stream():
    cols = [ColumnSpec("id", "uuid"), ColumnSpec("at", "timestamp")]
    import uuid
    from datetime import datetime, timezone

    u = uuid.UUID("a8098c1a-f86e-11da-bd1a-00112444be1e")
    c_raw = [(10, (u, datetime(2025, 1, 1, 0, 0, 0, 5000)))]
    p_raw = [(10, (str(u).upper(), datetime(2025, 1, 1, 0, 0, 0, 5999, tzinfo=timezone.utc)))]
    c = canonical_stream(c_raw, build_canonicalizer(cols, CASSANDRA), [0])
    p = canonical_stream(p_raw, build_canonicalizer(cols, POSTGRES), [0])
    sd, diffs = run(c, p, cols)
    assert diffs == [] and sd.cassandra.digest == sd.postgres.digest


# ---- agreement with a naive model ---------------------------------------------------------


def _model(c_rows: dict, p_rows: dict) -> list:
    out = []
    for k in c_rows.keys() - p_rows.keys():
        out.append(("MISSING_IN_POSTGRES", k))
    for k in p_rows.keys() - c_rows.keys():
        out.append(("MISSING_IN_CASSANDRA", k))
    for k in c_rows.keys() & p_rows.keys():
        a, b = c_rows[k], p_rows[k]
        if a[2] != b[2] or abs(float(a[3]) - float(b[3])) > 0.010000001:
            out.append(("DATA_MISMATCH", k))
    return sorted(out)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_engine_agrees_with_a_set_model(data):
    keys = data.draw(st.lists(st.tuples(st.sampled_from("abcdef"), st.integers(0, 4)), unique=True, max_size=25))
    token_of = {k: data.draw(st.integers(-3, 3)) for k in keys}  # tiny range: many collisions
    c_rows, p_rows = {}, {}
    for k in keys:
        where = data.draw(st.sampled_from(["both", "both", "c", "p"]))
        base = row(k[0], k[1], data.draw(st.sampled_from(["x", "y"])), data.draw(st.sampled_from(["1", "1.01", "1.02", "1.00"])))
        if where in ("both", "c"):
            c_rows[k] = base
        if where in ("both", "p"):
            p_rows[k] = row(k[0], k[1], data.draw(st.sampled_from(["x", "y"])), data.draw(st.sampled_from(["1", "1.01", "1.02"])))
    rnd = random.Random(data.draw(st.integers(0, 10**6)))

    def stream(rows):
        items = [item(token_of[k], r) for k, r in rows.items()]
        rnd.shuffle(items)
        return sorted(items, key=lambda x: x[0])  # stable: in-token order stays random

    sd, diffs = run(stream(c_rows), stream(p_rows))
    assert kinds(diffs) == [(t, k) for t, k in _model(c_rows, p_rows)]
    assert kinds(diff_rows(c_rows, p_rows, COLS)) == kinds(diffs)
    assert sd.cassandra.rows == len(c_rows) and sd.postgres.rows == len(p_rows)
    assert sum(sd.mismatch_counts.values()) == len(diffs)


# ---- bounded memory --------------------------------------------------------------------------

LIVE = {"now": 0, "peak": 0}


class TrackedRow(tuple):
    """A canonical row that counts how many of its kind are alive (CPython frees on last ref)."""

    def __new__(cls, values):
        obj = super().__new__(cls, values)
        LIVE["now"] += 1
        if LIVE["now"] > LIVE["peak"]:
            LIVE["peak"] = LIVE["now"]
        return obj

    def __del__(self):
        LIVE["now"] -= 1


SMALL = [ColumnSpec("k", "int")]


def lazy_rows(n: int, skip_every: int = 0, produced: list | None = None):
    for i in range(n):
        if skip_every and i % skip_every == 0:
            continue
        if produced is not None:
            produced[0] += 1
        yield (i // 2, (i,), TrackedRow((i,)))  # two rows per token


def test_one_million_rows_stream_in_bounded_memory():
    n = 1_000_000
    LIVE.update(now=0, peak=0)
    produced = [0]
    sd = diff_segment(SMALL, lazy_rows(n, produced=produced), lazy_rows(n, skip_every=250_000))
    started = time.perf_counter()
    seen = []
    for d in sd:
        seen.append((d.mismatch_type, d.pk))
        # a diff comes out while the input is still being read, not after reading it all
        assert produced[0] <= d.pk[0] + 4
        assert LIVE["now"] <= 2 * (2 + 1)
    elapsed = time.perf_counter() - started
    assert seen == [(MIP, (i,)) for i in range(0, n, 250_000)]
    assert sd.cassandra.rows == n and sd.postgres.rows == n - 4
    # per side: the current token group (2 rows) and one look-ahead row
    assert LIVE["peak"] <= 2 * (2 + 1), LIVE
    assert sd.max_live_groups <= 2 and sd.max_group_rows == 2
    assert produced[0] == n
    assert elapsed < 120


def test_largest_partition_bounds_memory_not_the_segment():
    LIVE.update(now=0, peak=0)

    def rows():
        for t in range(100):
            for j in range(300 if t == 50 else 3):
                yield (t, (t, j), TrackedRow((t, j)))

    cols = [ColumnSpec("t", "int"), ColumnSpec("j", "int")]
    sd, diffs = run(rows(), rows(), cols)
    assert diffs == []
    assert sd.max_group_rows == 300
    assert LIVE["peak"] <= 2 * (300 + 1)
    assert LIVE["now"] == 0
