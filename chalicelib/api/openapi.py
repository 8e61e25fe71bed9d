"""GET /api/v1/openapi.json (public): the OpenAPI 3.1 document of the service, assembled from the
route declarations of the shared layer (chalicelib/api/core.py Routes) and their pydantic models, so
the document, the validation and the answers cannot drift apart.

A unit test asserts that every route the app registers is described here.
"""
from __future__ import annotations

import copy
from functools import lru_cache
from typing import Any

from chalice import Blueprint

from chalicelib.api.core import Dialect, Routes, body_optional, json_response
from chalicelib.domain.support import SUPPORT_CONTACT

bp = Blueprint(__name__)
api = Routes(bp, dialect=Dialect.CDC, tag="operations")

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
         "request_id": "req-abc123", "contact": SUPPORT_CONTACT},
    ),
    "ServiceUnavailable": _error(
        "A dependency (the database or Cassandra) is unavailable; retry after Retry-After seconds",
        "ServiceUnavailableError",
        {"error": "SERVICE_UNAVAILABLE", "message": "A dependency (the database or Cassandra) is unavailable; retry later",
         "retry_after": 5, "request_id": "req-abc123"},
        headers={"Retry-After": {"description": "Seconds until the service is expected back",
                                 "schema": {"type": "integer", "minimum": 1}}},
    ),
    "UriTooLong": _error(
        "Request line over 8 KB: refused before the route", "Error",
        {"error": "URI_TOO_LONG", "message": "The request line is too long (at most 8 KB of URL is accepted)"},
    ),
    "HeadersTooLarge": _error(
        "Request headers too large: refused before the route", "Error",
        {"error": "HEADERS_TOO_LARGE", "message": "The request headers are too large"},
    ),
}
#: what the HTTP layer refuses as 400 before any route (infra/local/api_server.py; API Gateway alike)
BAD_REQUEST = ("BadRequestError", {"error": "BAD_REQUEST", "message": "The request is not valid HTTP/1.1"})


def _bad_request(*alternatives: tuple[str, dict], description: str = "Invalid request: the body names the field "
                 "and the problem") -> dict:
    schemas = [_ref(name) for name, _ in alternatives]
    examples = {name: {"value": example} for name, example in alternatives}
    return {
        "description": description,
        "content": {"application/json": {"schema": {"oneOf": schemas} if len(schemas) > 1 else schemas[0],
                                          "examples": examples}},
    }


COMMON_RESPONSES["ValidationFailed"] = _bad_request(
    ("ValidationErrorBody", {"error": "VALIDATION_ERROR",
                             "message": "Invalid query parameter 'page_size': must be <= 100 (got 500)",
                             "details": [{"field": "page_size", "problem": "must be <= 100 (got 500)"}]}),
    BAD_REQUEST,
    description="Malformed JSON, wrong type, unknown enum value, unknown field or query parameter, out-of-range "
                "value (VALIDATION_ERROR); a request that is not valid HTTP/1.1 (BAD_REQUEST)")


def _query_params(schema: dict) -> list[dict]:
    params = []
    required = set(schema.get("required", []))
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
        param = {"name": name, "in": "query", "required": name in required, "schema": prop}
        if description:
            param["description"] = description
        params.append(param)
    return params


# ------------------------------------------------------------------ operations declared in the registry

_STREAMS_ERROR_TEXT = {
    400: "Invalid request (VALIDATION_ERROR): `errors` lists every problem with its field path",
    401: "Missing or unknown API key (UNAUTHORIZED)",
    404: "Unknown id (NOT_FOUND); the message names the kind and the id",
    409: "The current state forbids the action (CONFLICT); the message says which",
    408: "The body stopped arriving before its Content-Length (REQUEST_TIMEOUT): refused after 30 s without a byte",
    413: "Body over the limit (PAYLOAD_TOO_LARGE): over 10 MB, any request is refused before the route",
    414: "Request line over 8 KB (URI_TOO_LONG): refused before the route",
    431: "Request headers too large (HEADERS_TOO_LARGE): refused before the route",
    429: "Rate limit exceeded (RATE_LIMITED); see Retry-After",
    500: "Unexpected failure (INTERNAL_ERROR) with requestId, also in the X-Request-Id header and the logs",
    503: "A dependency is unavailable (SERVICE_UNAVAILABLE); see Retry-After",
}
RETRY_AFTER = {"Retry-After": {"description": "Seconds until a request will be accepted",
                               "schema": {"type": "integer", "minimum": 1}}}
