"""Data sources over HTTP: POSTGRES tables and read-only queries, CDC catalog tables, credential
references (never secrets), the connection test, delete and its conflict."""
from __future__ import annotations

from tests.integration.streams.conftest import TARGET_CSV, assert_error, step


def _table(db, uid: str) -> str:
    name = f"ds_orders_{uid}"
    db.execute(f"CREATE TABLE public.{name} (order_id text PRIMARY KEY, amount numeric(18,2), order_date date)")
    db.execute(f"INSERT INTO public.{name} SELECT 'O' || g, g * 1.5, date '2026-02-01' + g FROM generate_series(1, 50) g")
    db.execute(f"ANALYZE public.{name}")
    return name


def test_postgres_table_source_and_test(api, db, uid):
    table = _table(db, uid)
    r = api.post("/data-sources", {"name": f"orders {uid}", "type": "POSTGRES",
                                   "config": {"connection": {"env": "DATABASE_URL"}, "schema": "public", "table": table}})
    assert r.status_code == 201, r.text
    ds = r.json()["data"]
    assert ds["config"] == {"connection": {"env": "DATABASE_URL"}, "schema": "public", "table": table}
    t = api.post(f"/data-sources/{ds['id']}/test")
    assert t.status_code == 200, t.text
    result = t.json()["data"]
    assert result["ok"] is True and result["errorMessage"] is None
    assert [c["name"] for c in result["columns"]] == ["order_id", "amount", "order_date"]
    assert result["rowEstimate"] == 50
    assert api.get(f"/data-sources/{ds['id']}").json()["data"] == ds


def test_query_source_runs_read_only(api, db, uid):
    table = _table(db, uid)
    r = api.post("/data-sources", {"name": f"q {uid}", "type": "POSTGRES", "config": {
        "query": f"SELECT order_id, amount FROM public.{table} WHERE amount > 10"}})
    assert r.status_code == 201, r.text
    result = api.post(f"/data-sources/{r.json()['data']['id']}/test").json()["data"]
    assert result["ok"] is True and [c["name"] for c in result["columns"]] == ["order_id", "amount"]
    # a write hidden in a function: the READ ONLY transaction refuses it
    db.execute(f"CREATE FUNCTION public.sneaky_{uid}() RETURNS int LANGUAGE sql AS"
               f" $$ DELETE FROM public.{table} RETURNING 1 $$")
    r = api.post("/data-sources", {"name": f"sneaky {uid}", "type": "POSTGRES",
                                   "config": {"query": f"SELECT public.sneaky_{uid}() AS x"}})
    assert r.status_code == 201, r.text
    result = api.post(f"/data-sources/{r.json()['data']['id']}/test").json()["data"]
    assert result["ok"] is False and "read-only" in result["errorMessage"]
    assert db.execute(f"SELECT count(*) AS n FROM public.{table}").fetchone()["n"] == 50


def test_a_query_may_end_with_comments_and_a_semicolon(api, db, uid, tmp_path):
    """A query pasted from an editor: a `--` comment on its last line, a `;` before or after comments. The
    connection test and a snapshot read it as written (the comment used to swallow the wrapping parenthesis:
    accepted, then "syntax error at end of input" at every test and run)."""
    from chalicelib.streams import data_sources, snapshots

    table = _table(db, uid)
    for query in (f"SELECT order_id, amount FROM public.{table}\n-- every order",
                  f"SELECT order_id, amount FROM public.{table}; -- every order\n/* done */ ",
                  f"SELECT order_id, amount FROM public.{table} /* all */;",
                  f"SELECT order_id, amount FROM public.{table} WHERE order_id <> ';' -- not ';'"):
        r = api.post("/data-sources", {"name": f"commented {uid} {len(query)}", "type": "POSTGRES",
                                       "config": {"query": query}})
        assert r.status_code == 201, r.text
        result = api.post(f"/data-sources/{r.json()['data']['id']}/test").json()["data"]
        assert result["ok"] is True, (query, result)
        assert [c["name"] for c in result["columns"]] == ["order_id", "amount"], result
    assert data_sources.select_sql({"query": "SELECT 1 AS a\n-- c"}).as_string(None).endswith("\n")


def test_queries_that_write_are_refused_at_create(api):
    for query in ("DELETE FROM orders", "SELECT 1; DROP TABLE orders", "UPDATE x SET a = 1 RETURNING *"):
        assert_error(api.post("/data-sources", {"name": "w", "type": "POSTGRES", "config": {"query": query}}),
                     400, "VALIDATION_ERROR", ("config.query", "INVALID_VALUE"))


