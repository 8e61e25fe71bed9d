"""POST /api/v1/reconciliation/trigger against a real PostgreSQL (SQS sending recorded)."""
from __future__ import annotations

import json
import multiprocessing as mp
import re
from datetime import datetime, timedelta, timezone

import pytest

from tests.integration.api.conftest import CATALOG_TABLES, OWNER, body, insert_job
from tests.integration.api.contract_schemas import ERROR, TRIGGER_202, check, check_documented

PATH = "/api/v1/reconciliation/trigger"


def _parse_ts(s: str) -> datetime:
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def test_trigger_queues_one_job_per_table(api):
    r = api.post(PATH, {"tables": ["users", "orders", "products"], "validation_strategy": "CHECKSUM", "priority": "HIGH"})
    assert r.status_code == 202, r.body
    data = body(r)
    check(data, TRIGGER_202)
    check_documented(data, "TriggerResponse")
    assert data["status"] == "RUNNING"
    assert data["message"] == "Reconciliation jobs queued for 3 tables"
    assert len(data["job_ids"]) == 3 == len(set(data["job_ids"]))
    rows = api.sql("SELECT job_id::text AS id, table_name, job_type, validation_strategy, priority, status, requested_by"
                   " FROM recon.jobs ORDER BY table_name")
    assert {r["id"] for r in rows} == set(data["job_ids"])
    assert [r["table_name"] for r in rows] == ["orders", "products", "users"]
    assert {(r["job_type"], r["validation_strategy"], r["priority"], r["status"], r["requested_by"]) for r in rows} == {
        ("MANUAL_ONDEMAND", "CHECKSUM", 2, "RUNNING", OWNER)
    }
    # a worker is woken for every job
    assert sorted(b["job_id"] for _, b in api.sent) == sorted(data["job_ids"])
    eta = _parse_ts(data["estimated_completion"])
    assert eta > datetime.now(timezone.utc) - timedelta(minutes=1)


def test_single_table_message_is_singular_and_priority_defaults_to_normal(api):
    r = api.post(PATH, {"tables": ["users"], "validation_strategy": "ROW_COUNT"})
    assert r.status_code == 202, r.body
    assert body(r)["message"] == "Reconciliation job queued for 1 table"
    assert api.sql("SELECT priority, validation_strategy FROM recon.jobs") == [{"priority": 1, "validation_strategy": "ROW_COUNT"}]


def test_priority_sent_as_null_is_the_default(api):
    """`priority` is optional (default NORMAL): a client that serialises an unset optional field as
    null gets the default, not a 400."""
    r = api.post(PATH, {"tables": ["users"], "validation_strategy": "ROW_COUNT", "priority": None})
    assert r.status_code == 202, r.body
    assert api.sql("SELECT priority FROM recon.jobs") == [{"priority": 1}]
    r = api.post(PATH, {"tables": ["users"], "validation_strategy": None})
    assert r.status_code == 400 and body(r)["details"][0]["field"] == "validation_strategy", r.body


def test_empty_tables_means_every_catalog_table(api):
    r = api.post(PATH, {"tables": [], "validation_strategy": "SAMPLE", "priority": "LOW"})
    assert r.status_code == 202, r.body
    assert body(r)["message"] == "Reconciliation jobs queued for 3 tables"
    tables = {str(x["job_id"]): x["table_name"] for x in api.sql("SELECT job_id, table_name FROM recon.jobs")}
    assert [tables[j] for j in body(r)["job_ids"]] == CATALOG_TABLES  # job_ids in the catalog's order


def test_duplicate_tables_are_collapsed(api):
    r = api.post(PATH, {"tables": ["users", "users", "orders"], "validation_strategy": "TIMESTAMP_RANGE"})
    assert r.status_code == 202, r.body
    assert len(body(r)["job_ids"]) == 2
    assert api.sql("SELECT count(*) AS n FROM recon.jobs")[0]["n"] == 2


def test_unknown_table_is_invalid_table_and_nothing_is_queued(api):
    r = api.post(PATH, {"tables": ["users", "invalid_table"], "validation_strategy": "CHECKSUM"})
    assert r.status_code == 400
    assert body(r) == {
        "error": "INVALID_TABLE",
        "message": "Table 'invalid_table' does not exist or is not configured for replication",
        "valid_tables": CATALOG_TABLES,
    }
    assert api.sql("SELECT count(*) AS n FROM recon.jobs")[0]["n"] == 0
    assert api.sent == []