LOCATION = {"Location": {"description": "The created resource (a 202: the resource to watch), e.g. /api/v1/streams/9001",
                         "schema": {"type": "string"}}}


def _path_param_schema(kind: str) -> dict:
    from chalicelib.api.core import MAX_BIGINT

    if kind == "int":
        return {"type": "integer", "minimum": 1, "maximum": MAX_BIGINT}
    if kind == "uuid":
        return {"type": "string", "format": "uuid"}
    return {"type": "string", "minLength": 1}


def _envelope(data_schema: dict) -> dict:
    return {"type": "object", "required": ["success", "message", "data"], "additionalProperties": False,
            "properties": {"success": {"const": True}, "message": {"type": ["string", "null"]}, "data": data_schema}}


# (model, mode) -> {"$ref": ...}: pydantic names two models of the same class name apart
_REFS: dict = {}


def _model_ref(model, mode: str = "serialization") -> dict:
    if model is None:
        return {"type": "null"}
    return dict(_REFS.get((model, mode)) or _ref(model.__name__))


def _schema_of(schemas: dict, model, mode: str = "validation") -> dict:
    return schemas[_model_ref(model, mode)["$ref"].rsplit("/", 1)[1]]


def _registry_operation(op, schemas: dict) -> dict:
    from chalicelib.api.core import Dialect

    streams = op.dialect is Dialect.STREAMS
    params = [{"name": n, "in": "path", "required": True, "schema": _path_param_schema(k),
               **({"description": op.param_docs[n]} if n in op.param_docs else {})}
              for n, k in op.path_params.items()]
    if op.query is not None:
        params += _query_params(_schema_of(schemas, op.query))
    out: dict[str, Any] = {"tags": [op.tag], "operationId": op.operation_id, "summary": op.summary}
    if op.description:
        out["description"] = op.description
    if params:
        out["parameters"] = params
    if op.public:
        out["security"] = []
    if op.body is not None:
        media: dict[str, Any] = {"schema": _model_ref(op.body, "validation")}
        if op.read_only is not None:
            media["schema"] = _read_only_body(schemas, op)
        if op.body_example is not None:
            media["example"] = op.body_example
        out["requestBody"] = {"required": not body_optional(op.body), "content": {"application/json": media}}
    elif op.raw_request is not None:
        out["requestBody"] = {"required": True, "content": {t: {"schema": schema} for t, schema in op.raw_request.items()}}
    if op.raw_response is not None:
        success = {"description": op.summary, "content": op.raw_response}
    else:
        schema = _model_ref(op.response)
        success = {"description": op.summary,
                   "content": {"application/json": {"schema": _envelope(schema) if streams else schema}}}
    if streams and op.status in (201, 202):   # chalicelib.api.core.created
        success["headers"] = LOCATION
    responses: dict[str, Any] = {str(op.status): success}
    # a malformed request or a query parameter the route does not take (400); a dependency outage (503)
    # a URL over 8 KB (414) or headers too large (431): refused before the route, as a too large body (413)
    statuses = set(op.errors) | {400, 414, 431, 503}
    if op.body is not None or op.raw_request is not None:   # refused before the route (core.BODY_TOO_LARGE)
        statuses |= {408, 413}                                # or a body that stops arriving
    if not op.public:
        statuses |= {401, 429, 500}
    else:
        statuses.add(500)
    for code in sorted(statuses):
        if streams:
            entry = {"description": _STREAMS_ERROR_TEXT.get(code, "Error"),
                     "content": {"application/json": {"schema": _ref("StreamsErrorBody")}}}
            if code in (429, 503):
                entry["headers"] = RETRY_AFTER
            responses[str(code)] = entry
        else:
            responses[str(code)] = _cdc_error_response(code, op.errors.get(code))
    responses.update(op.extra_responses)
    out["responses"] = responses
    return out


