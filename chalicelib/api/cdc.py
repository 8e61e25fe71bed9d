"""CDC reconciliation API (contracts/cdc-reconciliation-api.md): trigger, jobs, job detail,
mismatches, resolve. The contract's paths stay under /reconciliation/; the module is named for the
product so that "reconciliation(s)" names the streams product's legacy endpoints.

Thin handlers: the shared layer (chalicelib/api/core.py) parses and validates with the pydantic
models of chalicelib/api/models.py and shapes the answers through the response models; the handlers
call the service. Decisions where the contract is silent are in docs/api.md.
"""
from __future__ import annotations

from chalice import Blueprint

from chalicelib.api import models
from chalicelib.api.auth_middleware import principal
from chalicelib.api.core import ApiError, Dialect, Routes, ok
from chalicelib.api.pagination import Page, pagination_body

bp = Blueprint(__name__)
api = Routes(bp, dialect=Dialect.CDC, tag="cdc", owns=["/reconciliation"])

DISABLED_MESSAGE = "Reconciliation service is disabled. Set RECONCILIATION_ENABLED=true in configuration"

INVALID_TABLE_EXAMPLE = {
    "error": "INVALID_TABLE",
    "message": "Table 'invalid_table' does not exist or is not configured for replication",
    "valid_tables": ["users", "orders", "products"],
}
VALIDATION_EXAMPLE = {
    "error": "VALIDATION_ERROR", "message": "Invalid query parameter 'page_size': must be <= 100 (got 500)",
    "details": [{"field": "page_size", "problem": "must be <= 100 (got 500)"}],
}
TRANSITION_EXAMPLE = {
    "error": "INVALID_STATUS_TRANSITION",
    "message": "Cannot change resolution_status from 'MANUAL_RESOLVED' to 'PENDING'",
    "current_status": "MANUAL_RESOLVED", "requested_status": "PENDING",
}
BAD_QUERY = [("ValidationErrorBody", VALIDATION_EXAMPLE), ("InvalidTableError", INVALID_TABLE_EXAMPLE)]


def _validation_example(where: str, field: str, problem: str) -> dict:
    """A VALIDATION_ERROR body as the API writes it, for a field the operation really has."""
    return {"error": "VALIDATION_ERROR", "message": f"Invalid {where} '{field}': {problem}",
            "details": [{"field": field, "problem": problem}]}


BAD_TRIGGER_BODY = _validation_example(
    "request body", "validation_strategy",
    'must be one of ROW_COUNT, CHECKSUM, TIMESTAMP_RANGE or SAMPLE (got "FAST")')
BAD_JOB_ID = _validation_example(
    "path parameter", "job_id", "must be a UUID (e.g. 550e8400-e29b-41d4-a716-446655440000), got 'not-a-uuid'")
BAD_RESOLVE_BODY = _validation_example("request body", "resolution_notes", "must be at most 1000 characters")


