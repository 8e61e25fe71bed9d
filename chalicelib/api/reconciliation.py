"""CDC reconciliation API (contracts/cdc-reconciliation-api.md): trigger, jobs, job detail,
mismatches, resolve. Thin handlers: parse with the pydantic models, call the service, shape the reply.

Decisions where the contract is silent are in docs/api.md.
"""
from __future__ import annotations

import json
from typing import Any, TypeVar

from chalice import Blueprint
from pydantic import BaseModel, ValidationError

from chalicelib.api import models
from chalicelib.api.auth_middleware import principal
from chalicelib.api.errors import ApiError, api_view, json_response
from chalicelib.api.pagination import Page, pagination_body

bp = Blueprint(__name__)

# Chalice answers a content type a route does not list with its own 415 body; accept any and let the
# JSON parser give the contract-shaped 400 instead.
BODY_CONTENT_TYPES = ["*/*"]

DISABLED_MESSAGE = "Reconciliation service is disabled. Set RECONCILIATION_ENABLED=true in configuration"

M = TypeVar("M", bound=BaseModel)


# ------------------------------------------------------------------------------------ error helpers


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    return "object"


def _field_name(loc: tuple) -> str:
    name = ""
    for part in loc:
        if isinstance(part, int):
            name += f"[{part}]"
        else:
            name += ("." if name else "") + str(part)
    return name


def _problem(err: dict) -> str:
    kind = err.get("type", "")
    ctx = err.get("ctx") or {}
    got = err.get("input")
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a known field"
    if kind == "enum":
        allowed = ctx.get("expected", "").replace("'", "")
        return f"must be one of {allowed} (got {json.dumps(got)})"
    if kind in ("string_type", "list_type", "int_type", "bool_type", "model_type", "dict_type", "float_type"):
        want = {"string_type": "a string", "list_type": "an array", "int_type": "an integer",
                "bool_type": "a boolean", "model_type": "an object", "dict_type": "an object",
                "float_type": "a number"}[kind]
        return f"must be {want} (got {_json_type(got)})"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters"
    if kind == "string_too_short":
        return f"must be at least {ctx.get('min_length')} character(s)"
    if kind == "too_long":
        return f"must have at most {ctx.get('max_length')} items"
    if kind in ("greater_than_equal", "less_than_equal"):
        op = ">=" if kind == "greater_than_equal" else "<="
        return f"must be {op} {ctx.get('ge', ctx.get('le'))} (got {got})"
    msg = str(err.get("msg", "is invalid"))
    return msg.removeprefix("Value error, ")


def _invalid(where: str, details: list[dict]) -> ApiError:
    first = details[0]
    if first["field"] == "body":
        message = f"Request body {first['problem']}"
    else:
        message = f"Invalid {where} '{first['field']}': {first['problem']}"
    if len(details) > 1:
        message += f" (and {len(details) - 1} more problem(s), see details)"
    return ApiError(400, "VALIDATION_ERROR", message, details=details)


def _from_pydantic(exc: ValidationError, where: str, known: str) -> ApiError:
    details = []
    for err in exc.errors(include_url=False):
        problem = _problem(err)
        if err.get("type") == "extra_forbidden":
            problem = f"is not a known {known}"
        details.append({"field": _field_name(tuple(err.get("loc", ()))) or where, "problem": problem})
    return _invalid(where, details)


def _invalid_table(table: str, valid: list[str]) -> ApiError:
    return ApiError(
        400, "INVALID_TABLE",
        f"Table '{table}' does not exist or is not configured for replication",
        valid_tables=valid,
    )


# --------------------------------------------------------------------------------------- parsing


def _body(model: type[M]) -> M:
    raw = bp.current_request.raw_body or b""
    if isinstance(raw, str):
        raw = raw.encode()
    if not raw.strip():
        raise _invalid("request body", [{"field": "body", "problem": "is required (a JSON object)"}])
    try:
        parsed = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _invalid("request body", [{"field": "body", "problem": f"is not valid JSON ({exc})"}]) from None
    if not isinstance(parsed, dict):
        raise _invalid("request body", [{"field": "body", "problem": f"must be a JSON object (got {_json_type(parsed)})"}])
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise _from_pydantic(exc, "request body", "field") from None


def _query(model: type[M]) -> M:
    params = bp.current_request.query_params or {}
    data: dict[str, str] = {}
    details = []
    for name in params:
        values = params.getlist(name) if hasattr(params, "getlist") else [params[name]]
        if name not in model.model_fields:
            allowed = ", ".join(model.model_fields)
            details.append({"field": name, "problem": f"is not a known query parameter (allowed: {allowed})"})
        elif len(values) > 1:
            details.append({"field": name, "problem": "is given more than once"})
        else:
            data[name] = values[0]
    if details:
        raise _invalid("query parameter", details)
    try:
        query = model.model_validate(data)
    except ValidationError as exc:
        raise _from_pydantic(exc, "query parameter", "query parameter") from None
    problem = query.date_order_problem()
    if problem:
        raise _invalid("query parameter", [{"field": "from_date", "problem": problem}])
    return query


