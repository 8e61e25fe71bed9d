"""Live CDC on a table without an updated_at column (docs/decisions.md, "Live CDC"): a difference is a
suspect when the Cassandra row was written within the replication-lag window, by WRITETIME. The row's
last write is the latest write time of its columns: the first non-key column alone said "not recent" for
a row whose value there is null (or was written long ago), so a row being replicated right now was
reported at once instead of being re-checked. Real driver against the Cassandra side."""
from __future__ import annotations

import time

import pytest

from chalicelib.cdc.catalog import get_catalog
from chalicelib.cdc.diff import RowMatcher
from chalicelib.workers.cdc import context_for
from tests.integration.engine.conftest import (  # noqa: F401 - fixtures
    cassandra_endpoint,
    cql_session,
    database,
    engine_env,
)

KS = "wt_it"
CATALOG = f"""
tables:
  notes:
    cassandra: {{keyspace: {KS}, table: notes}}
    postgres: {{schema: public, table: notes}}
    partition_key: [id]
    columns:
      id: {{type: int}}
      title: {{type: text}}
      tags: {{type: set<text>}}
      body: {{type: text}}
"""
HOUR_AGO_US = int((time.time() - 3600) * 1_000_000)


@pytest.fixture
def ctx(engine_env, cql_session, database, tmp_path):
    engine_env(replication_lag_seconds=600)
    (tmp_path / "catalog.yml").write_text(CATALOG)
    cql = cql_session
    cql.execute(f"CREATE KEYSPACE IF NOT EXISTS {KS} WITH replication = {{'class': 'SimpleStrategy', 'replication_factor': 1}}")
    cql.execute(f"DROP TABLE IF EXISTS {KS}.notes")
    cql.execute(f"CREATE TABLE {KS}.notes (id int PRIMARY KEY, title text, tags set<text>, body text)")
    cql.execute(f"INSERT INTO {KS}.notes (id, body) VALUES (1, 'just written')")                    # title null
    cql.execute(f"INSERT INTO {KS}.notes (id, title) VALUES (2, 'old') USING TIMESTAMP {HOUR_AGO_US}")
    cql.execute(f"UPDATE {KS}.notes SET body = 'edited now' WHERE id = 2")                            # title old
    cql.execute(f"INSERT INTO {KS}.notes (id, title, body) VALUES (3, 'old', 'old') USING TIMESTAMP {HOUR_AGO_US}")
    cql.execute(f"INSERT INTO {KS}.notes (id, tags) VALUES (4, {{'a'}}) USING TIMESTAMP {HOUR_AGO_US}")
    with __import__("psycopg").connect(database, autocommit=True) as conn:
        conn.execute("CREATE TABLE public.notes (id int PRIMARY KEY, title text, tags text[], body text,"
                     " recon_token bigint)")
    yield context_for(get_catalog().get("notes"))
    cql.execute(f"DROP TABLE IF EXISTS {KS}.notes")


def test_a_row_written_within_the_lag_is_a_suspect_whichever_column_was_written(ctx):
    m = RowMatcher(ctx.specs)
    rows = {1: (1, None, None, "just written"), 2: (2, "old", None, "edited now"), 3: (3, "old", None, "old"),
            4: (4, None, ["a"], None)}
    diffs = [m.missing_in_postgres((k,), row, 0) for k, row in rows.items()]   # none replicated yet
    mismatches, suspects = ctx.split_suspects(diffs)
    assert sorted(d.pk[0] for d in suspects) == [1, 2]     # written now: re-checked after the grace period
    assert sorted(d.pk[0] for d in mismatches) == [3, 4]   # written an hour ago: reported
