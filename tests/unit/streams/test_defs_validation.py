"""Stream definition checks without a database: every error and warning code, located at the step
and field; cron and time zone rules; data source configs and the read-only query check."""
from __future__ import annotations

import json

import pytest

from chalicelib.streams import data_sources
from chalicelib.streams.defs_errors import Invalid
from chalicelib.streams.validation import LARGE_TARGET_ROWS, StreamIn, check_definition, trigger_problems

RULES = {"name": "r", "sourceKey": "order_id", "targetKey": "txn_id", "passes": [{"name": "p", "conditions": [
    {"source": "order_id", "target": "order_ref", "operator": "EQUALS"},
    {"source": "amount", "target": "gross", "operator": "AMOUNT_TOLERANCE", "absolute": 0.01}]}]}
SRC_COLS = ["order_id", "amount", "order_date"]
TGT_COLS = ["txn_id", "order_ref", "gross"]


def _file(fid, cols, status="READY", rows=10):
    return {"file_id": fid, "status": status, "row_count": rows if status == "READY" else None,
            "columns": [{"name": c, "type": "VARCHAR"} for c in cols] if status == "READY" else None,
            "error_message": "line 2: 1 fields, header has 2" if status == "INVALID" else None}


FILES = {1: _file(1, SRC_COLS), 2: _file(2, TGT_COLS), 3: _file(3, TGT_COLS), 4: _file(4, TGT_COLS, "PROCESSING"),
         5: _file(5, TGT_COLS, "INVALID"), 6: _file(6, TGT_COLS, rows=LARGE_TARGET_ROWS + 1)}
RULE_SETS = {55: {"rule_set_id": 55, "definition": RULES}}
SOURCES = {300: {"data_source_id": 300, "type": "POSTGRES", "config": {"table": "t"}},
           301: {"data_source_id": 301, "type": "CDC_TABLE", "config": {"table": "orders"}}}


def st(order, src, tgt, rs=55):
    return {"step_order": order, "name": f"s{order}", "source_input": {"type": src[0], "id": src[1]},
            "target_input": {"type": tgt[0], "id": tgt[1]}, "rule_set_id": rs,
            "config": {"continue_on_failure": False, "max_retries": 0}}


def check(steps, trigger_type="MANUAL", trigger_config=None, strict=True, streams=None):
    defn = {"name": "n", "trigger_type": trigger_type, "trigger_config": trigger_config, "steps": steps}
    errors, warnings = check_definition(defn, files=FILES, rule_sets=RULE_SETS, data_sources=SOURCES,
                                        streams=streams, strict_ready=strict)
    return ({(e.field, e.code) for e in errors}, {(w.field, w.code) for w in warnings}, errors, warnings)


def test_a_good_chain_has_no_errors_or_warnings():
    errors, warnings, *_ = check([st(1, ("FILE", 1), ("FILE", 2)),
                                  st(2, ("STEP_OUTPUT_UNMATCHED_SOURCE", 1), ("FILE", 3))])
    assert errors == set() and warnings == set()


def test_step_order_gaps_and_duplicates():
    errors, *_ = check([st(1, ("FILE", 1), ("FILE", 2)), st(3, ("FILE", 1), ("FILE", 2))])
    assert errors == {("steps[1].stepOrder", "STEP_ORDER_INVALID")}
    errors, *_ = check([st(1, ("FILE", 1), ("FILE", 2)), st(1, ("FILE", 1), ("FILE", 2))])
    assert errors == {("steps[1].stepOrder", "STEP_ORDER_INVALID")}


def test_forward_and_self_references():
    errors, _, errs, _ = check([st(1, ("STEP_OUTPUT_UNMATCHED_SOURCE", 1), ("FILE", 2)),
                                st(2, ("FILE", 1), ("STEP_OUTPUT_UNMATCHED_TARGET", 2))])
    assert errors == {("steps[0].sourceInput.id", "STEP_INPUT_FORWARD_REFERENCE"),
                      ("steps[1].targetInput.id", "STEP_INPUT_FORWARD_REFERENCE")}
    assert all(e.message.startswith(f"Step {i}") for i, e in zip((1, 2), errs))


