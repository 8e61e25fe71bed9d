"""PostgreSQL connections: lazily created psycopg pools, one per role and process.

- `control`: the control plane (DATABASE_URL), dict rows, explicit transactions.
- `target`: the database fed by CDC (TARGET_DATABASE_URL, default DATABASE_URL), tuple rows, autocommit.
Lambdas reuse the pools across invocations; tests call `close_pool()` when they change the settings.
Sessions run in UTC, so naive timestamps never depend on a server's time zone.

Every connection is checked when it leaves the pool (`ConnectionPool.check_connection`, one round
trip): after a database restart or failover the pool holds connections to a server that is gone, and
without the check the first request of each one fails (AdminShutdown, "server closed the connection
unexpectedly"). A broken connection is discarded and replaced; a database that is still down makes
the checkout fail with a transient error (see chalicelib.runs.retry) after `DB_POOL_TIMEOUT`, or sooner
when the code waiting has less time left (an HTTP request answers 503 within its budget of ~8 s).

A connection lost with the server is replaced by the pool in the background, retrying while the server
is down. psycopg_pool doubles the wait between those attempts (1, 2, 4 ... s, up to its
`reconnect_timeout` of 5 minutes), so after an outage of 40 s the next attempt could come half a
minute after the server was back, and every checkout meanwhile timed out: the API answered 503 for
24 s more. The wait is capped at `RECONNECT_MAX_DELAY_S`, so the pool is usable again within about
that long once the server accepts connections.
"""
from __future__ import annotations

import threading
from contextlib import ExitStack, contextmanager
from typing import Iterator

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool
from psycopg_pool.base import AttemptWithBackoff

from chalicelib.config import get_settings

_lock = threading.Lock()
_pools: dict[str, ConnectionPool] = {}

#: longest wait between two attempts of a pool to replace a lost connection (see the module's docstring)
RECONNECT_MAX_DELAY_S = 2.0


class _CappedBackoff(AttemptWithBackoff):
    """psycopg_pool's reconnection backoff (1 s, doubling, jittered), never longer than RECONNECT_MAX_DELAY_S."""

    def update_delay(self, now: float) -> None:
        super().update_delay(now)
        self.delay = min(self.delay, RECONNECT_MAX_DELAY_S)


class _Pool(ConnectionPool):
    """A ConnectionPool whose attempts to replace a lost connection are at most RECONNECT_MAX_DELAY_S apart."""

    def _add_connection(self, attempt: AttemptWithBackoff | None, growing: bool = False) -> None:
        super()._add_connection(attempt or _CappedBackoff(timeout=self.reconnect_timeout), growing=growing)


def _create(role: str) -> ConnectionPool:
    s = get_settings()
    options = "-c timezone=UTC"
    if role == "control":
        url, kwargs, min_size = s.database_url, {"row_factory": dict_row, "autocommit": False}, s.db_pool_min
        # a committed state change (a claim, a completed segment) must survive a server crash even where
        # the server runs with asynchronous commit (the local stack does, for fast bulk loads):
        # exactly-once completion and leases rely on it
        options += " -c synchronous_commit=on"
    elif role == "target":
        url, kwargs, min_size = s.target_database_url or s.database_url, {"autocommit": True}, 0
    else:
        raise ValueError(f"unknown pool role {role!r}")
    return _Pool(
        url, min_size=min_size, max_size=s.db_pool_max, timeout=s.db_pool_timeout,
        kwargs={**kwargs, "options": options, "connect_timeout": 5}, open=True, name=f"recon-{role}",
        check=ConnectionPool.check_connection,
    )


def get_pool(role: str = "control") -> ConnectionPool:
    pool = _pools.get(role)
    if pool is None:
        with _lock:
            pool = _pools.get(role)
            if pool is None:
                pool = _pools[role] = _create(role)
    return pool


def close_pool() -> None:
    """Close every pool (the next use creates them again from the current settings)."""
    with _lock:
        pools = list(_pools.values())
        _pools.clear()
    for pool in pools:
        pool.close()


def _checkout(pool: ConnectionPool):
    """The pool's connection, waited for at most `DB_POOL_TIMEOUT` or the time the caller has left."""
    from chalicelib.runs.retry import time_left

    return pool.connection(timeout=time_left(pool.timeout))


@contextmanager
def transaction() -> Iterator[psycopg.Connection]:
    """A pooled control-plane connection inside one transaction (committed on success, rolled back on error)."""
    with _checkout(get_pool()) as conn:
        yield conn


@contextmanager
def steady_transaction(what: str = "database connection") -> Iterator[psycopg.Connection]:
    """`transaction()` whose checkout waits out a database restart or failover: getting the
    connection is retried under the caller's retry policy (chalicelib.runs.retry: a worker rides out
    about 90 s, an API request about 8 s before its 503). Only the checkout is repeated, never the
    caller's statements: a connection lost in the middle of the transaction still fails it."""
    from chalicelib.runs.retry import retry_call

    with ExitStack() as stack:
        conn = retry_call(lambda: stack.enter_context(_checkout(get_pool())), what=what)
        yield conn
