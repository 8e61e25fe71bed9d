"""GET /api/v1/reconciliation/mismatches over rows inserted directly in PostgreSQL."""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from tests.integration.api.conftest import CATALOG_TABLES, T0, body, insert_job, insert_mismatch
from tests.integration.api.contract_schemas import MISMATCHES_200, check, check_documented

PATH = "/api/v1/reconciliation/mismatches"


def ids(resp) -> list[str]:
    assert resp.status_code == 200, resp.body
    return [m["mismatch_id"] for m in body(resp)["mismatches"]]


def test_item_fields_are_the_contracts(api):
    jid = insert_job(api)
    mid = insert_mismatch(api, jid, pk="user-67890", detected_at=T0.replace(second=45),
                          cassandra_data={"user_id": "user-67890", "name": "John Doe"},
                          postgres_data={"user_id": "user-67890", "name": "John Smith"})
    data = body(api.get(PATH))
    check(data, MISMATCHES_200)
    check_documented(data, "MismatchesPage")
    assert data["mismatches"] == [{
        "mismatch_id": mid,
        "job_id": jid,
        "table_name": "users",
        "primary_key_value": "user-67890",
        "mismatch_type": "DATA_MISMATCH",
        "cassandra_checksum": "a1b2c3d4e5f6",
        "postgres_checksum": "f6e5d4c3b2a1",
        "cassandra_data": {"user_id": "user-67890", "name": "John Doe"},
        "postgres_data": {"user_id": "user-67890", "name": "John Smith"},
        "detected_at": "2025-11-20T12:00:45Z",
        "resolution_status": "PENDING",
        "resolution_notes": None,
        "resolved_at": None,
        "resolved_by": None,
        "differing_columns": ["name"],
    }]
    assert data["pagination"] == {"page": 1, "page_size": 50, "total_pages": 1, "total_items": 1}


def test_filters_combine(api):
    j1 = insert_job(api, table="users")
    j2 = insert_job(api, table="users")
    j3 = insert_job(api, table="orders")
    want = insert_mismatch(api, j1, pk="a", mtype="DATA_MISMATCH", status="PENDING", detected_at=T0)
    insert_mismatch(api, j2, pk="a", mtype="DATA_MISMATCH", status="PENDING", detected_at=T0)              # other job
    insert_mismatch(api, j1, pk="b", mtype="MISSING_IN_POSTGRES", status="PENDING", detected_at=T0)        # other type
    insert_mismatch(api, j1, pk="c", mtype="DATA_MISMATCH", status="IGNORED", detected_at=T0)              # other status
    insert_mismatch(api, j1, pk="d", mtype="DATA_MISMATCH", status="PENDING", detected_at=T0 - timedelta(days=3))
    insert_mismatch(api, j3, table="orders", pk="a", mtype="DATA_MISMATCH", status="PENDING", detected_at=T0)
    q = (f"table=users&mismatch_type=DATA_MISMATCH&resolution_status=PENDING&job_id={j1}"
         "&from_date=2025-11-19T00:00:00Z&to_date=2025-11-20T23:59:59Z&page=1")
    r = api.get(f"{PATH}?{q}")
    assert ids(r) == [want]
    assert body(r)["pagination"]["total_items"] == 1
    assert len(ids(api.get(f"{PATH}?table=users"))) == 5
    assert len(ids(api.get(f"{PATH}?table=orders"))) == 1
    assert len(ids(api.get(f"{PATH}?job_id={j1}"))) == 4
    assert len(ids(api.get(f"{PATH}?resolution_status=IGNORED"))) == 1
    assert len(ids(api.get(f"{PATH}?mismatch_type=MISSING_IN_POSTGRES"))) == 1
    assert len(ids(api.get(f"{PATH}?to_date=2025-11-18"))) == 1


