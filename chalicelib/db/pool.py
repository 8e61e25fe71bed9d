"""PostgreSQL control-plane connections: one lazily created psycopg pool per process.

Lambdas reuse the pool across invocations; tests call `close_pool()` when they change DATABASE_URL.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from chalicelib.config import get_settings

_lock = threading.Lock()
_pool: ConnectionPool | None = None


def get_pool() -> ConnectionPool:
    global _pool
    if _pool is None:
        with _lock:
            if _pool is None:
                s = get_settings()
                _pool = ConnectionPool(
                    s.database_url,
                    min_size=s.db_pool_min,
                    max_size=s.db_pool_max,
                    timeout=s.db_pool_timeout,
                    kwargs={"row_factory": dict_row, "autocommit": False, "options": "-c timezone=UTC"},
                    open=True,
                    name="recon-control-plane",
                )
    return _pool


def close_pool() -> None:
    global _pool
    with _lock:
        if _pool is not None:
            _pool.close()
            _pool = None


@contextmanager
def transaction() -> Iterator[psycopg.Connection]:
    """A pooled connection inside one transaction (committed on success, rolled back on error)."""
    with get_pool().connection() as conn:
        yield conn