# The contract's response examples (with this API's additive fields), shown in the OpenAPI document.
_JOB_EXAMPLE = {
    "job_id": "550e8400-e29b-41d4-a716-446655440000", "table_name": "users", "job_type": "MANUAL_ONDEMAND",
    "validation_strategy": "CHECKSUM", "started_at": "2025-11-20T14:00:00Z", "completed_at": "2025-11-20T14:02:15Z",
    "duration_seconds": 135, "status": "COMPLETED", "cassandra_row_count": 1000000, "postgres_row_count": 999950,
    "mismatch_count": 50, "drift_percentage": 0.005,
}
TRIGGER_EXAMPLE = {
    "job_ids": ["550e8400-e29b-41d4-a716-446655440000", "550e8400-e29b-41d4-a716-446655440001",
                "550e8400-e29b-41d4-a716-446655440002"],
    "status": "RUNNING", "message": "Reconciliation jobs queued for 3 tables",
    "estimated_completion": "2025-11-20T15:05:00Z",
}
JOBS_EXAMPLE = {
    "jobs": [
        {**_JOB_EXAMPLE, "alert_fired": False},
        {"job_id": "550e8400-e29b-41d4-a716-446655440001", "table_name": "users", "job_type": "HOURLY_SCHEDULED",
         "validation_strategy": "ROW_COUNT", "started_at": "2025-11-20T13:00:00Z", "completed_at": "2025-11-20T13:00:05Z",
         "duration_seconds": 5, "status": "COMPLETED", "cassandra_row_count": 999800, "postgres_row_count": 999800,
         "mismatch_count": 0, "drift_percentage": 0.0, "alert_fired": False},
    ],
    "pagination": {"page": 1, "page_size": 20, "total_pages": 5, "total_items": 87},
}
JOB_DETAIL_EXAMPLE = {
    **_JOB_EXAMPLE, "validation_errors": None, "alert_fired": False,
    "mismatches_summary": {"MISSING_IN_POSTGRES": 30, "MISSING_IN_CASSANDRA": 10, "DATA_MISMATCH": 10},
    "sample_mismatches": [
        {"mismatch_id": "660e8400-e29b-41d4-a716-446655440000", "primary_key_value": "user-12345",
         "mismatch_type": "MISSING_IN_POSTGRES", "detected_at": "2025-11-20T14:01:23Z", "resolution_status": "PENDING"},
        {"mismatch_id": "660e8400-e29b-41d4-a716-446655440001", "primary_key_value": "user-67890",
         "mismatch_type": "DATA_MISMATCH", "cassandra_checksum": "a1b2c3d4e5f6", "postgres_checksum": "f6e5d4c3b2a1",
         "detected_at": "2025-11-20T14:01:45Z", "resolution_status": "PENDING"},
    ],
    "transient_count": 0, "auto_resolved_count": 0, "priority": "NORMAL",
    "progress": {"segments_total": 16, "segments_done": 16},
}
MISMATCHES_EXAMPLE = {
    "mismatches": [{
        "mismatch_id": "660e8400-e29b-41d4-a716-446655440001", "job_id": "550e8400-e29b-41d4-a716-446655440000",
        "table_name": "users", "primary_key_value": "user-67890", "mismatch_type": "DATA_MISMATCH",
        "cassandra_checksum": "a1b2c3d4e5f6", "postgres_checksum": "f6e5d4c3b2a1",
        "cassandra_data": {"user_id": "user-67890", "email": "john@example.com", "name": "John Doe",
                           "updated_at": "2025-11-20T13:30:00Z"},
        "postgres_data": {"user_id": "user-67890", "email": "john@example.com", "name": "John Smith",
                          "updated_at": "2025-11-20T12:00:00Z"},
        "detected_at": "2025-11-20T14:01:45Z", "resolution_status": "PENDING", "resolution_notes": None,
        "resolved_at": None, "resolved_by": None, "differing_columns": ["name", "updated_at"],
    }],
    "pagination": {"page": 1, "page_size": 50, "total_pages": 1, "total_items": 10},
}
RESOLVE_EXAMPLE = {
    "mismatch_id": "660e8400-e29b-41d4-a716-446655440001", "resolution_status": "MANUAL_RESOLVED",
    "resolution_notes": "Manually synced user data from Cassandra to PostgreSQL. Name change was legitimate.",
    "resolved_at": "2025-11-20T15:30:00Z", "resolved_by": "admin@company.com",
}


def _success(status: int, model: type, summary: str, example: dict) -> dict:
    """The success response of an operation with the contract's example (replaces the generated one)."""
    return {str(status): {"description": summary, "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{model.__name__}"}, "example": example}}}}


# no table has a longer name (PostgreSQL's are at most 63 bytes): a longer one is cut in the message, not echoed
# whole, and not looked up in the jobs' history
LONGEST_TABLE_NAME = 128


def _invalid_table(table: str, valid: list[str]) -> ApiError:
    shown = table if len(table) <= LONGEST_TABLE_NAME else table[:LONGEST_TABLE_NAME] + "…"
    return ApiError(
        400, "INVALID_TABLE",
        f"Table '{shown}' does not exist or is not configured for replication",
        valid_tables=valid,
    )


def _check_table(table: str | None) -> None:
    """A listing's table filter: a catalog table, or one with history (a table no longer replicated
    keeps its jobs and mismatches); any other name is INVALID_TABLE, so a typo is not an empty page."""
    if table is None:
        return
    from chalicelib.cdc import queries
    from chalicelib.cdc.catalog import get_catalog

    catalog = get_catalog()
    if catalog.get(table) is None and (len(table) > LONGEST_TABLE_NAME or not queries.table_has_history(table)):
        raise _invalid_table(table, catalog.names())


