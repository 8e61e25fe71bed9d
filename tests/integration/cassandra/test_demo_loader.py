"""The demo loader against the CQL dev server (or CASSANDRA_HOSTS) and a private PostgreSQL (or
DATABASE_URL): row counts on both sides, recon_token, and a manifest re-derived independently by
reading both sides and diffing them."""
from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal

import psycopg
import pytest

from chalicelib.cassandra.tokens import token_for
from chalicelib.demo.__main__ import main as demo_main
from chalicelib.demo.loader import LoadOptions, load
from chalicelib.demo.tables import TABLES
from tests.pgcluster import database_url_or_cluster

NOW = dt.datetime(2026, 11, 22, 3, 0, 0, 123000)


@pytest.fixture(scope="module")
def pg_url(tmp_path_factory):
    url, stop = database_url_or_cluster(tmp_path_factory.mktemp("demo-pg"))
    yield url
    stop()


@pytest.fixture
def pg_schema(pg_url):
    name = f"demo_it_{uuid.uuid4().hex[:8]}"
    yield name
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


# --- an independent canonical form, written for this test only ---------------------------------


def _canon(cql_type: str, v):
    if v is None:
        return None
    if cql_type.startswith(("set", "list", "map")):
        if isinstance(v, str):  # jsonb as text
            v = json.loads(v)
        if len(v) == 0:
            return None  # Cassandra: empty collection == null
        if cql_type.startswith("set"):
            return frozenset(v)
        if cql_type.startswith("map"):
            return tuple(sorted(dict(v).items()))
        return tuple(v)
    if cql_type == "timestamp":
        if v.tzinfo is None:
            v = v.replace(tzinfo=dt.timezone.utc)
        return round(v.timestamp() * 1000)
    if cql_type == "decimal":
        return Decimal(v).quantize(Decimal("0.01"))
    if cql_type in ("uuid", "timeuuid"):
        return str(v)
    if cql_type == "date":
        return v.date() if hasattr(v, "date") and not isinstance(v, dt.date) else v
    if cql_type == "text":
        return v.rstrip(" ") if isinstance(v, str) else v  # char(3) is blank-padded
    return v


def _read_cassandra(cql, keyspace, table):
    t = TABLES[table]
    cols = t.columns
    rows = {}
    for r in cql.execute(f"SELECT token({', '.join(t.partition_key)}), {', '.join(cols)} FROM {keyspace}.{table}"):
        rec = dict(zip(cols, r[1:]))
        key = tuple(str(rec[c]) for c in t.primary_key)
        assert key not in rows
        assert r[0] == token_for([rec[c] for c in t.partition_key], [t.cql_types[c] for c in t.partition_key])
        rows[key] = {c: _canon(t.cql_types[c], rec[c]) for c in cols}
    return rows


def _read_postgres(pg_url, schema, table):
    t = TABLES[table]
    cols = t.columns
    rows = {}
    with psycopg.connect(pg_url) as conn:
        for r in conn.execute(f'SELECT {", ".join(cols)}, recon_token FROM "{schema}"."{table}"'):
            rec = dict(zip(cols, r[:-1]))
            key = tuple(str(rec[c]) for c in t.primary_key)
            pk_values = [rec[c] for c in t.partition_key]
            assert r[-1] == token_for(pk_values, [t.cql_types[c] for c in t.partition_key])
            rows[key] = {c: _canon(t.cql_types[c], rec[c]) for c in cols}
    return rows


def _derive(cql, keyspace, pg_url, schema, tables):
    """Entries (table, type, key strings, column) found by diffing both sides."""
    found = set()
    for table in tables:
        t = TABLES[table]
        c_rows = _read_cassandra(cql, keyspace, table)
        p_rows = _read_postgres(pg_url, schema, table)
        for key in c_rows.keys() - p_rows.keys():
            found.add((table, "MISSING_IN_POSTGRES", key, None))
        for key in p_rows.keys() - c_rows.keys():
            found.add((table, "MISSING_IN_CASSANDRA", key, None))
        for key in c_rows.keys() & p_rows.keys():
            diff = [c for c in t.columns if c_rows[key][c] != p_rows[key][c]]
            assert len(diff) <= 1, (table, key, diff, c_rows[key], p_rows[key])
            if diff:
                found.add((table, "DATA_MISMATCH", key, diff[0]))
    return found


def _manifest_entries(manifest):
    out = set()
    for e in manifest["drift"]:
        t = TABLES[e["table"]]
        out.add((e["table"], e["type"], tuple(e["key"][c] for c in t.primary_key), e.get("column")))
    return out


def _count(cql, keyspace, pg_url, schema, table):
    c = cql.execute(f"SELECT COUNT(*) FROM {keyspace}.{table}").one()[0]
    with psycopg.connect(pg_url) as conn:
        p = conn.execute(f'SELECT COUNT(*) FROM "{schema}"."{table}"').fetchone()[0]
    return c, p


