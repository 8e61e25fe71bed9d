"""GET /api/v1/reconciliation/jobs and /jobs/{job_id} over rows inserted directly in PostgreSQL."""
from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest

from tests.integration.api.conftest import CATALOG_TABLES, T0, body, insert_job, insert_mismatch
from tests.integration.api.contract_schemas import ERROR, JOB_DETAIL_200, JOBS_200, check, check_documented

PATH = "/api/v1/reconciliation/jobs"


def ids(resp) -> list[str]:
    return [j["job_id"] for j in body(resp)["jobs"]]


def test_job_fields_are_the_contracts(api):
    jid = insert_job(api, table="users", cassandra=1_000_000, postgres=999_950, mismatch_count=50)
    r = api.get(PATH)
    assert r.status_code == 200
    data = body(r)
    check(data, JOBS_200)
    check_documented(data, "JobsPage")
    assert data["jobs"] == [{
        "job_id": jid,
        "table_name": "users",
        "job_type": "MANUAL_ONDEMAND",
        "validation_strategy": "CHECKSUM",
        "started_at": "2025-11-20T12:00:05Z",
        "completed_at": "2025-11-20T12:02:20Z",
        "duration_seconds": 135,
        "status": "COMPLETED",
        "cassandra_row_count": 1_000_000,
        "postgres_row_count": 999_950,
        "mismatch_count": 50,
        "drift_percentage": 0.005,
        "alert_fired": False,
    }]
    assert data["pagination"] == {"page": 1, "page_size": 50, "total_pages": 1, "total_items": 1}


def test_running_job_has_null_duration_and_counts(api):
    insert_job(api, status="RUNNING")
    job = body(api.get(PATH))["jobs"][0]
    assert (job["status"], job["completed_at"], job["duration_seconds"], job["mismatch_count"]) == ("RUNNING", None, None, None)


def test_newest_first_with_job_id_breaking_ties_and_pages_cover_everything_once(api):
    same_time = [insert_job(api, created_at=T0) for _ in range(5)]
    older = insert_job(api, created_at=T0 - timedelta(hours=1))
    newer = insert_job(api, created_at=T0 + timedelta(hours=1))
    expected = [newer] + sorted(same_time, reverse=True) + [older]
    seen = []
    for page in (1, 2, 3):
        r = api.get(f"{PATH}?page={page}&page_size=3")
        assert r.status_code == 200
        assert body(r)["pagination"] == {"page": page, "page_size": 3, "total_pages": 3, "total_items": 7}
        seen += ids(r)
    assert seen == expected
    # asking twice gives the same order
    assert ids(api.get(f"{PATH}?page_size=100")) == expected


def test_page_after_the_last_is_empty_with_totals(api):
    for _ in range(3):
        insert_job(api)
    data = body(api.get(f"{PATH}?page=5&page_size=2"))
    assert data["jobs"] == []
    assert data["pagination"] == {"page": 5, "page_size": 2, "total_pages": 2, "total_items": 3}


def test_empty_history(api):
    assert body(api.get(PATH)) == {"jobs": [], "pagination": {"page": 1, "page_size": 50, "total_pages": 0, "total_items": 0}}


def test_filters_combine(api):
    want = insert_job(api, table="users", status="COMPLETED", job_type="HOURLY_SCHEDULED", created_at=T0)
    insert_job(api, table="orders", status="COMPLETED", job_type="HOURLY_SCHEDULED", created_at=T0)
    insert_job(api, table="users", status="FAILED", job_type="HOURLY_SCHEDULED", created_at=T0)
    insert_job(api, table="users", status="COMPLETED", job_type="MANUAL_ONDEMAND", created_at=T0)
    insert_job(api, table="users", status="COMPLETED", job_type="HOURLY_SCHEDULED", created_at=T0 - timedelta(days=2))
    insert_job(api, table="users", status="COMPLETED", job_type="HOURLY_SCHEDULED", created_at=T0 + timedelta(days=2))
    r = api.get(f"{PATH}?table=users&status=COMPLETED&job_type=HOURLY_SCHEDULED"
                "&from_date=2025-11-19T00:00:00Z&to_date=2025-11-21T00:00:00Z&page=1&page_size=20")
    assert r.status_code == 200, r.body
    assert ids(r) == [want]
    assert body(r)["pagination"]["total_items"] == 1
    # each filter alone
    assert len(ids(api.get(f"{PATH}?table=users"))) == 5
    assert len(ids(api.get(f"{PATH}?status=FAILED"))) == 1
    assert len(ids(api.get(f"{PATH}?job_type=MANUAL_ONDEMAND"))) == 1
    assert len(ids(api.get(f"{PATH}?from_date=2025-11-21"))) == 1