def test_missing_references():
    errors, *_ = check([st(1, ("FILE", 99), ("DATA_SOURCE_SNAPSHOT", 999), rs=77)])
    assert errors == {("steps[0].sourceInput.id", "FILE_NOT_FOUND"),
                      ("steps[0].targetInput.id", "DATA_SOURCE_NOT_FOUND"), ("steps[0].ruleSetId", "RULE_SET_NOT_FOUND")}


def test_files_not_ready():
    errors, *_ = check([st(1, ("FILE", 1), ("FILE", 4))])
    assert errors == {("steps[0].targetInput.id", "FILE_NOT_READY")}
    errors, *_ = check([st(1, ("FILE", 1), ("FILE", 4))], strict=False)   # saving: still processing is fine
    assert errors == set()
    errors, _, errs, _ = check([st(1, ("FILE", 1), ("FILE", 5))], strict=False)   # INVALID never is
    assert errors == {("steps[0].targetInput.id", "FILE_NOT_READY")} and "line 2" in errs[0].message


def test_rule_fields_follow_the_chain():
    # step 2's source is step 1's unmatched target rows: marketplace columns, no order_id/amount
    errors, _, errs, _ = check([st(1, ("FILE", 1), ("FILE", 2)),
                                st(2, ("STEP_OUTPUT_UNMATCHED_TARGET", 1), ("FILE", 3))])
    assert errors == {("steps[1].ruleSetId", "RULE_FIELD_MISSING")}
    assert {e.message.split("'")[1] for e in errs} == {"order_id", "amount"}
    assert all(e.message.startswith("Step 2") and "source input" in e.message for e in errs)
    # swapping the inputs of step 1 breaks both sides
    errors, _, errs, _ = check([st(1, ("FILE", 2), ("FILE", 1))])
    assert errors == {("steps[0].ruleSetId", "RULE_FIELD_MISSING")}
    assert {"source input", "target input"} <= {m for e in errs for m in ("source input", "target input") if m in e.message}


def test_rule_fields_of_cdc_snapshots_but_not_of_unknown_queries():
    errors, *_ = check([st(1, ("DATA_SOURCE_SNAPSHOT", 301), ("FILE", 2))])
    assert errors == {("steps[0].ruleSetId", "RULE_FIELD_MISSING")}    # the CDC orders table has no `amount`
    errors, *_ = check([st(1, ("DATA_SOURCE_SNAPSHOT", 300), ("FILE", 2))])
    assert errors == set()


def test_warnings():
    _, warnings, _, warns = check([st(1, ("FILE", 1), ("FILE", 6)), st(2, ("FILE", 1), ("FILE", 2))])
    assert warnings == {("steps[0].targetInput.id", "STEP_TARGET_FILE_LARGE"), ("steps[0]", "STEP_OUTPUT_UNUSED")}
    large = next(w for w in warns if w.code == "STEP_TARGET_FILE_LARGE")
    assert large.message == "Step 1 target file has 1.0M rows; consider schedule window."


@pytest.mark.parametrize("cron", ["0 30 2 * * *", "0 30 2 ? * MON-FRI", "59 */15 8-18 1,15 JAN,JUL SUN", "0 0 0 L * *"])
def test_valid_crons(cron):
    assert trigger_problems("SCHEDULED", {"cron": cron, "timezone": "Europe/Berlin"}, {1}) == []


@pytest.mark.parametrize("cron", ["0 30 2 * *", "*/5 * * * * *", "0,30 * * * * *", "0 60 * * * *", "0 0 25 * * *",
                                  "0 0 0 * FOO *", "", None, 7])
def test_invalid_crons(cron):
    found = trigger_problems("SCHEDULED", {"cron": cron, "timezone": "UTC"}, {1})
    assert [(p.field, p.code) for p in found] == [("triggerConfig.cron", "CRON_INVALID")]


@pytest.mark.parametrize("tz", ["Mars/Olympus", "", "../../etc/passwd", 3,
                                # files of the zone database that are not IANA zone names
                                "localtime", "posixrules", "right/UTC", "posix/Europe/Berlin"])
def test_invalid_timezones(tz):
    found = trigger_problems("SCHEDULED", {"cron": "0 0 0 * * *", "timezone": tz}, {1})
    assert [(p.field, p.code) for p in found] == [("triggerConfig.timezone", "TIMEZONE_INVALID")]
    found = trigger_problems("SCHEDULED", {"timezone": tz}, {1})
    assert {(p.field, p.code) for p in found} == {("triggerConfig.timezone", "TIMEZONE_INVALID"),
                                                  ("triggerConfig.cron", "CRON_INVALID")}


