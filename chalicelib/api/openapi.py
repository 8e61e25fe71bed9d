"""GET /api/v1/openapi.json (public): the OpenAPI 3.1 document of the service, generated from the
pydantic models in chalicelib/api/models.py, so the document and the validation cannot drift apart.

A unit test asserts that every route the app registers is described here.
"""
from __future__ import annotations

import copy
from functools import lru_cache
from typing import Any

from chalice import Blueprint

from chalicelib.api.errors import api_view, json_response

bp = Blueprint(__name__)

API = "/api/v1"
REF = "#/components/schemas/{model}"


def _ref(name: str) -> dict:
    return {"$ref": REF.format(model=name)}


def _json(schema_name: str, example: Any = None) -> dict:
    media: dict[str, Any] = {"schema": _ref(schema_name)}
    if example is not None:
        media["example"] = example
    return {"application/json": media}


def _error(description: str, schema: str, example: dict, headers: dict | None = None) -> dict:
    out = {"description": description, "content": _json(schema, example)}
    if headers:
        out["headers"] = headers
    return out


COMMON_RESPONSES = {
    "Unauthorized": _error(
        "Missing, malformed, unknown or revoked API key", "Error",
        {"error": "UNAUTHORIZED", "message": "Invalid or missing API key"},
    ),
    "RateLimited": _error(
        "Rate limit exceeded (trigger: 10 per minute per API key)", "RateLimitError",
        {"error": "RATE_LIMIT_EXCEEDED", "message": "Rate limit exceeded. Try again in 60 seconds.", "retry_after": 60},
        headers={"Retry-After": {"description": "Seconds until a request will be accepted",
                                 "schema": {"type": "integer", "minimum": 1}}},
    ),
    "InternalError": _error(
        "Unexpected failure; quote request_id (also in the X-Request-Id header) to support", "InternalError",
        {"error": "INTERNAL_SERVER_ERROR", "message": "An unexpected error occurred",
         "request_id": "req-abc123", "contact": "support@company.com"},
    ),
    "ValidationFailed": _error(
        "Malformed JSON, wrong type, unknown enum value, unknown field or query parameter, out-of-range value",
        "ValidationErrorBody",
        {"error": "VALIDATION_ERROR", "message": "Invalid query parameter 'page_size': must be <= 100 (got 500)",
         "details": [{"field": "page_size", "problem": "must be <= 100 (got 500)"}]},
    ),
}


def _common(ref_names: list[str]) -> dict:
    return {code: {"$ref": f"#/components/responses/{name}"} for code, name in ref_names}


AUTHED = [("401", "Unauthorized"), ("429", "RateLimited"), ("500", "InternalError")]

INVALID_TABLE_EXAMPLE = {
    "error": "INVALID_TABLE",
    "message": "Table 'invalid_table' does not exist or is not configured for replication",
    "valid_tables": ["orders", "products", "users"],
}


def _bad_request(*alternatives: tuple[str, dict]) -> dict:
    schemas = [_ref(name) for name, _ in alternatives]
    examples = {name: {"value": example} for name, example in alternatives}
    return {
        "description": "Invalid request: the body names the field and the problem",
        "content": {"application/json": {"schema": {"oneOf": schemas} if len(schemas) > 1 else schemas[0],
                                          "examples": examples}},
    }


VALIDATION_EXAMPLE = COMMON_RESPONSES["ValidationFailed"]["content"]["application/json"]["example"]


def _path_param(name: str, description: str) -> dict:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "string", "format": "uuid"}}


def _query_params(schema: dict) -> list[dict]:
    params = []
    for name, prop in schema["properties"].items():
        prop = dict(prop)
        description = prop.pop("description", None)
        prop.pop("title", None)
        default = prop.pop("default", None)
        variants = prop.pop("anyOf", None)
        if variants:
            non_null = [v for v in variants if v.get("type") != "null"]
            prop = {**(non_null[0] if len(non_null) == 1 else {"anyOf": non_null}), **prop}
        if default is not None:
            prop["default"] = default
        param = {"name": name, "in": "query", "required": False, "schema": prop}
        if description:
            param["description"] = description
        params.append(param)
    return params