# what a PUT does with a read-only field GET answered (chalicelib.api.core.check_read_only)
_READ_ONLY_DOCS = {
    "id": "Read-only, as GET answered it: must be the path's id (400 INVALID_VALUE otherwise). May be left out.",
    "version": "Read-only, as GET answered it: the version the body was read at. A version other than the current "
               "one is a 409 CONFLICT (the resource changed since: read it again and reapply the change). Left "
               "out, the PUT replaces whatever version is current.",
    "status": "Read-only, as GET answered it: must be the current status (400 INVALID_VALUE otherwise); "
              "POST /streams/{id}/pause, /resume and DELETE /streams/{id} change it. May be left out.",
}
_IGNORED = "Read-only, as GET answered it: accepted and ignored. May be left out."


def _put_name(name: str) -> str:
    return name.removesuffix("In") + "Update"


def _read_only_body(schemas: dict, op) -> dict:
    """The body schema of a PUT that takes back what GET answered: the request model's schema plus the
    response's read-only fields (op.read_only), marked readOnly and saying what the PUT does with each,
    under its own component (<Model>Update; a list's items likewise: StepUpdate)."""
    def read_only(out: dict, names, into: dict, docs: dict) -> None:
        for n in names:
            known = out.get("properties", {}).get(n) or ({"type": "integer"} if n in op.read_only.integers else {})
            prop = {k: v for k, v in known.items() if k not in ("title", "default")}
            into["properties"][n] = {**copy.deepcopy(prop), "readOnly": True, "description": docs.get(n, _IGNORED)}

    def resolved(schema: dict) -> dict:
        ref = schema.get("$ref") or (schema.get("items") or {}).get("$ref")
        return schemas[ref.rsplit("/", 1)[1]] if ref else {}

    name = _model_ref(op.body, "validation")["$ref"].rsplit("/", 1)[1]
    out = _schema_of(schemas, op.response, "serialization")
    body = copy.deepcopy(schemas[name])
    read_only(out, op.read_only.names, body, _READ_ONLY_DOCS)
    for field, inner in op.read_only.each.items():
        item_name = body["properties"][field]["items"]["$ref"].rsplit("/", 1)[1]
        item = copy.deepcopy(schemas[item_name])
        read_only(resolved(out["properties"][field]), inner, item, {})   # checked only at the top level
        schemas[_put_name(item_name)] = item
        body["properties"][field]["items"] = _ref(_put_name(item_name))
    schemas[_put_name(name)] = body
    return _ref(_put_name(name))


_CDC_COMMON = {401: "Unauthorized", 414: "UriTooLong", 429: "RateLimited", 431: "HeadersTooLarge", 500: "InternalError",
               503: "ServiceUnavailable"}


def _cdc_error_response(code: int, spec: Any) -> dict:
    """A CDC error response: `spec` is None (the default for the status), a schema name, a
    (name, example) pair, a list of those (alternatives, pairwise exclusive by their `error` value),
    or a complete response object."""
    if isinstance(spec, dict):
        return spec
    if spec is None:
        if code in _CDC_COMMON:
            return {"$ref": f"#/components/responses/{_CDC_COMMON[code]}"}
        if code == 400:
            return {"$ref": "#/components/responses/ValidationFailed"}
        return {"description": "Error", "content": _json("Error")}
    alternatives = spec if isinstance(spec, list) else [spec]
    alternatives = [a if isinstance(a, tuple) else (a, None) for a in alternatives]
    if code == 400:   # any request may also be refused by the HTTP layer
        alternatives.append(BAD_REQUEST)
    if len(alternatives) == 1:
        name, example = alternatives[0]
        return {"description": "Error", "content": _json(name, example)}
    if code == 503:
        out = _bad_request(*alternatives, description="Switched off, or a dependency is unavailable")
        out["headers"] = {"Retry-After": RETRY_AFTER["Retry-After"]}
        return out
    return _bad_request(*alternatives)