def test_trigger_configs():
    assert trigger_problems("MANUAL", None, {1}) == []
    assert [(p.field, p.code) for p in trigger_problems("MANUAL", {"cron": "x"}, {1})] == [("triggerConfig", "INVALID_VALUE")]
    found = {(p.field, p.code) for p in trigger_problems("SCHEDULED", {"cron": "0 0 0 * * *", "tz": "UTC"}, {1})}
    assert found == {("triggerConfig.tz", "UNKNOWN_FIELD")}
    ok = {"event": "FILE_UPLOADED", "filenamePattern": "bank_*.csv", "bind": {"stepOrder": 1, "input": "SOURCE"}}
    assert trigger_problems("EVENT", ok, {1}) == []
    found = {(p.field, p.code) for p in trigger_problems("EVENT", {"event": "TICK"}, {1})}
    assert found == {("triggerConfig.event", "INVALID_VALUE")}


@pytest.mark.parametrize("config, expected", [
    ({}, [("triggerConfig.event", "REQUIRED", "is required: FILE_UPLOADED or STREAM_RUN_COMPLETED")]),
    ({"event": "TICK"}, [("triggerConfig.event", "INVALID_VALUE",
                          'must be one of FILE_UPLOADED or STREAM_RUN_COMPLETED (got "TICK")')]),
    ({"event": "STREAM_RUN_COMPLETED", "streamId": "9001"},
     [("triggerConfig.streamId", "INVALID_TYPE", "must be an integer (got string)")]),
    ({"event": "STREAM_RUN_COMPLETED", "streamId": None},
     [("triggerConfig.streamId", "REQUIRED", "is required: the id of the stream to follow")]),
    ({"event": "FILE_UPLOADED", "filenamePattern": "bank_*.csv", "bind": {"stepOrder": 1}},
     [("triggerConfig.bind.input", "REQUIRED", "is required: SOURCE or TARGET")]),
    ({"event": "FILE_UPLOADED", "filenamePattern": "bank_*.csv", "bind": {"stepOrder": True, "input": "target"}},
     [("triggerConfig.bind.stepOrder", "INVALID_TYPE", "must be an integer (got boolean)"),
      ("triggerConfig.bind.input", "INVALID_VALUE", 'must be one of SOURCE or TARGET (got "target")')]),
    # lengths use the codes of every other text field
    ({"event": "FILE_UPLOADED", "filenamePattern": "", "bind": {"stepOrder": 1, "input": "SOURCE"}},
     [("triggerConfig.filenamePattern", "TOO_SHORT", "must be at least 1 character(s)")]),
    ({"event": "FILE_UPLOADED", "filenamePattern": "b" * 256, "bind": {"stepOrder": 1, "input": "SOURCE"}},
     [("triggerConfig.filenamePattern", "TOO_LONG", "must be at most 255 characters")]),
    ({"event": "FILE_UPLOADED", "filenamePattern": 5, "bind": {"stepOrder": 1, "input": "SOURCE"}},
     [("triggerConfig.filenamePattern", "INVALID_TYPE", "must be a string (got number)")]),
    ({"event": "FILE_UPLOADED", "bind": []},
     [("triggerConfig.filenamePattern", "REQUIRED", "is required: a filename pattern such as bank_*.csv"),
      ("triggerConfig.bind", "INVALID_TYPE", "must be an object (got array)")]),
])
def test_event_trigger_problems_say_missing_wrong_type_or_wrong_value(config, expected):
    """A missing key is REQUIRED (not 'got None'), a wrong JSON type INVALID_TYPE, values shown as JSON."""
    assert [(p.field, p.code, p.message) for p in trigger_problems("EVENT", config, {1})] == expected


def test_stream_model_is_strict():
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as exc:
        StreamIn.model_validate({"name": "x", "steps": [{"stepOrder": "1", "name": "s", "ruleSetId": 1,
                                                         "sourceInput": {"type": "FILE", "id": 1},
                                                         "targetInput": {"type": "FILE", "id": True},
                                                         "config": {"continueOnFailure": "yes"}}]})
    locs = {tuple(e["loc"]) for e in exc.value.errors()}
    assert {("steps", 0, "stepOrder"), ("steps", 0, "targetInput", "id"),
            ("steps", 0, "config", "continueOnFailure")} <= locs