def _operations(schemas: dict) -> dict:
    jobs_params = _query_params(schemas["JobsQuery"])
    mismatch_params = _query_params(schemas["MismatchesQuery"])
    job_id = _path_param("job_id", "Reconciliation job identifier")
    mismatch_id = _path_param("mismatch_id", "Mismatch identifier")
    not_found_job = _error("No such job", "Error", {
        "error": "JOB_NOT_FOUND",
        "message": "Reconciliation job with ID '550e8400-e29b-41d4-a716-446655440000' not found"})
    not_found_mismatch = _error("No such mismatch", "Error", {
        "error": "MISMATCH_NOT_FOUND",
        "message": "Mismatch with ID '660e8400-e29b-41d4-a716-446655440001' not found"})
    transition = ("Error", {"error": "INVALID_STATUS_TRANSITION",
                            "message": "Cannot change resolution_status from 'MANUAL_RESOLVED' to 'PENDING'"})
    metrics_op = {
        "tags": ["metrics"],
        "summary": "Prometheus scrape endpoint (text exposition format 0.0.4)",
        "description": "Computed from the control plane on every scrape. Bearer auth as everywhere.",
        "responses": {
            "200": {"description": "Prometheus text format",
                    "content": {"text/plain; version=0.0.4": {"schema": {"type": "string"}}}},
            **_common(AUTHED),
        },
    }
    return {
        f"{API}/reconciliation/trigger": {"post": {
            "tags": ["reconciliation"],
            "operationId": "triggerReconciliation",
            "summary": "Trigger manual reconciliation of one or more tables",
            "description": "Checks, in order: API key (401), service enabled (503), rate limit of 10 per "
                           "minute per key (429; every authenticated request counts), body (400 VALIDATION_ERROR), "
                           "table names (400 INVALID_TABLE).",
            "requestBody": {"required": True, "content": _json("TriggerRequest", {
                "tables": ["users", "orders", "products"], "validation_strategy": "CHECKSUM", "priority": "HIGH"})},
            "responses": {
                "202": {"description": "Jobs queued", "content": _json("TriggerResponse")},
                "400": _bad_request(("InvalidTableError", INVALID_TABLE_EXAMPLE), ("ValidationErrorBody", VALIDATION_EXAMPLE)),
                "503": _error("Reconciliation disabled by configuration", "Error", {
                    "error": "RECONCILIATION_DISABLED",
                    "message": "Reconciliation service is disabled. Set RECONCILIATION_ENABLED=true in configuration"}),
                **_common(AUTHED),
            },
        }},
        f"{API}/reconciliation/jobs": {"get": {
            "tags": ["reconciliation"],
            "operationId": "listJobs",
            "summary": "Query reconciliation job history (newest first)",
            "description": "Filters combine with AND. from_date/to_date are inclusive and apply to the time the "
                           "job was created (queued). Unknown parameters are rejected.",
            "parameters": jobs_params,
            "responses": {
                "200": {"description": "One page of jobs", "content": _json("JobsPage")},
                "400": _bad_request(("ValidationErrorBody", VALIDATION_EXAMPLE), ("InvalidTableError", INVALID_TABLE_EXAMPLE)),
                **_common(AUTHED),
            },
        }},
        f"{API}/reconciliation/jobs/{{job_id}}": {"get": {
            "tags": ["reconciliation"],
            "operationId": "getJob",
            "summary": "Job detail with mismatch summary and a sample of mismatches",
            "parameters": [job_id],
            "responses": {
                "200": {"description": "The job", "content": _json("JobDetail")},
                "400": _bad_request(("ValidationErrorBody", VALIDATION_EXAMPLE)),
                "404": not_found_job,
                **_common(AUTHED),
            },
        }},
        f"{API}/reconciliation/mismatches": {"get": {
            "tags": ["reconciliation"],
            "operationId": "listMismatches",
            "summary": "Query mismatched records across jobs (newest first)",
            "description": "Filters combine with AND; from_date/to_date are inclusive and apply to detected_at.",
            "parameters": mismatch_params,
            "responses": {
                "200": {"description": "One page of mismatches", "content": _json("MismatchesPage")},
                "400": _bad_request(("ValidationErrorBody", VALIDATION_EXAMPLE), ("InvalidTableError", INVALID_TABLE_EXAMPLE)),
                **_common(AUTHED),
            },
        }},
        f"{API}/reconciliation/mismatches/{{mismatch_id}}/resolve": {"post": {
            "tags": ["reconciliation"],
            "operationId": "resolveMismatch",
            "summary": "Mark a mismatch MANUAL_RESOLVED or IGNORED",
            "description": "Legal: PENDING -> MANUAL_RESOLVED | IGNORED; IGNORED -> MANUAL_RESOLVED. "
                           "MANUAL_RESOLVED and AUTO_RESOLVED are final. Repeating the current resolution "
                           "(same status, same or no notes) returns it unchanged.",
            "parameters": [mismatch_id],
            "requestBody": {"required": True, "content": _json("ResolveRequest", {
                "resolution_status": "MANUAL_RESOLVED",
                "resolution_notes": "Manually synced user data from Cassandra to PostgreSQL."})},
            "responses": {
                "200": {"description": "The resolution as stored", "content": _json("ResolveResponse")},
                "400": _bad_request(transition, ("ValidationErrorBody", VALIDATION_EXAMPLE)),
                "404": not_found_mismatch,
                **_common(AUTHED),
            },
        }},
        f"{API}/metrics": {"get": {**metrics_op, "operationId": "metrics"}},
        "/metrics": {"get": {**metrics_op, "operationId": "metricsRoot"}},
        f"{API}/health": {"get": {
            "tags": ["operations"],
            "operationId": "health",
            "summary": "Connectivity of PostgreSQL, SQS and Cassandra (public)",
            "security": [],
            "responses": {
                "200": {"description": "All dependencies up", "content": {"application/json": {"schema": {"type": "object"}}}},
                "503": {"description": "A dependency is down", "content": {"application/json": {"schema": {"type": "object"}}}},
            },
        }},
        f"{API}/openapi.json": {"get": {
            "tags": ["operations"],
            "operationId": "openapi",
            "summary": "This document (public)",
            "security": [],
            "responses": {"200": {"description": "OpenAPI 3.1 document",
                                  "content": {"application/json": {"schema": {"type": "object"}}}}},
        }},
    }


