"""The OpenAPI document covers every route of the app and is a valid OpenAPI document."""
import json

import pytest

import app as application
from chalicelib.api.openapi import document


@pytest.fixture(scope="module")
def doc():
    return document()


def routes():
    for path, methods in application.app.routes.items():
        for method in methods:
            if method != "OPTIONS":
                yield path, method.lower()


@pytest.mark.parametrize("path, method", list(routes()))
def test_every_route_is_documented(doc, path, method):
    assert method in doc["paths"].get(path, {}), f"{method.upper()} {path} is not in the OpenAPI document"


def test_no_documented_route_is_missing_from_the_app(doc):
    registered = set(routes())
    documented = {(p, m) for p, ops in doc["paths"].items() for m in ops}
    assert documented <= registered


def test_document_is_valid_openapi(doc):
    from openapi_spec_validator import validate

    validate(doc)


def test_every_ref_resolves(doc):
    text = json.dumps(doc)
    import re

    for ref in set(re.findall(r'"\$ref": "#/components/(\w+)/(\w+)"', text)):
        assert ref[1] in doc["components"][ref[0]], ref


@pytest.mark.parametrize("path, method", [p for p in routes() if "health" not in p[0] and "openapi" not in p[0]])
def test_authenticated_routes_document_common_errors(doc, path, method):
    responses = doc["paths"][path][method]["responses"]
    for code in ("401", "429", "500"):
        assert code in responses, (path, code)


def test_public_routes_need_no_auth(doc):
    assert doc["paths"]["/api/v1/openapi.json"]["get"]["security"] == []
    assert doc["paths"]["/api/v1/health"]["get"]["security"] == []
    assert doc["security"] == [{"bearerAuth": []}]


def test_error_and_body_shapes_in_the_document(doc):
    paths = doc["paths"]
    trigger = paths["/api/v1/reconciliation/trigger"]["post"]
    assert {"202", "400", "401", "429", "500", "503"} <= set(trigger["responses"])
    assert trigger["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/TriggerRequest"}
    assert "404" in paths["/api/v1/reconciliation/jobs/{job_id}"]["get"]["responses"]
    assert "404" in paths["/api/v1/reconciliation/mismatches/{mismatch_id}/resolve"]["post"]["responses"]
    schemas = doc["components"]["schemas"]
    assert schemas["ValidationStrategy"]["enum"] == ["ROW_COUNT", "CHECKSUM", "TIMESTAMP_RANGE", "SAMPLE"]
    assert set(schemas["TriggerRequest"]["required"]) == {"tables", "validation_strategy"}
    assert set(schemas["RateLimitError"]["required"]) >= {"error", "message", "retry_after"}
    assert set(schemas["InternalError"]["required"]) >= {"error", "message", "request_id"}
    names = {p["name"] for p in paths["/api/v1/reconciliation/mismatches"]["get"]["parameters"]}
    assert names == {"table", "mismatch_type", "resolution_status", "job_id", "from_date", "to_date", "page", "page_size"}
    names = {p["name"] for p in paths["/api/v1/reconciliation/jobs"]["get"]["parameters"]}
    assert names == {"table", "status", "job_type", "from_date", "to_date", "page", "page_size"}