@pytest.mark.parametrize("query", ["SELECT 1", "with x as (select 1) select * from x", "  select a from t; ",
                                   "SELECT 'delete from t' AS s", "VALUES (1)", "SELECT a FROM t WHERE b <> ';'",
                                   "SELECT '--' AS dashes, 1 AS n", "SELECT 1 -- it's one\n", "select 1; -- done"])
def test_read_only_queries(query):
    assert data_sources.read_only_problem(query) is None


@pytest.mark.parametrize("query", ["DELETE FROM t", "select 1; select 2", "INSERT INTO t VALUES (1)",
                                   "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", "COPY t TO STDOUT",
                                   "select * from t for update; lock table t",
                                   "SELECT '--'; DELETE FROM t", "SELECT 1 /* ' */; DROP TABLE t"])
def test_writing_queries(query):
    assert data_sources.read_only_problem(query) is not None


@pytest.mark.parametrize("query", ["SELECT * FROM query_to_xml('select 1', true, true, '')",
                                   'SELECT pg_catalog."database_to_xml" (true, true, \'\') AS x',
                                   "select pg_ls_dir('.') as f", "SELECT * FROM dblink('host=x', 'select 1') AS t(a int)",
                                   "select lo_export(1, '/tmp/x') as x"])
def test_queries_calling_functions_that_read_beyond_the_plan(query):
    assert "must not call" in data_sources.read_only_problem(query)


@pytest.mark.parametrize("query", ["SELECT lo_amount, xml_to_text FROM t", "SELECT 'query_to_xml(' AS s"])
def test_names_that_only_look_like_those_functions(query):
    assert data_sources.read_only_problem(query) is None


def test_data_source_configs():
    assert data_sources.validate_config("POSTGRES", {"connection": {"env": "OMS_URL"}, "schema": "oms",
                                                     "table": "orders"}) == {
        "connection": {"env": "OMS_URL"}, "schema": "oms", "table": "orders"}
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:oms-AbCd"
    assert data_sources.validate_config("POSTGRES", {"connection": {"secretArn": arn}, "query": "SELECT 1"})[
        "connection"] == {"secretArn": arn}
    for bad, field in (({"table": "t", "query": "SELECT 1"}, "config"), ({}, "config"),
                       ({"schema": "s", "query": "SELECT 1"}, "config"),
                       ({"table": "t", "connection": {"url": "postgresql://u:p@h/db"}}, "config.connection"),
                       ({"table": "t", "password": "x"}, "config.password")):
        with pytest.raises(Invalid) as exc:
            data_sources.validate_config("POSTGRES", bad)
        assert any(i.field.startswith(field) for i in exc.value.issues), (bad, exc.value.issues)


def test_resolving_credentials_never_leaks(monkeypatch):
    monkeypatch.setenv("OMS_URL", "postgresql://u:secret@h/db")
    assert data_sources.resolve_dsn({"connection": {"env": "OMS_URL"}}) == "postgresql://u:secret@h/db"
    monkeypatch.delenv("OMS_URL")
    with pytest.raises(data_sources.CredentialError) as exc:
        data_sources.resolve_dsn({"connection": {"env": "OMS_URL"}})
    assert "OMS_URL" in str(exc.value)
    assert data_sources._scrub("could not connect to postgresql://u:secret@h/db") == \
        "could not connect to postgresql://u:***@h/db"


@pytest.mark.parametrize("config, expected", [
    ({"cron": 5}, [("triggerConfig.cron", "CRON_INVALID",
                    "must be a string of six fields, seconds first (e.g. '0 30 2 * * *'), got number")]),
    ({"cron": "0 30 2 * * *", "timezone": 5},
     [("triggerConfig.timezone", "TIMEZONE_INVALID", "5 is not an IANA time zone name")]),
    ({"cron": "0 30 2 * * *", "timezone": None},
     [("triggerConfig.timezone", "TIMEZONE_INVALID", "null is not an IANA time zone name")]),
    ({"cron": "0 30 2 * * *", "timezone": "Mars/Olympus"},
     [("triggerConfig.timezone", "TIMEZONE_INVALID", '"Mars/Olympus" is not an IANA time zone name (e.g. Europe/Berlin)')]),
    ({"cron": "\u0661 30 2 * * *"}, [("triggerConfig.cron", "CRON_INVALID",
                                      "the seconds field must be a single value 0-59 (at most one run a minute), "
                                      "got '\u0661'")]),
])
def test_schedule_problems_show_values_as_json_and_wrong_types_as_such(config, expected):
    """A cron that is not a string is not 'required'; values are quoted as JSON (null, "x"), not Python (None, 'x');
    the seconds field takes ASCII digits only (an Arabic-Indic one is not second 1)."""
    assert [(p.field, p.code, p.message) for p in trigger_problems("SCHEDULED", config, {1})] == expected