@lru_cache(maxsize=1)
def _build() -> dict:
    from pydantic.json_schema import models_json_schema

    from chalicelib.api import models

    inputs = [models.TriggerRequest, models.ResolveRequest, models.JobsQuery, models.MismatchesQuery]
    outputs = [m for m in models.RESPONSE_MODELS if m not in inputs]
    _, top = models_json_schema(
        [(m, "validation") for m in inputs] + [(m, "serialization") for m in outputs], ref_template=REF
    )
    schemas = top["$defs"]
    paths = _operations(schemas)
    # the query models only feed the parameter lists
    for name in ("JobsQuery", "MismatchesQuery"):
        schemas.pop(name)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "recon: CDC reconciliation API",
            "version": "1.0.0",
            "description": "Cassandra to PostgreSQL CDC reconciliation. Decisions where the contract is "
                           "silent: docs/api.md. All timestamps are ISO 8601 UTC with a Z.",
        },
        "servers": [{"url": "http://localhost:8080"}, {"url": "https://cdc-pipeline.company.com"}],
        "security": [{"bearerAuth": []}],
        "tags": [{"name": "reconciliation"}, {"name": "metrics"}, {"name": "operations"}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "responses": COMMON_RESPONSES,
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer",
                                               "description": "Authorization: Bearer <api-key>"}},
        },
    }


def document() -> dict:
    """The OpenAPI document (a copy: callers may change it)."""
    return copy.deepcopy(_build())


@bp.route("/openapi.json", methods=["GET"])
@api_view(bp)
def openapi_json():
    return json_response(_build())
