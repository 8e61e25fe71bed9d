"""Segment diff engine: compare the canonical rows of one token range from both engines.

Two entry points:

* ``SegmentDiff`` / ``diff_segment`` - a streaming merge of two iterators of
  ``(token, pk, canon_row)``, each sorted by token ascending (order inside one token is free:
  one partition's clustering rows, or a rare Murmur3 collision).  It holds at most one token
  group per side in memory, yields ``Diff`` records as it goes, and leaves per-side row counts
  and order-independent ``SegmentDigest``s behind for the segment result.
* ``diff_rows`` - the same matching for two unordered ``{pk: canon_row}`` mappings, used by the
  strategies that fetch rows by key (SAMPLE, TIMESTAMP_RANGE).

PostgreSQL keeps microseconds where Cassandra keeps milliseconds, so PostgreSQL rows whose timestamp
key components differ only below the millisecond share one canonical key. Cassandra's row of that key
is matched with one of them (the one at Cassandra's exact millisecond, else the first whose row digest
is Cassandra's, else the first, in the order of their microseconds); every other one is MISSING_IN_CASSANDRA under its exact key (six fraction
digits), as is any PostgreSQL row without a Cassandra row (docs/decisions.md).

A canonical row is a tuple in catalog column order (what ``build_canonicalizer`` returns) or a
mapping by column name.  Rows that compare equal (``==``) or whose digests are equal are equal;
otherwise every column is compared with ``values_equal`` (tolerances apply) before a
DATA_MISMATCH is declared.
"""

from __future__ import annotations

from chalicelib.domain.cdc import MismatchType
from collections import Counter as _Counter
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
    same_canonical_form,
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
    "WireSegmentDiff",
    "PostgresRows",
]


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


class PostgresRows(dict):
    """PostgreSQL rows by canonical key for ``diff_rows``: ``{canonical key: [(exact key,
    sub-millisecond microseconds, canonical row), ...]}``.  A key holds several rows when their
    timestamp key components differ only below the millisecond (``keys.exact_key_function``)."""

    def add(self, pk: tuple, row: Sequence[Any], exact: tuple | None = None, sub: tuple = ()) -> None:
        self.setdefault(pk, []).append((pk if exact is None else exact, sub, row))

    def row_count(self) -> int:
        return sum(len(v) for v in self.values())


def _counterpart(hashes: Sequence[int], c_hash: int, first_sub: tuple = ()) -> int:
    """Which of one canonical key's PostgreSQL rows (in the order of their microseconds; the first
    one's sub-millisecond microseconds are `first_sub`) is the Cassandra row's counterpart: the row
    at Cassandra's exact millisecond (what a sink copying Cassandra's value writes), else the first
    with the same digest, else the first. The others are reported under their exact keys, which
    then always differ from Cassandra's."""
    if len(hashes) < 2 or (first_sub and not any(first_sub)):
        return 0
    for i, h in enumerate(hashes):
        if h == c_hash:
            return i
    return 0