def test_config_problems_are_located(api):
    assert_error(api.post("/data-sources", {"name": "x", "type": "POSTGRES",
                                            "config": {"table": "t", "query": "SELECT 1"}}),
                 400, "VALIDATION_ERROR", ("config", "INVALID_VALUE"))
    assert_error(api.post("/data-sources", {"name": "x", "type": "POSTGRES",
                                            "config": {"table": "t", "connection": {"password": "hunter2"}}}),
                 400, "VALIDATION_ERROR")
    assert_error(api.post("/data-sources", {"name": "x", "type": "POSTGRES",
                                            "config": {"table": "bad name;"}}),
                 400, "VALIDATION_ERROR", ("config.table", "INVALID_VALUE"))
    assert_error(api.post("/data-sources", {"name": "x", "type": "CDC_TABLE", "config": {"table": "nope"}}),
                 400, "VALIDATION_ERROR", ("config.table", "INVALID_VALUE"))
    assert_error(api.post("/data-sources", {"name": "x", "type": "MYSQL", "config": {}}),
                 400, "VALIDATION_ERROR", ("type", "INVALID_VALUE"))


def test_secrets_are_never_shown(api, uid):
    r = api.post("/data-sources", {"name": f"missing env {uid}", "type": "POSTGRES",
                                   "config": {"connection": {"env": f"NO_SUCH_VAR_{uid.upper()}"}, "table": "t"}})
    assert r.status_code == 201
    result = api.post(f"/data-sources/{r.json()['data']['id']}/test").json()["data"]
    assert result["ok"] is False and f"NO_SUCH_VAR_{uid.upper()}" in result["errorMessage"]
    # a URL with a password in a secret reference never comes back
    arn = "arn:aws:secretsmanager:us-east-1:000000000000:secret:does-not-exist"
    r = api.post("/data-sources", {"name": f"secret {uid}", "type": "POSTGRES",
                                   "config": {"connection": {"secretArn": arn}, "table": "t"}})
    assert r.status_code == 201 and r.json()["data"]["config"]["connection"] == {"secretArn": arn}
    result = api.post(f"/data-sources/{r.json()['data']['id']}/test").json()["data"]
    assert result["ok"] is False and "cannot be read" in result["errorMessage"]


def test_a_reference_to_a_value_that_is_no_connection_string_never_shows_the_value(api, stack_env, uid):
    """platform §4: credentials are references, "never stored or returned in clear". A reference to a
    variable that holds something else (here the service's AWS_ACCESS_KEY_ID / AWS_REGION) made the test
    answer libpq's parse error, which quotes the whole value: any variable of the service could be read."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_REGION"):
        value = stack_env[name]
        r = api.post("/data-sources", {"name": f"not a url {uid}", "type": "POSTGRES",
                                       "config": {"connection": {"env": name}, "table": "t"}})
        assert r.status_code == 201, r.text
        result = api.post(f"/data-sources/{r.json()['data']['id']}/test").json()["data"]
        assert result["ok"] is False and value not in result["errorMessage"], result
        assert f"environment variable {name} does not hold a PostgreSQL connection string" in result["errorMessage"]


def test_a_query_over_the_test_limit_says_so(stack_env, monkeypatch):
    """The test's statement limit: a query that does not answer in time is not a connection failure."""
    from chalicelib.streams import data_sources

    monkeypatch.setenv("RECON_DS_TEST_URL", stack_env["DATABASE_URL"])
    monkeypatch.setattr(data_sources, "TEST_STATEMENT_TIMEOUT_MS", 1000)
    got = data_sources.test({"type": "POSTGRES", "config": {"connection": {"env": "RECON_DS_TEST_URL"},
                                                             "query": "SELECT pg_sleep(5) AS x"}})
    assert got == {"ok": False, "rowEstimate": None, "columns": [],
                   "errorMessage": "the query did not answer within 1 s (the test's limit)"}


