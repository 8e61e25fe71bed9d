"""The shared API layer in the streams dialect, driven through a real Chalice app with a sample route
module: envelope, every validation problem listed with its camelCase path, unknown fields, path ids,
pagination, error statuses, 500 with a request id, and the OpenAPI operations built from the same
declarations."""
from __future__ import annotations

import json
from enum import Enum

import pytest
from chalice import Blueprint, Chalice
from chalice.test import Client
from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from chalicelib.api import core
from chalicelib.api.core import (
    REGISTRY, Dialect, Problems, Routes, StreamsError, StreamsIn, StreamsOut, StreamsPageQuery, ok, page_of,
    paginated,
)


class Kind(str, Enum):
    MANUAL = "MANUAL"
    SCHEDULED = "SCHEDULED"


class StepIn(StreamsIn):
    step_order: int = Field(ge=1)
    rule_set_id: int

    @field_validator("rule_set_id")
    @classmethod
    def _known(cls, v):
        if v == 56:
            raise PydanticCustomError("RULE_SET_NOT_FOUND", "rule set {id} not found", {"id": v})
        return v


class SampleIn(StreamsIn):
    name: str = Field(min_length=1, max_length=10)
    trigger_type: Kind
    steps: list[StepIn] = Field(min_length=1)


class SampleOut(StreamsOut):
    id: int
    name: str
    trigger_type: Kind


class SampleQuery(StreamsPageQuery):
    status: Kind | None = None


ROWS = [{"id": i, "name": f"s{i}", "trigger_type": "MANUAL"} for i in range(1, 58)]


@pytest.fixture(scope="module")
def client():
    bp = Blueprint(__name__)
    api = Routes(bp, dialect=Dialect.STREAMS, tag="samples", prefix="/api/v1")

    @api.route("/samples", "POST", body=SampleIn, response=SampleOut, status=201, summary="Create")
    def create_sample(body: SampleIn):
        return ok({"id": 7, "name": body.name, "trigger_type": body.trigger_type}, message="created")

    @api.route("/samples", "GET", query=SampleQuery, response=page_of(SampleOut), summary="List")
    def list_samples(query: SampleQuery):
        return ok(paginated(ROWS[query.offset:query.offset + query.limit], len(ROWS), query))

    @api.route("/samples/{id}", "GET", response=SampleOut, errors=[404], summary="One")
    def get_sample(id: int):
        if id > len(ROWS):
            raise StreamsError.not_found("Sample", id)
        return ok(ROWS[id - 1])

    @api.route("/samples/{id}/run", "POST", response=SampleOut, errors=[404, 409], summary="Run")
    def run_sample(id: int):
        raise StreamsError.conflict(f"Sample {id} is not ACTIVE")

    @api.route("/samples/{id}/check", "POST", errors=[], summary="Check")
    def check_sample(id: int):
        problems = Problems()
        problems.add("steps[1].ruleSetId", "RULE_SET_NOT_FOUND", "rule set 56 not found")
        problems.add("triggerConfig.cron", "CRON_INVALID", "must have six fields")
        problems.raise_if_any(message="Step 2: rule set 56 not found")

    @api.route("/samples/{id}/upload", "POST", response=SampleOut, summary="Upload",
               raw_request={"application/octet-stream": {"type": "string", "format": "binary"}})
    def upload(id: int):
        raw = bp.current_request.raw_body or b""
        return ok({"id": id, "name": str(len(raw)), "trigger_type": "MANUAL"})

    @api.route("/samples/{id}/down", "GET", response=SampleOut, summary="Database down")
    def down(id: int):
        import psycopg

        from chalicelib.runs.retry import ServiceUnavailable

        if id == 1:
            raise ServiceUnavailable(psycopg.OperationalError("connection refused"), 3, 7)
        raise psycopg.OperationalError("server closed the connection unexpectedly")

    @api.route("/samples/{id}/aws", "GET", response=SampleOut, summary="An AWS call refused")
    def aws_refused(id: int):
        from botocore.exceptions import ClientError

        code, status = {1: ("ThrottlingException", 400), 2: ("InternalFailure", 500)}.get(id, ("ValidationException", 400))
        try:
            raise ClientError({"Error": {"Code": code, "Message": "secret detail"},
                               "ResponseMetadata": {"HTTPStatusCode": status}}, "StartExecution")
        except ClientError as exc:
            raise RuntimeError("the run could not be started") from exc

    @api.route("/samples/{id}/boom", "GET", response=SampleOut, summary="Boom")
    def boom(id: int):
        raise RuntimeError("secret detail")

    @api.route("/samples/{id}/bad", "GET", response=SampleOut, summary="Bad answer")
    def bad_answer(id: int):
        return ok({"id": "x"})

    app = Chalice(app_name="core-test")
    app.register_blueprint(bp, url_prefix="/api/v1")
    with Client(app) as c:
        yield c
    for path in ("/api/v1/samples", "/api/v1/samples/{id}", "/api/v1/samples/{id}/run", "/api/v1/samples/{id}/upload",
                 "/api/v1/samples/{id}/down", "/api/v1/samples/{id}/aws",
                 "/api/v1/samples/{id}/check", "/api/v1/samples/{id}/boom", "/api/v1/samples/{id}/bad"):
        REGISTRY.operations = [o for o in REGISTRY.operations if o.path != path]
    REGISTRY.prefixes = [p for p in REGISTRY.prefixes if p[0] != "/api/v1/samples"]