def _registry_models():
    from chalicelib.api.core import REGISTRY, StreamsErrorBody

    inputs, outputs = [], [StreamsErrorBody]
    for op in REGISTRY.operations:
        inputs += [m for m in (op.body, op.query) if m is not None]
        if op.response is not None:
            outputs.append(op.response)
    return list(dict.fromkeys(inputs)), list(dict.fromkeys(outputs))


def _registry_paths(schemas: dict) -> dict:
    from chalicelib.api.core import REGISTRY

    paths: dict[str, dict] = {}
    for op in REGISTRY.operations:
        paths.setdefault(op.path, {})[op.method] = _registry_operation(op, schemas)
    return paths


# every string of a request (body or query) is refused with a NUL character (chalicelib.api.core _nul_problems,
# parse_query: PostgreSQL text cannot hold one); the document says so where no enum, format or pattern does
NO_NUL = "^[^\\x00]*$"


def _no_nul_in_request_strings(schemas: dict, roots: list[dict]) -> None:
    seen: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            ref = node.get("$ref")
            if ref:
                name = ref.rsplit("/", 1)[1]
                if name not in seen and name in schemas:
                    seen.add(name)
                    walk(schemas[name])
            if node.get("type") == "string" and not {"enum", "const", "format", "pattern"} & set(node):
                node["pattern"] = NO_NUL
            for key, value in node.items():
                if key == "properties":   # names, then schemas
                    walk(list(value.values()))
                elif key not in ("examples", "example", "default", "description", "title"):
                    walk(value)

    walk(roots)


def _build() -> dict:
    from chalicelib.api.core import REGISTRY

    return _build_cached(len(REGISTRY.operations))


@lru_cache(maxsize=4)
def _build_cached(_n_operations: int) -> dict:
    from pydantic.json_schema import models_json_schema

    from chalicelib.api.core import REGISTRY

    from chalicelib.api import models

    reg_inputs, reg_outputs = _registry_models()
    inputs = list(dict.fromkeys([models.TriggerRequest, models.ResolveRequest, models.JobsQuery,
                                 models.MismatchesQuery, *reg_inputs]))
    outputs = [m for m in dict.fromkeys([*models.RESPONSE_MODELS, *reg_outputs]) if m not in inputs]
    keys, top = models_json_schema(
        [(m, "validation") for m in inputs] + [(m, "serialization") for m in outputs], ref_template=REF
    )
    _REFS.clear()
    _REFS.update(keys)
    schemas = top["$defs"]
    _no_nul_in_request_strings(schemas, [_model_ref(m, "validation") for m in inputs])
    paths = _registry_paths(schemas)
    # the query models only feed the parameter lists
    query_models = {models.JobsQuery, models.MismatchesQuery} | {op.query for op in REGISTRY.operations if op.query}
    for model in query_models:
        schemas.pop(_model_ref(model, "validation")["$ref"].rsplit("/", 1)[1], None)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "recon API: CDC reconciliation and reconciliation streams",
            "version": "1.0.0",
            "description": "Cassandra to PostgreSQL CDC reconciliation (tag cdc: snake_case bodies, errors "
                           "{error, message}) and the reconciliation streams platform (camelCase, envelope "
                           "{success, message, data}). Decisions where the contracts are silent: docs/api.md, "
                           "docs/streams.md. All timestamps are ISO 8601 UTC with a Z.",
        },
        "servers": [{"url": "http://localhost:8080"}, {"url": "https://cdc-pipeline.company.com"}],
        "security": [{"bearerAuth": []}],
        "tags": [{"name": t} for t in dict.fromkeys(
            ["cdc", "metrics", "operations", *(op.tag for op in REGISTRY.operations)])],
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


@api.route("/openapi.json", "GET", public=True, operation_id="openapi", summary="This document (public)",
           raw_response={"application/json": {"schema": {"type": "object"}}})
def openapi_json():
    return json_response(_build())