def test_date_bounds_are_inclusive(api):
    at = T0.replace(microsecond=400_000)  # 12:00:00.4, the started_at the listing shows
    jid = insert_job(api, created_at=at - timedelta(seconds=1), started_at=at)
    for q in ("from_date=2025-11-20T12:00:00Z&to_date=2025-11-20T12:00:00Z",   # the whole second
              "from_date=2025-11-20&to_date=2025-11-20",                         # the whole day
              "to_date=2025-11-20T13:00:00%2B01:00",                             # with an offset
              "from_date=2025-11-20T12:00:00.400Z&to_date=2025-11-20T12:00:00.400Z"):
        assert ids(api.get(f"{PATH}?{q}")) == [jid], q
    for q in ("to_date=2025-11-19", "from_date=2025-11-20T12:00:01Z", "to_date=2025-11-20T12:00:00.399Z"):
        assert ids(api.get(f"{PATH}?{q}")) == [], q


def test_a_bound_given_to_the_hour_or_minute_covers_that_hour_or_minute(api):
    """"Inclusive at the precision given" for every ISO 8601 form: an hour, a minute, a basic-format
    date, RFC 3339's lower-case t and z."""
    jid = insert_job(api, created_at=T0 + timedelta(minutes=41), started_at=T0 + timedelta(minutes=41, seconds=30))
    for q in ("from_date=2025-11-20T12&to_date=2025-11-20T12",          # 12:00:00 .. 12:59:59.999999
              "from_date=2025-11-20T12:41Z&to_date=2025-11-20T12:41Z",  # the whole minute
              "from_date=20251120&to_date=20251120",                    # basic format: the whole day
              "to_date=2025-11-20t12:41:30z"):
        assert ids(api.get(f"{PATH}?{q}")) == [jid], q
    for q in ("to_date=2025-11-20T11", "from_date=2025-11-20T13", "to_date=2025-11-20T12:40Z"):
        assert ids(api.get(f"{PATH}?{q}")) == [], q


def test_queued_jobs_are_found_by_date_too(api):
    jid = insert_job(api, status="RUNNING", started_at=None, created_at=T0)
    assert ids(api.get(f"{PATH}?from_date=2025-11-20&status=RUNNING")) == [jid]


def test_a_queued_job_is_running_since_it_was_requested(api):
    """The trigger reports a job RUNNING at once, so a job waiting for a worker shows started_at = the
    time it was requested (never null), then the moment its work began; duration stays null until done."""
    jid = insert_job(api, status="RUNNING", started_at=None, created_at=T0.replace(microsecond=700_000))
    listed = body(api.get(PATH))["jobs"][0]
    detail = body(api.get(f"{PATH}/{jid}"))
    for job in (listed, detail):
        assert (job["status"], job["started_at"], job["completed_at"], job["duration_seconds"]) == (
            "RUNNING", "2025-11-20T12:00:00Z", None, None)
    api.sql("UPDATE recon.jobs SET started_at = %s WHERE job_id = %s", (T0 + timedelta(seconds=3), jid))
    assert body(api.get(f"{PATH}/{jid}"))["started_at"] == "2025-11-20T12:00:03Z"


def test_a_job_failed_while_queued_keeps_the_started_at_it_showed(api):
    """Past its deadline without a worker, a job fails with the reason; its started_at stays the one it
    showed while waiting (a value the client saw does not move) and its duration counts from it."""
    from datetime import datetime

    from chalicelib.cdc import jobs

    jid = insert_job(api, status="RUNNING", started_at=None, created_at=T0)
    api.sql("UPDATE recon.jobs SET phase = 'QUEUED', segment_count = NULL, segments_done = 0 WHERE job_id = %s", (jid,))
    assert body(api.get(f"{PATH}/{jid}"))["started_at"] == "2025-11-20T12:00:00Z"
    assert jobs.sweep()["failed"] == 1
    job = body(api.get(f"{PATH}/{jid}"))
    assert (job["status"], job["started_at"]) == ("FAILED", "2025-11-20T12:00:00Z"), job
    assert job["validation_errors"][0].startswith("deadline exceeded: still QUEUED after "), job
    done = datetime.fromisoformat(job["completed_at"].replace("Z", "+00:00"))
    assert job["duration_seconds"] == int((done - T0).total_seconds())