def _trigger_checks() -> None:
    """The service switch (503) comes before the body is looked at."""
    from chalicelib.config import get_settings

    if not get_settings().reconciliation_enabled:
        raise ApiError(503, "RECONCILIATION_DISABLED", DISABLED_MESSAGE)


def _count_trigger() -> None:
    """The rate limit (429) counts the triggers that would queue jobs: a request rejected for its body
    or its table names is told what is wrong and does not use up the caller's ten a minute."""
    from chalicelib.api.auth import enforce_rate_limit
    from chalicelib.config import get_settings

    enforce_rate_limit(principal(bp), "trigger", get_settings().rate_limit_trigger_per_minute)


# ---------------------------------------------------------------------------------------- routes


@api.route(
    "/reconciliation/trigger", "POST", body=models.TriggerRequest, response=models.TriggerResponse, status=202,
    summary="Trigger manual reconciliation of one or more tables",
    description="Checks, in order: API key (401), service enabled (503), body (400 VALIDATION_ERROR), table "
                "names (400 INVALID_TABLE), rate limit of 10 triggers per minute per key (429; only requests "
                "that pass the checks before it count).",
    errors={400: [("InvalidTableError", INVALID_TABLE_EXAMPLE), ("ValidationErrorBody", BAD_TRIGGER_BODY)],
            503: [("ServiceDisabledError", {"error": "RECONCILIATION_DISABLED", "message": DISABLED_MESSAGE}),
                  ("ServiceUnavailableError", {"error": "SERVICE_UNAVAILABLE", "retry_after": 5, "request_id": "req-abc123",
                                               "message": "A dependency (the database or Cassandra) is unavailable; "
                                                          "retry later"})]},
    body_example={"tables": ["users", "orders", "products"], "validation_strategy": "CHECKSUM", "priority": "HIGH"},
    operation_id="triggerReconciliation", before=_trigger_checks,
    extra_responses=_success(202, models.TriggerResponse, "Jobs queued (one per table)", TRIGGER_EXAMPLE),
)
def trigger_reconciliation(body: models.TriggerRequest):
    from chalicelib.cdc.catalog import get_catalog
    from chalicelib.cdc.jobs import create_jobs, estimate_completion

    catalog = get_catalog()
    tables = body.distinct_tables() or catalog.names()
    for table in tables:
        if catalog.get(table) is None:
            raise _invalid_table(table, catalog.names())
    _count_trigger()
    jobs = create_jobs(
        tables, body.validation_strategy.value, body.priority.value, "MANUAL_ONDEMAND", principal(bp).owner_email
    )
    n = len(jobs)
    noun = "job" if n == 1 else "jobs"
    return ok({
        "job_ids": [j["job_id"] for j in jobs],
        "status": "RUNNING",
        "message": f"Reconciliation {noun} queued for {n} table{'' if n == 1 else 's'}",
        "estimated_completion": models.iso_z(estimate_completion(jobs)),
    })


@api.route(
    "/reconciliation/tables", "GET", response=models.CatalogTables, operation_id="listTables",
    summary="Tables of the catalog in its order (additive: what trigger and the table filters accept)",
)
def list_tables():
    from chalicelib.cdc.catalog import get_catalog

    return ok({"tables": get_catalog().names()})


@api.route(
    "/reconciliation/jobs", "GET", query=models.JobsQuery, response=models.JobsPage,
    summary="Query reconciliation job history (newest first)",
    description="Filters combine with AND. from_date/to_date are inclusive and apply to the job's started_at "
                "(for a job still waiting in the queue, the time it was requested), which also orders the "
                "listing. Unknown parameters are rejected.",
    errors={400: BAD_QUERY}, operation_id="listJobs",
    extra_responses=_success(200, models.JobsPage, "One page of jobs, newest first", JOBS_EXAMPLE),
)
def list_jobs(query: models.JobsQuery):
    from chalicelib.cdc import queries

    _check_table(query.table)
    page = Page(query.page, query.page_size)
    flt = queries.JobFilter(
        table=query.table,
        status=query.status.value if query.status else None,
        job_type=query.job_type.value if query.job_type else None,
        from_date=query.from_date,
        to_date=query.to_date,
    )
    jobs, total = queries.list_jobs(flt, page)
    return ok({"jobs": jobs, "pagination": pagination_body(page, total)})


