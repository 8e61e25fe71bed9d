"""Segment diff engine: compare the canonical rows of one token range from both engines.

Two entry points:

* ``SegmentDiff`` / ``diff_segment`` - a streaming merge of two iterators of
  ``(token, pk, canon_row)``, each sorted by token ascending (order inside one token is free:
  one partition's clustering rows, or a rare Murmur3 collision).  It holds at most one token
  group per side in memory, yields ``Diff`` records as it goes, and leaves per-side row counts
  and order-independent ``SegmentDigest``s behind for the segment result.
* ``diff_rows`` - the same matching for two unordered ``{pk: canon_row}`` mappings, used by the
  strategies that fetch rows by key (SAMPLE, TIMESTAMP_RANGE).

A canonical row is a tuple in catalog column order (what ``build_canonicalizer`` returns) or a
mapping by column name.  Rows whose digests are equal are equal; otherwise every column is
compared with ``values_equal`` (tolerances apply) before a DATA_MISMATCH is declared.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from chalicelib.cdc.canonical import (
    ColumnSpec,
    SegmentDigest,
    _json_compact,
    build_row_comparator,
    checksum_hex,
    pk_display,
    row_digest,
    row_tuple,
)

_MASK64 = (1 << 64) - 1

__all__ = [
    "MismatchType",
    "Diff",
    "SideSummary",
    "TokenOrderError",
    "RowMatcher",
    "SegmentDiff",
    "diff_segment",
    "diff_rows",
    "canonical_stream",
    "freeze_pk",
]


class MismatchType(str, enum.Enum):
    MISSING_IN_POSTGRES = "MISSING_IN_POSTGRES"
    MISSING_IN_CASSANDRA = "MISSING_IN_CASSANDRA"
    DATA_MISMATCH = "DATA_MISMATCH"

    def __str__(self) -> str:
        return self.value


class TokenOrderError(ValueError):
    """An input stream was not sorted by token: the merge would silently report wrong rows."""


@dataclass(frozen=True)
class Diff:
    """One difference between the two sides, in the shape of the contract's mismatch record."""

    mismatch_type: MismatchType
    pk: tuple
    pk_display: str
    cassandra_data: dict[str, Any] | None
    postgres_data: dict[str, Any] | None
    cassandra_checksum: str | None
    postgres_checksum: str | None
    differing_columns: tuple[str, ...] = ()
    token: Any = None

    def to_record(self) -> dict[str, Any]:
        """Fields of a mismatch record (contract section 4), JSON-ready."""
        return {
            "primary_key_value": self.pk_display,
            "mismatch_type": self.mismatch_type.value,
            "cassandra_checksum": self.cassandra_checksum,
            "postgres_checksum": self.postgres_checksum,
            "cassandra_data": self.cassandra_data,
            "postgres_data": self.postgres_data,
            "differing_columns": list(self.differing_columns),
        }


@dataclass
class SideSummary:
    """What one side of a segment held: row count (== digest.count), its SegmentDigest, and how
    many rows repeated a primary key already seen (possible on a PostgreSQL table whose key is
    not enforced; such rows are still matched and reported one by one)."""

    digest: SegmentDigest = field(default_factory=SegmentDigest)
    duplicate_keys: int = 0

    @property
    def rows(self) -> int:
        return self.digest.count


def _key(pk: tuple) -> Hashable:
    """Dictionary key of a canonical primary key (frozen collections in a key are lists)."""
    try:
        hash(pk)
        return pk
    except TypeError:
        return _json_compact(list(pk))


