"""Transactions for the definitions modules: join the caller's connection or open one."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import psycopg

from chalicelib.db.pool import transaction


@contextmanager
def tx(conn: psycopg.Connection | None = None) -> Iterator[psycopg.Connection]:
    if conn is not None:
        yield conn
    else:
        with transaction() as own:
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
