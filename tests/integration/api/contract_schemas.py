"""JSON schemas written from the contract's examples (contracts/cdc-reconciliation-api.md), used to
check response bodies. Extra fields the API documents as additive are listed explicitly, so an
unexpected field fails the check."""
from __future__ import annotations

import jsonschema

TS = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"}
TS_OR_NULL = {"anyOf": [TS, {"type": "null"}]}
UUID = {"type": "string", "pattern": r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"}
INT_OR_NULL = {"type": ["integer", "null"]}
STATUS = {"enum": ["RUNNING", "COMPLETED", "FAILED"]}
MTYPE = {"enum": ["MISSING_IN_POSTGRES", "MISSING_IN_CASSANDRA", "DATA_MISMATCH"]}
RSTATUS = {"enum": ["PENDING", "AUTO_RESOLVED", "MANUAL_RESOLVED", "IGNORED"]}


def _obj(props: dict, optional: tuple = ()) -> dict:
    return {
        "type": "object",
        "properties": props,
        "required": [k for k in props if k not in optional],
        "additionalProperties": False,
    }


TRIGGER_202 = _obj({
    "job_ids": {"type": "array", "items": UUID, "minItems": 1},
    "status": {"const": "RUNNING"},
    "message": {"type": "string"},
    "estimated_completion": TS,
})

PAGINATION = _obj({k: {"type": "integer", "minimum": 0} for k in ("page", "page_size", "total_pages", "total_items")})

JOB_FIELDS = {
    "job_id": UUID,
    "table_name": {"type": "string"},
    "job_type": {"enum": ["HOURLY_SCHEDULED", "MANUAL_ONDEMAND"]},
    "validation_strategy": {"enum": ["ROW_COUNT", "CHECKSUM", "TIMESTAMP_RANGE", "SAMPLE"]},
    "started_at": TS,
    "completed_at": TS_OR_NULL,
    "duration_seconds": INT_OR_NULL,
    "status": STATUS,
    "cassandra_row_count": INT_OR_NULL,
    "postgres_row_count": INT_OR_NULL,
    "mismatch_count": INT_OR_NULL,
    "drift_percentage": {"type": ["number", "null"]},
    "alert_fired": {"type": "boolean"},
}
JOBS_200 = _obj({"jobs": {"type": "array", "items": _obj(JOB_FIELDS)}, "pagination": PAGINATION})

SAMPLE = _obj({
    "mismatch_id": UUID,
    "primary_key_value": {"type": "string"},
    "mismatch_type": MTYPE,
    "cassandra_checksum": {"type": "string"},
    "postgres_checksum": {"type": "string"},
    "detected_at": TS,
    "resolution_status": RSTATUS,
}, optional=("cassandra_checksum", "postgres_checksum"))

JOB_DETAIL_200 = _obj({
    **JOB_FIELDS,
    "validation_errors": {"type": ["array", "null"]},
    "mismatches_summary": _obj({t: {"type": "integer", "minimum": 0} for t in MTYPE["enum"]}),
    "sample_mismatches": {"type": "array", "items": SAMPLE},
    # additive (docs/api.md)
    "transient_count": {"type": "integer"},
    "auto_resolved_count": {"type": "integer"},
    "priority": {"enum": ["LOW", "NORMAL", "HIGH"]},
    "progress": _obj({"segments_total": INT_OR_NULL, "segments_done": {"type": "integer"}}),
})

MISMATCH = _obj({
    "mismatch_id": UUID,
    "job_id": UUID,
    "table_name": {"type": "string"},
    "primary_key_value": {"type": "string"},
    "mismatch_type": MTYPE,
    "cassandra_checksum": {"type": ["string", "null"]},
    "postgres_checksum": {"type": ["string", "null"]},
    "cassandra_data": {"type": ["object", "null"]},
    "postgres_data": {"type": ["object", "null"]},
    "detected_at": TS,
    "resolution_status": RSTATUS,
    "resolution_notes": {"type": ["string", "null"]},
    "resolved_at": TS_OR_NULL,
    # additive (docs/api.md)
    "resolved_by": {"type": ["string", "null"]},
    "differing_columns": {"type": ["array", "null"], "items": {"type": "string"}},
})
MISMATCHES_200 = _obj({"mismatches": {"type": "array", "items": MISMATCH}, "pagination": PAGINATION})

RESOLVE_200 = _obj({
    "mismatch_id": UUID,
    "resolution_status": RSTATUS,
    "resolution_notes": {"type": ["string", "null"]},
    "resolved_at": TS,
    "resolved_by": {"type": "string"},
})

ERROR = {
    "type": "object",
    "properties": {"error": {"type": "string"}, "message": {"type": "string", "minLength": 1}},
    "required": ["error", "message"],
}


def check(instance, schema) -> None:
    jsonschema.validate(instance, schema)


def check_documented(instance, schema_name: str) -> None:
    """The body also matches what the OpenAPI document promises (so the document cannot drift)."""
    from chalicelib.api.openapi import document

    doc = document()
    jsonschema.Draft202012Validator({"$ref": f"#/components/schemas/{schema_name}", "components": doc["components"]}).validate(instance)


def check_against_document(instance, path: str, method: str, status: int) -> None:
    """The body is valid against the schema the OpenAPI document gives for this operation and status
    (a `oneOf` must match exactly one alternative, as any validator of the document will insist)."""
    from chalicelib.api.openapi import document

    doc = document()
    response = doc["paths"][path][method]["responses"][str(status)]
    if "$ref" in response:
        response = doc["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    schema = response["content"]["application/json"]["schema"]
    jsonschema.Draft202012Validator({**schema, "components": doc["components"]}).validate(instance)
