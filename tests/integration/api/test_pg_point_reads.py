"""Point reads of the PostgreSQL side by canonical key (SAMPLE, TIMESTAMP_RANGE, the live-CDC re-check and
the convergence re-check of earlier mismatches all use them) find the rows the scans match: a timestamp key
component is compared at millisecond precision, as the canonical form compares it. Before, a PostgreSQL
key holding microseconds (`13:30:00.123456`) was not found by `13:30:00.123Z`, so a SAMPLE job reported
every such row MISSING_IN_POSTGRES while CHECKSUM found them equal. Real PostgreSQL."""
from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from chalicelib.cdc.catalog import parse_catalog
from chalicelib.cdc.keys import key_values
from chalicelib.cdc.pg_source import PostgresSource
from chalicelib.cdc.strategies import TableContext

CATALOG = {"tables": {"events": {
    "cassandra": {"keyspace": "app", "table": "events"},
    "postgres": {"schema": "public", "table": "recon_point_read_events"},
    "partition_key": ["tenant", "bucket"],
    "clustering_key": ["ts", "seq"],
    "columns": {"tenant": {"type": "text"}, "bucket": {"type": "int"}, "ts": {"type": "timestamp"},
                "seq": {"type": "int"}, "title": {"type": "text"}},
}}}
TZ1 = timezone(timedelta(hours=1))


@pytest.fixture
def source(database_url):
    table = parse_catalog(CATALOG).get("events")
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS public.recon_point_read_events")
        conn.execute("CREATE TABLE public.recon_point_read_events (tenant text, bucket int, ts timestamptz, seq int,"
                     " title text, recon_token bigint, PRIMARY KEY (tenant, bucket, ts, seq))")
        rows = [
            ("t|1", 0, datetime(2025, 11, 20, 14, 30, 0, 123456, tzinfo=TZ1), 1, "micro"),        # .123456 in UTC+1
            ("t|1", 0, datetime(2025, 11, 20, 13, 30, 0, 124000, tzinfo=timezone.utc), 1, "next ms"),
            ("t|1", 0, datetime(2025, 11, 20, 13, 30, 0, 999999, tzinfo=timezone.utc), 2, "last us"),
            ("t|2", 1, datetime(1969, 12, 31, 23, 59, 59, 999500, tzinfo=timezone.utc), 3, "before 1970"),
        ]
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO public.recon_point_read_events (tenant, bucket, ts, seq, title)"
                            " VALUES (%s, %s, %s, %s, %s)", rows)

    @contextmanager
    def connect():
        with psycopg.connect(database_url) as conn:
            yield conn

    yield PostgresSource(table, connect=connect), table
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DROP TABLE public.recon_point_read_events")


def titles(found: dict) -> set[str]:
    return {r[-1] for r in found.values() if r is not None}


def test_a_canonical_timestamp_key_finds_the_row_holding_microseconds(source):
    pg, table = source
    types = [table.columns[k].type for k in table.primary_key]
    keys = [("t|1", 0, "2025-11-20T13:30:00.123Z", 1),    # the row stores .123456 (+01:00)
            ("t|1", 0, "2025-11-20T13:30:00.999Z", 2),    # .999999
            ("t|2", 1, "1969-12-31T23:59:59.999Z", 3)]    # before 1970: floor, like the canonical form
    assert titles(pg.get_rows([key_values(k, types) for k in keys])) == {"micro", "last us", "before 1970"}


def test_the_millisecond_window_is_exact(source):
    pg, table = source
    types = [table.columns[k].type for k in table.primary_key]
    # .122 and .125 hold nothing; .124 is its own row, not the .123456 one
    assert titles(pg.get_rows([key_values(("t|1", 0, "2025-11-20T13:30:00.122Z", 1), types),
                               key_values(("t|1", 0, "2025-11-20T13:30:00.125Z", 1), types)])) == set()
    assert titles(pg.get_rows([key_values(("t|1", 0, "2025-11-20T13:30:00.124Z", 1), types)])) == {"next ms"}
    # the other key components still have to be equal
    assert titles(pg.get_rows([key_values(("t|1", 1, "2025-11-20T13:30:00.123Z", 1), types),
                               key_values(("t|1", 0, "2025-11-20T13:30:00.123Z", 2), types)])) == set()


def test_every_scanned_row_is_found_again_by_its_canonical_key(source, database_url):
    """What the scans see (canonical keys of the rows as PostgreSQL gives them) is what a point read finds."""
    pg, table = source
    ctx = TableContext(table, cassandra_reader=object(), postgres=pg)   # the strategies' canonicalizer
    with psycopg.connect(database_url) as conn:
        stored = conn.execute("SELECT tenant, bucket, ts, seq, title FROM public.recon_point_read_events").fetchall()
    keys = [key_values(tuple(ctx.canon_p(row)[i] for i in ctx.pk_idx), ctx.pk_types) for row in stored]
    assert titles(pg.get_rows(keys)) == {r[-1] for r in stored}
