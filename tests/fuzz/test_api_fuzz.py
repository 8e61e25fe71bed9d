"""Property-based fuzzing of the whole API from its own OpenAPI document (schemathesis).

Every operation in /api/v1/openapi.json is exercised with generated valid and invalid requests
(bodies, query strings, path ids; NUL characters allowed) against the running stack. Properties:
no answer is a 5xx, every answer (status code, content type, headers, body) is one the
document declares for that operation, and an operation that needs the API key refuses a request
without it or with a wrong one. New routes are fuzzed as soon as they are declared, because
the document is built from the route declarations.

Bounded: FUZZ_MAX_EXAMPLES examples per operation (default 8) and FUZZ_SECONDS overall (default
100 s), shared equally by the operations: once an operation has used its share, its remaining
examples are not sent, so every operation is fuzzed however slow the machine is.
"""
from __future__ import annotations

import os
import time
from urllib.parse import urlsplit

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "8"))
BUDGET_SECONDS = float(os.environ.get("FUZZ_SECONDS", "100"))
# ignored_auth: an operation that answered 2xx is sent again without the key and with a wrong one (once per
# operation), which must be refused: a route declared without the key check is caught as soon as it answers
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance, negative_data_rejection, ignored_auth]
# a valid trigger would queue real reconciliation jobs on the shared test stack for every example:
# its table list is pointed at a table that does not exist (the rest of the body is fuzzed as generated)
TRIGGER = "POST /api/v1/reconciliation/trigger"
_STARTED: dict[str, float] = {}   # operation label -> when its first example was sent
_SHARE: list[float] = []


def load_schema(api_target):
    """The running API's OpenAPI document as a schemathesis schema: authenticated, valid and invalid
    cases, NUL characters allowed, MAX_EXAMPLES per operation."""
    url, key = api_target
    parts = urlsplit(url)
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json", wait_for_schema=30)
    # paths in the document are absolute (/api/v1/...): requests go to the stack's origin
    schema.config.update(base_url=f"{parts.scheme}://{parts.netloc}", headers={"Authorization": f"Bearer {key}"},
                         request_timeout=30)
    schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
                                    max_examples=MAX_EXAMPLES, allow_x00=True, database="none")
    return schema


@pytest.fixture(scope="session")
def api_schema(api_target):
    schema = load_schema(api_target)
    operations = [op for op in schema.get_all_operations()]
    assert len(operations) >= 10, "the OpenAPI document lists too few operations"
    _SHARE.append(BUDGET_SECONDS / len(operations))
    return schema


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_documented(case):
    started = _STARTED.setdefault(case.operation.label, time.monotonic())
    if time.monotonic() - started > _SHARE[0]:
        return  # this operation's share of the time budget is used up
    if case.operation.label == TRIGGER and isinstance(case.body, dict) and isinstance(case.body.get("tables"), list):
        case.body["tables"] = ["fuzz_no_such_table"]
    case.call_and_validate(checks=CHECKS)
