"""Two jobs of one table planned at the same moment (a trigger while the hourly job starts, or a table
triggered twice) both back-fill the PostgreSQL token column. They share the work instead of each reading
every untokened row and writing every token again. Real PostgreSQL, two threads."""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager

import psycopg
import pytest

from chalicelib.cassandra.tokens import token_function
from chalicelib.cdc.catalog import parse_catalog
from chalicelib.cdc.pg_source import PostgresSource

ROWS = 3000
CATALOG = {"tables": {"accounts": {
    "cassandra": {"keyspace": "app", "table": "accounts"},
    "postgres": {"schema": "public", "table": "recon_backfill_accounts"},
    "partition_key": ["account_id"],
    "columns": {"account_id": {"type": "int"}, "owner": {"type": "text"}},
}}}


@pytest.fixture
def source(database_url):
    table = parse_catalog(CATALOG).get("accounts")
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS public.recon_backfill_accounts")
        conn.execute("CREATE TABLE public.recon_backfill_accounts (account_id int PRIMARY KEY, owner text,"
                     " recon_token bigint)")
        conn.execute("INSERT INTO public.recon_backfill_accounts (account_id, owner)"
                     " SELECT g, 'owner ' || g FROM generate_series(1, %s) g", (ROWS,))

    @contextmanager
    def connect():
        with psycopg.connect(database_url, autocommit=True) as conn:
            yield conn

    yield table, connect
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DROP TABLE public.recon_backfill_accounts")


def test_concurrent_backfills_of_one_table_write_each_token_once(source, database_url):
    table, connect = source
    murmur = token_function(["int"])
    computed: list[int] = []
    lock = threading.Lock()

    def slow_token(values):
        # the first token of each back-fill waits: both back-fills are under way before either commits
        with lock:
            computed.append(1)
            first = len(computed) == 1
        if first:
            time.sleep(0.5)
        return murmur(values)

    results: list[int] = []
    errors: list[BaseException] = []

    def run():
        try:
            results.append(PostgresSource(table, connect=connect).backfill_tokens(slow_token))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert sorted(results) == [0, ROWS]          # one wrote every token, the other found nothing left
    assert len(computed) == ROWS                 # and no token was computed twice
    with psycopg.connect(database_url) as conn:
        missing = conn.execute("SELECT count(*) FROM public.recon_backfill_accounts WHERE recon_token IS NULL").fetchone()[0]
        sample = conn.execute("SELECT account_id, recon_token FROM public.recon_backfill_accounts"
                              " ORDER BY account_id LIMIT 3").fetchall()
    assert missing == 0
    assert [tok for _, tok in sample] == [murmur([k]) for k, _ in sample]
