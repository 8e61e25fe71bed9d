"""Reads one Cassandra table by Murmur3 token range, by primary key, and samples it.

Rows
----
Every method that returns rows returns them as plain tuples ``(token, value_1, ..., value_n)``:
the Murmur3 token of the row's partition key first, then the values of ``columns`` in the order
given to the reader. ``as_dict=True`` gives ``{"_token": token, column: value, ...}`` instead
(:meth:`CassandraReader.row_to_dict` converts one tuple). Tuples are what the driver decodes into,
so a scan costs no extra allocation per row.

Memory
------
:meth:`CassandraReader.scan_range` walks the range with the driver's paging and keeps at most two
pages in memory: the one being consumed and the next one, fetched while the current one is being
consumed. Memory is bounded by ``fetch_size``, never by the range.

Failures
--------
Each request (one page, one count, one point read) is retried a bounded number of times on
timeouts, unavailability and overload, with exponential backoff; a page is retried from the paging
state that produced it, so a retried scan neither repeats nor skips rows. When retries are
exhausted, or on a non-retryable error, :class:`CassandraReadError` is raised, naming host,
keyspace, table and token range (or key).
"""

from __future__ import annotations

import logging
import random
import time
from collections import deque
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from cassandra.metadata import protect_name

from .errors import CassandraReadError, CassandraSchemaError
from .ratelimit import TokenBucket
from .session import get_raw_session, get_session, prepare
from .settings import CassandraSettings
from .tokens import MAX_TOKEN, MIN_TOKEN, TokenRange, validate_token

if TYPE_CHECKING:  # pragma: no cover
    from cassandra.cluster import ResponseFuture, Session
    from cassandra.query import BoundStatement, PreparedStatement

log = logging.getLogger(__name__)

Row = tuple  # (token, *values of columns)
Key = tuple  # partition key values + clustering key values, in that order

_SAMPLE_PARTITION_WINDOW = 100  # rows read per probe in tables with clustering columns


class RawScanUnavailable(Exception):
    """Undecoded scans are not available with this reader (it was given its own session)."""


def _release(future: Any, result: Any) -> None:
    for obj, attr in ((future, "_final_result"), (result, "_current_rows"), (result, "_page_iter")):
        try:
            setattr(obj, attr, None)
        except AttributeError:  # pragma: no cover - another driver version
            pass


def _retryable_errors() -> tuple[type[BaseException], ...]:
    from cassandra import (
        CoordinationFailure,
        OperationTimedOut,
        ReadTimeout,
        Unavailable,
    )
    from cassandra.cluster import NoHostAvailable
    from cassandra.connection import ConnectionException
    from cassandra.protocol import (
        IsBootstrappingErrorMessage,
        OverloadedErrorMessage,
        ServerError,
        TruncateError,
    )

    return (
        OperationTimedOut,
        ReadTimeout,
        Unavailable,
        CoordinationFailure,
        NoHostAvailable,
        ConnectionException,
        OverloadedErrorMessage,
        IsBootstrappingErrorMessage,
        ServerError,
        TruncateError,
    )