def test_recons_own_tables_are_never_a_data_source(api, db, stack_env, uid, tmp_path):
    """The default connection (and DATABASE_URL) is the database that holds recon's control plane: its
    API keys, webhooks and every stream's data must not be readable through a data source — not as a
    table, not by a query, not through a view over them; a source's own tables there still are."""
    from chalicelib.streams import snapshots

    table = _table(db, uid)
    db.execute(f"CREATE VIEW public.keys_{uid} AS SELECT * FROM recon.api_keys")
    refused = [{"schema": "recon", "table": "api_keys"},
               {"connection": {"env": "DATABASE_URL"}, "schema": "recon", "table": "stream_exceptions"},
               {"query": "SELECT key_hash FROM recon.api_keys"},
               {"query": f"SELECT o.order_id FROM public.{table} o JOIN recon.webhook_deliveries w ON true"},
               {"query": f"SELECT * FROM public.keys_{uid}"}]
    for config in refused:
        r = api.post("/data-sources", {"name": f"cp {uid}", "type": "POSTGRES", "config": config})
        assert r.status_code == 201, r.text
        ds = r.json()["data"]
        result = api.post(f"/data-sources/{ds['id']}/test").json()["data"]
        assert result["ok"] is False and "recon's own control-plane data" in result["errorMessage"], (config, result)
        assert "recon." in result["errorMessage"] and result["columns"] == []
        try:
            snapshots.take({"data_source_id": ds["id"], "type": "POSTGRES", "config": config}, tmp_path / "s.csv")
        except snapshots.SnapshotError as exc:
            assert "recon's own control-plane data" in str(exc)
        else:
            raise AssertionError(f"a snapshot of {config} was taken")
    allowed = api.post("/data-sources", {"name": f"own {uid}", "type": "POSTGRES", "config": {
        "query": f"SELECT order_id FROM public.{table} WHERE order_id IN (SELECT 'O' || g FROM generate_series(1, 3) g)"}})
    assert api.post(f"/data-sources/{allowed.json()['data']['id']}/test").json()["data"]["ok"] is True


def test_queries_that_run_other_sql_or_read_server_files_are_refused_at_create(api):
    for query, called in (("SELECT * FROM query_to_xml('SELECT * FROM recon.api_keys', true, true, '')", "query_to_xml"),
                          ("SELECT pg_read_file('/etc/passwd') AS x", "pg_read_file"),
                          ('SELECT "table_to_xml"(\'recon.api_keys\'::regclass, true, true, \'\') AS x', "table_to_xml"),
                          ("SELECT lo_get(1) AS x", "lo_get")):
        r = api.post("/data-sources", {"name": "x", "type": "POSTGRES", "config": {"query": query}})
        assert_error(r, 400, "VALIDATION_ERROR", ("config.query", "INVALID_VALUE"))
        assert f"must not call {called}" in r.text, r.text


def test_cdc_table_source(api, uid):
    r = api.post("/data-sources", {"name": f"cdc orders {uid}", "type": "CDC_TABLE", "config": {"table": "orders"}})
    assert r.status_code == 201, r.text
    ds = r.json()["data"]
    result = api.post(f"/data-sources/{ds['id']}/test").json()["data"]
    assert "order_id" in [c["name"] for c in result["columns"]]


def test_update_list_delete(api, uid):
    body = {"name": f"upd {uid}", "type": "CDC_TABLE", "config": {"table": "users"}}
    ds = api.post("/data-sources", body).json()["data"]
    r = api.put(f"/data-sources/{ds['id']}", {**body, "config": {"table": "orders"}})
    assert r.status_code == 200 and r.json()["data"]["config"] == {"table": "orders"}
    items = api.get("/data-sources", type="CDC_TABLE", pageSize=100).json()["data"]["items"]
    assert ds["id"] in [i["id"] for i in items]
    tgt = api.upload(f"ds_tgt_{uid}.csv", TARGET_CSV)
    rs = api.rule_set()
    # the CDC orders table has no `amount`: the rule set's column check says so
    r = api.post("/streams", {"name": f"snap {uid}", "steps": [
        step(1, ("DATA_SOURCE_SNAPSHOT", ds["id"]), ("FILE", tgt["id"]), rs["id"])]})
    assert_error(r, 400, "VALIDATION_ERROR", ("steps[0].ruleSetId", "RULE_FIELD_MISSING"))
    rs = api.rule_set(sourceKey="order_id", passes=[{"name": "ids", "conditions": [
        {"source": "order_id", "target": "order_ref", "operator": "EQUALS"}]}])
    stream = api.stream({"name": f"snap {uid}", "steps": [
        step(1, ("DATA_SOURCE_SNAPSHOT", ds["id"]), ("FILE", tgt["id"]), rs["id"])]})
    body409 = assert_error(api.delete(f"/data-sources/{ds['id']}"), 409, "CONFLICT")
    assert f"stream {stream['id']}" in body409["message"]
    api.delete(f"/streams/{stream['id']}")
    assert api.delete(f"/data-sources/{ds['id']}").status_code == 200
    assert_error(api.get(f"/data-sources/{ds['id']}"), 404, "NOT_FOUND")
    assert_error(api.put(f"/data-sources/{ds['id']}", body), 404, "NOT_FOUND")
    assert_error(api.post(f"/data-sources/{ds['id']}/test"), 404, "NOT_FOUND")


