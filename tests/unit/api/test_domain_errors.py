"""The shared layer answers the streams domain's errors (chalicelib/streams/defs_errors.py) for every
route of the streams dialect, so route modules let them propagate: NotFound 404, Conflict and its
subclasses 409, Invalid 400 listing its issues. The CDC dialect has no such errors: one reaching it is
a server fault (500), as any unexpected exception."""
from __future__ import annotations

import json

import pytest
from chalice import Blueprint, Chalice
from chalice.test import Client

from chalicelib.api.core import REGISTRY, Dialect, Routes, ok
from chalicelib.streams.defs_errors import Conflict, Invalid, Issue, NotFound

ISSUES = [Issue("steps[0].ruleSetId", "RULE_SET_NOT_FOUND", "rule set 56 not found"),
          Issue("triggerConfig.cron", "CRON_INVALID", "must have six fields")]


class StateConflict(Conflict):
    """Like runs.RunConflict: a subclass the layer has never heard of."""


RAISES = {
    "missing": NotFound("Widget", 42),
    "versioned": NotFound("Widget 42 version", 3),
    "conflict": Conflict("Widget 42 is ARCHIVED and cannot be changed"),
    "sub": StateConflict("Widget 42 already has a run in progress (run 7, PENDING)"),
    "invalid": Invalid(ISSUES),
    "summarised": Invalid(ISSUES, message="Step 1: rule set 56 not found (and 1 more problem(s))"),
}
PATHS = ("/api/v1/widgets/{what}", "/api/v1/cdc-widgets/{what}")


@pytest.fixture(scope="module")
def client():
    streams_bp, cdc_bp = Blueprint(__name__), Blueprint(__name__ + ".cdc")
    streams = Routes(streams_bp, dialect=Dialect.STREAMS, tag="widgets")
    cdc = Routes(cdc_bp, dialect=Dialect.CDC, tag="cdc-widgets")

    @streams.route("/widgets/{what}", "GET", errors=[404, 409], path_params={"what": "str"}, summary="Raise")
    def raise_streams(what: str):
        if what in RAISES:
            raise RAISES[what]
        return ok({"what": what})

    @cdc.route("/cdc-widgets/{what}", "GET", errors=[404], path_params={"what": "str"}, summary="Raise (CDC)")
    def raise_cdc(what: str):
        raise RAISES[what]

    app = Chalice(app_name="domain-errors-test")
    app.register_blueprint(streams_bp, url_prefix="/api/v1")
    app.register_blueprint(cdc_bp, url_prefix="/api/v1")
    with Client(app) as c:
        yield c
    REGISTRY.operations = [o for o in REGISTRY.operations if o.path not in PATHS]
    REGISTRY.prefixes = [p for p in REGISTRY.prefixes if p[0] not in ("/api/v1/widgets", "/api/v1/cdc-widgets")]


def get(client, path):
    r = client.http.get(path)
    return r.status_code, json.loads(r.body)


def failure(status, code, message, errors=()):
    return status, {"success": False, "message": message, "data": None, "errorCode": code, "errors": list(errors)}


ISSUE_BODIES = [{"field": "steps[0].ruleSetId", "code": "RULE_SET_NOT_FOUND", "message": "rule set 56 not found"},
                {"field": "triggerConfig.cron", "code": "CRON_INVALID", "message": "must have six fields"}]


@pytest.mark.parametrize("what, expected", [
    ("missing", failure(404, "NOT_FOUND", "Widget 42 not found")),
    ("versioned", failure(404, "NOT_FOUND", "Widget 42 version 3 not found")),
    ("conflict", failure(409, "CONFLICT", "Widget 42 is ARCHIVED and cannot be changed")),
    ("sub", failure(409, "CONFLICT", "Widget 42 already has a run in progress (run 7, PENDING)")),
    # without a message of its own, the answer names the first issue and counts the others
    ("invalid", failure(400, "VALIDATION_ERROR", "steps[0].ruleSetId: rule set 56 not found (and 1 more problem(s))",
                        ISSUE_BODIES)),
    ("summarised", failure(400, "VALIDATION_ERROR", "Step 1: rule set 56 not found (and 1 more problem(s))",
                           ISSUE_BODIES)),
])
def test_streams_routes_answer_domain_errors(client, what, expected):
    assert get(client, f"/api/v1/widgets/{what}") == expected


def test_a_route_that_raises_nothing_is_answered_normally(client):
    status, body = get(client, "/api/v1/widgets/fine")
    assert (status, body["success"], body["data"]) == (200, True, {"what": "fine"})


@pytest.mark.parametrize("what", ["missing", "conflict", "invalid"])
def test_the_cdc_dialect_treats_them_as_server_faults(client, what):
    status, body = get(client, f"/api/v1/cdc-widgets/{what}")
    assert status == 500 and body["error"] == "INTERNAL_SERVER_ERROR" and body["request_id"]
    assert "Widget" not in json.dumps(body)
