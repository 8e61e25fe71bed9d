"""The same hostile requests against every operation of /api/v1/openapi.json (so new routes are covered
as soon as they are declared): malformed path ids, 100,000-deep JSON, NUL characters, NaN, an unknown
query parameter, a URL over 8 KB, headers over 64 KB, a method the route does not have. Each answer is a 4xx the document declares for
that operation, with a body valid against the declared schema — never a 5xx."""
from __future__ import annotations

import re

import jsonschema
import pytest
import requests

DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.fixture(scope="module")
def target(hostile_target):
    url, key = hostile_target
    doc = requests.get(f"{url}/openapi.json", timeout=30).json()
    origin = url.removesuffix("/api/v1")
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {key}"
    return origin, doc, session


def _operations(doc):
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            yield path, method, op


def _schema_for(doc, op, status: int):
    responses = op["responses"]
    response = responses.get(str(status))
    assert response is not None, f"status {status} is not documented (documented: {sorted(responses)})"
    if "$ref" in response:
        response = doc["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    return response["content"]["application/json"]["schema"]


def _check(doc, path, method, op, r, statuses=range(400, 500)):
    where = f"{method.upper()} {path} -> {r.request.method} {r.request.url[:120]}"
    assert r.status_code in statuses, f"{where}: {r.status_code} {r.text[:300]}"
    schema = _schema_for(doc, op, r.status_code)
    jsonschema.Draft202012Validator({**schema, "components": doc["components"]}).validate(r.json())


def _concrete(path: str, value: str) -> str:
    return re.sub(r"\{\w+\}", value, path)


def test_hostile_requests_to_every_operation(target):
    origin, doc, s = target
    checked = 0
    for path, method, op in _operations(doc):
        params = [p for p in op.get("parameters", []) if p["in"] == "path"]
        good_path = path
        for p in params:
            kind = p["schema"].get("type")
            good_path = good_path.replace("{%s}" % p["name"], "1" if kind == "integer" else
                                          "550e8400-e29b-41d4-a716-446655440000")
        # malformed path ids
        if params:
            for bad in ("abc", "0", "-1", "99999999999999999999", "%00", "1.5"):
                r = s.request(method, origin + _concrete(path, bad), timeout=30)
                _check(doc, path, method, op, r, statuses=(400, 401, 404))
                checked += 1
        # an unknown query parameter
        r = s.request(method, origin + good_path, params={"fuzzNoSuchParameter": "1"}, timeout=30)
        _check(doc, path, method, op, r, statuses=(400, 401, 404, 409, 429))
        checked += 1
        # a URL over 8 KB and headers over 64 KB: refused before the route, in the route's dialect
        r = s.request(method, origin + good_path, params={"fuzzLong": "x" * 9000}, timeout=30)
        _check(doc, path, method, op, r, statuses=(414,))
        r = s.request(method, origin + good_path, headers={"X-Fuzz-Large": "x" * 70_000}, timeout=30)
        _check(doc, path, method, op, r, statuses=(431,))
        checked += 2
        # bodies no JSON reader should choke on
        if "requestBody" in op and "application/json" in op["requestBody"]["content"]:
            for raw in (DEEP, b'{"a": "x\\u0000y"}', b'{"a": NaN}', b'{"a": 1e999}', b"\xff\xfe", b"{"):
                r = s.request(method, origin + good_path, data=raw, headers={"Content-Type": "application/json"},
                              timeout=30)
                _check(doc, path, method, op, r, statuses=(400, 401, 404, 409, 429))
                checked += 1
        # a method the route does not have: 405 naming the allowed ones (not part of the document)
        other = next(m for m in ("patch", "put", "delete", "post", "get") if m not in doc["paths"][path])
        r = s.request(other.upper(), origin + good_path, timeout=30)
        assert r.status_code in (401, 405), f"{other.upper()} {good_path}: {r.status_code} {r.text[:200]}"
        body = r.json()
        assert ("error" in body) or ("errorCode" in body and body["success"] is False), body
        if r.status_code == 405:
            assert method.upper() in r.headers["Allow"]
        checked += 1
    assert checked > 100
