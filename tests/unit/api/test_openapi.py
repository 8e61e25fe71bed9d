"""The OpenAPI document covers every route of the app and is a valid OpenAPI document."""
import json

import pytest

import app as application
from chalicelib.api.openapi import document


@pytest.fixture(scope="module")
def doc():
    return document()


def routes():
    """Every route of the app but the 404/405 fallbacks (chalicelib/api/core.py install_fallbacks)."""
    from chalicelib.api.core import REGISTRY

    for path, methods in application.app.routes.items():
        for method in methods:
            if method != "OPTIONS" and (path, method) not in REGISTRY.fallbacks:
                yield path, method.lower()


def test_fallbacks_cover_every_other_method_and_path():
    from chalicelib.api.core import FALLBACK_METHODS, PROXY_PATH, REGISTRY

    for path, methods in application.app.routes.items():
        assert set(FALLBACK_METHODS) <= set(methods), path
    assert {(PROXY_PATH, m) for m in FALLBACK_METHODS} <= REGISTRY.fallbacks


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


def _resolved(doc, response):
    if "$ref" in response:
        response = doc["components"][response["$ref"].split("/")[2]][response["$ref"].rsplit("/", 1)[1]]
    return response


def _bodies_of_every_error_kind():
    """Real error bodies as the API builds them, in the CDC dialect."""
    from chalicelib.api.core import Dialect, Problem, RateLimited, RequestInvalid, unauthorized

    from chalicelib.api.cdc import _invalid_table
    from chalicelib.api.core import ApiError

    yield RequestInvalid([Problem("resolution_status", "REQUIRED", "is required")]).body(Dialect.CDC)
    yield _invalid_table("nope", ["users"]).body(Dialect.CDC)
    yield ApiError(400, "INVALID_STATUS_TRANSITION", "Cannot change resolution_status from 'IGNORED' to 'PENDING'",
                   current_status="IGNORED", requested_status="PENDING").body(Dialect.CDC)
    yield unauthorized().body(Dialect.CDC)
    yield RateLimited(5).body(Dialect.CDC)


def test_every_one_of_is_unambiguous_for_the_bodies_the_api_sends(doc):
    """A VALIDATION_ERROR body (or any other error the API sends) matches at most one alternative of a
    oneOf, and every example matches exactly one."""
    import jsonschema

    bodies = list(_bodies_of_every_error_kind())
    checked = 0
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            for status, response in op["responses"].items():
                media = _resolved(doc, response).get("content", {}).get("application/json")
                if not media or "oneOf" not in media["schema"]:
                    continue
                alternatives = [jsonschema.Draft202012Validator({**alt, "components": doc["components"]})
                                for alt in media["schema"]["oneOf"]]
                for body in bodies + [e["value"] for e in media.get("examples", {}).values()]:
                    matches = sum(v.is_valid(body) for v in alternatives)
                    assert matches <= 1, (path, method, status, body)
                for example in media.get("examples", {}).values():
                    assert sum(v.is_valid(example["value"]) for v in alternatives) == 1, (path, status, example)
                checked += 1
    assert checked >= 3


def test_resolve_validation_error_is_valid_against_the_document(doc):
    import jsonschema

    from chalicelib.api.core import Dialect, Problem, RequestInvalid

    body = RequestInvalid([Problem("resolution_notes", "TOO_LONG", "must be at most 1000 characters")]).body(Dialect.CDC)
    schema = doc["paths"]["/api/v1/reconciliation/mismatches/{mismatch_id}/resolve"]["post"]["responses"]["400"]
    schema = schema["content"]["application/json"]["schema"]
    jsonschema.Draft202012Validator({**schema, "components": doc["components"]}).validate(body)


def test_an_exception_patch_documents_status_as_never_null(doc):
    """PATCH /exceptions/{id}: a status given as null is a 400 (an exception always has one), so the
    document does not call null valid for it (it did: anyOf [ExceptionStatus, null])."""
    body = doc["paths"]["/api/v1/exceptions/{id}"]["patch"]["requestBody"]["content"]["application/json"]["schema"]
    if "$ref" in body:
        body = doc["components"]["schemas"][body["$ref"].rsplit("/", 1)[-1]]
    status = body["properties"]["status"]
    assert "null" not in json.dumps(status) and status.get("$ref", "").endswith("/ExceptionStatus"), status


def test_streams_answers_name_the_contract_enums(doc):
    """streams §5.1: a run's triggerType is a TriggerType like a stream's, not any string."""
    schemas = doc["components"]["schemas"]
    contract = {"TriggerType": ["MANUAL", "SCHEDULED", "EVENT"],
                "RunStatus": ["PENDING", "RUNNING", "PARTIAL_FAILED", "FAILED", "COMPLETED", "CANCELED"]}
    for name, field, enum in (("RunOut", "triggerType", "TriggerType"), ("StreamOut", "triggerType", "TriggerType"),
                              ("RunOut", "status", "RunStatus"), ("RunCreatedOut", "status", "RunStatus")):
        assert schemas[name]["properties"][field] == {"$ref": f"#/components/schemas/{enum}"}, (name, field)
        assert schemas[enum]["enum"] == contract[enum]