@pytest.mark.parametrize("name, shown", [
    ("", ""), (" users", " users"), ("USERS", "USERS"),
    # longer than any table: it was a VALIDATION_ERROR without valid_tables; the message cuts it at 128
    ("t" * 129, "t" * 128 + "…"), ("x" * 100_000, "x" * 128 + "…"),
])
def test_any_name_not_in_the_catalog_is_invalid_table(api, name, shown):
    """The contract's 400 for an invalid table name is INVALID_TABLE with valid_tables, for the empty
    name and a name of any length too (not a validation error of another shape)."""
    r = api.post(PATH, {"tables": ["users", name], "validation_strategy": "CHECKSUM"})
    assert r.status_code == 400, r.body
    assert body(r) == {
        "error": "INVALID_TABLE",
        "message": f"Table '{shown}' does not exist or is not configured for replication",
        "valid_tables": CATALOG_TABLES,
    }
    assert api.sql("SELECT count(*) AS n FROM recon.jobs")[0]["n"] == 0


@pytest.mark.parametrize(
    "raw, field, words",
    [
        (b"{not json", "body", "not valid JSON"),
        (b"", "body", "required"),
        (b'["users"]', "body", "JSON object"),
        ({"validation_strategy": "CHECKSUM"}, "tables", "required"),
        ({"tables": ["users"]}, "validation_strategy", "required"),
        ({"tables": "users", "validation_strategy": "CHECKSUM"}, "tables", "array"),
        ({"tables": [42], "validation_strategy": "CHECKSUM"}, "tables[0]", "string"),
        ({"tables": ["users"], "validation_strategy": "FAST"}, "validation_strategy", "ROW_COUNT, CHECKSUM"),
        ({"tables": ["users"], "validation_strategy": "CHECKSUM", "priority": "URGENT"}, "priority", "LOW, NORMAL"),
        ({"tables": ["users"], "validation_strategy": "CHECKSUM", "prio": "HIGH"}, "prio", "not a known field"),
    ],
)
def test_invalid_bodies_name_the_field_and_the_problem(api, raw, field, words):
    r = api.post(PATH, raw)
    assert r.status_code == 400, r.body
    data = body(r)
    check(data, ERROR)
    check_documented(data, "ValidationErrorBody")
    assert data["error"] == "VALIDATION_ERROR"
    assert words in data["message"]
    assert field in data["message"]
    assert any(d["field"] == field and words in d["problem"] for d in data["details"]), data
    assert api.sql("SELECT count(*) AS n FROM recon.jobs")[0]["n"] == 0


def test_disabled_service_answers_503_before_anything_else(api, settings_env):
    settings_env(reconciliation_enabled="false")
    r = api.post(PATH, {"tables": ["nope"], "validation_strategy": "BAD"})
    assert r.status_code == 503
    assert body(r) == {
        "error": "RECONCILIATION_DISABLED",
        "message": "Reconciliation service is disabled. Set RECONCILIATION_ENABLED=true in configuration",
    }
    # it did not use up the caller's rate limit either
    assert api.sql("SELECT count(*) AS n FROM recon.rate_limit_events")[0]["n"] == 0


def test_authentication_comes_before_the_disabled_check(api, settings_env):
    settings_env(reconciliation_enabled="false")
    r = api.post(PATH, {"tables": ["users"], "validation_strategy": "CHECKSUM"}, headers={"Content-Type": "application/json"})
    assert r.status_code == 401


def test_reads_keep_working_while_triggering_is_disabled(api, settings_env):
    settings_env(reconciliation_enabled="false")
    assert api.get("/api/v1/reconciliation/jobs").status_code == 200