def test_a_job_waiting_out_a_fault_says_so_and_its_deadline_names_it(api):
    """A transient fault noted while a job is planned shows in the RUNNING job's validation_errors (the
    first time it was met), is replaced by the latest fault, and names the cause when the deadline fails
    the job; a COMPLETED job's own validation_errors stay null whatever was noted before."""
    from chalicelib.cdc import jobs

    jid = insert_job(api, status="RUNNING", started_at=None, created_at=T0)
    api.sql("UPDATE recon.jobs SET phase = 'QUEUED', segment_count = NULL, segments_done = 0 WHERE job_id = %s", (jid,))
    assert body(api.get(f"{PATH}/{jid}"))["validation_errors"] is None
    jobs.note_retry(jid, "planning", ConnectionRefusedError(111, "Connection refused"))
    (first,) = body(api.get(f"{PATH}/{jid}"))["validation_errors"]
    assert re.fullmatch(r"retrying since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ: planning: "
                        r"ConnectionRefusedError: \[Errno 111\] Connection refused", first), first
    jobs.note_retry(jid, "planning", TimeoutError("timed out"))
    (second,) = body(api.get(f"{PATH}/{jid}"))["validation_errors"]
    assert second.split(": ", 1)[0] == first.split(": ", 1)[0] and second.endswith("planning: TimeoutError: timed out")
    assert jobs.sweep()["failed"] == 1
    job = body(api.get(f"{PATH}/{jid}"))
    assert job["status"] == "FAILED" and job["validation_errors"][0].startswith("deadline exceeded: still QUEUED after ")
    assert job["validation_errors"][0].endswith("; last error (planning: TimeoutError: timed out)"), job
    done = insert_job(api, status="COMPLETED")
    api.sql("UPDATE recon.jobs SET retry_error = 'segment 1: Cassandra unreachable: x', retry_since = now()"
            " WHERE job_id = %s", (done,))
    assert body(api.get(f"{PATH}/{done}"))["validation_errors"] is None


@pytest.mark.parametrize(
    "query, field",
    [
        ("page=0", "page"),
        ("page=abc", "page"),
        ("page_size=0", "page_size"),
        ("page_size=101", "page_size"),
        ("status=DONE", "status"),
        ("job_type=WEEKLY", "job_type"),
        ("from_date=last-week", "from_date"),
        ("to_date=2025-02-30", "to_date"),
        ("from_date=2025-11-21&to_date=2025-11-20", "from_date"),
        ("tabel=users", "tabel"),
        ("status=FAILED&status=COMPLETED", "status"),
    ],
)
def test_bad_parameters_are_400_naming_the_parameter(api, query, field):
    r = api.get(f"{PATH}?{query}")
    assert r.status_code == 400, r.body
    data = body(r)
    check(data, ERROR)
    assert data["error"] == "VALIDATION_ERROR"
    assert f"'{field}'" in data["message"]
    assert data["details"][0]["field"] == field


@pytest.mark.parametrize("query, fields", [
    ("page=0&page_size=500&status=X&foo=1", ["foo", "page", "page_size", "status"]),
    ("from_date=2026-12-04&to_date=2026-12-03&status=X", ["status", "from_date"]),
    ("page=1&page=2&page_size=500", ["page", "page_size"]),
    ("from_date=nope&to_date=2026-12-03&job_type=X", ["from_date", "job_type"]),
])
def test_every_problem_of_a_query_is_listed(api, query, fields):
    """One answer names every bad parameter: an unknown or repeated one does not hide the others, and the
    date range's order is checked beside a bad filter."""
    r = api.get(f"{PATH}?{query}")
    assert r.status_code == 400, r.body
    data = body(r)
    check(data, ERROR)
    assert sorted(d["field"] for d in data["details"]) == sorted(fields), data["details"]


def test_a_huge_page_number_is_out_of_range_not_a_non_integer(api):
    r = api.get(f"{PATH}?page=99999999999999999999")
    assert r.status_code == 400, r.body
    problem = body(r)["details"][0]
    assert problem == {"field": "page", "problem": "must be <= 92233720368547758 (got 99999999999999999999)"}, problem


