"""Failures are contract-shaped (500 with a request id, no stack trace); the OpenAPI document is public."""
from __future__ import annotations

import json

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
