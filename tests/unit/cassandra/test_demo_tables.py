"""Demo data generation without servers: catalog agreement, drift planning, mutations, conversions."""
import datetime as dt
import random
from decimal import Decimal
from pathlib import Path

import pytest
from psycopg.types.json import Jsonb

from chalicelib.cassandra.tokens import token_for
from chalicelib.demo.loader import LoadOptions, _plan_drift
from chalicelib.demo.tables import TABLES

NOW = dt.datetime(2026, 1, 1, 12, 0)
CATALOG = Path(__file__).resolve().parents[3] / "config" / "catalog.yml"


def test_catalog_describes_the_demo_tables():
    from chalicelib.cdc.catalog import load_catalog

    catalog = load_catalog(CATALOG)
    assert catalog.names() == list(TABLES)  # the catalog lists them in the demo's order
    for name, cfg in catalog.tables.items():
        t = TABLES[name]
        assert list(cfg.columns) == t.columns
        assert {k: c.type for k, c in cfg.columns.items()} == {k: v.replace(" ", "") for k, v in t.cql_types.items()}
        assert cfg.partition_key == t.partition_key and cfg.clustering_key == t.clustering_key
        assert (cfg.cassandra.keyspace, cfg.cassandra.table) == ("demo", name)
        assert (cfg.postgres.schema_, cfg.postgres.table, cfg.postgres.token_column) == ("public", name, "recon_token")


@pytest.mark.parametrize("name", sorted(TABLES))
def test_generation_is_deterministic_and_realistic(name):
    t = TABLES[name]
    a = list(t.generate(random.Random(f"1:{name}"), NOW, 400))
    b = list(t.generate(random.Random(f"1:{name}"), NOW, 400))
    assert a == b and len(a) == 400
    assert len({t.key_of(r) for r in a}) == 400
    for r in a:
        assert set(r) == set(t.columns)
        for v in r.values():
            if isinstance(v, dt.datetime):
                assert v.microsecond % 1000 == 0 and v <= NOW
            if isinstance(v, Decimal):
                assert v.as_tuple().exponent == -2
        assert NOW - dt.timedelta(hours=48) <= r["updated_at"] <= NOW
    recent = sum(r["updated_at"] > NOW - dt.timedelta(hours=1) for r in a)
    assert 10 < recent < 120
    assert any(v is None for r in a for v in r.values())
    if t.collection_kinds:
        col = next(iter(t.collection_kinds))
        assert any(not r[col] for r in a) and any(r[col] for r in a)


def test_orders_have_several_per_customer():
    rows = list(TABLES["orders"].generate(random.Random(3), NOW, 500))
    customers = {r["customer_id"] for r in rows}
    assert 60 < len(customers) < 300


@pytest.mark.parametrize("name", sorted(TABLES))
def test_postgres_row_conversion(name):
    t = TABLES[name]
    rng = random.Random(0)
    for row in t.generate(random.Random(9), NOW, 200):
        token = token_for([row[c] for c in t.partition_key], [t.cql_types[c] for c in t.partition_key])
        pg = dict(zip(t.pg_columns, t.to_postgres(row, token, rng)))
        assert pg["recon_token"] == token
        assert pg["updated_at"].tzinfo is not None
        assert pg["updated_at"].replace(tzinfo=None) == row["updated_at"]
        for col, kind in t.collection_kinds.items():
            if not row[col]:
                assert pg[col] in (None, [], ) or (isinstance(pg[col], Jsonb) and pg[col].obj == {})
            elif kind == "set":
                assert pg[col] == sorted(row[col])
        cass = dict(zip(t.columns, t.to_cassandra(row)))
        for col in t.collection_kinds:
            assert cass[col] is None or len(cass[col]) > 0


@pytest.mark.parametrize("name", sorted(TABLES))
def test_drift_plan_disjoint_and_deterministic(name):
    t = TABLES[name]
    opts = LoadOptions(rows=1000, drift_missing_pg=30, drift_missing_cass=20, drift_mismatch=50, seed=4, now=NOW)
    a, b, c = _plan_drift(t, opts)
    assert (len(a), len(b), len(c)) == (30, 20, 50)
    assert not (a & b) and not (a & set(c)) and not (b & set(c))
    assert _plan_drift(t, opts) == (a, b, c)
    assert {m.column for m in c.values()} == {m.column for m in t.mutations}


@pytest.mark.parametrize("name", sorted(TABLES))
def test_mutations_always_change_the_value(name):
    t = TABLES[name]
    rng = random.Random(1)
    for row in t.generate(random.Random(2), NOW, 300):
        for m in t.mutations:
            before, after = row[m.column], m.apply(row[m.column], rng)
            assert after is not None and after != before
            if m.column in t.collection_kinds:
                assert len(after) > 0  # never null <-> empty, which the engine treats as equal
            assert m.column not in t.primary_key and m.column != "updated_at"
