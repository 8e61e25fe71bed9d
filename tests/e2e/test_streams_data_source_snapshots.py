"""Data-source snapshots of awkward results, end to end over HTTP against the running stack: values that
hold line breaks, and result columns that cannot be a step's input (a name twice, an expression
without a name)."""
from __future__ import annotations

import csv
import io
import uuid

from tests.e2e.test_stream_runs import _data, _run, steps_of, wait_run

# three rows; two of them hold line breaks inside quoted values (a note written on several lines)
MULTILINE = ("SELECT * FROM (VALUES (1, 10.50, E'first line\\nsecond line'), (2, 20.00, 'plain'),"
             " (3, 30.25, E'a\\r\\nb\\nc')) AS t(id, amount, note)")


def _source(api, query: str) -> int:
    return _data(api.post("/data-sources", {"name": f"q {uuid.uuid4().hex[:6]}", "type": "POSTGRES",
                                            "config": {"query": query}}), 201)["id"]


def _stream_over(api, source_id: int, target_id: int, key: str = "id") -> int:
    rs = _data(api.post("/rule-sets", {"name": f"by {key}", "sourceKey": key, "targetKey": key, "passes": [
        {"name": key, "cardinality": "ONE_TO_ONE",
         "conditions": [{"source": key, "target": key, "operator": "EQUALS"}]}]}), 201)["id"]
    return _data(api.post("/streams", {
        "name": f"snapshots {uuid.uuid4().hex[:6]}", "triggerType": "MANUAL",
        "steps": [{"stepOrder": 1, "name": "source vs target", "ruleSetId": rs,
                   "sourceInput": {"type": "DATA_SOURCE_SNAPSHOT", "id": source_id},
                   "targetInput": {"type": "DATA_SOURCE_SNAPSHOT", "id": target_id},
                   "config": {"continueOnFailure": False, "maxRetries": 0}}]}), 201)["id"]


def test_a_snapshot_counts_rows_not_lines_when_values_hold_line_breaks(api):
    source = _source(api, MULTILINE)
    run = wait_run(api, _run(api, _stream_over(api, source, source)))
    assert run["status"] == "COMPLETED", run
    (step,) = steps_of(api, run["id"])
    assert (step["sourceRows"], step["matchedSourceRows"]) == (3, 3), step
    arts = {a["artifactType"]: a for a in _data(api.get(f"/step-runs/{step['id']}/artifacts"))}
    snap = arts["SNAPSHOT_SOURCE"]
    text = api.s.get(api.url.removesuffix("/api/v1") + snap["downloadUrl"], timeout=30).content.decode()
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert [r["note"] for r in rows] == ["first line\nsecond line", "plain", "a\r\nb\nc"]
    assert snap["rowCount"] == len(rows) == 3, snap
    assert _data(api.get(f"/files/{snap['fileId']}"))["rowCount"] == 3


def test_a_source_whose_columns_share_a_name_fails_its_test_and_its_step_naming_the_column(api):
    twice = _source(api, 'SELECT 1 AS id, 2 AS "ID", 3 AS amount')
    unnamed = _source(api, "SELECT 1 AS id, 2 + 2")
    good = _source(api, MULTILINE)

    tested = _data(api.post(f"/data-sources/{twice}/test"))
    assert tested["ok"] is False, tested
    assert "'id' and 'ID' twice" in tested["errorMessage"], tested
    assert [c["name"] for c in tested["columns"]] == ["id", "ID", "amount"]   # what it returns, shown
    tested = _data(api.post(f"/data-sources/{unnamed}/test"))
    assert tested["ok"] is False and "column 2 of the query has no name" in tested["errorMessage"], tested
    assert _data(api.post(f"/data-sources/{good}/test"))["ok"] is True

    for bad, words in ((twice, "'id' and 'ID' twice"), (unnamed, "column 2 of the query has no name")):
        run = wait_run(api, _run(api, _stream_over(api, bad, good)))
        assert run["status"] == "FAILED", run
        (step,) = steps_of(api, run["id"])
        assert f"data source {bad}: " in step["errorMessage"] and words in step["errorMessage"], step
        # nothing was snapshotted of the unusable source: no file that no step can read
        arts = _data(api.get(f"/step-runs/{step['id']}/artifacts"))
        assert "SNAPSHOT_SOURCE" not in {a["artifactType"] for a in arts}, arts