def test_the_hourly_schedule_creates_no_job_while_the_service_is_disabled(api, settings_env):
    """RECONCILIATION_ENABLED=false stops every new reconciliation, the hourly ones too (the real
    scheduler handler, fed an EventBridge event); switched on again, the next tick creates them."""
    from chalicelib.workers.cdc import handle_schedule_event

    def tick(n: int) -> str:
        return json.dumps({"id": f"evt-{n}", "detail-type": "Scheduled Event", "source": "aws.events",
                           "time": f"2025-11-20T{n:02d}:00:00Z", "detail": {}})

    settings_env(reconciliation_enabled="false")
    assert handle_schedule_event(tick(13)) == []
    assert api.sql("SELECT count(*) AS n FROM recon.jobs")[0]["n"] == 0
    settings_env(reconciliation_enabled="true")
    handle_schedule_event(tick(14))
    rows = api.sql("SELECT table_name, job_type FROM recon.jobs ORDER BY created_at")
    assert [(r["table_name"], r["job_type"]) for r in rows] == [(t, "HOURLY_SCHEDULED") for t in CATALOG_TABLES]


def test_an_hourly_tick_ahead_of_its_hour_waits_for_it(api, monkeypatch):
    """LocalStack fires the hourly rule up to a minute early (hh:59:07): such a tick is sent back to its
    queue delayed until the hour and creates the jobs then, once (AWS's on-the-hour ticks never wait)."""
    from datetime import datetime, timezone

    from chalicelib.workers import cdc as worker

    event = {"id": "evt-early", "detail-type": "Scheduled Event", "source": "aws.events",
             "time": "2025-11-20T13:59:07Z", "detail": {}}
    held: list = []
    monkeypatch.setattr(worker.wakeups, "wake", lambda queue, bodies, delay_s=0: held.append((queue, bodies, delay_s)) or True)
    monkeypatch.setattr(worker, "_utcnow", lambda: datetime(2025, 11, 20, 13, 59, 7, 400000, tzinfo=timezone.utc))
    assert worker.handle_schedule_event(json.dumps(event)) == []
    assert held == [("recon-schedule", [event], 53)]
    assert api.sql("SELECT count(*) AS n FROM recon.jobs")[0]["n"] == 0
    # the held event comes back on the hour (and may come twice): the jobs are made once
    monkeypatch.setattr(worker, "_utcnow", lambda: datetime(2025, 11, 20, 14, 0, 0, 10000, tzinfo=timezone.utc))
    worker.handle_schedule_event(json.dumps(event))
    worker.handle_schedule_event(json.dumps(event))
    rows = api.sql("SELECT table_name, job_type FROM recon.jobs ORDER BY created_at")
    assert [(r["table_name"], r["job_type"]) for r in rows] == [(t, "HOURLY_SCHEDULED") for t in CATALOG_TABLES]
    assert [h for h in held if h[0] == "recon-schedule"] == held[:1]   # held once; then the jobs' wake-ups
    assert {h[0] for h in held[1:]} == {"recon-jobs"}


@pytest.mark.parametrize("stamp, now, wait", [
    ("2025-11-20T14:00:00Z", "2025-11-20T14:00:01+00:00", 0),      # AWS: on the hour
    ("2025-11-20T14:00:03Z", "2025-11-20T13:59:59+00:00", 0),      # after the hour, whatever the clock
    ("2025-11-20T13:58:59Z", "2025-11-20T13:58:59+00:00", 0),      # more than a minute ahead: not an hourly tick
    ("2025-11-20T13:59:30Z", "2025-11-20T13:59:30.2+00:00", 30),
    ("2025-11-20T13:59:30Z", "2025-11-20T14:00:00.5+00:00", 0),    # back after the hour
    ("2025-11-20T14:00:00Z", "2025-11-20T13:59:07+00:00", 53),     # stamped with its hour, delivered early
    ("2025-11-20T18:00:00Z", "2025-11-20T13:59:07+00:00", 0),      # hours ahead: a wrong clock, not an early tick
    ("not a time", "2025-11-20T13:59:30+00:00", 0)])
def test_early_tick_wait(stamp, now, wait):
    from datetime import datetime

    from chalicelib.workers.cdc import early_tick_wait

    assert early_tick_wait({"time": stamp}, datetime.fromisoformat(now)) == wait