class RowMatcher:
    """Compiled per table: turns matched / unmatched canonical rows into ``Diff``s."""

    def __init__(self, cols: Sequence[ColumnSpec]):
        self.cols = tuple(cols)
        if not self.cols:
            raise ValueError("no columns to compare")
        self.names = tuple(c.name for c in self.cols)
        self._differing = build_row_comparator(self.cols)

    def as_dict(self, row: Sequence[Any]) -> dict[str, Any]:
        return dict(zip(self.names, row))

    def normalise(self, row: Sequence[Any] | Mapping[str, Any]) -> tuple:
        """A canonical row as a tuple in column order (mappings are read by column name)."""
        if not isinstance(row, tuple):
            row = tuple(row_tuple(row, self.cols))
        if len(row) != len(self.names):
            raise ValueError(f"canonical row has {len(row)} values, expected {len(self.names)}")
        return row

    def missing_in_postgres(self, pk: tuple, row: Sequence[Any], h: int, token: Any = None) -> Diff:
        return Diff(
            MismatchType.MISSING_IN_POSTGRES, tuple(pk), pk_display(pk),
            self.as_dict(row), None, checksum_hex(h), None, (), token,
        )

    def missing_in_cassandra(self, pk: tuple, row: Sequence[Any], h: int, token: Any = None) -> Diff:
        return Diff(
            MismatchType.MISSING_IN_CASSANDRA, tuple(pk), pk_display(pk),
            None, self.as_dict(row), None, checksum_hex(h), (), token,
        )

    def compare(
        self, pk: tuple, c_row: Sequence[Any], p_row: Sequence[Any], c_hash: int, p_hash: int,
        token: Any = None,
    ) -> Diff | None:
        if c_hash == p_hash:
            return None
        differing = self._differing(c_row, p_row)
        if not differing:
            return None  # only tolerance-equal differences
        return Diff(
            MismatchType.DATA_MISMATCH, tuple(pk), pk_display(pk),
            self.as_dict(c_row), self.as_dict(p_row), checksum_hex(c_hash), checksum_hex(p_hash),
            tuple(differing), token,
        )


def diff_rows(
    cass_rows: Mapping[tuple, Sequence[Any] | Mapping[str, Any]],
    pg_rows: Mapping[tuple, Sequence[Any] | Mapping[str, Any]],
    cols: Sequence[ColumnSpec] | RowMatcher,
) -> list[Diff]:
    """Diff two unordered ``{pk tuple: canonical row}`` sets.  Order of the result: Cassandra's
    keys in their iteration order, then the keys only PostgreSQL has, in its order."""
    m = cols if isinstance(cols, RowMatcher) else RowMatcher(cols)
    pg_by_key = {_key(pk): (pk, row) for pk, row in pg_rows.items()}
    out: list[Diff] = []
    for pk, c_row in cass_rows.items():
        c_row = m.normalise(c_row)
        c_hash = row_digest(c_row)
        hit = pg_by_key.pop(_key(pk), None)
        if hit is None:
            out.append(m.missing_in_postgres(pk, c_row, c_hash))
            continue
        p_row = m.normalise(hit[1])
        d = m.compare(pk, c_row, p_row, c_hash, row_digest(p_row))
        if d is not None:
            out.append(d)
    for pk, p_row in pg_by_key.values():
        p_row = m.normalise(p_row)
        out.append(m.missing_in_cassandra(pk, p_row, row_digest(p_row)))
    return out


_END = object()