def test_a_cancel_stops_a_snapshot_query_that_has_not_sent_a_row_yet(api, stack):
    import psycopg

    from tests.e2e.conftest import poll

    tag = uuid.uuid4().hex[:10]
    slow = _source(api, f"SELECT g AS id, '{tag}' AS tag FROM generate_series(1, 3) AS g, pg_sleep(60)")
    good = _source(api, MULTILINE)
    run_id = _run(api, _stream_over(api, slow, good))
    wait_run(api, run_id, until=lambda r: r["status"] == "RUNNING")

    with psycopg.connect(stack["env"]["DATABASE_URL"], autocommit=True) as conn:
        def snapshot_queries() -> int:
            return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE state = 'active'"
                                " AND query LIKE %s AND pid <> pg_backend_pid()", (f"%{tag}%",)).fetchone()[0]

        poll(lambda: snapshot_queries() == 1, 60, "the snapshot's query running on the source")
        _data(api.post(f"/stream-runs/{run_id}/cancel"))
        # the contract's "the running step stops within seconds": the source's server stops working too,
        # long before the query's 60 s are over
        poll(lambda: snapshot_queries() == 0, 15, "the snapshot's query canceled on the source")
    run = wait_run(api, run_id)
    assert run["status"] == "CANCELED", run
    (step,) = steps_of(api, run_id)
    assert step["status"] == "CANCELED", step
    # the canceled snapshot registered nothing (the other side's, taken at the start, stays listed)
    arts = {a["artifactType"] for a in _data(api.get(f"/step-runs/{step['id']}/artifacts"))}
    assert arts <= {"SNAPSHOT_TARGET"}, arts


def _snapshot_columns(api, source_id: int, key: str) -> list[dict]:
    """The columns (name, type) of the SNAPSHOT_SOURCE file a run of the source takes."""
    run = wait_run(api, _run(api, _stream_over(api, source_id, source_id, key)))
    assert run["status"] == "COMPLETED", run
    (step,) = steps_of(api, run["id"])
    arts = {a["artifactType"]: a for a in _data(api.get(f"/step-runs/{step['id']}/artifacts"))}
    return _data(api.get(f"/files/{arts['SNAPSHOT_SOURCE']['fileId']}"))["columns"]


def _reads_as(tested: str, snapshot: str) -> bool:
    """A test's plain DECIMAL is a decimal whose values decide its precision and scale (whole values: BIGINT)."""
    return tested == snapshot or (tested == "DECIMAL" and (snapshot.startswith("DECIMAL(") or snapshot == "BIGINT"))


def test_a_sources_test_types_its_columns_as_its_snapshot_reads_them(api):
    """platform §4: test → {ok, rowEstimate, columns, errorMessage}, the columns a step would get; §2: a file's
    columns read {"name": "amount", "type": "DECIMAL(18,2)"}. The test said INT4, NUMERIC (its precision lost),
    TEXT — the server's internal names — while the snapshot of the same source, a file, read BIGINT,
    DECIMAL(18,2), VARCHAR. Each column now has the snapshot's type, and the source's own as `sourceType`."""
    source = _source(api, "SELECT g AS id, (g * 10.25)::numeric(12,2) AS amount, DATE '2026-02-20' + g AS order_date,"
                          " TIMESTAMPTZ '2026-02-20 10:00:00+00' + g * interval '1 hour' AS paid_at,"
                          " g % 2 = 0 AS settled, 'C-' || g AS customer, md5(g::text)::uuid AS ref,"
                          " (g * 1.5)::float8 AS weight, TIME '10:00' AS cutoff FROM generate_series(1, 5) AS g")
    tested = _data(api.post(f"/data-sources/{source}/test"))
    assert tested["ok"] is True, tested
    assert [(c["name"], c["type"], c["sourceType"]) for c in tested["columns"]] == [
        ("id", "BIGINT", "INTEGER"), ("amount", "DECIMAL(18,2)", "NUMERIC(12,2)"), ("order_date", "DATE", "DATE"),
        ("paid_at", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP WITH TIME ZONE"), ("settled", "BOOLEAN", "BOOLEAN"),
        ("customer", "VARCHAR", "TEXT"), ("ref", "VARCHAR", "UUID"), ("weight", "DECIMAL", "DOUBLE PRECISION"),
        ("cutoff", "TIME", "TIME WITHOUT TIME ZONE")], tested
    snapshot = _snapshot_columns(api, source, "id")
    assert [c["name"] for c in snapshot] == [c["name"] for c in tested["columns"]]
    assert all(_reads_as(t["type"], f["type"]) for t, f in zip(tested["columns"], snapshot)), (tested, snapshot)


def test_a_cdc_tables_test_types_its_columns_as_its_snapshot_reads_them(api, demo):
    """The same for a CDC table: the test said the catalog's Cassandra names (UUID, SET<TEXT>, TIMESTAMP) where its
    snapshot reads VARCHAR, VARCHAR, TIMESTAMP WITH TIME ZONE; they are `sourceType` now."""
    source = _data(api.post("/data-sources", {"name": f"cdc {uuid.uuid4().hex[:6]}", "type": "CDC_TABLE",
                                              "config": {"table": "products"}}), 201)["id"]
    tested = _data(api.post(f"/data-sources/{source}/test"))
    assert tested["ok"] is True, tested
    by_name = {c["name"]: (c["type"], c["sourceType"]) for c in tested["columns"]}
    assert by_name["product_id"] == ("VARCHAR", "UUID") and by_name["categories"] == ("VARCHAR", "SET<TEXT>"), tested
    assert by_name["updated_at"] == ("TIMESTAMP WITH TIME ZONE", "TIMESTAMP"), tested
    snapshot = _snapshot_columns(api, source, "product_id")
    assert [c["name"] for c in snapshot] == [c["name"] for c in tested["columns"]]
    assert all(_reads_as(t["type"], f["type"]) for t, f in zip(tested["columns"], snapshot)), (tested, snapshot)