@api.route(
    "/reconciliation/jobs/{job_id}", "GET", response=models.JobDetail,
    summary="Job detail with mismatch summary and a sample of mismatches",
    errors={400: ("ValidationErrorBody", BAD_JOB_ID), 404: ("Error", {
        "error": "JOB_NOT_FOUND",
        "message": "Reconciliation job with ID '550e8400-e29b-41d4-a716-446655440000' not found"})},
    param_docs={"job_id": "Reconciliation job identifier"}, operation_id="getJob",
    extra_responses=_success(200, models.JobDetail, "The job, its mismatch summary and a sample", JOB_DETAIL_EXAMPLE),
)
def get_job(job_id):
    from chalicelib.cdc import queries
    from chalicelib.config import get_settings

    job = queries.get_job(job_id, get_settings().sample_mismatches_in_job)
    if job is None:
        raise ApiError(404, "JOB_NOT_FOUND", f"Reconciliation job with ID '{job_id}' not found")
    return ok(job)


@api.route(
    "/reconciliation/mismatches", "GET", query=models.MismatchesQuery, response=models.MismatchesPage,
    summary="Query mismatched records across jobs (newest first)",
    description="Filters combine with AND; from_date/to_date are inclusive and apply to detected_at.",
    errors={400: BAD_QUERY}, operation_id="listMismatches",
    extra_responses=_success(200, models.MismatchesPage, "One page of mismatches, newest first", MISMATCHES_EXAMPLE),
)
def list_mismatches(query: models.MismatchesQuery):
    from chalicelib.cdc import queries

    _check_table(query.table)
    page = Page(query.page, query.page_size)
    flt = queries.MismatchFilter(
        table=query.table,
        mismatch_type=query.mismatch_type.value if query.mismatch_type else None,
        resolution_status=query.resolution_status.value if query.resolution_status else None,
        job_id=query.job_id,
        from_date=query.from_date,
        to_date=query.to_date,
    )
    items, total = queries.list_mismatches(flt, page)
    return ok({"mismatches": items, "pagination": pagination_body(page, total)})


@api.route(
    "/reconciliation/mismatches/{mismatch_id}/resolve", "POST", body=models.ResolveRequest,
    response=models.ResolveResponse,
    summary="Mark a mismatch MANUAL_RESOLVED or IGNORED",
    description="Legal: PENDING -> MANUAL_RESOLVED | IGNORED; IGNORED -> MANUAL_RESOLVED. MANUAL_RESOLVED and "
                "AUTO_RESOLVED are final. Repeating the current resolution (same status, same or no notes) "
                "returns it unchanged.",
    errors={400: [("StatusTransitionError", TRANSITION_EXAMPLE), ("ValidationErrorBody", BAD_RESOLVE_BODY)],
            404: ("Error", {"error": "MISMATCH_NOT_FOUND",
                            "message": "Mismatch with ID '660e8400-e29b-41d4-a716-446655440001' not found"})},
    body_example={"resolution_status": "MANUAL_RESOLVED",
                  "resolution_notes": "Manually synced user data from Cassandra to PostgreSQL."},
    param_docs={"mismatch_id": "Mismatch identifier"}, operation_id="resolveMismatch",
    extra_responses=_success(200, models.ResolveResponse, "The mismatch's resolution", RESOLVE_EXAMPLE),
)
def resolve_mismatch(mismatch_id, body: models.ResolveRequest):
    from chalicelib.cdc import resolution

    try:
        result = resolution.resolve(
            mismatch_id, body.resolution_status.value, body.resolution_notes, principal(bp).owner_email
        )
    except resolution.MismatchNotFound:
        raise ApiError(404, "MISMATCH_NOT_FOUND", f"Mismatch with ID '{mismatch_id}' not found") from None
    except resolution.InvalidStatusTransition as exc:
        raise ApiError(400, "INVALID_STATUS_TRANSITION", str(exc),
                       current_status=exc.current, requested_status=exc.target) from None
    return ok(result)