@pytest.mark.parametrize("kind, config, expected", [
    ("CDC_TABLE", {"table": ""}, ("config.table", "TOO_SHORT", "must be at least 1 character(s)")),
    ("CDC_TABLE", {"table": 5}, ("config.table", "INVALID_TYPE", "must be a string (got number)")),
    ("POSTGRES", {"query": ""}, ("config.query", "TOO_SHORT", "must be at least 1 character(s)")),
    ("POSTGRES", {"table": "x", "schema": 3}, ("config.schema", "INVALID_TYPE", "must be a string (got number)")),
    ("POSTGRES", {"query": "SELECT 1", "connection": {"env": 5}},
     ("config.connection.env", "INVALID_TYPE", "must be a string (got number)")),
])
def test_data_source_config_type_and_length_problems_in_the_api_words(kind, config, expected):
    """Wrong types and empty strings in a data source's config read as anywhere else in the API (INVALID_TYPE
    'must be a string (got number)', TOO_SHORT), not pydantic's 'Input should be a valid string'."""
    with pytest.raises(Invalid) as caught:
        data_sources.validate_config(kind, config)
    assert [(i.field, i.code, i.message) for i in caught.value.issues] == [expected]


def test_a_malformed_body_still_lists_its_trigger_and_step_order_problems():
    """platform §1: a 400 lists every problem. A blank name or a step without its inputs does not hide
    an invalid cron, an unknown time zone or a gap in the step orders."""
    from chalicelib.api.core import RequestInvalid, parse_body
    from chalicelib.streams.validation import StreamIn

    body = {"name": "", "triggerType": "SCHEDULED", "triggerConfig": {"cron": "0 30 2 * *", "timezone": "Mars/Olympus"},
            "steps": [{"stepOrder": 1, "name": "a"}, {"stepOrder": 3, "name": "b"}]}
    with pytest.raises(RequestInvalid) as caught:
        parse_body(StreamIn, json.dumps(body))
    got = [(p.field, p.code) for p in caught.value.problems]
    assert got[0] == ("name", "TOO_SHORT")
    assert {("steps[0].sourceInput", "REQUIRED"), ("steps[1].ruleSetId", "REQUIRED"),
            ("steps[1].stepOrder", "STEP_ORDER_INVALID"), ("triggerConfig.cron", "CRON_INVALID"),
            ("triggerConfig.timezone", "TIMEZONE_INVALID")} <= set(got)
    assert len(got) == len(set(got))
    # a step order that is not an integer: reported once (INVALID_TYPE), and the bind is not judged against it
    body = {"name": "n", "triggerType": "EVENT", "steps": [{"stepOrder": "1"}],
            "triggerConfig": {"event": "FILE_UPLOADED", "filenamePattern": "b_*.csv", "bind": {"stepOrder": 1, "input": "X"}}}
    with pytest.raises(RequestInvalid) as caught:
        parse_body(StreamIn, json.dumps(body))
    got = [(p.field, p.code) for p in caught.value.problems]
    assert ("steps[0].stepOrder", "INVALID_TYPE") in got and ("triggerConfig.bind.input", "INVALID_VALUE") in got
    assert not [f for f, _ in got if f == "triggerConfig.bind.stepOrder"]


def test_large_target_row_counts_read_as_the_contract_writes_them():
    """streams §4.3: "Step 2 target file has 1.2M rows"; a billion rows reads 2.5B, not 2500.0M."""
    from chalicelib.streams.validation import _rows

    assert [_rows(n) for n in (999_999, 1_200_000, 12_345_678, 2_500_000_000)] == ["999999", "1.2M", "12.3M", "2.5B"]
