"""Transactions for the definitions modules: join the caller's connection or open one."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import psycopg

from chalicelib.db.pool import steady_transaction


@contextmanager
def tx(conn: psycopg.Connection | None = None) -> Iterator[psycopg.Connection]:
    """The caller's connection, or a new transaction whose checkout waits out a database restart
    (chalicelib.db.pool.steady_transaction)."""
    if conn is not None:
        yield conn
    else:
        with steady_transaction("streams database connection") as own:
            yield own


def fetch_all(conn: psycopg.Connection, sql: str, params=()) -> list[dict]:
    from psycopg.rows import dict_row

    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def fetch_one(conn: psycopg.Connection, sql: str, params=()) -> dict | None:
    from psycopg.rows import dict_row

    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql, params)
        return cur.fetchone()
