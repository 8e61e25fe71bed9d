"""Every definitions route needs a key and answers the streams error shape without one; every one is
documented in /api/v1/openapi.json with its error statuses."""
from __future__ import annotations

import re

import requests

from tests.integration.streams.conftest import assert_error

PREFIXES = ("/api/v1/files", "/api/v1/rule-sets", "/api/v1/data-sources", "/api/v1/streams", "/api/v1/exceptions",
            "/api/v1/reconciliations")
ROUTES = {
    ("post", "/api/v1/files"), ("get", "/api/v1/files"), ("post", "/api/v1/files/uploads"),
    ("post", "/api/v1/files/{id}/complete"), ("get", "/api/v1/files/{id}"), ("get", "/api/v1/files/{id}/download"),
    ("delete", "/api/v1/files/{id}"),
    ("post", "/api/v1/rule-sets"), ("get", "/api/v1/rule-sets"), ("get", "/api/v1/rule-sets/{id}"),
    ("put", "/api/v1/rule-sets/{id}"), ("delete", "/api/v1/rule-sets/{id}"),
    ("post", "/api/v1/data-sources"), ("get", "/api/v1/data-sources"), ("get", "/api/v1/data-sources/{id}"),
    ("put", "/api/v1/data-sources/{id}"), ("delete", "/api/v1/data-sources/{id}"),
    ("post", "/api/v1/data-sources/{id}/test"),
    ("post", "/api/v1/streams"), ("get", "/api/v1/streams"), ("get", "/api/v1/streams/{id}"),
    ("put", "/api/v1/streams/{id}"), ("delete", "/api/v1/streams/{id}"), ("post", "/api/v1/streams/{id}/pause"),
    ("post", "/api/v1/streams/{id}/resume"), ("post", "/api/v1/streams/{id}/validate"),
    ("get", "/api/v1/exceptions"), ("get", "/api/v1/exceptions/{id}"), ("patch", "/api/v1/exceptions/{id}"),
    ("get", "/api/v1/exceptions/{id}/history"),
    ("post", "/api/v1/reconciliations"), ("get", "/api/v1/reconciliations"), ("get", "/api/v1/reconciliations/{id}"),
    ("post", "/api/v1/reconciliations/{id}/start"), ("get", "/api/v1/reconciliations/{id}/status"),
    ("post", "/api/v1/reconciliations/{id}/cancel"), ("get", "/api/v1/reconciliations/{id}/exceptions"),
}


def _base(stack_env) -> str:
    return stack_env["API_URL"].rsplit("/api/v1", 1)[0]


def test_every_route_needs_a_key(stack_env):
    base = _base(stack_env)
    for method, path in sorted(ROUTES):
        url = base + re.sub(r"\{\w+\}", "1", path)
        for headers in ({}, {"Authorization": "Bearer recon_00000000_invalid"}):
            r = requests.request(method.upper(), url, headers=headers, json={} if method != "get" else None, timeout=30)
            assert_error(r, 401, "UNAUTHORIZED")


def test_every_route_is_documented(stack_env):
    doc = requests.get(stack_env["API_URL"] + "/openapi.json", timeout=30).json()
    documented = {(m, p) for p, ops in doc["paths"].items() if p.startswith(PREFIXES) and "/runs" not in p
                  for m in ops}
    assert documented == ROUTES
    for method, path in ROUTES:
        op = doc["paths"][path][method]
        assert op["summary"] and {"401", "429", "500"} <= set(op["responses"])
        if "{id}" in path:
            assert "400" in op["responses"]
    assert "413" in doc["paths"]["/api/v1/files"]["post"]["responses"]
    assert "409" in doc["paths"]["/api/v1/files/{id}"]["delete"]["responses"]
    assert "302" in doc["paths"]["/api/v1/files/{id}/download"]["get"]["responses"]
    errs = doc["paths"]["/api/v1/streams"]["post"]["responses"]["400"]
    assert "StreamsErrorBody" in str(errs)