def test_query_parameters_the_route_requires_are_required_in_the_document(doc):
    """A query parameter without a default (POST /files?filename=) is `required: true`: a client built from the
    document must send it (it was documented optional and every upload without it was a 400)."""
    from pydantic import ValidationError

    from chalicelib.api.core import REGISTRY

    checked = 0
    for op in REGISTRY.operations:
        if op.query is None:
            continue
        try:   # the names the route refuses to go without: the query parsed with no parameter at all
            op.query.model_validate({})
            missing = set()
        except ValidationError as e:
            missing = {err["loc"][0] for err in e.errors() if err["type"] == "missing"}
        params = doc["paths"][op.path][op.method]["parameters"]
        assert {p["name"] for p in params if p["in"] == "query" and p["required"]} == missing, \
            f"{op.method.upper()} {op.path}"
        checked += 1
    assert checked >= 10
    upload = doc["paths"]["/api/v1/files"]["post"]["parameters"]
    assert [p["required"] for p in upload if p["name"] == "filename"] == [True]


def _each_valid_case(doc, operations, each) -> None:
    """each(op, case) for requests schemathesis generates from the document in valid mode (NUL allowed), 30 an
    operation, derandomized."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis import GenerationMode

    schema = schemathesis.openapi.from_dict(doc)
    schema.config.generation.update(modes=[GenerationMode.POSITIVE], allow_x00=True)

    def run(op) -> None:
        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None,
                  derandomize=True)
        @given(schema[op.path][op.method.upper()].as_strategy(generation_mode=GenerationMode.POSITIVE))
        def sent(case):
            each(op, case)

        sent()

    for op in operations:
        run(op)


def test_every_query_the_document_declares_valid_is_accepted(doc):
    """Query strings generated from the document (schemathesis, valid mode) pass the route's query parsing:
    the document promises no more than the API takes (from_date/to_date were any string, so a client built
    from it could send 'yesterday' and get a 400). Left out, as JSON Schema cannot say it: from_date after
    to_date."""
    from chalicelib.api.core import REGISTRY, RequestInvalid, parse_query

    refused: dict[str, list] = {}

    def each(op, case) -> None:
        query = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in (case.query or {}).items()}
        try:
            parse_query(op.query, query)
        except RequestInvalid as e:
            problems = [p for p in e.problems if p.message != "must not be after to_date"]
            if problems:
                refused.setdefault(f"{op.method.upper()} {op.path}", []).append((query, problems))

    operations = [op for op in REGISTRY.operations if op.query is not None]
    _each_valid_case(doc, operations, each)
    assert len(operations) >= 10
    assert not refused, {k: v[:2] for k, v in refused.items()}


def test_no_string_the_document_declares_valid_in_a_body_is_refused_for_a_nul(doc):
    """Every string of a request body is refused with a NUL character (PostgreSQL text cannot hold one): the
    document says so (pattern), so bodies generated from it in valid mode never carry one."""
    from chalicelib.api.core import REGISTRY, ApiError, parse_body

    refused: dict[str, list] = {}
    # objects of any keys (a data source's config, a stream's triggerConfig): what they hold is checked by the route
    free_form = {name for s in doc["components"]["schemas"].values() for name, prop in s.get("properties", {}).items()
                 for variant in [prop, *prop.get("anyOf", [])]
                 if variant.get("additionalProperties") is True and "properties" not in variant}

    def each(op, case) -> None:
        if not isinstance(case.body, dict):   # an optional body left out
            return
        try:
            parse_body(op.body, json.dumps(case.body))
        except ApiError as e:
            nul = [p for p in e.problems or [] if "NUL" in p.message and p.field.split(".")[0] not in free_form]
            if nul:
                refused.setdefault(f"{op.method.upper()} {op.path}", []).append(nul)

    operations = [op for op in REGISTRY.operations if op.body is not None]
    _each_valid_case(doc, operations, each)
    assert len(operations) >= 10
    assert not refused, {k: v[:2] for k, v in refused.items()}


def test_a_query_string_with_a_nul_is_refused_by_the_api_and_by_the_document(doc):
    """A NUL character in any query parameter is a 400 (parse_query), and the parameter's schema in the
    document does not allow it either, so a client or a fuzzer built from the document does not send one
    as valid (generators rarely draw one: this tries each parameter)."""
    import jsonschema

    from chalicelib.api.core import REGISTRY, RequestInvalid, parse_query

    checked = 0
    for op in REGISTRY.operations:
        for param in doc["paths"][op.path][op.method].get("parameters", []):
            if param["in"] != "query" or param["schema"].get("type") != "string" or "format" in param["schema"]:
                continue
            with pytest.raises(RequestInvalid):
                parse_query(op.query, {param["name"]: "a\x00b"})
            errors = list(jsonschema.Draft202012Validator(param["schema"]).iter_errors("a\x00b"))
            assert errors, f"{op.method.upper()} {op.path} ?{param['name']}= allows a NUL character"
            checked += 1
    assert checked >= 5