def test_newest_first_stable_pages(api):
    jid = insert_job(api)
    same = [insert_mismatch(api, jid, pk=f"p{i}", detected_at=T0) for i in range(4)]
    first = insert_mismatch(api, jid, pk="first", detected_at=T0 - timedelta(minutes=1))
    last = insert_mismatch(api, jid, pk="last", detected_at=T0 + timedelta(minutes=1))
    expected = [last] + sorted(same, reverse=True) + [first]
    got = []
    for page in (1, 2, 3):
        r = api.get(f"{PATH}?page={page}&page_size=2")
        assert body(r)["pagination"] == {"page": page, "page_size": 2, "total_pages": 3, "total_items": 6}
        got += ids(r)
    assert got == expected


@pytest.mark.parametrize(
    "query, field",
    [
        ("mismatch_type=MISSING", "mismatch_type"),
        ("resolution_status=RESOLVED", "resolution_status"),
        ("job_id=42", "job_id"),
        ("page_size=1000", "page_size"),
        ("page=-3", "page"),
        ("from_date=2025-11-20T99:00:00Z", "from_date"),
        ("type=DATA_MISMATCH", "type"),
    ],
)
def test_bad_parameters_are_400_naming_the_parameter(api, query, field):
    r = api.get(f"{PATH}?{query}")
    assert r.status_code == 400, r.body
    data = body(r)
    assert data["error"] == "VALIDATION_ERROR"
    assert data["details"][0]["field"] == field
    assert f"'{field}'" in data["message"]


def test_unknown_table_filter_is_invalid_table(api):
    r = api.get(f"{PATH}?table=accounts")
    assert r.status_code == 400
    assert body(r)["error"] == "INVALID_TABLE"
    assert body(r)["valid_tables"] == CATALOG_TABLES


def test_empty_table_filter_is_invalid_table(api):
    r = api.get(f"{PATH}?table=")
    assert r.status_code == 400, r.body
    assert body(r) == {
        "error": "INVALID_TABLE",
        "message": "Table '' does not exist or is not configured for replication",
        "valid_tables": CATALOG_TABLES,
    }


def test_unknown_job_filter_is_an_empty_page(api):
    assert ids(api.get(f"{PATH}?job_id={uuid.uuid4()}")) == []


def test_row_images_list_columns_in_the_catalogs_order(api):
    """cassandra_data / postgres_data read like the contract's example, key column first and the other
    columns in the catalog's order (user_id, name), not in PostgreSQL jsonb's storage order (shorter
    keys first); a column the catalog no longer names follows."""
    jid = insert_job(api)
    insert_mismatch(api, jid, pk="user-67890", cassandra_data={"user_id": "user-67890", "name": "John Doe", "nickname": "JD"},
                    postgres_data={"user_id": "user-67890", "name": "John Smith"})
    raw = api.get(PATH).body.decode()
    assert '"cassandra_data":{"user_id":"user-67890","name":"John Doe","nickname":"JD"}' in raw, raw
    assert '"postgres_data":{"user_id":"user-67890","name":"John Smith"}' in raw, raw


def test_a_map_in_a_row_image_reads_in_canonical_order(api):
    """A map column's keys read sorted, as the canonical form has them and the checksums were computed on
    (docs/canonical-form.md), not in jsonb's storage order (shorter keys first); nested maps and maps in lists
    too. The columns keep the catalog's order."""
    jid = insert_job(api)
    attributes = {"priority": "no", "note": "web", "channel": "B7", "x": {"zz": 1, "a": [{"b": 1, "a": 2}]}}
    insert_mismatch(api, jid, pk="user-map", cassandra_data={"user_id": "user-map", "name": "Ann", "attributes": attributes},
                    postgres_data={"user_id": "user-map", "name": "Ann", "attributes": {"note": "web"}})
    raw = api.get(f"{PATH}?job_id={jid}").body.decode()
    assert ('"attributes":{"channel":"B7","note":"web","priority":"no","x":{"a":[{"a":2,"b":1}],"zz":1}}') in raw, raw
    assert '"cassandra_data":{"user_id":"user-map","name":"Ann","attributes":' in raw, raw