def test_rejected_triggers_do_not_count_against_the_rate_limit(api):
    for _ in range(10):
        assert api.post(PATH, b"{broken").status_code == 400
        assert api.post(PATH, {"tables": ["nope"], "validation_strategy": "CHECKSUM"}).status_code == 400
    for _ in range(10):
        assert api.post(PATH, {"tables": ["users"], "validation_strategy": "CHECKSUM"}).status_code == 202
    assert api.post(PATH, {"tables": ["users"], "validation_strategy": "CHECKSUM"}).status_code == 429
    assert api.post(PATH, b"{broken").status_code == 400  # still told what is wrong at the limit


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer recon_deadbeef_nope", "Basic abc", "recon_x_y"])
def test_missing_or_invalid_key_is_401(api, header):
    headers = {"Content-Type": "application/json"}
    if header is not None:
        headers["Authorization"] = header
    r = api.post(PATH, {"tables": ["users"], "validation_strategy": "CHECKSUM"}, headers=headers)
    assert r.status_code == 401
    assert body(r) == {"error": "UNAUTHORIZED", "message": "Invalid or missing API key"}


def test_eleventh_trigger_in_a_minute_is_429_with_retry_after(api):
    for i in range(10):
        r = api.post(PATH, {"tables": ["users"], "validation_strategy": "ROW_COUNT"})
        assert r.status_code == 202, (i, r.body)
    r = api.post(PATH, {"tables": ["users"], "validation_strategy": "ROW_COUNT"})
    assert r.status_code == 429
    data = body(r)
    check_documented(data, "RateLimitError")
    assert data["error"] == "RATE_LIMIT_EXCEEDED"
    assert isinstance(data["retry_after"], int) and 1 <= data["retry_after"] <= 60
    assert r.headers["Retry-After"] == str(data["retry_after"])
    assert data["message"] == f"Rate limit exceeded. Try again in {data['retry_after']} seconds."
    assert api.sql("SELECT count(*) AS n FROM recon.jobs")[0]["n"] == 10


def test_rate_limit_is_per_key(api):
    from chalicelib.api.auth import create_key

    for _ in range(10):
        assert api.post(PATH, {"tables": ["users"], "validation_strategy": "ROW_COUNT"}).status_code == 202
    other, _ = create_key("bob@example.com")
    r = api.post(PATH, {"tables": ["users"], "validation_strategy": "ROW_COUNT"},
                 headers={"Authorization": f"Bearer {other}", "Content-Type": "application/json"})
    assert r.status_code == 202
    assert api.sql("SELECT requested_by FROM recon.jobs ORDER BY created_at DESC LIMIT 1")[0]["requested_by"] == "bob@example.com"


# ---------------------------------------------------------------------------------------- concurrency


def _trigger_in_child(project_dir, key, barrier, results):
    from chalice.test import Client

    import app as application

    client = Client(application.app, project_dir=project_dir)
    barrier.wait(timeout=60)
    r = client.http.post(PATH, headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
                         body=json.dumps({"tables": ["users"], "validation_strategy": "ROW_COUNT"}))
    results.put((r.status_code, dict(r.headers).get("Retry-After")))


def test_rate_limit_is_exact_under_concurrency(api, tmp_path):
    """15 simultaneous triggers from separate processes (as separate Lambdas would be): exactly 10 pass."""
    from chalicelib.db import pool

    pool.close_pool()  # nothing of the parent's pool is inherited by the children
    ctx = mp.get_context("fork")
    n = 15
    barrier = ctx.Barrier(n)
    results = ctx.Queue()
    project = tmp_path / "chalice-project"
    procs = [ctx.Process(target=_trigger_in_child, args=(str(project), api.key, barrier, results)) for _ in range(n)]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=120) for _ in range(n)]
    for p in procs:
        p.join(timeout=60)
    codes = sorted(code for code, _ in outcomes)
    assert codes == [202] * 10 + [429] * 5, codes
    assert all(re.fullmatch(r"\d+", ra) for code, ra in outcomes if code == 429)
    assert api.sql("SELECT count(*) AS n FROM recon.jobs")[0]["n"] == 10


def test_a_non_json_content_type_gets_a_contract_shaped_400(api):
    r = api.post(PATH, b"<tables/>", headers={**api.headers, "Content-Type": "application/xml"})
    assert r.status_code == 400
    assert body(r)["error"] == "VALIDATION_ERROR"
    assert body(r)["details"][0]["field"] == "body"