def call(client, method, path, body=None):
    raw = body if isinstance(body, (str, bytes)) or body is None else json.dumps(body)
    r = getattr(client.http, method)(path, body=raw or b"", headers={"Content-Type": "application/json"}) \
        if method == "post" else client.http.get(path)
    return r.status_code, json.loads(r.body)


GOOD = {"name": "n", "triggerType": "MANUAL", "steps": [{"stepOrder": 1, "ruleSetId": 1}]}


def test_success_envelope_and_camel_case(client):
    status, body = call(client, "post", "/api/v1/samples", GOOD)
    assert status == 201
    assert body == {"success": True, "message": "created", "data": {"id": 7, "name": "n", "triggerType": "MANUAL"}}


def test_every_problem_is_listed_with_its_camel_case_path(client):
    status, body = call(client, "post", "/api/v1/samples", {
        "name": "", "triggerType": "SOMETIMES", "extra": 1,
        "steps": [{"stepOrder": 1, "ruleSetId": 1}, {"stepOrder": 0, "ruleSetId": 56, "rule_set": 2}]})
    assert status == 400
    assert body["success"] is False and body["data"] is None and body["errorCode"] == "VALIDATION_ERROR"
    got = {(e["field"], e["code"]) for e in body["errors"]}
    assert got == {("name", "TOO_SHORT"), ("triggerType", "INVALID_VALUE"), ("extra", "UNKNOWN_FIELD"),
                   ("steps[1].stepOrder", "OUT_OF_RANGE"), ("steps[1].ruleSetId", "RULE_SET_NOT_FOUND"),
                   ("steps[1].rule_set", "UNKNOWN_FIELD")}
    assert {e["message"] for e in body["errors"] if e["code"] == "RULE_SET_NOT_FOUND"} == {"rule set 56 not found"}
    assert body["message"].endswith("(and 5 more problem(s))")


def test_snake_case_names_are_unknown_fields(client):
    status, body = call(client, "post", "/api/v1/samples", {**GOOD, "trigger_type": "MANUAL"})
    assert status == 400 and body["errors"] == [
        {"field": "trigger_type", "code": "UNKNOWN_FIELD", "message": "is not a known field"}]


@pytest.mark.parametrize("raw, code", [
    ("{", "MALFORMED_JSON"), ("[1]", "INVALID_TYPE"), ("", "REQUIRED"), ("[" * 100_000 + "]" * 100_000, "MALFORMED_JSON"),
    ('{"a":' * 70 + "1" + "}" * 70, "MALFORMED_JSON"),
])
def test_malformed_bodies(client, raw, code):
    status, body = call(client, "post", "/api/v1/samples", raw)
    assert status == 400 and body["errors"][0]["field"] == "body" and body["errors"][0]["code"] == code


@pytest.mark.parametrize("raw", ['{"name": NaN}', '{"name": Infinity}', '{"name": 1e999}', '{"name": -1e400}'])
def test_numbers_json_cannot_carry_are_malformed(client, raw):
    status, body = call(client, "post", "/api/v1/samples", raw)
    assert status == 400 and body["errors"][0]["code"] == "MALFORMED_JSON"


def test_brackets_inside_strings_do_not_count_as_nesting(client):
    status, _ = call(client, "post", "/api/v1/samples", {**GOOD, "name": "[" * 5})
    assert status == 201
    status, body = call(client, "post", "/api/v1/samples", {**GOOD, "name": "[" * 100})
    assert status == 400 and body["errors"][0]["field"] == "name"


