"""The four validation strategies, one small class each behind one interface.

A strategy runs one segment (a Murmur3 token range) of a job against both engines and returns a
`SegmentResult`. Rows from both engines are turned into the canonical form (canonical.py) before
anything is compared, so engine differences in representation are never reported as drift.

Live CDC: a difference on a row written within the replication-lag window (by its updated_at
column, or Cassandra WRITETIME when the table has none) is a *suspect*, re-checked after a grace
period (rechecks.py) instead of being reported at once.
"""
from __future__ import annotations

import math
import os
import pickle
import random
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import cached_property
from typing import Callable, Iterable, Iterator

from chalicelib.cdc.canonical import CASSANDRA, POSTGRES, ColumnSpec, build_canonicalizer, parse_cql_type
from chalicelib.cdc.catalog import TableConfig
from chalicelib.cdc.diff import (
    Diff,
    PostgresRows,
    RowMatcher,
    WireSegmentDiff,
    canonical_stream,
    diff_rows,
    diff_segment,
)
from chalicelib.cdc.keys import exact_key_function, key_values, millisecond_key
from chalicelib.cdc.pg_source import PostgresSource
from chalicelib.config import get_settings
from chalicelib.domain.cdc import MismatchType


class DiffSpool:
    """The diffs of one segment in bounded memory: kept in memory up to `keep`, then pickled to
    a temporary file in batches. Iterable (more than once) and sized; `append` adds one diff.
    A segment with heavy drift thus holds one batch, not all its differences."""

    def __init__(self, items: Iterable[Diff] = (), keep: int = 2000):
        self.keep = keep
        self._mem: list[Diff] = []
        self._file = None
        self._batches = 0
        self._n = 0
        for d in items:
            self.append(d)

    def append(self, d: Diff) -> None:
        self._mem.append(d)
        self._n += 1
        if len(self._mem) >= self.keep:
            if self._file is None:
                self._file = tempfile.TemporaryFile(prefix="recon-diffs-")
            pickle.dump(self._mem, self._file, protocol=pickle.HIGHEST_PROTOCOL)
            self._batches += 1
            self._mem = []

    def __len__(self) -> int:
        return self._n

    def __bool__(self) -> bool:
        return self._n > 0

    def batches(self) -> Iterator[list[Diff]]:
        if self._file is not None:
            self._file.seek(0)
            for _ in range(self._batches):
                yield pickle.load(self._file)
            self._file.seek(0, 2)
        if self._mem:
            yield list(self._mem)

    def __iter__(self) -> Iterator[Diff]:
        for batch in self.batches():
            yield from batch

    def __eq__(self, other) -> bool:  # compares with lists in tests
        return list(self) == list(other)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


@dataclass
class SegmentResult:
    cassandra_rows: int = 0
    postgres_rows: int = 0
    cassandra_digest: str | None = None
    postgres_digest: str | None = None
    mismatches: "DiffSpool | list[Diff]" = field(default_factory=list)
    suspects: "DiffSpool | list[Diff]" = field(default_factory=list)
    #: rows decoded and canonicalized (CHECKSUM by wire comparison: only rows whose bytes differ)
    decoded_rows: int | None = None
    #: PostgreSQL rows read in this token range under a token that is not their key's (a wrong token column):
    #: (diff, grace seconds) re-read by key on both sides when the job ends (rechecks.py)
    misplaced: list = field(default_factory=list)


