"""Failures are contract-shaped (500 with a request id, no stack trace); the OpenAPI document is public."""
from __future__ import annotations

import json
import uuid

from tests.integration.api.conftest import body, insert_job
from tests.integration.api.contract_schemas import check_documented


def test_database_failure_is_500_with_request_id(api):
    insert_job(api)
    api.sql("ALTER TABLE recon.mismatches RENAME TO mismatches_away")
    try:
        r = api.get("/api/v1/reconciliation/mismatches")
    finally:
        api.sql("ALTER TABLE recon.mismatches_away RENAME TO mismatches")
    assert r.status_code == 500
    data = body(r)
    check_documented(data, "InternalError")
    assert data["error"] == "INTERNAL_SERVER_ERROR"
    assert data["message"] == "An unexpected error occurred"
    assert data["request_id"] and data["request_id"] == r.headers["X-Request-Id"]
    assert data["contact"] == "support@company.com"
    text = r.body.decode()
    assert "Traceback" not in text and "mismatches" not in text and "psycopg" not in text


def test_openapi_document_is_public_and_lists_the_reconciliation_routes(api):
    r = api.get("/api/v1/openapi.json", headers={})
    assert r.status_code == 200
    doc = json.loads(r.body)
    assert doc["openapi"].startswith("3.")
    for p in ("/api/v1/reconciliation/trigger", "/api/v1/reconciliation/jobs", "/api/v1/reconciliation/jobs/{job_id}",
              "/api/v1/reconciliation/mismatches", "/api/v1/reconciliation/mismatches/{mismatch_id}/resolve",
              "/api/v1/metrics"):
        assert p in doc["paths"]


def _validation_examples(operation: dict) -> list[dict]:
    media = operation["responses"]["400"].get("content", {}).get("application/json", {})
    examples = [media["example"]] if "example" in media else []
    examples += [e["value"] for e in media.get("examples", {}).values()]
    return [e for e in examples if e.get("error") == "VALIDATION_ERROR"]


def test_each_documented_validation_example_is_the_answer_of_its_operation(api):
    """A 400 example in the document is what that operation answers to the input it names (a path
    route's example was a page_size problem, a parameter it does not have)."""
    doc = json.loads(api.get("/api/v1/openapi.json", headers={}).body)
    v1 = "/api/v1/reconciliation"
    send = {
        ("post", f"{v1}/trigger"): lambda: api.post(f"{v1}/trigger", {"tables": ["users"], "validation_strategy": "FAST"}),
        ("get", f"{v1}/jobs"): lambda: api.get(f"{v1}/jobs?page_size=500"),
        ("get", f"{v1}/jobs/{{job_id}}"): lambda: api.get(f"{v1}/jobs/not-a-uuid"),
        ("get", f"{v1}/mismatches"): lambda: api.get(f"{v1}/mismatches?page_size=500"),
        ("post", f"{v1}/mismatches/{{mismatch_id}}/resolve"): lambda: api.post(
            f"{v1}/mismatches/{uuid.uuid4()}/resolve", {"resolution_status": "IGNORED", "resolution_notes": "n" * 1001}),
    }
    for (method, path), request in send.items():
        examples = _validation_examples(doc["paths"][path][method])
        assert len(examples) == 1, (method, path, examples)
        r = request()
        assert (r.status_code, json.loads(r.body)) == (400, examples[0]), (method, path)


def test_success_responses_show_the_contracts_examples_valid_against_their_schemas(api):
    """Each CDC operation's success response carries the contract's example (with the additive fields),
    and the example is valid against the schema the API's answers are checked with."""
    import jsonschema

    doc = json.loads(api.get("/api/v1/openapi.json", headers={}).body)
    v1 = "/api/v1/reconciliation"
    cases = {("post", f"{v1}/trigger", "202"): ("message", "Reconciliation jobs queued for 3 tables"),
             ("get", f"{v1}/jobs", "200"): ("pagination", {"page": 1, "page_size": 20, "total_pages": 5, "total_items": 87}),
             ("get", f"{v1}/jobs/{{job_id}}", "200"): ("drift_percentage", 0.005),
             ("get", f"{v1}/mismatches", "200"): ("pagination", {"page": 1, "page_size": 50, "total_pages": 1, "total_items": 10}),
             ("post", f"{v1}/mismatches/{{mismatch_id}}/resolve", "200"): ("resolved_by", "admin@company.com")}
    for (method, path, status), (key, value) in cases.items():
        media = doc["paths"][path][method]["responses"][status]["content"]["application/json"]
        example = media["example"]
        assert example[key] == value, (path, example)
        errors = list(jsonschema.Draft202012Validator({**media["schema"], "components": doc["components"]})
                      .iter_errors(example))
        assert not errors, (path, [e.message for e in errors])


def test_cdc_timestamps_are_documented_as_date_times(api):
    """A client generated from the document reads started_at, detected_at, ... as date-times."""
    schemas = json.loads(api.get("/api/v1/openapi.json", headers={}).body)["components"]["schemas"]
    fields = [(name, prop, spec) for name in ("Job", "JobDetail", "SampleMismatch", "Mismatch", "ResolveResponse",
                                              "TriggerResponse")
              for prop, spec in schemas[name]["properties"].items()
              if prop.endswith("_at") or prop == "estimated_completion"]
    assert len(fields) == 9
    for name, prop, spec in fields:
        strings = [s for s in spec.get("anyOf", [spec]) if s.get("type") == "string"]
        assert strings and all(s.get("format") == "date-time" for s in strings), (name, prop, spec)


def test_database_unreachable_is_503_with_retry_after(api, settings_env):
    import time

    from chalicelib.db import pool

    pool.close_pool()
    settings_env(database_url="postgresql://postgres@127.0.0.1:1/recon", db_pool_timeout=1)
    try:
        started = time.monotonic()
        r = api.get("/api/v1/reconciliation/jobs")
        elapsed = time.monotonic() - started
    finally:
        pool.close_pool()
    assert r.status_code == 503, r.body[:300]
    data = body(r)
    check_documented(data, "ServiceUnavailableError")
    assert data["error"] == "SERVICE_UNAVAILABLE" and data["request_id"] == r.headers["X-Request-Id"]
    assert int(r.headers["Retry-After"]) == data["retry_after"] >= 1
    assert "127.0.0.1:1" not in r.body.decode() and elapsed < 30