def test_nul_characters_are_a_field_problem(client):
    status, body = call(client, "post", "/api/v1/samples", {**GOOD, "name": "a\u0000b"})
    assert status == 400 and body["errors"] == [
        {"field": "name", "code": "INVALID_VALUE", "message": "must not contain NUL (\\u0000) characters"}]


def test_pagination(client):
    status, body = call(client, "get", "/api/v1/samples?page=3&pageSize=20")
    assert status == 200
    data = body["data"]
    assert (data["page"], data["pageSize"], data["totalItems"], data["totalPages"]) == (3, 20, 57, 3)
    assert [i["id"] for i in data["items"]] == list(range(41, 58))
    _, body = call(client, "get", "/api/v1/samples")
    assert body["data"]["pageSize"] == 20 and len(body["data"]["items"]) == 20


@pytest.mark.parametrize("qs, field", [("page=0", "page"), ("pageSize=101", "pageSize"), ("pageSize=x", "pageSize"),
                                       ("page_size=5", "page_size"), ("status=NO", "status"), ("page=1&page=2", "page")])
def test_bad_query(client, qs, field):
    status, body = call(client, "get", f"/api/v1/samples?{qs}")
    assert status == 400 and body["errorCode"] == "VALIDATION_ERROR"
    assert [e["field"] for e in body["errors"]] == [field]


@pytest.mark.parametrize("value", ["%2B5", "+5", "5%20", "%0A5", "%EF%BC%95", "1_0", "1.0", "5e0", ""])
def test_integer_query_parameters_take_ascii_digits_only(client, value):
    """As path ids do: a sign, white space (a "+" in a query is a space), another script's digits, a digit
    separator or a decimal point is 400 INVALID_TYPE quoting the value, never read as 5."""
    status, body = call(client, "get", f"/api/v1/samples?pageSize={value}")
    assert status == 400, (value, body)
    assert [(e["field"], e["code"]) for e in body["errors"]] == [("pageSize", "INVALID_TYPE")], (value, body)
    assert body["errors"][0]["message"].startswith("must be an integer"), body


def test_a_negative_integer_query_parameter_is_out_of_range(client):
    status, body = call(client, "get", "/api/v1/samples?page=-1")
    assert status == 400 and [(e["field"], e["code"]) for e in body["errors"]] == [("page", "OUT_OF_RANGE")], body


def test_path_ids(client):
    assert call(client, "get", "/api/v1/samples/3")[1]["data"]["id"] == 3
    status, body = call(client, "get", "/api/v1/samples/9001")
    assert (status, body["errorCode"], body["message"]) == (404, "NOT_FOUND", "Sample 9001 not found")
    for bad, code in (("abc", "INVALID_TYPE"), ("0", "OUT_OF_RANGE"), ("-1", "INVALID_TYPE"), ("1.5", "INVALID_TYPE"),
                      ("99999999999999999999", "OUT_OF_RANGE")):
        status, body = call(client, "get", f"/api/v1/samples/{bad}")
        assert status == 400 and body["errors"][0]["field"] == "id" and body["errors"][0]["code"] == code, bad


def test_raw_request_body_reaches_the_handler(client):
    r = client.http.post("/api/v1/samples/4/upload", body=b"\x00\x01abc", headers={"Content-Type": "text/csv"})
    assert r.status_code == 200 and json.loads(r.body)["data"]["name"] == "5"


def test_conflict_and_hand_collected_problems(client):
    status, body = call(client, "post", "/api/v1/samples/1/run", {})
    assert (status, body["errorCode"], body["message"], body["errors"]) == (409, "CONFLICT", "Sample 1 is not ACTIVE", [])
    status, body = call(client, "post", "/api/v1/samples/1/check")
    assert status == 400 and body["message"] == "Step 2: rule set 56 not found"
    assert [e["field"] for e in body["errors"]] == ["steps[1].ruleSetId", "triggerConfig.cron"]


def test_500_carries_a_request_id_and_no_detail(client):
    r = client.http.get("/api/v1/samples/1/boom")
    body = json.loads(r.body)
    assert r.status_code == 500 and body["errorCode"] == "INTERNAL_ERROR" and body["requestId"]
    assert "secret" not in r.body.decode()
    # an answer that does not fit its declared model is a server fault, not a malformed reply
    assert client.http.get("/api/v1/samples/1/bad").status_code == 500