def test_load_without_drift_is_identical(cql, keyspace, pg_url, pg_schema):
    opts = LoadOptions(rows=250, seed=11, keyspace=keyspace, pg_schema=pg_schema, now=NOW)
    result = load(cql, pg_url, opts)
    assert result.manifest["drift"] == []
    for table in TABLES:
        assert _count(cql, keyspace, pg_url, pg_schema, table) == (250, 250)
    assert _derive(cql, keyspace, pg_url, pg_schema, TABLES) == set()
    with psycopg.connect(pg_url) as conn:
        idx = conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname = %s AND indexdef LIKE %s",
                           (pg_schema, "%(recon_token)%")).fetchall()
        assert len(idx) == 3
        # both representations of an empty collection occur, and real values too
        forms = conn.execute(f'SELECT count(*) FILTER (WHERE tags IS NULL), count(*) FILTER '
                             f'(WHERE tags = {{}}), count(*) FILTER (WHERE cardinality(tags) > 0) '
                             f'FROM "{pg_schema}".users'.replace("{}", "'{}'")).fetchone()
        assert all(n > 0 for n in forms), forms
        recent = conn.execute(f"SELECT count(*) FROM \"{pg_schema}\".users "
                              f"WHERE updated_at > %s", (NOW.replace(tzinfo=dt.timezone.utc) - dt.timedelta(hours=1),)).fetchone()[0]
        assert 0 < recent < 250
        per_customer = conn.execute(f'SELECT max(n) FROM (SELECT count(*) n FROM "{pg_schema}".orders '
                                    f'GROUP BY customer_id) x').fetchone()[0]
        assert per_customer > 1


def test_manifest_is_exact_and_deterministic(cql, keyspace, pg_url, pg_schema, tmp_path, monkeypatch,
                                            cassandra_settings):
    args = ["load", "--rows", "300", "--drift-missing-pg", "4", "--drift-missing-cass", "5",
            "--drift-mismatch", "14", "--seed", "5", "--now", NOW.isoformat(), "--keyspace", keyspace,
            "--pg-schema", pg_schema, "--manifest", str(tmp_path / "m.json"), "--batch-rows", "20"]
    monkeypatch.setenv("DATABASE_URL", pg_url)
    monkeypatch.setenv("CASSANDRA_HOSTS", ",".join(cassandra_settings.hosts))
    monkeypatch.setenv("CASSANDRA_PORT", str(cassandra_settings.port))
    assert demo_main(args) == 0
    manifest = json.loads((tmp_path / "m.json").read_text())
    entries = _manifest_entries(manifest)
    assert len(entries) == 3 * (4 + 5 + 14)
    for table in TABLES:
        assert _count(cql, keyspace, pg_url, pg_schema, table) == (300 - 5, 300 - 4)
        assert manifest["tables"][table]["DATA_MISMATCH"] == 14
    assert _derive(cql, keyspace, pg_url, pg_schema, TABLES) == entries
    # several columns (of several types) are mutated per table
    for table in TABLES:
        cols = {e[3] for e in entries if e[0] == table and e[1] == "DATA_MISMATCH"}
        assert len(cols) >= 4, (table, cols)

    # same seed and now: same manifest (tables are truncated and reloaded)
    again = load(cql, pg_url, LoadOptions(rows=300, drift_missing_pg=4, drift_missing_cass=5, drift_mismatch=14,
                                          seed=5, now=NOW, keyspace=keyspace, pg_schema=pg_schema, batch_rows=20))
    assert again.manifest["drift"] == manifest["drift"]
    other = load(cql, pg_url, LoadOptions(rows=300, drift_missing_pg=4, drift_missing_cass=5, drift_mismatch=14,
                                          seed=6, now=NOW, keyspace=keyspace, pg_schema=pg_schema))
    assert other.manifest["drift"] != manifest["drift"]


def test_append_keeps_rows_and_manifest_holds(cql, keyspace, pg_url, pg_schema):
    base = LoadOptions(rows=120, seed=1, keyspace=keyspace, pg_schema=pg_schema, now=NOW,
                       tables=["products", "users"])
    load(cql, pg_url, base)
    more = LoadOptions(rows=80, seed=2, keyspace=keyspace, pg_schema=pg_schema, now=NOW, append=True,
                       tables=["products", "users"], drift_missing_pg=3, drift_missing_cass=2, drift_mismatch=4)
    result = load(cql, pg_url, more)
    # products have fresh uuids per seed: 200 rows; users user-1..80 are upserted: 120 rows
    assert _count(cql, keyspace, pg_url, pg_schema, "products") == (200 - 2, 200 - 3)
    assert _count(cql, keyspace, pg_url, pg_schema, "users") == (120 - 2, 120 - 3)
    assert _derive(cql, keyspace, pg_url, pg_schema, ["products", "users"]) == _manifest_entries(result.manifest)


def test_invalid_options():
    with pytest.raises(ValueError):
        LoadOptions(rows=5, drift_missing_pg=3, drift_mismatch=3)
    with pytest.raises(ValueError):
        LoadOptions(rows=5, tables=["nope"])
    with pytest.raises(ValueError):
        LoadOptions(rows=5, keyspace="x; DROP")