def _path_uuid(value: str, name: str):
    try:
        return models.parse_uuid(value)
    except ValueError as exc:
        raise _invalid("path parameter", [{"field": name, "problem": str(exc)}]) from None


def _check_table(table: str | None) -> None:
    if table is None:
        return
    from chalicelib.cdc.catalog import get_catalog

    catalog = get_catalog()
    if catalog.get(table) is None:
        raise _invalid_table(table, catalog.names())


# ---------------------------------------------------------------------------------------- routes


@bp.route("/reconciliation/trigger", methods=["POST"], content_types=BODY_CONTENT_TYPES)
@api_view(bp)
def trigger_reconciliation():
    from chalicelib.api.auth import enforce_rate_limit
    from chalicelib.cdc.catalog import get_catalog
    from chalicelib.config import get_settings

    settings = get_settings()
    if not settings.reconciliation_enabled:
        raise ApiError(503, "RECONCILIATION_DISABLED", DISABLED_MESSAGE)
    caller = principal(bp)
    enforce_rate_limit(caller, "trigger", settings.rate_limit_trigger_per_minute)
    request = _body(models.TriggerRequest)

    catalog = get_catalog()
    tables = request.distinct_tables() or catalog.names()
    for table in tables:
        if catalog.get(table) is None:
            raise _invalid_table(table, catalog.names())

    from chalicelib.cdc.jobs import create_jobs, estimate_completion

    jobs = create_jobs(
        tables, request.validation_strategy.value, request.priority.value, "MANUAL_ONDEMAND", caller.owner_email
    )
    n = len(jobs)
    noun = "job" if n == 1 else "jobs"
    return json_response(
        {
            "job_ids": [str(j["job_id"]) for j in jobs],
            "status": "RUNNING",
            "message": f"Reconciliation {noun} queued for {n} table{'' if n == 1 else 's'}",
            "estimated_completion": models.iso_z(estimate_completion(jobs)),
        },
        202,
    )


@bp.route("/reconciliation/jobs", methods=["GET"])
@api_view(bp)
def list_jobs():
    from chalicelib.cdc import queries

    q = _query(models.JobsQuery)
    _check_table(q.table)
    page = Page(q.page, q.page_size)
    flt = queries.JobFilter(
        table=q.table,
        status=q.status.value if q.status else None,
        job_type=q.job_type.value if q.job_type else None,
        from_date=q.from_date,
        to_date=q.to_date,
    )
    jobs, total = queries.list_jobs(flt, page)
    return json_response({"jobs": jobs, "pagination": pagination_body(page, total)})


@bp.route("/reconciliation/jobs/{job_id}", methods=["GET"])
@api_view(bp)
def get_job(job_id: str):
    from chalicelib.cdc import queries
    from chalicelib.config import get_settings

    jid = _path_uuid(job_id, "job_id")
    if bp.current_request.query_params:
        name = next(iter(bp.current_request.query_params))
        raise _invalid("query parameter", [{"field": name, "problem": "is not a known query parameter (none are accepted)"}])
    job = queries.get_job(jid, get_settings().sample_mismatches_in_job)
    if job is None:
        raise ApiError(404, "JOB_NOT_FOUND", f"Reconciliation job with ID '{job_id}' not found")
    return json_response(job)


@bp.route("/reconciliation/mismatches", methods=["GET"])
@api_view(bp)
def list_mismatches():
    from chalicelib.cdc import queries

    q = _query(models.MismatchesQuery)
    _check_table(q.table)
    page = Page(q.page, q.page_size)
    flt = queries.MismatchFilter(
        table=q.table,
        mismatch_type=q.mismatch_type.value if q.mismatch_type else None,
        resolution_status=q.resolution_status.value if q.resolution_status else None,
        job_id=q.job_id,
        from_date=q.from_date,
        to_date=q.to_date,
    )
    items, total = queries.list_mismatches(flt, page)
    return json_response({"mismatches": items, "pagination": pagination_body(page, total)})


@bp.route("/reconciliation/mismatches/{mismatch_id}/resolve", methods=["POST"], content_types=BODY_CONTENT_TYPES)
@api_view(bp)
def resolve_mismatch(mismatch_id: str):
    from chalicelib.cdc import resolution

    mid = _path_uuid(mismatch_id, "mismatch_id")
    request = _body(models.ResolveRequest)
    try:
        result = resolution.resolve(
            mid, request.resolution_status.value, request.resolution_notes, principal(bp).owner_email
        )
    except resolution.MismatchNotFound:
        raise ApiError(404, "MISMATCH_NOT_FOUND", f"Mismatch with ID '{mismatch_id}' not found") from None
    except resolution.InvalidStatusTransition as exc:
        raise ApiError(400, "INVALID_STATUS_TRANSITION", str(exc),
                       current_status=exc.current, requested_status=exc.target) from None
    return json_response(result)