def test_a_dependency_outage_is_503_with_retry_after(client):
    r = client.http.get("/api/v1/samples/1/down")
    body = json.loads(r.body)
    assert r.status_code == 503 and r.headers["Retry-After"] == "7"
    assert body["errorCode"] == "SERVICE_UNAVAILABLE" and body["success"] is False and body["requestId"]
    r = client.http.get("/api/v1/samples/2/down")   # transient, raised without the retry wrapper
    assert r.status_code == 503 and int(r.headers["Retry-After"]) >= 1
    assert "server closed" not in r.body.decode()


def test_an_aws_service_throttling_or_failing_is_503_not_500(client):
    """A call to Step Functions, SQS, S3 or EventBridge throttled (ThrottlingException) or failed by the service
    (5xx) is an outage the client may retry, as the database's is: it was a 500 'unexpected error'. A call the
    service refused as wrong (ValidationException) stays our fault, a 500."""
    for sample in (1, 2):
        r = client.http.get(f"/api/v1/samples/{sample}/aws")
        body = json.loads(r.body)
        assert r.status_code == 503 and int(r.headers["Retry-After"]) >= 1, (sample, r.status_code, body)
        assert body["errorCode"] == "SERVICE_UNAVAILABLE" and "AWS service" in body["message"], body
        assert "secret" not in r.body.decode()
    r = client.http.get("/api/v1/samples/3/aws")
    assert r.status_code == 500 and json.loads(r.body)["errorCode"] == "INTERNAL_ERROR"


def test_dialect_of_unknown_paths(client):
    assert REGISTRY.dialect_of("/api/v1/samples/1/nothing") is Dialect.STREAMS
    assert REGISTRY.dialect_of("/api/v1/samplesx") is Dialect.CDC