class TableContext:
    """Everything a strategy needs about one table, built once per worker and reused."""

    def __init__(self, table: TableConfig, cassandra_reader=None, postgres: PostgresSource | None = None):
        self.table = table
        self.postgres = postgres or PostgresSource(table)
        self._cassandra = cassandra_reader
        pg_types = self.postgres.check_schema()
        self.specs = [
            ColumnSpec(name=c.name, cql_type=c.type, pg_name=c.postgres, tolerance=c.tolerance, pg_type=pg_types.get(c.pg_name))
            for c in table.column_list
        ]
        self.names = [c.name for c in table.column_list]
        self.pk_idx = [self.names.index(k) for k in table.primary_key]
        self.pk_types = [table.columns[k].type for k in table.primary_key]
        self.part_idx = [self.names.index(k) for k in table.partition_key]
        #: PostgreSQL raw row -> its exact key (timestamp key components keep their microseconds); None
        #: when the key has no timestamp
        self.exact_p = exact_key_function(self.pk_types, self.pk_idx)
        self.canon_c = build_canonicalizer(self.specs, CASSANDRA)
        self.canon_p = build_canonicalizer(self.specs, POSTGRES)
        self.matcher = RowMatcher(self.specs)
        self.updated_idx = self.names.index(table.updated_at_column) if table.updated_at_column else None
        self._wire: tuple | None = None
        self._wire_checked = False

    def wire(self):
        """(wire query, Cassandra row decoder) when CHECKSUM can compare this table's serialized
        rows (every column has an exact PostgreSQL encoding, PostgreSQL >= 14, the reader has the
        process-wide sessions, CHECKSUM_WIRE_COMPARISON is not 0); None: the decoded comparison.
        A connection error is raised (the segment is retried), not taken as "unsupported"."""
        if not self._wire_checked:
            if os.environ.get("CHECKSUM_WIRE_COMPARISON", "1").strip().lower() in ("0", "false", "no", "off"):
                self._wire, self._wire_checked = None, True
                return None
            query = self.postgres.wire_query(self.specs)
            decoder = None
            if query is not None:
                from chalicelib.cassandra.reader import RawScanUnavailable

                try:
                    decoder = self.cassandra.raw_decoder()
                except RawScanUnavailable:  # an injected session: no raw session to go with it
                    decoder = None
            self._wire = (query, decoder) if decoder is not None else None
            self._wire_checked = True
        return self._wire

    @property
    def cassandra(self):
        if self._cassandra is None:
            from chalicelib.cassandra.reader import CassandraReader

            t = self.table
            self._cassandra = CassandraReader(
                t.cassandra.keyspace, t.cassandra.table, t.partition_key, t.clustering_key, self.names
            )
        return self._cassandra

    @cached_property
    def token_fn(self):
        from chalicelib.cassandra.tokens import token_function

        return token_function([self.table.columns[k].type for k in self.table.partition_key])

    # ---------------------------------------------------------------- helpers
    def cass_stream(self, rows: Iterable[tuple]) -> Iterator[tuple]:
        return canonical_stream(((r[0], r[1:]) for r in rows), self.canon_c, self.pk_idx)

    def pg_stream(self, rows: Iterable[tuple]) -> Iterator[tuple]:
        return canonical_stream(((r[0], r[1:]) for r in rows), self.canon_p, self.pk_idx, self.exact_p)

    def cass_map(self, rows: Iterable[tuple]) -> dict[tuple, tuple]:
        out = {}
        for r in rows:
            c = self.canon_c(r[1:])
            out[tuple(c[i] for i in self.pk_idx)] = c
        return out

    def pg_map(self, rows: Iterable[tuple]) -> PostgresRows:
        """PostgreSQL rows by canonical key; rows whose timestamp key components differ only below the
        millisecond share a key, each kept with its exact key (diff.PostgresRows)."""
        out = PostgresRows()
        exact = self.exact_p
        for r in rows:
            raw = r[1:]
            c = self.canon_p(raw)
            pk = tuple(c[i] for i in self.pk_idx)
            if exact is None:
                out.add(pk, c)
            else:
                out.add(pk, c, *exact(raw, pk))
        return out

    def classify(self, diffs: Iterable[Diff], batch: int = 1000) -> tuple[DiffSpool, DiffSpool]:
        """`split_suspects` over a stream of diffs, a batch at a time, into two spools."""
        mism, susp = DiffSpool(), DiffSpool()
        buf: list[Diff] = []
        for d in diffs:
            buf.append(d)
            if len(buf) >= batch:
                self._classify_into(buf, mism, susp)
                buf = []
        self._classify_into(buf, mism, susp)
        return mism, susp

    def _classify_into(self, buf: list[Diff], mism: DiffSpool, susp: DiffSpool) -> None:
        m, s = self.split_suspects(buf)
        for d in m:
            mism.append(d)
        for d in s:
            susp.append(d)

    def split_suspects(self, diffs: list[Diff], now: datetime | None = None) -> tuple[list[Diff], list[Diff]]:
        """(mismatches, suspects): a diff on a row written within the lag window is a suspect."""
        if not diffs:
            return [], []
        lag = get_settings().replication_lag_seconds
        if lag <= 0:
            return diffs, []
        cutoff = (now or datetime.now(timezone.utc)) - timedelta(seconds=lag)
        recent = self._recent_checker(diffs, cutoff)
        mism, susp = [], []
        for d in diffs:
            (susp if recent(d) else mism).append(d)
        return mism, susp

    def _recent_checker(self, diffs: list[Diff], cutoff: datetime) -> Callable[[Diff], bool]:
        col = self.table.updated_at_column
        if col:
            def recent(d: Diff) -> bool:
                for data in (d.cassandra_data, d.postgres_data):
                    v = data.get(col) if data else None
                    if v and _instant(v) >= cutoff:
                        return True
                return False
            return recent
        # no updated_at column: the Cassandra row's last write, the latest write time of its non-key columns
        # (any of them may be null; collections only when nothing else is there: WRITETIME refuses them before
        # Cassandra 5.0)
        others = [n for n in self.names if n not in self.table.primary_key]
        if not others:
            return lambda d: False
        scalar = [n for n in others if not _multi_cell(self.table.columns[n].type)]
        keys = {d.pk: key_values(d.pk, self.pk_types) for d in diffs if d.cassandra_data is not None}
        wt = self.cassandra.writetimes(list(keys.values()), scalar or others) if keys else {}
        cutoff_us = int(cutoff.timestamp() * 1_000_000)
        return lambda d: d.pk in keys and (wt.get(keys[d.pk]) or 0) >= cutoff_us

    def split_misplaced(self, spool: "DiffSpool", start: int, end: int) -> tuple["DiffSpool", list[Diff]]:
        """(the rest, the misplaced): a row found only in PostgreSQL within (start, end] whose key's real
        Murmur3 token is not the token it was read under was read there only because its token column is
        wrong (a CDC sink that wrote a wrong token). It is not missing in Cassandra: its Cassandra row, if
        any, is at its real token, where it looks missing in PostgreSQL, in another segment or in this
        one alike. Both are settled when the job ends, by reading the key on both sides (rechecks.py).
        Costs one token per PostgreSQL-only row. A diff without the token it was read under (none from a
        scan) is misplaced when its real token lies outside the range."""
        n = len(self.table.partition_key)
        types = self.pk_types[:n]
        token = self.token_fn
        odd: set[str] = set()
        for d in spool:
            if d.mismatch_type is MismatchType.MISSING_IN_CASSANDRA:
                try:
                    t = token(key_values(d.pk[:n], types))
                except Exception:   # noqa: BLE001 — a key no driver value holds (a date past 9999): reported as read
                    continue
                wrong = t != d.token if d.token is not None else not (start < t <= end)
                if wrong:
                    odd.add(d.pk_display)
        if not odd:
            return spool, []
        rest, misplaced = DiffSpool(), []
        for d in spool:
            if d.mismatch_type is MismatchType.MISSING_IN_CASSANDRA and d.pk_display in odd:
                misplaced.append(d)
            else:
                rest.append(d)
        if isinstance(spool, DiffSpool):
            spool.close()
        return rest, misplaced

    def fetch_both(self, canonical_keys: list[tuple]) -> tuple[dict, PostgresRows]:
        """Point reads of the same keys on both sides: Cassandra's canonical {pk: row} map and
        PostgreSQL's rows by canonical key. A key may be exact (a timestamp component with six
        fraction digits): its millisecond is read, so every PostgreSQL row of it is there to be
        matched again as the scans match them."""
        ms_keys = dict.fromkeys(millisecond_key(k, self.pk_types) for k in canonical_keys)
        keys = [key_values(k, self.pk_types) for k in ms_keys]
        c_rows = [r for r in self.cassandra.get_rows(keys).values() if r is not None]
        p_rows = [r for r in self.postgres.get_rows(keys).values() if r is not None]
        return self.cass_map(c_rows), self.pg_map(p_rows)