def diff_rows(
    cass_rows: Mapping[tuple, Sequence[Any] | Mapping[str, Any]],
    pg_rows: Mapping[tuple, Sequence[Any] | Mapping[str, Any]] | PostgresRows,
    cols: Sequence[ColumnSpec] | RowMatcher,
) -> list[Diff]:
    """Diff two unordered sets: ``{pk tuple: canonical row}`` for Cassandra, the same or a
    ``PostgresRows`` for PostgreSQL.  Order of the result: Cassandra's keys in their iteration
    order, then the keys only PostgreSQL has, in its order."""
    m = cols if isinstance(cols, RowMatcher) else RowMatcher(cols)
    if isinstance(pg_rows, PostgresRows):
        pg_by_key = {_key(pk): entries for pk, entries in pg_rows.items()}
    else:
        pg_by_key = {_key(pk): [(pk, (), row)] for pk, row in pg_rows.items()}
    out: list[Diff] = []
    for pk, c_row in cass_rows.items():
        c_row = m.normalise(c_row)
        c_hash = row_digest(c_row)
        entries = pg_by_key.pop(_key(pk), None)
        if not entries:
            out.append(m.missing_in_postgres(pk, c_row, c_hash))
            continue
        if len(entries) > 1:
            entries = sorted(entries, key=lambda e: e[1])
        rows = [m.normalise(e[2]) for e in entries]
        hashes = [row_digest(r) for r in rows]
        pick = _counterpart(hashes, c_hash, entries[0][1])
        d = m.compare(pk, c_row, rows[pick], c_hash, hashes[pick])
        if d is not None:
            out.append(d)
        for i, e in enumerate(entries):
            if i != pick:
                out.append(m.missing_in_cassandra(e[0], rows[i], hashes[i]))
    for entries in pg_by_key.values():
        for exact, _sub, p_row in entries:
            p_row = m.normalise(p_row)
            out.append(m.missing_in_cassandra(exact, p_row, row_digest(p_row)))
    return out


