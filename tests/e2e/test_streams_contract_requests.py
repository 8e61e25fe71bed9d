"""How the streams API reads requests (streams-platform-api.md §0-§1), over HTTP on the running stack:
the `Authorization: Bearer <key>` scheme, JSON bodies whose meaning would be ambiguous, integer query
parameters, and problem messages in words."""
from __future__ import annotations

import pytest
import requests


@pytest.fixture(scope="module")
def base(stack):
    return stack["url"]


def _error(r: requests.Response, status: int, code: str) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["success"] is False and body["data"] is None and body["errorCode"] == code, body
    return body


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_the_bearer_scheme_is_case_insensitive(base, stack, scheme):
    """RFC 9110 §11.1: the authentication scheme is case-insensitive; the key itself is not."""
    r = requests.get(base + "/streams", headers={"Authorization": f"{scheme} {stack['key']}"}, timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["success"] is True


def test_a_wrong_key_or_scheme_is_401(base, stack):
    key = stack["key"]
    for header in (key, f"Basic {key}", f"Bearer {key.upper()}", f"Bearer{key}", "Bearer ", ""):
        r = requests.get(base + "/streams", headers={"Authorization": header}, timeout=30)
        _error(r, 401, "UNAUTHORIZED")
        assert r.headers.get("WWW-Authenticate", "").startswith("Bearer"), r.headers   # RFC 9110 §11.6.1


def test_a_json_object_with_a_repeated_key_is_rejected(api, base):
    """Last-wins would drop a value the client sent without telling it: a 400 naming the key."""
    raw = b'{"name": "a", "sourceFileId": 1, "targetFileId": 2, "ruleSetId": 3, "name": "b"}'
    body = _error(api.s.post(base + "/reconciliations", data=raw, headers={"Content-Type": "application/json"},
                             timeout=30), 400, "VALIDATION_ERROR")
    assert body["errors"][0]["code"] == "MALFORMED_JSON" and '"name"' in body["errors"][0]["message"], body
    nested = b'{"status": "OPEN", "note": "x", "note": "y"}'
    body = _error(api.s.patch(base + "/exceptions/1", data=nested, headers={"Content-Type": "application/json"},
                              timeout=30), 400, "VALIDATION_ERROR")
    assert '"note"' in body["errors"][0]["message"]


@pytest.mark.parametrize("value", ["１", "١", "1_0", "1.0", "0x1", "1e2", "", " "])
def test_integer_query_parameters_take_ascii_digits_only(api, base, value):
    for path, name in (("/streams", "page"), ("/files", "pageSize"), ("/exceptions", "streamId"),
                       ("/exceptions", "olderThanDays")):
        body = _error(api.s.get(base + path, params={name: value}, timeout=30), 400, "VALIDATION_ERROR")
        assert [(e["field"], e["code"]) for e in body["errors"]] == [(name, "INVALID_TYPE")], body


def test_integer_query_parameters_accept_plain_digits(api, base):
    r = api.s.get(base + "/streams", params={"page": "01", "pageSize": "5"}, timeout=30)
    assert r.status_code == 200 and (r.json()["data"]["page"], r.json()["data"]["pageSize"]) == (1, 5), r.text


def test_a_pattern_problem_is_described_not_quoted_from_the_validator(api, base):
    r = api.s.post(base + "/streams", json={"name": "x", "domain": "E COMMERCE", "steps": [
        {"stepOrder": 1, "name": "a", "sourceInput": {"type": "FILE", "id": 1}, "targetInput": {"type": "FILE", "id": 2},
         "ruleSetId": 1, "config": {"continueOnFailure": False, "maxRetries": 0}}]}, timeout=30)
    body = _error(r, 400, "VALIDATION_ERROR")
    problem = next(e for e in body["errors"] if e["field"] == "domain")
    assert problem["code"] == "INVALID_VALUE" and "String should" not in problem["message"], problem
    assert '"E COMMERCE"' in problem["message"]


def test_a_run_can_be_started_without_a_body(api, base, stack):
    """streams §4.4: every field of the run request has a default (triggerType MANUAL): a POST with no
    body starts a manual run (the OpenAPI document says the body is optional)."""
    import time
    import uuid

    tag = uuid.uuid4().hex[:8]
    csv = "id,amount\n" + "".join(f"{i},{i}.00\n" for i in range(1, 11))
    files = [api.s.post(base + "/files", params={"filename": f"nobody_{side}_{tag}.csv"}, data=csv.encode(),
                        timeout=60).json()["data"] for side in ("src", "tgt")]
    rs = api.post("/rule-sets", {"name": f"no body {tag}", "passes": [
        {"name": "id", "cardinality": "ONE_TO_ONE", "conditions": [
            {"source": "id", "target": "id", "operator": "EQUALS"}]}]}).json()["data"]
    stream = api.post("/streams", {"name": f"no body {tag}", "steps": [
        {"stepOrder": 1, "name": "one", "sourceInput": {"type": "FILE", "id": files[0]["id"]},
         "targetInput": {"type": "FILE", "id": files[1]["id"]}, "ruleSetId": rs["id"],
         "config": {"continueOnFailure": False, "maxRetries": 0}}]}).json()["data"]
    r = api.s.post(f"{base}/streams/{stream['id']}/runs", timeout=60)
    assert r.status_code == 201, r.text
    created = r.json()["data"]
    assert (created["status"], created["currentStepOrder"], created["startedAt"]) == ("PENDING", 0, None)
    deadline = time.monotonic() + 120
    while (run := api.get(f"/stream-runs/{created['runId']}").json()["data"])["status"] in ("PENDING", "RUNNING"):
        assert time.monotonic() < deadline, run
        time.sleep(0.5)
    assert run["status"] == "COMPLETED" and run["triggerType"] == "MANUAL", run
    assert run["triggerMetadata"]["requestedBy"]
    doc = requests.get(base + "/openapi.json", timeout=30).json()
    assert doc["paths"]["/api/v1/streams/{id}/runs"]["post"]["requestBody"]["required"] is False
    # a body that must say something still must
    r = api.s.patch(base + "/exceptions/1", timeout=30)
    assert r.status_code in (400, 404) and r.json()["errorCode"] in ("VALIDATION_ERROR", "NOT_FOUND")
    assert api.s.post(base + "/rule-sets", timeout=30).json()["errors"][0]["code"] == "REQUIRED"


@pytest.mark.parametrize("raw, shown", [("%E2%82%AC", "€"), ("%00", "\\u0000"), ("1%2F2", "1/2"), ("abc", "abc")])
def test_a_bad_path_id_is_quoted_as_the_client_meant_it(api, base, raw, shown):
    body = _error(api.s.get(f"{base}/streams/{raw}", timeout=30), 400, "VALIDATION_ERROR")
    assert body["errors"] == [{"field": "id", "code": "INVALID_TYPE",
                               "message": f"must be a positive integer id (got '{shown}')"}], body


def _get_as_written(api, url: str) -> requests.Response:
    """GET the URL byte for byte: requests turns '%31' into '1' (it normalises unreserved characters)."""
    prepared = api.s.prepare_request(requests.Request("GET", url))
    prepared.url = url
    return api.s.send(prepared, timeout=30)


def test_a_path_id_written_percent_encoded_is_that_id(api, base):
    """RFC 3986 6.2.2.2: '%31' is '1'. API Gateway passes path parameters as sent, and the id was refused with
    the contradictory 'must be a positive integer id (got '9001')' (the CDC API's UUIDs were read decoded)."""
    rule_set = api.post("/rule-sets", {"name": "percent-encoded id", "passes": [{"name": "id", "conditions": [
        {"source": "id", "target": "id", "operator": "EQUALS"}]}]}).json()["data"]
    encoded = "".join(f"%{ord(ch):02X}" for ch in str(rule_set["id"]))
    r = _get_as_written(api, f"{base}/rule-sets/{encoded}")
    assert r.status_code == 200 and r.json()["data"]["id"] == rule_set["id"], r.text
    body = _error(_get_as_written(api, f"{base}/reconciliations/%39%39%39%39%39%39%39%39%39"), 404, "NOT_FOUND")
    assert body["message"] == "Reconciliation 999999999 not found", body
    body = _error(_get_as_written(api, f"{base}/streams/%30"), 400, "VALIDATION_ERROR")
    assert body["errors"] == [{"field": "id", "code": "OUT_OF_RANGE", "message": "must be >= 1 (got 0)"}], body


@pytest.mark.parametrize("raw, message", [("0", "must be >= 1 (got 0)"),
                                          ("99999999999999999999", "must be <= 9223372036854775807 "
                                                                   "(got 99999999999999999999)")])
def test_a_path_id_out_of_range_says_so(api, base, raw, message):
    """A well-formed number that cannot be an id is OUT_OF_RANGE with the bound (as body integers are), not
    'must be a positive integer id', which 99999999999999999999 is."""
    body = _error(api.s.get(f"{base}/streams/{raw}", timeout=30), 400, "VALIDATION_ERROR")
    assert body["errors"] == [{"field": "id", "code": "OUT_OF_RANGE", "message": message}], body


def test_head_answers_like_get_without_a_body(api, base, stack):
    """RFC 9110 §9.3.2: a server that answers GET answers HEAD with the same status and headers."""
    r = api.s.head(base + "/streams", timeout=30)
    assert r.status_code == 200 and r.content == b"" and r.headers["Content-Type"].startswith("application/json")
    assert api.s.head(base + "/streams/999999999", timeout=30).status_code == 404
    assert api.s.head(base + "/streams/abc", timeout=30).status_code == 400
    assert requests.head(base + "/streams", timeout=30).status_code == 401
    r = api.s.head(base + "/files/uploads", timeout=30)   # a POST-only route
    assert r.status_code == 405 and "POST" in r.headers["Allow"]


def test_head_of_a_download_answers_its_headers_without_the_bytes(api, base):
    """HEAD on GET /files/{id}/download (a binary answer) gives the download's status and headers."""
    created = api.s.post(base + "/files", params={"filename": "head.csv"}, data=b"k,v\n1,2\n", timeout=30)
    assert created.status_code == 201, created.text
    url = f"{base}/files/{created.json()['data']['id']}/download"
    got = api.s.get(url, timeout=30)
    r = api.s.head(url, timeout=30)
    assert r.status_code == got.status_code == 200 and r.content == b""
    assert r.headers["Content-Type"] == got.headers["Content-Type"]
    assert r.headers["Content-Length"] == got.headers["Content-Length"] == str(len(got.content))
    described = api.s.get(url.removesuffix("/download"), timeout=30)
    assert api.s.head(url.removesuffix("/download"), timeout=30).headers["Content-Length"] == str(len(described.content))
    assert r.headers["X-Checksum-Sha256"] == got.headers["X-Checksum-Sha256"]


def test_a_request_that_takes_no_body_refuses_fields(api, base):
    """platform §1: unknown fields are a 400. Pause, resume, validate, cancel, start, complete and test take
    no body: nothing or {} is fine; a field sent to them is named, not silently dropped."""
    created = api.s.post(base + "/files", params={"filename": "nobody.csv"}, data=b"k,v\n1,2\n", timeout=30)
    file_id = created.json()["data"]["id"]
    for path in ("/streams/999999999/pause", "/streams/999999999/resume", "/streams/999999999/validate",
                 "/stream-runs/999999999/cancel", "/reconciliations/999999999/start",
                 "/reconciliations/999999999/cancel", "/data-sources/999999999/test", f"/files/{file_id}/complete"):
        body = _error(api.s.post(base + path, json={"reason": "month end"}, timeout=30), 400, "VALIDATION_ERROR")
        assert body["errors"] == [{"field": "reason", "code": "UNKNOWN_FIELD",
                                   "message": "is not a known field (this request takes no body)"}], (path, body)
        _error(api.s.post(base + path, data=b"{", headers={"Content-Type": "application/json"}, timeout=30),
               400, "VALIDATION_ERROR")
        # a direct upload has no session to complete: 409, like any other request with nothing to do
        allowed = (409,) if path.endswith("/complete") else (202, 404)
        assert api.s.post(base + path, json={}, timeout=30).status_code in allowed, path
        assert api.s.post(base + path, timeout=30).status_code in allowed, path


def test_a_rule_sets_texts_and_lists_are_bounded_like_every_other(api, base):
    """platform §1 (hostile values): a rule set's description and the columns it names had no bound, so a 3 MB
    description or column name was stored and came back in every page of GET /rule-sets. Like a stream's
    description (2000) they are bounded; every such problem is listed at its field."""
    long_column = "c" * 1025
    body = {"name": "bounded", "description": "d" * 2001, "sourceKey": long_column, "passes": [
        {"name": "p", "cardinality": "ONE_TO_MANY", "groupBy": {"target": ["payout_id", long_column]}, "conditions": [
            {"source": "ref", "target": long_column, "operator": "EQUALS"},
            {"source": "amount", "target": "gross", "operator": "AMOUNT_TOLERANCE", "absolute": 0.05,
             "aggregate": "SUM"}]}]}
    body_of = _error(api.s.post(base + "/rule-sets", json=body, timeout=30), 400, "VALIDATION_ERROR")
    assert [(e["field"], e["code"], e["message"]) for e in body_of["errors"]] == [
        ("description", "TOO_LONG", "must be at most 2000 characters"),
        ("sourceKey", "TOO_LONG", "must be at most 1024 characters"),
        ("passes[0].groupBy.target[1]", "TOO_LONG", "must be at most 1024 characters"),
        ("passes[0].conditions[0].target", "TOO_LONG", "must be at most 1024 characters")], body_of
    # at the bounds, accepted
    body.update(description="d" * 2000, sourceKey="c" * 1024)
    body["passes"][0]["groupBy"]["target"][1] = body["passes"][0]["conditions"][0]["target"] = "c" * 1024
    r = api.s.post(base + "/rule-sets", json=body, timeout=30)
    assert r.status_code == 201, r.text
    assert api.s.delete(f"{base}/rule-sets/{r.json()['data']['id']}", timeout=30).status_code == 200
    # lists too: 30,000 conditions in a pass, 100,000 normalize steps, 10,000 group-by columns were stored
    equals = {"source": "ref", "target": "ref", "operator": "EQUALS"}
    body = {"name": "bounded", "passes": [
        {"name": "p", "cardinality": "ONE_TO_ONE", "conditions": [equals] * 51},
        {"name": "q", "cardinality": "ONE_TO_ONE", "conditions": [dict(equals, normalize=["TRIM"] * 7)]},
        {"name": "r", "cardinality": "ONE_TO_MANY", "groupBy": {"target": ["payout_id"] * 51}, "conditions": [
            equals, {"source": "amount", "target": "gross", "operator": "AMOUNT_TOLERANCE", "absolute": 0.05,
                     "aggregate": "SUM"}]}]}
    body_of = _error(api.s.post(base + "/rule-sets", json=body, timeout=30), 400, "VALIDATION_ERROR")
    doc = api.s.get(base + "/openapi.json", timeout=30).json()["paths"]["/api/v1/rule-sets"]
    assert "description 2000 characters, a column name 1024, 50 conditions" in doc["post"]["description"], doc
    assert [(e["field"], e["code"], e["message"]) for e in body_of["errors"]] == [
        ("passes[0].conditions", "TOO_LONG", "must have at most 50 items"),
        ("passes[1].conditions[0].normalize", "TOO_LONG", "must have at most 6 items"),
        ("passes[2].groupBy.target", "TOO_LONG", "must have at most 50 items")], body_of
    body["passes"][0]["conditions"] = [equals] * 50
    body["passes"][1]["conditions"][0]["normalize"] = ["TRIM", "UPPER", "LOWER", "REMOVE_PUNCTUATION", "DIGITS_ONLY",
                                                       "STRIP_LEADING_ZEROS"]
    body["passes"][2]["groupBy"]["target"] = ["payout_id"] * 50
    r = api.s.post(base + "/rule-sets", json=body, timeout=30)
    assert r.status_code == 201, r.text
    assert api.s.delete(f"{base}/rule-sets/{r.json()['data']['id']}", timeout=30).status_code == 200


def test_a_body_over_10_mb_is_413_and_documented_where_a_body_is_taken(api, base):
    """platform §1: 413 PAYLOAD_TOO_LARGE. Past API Gateway's 10 MB any request is refused before its route, in
    the error shape (pointing to the upload session, where files of any size go); the OpenAPI document lists 413
    on every operation that takes a body (only the direct upload listed it), and on none that takes none."""
    big = b'{"name": "' + b"a" * (10 * 1024 * 1024 + 1) + b'"}'
    for path in ("/streams", "/rule-sets"):
        body = _error(api.s.post(base + path, data=big, headers={"Content-Type": "application/json"}, timeout=60),
                      413, "PAYLOAD_TOO_LARGE")
        assert "10 MB" in body["message"] and "/files/uploads" in body["message"], body
    doc = api.s.get(base + "/openapi.json", timeout=30).json()
    with_body = {(m, p) for p, ops in doc["paths"].items() for m, op in ops.items() if "requestBody" in op}
    assert {("post", "/api/v1/streams"), ("put", "/api/v1/streams/{id}"), ("post", "/api/v1/streams/{id}/runs"),
            ("patch", "/api/v1/exceptions/{id}")} <= with_body
    missing = sorted(f"{m.upper()} {p}" for m, p in with_body if "413" not in doc["paths"][p][m]["responses"])
    assert missing == [], missing
    assert "413" not in doc["paths"]["/api/v1/streams/{id}"]["get"]["responses"]


def test_json_a_parser_may_read_is_read_or_refused_in_words(api, base):
    """platform §1: malformed JSON is a 400 naming the problem. Three bodies were refused in the words of the
    parser's internals: a UTF-8 byte order mark before the JSON (Windows tools write one; RFC 8259 §8.1 lets a
    parser ignore it) read "expected value at line 1 column 1"; a number of 5,000 digits "Exceeds the limit (4300
    digits) for integer string conversion ... use sys.set_int_max_str_digits()"; an unpaired surrogate escape
    ("\\ud800", valid JSON syntax but no character) "unexpected end of hex escape"."""
    json_ct = {"Content-Type": "application/json"}
    rule_set = (b'{"name": "bom", "passes": [{"name": "p", "conditions": '
                b'[{"source": "ref", "target": "ref", "operator": "EQUALS"}]}]}')
    r = api.s.post(base + "/rule-sets", data=b"\xef\xbb\xbf" + rule_set, headers=json_ct, timeout=30)
    assert r.status_code == 201, r.text
    assert api.s.delete(f"{base}/rule-sets/{r.json()['data']['id']}", timeout=30).status_code == 200

    body = _error(api.s.post(base + "/streams", data=b'{"name": 1' + b"0" * 5000 + b"}", headers=json_ct, timeout=30),
                  400, "VALIDATION_ERROR")
    assert body["errors"] == [{"field": "body", "code": "MALFORMED_JSON", "message":
                               "is not valid JSON (number 10000000000000000000... is out of range (5001 digits))"}], body

    body = _error(api.s.post(base + "/rule-sets", data=rule_set.replace(b'"bom"', b'"a\\ud800b"'), headers=json_ct,
                             timeout=30), 400, "VALIDATION_ERROR")
    assert body["errors"] == [{"field": "name", "code": "INVALID_VALUE",
                               "message": "must not contain an unpaired surrogate (\\ud800): it is no character"}], body
    body = _error(api.s.patch(base + "/exceptions/1", data=b'{"note": "\\udc00"}', headers=json_ct, timeout=30),
                  400, "VALIDATION_ERROR")
    assert [(e["field"], e["code"]) for e in body["errors"]] == [("note", "INVALID_VALUE")], body