def test_a_data_source_a_run_in_flight_reads_cannot_be_deleted(api, db, uid):
    """As for files: a run PENDING or RUNNING takes its snapshot from the data source when its step starts, so
    the delete is a 409 naming the run even after its stream was archived (the step failed: 'not found')."""
    from tests.integration.streams.conftest import wait_for

    table = _table(db, uid)
    ds = api.post("/data-sources", {"name": f"fl {uid}", "type": "POSTGRES", "config": {
        "connection": {"env": "DATABASE_URL"}, "schema": "public", "table": table}}).json()["data"]
    tgt = api.upload(f"ds_fl_{uid}.csv", TARGET_CSV)
    rs = api.rule_set(sourceKey="order_id", passes=[{"name": "ids", "conditions": [
        {"source": "order_id", "target": "order_ref", "operator": "EQUALS"}]}])
    stream = api.stream({"name": f"fl {uid}", "steps": [
        step(1, ("DATA_SOURCE_SNAPSHOT", ds["id"]), ("FILE", tgt["id"]), rs["id"])]})
    r = api.post(f"/streams/{stream['id']}/runs")
    assert r.status_code == 201, r.text
    run_id = r.json()["data"]["runId"]
    wait_for(lambda: api.get(f"/stream-runs/{run_id}").json()["data"]["status"] not in ("PENDING", "RUNNING"), 90,
             "the run to end")
    assert api.delete(f"/streams/{stream['id']}").status_code == 200
    db.execute("UPDATE recon.stream_runs SET status = 'PENDING' WHERE run_id = %s", (run_id,))   # as if not yet started
    try:
        body = assert_error(api.delete(f"/data-sources/{ds['id']}"), 409, "CONFLICT")
        assert f"stream run {run_id}" in body["message"], body
    finally:
        db.execute("UPDATE recon.stream_runs SET status = 'COMPLETED' WHERE run_id = %s", (run_id,))
    assert api.delete(f"/data-sources/{ds['id']}").status_code == 200


def test_columns_of_types_the_driver_does_not_know_are_named(api, db, uid):
    """platform §4: the test answers the source's columns. An enum, or a function's void, was typed by its OID
    number ("2278"): the server names them."""
    db.execute(f"CREATE TYPE public.mood_{uid} AS ENUM ('ok', 'late')")
    ds = api.post("/data-sources", {"name": f"types {uid}", "type": "POSTGRES", "config": {
        "connection": {"env": "DATABASE_URL"},
        "query": f"SELECT 'ok'::public.mood_{uid} AS mood, pg_sleep(0) AS slept, 1 AS n, 'x'::text AS t,"
                 " ARRAY['a']::text[] AS tags"}}).json()["data"]
    got = api.post(f"/data-sources/{ds['id']}/test").json()["data"]
    assert got["ok"] is True, got
    # `type` is what a snapshot's column reads as (text for all but the number), `sourceType` the server's name
    assert got["columns"] == [{"name": "mood", "type": "VARCHAR", "sourceType": f"MOOD_{uid}".upper()},
                              {"name": "slept", "type": "VARCHAR", "sourceType": "VOID"},
                              {"name": "n", "type": "BIGINT", "sourceType": "INTEGER"},
                              {"name": "t", "type": "VARCHAR", "sourceType": "TEXT"},
                              {"name": "tags", "type": "VARCHAR", "sourceType": "TEXT[]"}], got   # not its element type


def test_a_snapshot_tells_how_far_it_is(db, stack_env, uid, tmp_path):
    """A step's progress moves while its data-source snapshot is taken (platform §5: "progress ... moves while a
    step works"): the snapshot reports the share of the planner's row estimate it has copied, in steps."""
    from chalicelib.streams import snapshots

    name = f"ds_many_{uid}"
    db.execute(f"CREATE TABLE public.{name} (id int PRIMARY KEY, amount numeric(18,2))")
    db.execute(f"INSERT INTO public.{name} SELECT g, g / 100.0 FROM generate_series(1, 50000) g")
    db.execute(f"ANALYZE public.{name}")
    heard: list[float] = []
    source = {"type": "POSTGRES", "data_source_id": 0,
              "config": {"connection": {"env": "DATABASE_URL"}, "schema": "public", "table": name}}
    rows = snapshots.take(source, tmp_path / "snap.csv", progress=heard.append)
    assert rows == 50000
    assert len(heard) >= 4, heard                                  # every 10,000 rows
    assert heard == sorted(heard) and 0 < heard[0] < 0.5 and 0.75 < heard[-1] <= 0.99, heard