class SegmentDiff:
    """Streaming diff of one segment.  Iterate it to get the ``Diff``s; once exhausted,
    ``cassandra`` and ``postgres`` hold each side's row count and SegmentDigest and
    ``mismatch_counts`` the number of diffs per type.

    Memory: one token group per side (the largest partition), never the segment.  The
    ``live_groups`` / ``max_live_groups`` / ``max_group_rows`` counters expose that.
    """

    def __init__(
        self,
        cols: Sequence[ColumnSpec] | RowMatcher,
        cassandra: Iterable[tuple[Any, tuple, Sequence[Any]]],
        postgres: Iterable[tuple[Any, tuple, Sequence[Any]]],
    ):
        self.matcher = cols if isinstance(cols, RowMatcher) else RowMatcher(cols)
        self._cass = cassandra
        self._pg = postgres
        self.cassandra = SideSummary()
        self.postgres = SideSummary()
        self.mismatch_counts: dict[MismatchType, int] = {t: 0 for t in MismatchType}
        self.tokens = 0
        self.live_groups = 0
        self.max_live_groups = 0
        self.max_group_rows = 0
        self.done = False
        self._started = False

    # -- group reading ----------------------------------------------------------------------

    def _groups(self, rows: Iterable[tuple[Any, tuple, Sequence[Any]]], side: str) -> Iterator[tuple[Any, list]]:
        it = iter(rows)
        first = next(it, _END)
        if first is _END:
            return
        tok = first[0]
        group = [first]
        del first
        for item in it:
            t = item[0]
            if t == tok:
                group.append(item)
                continue
            if t < tok:
                raise TokenOrderError(f"{side} rows not sorted by token: {t!r} after {tok!r}")
            self._enter(group)
            yield tok, group
            tok, group = t, [item]
        self._enter(group)
        yield tok, group

    def _enter(self, group: list) -> None:
        self.live_groups += 1
        if self.live_groups > self.max_live_groups:
            self.max_live_groups = self.live_groups
        if len(group) > self.max_group_rows:
            self.max_group_rows = len(group)

    def _leave(self) -> None:
        self.live_groups -= 1

    # -- per-group work ---------------------------------------------------------------------

    def _rows(self, group: list) -> list[tuple[tuple, Sequence[Any], int]]:
        """(pk, row, digest) of every row of a token group."""
        normalise, width = self.matcher.normalise, len(self.matcher.names)
        out = []
        for _tok, pk, row in group:
            if type(row) is not tuple or len(row) != width:
                row = normalise(row)
            out.append((pk, row, row_digest(row)))
        return out

    def _match_group(self, tok: Any, c_rows: list, p_rows: list) -> list[Diff]:
        """Match the rows of one token present on both sides (a partition with clustering rows,
        or partitions colliding on the token) by primary key."""
        m = self.matcher
        out: list[Diff] = []
        pg_by_key: dict[Hashable, list] = {}
        for p in p_rows:
            k = _key(p[0])
            bucket = pg_by_key.get(k)
            if bucket is None:
                pg_by_key[k] = [p]
            else:
                self.postgres.duplicate_keys += 1
                bucket.append(p)
        seen: set = set()
        for c_pk, c_row, c_h in c_rows:
            k = _key(c_pk)
            if k in seen:
                self.cassandra.duplicate_keys += 1
            seen.add(k)
            bucket = pg_by_key.get(k)
            if not bucket:
                out.append(m.missing_in_postgres(c_pk, c_row, c_h, tok))
                continue
            _p_pk, p_row, p_h = bucket.pop(0)
            if c_h != p_h:
                d = m.compare(c_pk, c_row, p_row, c_h, p_h, tok)
                if d is not None:
                    out.append(d)
        for bucket in pg_by_key.values():
            for p_pk, p_row, p_h in bucket:
                out.append(m.missing_in_cassandra(p_pk, p_row, p_h, tok))
        return out

    def _count_duplicates(self, rows: list, summary: SideSummary) -> None:
        if len(rows) > 1:
            keys = {_key(r[0]) for r in rows}
            summary.duplicate_keys += len(rows) - len(keys)

    # -- merge ------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[Diff]:
        if self._started:
            raise RuntimeError("a SegmentDiff can be iterated only once")
        self._started = True
        counts = self.mismatch_counts
        for d in self._merge():
            counts[d.mismatch_type] += 1
            yield d
        self.done = True

    def _merge(self) -> Iterator[Diff]:
        m = self.matcher
        width = len(m.names)
        normalise = m.normalise
        digest = row_digest
        # Per-side digest state kept in locals on the hot path, folded into the summaries at the
        # end (also when the consumer stops early).
        cc = csum = cx = pc = psum = px = 0
        try:
            cg = self._groups(self._cass, "cassandra")
            pg = self._groups(self._pg, "postgres")
            c = next(cg, None)
            p = next(pg, None)
            while c is not None or p is not None:
                self.tokens += 1
                if p is None or (c is not None and c[0] < p[0]):
                    tok = c[0]
                    rows = self._rows(c[1])
                    c = None  # release the group before reading the next one
                    self._count_duplicates(rows, self.cassandra)
                    for r in rows:
                        h = r[2]
                        cc += 1
                        csum += h
                        cx ^= h
                        yield m.missing_in_postgres(r[0], r[1], h, tok)
                    r = rows = None
                    self._leave()
                    c = next(cg, None)
                elif c is None or p[0] < c[0]:
                    tok = p[0]
                    rows = self._rows(p[1])
                    p = None
                    self._count_duplicates(rows, self.postgres)
                    for r in rows:
                        h = r[2]
                        pc += 1
                        psum += h
                        px ^= h
                        yield m.missing_in_cassandra(r[0], r[1], h, tok)
                    r = rows = None
                    self._leave()
                    p = next(pg, None)
                else:
                    tok, c_group, p_group = c[0], c[1], p[1]
                    c = p = None
                    if len(c_group) == 1 and len(p_group) == 1:
                        # The common case (one row per partition): no dictionaries.
                        _t, c_pk, c_row = c_group[0]
                        _t, p_pk, p_row = p_group[0]
                        del c_group, p_group
                        if type(c_row) is not tuple or len(c_row) != width:
                            c_row = normalise(c_row)
                        if type(p_row) is not tuple or len(p_row) != width:
                            p_row = normalise(p_row)
                        c_h, p_h = digest(c_row), digest(p_row)
                        cc += 1
                        csum += c_h
                        cx ^= c_h
                        pc += 1
                        psum += p_h
                        px ^= p_h
                        if c_pk == p_pk or _key(c_pk) == _key(p_pk):
                            if c_h != p_h:
                                d = m.compare(c_pk, c_row, p_row, c_h, p_h, tok)
                                if d is not None:
                                    yield d
                        else:
                            yield m.missing_in_postgres(c_pk, c_row, c_h, tok)
                            yield m.missing_in_cassandra(p_pk, p_row, p_h, tok)
                        del c_row, p_row
                    else:
                        c_rows, p_rows = self._rows(c_group), self._rows(p_group)
                        del c_group, p_group
                        hs = [r[2] for r in c_rows]
                        cc += len(hs)
                        csum += sum(hs)
                        for h in hs:
                            cx ^= h
                        hs = [r[2] for r in p_rows]
                        pc += len(hs)
                        psum += sum(hs)
                        for h in hs:
                            px ^= h
                        diffs = self._match_group(tok, c_rows, p_rows)
                        del c_rows, p_rows
                        yield from diffs
                        del diffs
                    self._leave()
                    self._leave()
                    c = next(cg, None)
                    p = next(pg, None)
        finally:
            self.cassandra.digest = self.cassandra.digest.merge(SegmentDigest(cc, csum & _MASK64, cx))
            self.postgres.digest = self.postgres.digest.merge(SegmentDigest(pc, psum & _MASK64, px))

    def run(self) -> list[Diff]:
        """Consume the whole segment; returns the diffs (bounded only by the number of diffs)."""
        return list(self)

    def summary(self) -> dict[str, Any]:
        return {
            "cassandra_rows": self.cassandra.rows,
            "postgres_rows": self.postgres.rows,
            "cassandra_digest": self.cassandra.digest.to_dict(),
            "postgres_digest": self.postgres.digest.to_dict(),
            "digests_equal": self.cassandra.digest == self.postgres.digest,
            "mismatches": {t.value: n for t, n in self.mismatch_counts.items()},
            "duplicate_keys": {
                "cassandra": self.cassandra.duplicate_keys,
                "postgres": self.postgres.duplicate_keys,
            },
            "tokens": self.tokens,
            "max_group_rows": self.max_group_rows,
        }