_NEVER = datetime.min.replace(tzinfo=timezone.utc)


def _instant(canonical_ts: str) -> datetime:
    """The instant of a canonical timestamp; PostgreSQL's `infinity` / `-infinity` (canonical.INFINITE) is no
    write time: never recent, so a row holding one is reported, not rechecked forever."""
    try:
        return datetime.fromisoformat(canonical_ts.replace("Z", "+00:00"))
    except ValueError:
        return _NEVER


class LeaseKeeper:
    """Calls `extend()` every `every` seconds while rows flow (long segments keep their lease)."""

    def __init__(self, extend: Callable[[], object] | None, every: float):
        self.extend, self.every, self.last = extend, every, time.monotonic()

    def wrap(self, rows: Iterable) -> Iterator:
        if self.extend is None:
            yield from rows
            return
        n = 0
        for r in rows:
            yield r
            n += 1
            if n & 4095 == 0 and time.monotonic() - self.last > self.every:
                self.extend()
                self.last = time.monotonic()

    def wrap_pages(self, pages: Iterable[list]) -> Iterator[list]:
        """`wrap` for an iterator of pages (lists of rows): the time is checked once per page."""
        for page in pages:
            yield page
            if self.extend is not None and time.monotonic() - self.last > self.every:
                self.extend()
                self.last = time.monotonic()


