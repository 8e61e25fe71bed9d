"""The packaged REST API: every method of every resource reaches the app (so wrong methods and
unknown paths are answered by it, contract-shaped), and what API Gateway answers itself is
contract-shaped too (gateway responses added by infra/patch_template.py)."""
from __future__ import annotations

import copy
import json

import jsonschema
import pytest

import app as application
from chalicelib.api.core import FALLBACK_METHODS, PROXY_PATH
from chalicelib.api.openapi import document
from infra import patch_template


@pytest.fixture(scope="module")
def template():
    from chalice.deploy.swagger import CFNSwaggerGenerator

    swagger = CFNSwaggerGenerator().generate_swagger(application.app)
    return {"Resources": {"RestAPI": {"Type": "AWS::Serverless::Api", "Properties": {"DefinitionBody": swagger}}}}


@pytest.fixture(scope="module")
def patched(template):
    out = copy.deepcopy(template)
    changes = patch_template.patch(out)
    assert any("gateway responses" in c for c in changes)
    return out["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]


def test_every_resource_has_every_method(template):
    paths = template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]["paths"]
    assert PROXY_PATH in paths and "/" in paths
    for path, ops in paths.items():
        assert {m.upper() for m in ops if not m.startswith("x-")} >= set(FALLBACK_METHODS), path


def test_greedy_path_declares_its_parameter_and_the_swagger_is_valid(patched):
    from openapi_spec_validator import OpenAPIV2SpecValidator

    for method, op in patched["paths"][PROXY_PATH].items():
        assert {"name": "proxy", "in": "path", "required": True, "type": "string"} in op["parameters"], method
    doc = json.loads(json.dumps(patched).replace('{"Fn::Sub"', '{"x-sub"'))
    doc = _replace_intrinsics(doc)
    # API Gateway's greedy `{proxy+}` with parameter `proxy` is its own convention, unknown to
    # generic Swagger validators; the rest of the document must be plain valid Swagger 2.0
    doc["paths"].pop(PROXY_PATH)
    OpenAPIV2SpecValidator(doc).validate()


def _replace_intrinsics(value):
    if isinstance(value, dict):
        if set(value) == {"x-sub"}:
            return "arn:aws:apigateway:us-east-1:lambda:path/functions/f/invocations"
        return {k: _replace_intrinsics(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_intrinsics(v) for v in value]
    return value


def _render(template_text: str) -> dict:
    """What API Gateway sends: $context values substituted (messageString is a quoted JSON string)."""
    text = template_text.replace("$context.error.messageString", json.dumps('Missing "token"'))
    text = text.replace("$context.requestId", "c0ffee-1234").replace("$context.error.responseType", "BAD_REQUEST_BODY")
    assert "$" not in text
    return json.loads(text)


def _valid(doc, schema_name, body):
    jsonschema.Draft202012Validator({"$ref": f"#/components/schemas/{schema_name}",
                                     "components": doc["components"]}).validate(body)


@pytest.mark.parametrize("kind, status, cdc_schema, code", [
    ("MISSING_AUTHENTICATION_TOKEN", "404", "Error", "NOT_FOUND"),
    ("REQUEST_TOO_LARGE", "413", "Error", "PAYLOAD_TOO_LARGE"),
    ("THROTTLED", "429", "RateLimitError", "RATE_LIMITED"),
    ("QUOTA_EXCEEDED", "429", "RateLimitError", "RATE_LIMITED"),
    ("DEFAULT_4XX", None, "Error", "BAD_REQUEST_BODY"),
    ("DEFAULT_5XX", None, "InternalError", "INTERNAL_ERROR"),
])
def test_gateway_answers_fit_both_dialects(patched, kind, status, cdc_schema, code):
    doc = document()
    response = patched["x-amazon-apigateway-gateway-responses"][kind]
    assert response.get("statusCode") == status
    assert response["responseParameters"]["gatewayresponse.header.Content-Type"] == "'application/json'"
    body = _render(response["responseTemplates"]["application/json"])
    _valid(doc, cdc_schema, body)
    _valid(doc, "StreamsErrorBody", body)
    assert body["errorCode"] == code and body["success"] is False and body["data"] is None
    if status == "429":
        assert response["responseParameters"]["gatewayresponse.header.Retry-After"] == f"'{body['retry_after']}'"


def test_patch_is_idempotent(patched):
    again = {"Resources": {"RestAPI": {"Type": "AWS::Serverless::Api",
                                       "Properties": {"DefinitionBody": copy.deepcopy(patched)}}}}
    assert patch_template.patch(again) == []
