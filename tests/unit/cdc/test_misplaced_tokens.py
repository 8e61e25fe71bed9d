"""strategies.split_misplaced: which PostgreSQL-only rows of a token range were read there under a wrong token.
The real token is computed here with the driver's own Murmur3 (cassandra.metadata), not the product's."""
from __future__ import annotations

from cassandra.metadata import Murmur3Token

from chalicelib.cdc.diff import Diff
from chalicelib.cdc.strategies import DiffSpool, TableContext
from chalicelib.cassandra.tokens import token_function
from chalicelib.domain.cdc import MismatchType


def _ctx(partition: list[str], types: list[str]) -> TableContext:
    ctx = TableContext.__new__(TableContext)   # no database: only the key's shape is needed
    ctx.table = type("T", (), {"partition_key": partition})()
    ctx.pk_types = types
    ctx.__dict__["token_fn"] = token_function(types[: len(partition)])
    return ctx


def _diff(kind: MismatchType, key: str) -> Diff:
    side = {"id": key}
    return Diff(kind, (key,), key, side if kind is not MismatchType.MISSING_IN_CASSANDRA else None,
                side if kind is not MismatchType.MISSING_IN_POSTGRES else None, "c", "p")


def _token(key: str) -> int:
    return Murmur3Token.hash_fn(key.encode())


def test_only_postgres_only_rows_outside_the_range_are_misplaced():
    ctx = _ctx(["id"], ["text"])
    keys = [f"user-{i}" for i in range(200)]
    start, end = -(2 ** 62), 2 ** 62   # the middle half of the ring
    inside = [k for k in keys if start < _token(k) <= end]
    outside = [k for k in keys if not start < _token(k) <= end]
    assert inside and outside
    diffs = ([_diff(MismatchType.MISSING_IN_CASSANDRA, k) for k in keys]
             + [_diff(MismatchType.MISSING_IN_POSTGRES, k) for k in outside[:3]]
             + [_diff(MismatchType.DATA_MISMATCH, k) for k in outside[3:6]])
    rest, odd = ctx.split_misplaced(DiffSpool(diffs, keep=50), start, end)   # spilled to a file: read twice
    assert sorted(d.pk_display for d in odd) == sorted(outside)
    assert all(d.mismatch_type is MismatchType.MISSING_IN_CASSANDRA for d in odd)
    kept = [(d.mismatch_type, d.pk_display) for d in rest]
    assert kept == ([(MismatchType.MISSING_IN_CASSANDRA, k) for k in inside]
                    + [(MismatchType.MISSING_IN_POSTGRES, k) for k in outside[:3]]
                    + [(MismatchType.DATA_MISMATCH, k) for k in outside[3:6]])


def test_nothing_misplaced_leaves_the_spool_as_it_is():
    ctx = _ctx(["id"], ["text"])
    spool = DiffSpool([_diff(MismatchType.MISSING_IN_CASSANDRA, "user-1")])
    rest, odd = ctx.split_misplaced(spool, -(2 ** 63), 2 ** 63 - 1)   # the whole ring
    assert rest is spool and odd == []


def test_a_key_no_driver_value_holds_is_reported_as_read():
    """A date past 9999 is canonical as a day count (docs/canonical-form.md): no token is computed for it, and it
    stays where it was read instead of failing the segment."""
    ctx = _ctx(["id"], ["date"])
    far = Diff(MismatchType.MISSING_IN_CASSANDRA, ("3000000",), "3000000", None, {"id": "3000000"}, None, "p")
    rest, odd = ctx.split_misplaced(DiffSpool([far]), 0, 1)
    assert [d.pk_display for d in rest] == ["3000000"] and odd == []


def _scan(start: int, end: int, cassandra: dict[str, str], postgres: dict[str, tuple[int, str]]):
    """The diffs of a segment merge in token order: Cassandra's rows at their keys' real tokens, PostgreSQL's at
    the tokens given (its token column)."""
    from chalicelib.cdc.canonical import ColumnSpec
    from chalicelib.cdc.diff import diff_segment

    c = sorted((_token(k), (k,), (k, v)) for k, v in cassandra.items())
    p = sorted((t, (k,), (k, v)) for k, (t, v) in postgres.items())
    assert all(start < i[0] <= end for i in c + p)
    return list(diff_segment([ColumnSpec("id", "text"), ColumnSpec("v", "text")], c, p))


def _in_range(keys, start: int, end: int, n: int) -> list[str]:
    out = [k for k in keys if start < _token(k) <= end][:n]
    assert len(out) == n
    return out


def _mirror(key: str, start: int, end: int) -> int:
    """Another token of the range (start, end] than the key's own: its mirror image there."""
    t = start + end - _token(key)
    assert t != _token(key) and start < t <= end
    return t


def test_a_wrong_token_inside_the_range_is_misplaced_too():
    """A PostgreSQL row read under a token that is not its key's but lies in the same range: the merge saw it
    missing in Cassandra at that token, and its Cassandra row missing in PostgreSQL at the real one. It is
    misplaced (re-read by key when the job ends) like one whose real token lies outside the range; a row read
    under its own token that Cassandra lacks is not."""
    ctx = _ctx(["id"], ["text"])
    start, end = -(2 ** 62), 2 ** 62
    equal, changed, gone, lacking, plain = _in_range((f"user-{i}" for i in range(200)), start, end, 5)
    cassandra = {equal: "a", changed: "a", plain: "a"}
    postgres = {equal: (_mirror(equal, start, end), "a"), changed: (_mirror(changed, start, end), "b"),
                gone: (_mirror(gone, start, end), "a"), lacking: (_token(lacking), "a"), plain: (_token(plain), "a")}
    diffs = _scan(start, end, cassandra, postgres)
    assert sorted((d.mismatch_type, d.pk_display) for d in diffs) == sorted(
        [(MismatchType.MISSING_IN_CASSANDRA, k) for k in (equal, changed, gone, lacking)]
        + [(MismatchType.MISSING_IN_POSTGRES, k) for k in (equal, changed)])
    rest, odd = ctx.split_misplaced(DiffSpool(diffs, keep=2), start, end)
    assert sorted(d.pk_display for d in odd) == sorted([equal, changed, gone])
    assert all(d.mismatch_type is MismatchType.MISSING_IN_CASSANDRA for d in odd)
    # the Cassandra halves stay: the job's end replaces what was recorded of a misplaced key by its re-read
    assert sorted((d.mismatch_type, d.pk_display) for d in rest) == sorted(
        [(MismatchType.MISSING_IN_CASSANDRA, lacking)]
        + [(MismatchType.MISSING_IN_POSTGRES, k) for k in (equal, changed)])


def test_a_wrong_token_is_misplaced_when_the_table_runs_as_one_segment():
    """The whole ring as one range: every wrong token lies inside it."""
    ctx = _ctx(["id"], ["text"])
    start, end = -(2 ** 63), 2 ** 63 - 1
    wrong, right = "user-1", "user-2"
    diffs = _scan(start, end, {wrong: "a"}, {wrong: (_mirror(wrong, start, end), "a"), right: (_token(right), "a")})
    rest, odd = ctx.split_misplaced(DiffSpool(diffs), start, end)
    assert [d.pk_display for d in odd] == [wrong]
    assert sorted((d.mismatch_type, d.pk_display) for d in rest) == sorted([
        (MismatchType.MISSING_IN_POSTGRES, wrong), (MismatchType.MISSING_IN_CASSANDRA, right)])