class Strategy:
    name = ""
    #: None = the job's configured number of segments
    segments: int | None = None

    def run_segment(self, ctx: TableContext, start: int, end: int, job: dict, lease: LeaseKeeper) -> SegmentResult:
        raise NotImplementedError


class RowCount(Strategy):
    """Per-range counts on both sides; reports counts only (no row-level mismatches)."""

    name = "ROW_COUNT"

    def run_segment(self, ctx, start, end, job, lease):
        return SegmentResult(cassandra_rows=ctx.cassandra.count_range((start, end)),
                             postgres_rows=ctx.postgres.count_range(start, end))


class Checksum(Strategy):
    """Full coverage: both sides streamed in token order and merged. By wire comparison when the
    table allows it (serialized rows compared, only differing tokens decoded), else every row
    decoded, put into the canonical form and digested."""

    name = "CHECKSUM"

    def run_segment(self, ctx, start, end, job, lease):
        wire = ctx.wire()
        if wire is not None:
            query, decode = wire
            sd = WireSegmentDiff(
                ctx.matcher,
                lease.wrap_pages(ctx.cassandra.scan_pages_raw((start, end))),
                ctx.postgres.scan_wire(query, start, end),
                decode, ctx.postgres.rows_for_tokens, ctx.canon_c, ctx.canon_p, ctx.pk_idx,
                exact_postgres=ctx.exact_p,
                fetch_postgres_keys=lambda keys: ctx.postgres.rows_for_keys(query, keys, ctx.pk_idx),
            )
            mism, susp = ctx.classify(sd)
            mism, susp, misplaced = _misplaced(ctx, mism, susp, start, end)
            return SegmentResult(
                cassandra_rows=sd.cassandra.rows, postgres_rows=sd.postgres.rows,
                mismatches=mism, suspects=susp, decoded_rows=sd.decoded, misplaced=misplaced,
            )
        c = ctx.cass_stream(lease.wrap(ctx.cassandra.scan_range((start, end))))
        p = ctx.pg_stream(ctx.postgres.scan_range(start, end))
        sd = diff_segment(ctx.matcher, c, p)
        mism, susp = ctx.classify(sd)
        mism, susp, misplaced = _misplaced(ctx, mism, susp, start, end)
        return SegmentResult(
            cassandra_rows=sd.cassandra.rows, postgres_rows=sd.postgres.rows,
            cassandra_digest=sd.cassandra.digest.hex(), postgres_digest=sd.postgres.digest.hex(),
            mismatches=mism, suspects=susp, decoded_rows=sd.cassandra.rows + sd.postgres.rows, misplaced=misplaced,
        )


#: PostgreSQL rows under a wrong token one segment re-reads by key at the job's end; more than this is no stray
#: row but a token column written wrong throughout (another hash, another key): the segment fails, naming it
WRONG_TOKEN_LIMIT = 1000


class WrongTokenColumn(ValueError):
    """Too many rows of a token range carry a token that is not their key's (a permanent error: the job fails
    with this message after its attempts)."""


def _misplaced(ctx: TableContext, mism: DiffSpool, susp: DiffSpool, start: int, end: int):
    """A full scan's PostgreSQL-only rows with a wrong token, taken out of its mismatches and suspects:
    (mismatches, suspects, [(diff, grace seconds)]) — re-read at once, or after the grace when live."""
    mism, odd_now = ctx.split_misplaced(mism, start, end)
    susp, odd_live = ctx.split_misplaced(susp, start, end)
    n = len(odd_now) + len(odd_live)
    if n > WRONG_TOKEN_LIMIT:
        column = ctx.table.postgres.token_column
        examples = ", ".join(d.pk_display for d in (odd_now + odd_live)[:3])
        raise WrongTokenColumn(
            f"{n} PostgreSQL rows read in the token range ({start}, {end}] have a {column} that is not the Murmur3 "
            f"token of their partition key (e.g. {examples}): the column was written wrong, not by recon. Set it to "
            f"NULL for the table's rows (UPDATE ... SET {column} = NULL) and the next job fills it")
    grace = get_settings().recheck_grace_seconds
    return mism, susp, [(d, 0) for d in odd_now] + [(d, grace) for d in odd_live]