def _eta_seconds(api, table: str, strategy: str, priority: str = "NORMAL") -> float:
    asked = datetime.now(timezone.utc)
    r = api.post(PATH, {"tables": [table], "validation_strategy": strategy, "priority": priority})
    assert r.status_code == 202, r.body
    return (_parse_ts(body(r)["estimated_completion"]) - asked).total_seconds()


def _history(api, table: str, strategy: str, seconds: float, rows: int = 1000, n: int = 5) -> None:
    now = datetime.now(timezone.utc)
    for i in range(n):
        start = now - timedelta(hours=1, minutes=i)
        insert_job(api, table=table, strategy=strategy, created_at=start, started_at=start,
                   completed_at=start + timedelta(seconds=seconds), cassandra=rows, postgres=rows)


def test_estimated_completion_comes_from_recent_jobs_of_the_same_strategy(api):
    """A ROW_COUNT trigger is estimated from recent ROW_COUNT jobs of the table (seconds), not from its
    CHECKSUM jobs (minutes); a table and strategy with no history at all fall back to 5 minutes."""
    _history(api, "users", "CHECKSUM", 600)
    _history(api, "users", "ROW_COUNT", 2)
    assert _eta_seconds(api, "users", "ROW_COUNT") <= 30
    assert 240 <= _eta_seconds(api, "products", "SAMPLE") <= 330


def test_a_strategy_new_to_a_table_is_estimated_from_its_rate_on_other_tables(api):
    """A CHECKSUM never run on `users` (1,000 rows): orders' CHECKSUMs take 20 s for 10,000 rows, so
    about 2 s, not the 5-minute default. A SAMPLE reads a fixed-size sample: as long as elsewhere."""
    _history(api, "orders", "CHECKSUM", 20, rows=10_000)
    _history(api, "users", "ROW_COUNT", 1, rows=1_000)
    assert _eta_seconds(api, "users", "CHECKSUM") <= 15
    _history(api, "orders", "SAMPLE", 12)
    assert 8 <= _eta_seconds(api, "users", "SAMPLE") <= 25


def test_a_strategy_never_run_anywhere_is_estimated_from_the_table_s_other_jobs(api):
    """ROW_COUNT never ran on any table; `products` CHECKSUMs take 8 s: its ROW_COUNT is estimated
    from those (a job on the same data and engines), not at 5 minutes."""
    _history(api, "products", "CHECKSUM", 8)
    assert _eta_seconds(api, "products", "ROW_COUNT") <= 20
    assert 240 <= _eta_seconds(api, "orders", "ROW_COUNT") <= 330      # nothing known of orders


def test_a_high_priority_job_is_not_estimated_behind_the_lower_priority_queue(api):
    """HIGH jumps to the front of the queue (contract): eight LOW jobs waiting or running do not delay it,
    so its estimate is its own duration, not scaled by them (it was 4.5 times it); a LOW trigger waits
    behind all of them and is estimated so."""
    _history(api, "users", "CHECKSUM", 60)
    for _ in range(8):
        insert_job(api, table="orders", status="RUNNING", priority=0, created_at=datetime.now(timezone.utc))
    assert 50 <= _eta_seconds(api, "users", "CHECKSUM", "HIGH") <= 90
    assert _eta_seconds(api, "users", "CHECKSUM", "LOW") >= 240


def test_estimated_completion_is_after_the_request_even_for_subsecond_jobs(api):
    """Jobs that take a fraction of a second still get an estimate after the moment they were asked
    for: the timestamp is shown in whole seconds, so it is rounded up, never down into the past."""
    now = datetime.now(timezone.utc)
    for i in range(5):
        start = now - timedelta(minutes=10 + i)
        insert_job(api, table="orders", strategy="ROW_COUNT", created_at=start, started_at=start,
                   completed_at=start + timedelta(milliseconds=200))
    for _ in range(3):
        asked = datetime.now(timezone.utc)
        r = api.post(PATH, {"tables": ["orders"], "validation_strategy": "ROW_COUNT"})
        assert r.status_code == 202, r.body
        assert _parse_ts(body(r)["estimated_completion"]) > asked, (body(r), asked)