@pytest.mark.parametrize("path", [PATH, "/api/v1/reconciliation/mismatches"])
@pytest.mark.parametrize("page", [1_000_001, 99_999_999_999, (2**63 - 1) // 100])
def test_any_page_past_the_last_is_an_empty_page(api, path, page):
    """The contract bounds page_size (max 100), not page: a page however far past the last is a 200 with no
    items and the real totals (page 1000001 was a 400)."""
    insert_job(api)
    r = api.get(f"{path}?page={page}&page_size=100")
    assert r.status_code == 200, r.body
    items = body(r)["jobs" if path == PATH else "mismatches"]
    assert items == [] and body(r)["pagination"]["page"] == page, body(r)
    assert body(r)["pagination"]["total_items"] == (1 if path == PATH else 0)


def test_unknown_table_filter_is_invalid_table(api):
    r = api.get(f"{PATH}?table=nope")
    assert r.status_code == 400
    assert body(r) == {
        "error": "INVALID_TABLE",
        "message": "Table 'nope' does not exist or is not configured for replication",
        "valid_tables": CATALOG_TABLES,
    }


def test_empty_table_filter_is_invalid_table(api):
    insert_job(api, table="users")
    r = api.get(f"{PATH}?table=")
    assert r.status_code == 400, r.body
    assert body(r) == {
        "error": "INVALID_TABLE",
        "message": "Table '' does not exist or is not configured for replication",
        "valid_tables": CATALOG_TABLES,
    }


def test_a_table_filter_longer_than_any_table_is_invalid_table(api):
    # it was a VALIDATION_ERROR from 129 characters on, without valid_tables
    r = api.get(f"{PATH}?table={'u' * 5000}")
    assert r.status_code == 400, r.body
    assert body(r) == {
        "error": "INVALID_TABLE",
        "message": f"Table '{'u' * 128}…' does not exist or is not configured for replication",
        "valid_tables": CATALOG_TABLES,
    }


def test_listing_requires_a_key(api):
    r = api.get(PATH, headers={})
    assert r.status_code == 401
    assert body(r)["error"] == "UNAUTHORIZED"


# -------------------------------------------------------------------------------------------- detail


def test_job_detail_shape_summary_and_sample(api, settings_env):
    settings_env(sample_mismatches_in_job=3)
    jid = insert_job(api, mismatch_count=4, priority=2, transient_count=2, auto_resolved_count=1,
                     segment_count=8, segments_done=8)
    other = insert_job(api, table="orders")
    m = [
        insert_mismatch(api, jid, pk="u1", mtype="MISSING_IN_POSTGRES", detected_at=T0 + timedelta(seconds=1)),
        insert_mismatch(api, jid, pk="u2", mtype="DATA_MISMATCH", detected_at=T0 + timedelta(seconds=2)),
        insert_mismatch(api, jid, pk="u3", mtype="MISSING_IN_POSTGRES", detected_at=T0 + timedelta(seconds=3)),
        insert_mismatch(api, jid, pk="u4", mtype="MISSING_IN_POSTGRES", detected_at=T0 + timedelta(seconds=4)),
    ]
    insert_mismatch(api, other, table="orders", pk="o1", mtype="MISSING_IN_CASSANDRA")
    r = api.get(f"{PATH}/{jid}")
    assert r.status_code == 200, r.body
    data = body(r)
    check(data, JOB_DETAIL_200)
    check_documented(data, "JobDetail")
    assert data["job_id"] == jid
    assert data["mismatches_summary"] == {"MISSING_IN_POSTGRES": 3, "MISSING_IN_CASSANDRA": 0, "DATA_MISMATCH": 1}
    assert [s["mismatch_id"] for s in data["sample_mismatches"]] == m[:3]
    missing, differing = data["sample_mismatches"][0], data["sample_mismatches"][1]
    assert "cassandra_checksum" not in missing and "postgres_checksum" not in missing
    assert (differing["cassandra_checksum"], differing["postgres_checksum"]) == ("a1b2c3d4e5f6", "f6e5d4c3b2a1")
    assert differing["detected_at"] == "2025-11-20T12:00:02Z"
    assert data["validation_errors"] is None
    assert (data["priority"], data["transient_count"], data["auto_resolved_count"]) == ("HIGH", 2, 1)
    assert data["progress"] == {"segments_total": 8, "segments_done": 8}


def test_failed_job_lists_its_validation_errors(api):
    jid = insert_job(api, status="FAILED", validation_errors=["deadline exceeded after 3600 s"], cassandra=None)
    data = body(api.get(f"{PATH}/{jid}"))
    assert data["status"] == "FAILED"
    assert data["validation_errors"] == ["deadline exceeded after 3600 s"]
    assert data["mismatches_summary"] == {"MISSING_IN_POSTGRES": 0, "MISSING_IN_CASSANDRA": 0, "DATA_MISMATCH": 0}
    assert data["sample_mismatches"] == []


def test_unknown_job_is_404_with_the_contract_message(api):
    jid = str(uuid.uuid4())
    r = api.get(f"{PATH}/{jid}")
    assert r.status_code == 404
    assert body(r) == {"error": "JOB_NOT_FOUND", "message": f"Reconciliation job with ID '{jid}' not found"}


@pytest.mark.parametrize("bad", ["123", "not-a-uuid", "550e8400-e29b-41d4-a716-44665544000g"])
def test_malformed_job_id_is_400_naming_job_id(api, bad):
    r = api.get(f"{PATH}/{bad}")
    assert r.status_code == 400
    data = body(r)
    assert data["error"] == "VALIDATION_ERROR"
    assert "'job_id'" in data["message"] and "UUID" in data["message"]


def test_a_job_id_with_percent_encoded_characters_is_the_same_id(api):
    """'%2D' is '-' (RFC 3986 6.2.2.2: percent-encoded unreserved characters are equivalent); API Gateway
    hands the path parameter on still encoded, and the id was refused as 'must be a UUID, got' the very
    UUID it quoted (decoded)."""
    jid = insert_job(api, table="users")
    r = api.get(f"{PATH}/{jid.replace('-', '%2D', 2).replace('-', '%2d')}")
    assert r.status_code == 200, body(r)
    assert body(r)["job_id"] == jid


def test_catalog_tables_are_listed(api):
    from tests.integration.api.conftest import CATALOG_TABLES
    from tests.integration.api.contract_schemas import check_against_document

    r = api.get("/api/v1/reconciliation/tables")
    assert r.status_code == 200
    assert body(r) == {"tables": CATALOG_TABLES}
    check_against_document(body(r), "/api/v1/reconciliation/tables", "get", 200)
    assert api.get("/api/v1/reconciliation/tables", headers={}).status_code == 401


CONTRACT_JOB_DETAIL = """{
  "job_id": "550e8400-e29b-41d4-a716-446655440000",
  "table_name": "users",
  "job_type": "MANUAL_ONDEMAND",
  "validation_strategy": "CHECKSUM",
  "started_at": "2025-11-20T14:00:00Z",
  "completed_at": "2025-11-20T14:02:15Z",
  "duration_seconds": 135,
  "status": "COMPLETED",
  "cassandra_row_count": 1000000,
  "postgres_row_count": 999950,
  "mismatch_count": 50,
  "drift_percentage": 0.005,
  "validation_errors": null,
  "alert_fired": false,
  "mismatches_summary": {
    "MISSING_IN_POSTGRES": 30,
    "MISSING_IN_CASSANDRA": 10,
    "DATA_MISMATCH": 10
  },
  "sample_mismatches": [
    {
      "mismatch_id": "660e8400-e29b-41d4-a716-446655440000",
      "primary_key_value": "user-12345",
      "mismatch_type": "MISSING_IN_POSTGRES",
      "detected_at": "2025-11-20T14:01:23Z",
      "resolution_status": "PENDING"
    },
    {
      "mismatch_id": "660e8400-e29b-41d4-a716-446655440001",
      "primary_key_value": "user-67890",
      "mismatch_type": "DATA_MISMATCH",
      "cassandra_checksum": "a1b2c3d4e5f6",
      "postgres_checksum": "f6e5d4c3b2a1",
      "detected_at": "2025-11-20T14:01:45Z",
      "resolution_status": "PENDING"
    }
  ]
}"""


def test_job_detail_is_the_contracts_example_byte_for_byte(api, settings_env):
    """The contract's job, stored as it describes it, is answered with the contract's bytes (compact
    JSON, its field order: validation_errors before alert_fired), the additive fields after them."""
    import json

    settings_env(sample_mismatches_in_job=2)
    start = T0.replace(hour=14)
    jid = insert_job(api, job_id="550e8400-e29b-41d4-a716-446655440000", created_at=start - timedelta(seconds=1),
                     started_at=start, completed_at=start + timedelta(seconds=135), cassandra=1_000_000,
                     postgres=999_950, mismatch_count=50)
    insert_mismatch(api, jid, pk="user-12345", mtype="MISSING_IN_POSTGRES", detected_at=start + timedelta(seconds=83),
                    mismatch_id="660e8400-e29b-41d4-a716-446655440000")
    insert_mismatch(api, jid, pk="user-67890", mtype="DATA_MISMATCH", detected_at=start + timedelta(seconds=105),
                    mismatch_id="660e8400-e29b-41d4-a716-446655440001")
    for mtype, n in (("MISSING_IN_POSTGRES", 29), ("MISSING_IN_CASSANDRA", 10), ("DATA_MISMATCH", 9)):
        for i in range(n):
            insert_mismatch(api, jid, pk=f"{mtype}-{i}", mtype=mtype, detected_at=start + timedelta(seconds=110))
    raw = api.get(f"{PATH}/{jid}").body.decode()
    expected = json.dumps(json.loads(CONTRACT_JOB_DETAIL), separators=(",", ":"))
    assert raw.startswith(expected[:-1] + ","), raw
