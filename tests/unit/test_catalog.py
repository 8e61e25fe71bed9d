"""The catalog: valid files load; every kind of mistake is reported naming the table and the field."""
from __future__ import annotations

import pytest

from chalicelib.cdc.catalog import CatalogError, load_catalog, parse_catalog

BASE = {
    "cassandra": {"keyspace": "demo", "table": "users"},
    "postgres": {"schema": "public", "table": "users"},
    "partition_key": ["user_id"],
    "updated_at_column": "updated_at",
    "columns": {"user_id": {"type": "text"}, "updated_at": {"type": "timestamp"},
                "tags": {"type": "set<text>"}, "attrs": {"type": "frozen<map<text, int>>"},
                "amount": {"type": "decimal", "tolerance": 0.01, "postgres": "amount_eur"}},
}


def table(**changes):
    t = {**BASE, **changes}
    return {"tables": {"users": t}}


def test_valid_table_and_derived_fields():
    cat = parse_catalog(table(clustering_key=[]))
    t = cat.get("users")
    assert t.primary_key == ["user_id"]
    assert t.postgres.token_column == "recon_token"
    assert t.columns["amount"].pg_name == "amount_eur" and t.columns["tags"].pg_name == "tags"
    assert t.default_strategy == "CHECKSUM"
    assert cat.names() == ["users"]


@pytest.mark.parametrize("changes, needle", [
    ({"partition_key": ["nope"]}, "partition_key column 'nope' is not listed in columns"),
    ({"partition_key": []}, "field partition_key"),
    ({"updated_at_column": "tags"}, "must be a timestamp column"),
    ({"cassandra": {"keyspace": "demo; DROP", "table": "users"}}, "field cassandra.keyspace"),
    ({"postgres": {"table": "users", "token_column": "x-y"}}, "field postgres.token_column"),
    ({"columns": {"user_id": {"type": "varchar2"}}}, "unsupported CQL type 'varchar2'"),
    ({"columns": {"user_id": {"type": "text", "tolerance": -1}}}, "columns.user_id.tolerance"),
    ({"default_strategy": "FAST"}, "field default_strategy"),
    ({"colums": {}}, "field colums"),
    ({"partition_key": ["tags"]}, "key column 'tags' cannot be a collection"),
])
def test_mistakes_name_table_and_field(changes, needle):
    with pytest.raises(CatalogError) as exc:
        parse_catalog(table(**changes))
    assert "table 'users'" in str(exc.value)
    assert needle in str(exc.value)


def test_file_errors(tmp_path):
    with pytest.raises(CatalogError, match="not found"):
        load_catalog(tmp_path / "missing.yml")
    bad = tmp_path / "bad.yml"
    bad.write_text("tables: [unclosed")
    with pytest.raises(CatalogError, match="not valid YAML"):
        load_catalog(bad)
    empty = tmp_path / "empty.yml"
    empty.write_text("tables: {}\n")
    with pytest.raises(CatalogError, match="non-empty 'tables'"):
        load_catalog(empty)


def test_the_shipped_demo_catalog_is_valid():
    from chalicelib.config import REPO_ROOT

    cat = load_catalog(REPO_ROOT / "config" / "catalog.yml")
    assert cat.names() == ["users", "orders", "products"]
    assert cat.get("orders").clustering_key == ["order_id"]
