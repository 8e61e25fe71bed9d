"""Request and query models: the contract's enums, strictness, and how dates are read."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from chalicelib.api import models
from chalicelib.api.models import JobsQuery, MismatchesQuery, ResolveRequest, TriggerRequest


def errors(exc: ValidationError) -> dict[str, str]:
    return {".".join(str(p) for p in e["loc"]): e["type"] for e in exc.errors()}


def test_trigger_minimal_body_defaults_priority_to_normal():
    req = TriggerRequest.model_validate_json('{"tables": ["users"], "validation_strategy": "CHECKSUM"}')
    assert req.priority.value == "NORMAL"
    assert req.validation_strategy.value == "CHECKSUM"


@pytest.mark.parametrize("strategy", ["ROW_COUNT", "CHECKSUM", "TIMESTAMP_RANGE", "SAMPLE"])
@pytest.mark.parametrize("priority", ["LOW", "NORMAL", "HIGH"])
def test_trigger_accepts_every_contract_enum_value(strategy, priority):
    req = TriggerRequest.model_validate_json(
        f'{{"tables": [], "validation_strategy": "{strategy}", "priority": "{priority}"}}'
    )
    assert (req.validation_strategy.value, req.priority.value) == (strategy, priority)


def test_trigger_collapses_duplicates_keeping_first_order():
    req = TriggerRequest.model_validate_json('{"tables": ["orders", "users", "orders"], "validation_strategy": "SAMPLE"}')
    assert req.distinct_tables() == ["orders", "users"]


@pytest.mark.parametrize(
    "raw, field, kind",
    [
        ('{"validation_strategy": "CHECKSUM"}', "tables", "missing"),
        ('{"tables": ["users"]}', "validation_strategy", "missing"),
        ('{"tables": "users", "validation_strategy": "CHECKSUM"}', "tables", "list_type"),
        ('{"tables": [1], "validation_strategy": "CHECKSUM"}', "tables.0", "string_type"),
        ('{"tables": [], "validation_strategy": "checksum"}', "validation_strategy", "enum"),
        ('{"tables": [], "validation_strategy": "CHECKSUM", "priority": "URGENT"}', "priority", "enum"),
        ('{"tables": [], "validation_strategy": "CHECKSUM", "priority": 2}', "priority", "enum"),
        ('{"tables": [], "validation_strategy": "CHECKSUM", "tabels": []}', "tabels", "extra_forbidden"),
    ],
)
def test_trigger_rejects_with_the_field_named(raw, field, kind):
    with pytest.raises(ValidationError) as exc:
        TriggerRequest.model_validate_json(raw)
    assert errors(exc.value).get(field) == kind, errors(exc.value)


def test_resolve_notes_limit_is_1000_characters():
    ok = ResolveRequest.model_validate_json('{"resolution_status": "IGNORED", "resolution_notes": "%s"}' % ("x" * 1000))
    assert len(ok.resolution_notes) == 1000
    with pytest.raises(ValidationError) as exc:
        ResolveRequest.model_validate_json('{"resolution_status": "IGNORED", "resolution_notes": "%s"}' % ("x" * 1001))
    assert errors(exc.value) == {"resolution_notes": "string_too_long"}


def test_resolve_requires_a_known_status():
    with pytest.raises(ValidationError) as exc:
        ResolveRequest.model_validate_json('{"resolution_status": "FIXED"}')
    assert errors(exc.value) == {"resolution_status": "INVALID_VALUE"}   # named as the API words it: MANUAL_RESOLVED or IGNORED
    with pytest.raises(ValidationError) as exc:
        ResolveRequest.model_validate_json('{"resolution_notes": "n"}')
    assert errors(exc.value) == {"resolution_status": "missing"}


# ------------------------------------------------------------------------------------------- queries


def test_query_defaults():
    q = JobsQuery.model_validate({})
    assert (q.page, q.page_size, q.table, q.status, q.from_date) == (1, 50, None, None, None)


@pytest.mark.parametrize(
    "params, field",
    [
        ({"page": "0"}, "page"),
        ({"page": "-1"}, "page"),
        ({"page": "1.5"}, "page"),
        ({"page": "one"}, "page"),
        ({"page_size": "0"}, "page_size"),
        ({"page_size": "101"}, "page_size"),
        ({"status": "DONE"}, "status"),
        ({"job_type": "HOURLY"}, "job_type"),
        ({"from_date": "20/11/2025"}, "from_date"),
        ({"to_date": "2025-13-01"}, "to_date"),
        ({"limit": "5"}, "limit"),
    ],
)
def test_jobs_query_rejects_bad_values_naming_the_parameter(params, field):
    with pytest.raises(ValidationError) as exc:
        JobsQuery.model_validate(params)
    assert field in errors(exc.value)


def test_page_size_bounds_are_inclusive():
    assert JobsQuery.model_validate({"page_size": "1"}).page_size == 1
    assert JobsQuery.model_validate({"page_size": "100"}).page_size == 100


def test_mismatches_query_job_id_must_be_a_uuid():
    jid = uuid.uuid4()
    assert MismatchesQuery.model_validate({"job_id": str(jid)}).job_id == jid
    with pytest.raises(ValidationError) as exc:
        MismatchesQuery.model_validate({"job_id": "not-a-uuid"})
    assert "job_id" in errors(exc.value)


def test_date_order_problem_only_when_from_is_after_to():
    ok = JobsQuery.model_validate({"from_date": "2025-11-20", "to_date": "2025-11-20"})
    assert ok.date_order_problem() is None
    bad = JobsQuery.model_validate({"from_date": "2025-11-21T00:00:00Z", "to_date": "2025-11-20"})
    assert bad.date_order_problem() == "must not be after to_date"


# --------------------------------------------------------------------------------------------- dates

UTC = timezone.utc


@pytest.mark.parametrize(
    "text, instant, granularity",
    [
        ("2025-11-01T00:00:00Z", datetime(2025, 11, 1, tzinfo=UTC), timedelta(seconds=1)),
        ("2025-11-01T02:00:00+02:00", datetime(2025, 11, 1, tzinfo=UTC), timedelta(seconds=1)),
        ("2025-11-01T02:00:00 02:00", datetime(2025, 11, 1, tzinfo=UTC), timedelta(seconds=1)),  # '+' from a URL
        ("2025-11-01T00:00:00", datetime(2025, 11, 1, tzinfo=UTC), timedelta(seconds=1)),        # naive = UTC
        ("2025-11-01", datetime(2025, 11, 1, tzinfo=UTC), timedelta(days=1)),
        ("2025-11-01T14:02Z", datetime(2025, 11, 1, 14, 2, tzinfo=UTC), timedelta(minutes=1)),
        ("2025-11-01T14:02:15.250Z", datetime(2025, 11, 1, 14, 2, 15, 250000, tzinfo=UTC), timedelta(microseconds=1)),
        # inclusive at the precision given, whatever ISO 8601 form gives it
        ("2025-11-01T14", datetime(2025, 11, 1, 14, tzinfo=UTC), timedelta(hours=1)),
        ("2025-11-01T14Z", datetime(2025, 11, 1, 14, tzinfo=UTC), timedelta(hours=1)),
        ("2025-11-01T1402Z", datetime(2025, 11, 1, 14, 2, tzinfo=UTC), timedelta(minutes=1)),
        ("2025-11-01T14:02+01:00", datetime(2025, 11, 1, 13, 2, tzinfo=UTC), timedelta(minutes=1)),
        ("20251101", datetime(2025, 11, 1, tzinfo=UTC), timedelta(days=1)),
        ("20251101T140215Z", datetime(2025, 11, 1, 14, 2, 15, tzinfo=UTC), timedelta(seconds=1)),
        ("2025-11-01t14:02:15z", datetime(2025, 11, 1, 14, 2, 15, tzinfo=UTC), timedelta(seconds=1)),  # RFC 3339
        ("2025-11-01T14:02:15,5Z", datetime(2025, 11, 1, 14, 2, 15, 500000, tzinfo=UTC), timedelta(microseconds=1)),
        # a calendar month, a week, a week day, an ordinal day: the whole period
        ("2025-11", datetime(2025, 11, 1, tzinfo=UTC), timedelta(days=30)),
        ("2024-02", datetime(2024, 2, 1, tzinfo=UTC), timedelta(days=29)),
        ("2025-12", datetime(2025, 12, 1, tzinfo=UTC), timedelta(days=31)),
        ("2025-W45", datetime(2025, 11, 3, tzinfo=UTC), timedelta(days=7)),        # Monday of ISO week 45
        ("2026-W01", datetime(2025, 12, 29, tzinfo=UTC), timedelta(days=7)),       # week 1 may start in December
        ("2025-W45-3", datetime(2025, 11, 5, tzinfo=UTC), timedelta(days=1)),
        ("2025W453", datetime(2025, 11, 5, tzinfo=UTC), timedelta(days=1)),
        ("2025-305", datetime(2025, 11, 1, tzinfo=UTC), timedelta(days=1)),
        ("2024-366", datetime(2024, 12, 31, tzinfo=UTC), timedelta(days=1)),
    ],
)
def test_date_bounds(text, instant, granularity):
    b = models.parse_date_bound(text)
    assert b.instant == instant
    assert b.granularity == granularity


@pytest.mark.parametrize("text", ["", "yesterday", "1700000000", "2025-11-01T25:00:00Z", "2025/11/01", "2025-1101",
                                  "2025-11-01T14:02:15zz", "2025-13", "2025-00", "2025-W54", "2025-W00",
                                  "2025-W45-8", "2025-366", "2025-000", "9999-366"])
def test_bad_dates_are_refused(text):
    with pytest.raises(ValueError):
        models.parse_date_bound(text)


def test_iso_z_is_utc_whole_seconds_with_z():
    t = datetime(2025, 11, 20, 15, 2, 15, 999999, tzinfo=timezone(timedelta(hours=1)))
    assert models.iso_z(t) == "2025-11-20T14:02:15Z"
    assert models.iso_z(None) is None


@pytest.mark.parametrize("text", ["x", "550e8400-e29b-41d4-a716-44665544000", "550e8400e29b41d4a716446655440000zz", ""])
def test_parse_uuid_refuses_non_uuids(text):
    with pytest.raises(ValueError, match="must be a UUID"):
        models.parse_uuid(text)


def test_parse_uuid_accepts_canonical_form():
    assert str(models.parse_uuid("550E8400-E29B-41D4-A716-446655440000")) == "550e8400-e29b-41d4-a716-446655440000"