def diff_segment(
    cols: Sequence[ColumnSpec] | RowMatcher,
    cassandra: Iterable[tuple[Any, tuple, Sequence[Any]]],
    postgres: Iterable[tuple[Any, tuple, Sequence[Any]]],
) -> SegmentDiff:
    """Create the streaming diff of one segment (see ``SegmentDiff``); nothing is read until it
    is iterated."""
    return SegmentDiff(cols, cassandra, postgres)


def canonical_stream(
    rows: Iterable[tuple[Any, Sequence[Any] | Mapping[str, Any]]],
    canonicalize: Callable[[Any], tuple],
    pk_indexes: Sequence[int],
) -> Iterator[tuple[Any, tuple, tuple]]:
    """Adapt ``(token, raw_row)`` pairs from a driver into ``(token, pk, canon_row)`` for the
    engine.  ``pk_indexes`` are the positions of the primary key columns in the column list."""
    idx = tuple(pk_indexes)
    if not idx:
        raise ValueError("a primary key needs at least one column")
    for token, raw in rows:
        canon = canonicalize(raw)
        pk = tuple([canon[i] for i in idx])
        for v in pk:
            if type(v) is list or type(v) is dict:
                pk = freeze_pk(pk)
                break
        yield token, pk, canon


def _freeze(v: Any) -> Any:
    if type(v) is list:
        return tuple(_freeze(x) for x in v)
    if type(v) is dict:
        return tuple((k, _freeze(x)) for k, x in v.items())
    return v


def freeze_pk(pk: Sequence[Any]) -> tuple:
    """A canonical primary key usable as a dictionary key: a frozen collection in the key (a
    list, or a map as a dict) becomes a tuple (a map: a tuple of (key, value) pairs).  Its
    JSON and ``pk_display`` stay those of an array."""
    return tuple(_freeze(v) for v in pk)