def test_openapi_operations_come_from_the_declarations(client):
    from openapi_spec_validator import validate

    from chalicelib.api.openapi import document

    doc = document()
    validate(doc)
    create = doc["paths"]["/api/v1/samples"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/SampleIn"}
    ok_schema = create["responses"]["201"]["content"]["application/json"]["schema"]
    assert ok_schema["properties"]["data"] == {"$ref": "#/components/schemas/SampleOut"}
    # 413: a body over API Gateway's 10 MB is refused before any route that takes one;
    # 414 / 431: a URL over 8 KB / headers too large, before any route
    # 408: a body that stops arriving before its Content-Length
    assert set(create["responses"]) == {"201", "400", "401", "408", "413", "414", "429", "431", "500", "503"}
    assert "413" not in doc["paths"]["/api/v1/samples/{id}"]["get"]["responses"]
    assert {"414", "431"} <= set(doc["paths"]["/api/v1/samples/{id}"]["get"]["responses"])
    assert "Retry-After" in create["responses"]["503"]["headers"]
    assert "Retry-After" in create["responses"]["429"]["headers"]
    one = doc["paths"]["/api/v1/samples/{id}"]["get"]
    assert one["parameters"][0]["schema"]["type"] == "integer" and "404" in one["responses"]
    listing = doc["paths"]["/api/v1/samples"]["get"]
    assert {p["name"] for p in listing["parameters"]} == {"page", "pageSize", "status"}
    schemas = doc["components"]["schemas"]
    assert set(schemas["SampleOutPage"]["required"]) == {"items", "page", "pageSize", "totalItems", "totalPages"}
    assert set(schemas["SampleIn"]["properties"]) == {"name", "triggerType", "steps"}
    assert schemas["SampleIn"]["additionalProperties"] is False
    upload = doc["paths"]["/api/v1/samples/{id}/upload"]["post"]["requestBody"]["content"]
    assert upload == {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
    assert set(schemas["StreamsErrorBody"]["required"]) == {"success", "message", "data", "errorCode", "errors"}


def test_problem_codes_for_pydantic_errors():
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as exc:
        SampleIn.model_validate({"name": 5, "steps": "x"})
    got = {(p.field, p.code) for p in core.problems_from(exc.value)}
    assert got == {("name", "INVALID_TYPE"), ("triggerType", "REQUIRED"), ("steps", "INVALID_TYPE")}


def test_read_only_fields_of_a_put_compare_as_json():
    """A PUT's read-only `id` is the path's as JSON: `true` or `1.0` is not the id 1 (Python's True == 1)."""
    from chalicelib.api.core import RequestInvalid, check_read_only, read_only_fields

    body = {"name": "x", "id": 1, "steps": [{"id": 7, "stepOrder": 1}], "createdAt": "2026-01-01T00:00:00Z"}
    given = read_only_fields("id", "createdAt", each={"steps": ("id",)})(body)
    assert given == {"id": 1, "createdAt": "2026-01-01T00:00:00Z", "steps[0].id": 7}
    assert body == {"name": "x", "steps": [{"stepOrder": 1}]}
    check_read_only(given, {"id": 1}, "Stream")
    for wrong in (True, 1.0, "1", 2):
        with pytest.raises(RequestInvalid):
            check_read_only({"id": wrong}, {"id": 1}, "Stream")


@pytest.mark.parametrize("path, dialect", [("/api/v1/samplesx", "cdc"), ("/api/v1/samples/1/nothing", "streams")])
def test_a_5xx_of_the_http_layer_is_the_routes_500_with_a_request_id(client, path, dialect):
    status, body, headers = core.protocol_error(500, "GET", path)
    assert status == 500
    request_id = headers["X-Request-Id"]
    assert request_id.startswith("req-") and len(request_id) > 8
    if dialect == "cdc":
        assert body["error"] == "INTERNAL_SERVER_ERROR" and body["request_id"] == request_id and body["contact"]
    else:
        assert body["errorCode"] == "INTERNAL_ERROR" and body["requestId"] == request_id and body["success"] is False
    assert core.protocol_error(500, "GET", path)[2]["X-Request-Id"] != request_id   # one id per answer


class _Log:
    def __init__(self):
        self.warnings: list[str] = []

    def warning(self, msg, *args, **kwargs):
        self.warnings.append(msg)


@pytest.mark.parametrize("raw", [b"", b"{", b"[1]", b"null", b'"x"', "{'a': 1}"])
def test_a_body_that_is_not_a_json_object_has_no_well_formed_parts_to_check_and_is_not_logged(monkeypatch, raw):
    log = _Log()
    monkeypatch.setattr(core, "logger", log)
    op = core.Operation.__new__(core.Operation)
    op.beyond_shape = lambda body: pytest.fail(f"looked up references of {body!r}")
    assert core._beyond_shape(op, raw, []) == []
    assert log.warnings == []   # an ordinary 400 is no warning with a traceback in the API's log


def test_a_lookup_that_fails_leaves_the_400_as_it_was_and_is_logged(monkeypatch):
    log = _Log()
    monkeypatch.setattr(core, "logger", log)
    op = core.Operation.__new__(core.Operation)

    def away(body):
        raise ConnectionError("the database is away")

    op.beyond_shape = away
    assert core._beyond_shape(op, b'{"name": 5}', []) == []
    assert log.warnings == ["the well-formed parts of a refused request were not checked"]


def test_the_well_formed_parts_name_only_fields_not_already_named():
    op = core.Operation.__new__(core.Operation)
    op.beyond_shape = lambda body: [core.Problem("steps[0].ruleSetId", "RULE_SET_NOT_FOUND", "rule set 9 not found"),
                                    core.Problem("name", "NOT_FOUND", "named already")]
    named = [core.RequestInvalid([core.Problem("name", "INVALID_TYPE", "must be a string")])]
    assert [p.field for p in core._beyond_shape(op, b'{"name": 5}', named)] == ["steps[0].ruleSetId"]


@pytest.mark.parametrize("value", ["+5", " 5", "5 ", "\uff15", "1_0", "5.0"])
def test_integer_query_parameters_of_the_cdc_dialect_take_ascii_digits_only_too(value):
    """The same rule in both dialects: `page_size=+5` was read as 5 by the CDC listings."""
    from chalice.app import MultiDict

    from chalicelib.api.core import RequestInvalid, parse_query
    from chalicelib.api.models import JobsQuery, MismatchesQuery

    for model in (JobsQuery, MismatchesQuery):
        with pytest.raises(RequestInvalid) as exc:
            parse_query(model, MultiDict({"page_size": [value]}))
        assert [(p.field, p.code) for p in exc.value.problems] == [("page_size", "INVALID_TYPE")], value
        assert parse_query(model, MultiDict({"page_size": ["5"]})).page_size == 5


def test_a_repeated_required_parameter_is_named_once_not_also_as_missing():
    from chalice.app import MultiDict

    from chalicelib.api.core import RequestInvalid, parse_query
    from chalicelib.api.files import UploadQuery

    with pytest.raises(RequestInvalid) as exc:
        parse_query(UploadQuery, MultiDict({"filename": ["a.csv", "b.csv"]}))
    assert [(p.field, p.code, p.message) for p in exc.value.problems] == [
        ("filename", "INVALID_VALUE", "is given more than once")]