class CassandraReader:
    """Reader for ``keyspace.table`` (both come from the catalog, never from a request).

    ``partition_key`` and ``clustering_key`` name the primary key columns in order; ``columns`` are
    the columns to return (they may include key columns). ``rate_limit`` caps scans at that many
    rows per second (token bucket, bursts of one page). ``session`` may be injected (it must use
    tuple or named-tuple rows); otherwise the process-wide session from ``settings`` is used.
    """

    def __init__(
        self,
        keyspace: str,
        table: str,
        partition_key: Sequence[str],
        clustering_key: Sequence[str],
        columns: Sequence[str],
        *,
        session: Session | None = None,
        settings: CassandraSettings | None = None,
        fetch_size: int | None = None,
        rate_limit: float | None = None,
        max_retries: int | None = None,
        request_timeout: float | None = None,
    ):
        for what, name in (("keyspace", keyspace), ("table", table)):
            _check_identifier(what, name)
        if not partition_key:
            raise ValueError("partition_key names at least one column")
        for name in (*partition_key, *clustering_key, *columns):
            _check_identifier("column", name)
        if not columns:
            raise ValueError("columns names at least one column")
        self.keyspace = keyspace
        self.table = table
        self.partition_key = tuple(partition_key)
        self.clustering_key = tuple(clustering_key)
        self.primary_key = self.partition_key + self.clustering_key
        self.columns = tuple(columns)
        self._session = session
        self._injected = session is not None
        self._raw_session: Session | None = None
        self.settings = settings or CassandraSettings()
        self.fetch_size = fetch_size or self.settings.fetch_size
        self.max_retries = self.settings.max_retries if max_retries is None else max_retries
        self.request_timeout = request_timeout or self.settings.request_timeout
        self.rate_limiter = TokenBucket(rate_limit, burst=max(rate_limit, self.fetch_size)) if rate_limit else None
        self._dict_keys = ("_token", *self.columns)

        q = protect_name
        self._qualified = f"{q(keyspace)}.{q(table)}"
        token_expr = f"token({', '.join(q(c) for c in self.partition_key)})"
        select_list = ", ".join([token_expr, *(q(c) for c in self.columns)])
        key_where = " AND ".join(f"{q(c)} = ?" for c in self.primary_key)
        range_where = f"{token_expr} > ? AND {token_expr} <= ?"
        self._cql_scan = f"SELECT {select_list} FROM {self._qualified} WHERE {range_where}"
        self._cql_count = f"SELECT COUNT(*) FROM {self._qualified} WHERE {range_where}"
        self._cql_get = f"SELECT {select_list} FROM {self._qualified} WHERE {key_where}"
        self._cql_writetime = "SELECT WRITETIME({col}) FROM " + self._qualified + " WHERE " + key_where
        key_list = ", ".join([token_expr, *(q(c) for c in self.primary_key)])
        limit = _SAMPLE_PARTITION_WINDOW if self.clustering_key else 1
        self._cql_probe = f"SELECT {key_list} FROM {self._qualified} WHERE {token_expr} > ? LIMIT {limit}"

    # ------------------------------------------------------------------ plumbing

    @property
    def session(self) -> Session:
        if self._session is None:
            self._session = get_session(self.settings)
        return self._session

    @property
    def raw_session(self) -> Session:
        """Session whose rows are serialized bytes per column (see ``wire``)."""
        if self._raw_session is None:
            if self._session is not None and self._injected:
                raise RawScanUnavailable("raw scans need the process-wide sessions (no injected session)")
            self._raw_session = get_raw_session(self.settings)
        return self._raw_session

    def _prepare(self, cql: str, where: str = "", session: Session | None = None) -> PreparedStatement:
        try:
            return prepare(session or self.session, cql)
        except CassandraReadError:
            raise
        except Exception as exc:
            host = _host_of(None, exc) or self._host_hint()
            raise CassandraReadError(
                f"Cassandra read failed on host {host} for {self.keyspace}.{self.table}"
                f"{' ' + where if where else ''}: cannot prepare query: {type(exc).__name__}: {exc}",
                host=host,
                keyspace=self.keyspace,
                table=self.table,
                token_range=where or None,
                attempts=1,
            ) from exc

    def check_table(self) -> None:
        """Prepare the scan statement once: a table or a column the catalog names and Cassandra does not
        have fails here with Cassandra's reason (InvalidRequest, permanent), where a job plans, rather
        than in each of its segments; an unreachable Cassandra raises its transient error."""
        from cassandra import InvalidRequest

        try:
            prepare(self.session, self._cql_scan)
        except InvalidRequest as exc:
            message = getattr(exc, "message", None) or str(exc)
            raise CassandraSchemaError(
                f"Cassandra table {self.keyspace}.{self.table} does not match the catalog: {message}") from exc

    def _submit(self, bound: BoundStatement, paging_state: bytes | None = None, session: Session | None = None) -> ResponseFuture:
        return (session or self.session).execute_async(bound, timeout=self.request_timeout, paging_state=paging_state)

    def _result(self, future: ResponseFuture, bound: BoundStatement, paging_state: bytes | None, where: str,
                session: Session | None = None):
        """Wait for ``future``; on a retryable error resubmit (bounded). Returns the ResultSet."""
        retryable = _retryable_errors()
        attempt = 1
        while True:
            try:
                return future.result()
            except retryable as exc:
                if attempt > self.max_retries:
                    raise self._error(exc, future, where, attempt) from exc
                delay = self.settings.retry_backoff * (2 ** (attempt - 1))
                log.warning(
                    "retrying Cassandra read of %s.%s %s after %s (attempt %d/%d)",
                    self.keyspace, self.table, where, type(exc).__name__, attempt, self.max_retries,
                )
                if delay:
                    time.sleep(min(delay, 10.0))
                attempt += 1
                future = self._submit(bound, paging_state, session)
            except Exception as exc:
                raise self._error(exc, future, where, attempt) from exc

    def _host_hint(self) -> str:
        return self.settings.describe()

    def _error(self, exc: BaseException, future: Any, where: str, attempts: int) -> CassandraReadError:
        host = _host_of(future, exc) or self._host_hint()
        return CassandraReadError(
            f"Cassandra read failed on host {host} for {self.keyspace}.{self.table} {where} "
            f"after {attempts} attempt(s): {type(exc).__name__}: {exc}",
            host=host,
            keyspace=self.keyspace,
            table=self.table,
            token_range=where,
            attempts=attempts,
        )

    # ------------------------------------------------------------------ rows

    def row_to_dict(self, row: Row) -> dict[str, Any]:
        return dict(zip(self._dict_keys, row))

    def scan_range(
        self, token_range: TokenRange | tuple[int, int], fetch_size: int | None = None, *, as_dict: bool = False
    ) -> Iterator[Row]:
        """Every row whose token is in ``(start, end]`` (wrapping ranges and the full ring too)."""
        rng = _as_range(token_range)
        fetch = fetch_size or self.fetch_size
        if fetch < 1:
            raise ValueError(f"fetch_size must be >= 1, got {fetch}")
        stmt = self._prepare(self._cql_scan, f"range {rng}")
        keys = self._dict_keys
        for piece in rng.unwrap():
            for page in self._pages(stmt, piece, fetch):
                if as_dict:
                    for row in page:
                        yield dict(zip(keys, row))
                else:
                    yield from page

    def scan_pages_raw(self, token_range: TokenRange | tuple[int, int], fetch_size: int | None = None) -> Iterator[list]:
        """Pages of the scan of ``token_range`` with every column still serialized: lists of tuples
        ``(token bytes, column bytes, ...)`` (``None`` for a null), in token order. Paging, prefetch,
        retries and rate limit as in ``scan_range``; ``raw_decoder()`` decodes a row when needed."""
        rng = _as_range(token_range)
        fetch = fetch_size or self.fetch_size
        if fetch < 1:
            raise ValueError(f"fetch_size must be >= 1, got {fetch}")
        session = self.raw_session
        stmt = self._prepare(self._cql_scan, f"range {rng}", session)
        for piece in rng.unwrap():
            yield from self._pages(stmt, piece, fetch, session)

    def raw_decoder(self):
        """Raw row (from ``scan_pages_raw``) -> the tuple ``scan_range`` would have given."""
        from .wire import row_decoder

        session = self.raw_session
        stmt = self._prepare(self._cql_scan, "", session)
        return row_decoder(stmt.result_metadata, session.cluster.protocol_version)

    def _pages(self, stmt: PreparedStatement, piece: TokenRange, fetch_size: int,
               session: Session | None = None) -> Iterator[list]:
        bound = stmt.bind((piece.start, piece.end))
        bound.fetch_size = fetch_size
        where = f"range {piece}"
        limiter = self.rate_limiter
        paging_state = None
        future = self._submit(bound, None, session)
        while True:
            result = self._result(future, bound, paging_state, where, session)
            rows = result.current_rows
            paging_state = result.paging_state
            # A finished ResponseFuture sits in reference cycles (its callbacks, its connection's
            # bookkeeping) that only the cyclic GC frees, late: let go of the page it holds, so
            # that a page is freed as soon as the consumer is done with it.
            _release(future, result)
            # ask for the next page before handing this one out: server and consumer overlap
            future = self._submit(bound, paging_state, session) if paging_state else None
            if rows:
                if limiter is not None:
                    limiter.acquire(len(rows))
                yield rows if isinstance(rows, list) else list(rows)
            if future is None:
                return

    def count_range(self, token_range: TokenRange | tuple[int, int]) -> int:
        """``SELECT COUNT(*)`` over ``(start, end]`` (summed over the pieces of a wrapping range)."""
        rng = _as_range(token_range)
        stmt = self._prepare(self._cql_count, f"range {rng}")
        total = 0
        for piece in rng.unwrap():
            bound = stmt.bind((piece.start, piece.end))
            where = f"range {piece}"
            result = self._result(self._submit(bound), bound, None, where)
            rows = result.current_rows
            total += int(rows[0][0]) if rows else 0
        return total

    def _check_key(self, key: Sequence[Any]) -> tuple:
        if not isinstance(key, (tuple, list)) or len(key) != len(self.primary_key):
            raise ValueError(
                f"a key of {self.keyspace}.{self.table} has {len(self.primary_key)} values "
                f"({', '.join(self.primary_key)}), got {key!r}"
            )
        if any(v is None for v in key):
            raise ValueError(f"key values cannot be null: {key!r}")
        return tuple(key)

    def _concurrent(self, stmt: PreparedStatement, args: list[tuple], concurrency: int, what: str) -> list[list]:
        """Runs ``stmt`` for each args tuple with at most ``concurrency`` requests in flight.

        Returns the rows of each request in the order of ``args``.
        """
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        results: list[list] = [None] * len(args)  # type: ignore[list-item]
        window: deque[tuple[int, BoundStatement, ResponseFuture]] = deque()

        def drain_one() -> None:
            i, bound, future = window.popleft()
            result = self._result(future, bound, None, f"{what} {args[i]!r}")
            results[i] = list(result.current_rows)

        for i, a in enumerate(args):
            if len(window) >= concurrency:
                drain_one()
            bound = stmt.bind(a)
            window.append((i, bound, self._submit(bound)))
        while window:
            drain_one()
        return results

    def get_rows(
        self, keys: Sequence[Key], concurrency: int = 64, *, as_dict: bool = False
    ) -> dict[Key, Row | dict[str, Any] | None]:
        """Point reads by full primary key; ``None`` for keys that have no row."""
        checked = [self._check_key(k) for k in keys]
        unique = list(dict.fromkeys(checked))
        stmt = self._prepare(self._cql_get)
        results = self._concurrent(stmt, unique, concurrency, "key")
        out: dict[Key, Any] = {}
        for key, rows in zip(unique, results):
            if not rows:
                out[key] = None
            else:
                row = tuple(rows[0])
                out[key] = dict(zip(self._dict_keys, row)) if as_dict else row
        return out

    def writetimes(self, keys: Sequence[Key], column: str | Sequence[str], concurrency: int = 64) -> dict[Key, int | None]:
        """``WRITETIME(column)`` per key in microseconds; ``None`` when the row or the value is missing.
        Several columns: the latest of their write times (a row's last write, whichever column it set).

        Cassandra does not allow WRITETIME on primary-key columns nor (before 5.0) on collections; from
        5.0 a collection's is a list (one per element), of which the latest is taken.
        """
        columns = [column] if isinstance(column, str) else list(column)
        if not columns:
            raise ValueError("WRITETIME needs at least one column")
        for c in columns:
            _check_identifier("column", c)
            if c in self.primary_key:
                raise ValueError(f"WRITETIME is not defined for primary key column {c!r}")
        checked = [self._check_key(k) for k in keys]
        unique = list(dict.fromkeys(checked))
        stmt = self._prepare(self._cql_writetime.format(col="), WRITETIME(".join(protect_name(c) for c in columns)))
        results = self._concurrent(stmt, unique, concurrency, "key")
        return {k: (_latest(rows[0]) if rows else None) for k, rows in zip(unique, results)}

    def writetime(self, key: Key, column: str) -> int | None:
        return self.writetimes([key], column)[self._check_key(key)]

    def sample_keys(self, n: int, *, seed: int | None = None, concurrency: int = 32) -> list[Key]:
        """About ``n`` distinct primary keys spread over the ring.

        Method: draw random tokens uniformly on the ring; for each, read the first partition whose
        token follows it (wrapping to the ring's first partition past the last one). Partition
        tokens are uniformly distributed hashes, so this picks partitions close to uniformly at
        random (a partition's chance is the token gap before it). In tables with clustering
        columns, one row is then picked at random among the first ``100`` rows of that partition.
        Duplicates are dropped and more tokens drawn, up to ``3 n + 20`` probes in all, so a table
        with fewer than ``n`` partitions yields fewer keys. No full scan is ever done.
        """
        if n <= 0:
            return []
        rng = random.Random(seed)
        stmt = self._prepare(self._cql_probe)
        found: dict[Key, None] = {}
        probes_left = 3 * n + 20
        wrapped_first: list | None = None
        while len(found) < n and probes_left > 0:
            batch = min(probes_left, max(n - len(found), 1) + 4)
            probes_left -= batch
            tokens = [rng.randint(MIN_TOKEN + 1, MAX_TOKEN) for _ in range(batch)]
            results = self._concurrent(stmt, [(t,) for t in tokens], concurrency, "probe after token")
            for rows in results:
                if not rows:
                    if wrapped_first is None:
                        wrapped_first = self._concurrent(stmt, [(MIN_TOKEN,)], 1, "probe after token")[0]
                    rows = wrapped_first
                if not rows:
                    return []  # empty table
                first_token = rows[0][0]
                partition_rows = [r for r in rows if r[0] == first_token]
                row = partition_rows[rng.randrange(len(partition_rows))] if len(partition_rows) > 1 else partition_rows[0]
                found.setdefault(tuple(row[1:]), None)
                if len(found) >= n:
                    break
        return list(found)[:n]


def _latest(values: Sequence[Any]) -> int | None:
    """The latest of a row's WRITETIME values (a collection's is a list from Cassandra 5.0); None if none."""
    times = [int(t) for v in values if v is not None for t in (v if isinstance(v, (list, tuple)) else (v,))
             if t is not None]
    return max(times) if times else None


def _check_identifier(what: str, name: object) -> None:
    if not isinstance(name, str) or not name or "\x00" in name:
        raise ValueError(f"invalid {what} name {name!r}")


def _as_range(token_range: TokenRange | tuple[int, int]) -> TokenRange:
    start, end = token_range
    return TokenRange(validate_token(start), validate_token(end))


def _host_of(future: Any, exc: BaseException) -> str | None:
    errors = getattr(exc, "errors", None)
    if isinstance(errors, dict) and errors:
        return ",".join(str(getattr(h, "endpoint", h)) for h in errors)
    for attr in ("_current_host", "coordinator_host"):
        host = getattr(future, attr, None)
        if host:
            return str(getattr(host, "endpoint", host))
    attempted = getattr(future, "attempted_hosts", None)
    if attempted:
        return str(getattr(attempted[-1], "endpoint", attempted[-1]))
    return None