class TimestampRange(Strategy):
    """Rows modified within the window (default: the last hour) on either side, compared with the
    other side's row of the same key: finds all three mismatch types for recent changes."""

    name = "TIMESTAMP_RANGE"

    def run_segment(self, ctx, start, end, job, lease):
        col = ctx.table.updated_at_column
        if not col:
            raise ValueError(f"table {ctx.table.name!r} has no updated_at_column: TIMESTAMP_RANGE needs one")
        window = int((job.get("params") or {}).get("window_seconds") or get_settings().timestamp_range_window_seconds)
        since = job["created_at"] - timedelta(seconds=window)
        since_naive = since.astimezone(timezone.utc).replace(tzinfo=None)
        ui = ctx.updated_idx + 1
        # Cassandra cannot filter by a regular column without a full scan: scan the range, keep recent rows
        recent_c = [r for r in lease.wrap(ctx.cassandra.scan_range((start, end)))
                    if r[ui] is not None and _naive_utc(r[ui]) >= since_naive]
        recent_p = list(ctx.postgres.modified_since(since, start, end))
        c_map, p_map = ctx.cass_map(recent_c), ctx.pg_map(recent_p)
        if ctx.exact_p is not None and p_map:
            # a recent row's millisecond may hold older rows too: the pairing needs all of them
            got = ctx.postgres.get_rows([key_values(k, ctx.pk_types) for k in p_map])
            p_map.update(ctx.pg_map([r for r in got.values() if r is not None]))
        only_c = [k for k in c_map if k not in p_map]
        only_p = [k for k in p_map if k not in c_map]
        if only_c or only_p:
            more_c, more_p = ctx.fetch_both(only_c + only_p)
            for k, v in more_c.items():
                c_map.setdefault(k, v)
            for k, v in more_p.items():
                p_map.setdefault(k, v)
        diffs = diff_rows(c_map, p_map, ctx.matcher)
        mism, susp = ctx.split_suspects(diffs)
        return SegmentResult(cassandra_rows=len(recent_c), postgres_rows=len(recent_p), mismatches=mism, suspects=susp)


class Sample(Strategy):
    """A random sample (default 1000 rows: half drawn from each side), compared field by field in
    both directions by point reads of the same keys on the other side."""

    name = "SAMPLE"
    segments = 1

    def run_segment(self, ctx, start, end, job, lease):
        n = int((job.get("params") or {}).get("sample_size") or get_settings().sample_size)
        # half the sample drawn from each side, then each side's keys read on the other side
        c_found = ctx.cassandra.get_rows(ctx.cassandra.sample_keys(math.ceil(n / 2)))
        c_canon = ctx.cass_map([r for r in c_found.values() if r is not None])
        # PostgreSQL's half: keys not already drawn from Cassandra, so n distinct rows are compared
        p_all = ctx.pg_map(ctx.postgres.sample(n, start, end, random.random()))
        p_canon = PostgresRows()
        for k, v in p_all.items():
            if len(c_canon) + len(p_canon) >= n:
                break
            if k not in c_canon:
                p_canon[k] = v
        if ctx.exact_p is not None and p_canon:
            # a drawn key's millisecond may hold more rows than the draw took: read them all
            got = ctx.postgres.get_rows([key_values(k, ctx.pk_types) for k in p_canon])
            p_canon = ctx.pg_map([r for r in got.values() if r is not None])
        need_c = [k for k in p_canon if k not in c_canon]
        need_p = [k for k in c_canon if k not in p_canon]
        if need_c:
            got = ctx.cassandra.get_rows([key_values(k, ctx.pk_types) for k in need_c])
            c_canon.update(ctx.cass_map([r for r in got.values() if r is not None]))
        if need_p:
            got = ctx.postgres.get_rows([key_values(k, ctx.pk_types) for k in need_p])
            p_canon.update(ctx.pg_map([r for r in got.values() if r is not None]))
        diffs = diff_rows(c_canon, p_canon, ctx.matcher)
        mism, susp = ctx.split_suspects(diffs)
        return SegmentResult(cassandra_rows=len(c_canon), postgres_rows=p_canon.row_count(), mismatches=mism,
                             suspects=susp)


def _multi_cell(cql_type: str) -> bool:
    """A collection that is not frozen (Cassandra stores it cell by cell)."""
    t = parse_cql_type(cql_type)
    return t.is_collection and not t.frozen


def _naive_utc(v):
    if isinstance(v, datetime) and v.tzinfo is not None:
        return v.astimezone(timezone.utc).replace(tzinfo=None)
    return v


STRATEGIES: dict[str, Strategy] = {s.name: s for s in (RowCount(), Checksum(), TimestampRange(), Sample())}
