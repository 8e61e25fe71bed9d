"""PostgreSQL rows whose timestamp key components differ only below the millisecond share one
canonical key: Cassandra's row takes one counterpart among them (the row at its exact millisecond,
else the first with the same digest, else the earliest microseconds) and every other row is MISSING_IN_CASSANDRA under its exact key. The streaming
merge (CHECKSUM) and the keyed matching (SAMPLE, TIMESTAMP_RANGE, re-checks) give the same answer."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.cdc.canonical import CASSANDRA, POSTGRES, ColumnSpec, build_canonicalizer
from chalicelib.cdc.diff import MismatchType, PostgresRows, canonical_stream, diff_rows, diff_segment
from chalicelib.cdc.keys import exact_key_function, key_values, millisecond_key

COLS = [ColumnSpec("tenant", "text"), ColumnSpec("at", "timestamp"), ColumnSpec("title", "text")]
TYPES = ["text", "timestamp"]
PK = [0, 1]
T = datetime(2026, 11, 20, 13, 30, 0, tzinfo=timezone.utc)
CANON_C = build_canonicalizer(COLS, CASSANDRA)
CANON_P = build_canonicalizer(COLS, POSTGRES)
EXACT = exact_key_function(TYPES, PK)


def at(us: int) -> datetime:
    return T.replace(microsecond=us)


def streaming(c_rows, p_rows):
    """CHECKSUM's merge: every row on token 7."""
    c = canonical_stream([(7, r) for r in c_rows], CANON_C, PK)
    p = canonical_stream([(7, r) for r in p_rows], CANON_P, PK, EXACT)
    return sorted((d.mismatch_type.value, d.pk_display) for d in diff_segment(COLS, c, p))


def keyed(c_rows, p_rows):
    """The keyed matching: rows as TableContext.cass_map / pg_map build them."""
    c_map = {}
    for r in c_rows:
        c = CANON_C(r)
        c_map[(c[0], c[1])] = c
    p_map = PostgresRows()
    for r in reversed(p_rows):   # any order: the pairing does not depend on it
        c = CANON_P(r)
        p_map.add((c[0], c[1]), c, *EXACT(r, (c[0], c[1])))
    return sorted((d.mismatch_type.value, d.pk_display) for d in diff_rows(c_map, p_map, COLS))


CASES = [
    pytest.param([("a", at(123000), "x")], [("a", at(123000), "x"), ("a", at(123456), "x")],
                 [("MISSING_IN_CASSANDRA", "a|2026-11-20T13:30:00.123456Z")], id="equal twins: the earliest is the counterpart"),
    pytest.param([("a", at(123000), "new")], [("a", at(123100), "old"), ("a", at(123900), "new")],
                 [("MISSING_IN_CASSANDRA", "a|2026-11-20T13:30:00.123100Z")], id="the row equal to Cassandra's is the counterpart"),
    pytest.param([("a", at(123000), "new")], [("a", at(123000), "old"), ("a", at(123900), "new")],
                 [("DATA_MISMATCH", "a|2026-11-20T13:30:00.123Z"), ("MISSING_IN_CASSANDRA", "a|2026-11-20T13:30:00.123900Z")],
                 id="the row at Cassandra's exact millisecond is the counterpart"),
    pytest.param([("a", at(123000), "c")], [("a", at(123900), "p2"), ("a", at(123100), "p1")],
                 [("DATA_MISMATCH", "a|2026-11-20T13:30:00.123Z"), ("MISSING_IN_CASSANDRA", "a|2026-11-20T13:30:00.123900Z")],
                 id="none equal: the earliest is compared"),
    pytest.param([], [("a", at(123000), "x"), ("a", at(123456), "x")],
                 [("MISSING_IN_CASSANDRA", "a|2026-11-20T13:30:00.123456Z"), ("MISSING_IN_CASSANDRA", "a|2026-11-20T13:30:00.123Z")],
                 id="no Cassandra row: both, each under its own key"),
    pytest.param([("a", at(123000), "x")], [("a", at(123456), "x")], [], id="one row a millisecond: equal as before"),
    pytest.param([("a", at(124000), "x")], [("a", at(123456), "x")],
                 [("MISSING_IN_CASSANDRA", "a|2026-11-20T13:30:00.123456Z"), ("MISSING_IN_POSTGRES", "a|2026-11-20T13:30:00.124Z")],
                 id="another millisecond"),
]


@pytest.mark.parametrize("c_rows,p_rows,expected", CASES)
def test_streaming_and_keyed_matching_report_the_same_rows(c_rows, p_rows, expected):
    assert streaming(c_rows, p_rows) == expected
    assert keyed(c_rows, p_rows) == expected


def test_exact_keys_and_their_millisecond():
    naive_before_1970 = datetime(1969, 12, 31, 23, 59, 59, 999500)   # naive = UTC
    key, sub = EXACT(("a", naive_before_1970, "t"), ("a", "1969-12-31T23:59:59.999Z"))
    assert (key, sub) == (("a", "1969-12-31T23:59:59.999500Z"), (500,))
    in_zone = at(7250).astimezone(timezone(timedelta(hours=-5)))
    assert EXACT(("c", in_zone, "t"), ("c", "2026-11-20T13:30:00.007Z")) == (("c", "2026-11-20T13:30:00.007250Z"), (250,))
    assert EXACT(("c", at(7000), "t"), ("c", "2026-11-20T13:30:00.007Z")) == (("c", "2026-11-20T13:30:00.007Z"), (0,))
    assert millisecond_key(("a", "1969-12-31T23:59:59.999500Z"), TYPES) == ("a", "1969-12-31T23:59:59.999Z")
    # a text component that looks like a timestamp is left alone
    assert millisecond_key(("2026-11-20T13:30:00.123456Z", "2026-11-20T13:30:00.123Z"), TYPES) == (
        "2026-11-20T13:30:00.123456Z", "2026-11-20T13:30:00.123Z")
    assert key_values(("a", "2026-11-20T13:30:00.123456Z"), TYPES)[1] == at(123456)
    assert exact_key_function(["text", "int"], [0, 1]) is None