class SegmentDiff:
    """Streaming diff of one segment.  Iterate it to get the ``Diff``s; once exhausted,
    ``cassandra`` and ``postgres`` hold each side's row count and SegmentDigest and
    ``mismatch_counts`` the number of diffs per type.

    Memory: one token group per side (the largest partition) plus one look-ahead row, never
    the segment.  The ``max_live_groups`` / ``max_group_rows`` counters expose that.

    Hot path: inputs made by ``canonical_stream`` are read raw and canonicalized in the merge
    loop; a token with one row on each side needs no group list, a primary key only when the
    rows differ, and an equal pair is hashed once when both canonicalizers have the same
    column kinds (see ``same_canonical_form``).
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
        self.max_live_groups = 0
        self.max_group_rows = 0
        self.done = False
        self._started = False

    # -- group reading ----------------------------------------------------------------------

    @staticmethod
    def _group(first: Any, nxt: Any, it: Iterator, side: str) -> tuple[list, Any]:
        """All items of ``first``'s token: ``first``, ``nxt`` (the item read after it) and the
        following ones while the token stays the same.  Returns (group, look-ahead item)."""
        tok = first[0]
        group = [first]
        while nxt is not None:
            t = nxt[0]
            if t == tok:
                group.append(nxt)
                nxt = next(it, None)
                continue
            if t < tok:
                raise TokenOrderError(f"{side} rows not sorted by token: {t!r} after {tok!r}")
            break
        return group, nxt

    def _note_group(self, live: int, rows: int) -> None:
        """Memory accounting: ``live`` token groups held at once, the largest with ``rows`` rows."""
        if live > self.max_live_groups:
            self.max_live_groups = live
        if rows > self.max_group_rows:
            self.max_group_rows = rows

    # -- per-group work ---------------------------------------------------------------------

    @staticmethod
    def _rows(group: list, ix: int, canon: Callable[[Any], tuple], full: Callable[[Any, tuple], tuple]) -> list[tuple[tuple, Sequence[Any], int, Any]]:
        """(pk, row, digest, item) of every row of a token group."""
        out = []
        for item in group:
            _tok, pk, row = full(item, canon(item[ix]))
            out.append((pk, row, row_digest(row), item))
        return out

    def _match_group(self, tok: Any, c_rows: list, p_rows: list, p_exact: Callable[[Any, tuple], tuple]) -> list[Diff]:
        """Match the rows of one token present on both sides (a partition with clustering rows,
        or partitions colliding on the token) by primary key.  PostgreSQL rows sharing a
        canonical key (timestamps differing below the millisecond) are ordered by their
        microseconds; the Cassandra row takes its counterpart (``_counterpart``), the others are
        MISSING_IN_CASSANDRA under their exact keys."""
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
        for bucket in pg_by_key.values():
            if len(bucket) > 1:
                bucket.sort(key=lambda p: p_exact(p[3], p[0])[1])
        seen: set = set()
        for c_pk, c_row, c_h, _item in c_rows:
            k = _key(c_pk)
            if k in seen:
                self.cassandra.duplicate_keys += 1
            seen.add(k)
            bucket = pg_by_key.get(k)
            if not bucket:
                out.append(m.missing_in_postgres(c_pk, c_row, c_h, tok))
                continue
            pick = 0
            if len(bucket) > 1:
                pick = _counterpart([p[2] for p in bucket], c_h, p_exact(bucket[0][3], bucket[0][0])[1])
            _p_pk, p_row, p_h, _p_item = bucket.pop(pick)
            if c_h != p_h:
                d = m.compare(c_pk, c_row, p_row, c_h, p_h, tok)
                if d is not None:
                    out.append(d)
        for bucket in pg_by_key.values():
            for p_pk, p_row, p_h, p_item in bucket:
                out.append(m.missing_in_cassandra(p_exact(p_item, p_pk)[0], p_row, p_h, tok))
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

    def _side(self, src: Any) -> tuple[Iterator, int, Callable[[Any], tuple], Callable[[Any, tuple], tuple], Any,
                                       Callable[[Any, tuple], tuple]]:
        """How the merge reads one input: (iterator of items with the token at [0], index of the
        payload in an item, payload -> canonical row tuple, (item, row) -> (token, pk, row), the
        canonicalizer or None, (item, pk) -> (exact key, sub-millisecond microseconds)).  A
        ``canonical_stream`` is read raw and canonicalized here, with the primary key built only
        when a row needs it; anything else is an iterator of ``(token, pk, row)``."""
        width = len(self.matcher.names)
        if type(src) is CanonicalStream and len(getattr(src.canonicalize, "columns", ())) == width:
            canon, pk_of, exact_pk = src.canonicalize, src.pk_of, src.exact_pk

            def full(item: Any, row: tuple) -> tuple:
                return item[0], pk_of(row), row

            if exact_pk is None:
                return iter(src.rows), 1, canon, full, canon, _as_exact

            def exact(item: Any, pk: tuple) -> tuple:
                return exact_pk(item[1], pk)

            return iter(src.rows), 1, canon, full, canon, exact
        normalise = self.matcher.normalise

        def as_row(row: Any) -> tuple:
            if type(row) is not tuple or len(row) != width:
                return normalise(row)
            return row

        def full_item(item: Any, row: tuple) -> tuple:
            return item if item[2] is row else (item[0], item[1], row)

        return iter(src), 2, as_row, full_item, None, _as_exact

    def _merge(self) -> Iterator[Diff]:
        m = self.matcher
        digest = row_digest
        cit, cix, c_canon, c_full, c_cz, _c_exact = self._side(self._cass)
        pit, pix, p_canon, p_full, p_cz, p_exact = self._side(self._pg)
        # Equal rows from two canonicalizers of the same canonical kinds have the same digest:
        # an equal pair (the common case) is then hashed once.  Rows handed in already
        # canonical carry no such guarantee (1 == 1.0 == True) and are always hashed per side.
        reuse = c_cz is not None and p_cz is not None and same_canonical_form(c_cz, p_cz)
        # ... and the PostgreSQL row can reuse the Cassandra row's canonical values where the raw
        # values are equal (canonicalize.against): most columns of an equal pair.
        p_against = getattr(p_cz, "against", None)
        if p_against is None:
            reuse = False
        # Per-side digest state kept in locals on the hot path, folded into the summaries at the
        # end (also when the consumer stops early).  en/esum/ex: equal pairs, counted once for
        # both sides.
        cc = csum = cx = pc = psum = px = en = esum = ex = 0
        tokens = 0
        try:
            c = next(cit, None)  # look-ahead: the first item of the next token group
            p = next(pit, None)
            while c is not None or p is not None:
                tokens += 1
                if p is not None and c is not None and c[0] == p[0]:
                    tok = c[0]
                    c_first, p_first = c, p
                    c = next(cit, None)
                    p = next(pit, None)
                    if (c is None or c[0] > tok) and (p is None or p[0] > tok):
                        # The common case: one row per token on each side.
                        if self.max_live_groups < 2:
                            self._note_group(2, 1)
                        c_row = c_canon(c_first[cix])
                        if reuse:
                            p_row = p_against(p_first[1], c_first[1], c_row)
                        else:
                            p_row = p_canon(p_first[pix])
                        if c_row == p_row:
                            h = digest(c_row)
                            if reuse:
                                en += 1
                                esum += h
                                ex ^= h
                                c_first = p_first = c_row = p_row = None
                                continue
                            p_h = digest(p_row)
                        else:
                            h = digest(c_row)
                            p_h = digest(p_row)
                        cc += 1
                        csum += h
                        cx ^= h
                        pc += 1
                        psum += p_h
                        px ^= p_h
                        if h != p_h:
                            _t, c_pk, c_row = c_full(c_first, c_row)
                            _t, p_pk, p_row = p_full(p_first, p_row)
                            if c_pk == p_pk or _key(c_pk) == _key(p_pk):
                                d = m.compare(c_pk, c_row, p_row, h, p_h, tok)
                                if d is not None:
                                    yield d
                            else:
                                yield m.missing_in_postgres(c_pk, c_row, h, tok)
                                yield m.missing_in_cassandra(p_exact(p_first, p_pk)[0], p_row, p_h, tok)
                        c_first = p_first = c_row = p_row = None
                        continue
                    # A partition with clustering rows, or a token collision, on either side.
                    c_first, c = self._group(c_first, c, cit, "cassandra")
                    p_first, p = self._group(p_first, p, pit, "postgres")
                    self._note_group(2, max(len(c_first), len(p_first)))
                    c_rows = self._rows(c_first, cix, c_canon, c_full)
                    p_rows = self._rows(p_first, pix, p_canon, p_full)
                    c_first = p_first = None
                    for r in c_rows:
                        h = r[2]
                        cc += 1
                        csum += h
                        cx ^= h
                    for r in p_rows:
                        h = r[2]
                        pc += 1
                        psum += h
                        px ^= h
                    diffs = self._match_group(tok, c_rows, p_rows, p_exact)
                    r = c_rows = p_rows = None
                    yield from diffs
                    diffs = None
                elif p is None or (c is not None and c[0] < p[0]):
                    group, c = self._group(c, next(cit, None), cit, "cassandra")
                    tok = group[0][0]
                    self._note_group(1 if p is None else 2, len(group))
                    rows = self._rows(group, cix, c_canon, c_full)
                    group = None  # release the raw group before yielding
                    self._count_duplicates(rows, self.cassandra)
                    for r in rows:
                        h = r[2]
                        cc += 1
                        csum += h
                        cx ^= h
                        yield m.missing_in_postgres(r[0], r[1], h, tok)
                    r = rows = None
                else:
                    group, p = self._group(p, next(pit, None), pit, "postgres")
                    tok = group[0][0]
                    self._note_group(1 if c is None else 2, len(group))
                    rows = self._rows(group, pix, p_canon, p_full)
                    group = None
                    self._count_duplicates(rows, self.postgres)
                    for r in rows:
                        h = r[2]
                        pc += 1
                        psum += h
                        px ^= h
                        yield m.missing_in_cassandra(p_exact(r[3], r[0])[0], r[1], h, tok)
                    r = rows = None
        finally:
            self.tokens += tokens
            cc += en
            pc += en
            csum += esum
            psum += esum
            cx ^= ex
            px ^= ex
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


class CanonicalStream:
    """``(token, pk, canon_row)`` items from ``(token, raw_row)`` pairs: what ``canonical_stream``
    returns.  Iterating it canonicalizes each row; ``diff_segment`` instead reads the raw pairs
    itself and canonicalizes in its merge loop, building a primary key only for rows that need
    one (same results, fewer layers per row)."""

    __slots__ = ("rows", "canonicalize", "pk_indexes", "pk_of", "exact_pk")

    def __init__(
        self,
        rows: Iterable[tuple[Any, Sequence[Any] | Mapping[str, Any]]],
        canonicalize: Callable[[Any], tuple],
        pk_indexes: Sequence[int],
        exact_pk: Callable[[Any, tuple], tuple] | None = None,
    ):
        idx = tuple(pk_indexes)
        if not idx:
            raise ValueError("a primary key needs at least one column")
        self.rows = rows
        self.canonicalize = canonicalize
        self.pk_indexes = idx
        self.pk_of = _pk_function(idx)
        #: (raw row, canonical key) -> (exact key, sub-ms microseconds); None: keys are exact
        self.exact_pk = exact_pk

    def __iter__(self) -> Iterator[tuple[Any, tuple, tuple]]:
        canonicalize, pk_of = self.canonicalize, self.pk_of
        for token, raw in self.rows:
            canon = canonicalize(raw)
            yield token, pk_of(canon), canon


def _pk_function(idx: tuple[int, ...]) -> Callable[[tuple], tuple]:
    """Canonical row -> primary key tuple (a frozen collection in the key becomes a tuple)."""

    def pk_of(canon: tuple) -> tuple:
        pk = tuple([canon[i] for i in idx])
        for v in pk:
            if type(v) is list or type(v) is dict:
                return freeze_pk(pk)
        return pk

    if len(idx) == 1:
        (i,) = idx

        def pk_of(canon: tuple) -> tuple:  # noqa: F811 - the one-column key needs no loop
            v = canon[i]
            if type(v) is list or type(v) is dict:
                return (_freeze(v),)
            return (v,)

    return pk_of


def canonical_stream(
    rows: Iterable[tuple[Any, Sequence[Any] | Mapping[str, Any]]],
    canonicalize: Callable[[Any], tuple],
    pk_indexes: Sequence[int],
    exact_pk: Callable[[Any, tuple], tuple] | None = None,
) -> CanonicalStream:
    """Adapt ``(token, raw_row)`` pairs from a driver into ``(token, pk, canon_row)`` for the
    engine.  ``pk_indexes`` are the positions of the primary key columns in the column list;
    ``exact_pk`` (PostgreSQL's side of a table with timestamp key components,
    ``keys.exact_key_function``) gives a row's exact key when it is reported without a counterpart.
    The result is iterable (lazily, once per iteration of ``rows``)."""
    return CanonicalStream(rows, canonicalize, pk_indexes, exact_pk)


def _as_exact(_item: Any, pk: tuple) -> tuple:
    """The exact key of a row whose key has no timestamp below the millisecond: its key."""
    return pk, ()


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


# ------------------------------------------------------------------------------------------
# Wire comparison: compare serialized rows, decode only the rows that differ
# ------------------------------------------------------------------------------------------

#: rows compared at once when both sides agree; a sub-window that differs is matched by token
WIRE_SUBWINDOW = 256


def _tok(row: tuple) -> int:
    return int.from_bytes(row[0], "big", signed=True)


class _Rows:
    """Read position over an iterator of row lists (PostgreSQL's side of a wire comparison)."""

    __slots__ = ("_it", "buf", "pos")

    def __init__(self, chunks: Iterable[list]):
        self._it = iter(chunks)
        self.buf: list = []
        self.pos = 0

    def _fill(self, need: int) -> bool:
        """Make at least `need` rows available after pos (False when the input ends first)."""
        while len(self.buf) - self.pos < need:
            nxt = next(self._it, None)
            if nxt is None:
                return False
            self.buf = self.buf[self.pos:] + nxt if self.pos < len(self.buf) else nxt
            self.pos = 0
        return True

    def peek(self, n: int) -> list:
        self._fill(n)
        return self.buf[self.pos:self.pos + n]

    def at(self, k: int) -> tuple | None:
        return self.buf[self.pos + k] if self._fill(k + 1) else None

    def take_below(self, limit: int | None) -> list:
        """All remaining rows whose token is below `limit` (all when None)."""
        out: list = []
        while True:
            if not self._fill(1):
                return out
            buf, i, n = self.buf, self.pos, len(self.buf)
            if limit is None:
                j = n
            else:
                j = i
                while j < n and _tok(buf[j]) < limit:
                    j += 1
            out.extend(buf[i:j])
            self.pos = j
            if j < n:
                return out


class WireSegmentDiff:
    """Streaming diff of one segment on serialized rows (docs/canonical-form.md, "Wire comparison").

    Both inputs are lists of raw rows in token order, a row being ``(token bytes, column bytes or
    None, ...)`` in Cassandra's serialization: ``cassandra_pages`` from the driver undecoded,
    ``postgres_chunks`` produced by PostgreSQL from its own columns (``pg_source.WireQuery``).
    Rows are compared ``WIRE_SUBWINDOW`` at a time with list equality (no token group is split):
    equal bytes are equal canonical values. A sub-window that differs is matched by token: the
    tokens whose rows differ are *dirty*; their Cassandra rows are decoded (``decode_cassandra``),
    their PostgreSQL rows are read decoded (``fetch_postgres(tokens)``), once per page, and both
    go through the canonical merge (``SegmentDiff``) — so rows that differ only in representation
    (decimal scale, set order, an empty collection against null, microseconds, tolerances) are
    never reported.

    With ``fetch_postgres_keys(keys)`` (and no timestamp key component: ``exact_postgres`` None), a
    dirty token is settled by its differing rows only: the rows whose bytes occur a different number
    of times on the two sides are decoded, and PostgreSQL's rows of their keys read (a key is
    ``(token bytes, key column bytes, ...)``); rows byte-equal on both sides are equal pairs of one
    key and are left out. A partition of 40,000 clustering rows with one difference thus decodes that
    row, not the partition. With a timestamp in the key the whole token is settled (rows of one
    millisecond are paired together, docs/decisions.md).

    Memory: one Cassandra page, one PostgreSQL chunk and the dirty rows of one page.
    After iteration: ``cassandra`` / ``postgres`` (SideSummary-like: rows, duplicate keys),
    ``decoded`` (rows decoded and canonicalized), ``mismatch_counts``.
    """

    def __init__(
        self,
        cols: Sequence[ColumnSpec] | RowMatcher,
        cassandra_pages: Iterable[list],
        postgres_chunks: Iterable[list],
        decode_cassandra: Callable[[tuple], tuple],
        fetch_postgres: Callable[[list], list],
        canon_cassandra: Callable[[Any], tuple],
        canon_postgres: Callable[[Any], tuple],
        pk_indexes: Sequence[int],
        subwindow: int | None = None,
        exact_postgres: Callable[[Any, tuple], tuple] | None = None,
        fetch_postgres_keys: Callable[[list], list] | None = None,
    ):
        self.matcher = cols if isinstance(cols, RowMatcher) else RowMatcher(cols)
        self._exact_p = exact_postgres
        # settle dirty tokens row by row (by key) rather than whole tokens, when that is exact
        self._fetch_keys = fetch_postgres_keys if exact_postgres is None else None
        self._dirty_keys: set = set()
        self._pages = cassandra_pages
        self._chunks = postgres_chunks
        self._decode = decode_cassandra
        self._fetch = fetch_postgres
        self._canon_c = canon_cassandra
        self._canon_p = canon_postgres
        self._pk = tuple(pk_indexes)
        self.subwindow = subwindow or WIRE_SUBWINDOW
        self.cassandra = _WireSide()
        self.postgres = _WireSide()
        self.mismatch_counts: dict[MismatchType, int] = {t: 0 for t in MismatchType}
        self.decoded = 0
        self.dirty_windows = 0
        self._started = False

    def __iter__(self) -> Iterator[Diff]:
        if self._started:
            raise RuntimeError("a WireSegmentDiff can be iterated only once")
        self._started = True
        counts = self.mismatch_counts
        for d in self._merge():
            counts[d.mismatch_type] += 1
            yield d

    def _merge(self) -> Iterator[Diff]:
        pg = _Rows(self._chunks)
        carry: list = []
        for page in self._pages:
            if not page:
                continue
            rows = carry + page if carry else page
            last = rows[-1][0]
            end = len(rows) - 1
            while end > 0 and rows[end - 1][0] == last:
                end -= 1
            # the last token's rows may continue on the next page: they wait for it
            yield from self._span(rows, end, pg, final=False)
            carry = rows[end:]
        yield from self._span(carry, len(carry), pg, final=True)

    def _span(self, rows: list, end: int, pg: _Rows, final: bool) -> Iterator[Diff]:
        """Compare rows[:end] (whole token groups; rows[end], if any, is the next token) with
        PostgreSQL's rows up to the same token; then settle the dirty tokens."""
        step = self.subwindow
        dirty: set = set()
        dirty_c: list = []
        c_rows = p_rows = 0
        i = 0
        while i < end:
            j = min(i + step, end)
            while j < end and rows[j][0] == rows[j - 1][0]:
                j += 1
            sub = rows[i:j]
            n = j - i
            if pg.peek(n) == sub:
                nxt = pg.at(n)
                if nxt is None or nxt[0] != sub[-1][0]:  # PostgreSQL has no more rows of that token
                    pg.pos += n
                    c_rows += n
                    p_rows += n
                    i = j
                    continue
            limit = _tok(rows[j]) if j < len(rows) else None
            pw = pg.take_below(limit)
            c_rows += n
            p_rows += len(pw)
            self._dirty(sub, pw, dirty, dirty_c)
            i = j
        if final:
            rest = pg.take_below(None)
            p_rows += len(rest)
            if rest:
                self._dirty([], rest, dirty, dirty_c)
        self.cassandra.rows += c_rows
        self.postgres.rows += p_rows
        if dirty:
            yield from self._settle(dirty, dirty_c)

    def _dirty(self, sub: list, pw: list, dirty: set, dirty_c: list) -> None:
        self.dirty_windows += 1
        c_count = _Counter(sub)
        p_count = _Counter(pw)
        differ = {r for r, k in c_count.items() if p_count.get(r, 0) != k}
        differ.update(r for r, k in p_count.items() if c_count.get(r, 0) != k)
        if not differ:
            return
        found = {_tok(r) for r in differ}
        dirty |= found
        if self._fetch_keys is not None:
            dirty_c.extend(r for r in sub if r in differ)
            self._dirty_keys.update(self._key(r) for r in differ)
        else:
            dirty_c.extend(r for r in sub if _tok(r) in found)

    def _key(self, raw: tuple) -> tuple:
        return (raw[0], *(raw[1 + i] for i in self._pk))

    def _settle(self, dirty: set, dirty_c: list) -> Iterator[Diff]:
        c_rows = [self._decode(r) for r in dirty_c]
        if self._fetch_keys is not None:
            keys, self._dirty_keys = sorted(self._dirty_keys), set()
            p_rows = self._fetch_keys(keys)
        else:
            p_rows = self._fetch(sorted(dirty))
        self.decoded += len(c_rows) + len(p_rows)
        sd = SegmentDiff(
            self.matcher,
            canonical_stream(((r[0], r[1:]) for r in c_rows), self._canon_c, self._pk),
            canonical_stream(((r[0], r[1:]) for r in p_rows), self._canon_p, self._pk, self._exact_p),
        )
        yield from sd
        self.cassandra.duplicate_keys += sd.cassandra.duplicate_keys
        self.postgres.duplicate_keys += sd.postgres.duplicate_keys


@dataclass
class _WireSide:
    rows: int = 0
    duplicate_keys: int = 0
