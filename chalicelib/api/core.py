"""The shared API layer: request parsing, validation errors, pagination, response shaping and the
OpenAPI registry, for both dialects of the service.

- `Dialect.CDC`: the CDC reconciliation contract (snake_case bodies, errors
  `{"error": CODE, "message": ..., **extra}`, 400 `details: [{field, problem}]`).
- `Dialect.STREAMS`: the streams platform envelope (camelCase, `{"success", "message", "data"}`,
  errors `{"success": false, "message", "data": null, "errorCode", "errors": [{field, code, message}]}`,
  pages `{"items", "page", "pageSize", "totalItems", "totalPages"}`).

A route module declares its routes through `Routes(bp, dialect=...)`. The declaration names the body,
query and response models; the decorator parses and validates the request (every problem listed, unknown
fields rejected), serialises the handler's `ok(...)` through the declared response model and turns every
exception into the dialect's error shape. The same declarations feed `/api/v1/openapi.json`
(chalicelib/api/openapi.py), so the document, the validation and the answers come from one definition.

In the streams dialect the domain errors of chalicelib/streams/defs_errors.py (free of HTTP) are answered
here, once: `NotFound` is 404 NOT_FOUND, `Conflict` (and its subclasses, e.g. `runs.RunConflict`) 409
CONFLICT, `Invalid` 400 VALIDATION_ERROR listing its issues (`domain_error`). Route modules let them
propagate.

    from chalice import Blueprint
    from chalicelib.api.core import Dialect, Routes, StreamsError, ok, page_of, paginated, StreamsIn, StreamsOut

    bp = Blueprint(__name__)
    api = Routes(bp, dialect=Dialect.STREAMS, tag="streams")

    @api.route("/streams/{id}", "GET", response=StreamOut, errors=[404], summary="One stream")
    def get_stream(id: int):                        # path ids arrive parsed (int, >= 1)
        row = definitions.load(id)                  # NotFound("Stream", id) -> 404 "Stream 7 not found"
        return ok(row)                              # validated and dumped through StreamOut
"""
from __future__ import annotations

import functools
import json
import math
import re
import threading
import typing
import urllib.parse
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any, Callable, Iterable, Sequence

from chalice import Response
from pydantic import (AliasGenerator, BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, ValidationError,
                      create_model, field_serializer)
from pydantic.alias_generators import to_camel

from chalicelib.domain.paging import MAX_PAGE
from chalicelib.domain.timeutil import iso_z
from chalicelib.observability import logger
from chalicelib.problem_words import json_type, type_or_length
from chalicelib.streams.defs_errors import Conflict, DefinitionError, Invalid, NotFound

JSON_HEADERS = {"Content-Type": "application/json"}
API_PREFIX = "/api/v1"
MAX_BIGINT = 2**63 - 1


class Dialect(str, Enum):
    CDC = "cdc"
    STREAMS = "streams"


# ------------------------------------------------------------------------------------------ problems


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a request: where (`steps[1].ruleSetId`), a machine code, and words."""

    field: str
    code: str
    message: str

    def streams(self) -> dict:
        return {"field": self.field, "code": self.code, "message": self.message}

    def cdc(self) -> dict:
        return {"field": self.field, "problem": self.message}


class Problems:
    """Collects problems found by hand (references, cross-field rules) to raise them all at once.

        problems = Problems()
        problems.add("steps[1].ruleSetId", "RULE_SET_NOT_FOUND", "rule set 56 not found")
        problems.raise_if_any()            # 400 VALIDATION_ERROR listing all of them
    """

    def __init__(self, where: str = "request body"):
        self.where = where
        self.items: list[Problem] = []

    def add(self, field: str, code: str, message: str) -> None:
        self.items.append(Problem(field, code, message))

    def extend(self, problems: Iterable[Problem]) -> None:
        self.items.extend(problems)

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self, message: str | None = None) -> None:
        if self.items:
            raise RequestInvalid(self.items, where=self.where, message=message)


# -------------------------------------------------------------------------------------------- errors

# CDC error codes and the streams code that means the same thing
_STREAMS_CODE = {
    "RATE_LIMIT_EXCEEDED": "RATE_LIMITED",
    "INTERNAL_SERVER_ERROR": "INTERNAL_ERROR",
    "METHOD_NOT_ALLOWED": "METHOD_NOT_ALLOWED",
}


class ApiError(Exception):
    """An error answered to the client, in the shape of the route's dialect.

    CDC: `{"error": error, "message": message, **extra}` (+ `details` when problems are given).
    Streams: `{"success": false, "message": message, "data": null, "errorCode": ..., "errors": [...]}`;
    `extra` is CDC-only. `CdcError` is this class.
    """

    def __init__(self, status: int, error: str, message: str, headers: dict | None = None, *,
                 problems: Sequence[Problem] = (), error_code: str | None = None, **extra: Any):
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.headers = headers or {}
        self.problems = list(problems)
        self.error_code = error_code
        self.extra = extra

    def streams_code(self) -> str:
        if self.error_code:
            return self.error_code
        if self.error.endswith("_NOT_FOUND"):
            return "NOT_FOUND"
        return _STREAMS_CODE.get(self.error, self.error)

    def body(self, dialect: Dialect) -> dict:
        if dialect is Dialect.STREAMS:
            return {"success": False, "message": self.message, "data": None,
                    "errorCode": self.streams_code(), "errors": [p.streams() for p in self.problems]}
        out = {"error": self.error, "message": self.message, **self.extra}
        if self.problems and "details" not in out:
            out["details"] = [p.cdc() for p in self.problems]
        return out

    def to_response(self, dialect: Dialect = Dialect.CDC) -> Response:
        return json_response(self.body(dialect), self.status, self.headers)


CdcError = ApiError


class StreamsError(ApiError):
    """An error of the streams dialect: `StreamsError(status, error_code, message, problems=[...])`."""

    def __init__(self, status: int, error_code: str, message: str, *, problems: Sequence[Problem] = (),
                 headers: dict | None = None):
        super().__init__(status, error_code, message, headers, problems=problems, error_code=error_code)

    @classmethod
    def not_found(cls, kind: str, id: Any) -> "StreamsError":
        return cls(404, "NOT_FOUND", f"{kind} {id} not found")

    @classmethod
    def conflict(cls, message: str) -> "StreamsError":
        return cls(409, "CONFLICT", message)

    @classmethod
    def payload_too_large(cls, message: str) -> "StreamsError":
        return cls(413, "PAYLOAD_TOO_LARGE", message)


class RequestInvalid(ApiError):
    """400 VALIDATION_ERROR listing every problem (both dialects)."""

    def __init__(self, problems: Sequence[Problem], where: str = "request body", message: str | None = None):
        problems = list(problems) or [Problem(where, "INVALID_VALUE", "is invalid")]
        super().__init__(400, "VALIDATION_ERROR", message or _cdc_message(where, problems), problems=problems)
        self._custom_message = message
        self.where = where

    @classmethod
    def of_all(cls, found: Sequence["RequestInvalid"]) -> "RequestInvalid":
        """One 400 for the problems of a request's parts (path, query, body): the first part's wording."""
        if len(found) == 1:
            return found[0]
        return cls([p for exc in found for p in exc.problems], where=found[0].where)

    def body(self, dialect: Dialect) -> dict:
        out = super().body(dialect)
        if dialect is Dialect.STREAMS and not self._custom_message:
            first = self.problems[0]
            msg = f"{first.field}: {first.message}" if first.field not in ("", "body") else f"Request body {first.message}"
            if len(self.problems) > 1:
                msg += f" (and {len(self.problems) - 1} more problem(s))"
            out["message"] = msg
        return out


def domain_error(exc: DefinitionError) -> ApiError | None:
    """The streams answer to a domain error (chalicelib/streams/defs_errors.py): NotFound -> 404
    `<kind> <id> not found`, Conflict -> 409 with its words, Invalid -> 400 listing its issues (its
    message when it was given one, otherwise the first problem's). None for an unknown kind."""
    if isinstance(exc, NotFound):
        return StreamsError.not_found(exc.kind, exc.id)
    if isinstance(exc, Conflict):
        return StreamsError.conflict(str(exc))
    if isinstance(exc, Invalid):
        return RequestInvalid([Problem(i.field, i.code, i.message) for i in exc.issues],
                              message=None if exc.message is None else str(exc))
    return None


def _cdc_message(where: str, problems: Sequence[Problem]) -> str:
    first = problems[0]
    if first.field == "body":
        message = f"Request body {first.message}"
    else:
        message = f"Invalid {where} '{first.field}': {first.message}"
    if len(problems) > 1:
        message += f" (and {len(problems) - 1} more problem(s), see details)"
    return message


class RateLimited(ApiError):
    def __init__(self, retry_after: int):
        super().__init__(429, "RATE_LIMIT_EXCEEDED", f"Rate limit exceeded. Try again in {retry_after} seconds.",
                         {"Retry-After": str(retry_after)}, retry_after=retry_after)


def unauthorized() -> ApiError:
    # RFC 9110 §11.6.1: a 401 names the scheme the client should use
    return ApiError(401, "UNAUTHORIZED", "Invalid or missing API key", {"WWW-Authenticate": 'Bearer realm="recon"'})


def internal_error_response(dialect: Dialect, request_id: str) -> Response:
    """The 500 answer: a request id (also in the log line and X-Request-Id), never a stack trace."""
    return json_response(internal_error_body(dialect, request_id), 500)


def internal_error_body(dialect: Dialect, request_id: str) -> dict:
    from chalicelib.config import get_settings

    contact = get_settings().support_contact
    if dialect is Dialect.STREAMS:
        body = {"success": False, "message": f"An unexpected error occurred; quote request id {request_id} to {contact}",
                "data": None, "errorCode": "INTERNAL_ERROR", "errors": [], "requestId": request_id}
    else:
        body = {"error": "INTERNAL_SERVER_ERROR", "message": "An unexpected error occurred",
                "request_id": request_id, "contact": contact}
    return body


def unavailable_response(exc: BaseException, dialect: Dialect, request_id: str) -> Response | None:
    """503 with Retry-After when `exc` is a transient fault of a dependency (database, Cassandra) that
    outlived the request's retry budget (chalicelib/runs/retry.py); None for any other failure."""
    from chalicelib.runs.retry import exception_chain, is_transient

    if is_transient(exc):
        message = "A dependency (the database or Cassandra) is unavailable; retry later"
    elif any(_aws_unavailable(e) for e in exception_chain(exc)):
        message = "An AWS service the request needs (Step Functions, SQS, S3 or EventBridge) is unavailable; retry later"
    else:
        return None
    retry_after = max(1, int(getattr(exc, "retry_after_s", 5) or 5))
    logger.warning("dependency unavailable", extra={"request_id": request_id, "error": f"{type(exc).__name__}: {exc}"[:300]})
    if dialect is Dialect.STREAMS:
        body = {"success": False, "message": message, "data": None, "errorCode": "SERVICE_UNAVAILABLE",
                "errors": [], "requestId": request_id}
    else:
        body = {"error": "SERVICE_UNAVAILABLE", "message": message, "retry_after": retry_after,
                "request_id": request_id}
    return json_response(body, 503, {"Retry-After": str(retry_after)})


# error codes of AWS services that throttle a call or fail it on their side: the same call may pass a moment later
_AWS_UNAVAILABLE = frozenset({"Throttling", "ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded",
                              "SlowDown", "ServiceUnavailable", "ServiceUnavailableException", "InternalFailure",
                              "InternalServerError", "InternalError", "ServiceException"})


def _aws_unavailable(exc: BaseException) -> bool:
    """An AWS call (botocore ClientError) throttled or failed by the service (5xx): the request met an outage,
    not a fault of its own or of ours (503, not 500)."""
    response = getattr(exc, "response", None)
    if not (isinstance(response, dict) and isinstance(response.get("Error"), dict)):
        return False
    status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode") or 0
    return response["Error"].get("Code") in _AWS_UNAVAILABLE or int(status) >= 500


def failure_response(exc: BaseException, dialect: Dialect, request_id: str, what: str = "unhandled error") -> Response:
    """The answer to an unexpected exception: 503 for a dependency outage, 500 otherwise (logged)."""
    unavailable = unavailable_response(exc, dialect, request_id)
    if unavailable is not None:
        return unavailable
    logger.exception(what, extra={"request_id": request_id})
    return internal_error_response(dialect, request_id)


def json_response(body: Any, status: int = 200, headers: dict | None = None) -> Response:
    return Response(
        body=json.dumps(body, default=str, separators=(",", ":"), allow_nan=False),  # always valid JSON
        status_code=status,
        headers={**JSON_HEADERS, **(headers or {})},
    )


def current_request_id(app) -> str:
    """The id the request middleware put on this request (the same one is in its log lines)."""
    req = getattr(app, "current_request", None)
    ctx = getattr(req, "context", None) or {}
    return ctx.get("recon_request_id") or f"req-{uuid.uuid4().hex[:16]}"


# ------------------------------------------------------------------------------- pydantic -> problems


def field_path(loc: Sequence[Any]) -> str:
    """`("steps", 1, "ruleSetId")` -> `steps[1].ruleSetId`."""
    name = ""
    for part in loc:
        if isinstance(part, int):
            name += f"[{part}]"
        else:
            name += ("." if name else "") + str(part)
    return name


def _problem_text(err: dict) -> tuple[str, str]:
    """(code, words) for one pydantic error."""
    kind = err.get("type", "")
    ctx = err.get("ctx") or {}
    got = err.get("input")
    if kind == "missing":
        return "REQUIRED", "is required"
    if kind == "extra_forbidden":
        return "UNKNOWN_FIELD", "is not a known field"
    if kind in ("enum", "literal_error"):
        allowed = str(ctx.get("expected", "")).replace("'", "")
        try:
            shown = json.dumps(got)
        except (TypeError, ValueError):
            shown = repr(got)
        return "INVALID_VALUE", f"must be one of {allowed} (got {shown})"
    worded = type_or_length(err)
    if worded is not None:
        return worded
    if kind == "too_long":
        return "TOO_LONG", f"must have at most {ctx.get('max_length')} items"
    if kind == "too_short":
        return "TOO_SHORT", f"must have at least {ctx.get('min_length')} item(s)"
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        op = {"greater_than_equal": ">=", "less_than_equal": "<=", "greater_than": ">", "less_than": "<"}[kind]
        bound = next(ctx[k] for k in ("ge", "le", "gt", "lt") if k in ctx)
        return "OUT_OF_RANGE", f"must be {op} {bound} (got {got})"
    if kind in ("finite_number", "decimal_parsing") and isinstance(got, str):
        return "INVALID_VALUE", f"must be a finite number (got {json.dumps(got)})"
    if kind == "json_invalid":
        return "MALFORMED_JSON", f"is not valid JSON ({ctx.get('error', 'invalid')})"
    if kind == "string_pattern_mismatch":
        return "INVALID_VALUE", f"must match {ctx.get('pattern')} (got {json.dumps(got) if isinstance(got, str) else got})"
    msg = str(err.get("msg", "is invalid")).removeprefix("Value error, ")
    if kind and kind.isupper():  # PydanticCustomError("RULE_SET_NOT_FOUND", "rule set 56 not found")
        return kind, msg
    return "INVALID_VALUE", msg


def problems_from(exc: ValidationError, *, where: str = "body", known: str = "field",
                  prefix: Sequence[Any] = ()) -> list[Problem]:
    """Every error of a pydantic ValidationError as a Problem located by its field path."""
    out = []
    for err in exc.errors(include_url=False):
        code, words = _problem_text(err)
        if code == "UNKNOWN_FIELD":
            words = f"is not a known {known}"
        loc = tuple(prefix) + tuple(err.get("loc", ()))
        out.append(Problem(field_path(loc) or where, code, words))
    return out


# ------------------------------------------------------------------------------------- base models


# streams bodies, queries and answers name their fields in camelCase
_CAMEL = AliasGenerator(validation_alias=to_camel, serialization_alias=to_camel)


class StreamsIn(BaseModel):
    """Base of streams request bodies: camelCase names, unknown fields rejected, no silent coercion
    of strings into numbers."""

    model_config = ConfigDict(extra="forbid", alias_generator=_CAMEL, validate_by_alias=True, validate_by_name=False,
                              strict=False, str_strip_whitespace=False)


class StreamsQuery(BaseModel):
    """Base of streams query models (lax: query values are strings)."""

    model_config = ConfigDict(extra="forbid", alias_generator=_CAMEL, validate_by_alias=True, validate_by_name=False)


class StreamsPageQuery(StreamsQuery):
    # platform §1 bounds pageSize, not page: a page past the last is an empty page
    page: int = Field(default=1, ge=1, le=MAX_PAGE, description="Page number, from 1 (past the last: no items).")
    page_size: int = Field(default=20, ge=1, le=100, description="Items per page (1..100).")

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size

    @property
    def limit(self) -> int:
        return self.page_size


class StreamsOut(BaseModel):
    """Base of streams response models: built from snake_case or camelCase data, dumped camelCase;
    timestamps in UTC with a `Z`, in whole seconds (the contracts' form: 2026-02-21T06:00:00Z)."""

    # every field is written, null included: the documents' examples show `"startedAt": null`, so the
    # OpenAPI document marks each one required (nullable where it may be null)
    model_config = ConfigDict(extra="ignore", alias_generator=_CAMEL, validate_by_alias=True, validate_by_name=True,
                              json_schema_serialization_defaults_required=True)

    @field_serializer("*", mode="wrap", when_used="json")
    def _timestamps(self, value: Any, handler: SerializerFunctionWrapHandler):  # no return type: schemas unchanged
        return iso_z(value) if isinstance(value, datetime) else handler(value)


class StreamsProblem(BaseModel):
    field: str = Field(examples=["steps[1].ruleSetId"])
    code: str = Field(examples=["RULE_SET_NOT_FOUND"])
    message: str = Field(examples=["rule set 56 not found"])


class StreamsErrorBody(BaseModel):
    """Every streams error. `errors` lists each problem of a VALIDATION_ERROR (empty otherwise).
    API Gateway's own answers (throttling, payload too large) also carry the CDC fields `error`."""

    model_config = ConfigDict(extra="allow")
    success: typing.Literal[False]
    message: str
    data: None
    errorCode: str = Field(examples=["NOT_FOUND"], description="VALIDATION_ERROR, UNAUTHORIZED, NOT_FOUND, "
                           "CONFLICT, PAYLOAD_TOO_LARGE, RATE_LIMITED, INTERNAL_ERROR, METHOD_NOT_ALLOWED, ...")
    errors: list[StreamsProblem]
    requestId: str | None = Field(default=None, description="500 only; also in X-Request-Id and the logs")


# The answer of a streams DELETE (a comment: a docstring would become the schema's description).
class DeletedOut(StreamsOut):
    id: int
    deleted: bool


_PAGE_MODELS: dict[type, type[BaseModel]] = {}


def page_of(item: type[BaseModel]) -> type[BaseModel]:
    """The streams page model of `item`: `{"items", "page", "pageSize", "totalItems", "totalPages"}`."""
    if item not in _PAGE_MODELS:
        _PAGE_MODELS[item] = create_model(
            f"{item.__name__}Page",
            __base__=StreamsOut,
            items=(list[item], ...),
            page=(int, Field(ge=1)),
            page_size=(int, Field(ge=1, le=100)),
            total_items=(int, Field(ge=0)),
            total_pages=(int, Field(ge=0)),
        )
    return _PAGE_MODELS[item]


def total_pages(total_items: int, page_size: int) -> int:
    """ceil(total_items / page_size); 0 when there is nothing to page through."""
    if total_items < 0 or page_size < 1:
        raise ValueError("total_items must be >= 0 and page_size >= 1")
    return -(-total_items // page_size)


def paginated(items: Sequence[Any], total_items: int, query: StreamsPageQuery) -> dict:
    """The data of a streams list answer (pass it to `ok`; the route declares `response=page_of(Item)`)."""
    return {"items": list(items), "page": query.page, "page_size": query.page_size,
            "total_items": total_items, "total_pages": total_pages(total_items, query.page_size)}


# ----------------------------------------------------------------------------------------- parsing

_NUL = "\x00"
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")   # json.loads leaves "\\ud800" (a half of a pair) alone


def _nul_problems(value: Any, loc: tuple, out: list[Problem], depth: int = 0) -> None:
    """PostgreSQL text cannot hold U+0000: say so at the field instead of failing in the database."""
    if depth > 64:
        return
    if isinstance(value, str):
        if _NUL in value:
            out.append(Problem(field_path(loc) or "body", "INVALID_VALUE", "must not contain NUL (\\u0000) characters"))
        lone = _LONE_SURROGATE.search(value)
        if lone:   # valid JSON syntax, but no character: UTF-8 (and PostgreSQL) cannot hold it
            out.append(Problem(field_path(loc) or "body", "INVALID_VALUE",
                               f"must not contain an unpaired surrogate (\\u{ord(lone.group()):04x}): it is no character"))
    elif isinstance(value, dict):
        for k, v in value.items():
            if isinstance(k, str) and _NUL in k:
                out.append(Problem(field_path(loc + (k.replace(_NUL, "\\u0000"),)), "INVALID_VALUE",
                                   "field names must not contain NUL (\\u0000) characters"))
            elif isinstance(k, str) and _LONE_SURROGATE.search(k):
                out.append(Problem(field_path(loc + (k.encode("utf-8", "backslashreplace").decode(),)),
                                   "INVALID_VALUE", "field names must not contain unpaired surrogates"))
            else:
                _nul_problems(v, loc + (k,), out, depth + 1)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _nul_problems(v, loc + (i,), out, depth + 1)


MAX_JSON_DEPTH = 64


def _depth_ok(raw: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Cheap nesting check before parsing (brackets inside strings only over-count, never under)."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return True
    depth = 0
    for byte in raw:
        if byte in (0x5B, 0x7B):
            depth += 1
            if depth > limit:
                return False
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return True


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict:
    out = dict(pairs)
    if len(out) != len(pairs):   # last-wins would silently drop a value the client sent
        seen: set[str] = set()
        dup = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise ValueError(f"key {json.dumps(dup)} appears more than once in an object")
    return out


#: the most digits a JSON number may have (Python's int conversion limit; the model's parser refuses them too)
MAX_JSON_NUMBER_DIGITS = 4300


def _bounded_int(text: str) -> int:
    if len(text) > MAX_JSON_NUMBER_DIGITS:
        raise ValueError(f"number {text[:20]}... is out of range ({len(text.lstrip('-'))} digits)")
    return int(text)


def _loads(raw: bytes) -> Any:
    return json.loads(raw, parse_float=_finite_float, parse_int=_bounded_int, parse_constant=_no_constant,
                      object_pairs_hook=_unique_keys)


_BOM = b"\xef\xbb\xbf"


def _without_bom(raw: bytes) -> bytes:
    """RFC 8259 §8.1: a parser may ignore a UTF-8 byte order mark (Windows tools write one before the JSON)."""
    return raw[len(_BOM):] if raw.startswith(_BOM) else raw


def load_json_body(raw: bytes | str | None) -> Any:
    """The request body as JSON (object required), or RequestInvalid with field `body`."""
    if isinstance(raw, str):
        raw = raw.encode()
    raw = _without_bom(raw or b"")
    if not raw.strip():
        raise RequestInvalid([Problem("body", "REQUIRED", "is required (a JSON object)")])
    if not _depth_ok(raw):
        try:  # brackets inside strings can over-count: only a real parse failure is an error
            parsed = _loads(raw)
        except RecursionError:
            raise RequestInvalid([Problem("body", "MALFORMED_JSON",
                                          f"is nested too deeply (at most {MAX_JSON_DEPTH} levels)")]) from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise RequestInvalid([Problem("body", "MALFORMED_JSON", f"is not valid JSON ({exc})")]) from None
        if _nesting(parsed) > MAX_JSON_DEPTH:
            raise RequestInvalid([Problem("body", "MALFORMED_JSON",
                                          f"is nested too deeply (at most {MAX_JSON_DEPTH} levels)")])
    else:
        try:
            parsed = _loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise RequestInvalid([Problem("body", "MALFORMED_JSON", f"is not valid JSON ({exc})")]) from None
    if not isinstance(parsed, dict):
        raise RequestInvalid([Problem("body", "INVALID_TYPE", f"must be a JSON object (got {json_type(parsed)})")])
    return parsed


def _nesting(value: Any) -> int:
    stack = [(value, 1)]
    deepest = 0
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict):
            deepest = max(deepest, d)
            stack.extend((x, d + 1) for x in v.values())
        elif isinstance(v, list):
            deepest = max(deepest, d)
            stack.extend((x, d + 1) for x in v)
    return deepest


@functools.lru_cache(maxsize=None)
def body_optional(model: type[BaseModel]) -> bool:
    """A body model that is valid empty (`{}`): the request may carry no body at all."""
    try:
        model.model_validate({})
        return True
    except ValidationError:
        return False


def refuse_body(raw: bytes | str | None) -> None:
    """A streams route that takes no body (pause, cancel, start, ...): none, or `{}`. A field sent to it
    is an unknown field (platform §1), not something silently dropped."""
    if isinstance(raw, str):
        raw = raw.encode()
    if not (raw or b"").strip():
        return
    parsed = load_json_body(raw)   # malformed JSON or a non-object: 400 as for any body
    if parsed:
        raise RequestInvalid([Problem(str(k).replace(_NUL, "\\u0000"), "UNKNOWN_FIELD",
                                      "is not a known field (this request takes no body)") for k in parsed])


def take_read_only(take: Callable[[dict], dict], raw: bytes | str | None) -> tuple[bytes | str | None, dict]:
    """(the body without the read-only fields `take` removed, those fields): what a GET answered can be PUT
    back. The body is re-encoded only when something was taken; a body that is not a JSON object is left
    to parse_body's 400."""
    try:
        parsed = load_json_body(raw)
    except RequestInvalid:
        return raw, {}
    given = take(parsed)
    return (json.dumps(parsed).encode(), given) if given else (raw, {})


@dataclass(frozen=True)
class ReadOnlyFields:
    """A route's `read_only`: called with the parsed body, takes `names` out of it, and `each[list field]` out
    of every object of that list (a stream's `steps[].id`), returning them by field path. The OpenAPI
    document lists them in the PUT's body schema as `readOnly` (chalicelib/api/openapi.py)."""
    names: tuple[str, ...]
    each: dict[str, tuple[str, ...]] = field(default_factory=dict)
    integers: tuple[str, ...] = ("id", "version", "latestVersion", "stepCount")   # as GET answers them

    def problems(self, given: dict) -> list[Problem]:
        """The read-only fields given with a JSON type GET never answers (`"version": "2"`): 400 like any
        other wrong type, not a value compared with the resource."""
        return [Problem(path, "INVALID_TYPE", f"must be an integer (got {json_type(value)})")
                for path, value in given.items()
                if path.rsplit(".", 1)[-1] in self.integers and (type(value) is not int)]

    def __call__(self, body: dict) -> dict:
        given = {n: body.pop(n) for n in self.names if n in body}
        for name, inner in self.each.items():
            items = body.get(name)
            for i, item in enumerate(items if isinstance(items, list) else []):
                if isinstance(item, dict):
                    given.update({f"{name}[{i}].{n}": item.pop(n) for n in inner if n in item})
        return given


def read_only_fields(*names: str, each: dict[str, tuple[str, ...]] | None = None) -> ReadOnlyFields:
    return ReadOnlyFields(names, dict(each or {}))


def check_read_only(given: dict, current: dict, kind: str, hints: dict[str, str] | None = None) -> None:
    """A PUT's read-only fields against the resource as it stands: `id` must be the path's (400), a
    `version` other than the current one is a 409 (the body was read before someone else's change: reapplied,
    it would undo that change), a field of `hints` must be unchanged (400 naming how to change it); the others
    (timestamps, computed fields) are ignored. Values compare as JSON (`true` is not the id 1)."""
    def same(a: Any, b: Any) -> bool:
        return json.dumps(a) == json.dumps(b)

    problems = []
    if "id" in given and not same(given["id"], current["id"]):
        problems.append(Problem("id", "INVALID_VALUE", f"is read-only: the path names {kind} {current['id']} "
                                                       f"(got {json.dumps(given['id'])})"))
    for name, how in (hints or {}).items():
        if name in given and not same(given[name], current[name]):
            problems.append(Problem(name, "INVALID_VALUE", f"is read-only ({json.dumps(current[name])}): {how}"))
    if problems:
        raise RequestInvalid(problems)
    if "version" in given and not same(given["version"], current["version"]):
        raise StreamsError.conflict(
            f"{kind} {current['id']} is at version {current['version']}; the body was read at version "
            f"{json.dumps(given['version'])}: read it again and reapply the change")


def parse_body(model: type[BaseModel], raw: bytes | str | None) -> BaseModel:
    """Validate a JSON body against `model`: malformed JSON, wrong types, unknown fields, NUL characters
    -> one RequestInvalid listing every problem."""
    if isinstance(raw, str):
        raw = raw.encode()
    raw = _without_bom(raw or b"")
    if not raw.strip() and body_optional(model):
        raw = b"{}"   # no body means the defaults (POST /streams/{id}/runs)
    parsed = load_json_body(raw)
    problems: list[Problem] = []
    _nul_problems(parsed, (), problems)
    try:
        # JSON-mode validation, strict all the way down (nested models too): "CHECKSUM" is taken for an
        # enum, but never 1 for a string, "1" or 1.0 or true for an integer, "0.9" for a number
        result = model.model_validate_json(raw, strict=True)
    except ValidationError as exc:
        found = problems_from(exc)
        if problems:   # an unpaired surrogate stops the model's parser ("unexpected end of hex escape"): ours name it
            found = [p for p in found if (p.field, p.code) != ("body", "MALFORMED_JSON")]
        seen = {p.field for p in found}
        found += [p for p in problems if p.field not in seen]
        beyond = getattr(model, "problems_beyond_shape", None)   # rules a model can check on a malformed body
        if beyond is not None:
            seen = {p.field for p in found}
            found += [Problem(i.field, i.code, i.message) for i in beyond(parsed) if i.field not in seen]
        raise RequestInvalid(found) from None
    if problems:
        raise RequestInvalid(problems)
    return result


def _is_list_field(info) -> bool:
    ann = info.annotation
    for t in (ann, *typing.get_args(ann)):
        if typing.get_origin(t) in (list, tuple, set, frozenset):
            return True
    return False


def _is_int_field(info) -> bool:
    """An integer query parameter: only ASCII digits are an integer ('1.0', '1_0', '１' are not)."""
    kinds = typing.get_args(info.annotation) or (info.annotation,)
    return int in kinds and bool not in kinds


def parse_query(model: type[BaseModel], params) -> BaseModel:
    """Validate query parameters: unknown or repeated names, wrong types, NUL characters -> 400 listing all.

    A parameter whose field is a list may repeat (`status=A&status=B`); a model may add cross-field
    problems with a `problems(self) -> list[Problem]` method.
    """
    params = params or {}
    by_name = {}
    for name, info in model.model_fields.items():
        alias = info.validation_alias if isinstance(info.validation_alias, str) else None
        if alias is None and model.model_config.get("alias_generator") is not None:
            gen = model.model_config["alias_generator"]
            alias = gen.validation_alias(name) if isinstance(gen, AliasGenerator) and gen.validation_alias else (
                gen(name) if callable(gen) else None)
        by_name[alias or info.alias or name] = info
    data: dict[str, Any] = {}
    problems: list[Problem] = []
    for name in params:
        values = params.getlist(name) if hasattr(params, "getlist") else [params[name]]
        if any(_NUL in v for v in values) or _NUL in name:
            problems.append(Problem(name.replace(_NUL, "\\u0000"), "INVALID_VALUE",
                                    "must not contain NUL (\\u0000) characters"))
            continue
        info = by_name.get(name)
        if info is None:
            allowed = ", ".join(by_name) or "none are accepted"
            problems.append(Problem(name, "UNKNOWN_FIELD", f"is not a known query parameter (allowed: {allowed})"))
        elif _is_list_field(info):
            data[name] = values
        elif len(values) > 1:
            problems.append(Problem(name, "INVALID_VALUE", "is given more than once"))
        # ASCII digits as written: no "+", no white space around, no other script's digits, no "1_0" or "1.0"
        # (a "-" is kept for the range check to name the bound)
        elif _is_int_field(info) and not re.fullmatch(r"-?[0-9]+", values[0]):
            shown = values[0] if len(values[0]) <= 40 else values[0][:40] + "..."
            problems.append(Problem(name, "INVALID_TYPE", f"must be an integer (got '{shown}')"))
        else:
            data[name] = values[0]
    # every problem is listed: the values that could be read are checked too, and the cross-field checks
    # (a date range's order) run on the readable ones
    query: BaseModel | None = None
    named = {p.field for p in problems}   # a parameter refused above is not also "required"
    try:
        query = model.model_validate(data)
    except ValidationError as exc:
        problems.extend(p for p in problems_from(exc, where="query", known="query parameter") if p.field not in named)
        unreadable = {err["loc"][0] for err in exc.errors(include_url=False) if err.get("loc")}
        try:
            query = model.model_validate({k: v for k, v in data.items() if k not in unreadable})
        except ValidationError:
            query = None
    extra = getattr(query, "problems", None)
    if callable(extra):
        problems.extend(extra())
    if problems or query is None:
        raise RequestInvalid(problems, where="query parameter")
    return query


def parse_int_id(value: Any, name: str) -> int:
    """A path id of the streams dialect: a positive integer (bigint range); 400 naming it otherwise. Read
    percent-decoded, as parse_uuid_id (API Gateway passes path parameters as sent: '%31' is '1')."""
    text = urllib.parse.unquote(str(value))
    if re.fullmatch(r"[0-9]{1,400}", text) and not 1 <= int(text) <= MAX_BIGINT:   # a number, out of range
        shown = text if len(text) <= 40 else text[:40] + "..."
        bound = f">= 1 (got {int(text)})" if int(text) < 1 else f"<= {MAX_BIGINT} (got {shown})"
        raise RequestInvalid([Problem(name, "OUT_OF_RANGE", f"must be {bound}")], where="path parameter")
    if not re.fullmatch(r"[0-9]{1,19}", text):
        shown = text.replace(_NUL, "\\u0000")
        shown = shown if len(shown) <= 40 else shown[:40] + "..."
        raise RequestInvalid([Problem(name, "INVALID_TYPE", f"must be a positive integer id (got '{shown}')")],
                             where="path parameter")
    return int(text)


def parse_uuid_id(value: Any, name: str) -> uuid.UUID:
    """A path id of the CDC dialect: a UUID; 400 naming it otherwise. Read percent-decoded (API Gateway
    passes path parameters as sent, and '%2D' is '-'), as the 400 quotes it."""
    text = urllib.parse.unquote(str(value))
    if not re.fullmatch(r"[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}", text):
        shown = text.replace(_NUL, "\\u0000")
        shown = shown if len(shown) <= 60 else shown[:60] + "..."
        raise RequestInvalid([Problem(name, "INVALID_TYPE",
                                      f"must be a UUID (e.g. 550e8400-e29b-41d4-a716-446655440000), got '{shown}'")],
                             where="path parameter")
    return uuid.UUID(text)


# ---------------------------------------------------------------------------------------- answers


class ResponseInvalid(Exception):
    """A handler's answer does not fit its declared response model: a server fault (500)."""


@dataclass
class Reply:
    """What a route returns: data (a model instance, dict or list), shaped by the route's dialect and
    serialised through its declared response model."""

    data: Any
    message: str | None = None
    status: int | None = None
    headers: dict = field(default_factory=dict)


def ok(data: Any = None, message: str | None = None, status: int | None = None,
       headers: dict | None = None) -> Reply:
    return Reply(data, message, status, headers or {})


def created(data: Any, location: str, message: str | None = None, status: int = 201) -> Reply:
    """A 201 (or a 202) naming the resource it created (or the one to watch) in Location (RFC 9110 §15.3.2):
    `location` is its path under /api/v1 (`/streams/9001`)."""
    return Reply(data, message, status, {"Location": API_PREFIX + location})


def dump(model: type[BaseModel] | None, data: Any) -> Any:
    """`data` validated against and dumped through `model` (JSON mode, by alias)."""
    if model is None:
        return data
    instance = data if isinstance(data, model) else model.model_validate(data)
    return instance.model_dump(mode="json", by_alias=True, exclude_unset=getattr(model, "__omit_unset__", False))


# ------------------------------------------------------------------------------------ the registry


@dataclass
class Operation:
    """One route as declared: everything the OpenAPI document says about it."""

    path: str                  # full path, e.g. /api/v1/streams/{id}
    method: str                # lower case
    dialect: Dialect
    tag: str
    summary: str
    operation_id: str
    description: str | None = None
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    errors: dict[int, Any] = field(default_factory=dict)
    path_params: dict[str, str] = field(default_factory=dict)   # name -> "int" | "uuid" | "str"
    public: bool = False
    rate_limited: bool = True
    raw_response: dict | None = None   # {media type: schema} for non-JSON answers
    body_example: Any = None
    extra_responses: dict[str, dict] = field(default_factory=dict)
    param_docs: dict[str, str] = field(default_factory=dict)     # path parameter -> description
    raw_request: dict | None = None    # {media type: schema} of a body the handler reads raw (uploads)
    before: Callable[[], None] | None = None                      # checks that come before parsing
    read_only: ReadOnlyFields | None = None                     # takes a PUT's read-only fields out
    beyond_shape: Callable[[Any], list] | None = None           # a refused request's well-formed parts


def _beyond_shape(op: Operation, raw: Any, invalid: list[RequestInvalid]) -> list[Problem]:
    """The problems of a refused request's well-formed parts (Operation.beyond_shape: broken references,
    cross-field rules), those of fields not already named. Best effort: a body that is not JSON has none,
    and a failing lookup (the database away) leaves the 400 as it was rather than turning it into a 5xx."""
    try:
        parsed = load_json_body(raw if isinstance(raw, bytes) else (raw or "").encode())
    except RequestInvalid:   # not a JSON object: the 400 already says so, and there is nothing more to check
        return []
    try:
        named = {p.field for exc in invalid for p in exc.problems}
        return [Problem(i.field, i.code, i.message) for i in op.beyond_shape(parsed) if i.field not in named]
    except Exception:   # noqa: BLE001 - the request is refused anyway; its other problems are the answer
        logger.warning("the well-formed parts of a refused request were not checked", exc_info=True)
        return []


class Registry:
    def __init__(self):
        self._lock = threading.Lock()
        self.operations: list[Operation] = []
        self.prefixes: list[tuple[str, Dialect]] = []
        self.fallbacks: set[tuple[str, str]] = set()   # (path, METHOD) answering 404/405, undocumented
        self.public_paths: set[str] = set()            # no API key needed (the 404 catch-all)
        self.allowed: dict[str, str] = {}              # route template -> its Allow header (install_fallbacks)

    def allow_of(self, path: str) -> str | None:
        """The Allow header of the route serving a concrete path (a trailing slash as served), None when no route
        but the 404 catch-all serves it."""
        parts = path.split("?", 1)[0].rstrip("/").split("/")
        best: tuple[int, str] | None = None    # literal segments win over parameters (/files/uploads, /files/{id})
        for template, allow in self.allowed.items():
            t = template.rstrip("/").split("/")
            params = sum(a.startswith("{") and a.endswith("}") for a in t)
            if len(t) == len(parts) and all(a == b or (a.startswith("{") and a.endswith("}") and b)
                                            for a, b in zip(t, parts)) and (best is None or params < best[0]):
                best = (params, allow)
        return best[1] if best else None

    def add(self, op: Operation) -> None:
        with self._lock:
            self.operations = [o for o in self.operations if (o.path, o.method) != (op.path, op.method)] + [op]

    def add_prefix(self, prefix: str, dialect: Dialect) -> None:
        with self._lock:
            if (prefix, dialect) not in self.prefixes:
                self.prefixes.append((prefix, dialect))
                self.prefixes.sort(key=lambda p: -len(p[0]))

    def find(self, path: str, method: str) -> Operation | None:
        for op in self.operations:
            if op.path == path and op.method == method.lower():
                return op
        return None

    def dialect_of(self, path: str | None) -> Dialect:
        """The dialect of a route template or a concrete path (unknown paths: by prefix; CDC otherwise)."""
        if path:
            for op in self.operations:
                if op.path == path:
                    return op.dialect
            for prefix, dialect in self.prefixes:
                if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
                    return dialect
        return Dialect.CDC


REGISTRY = Registry()

_PARAM = re.compile(r"\{(\w+)\}")


def _operation_id(fn: Callable) -> str:
    return to_camel(fn.__name__)


class Routes:
    """Routes of one module, in one dialect. `prefix` is the url_prefix the blueprint is registered
    with in app.py (`app.register_blueprint(bp, url_prefix="/api/v1")`). `owns` lists the path
    prefixes whose unknown sub-paths answer in this dialect (default: the first segment of each route)."""

    def __init__(self, bp, *, dialect: Dialect, tag: str, prefix: str = API_PREFIX, owns: Sequence[str] = ()):
        self.bp = bp
        self.dialect = dialect
        self.tag = tag
        self.prefix = prefix
        for p in owns:
            REGISTRY.add_prefix(prefix + p, dialect)

    def route(self, path: str, method: str = "GET", *, summary: str, response: type[BaseModel] | None = None,
              status: int = 200, body: type[BaseModel] | None = None, query: type[BaseModel] | None = None,
              errors: Iterable[int] | dict[int, Any] = (), description: str | None = None,
              path_params: dict[str, str] | None = None, public: bool = False, operation_id: str | None = None,
              raw_response: dict | None = None, content_types: list[str] | None = None,
              body_example: Any = None, rate_limited: bool = True, extra_responses: dict | None = None,
              param_docs: dict[str, str] | None = None, before: Callable[[], None] | None = None,
              raw_request: dict | None = None, read_only: ReadOnlyFields | None = None,
              beyond_shape: Callable[[Any], list] | None = None):
        """Declare and register a route.

        - `body=Model`: the JSON body is parsed and validated; the handler gets it as `body=`.
          For a raw body (file upload) leave it None and read `bp.current_request.raw_body`.
        - `query=Model`: the query string is validated; the handler gets it as `query=`.
          Without it, any query parameter is a 400.
        - path parameters arrive parsed: `int` (streams default), `uuid` (CDC default) or `str`
          (`path_params={"name": "str"}`).
        - `response=Model`, `status`: the success answer; return `ok(data)`.
        - `errors`: the route's own error statuses (404, 409, 413, ...); 400/401/429/500 are added
          as they apply. In the CDC dialect a dict {status: schema name or (name, example)} may say
          which error model each status uses.
        - `before`: a check run before the request is parsed (service switch, rate limit).
        - `read_only`: for a PUT that takes back what a GET answered: takes the resource's read-only
          fields out of the parsed body (and returns them); the handler gets them as `given=` to check
          against the resource (check_read_only), the rest is validated as `body`.
        - `raw_request`: {media type: schema} documenting a body the handler reads itself
          (`bp.current_request.raw_body`), e.g. {"application/octet-stream": {"type": "string",
          "format": "binary"}}; any content type is then accepted.
        - `beyond_shape`: given the parsed JSON body of a request refused for other problems, the
          problems (field, code, message) of its well-formed parts that only a whole check finds (ids
          that do not exist, a pass's cross-field rules), so that the 400 lists them too.
        """
        method = method.lower()
        full = self.prefix + path if self.prefix else path
        names = _PARAM.findall(path)
        default_kind = "int" if self.dialect is Dialect.STREAMS else "uuid"
        kinds = {n: (path_params or {}).get(n, default_kind) for n in names}
        errs = dict(errors) if isinstance(errors, dict) else {int(s): None for s in errors}
        first = path.strip("/").split("/")[0]
        if first and not first.startswith("{"):
            REGISTRY.add_prefix(f"{self.prefix}/{first}", self.dialect)

        def decorate(fn: Callable) -> Callable:
            op = Operation(
                path=full, method=method, dialect=self.dialect, tag=self.tag, summary=summary,
                operation_id=operation_id or _operation_id(fn), description=description or (fn.__doc__ or "").strip() or None,
                body=body, query=query, response=response, status=status, errors=errs, path_params=kinds,
                public=public, raw_response=raw_response, body_example=body_example, rate_limited=rate_limited,
                extra_responses=extra_responses or {}, param_docs=param_docs or {}, before=before,
                raw_request=raw_request, read_only=read_only, beyond_shape=beyond_shape,
            )
            REGISTRY.add(op)
            if public:
                REGISTRY.public_paths.add(full)
            wrapped = self.view(op)(fn)
            # Chalice answers an unlisted content type with its own 415 body: accept any, the JSON
            # parser gives the contract-shaped 400 for a body that is not JSON
            kwargs = {"methods": [method.upper()], "content_types": content_types or ["*/*"]}
            self.bp.route(path, **kwargs)(wrapped)
            return fn

        return decorate

    def view(self, op: Operation) -> Callable:
        """The wrapper: parse, call, shape; every exception in the dialect's shape."""
        bp = self.bp
        dialect = self.dialect

        def decorate(fn: Callable) -> Callable:
            @functools.wraps(fn)
            def wrapper(**kwargs):
                try:
                    request = bp.current_request
                    if op.before is not None:
                        op.before()
                    # a 400 lists every problem (platform §1): those of the path, the query and the body at once
                    invalid: list[RequestInvalid] = []
                    for name, kind in op.path_params.items():
                        if name in kwargs:
                            try:
                                if kind == "int":
                                    kwargs[name] = parse_int_id(kwargs[name], name)
                                elif kind == "uuid":
                                    kwargs[name] = parse_uuid_id(kwargs[name], name)
                            except RequestInvalid as exc:
                                invalid.append(exc)
                    try:
                        if op.query is not None:
                            kwargs["query"] = parse_query(op.query, request.query_params)
                        elif request.query_params:
                            name = next(iter(request.query_params))
                            raise RequestInvalid([Problem(name.replace(_NUL, "\\u0000"), "UNKNOWN_FIELD",
                                                          "is not a known query parameter (none are accepted)")],
                                                 where="query parameter")
                    except RequestInvalid as exc:
                        invalid.append(exc)
                    if op.body is not None:
                        raw, wrong = request.raw_body, []
                        if op.read_only is not None:
                            raw, kwargs["given"] = take_read_only(op.read_only, raw)
                            wrong = op.read_only.problems(kwargs["given"])
                        try:
                            kwargs["body"] = parse_body(op.body, raw)
                            if wrong:
                                invalid.append(RequestInvalid(wrong))
                        except RequestInvalid as exc:
                            invalid.append(RequestInvalid(wrong + exc.problems) if wrong else exc)
                    elif dialect is Dialect.STREAMS and op.raw_request is None and op.method != "get":
                        try:
                            refuse_body(request.raw_body)
                        except RequestInvalid as exc:
                            invalid.append(exc)
                    if invalid:
                        broken = _beyond_shape(op, raw, invalid) if op.beyond_shape and op.body else []
                        raise RequestInvalid.of_all(invalid + ([RequestInvalid(broken)] if broken else []))
                    result = fn(**kwargs)
                    if isinstance(result, Response):
                        return result
                    if not isinstance(result, Reply):
                        result = Reply(result)
                    try:
                        data = dump(op.response, result.data)
                    except ValidationError as exc:
                        raise ResponseInvalid(str(exc)) from exc
                    status = result.status or op.status
                    if dialect is Dialect.STREAMS:
                        return json_response({"success": True, "message": result.message, "data": data},
                                             status, result.headers)
                    return json_response(data, status, result.headers)
                except ApiError as exc:
                    return exc.to_response(dialect)
                except ValidationError as exc:  # a model validated inside the handler
                    return RequestInvalid(problems_from(exc)).to_response(dialect)
                except DefinitionError as exc:  # NotFound, Conflict, Invalid of the streams domain
                    answer = domain_error(exc) if dialect is Dialect.STREAMS else None
                    if answer is None:
                        return failure_response(exc, dialect, current_request_id(bp))
                    return answer.to_response(dialect)
                except Exception as exc:
                    return failure_response(exc, dialect, current_request_id(bp))

            return wrapper

        return decorate


# ------------------------------------------------------------------ unknown routes, wrong methods
#
# API Gateway answers a method a resource does not define, and a path no resource matches, itself
# (403 "Missing Authentication Token"). So that every answer is contract-shaped and the same locally
# and on AWS, the app defines the rest: every route gets the methods it lacks (405 naming the allowed
# ones) and a greedy `/{proxy+}` (and `/`) answers 404 in the dialect of the path asked for. These
# routes are not part of the OpenAPI document. What API Gateway still answers itself (throttling,
# oversized payloads, integration failures) is shaped by the gateway responses of the package
# (`GATEWAY_RESPONSES`, applied by infra/patch_template.py).

FALLBACK_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
PROXY_PATH = "/{proxy+}"


def original_path(request) -> str:
    """The path the client asked for (Chalice's `request.path` is the matched route template)."""
    try:
        event = request.to_original_event()
        proxy = (event.get("pathParameters") or {}).get("proxy")
        if proxy is not None:  # the greedy route: the same on API Gateway and locally
            return "/" + str(proxy).lstrip("/")
        return event.get("path") or (event.get("requestContext") or {}).get("path") or request.path
    except Exception:  # noqa: BLE001 - a best effort for the error message only
        return getattr(request, "path", "") or ""


def not_found_error(path: str) -> ApiError:
    shown = path if len(path) <= 200 else path[:200] + "..."
    return ApiError(404, "NOT_FOUND", f"No route matches '{shown}'; see /api/v1/openapi.json")


def method_not_allowed_error(method: str, path: str, allowed: Sequence[str]) -> ApiError:
    allow = ", ".join(allowed)
    return ApiError(405, "METHOD_NOT_ALLOWED", f"Method {method[:20]} is not allowed on {path}; allowed: {allow}",
                    {"Allow": allow})


def _head(answer: Any) -> Response:
    """HEAD of a GET route (RFC 9110 §9.3.2): the GET's status and headers, no body."""
    if not isinstance(answer, Response):
        answer = json_response(answer)
    headers = dict(answer.headers or {})
    body = answer.body
    if isinstance(body, (str, bytes)):   # the length GET would send (RFC 9110 §8.6), not the empty body's 0
        headers.setdefault("Content-Length", str(len(body.encode() if isinstance(body, str) else body)))
    empty = b"" if isinstance(body, bytes) else ""   # a binary answer (a download) stays binary
    return Response(body=empty, status_code=answer.status_code, headers=headers)


def allow_header(methods: Iterable[str]) -> list[str]:
    """The methods a route answers (RFC 9110 §10.2.1): its own, HEAD wherever GET is, and OPTIONS (every
    route answers it, without a key: a browser's CORS preflight carries none), in a fixed order."""
    have = set(methods) | {"OPTIONS"} | ({"HEAD"} if "GET" in methods else set())
    return [m for m in FALLBACK_METHODS if m in have]


def install_fallbacks(app) -> None:
    """Add the 405 methods to every route and the 404 catch-all. Call once, after every blueprint is
    registered (the last lines of app.py)."""
    for path, methods in list(app.routes.items()):
        if path == PROXY_PATH:
            continue
        allowed = allow_header(methods)
        REGISTRY.allowed[path] = ", ".join(allowed)
        missing = [m for m in FALLBACK_METHODS if m not in methods]
        if not missing:
            continue
        dialect = REGISTRY.dialect_of(path)

        def method_not_allowed(_path=path, _allowed=tuple(allowed), _dialect=dialect, **_params):
            request = app.current_request
            if request.method == "OPTIONS":
                return Response(body="", status_code=204, headers={"Allow": ", ".join(_allowed)})
            if request.method == "HEAD" and "GET" in _allowed:
                return _head(app.routes[_path]["GET"].view_function(**_params))
            return method_not_allowed_error(request.method, _path, _allowed).to_response(_dialect)

        app.route(path, methods=missing, content_types=["*/*"],
                  name=f"method_not_allowed_{len(REGISTRY.fallbacks)}")(method_not_allowed)
        REGISTRY.fallbacks.update((path, m) for m in missing)

    def route_not_found(**_params):
        path = original_path(app.current_request)
        return not_found_error(path).to_response(REGISTRY.dialect_of(path))

    for path in (PROXY_PATH, "/"):
        missing = [m for m in FALLBACK_METHODS if m not in app.routes.get(path, {})]
        if missing:
            app.route(path, methods=missing, content_types=["*/*"],
                      name=f"route_not_found_{len(REGISTRY.fallbacks)}")(route_not_found)
            REGISTRY.fallbacks.update((path, m) for m in missing)
    REGISTRY.public_paths.update({PROXY_PATH, "/"})


#: a body past API Gateway's payload limit, refused before any route (the same text locally and on AWS): most
#: often a file sent to the direct upload, so it says where files of any size go
BODY_TOO_LARGE = ("The request body is larger than 10 MB; files of any size are uploaded through an upload "
                  "session: POST /api/v1/files/uploads")


def protocol_error(status: int, method: str | None, path: str | None) -> tuple[int, dict, dict]:
    """(status, body, headers) for what the HTTP layer refuses before any route runs: unknown methods
    (TRACE, CONNECT, ...), request lines or headers too long, malformed requests, oversized bodies."""
    path = (path or "/").split("?", 1)[0]
    dialect = REGISTRY.dialect_of(path)
    if status in (405, 501):
        # a method no route has (TRACE, CONNECT, PROPFIND ...): 405 naming what the path's route answers, or the
        # catch-all's 404 for a path no route serves (every method of it is 404)
        allow = REGISTRY.allow_of(path)
        if allow is None:
            err = not_found_error(path)
        else:
            err = ApiError(405, "METHOD_NOT_ALLOWED", f"Method {str(method)[:20]} is not allowed on {path[:200]}; "
                           f"allowed: {allow}", {"Allow": allow})
    elif status == 414:
        err = ApiError(414, "URI_TOO_LONG", "The request line is too long (at most 8 KB of URL is accepted)")
    elif status == 431:
        err = ApiError(431, "HEADERS_TOO_LARGE", "The request headers are too large")
    elif status == 413:
        err = ApiError(413, "PAYLOAD_TOO_LARGE", BODY_TOO_LARGE, error_code="PAYLOAD_TOO_LARGE")
    elif status == 408:
        err = ApiError(408, "REQUEST_TIMEOUT", "The request was not received in time")
    elif status == 505:
        # http.server's answer to "HTTP/2.0" (or later) in a request line: the client's error
        err = ApiError(400, "BAD_REQUEST", "The HTTP version is not supported: send HTTP/1.1")
    elif 500 <= status < 600:
        # the HTTP layer failed before any route ran: the route's 500, with its request id and contact
        request_id = f"req-{uuid.uuid4().hex[:16]}"
        return 500, internal_error_body(dialect, request_id), {"X-Request-Id": request_id}
    else:
        err = ApiError(400, "BAD_REQUEST", "The request is not valid HTTP/1.1")
    return err.status, err.body(dialect), err.headers


# API Gateway's own answers. A gateway response body cannot depend on the path (its template is not
# VTL), so it carries the fields of both dialects: `error`/`message` (CDC contract) and
# `success`/`data`/`errorCode`/`errors` (streams envelope). $context values are substituted by AWS.
def _gateway_body(code: str, streams_code: str, message: str, **extra: Any) -> str:
    body = {"error": code, "message": message, **extra, "success": False, "data": None,
            "errorCode": streams_code, "errors": []}
    text = json.dumps(body, separators=(",", ":"))
    return text.replace('"__MESSAGE__"', "$context.error.messageString")


def gateway_responses(contact: str) -> dict:
    """`x-amazon-apigateway-gateway-responses` for the REST API (see infra/patch_template.py)."""
    json_ct = {"gatewayresponse.header.Content-Type": "'application/json'"}
    rid = "$context.requestId"
    return {
        "MISSING_AUTHENTICATION_TOKEN": {
            "statusCode": "404", "responseParameters": json_ct,
            "responseTemplates": {"application/json": _gateway_body(
                "NOT_FOUND", "NOT_FOUND", "No route matches this method and path; see /api/v1/openapi.json")}},
        "REQUEST_TOO_LARGE": {
            "statusCode": "413", "responseParameters": json_ct,
            "responseTemplates": {"application/json": _gateway_body(
                "PAYLOAD_TOO_LARGE", "PAYLOAD_TOO_LARGE", BODY_TOO_LARGE)}},
        "THROTTLED": {
            "statusCode": "429",
            "responseParameters": {**json_ct, "gatewayresponse.header.Retry-After": "'1'"},
            "responseTemplates": {"application/json": _gateway_body(
                "RATE_LIMIT_EXCEEDED", "RATE_LIMITED", "Rate limit exceeded. Try again in 1 seconds.",
                retry_after=1)}},
        "QUOTA_EXCEEDED": {
            "statusCode": "429",
            "responseParameters": {**json_ct, "gatewayresponse.header.Retry-After": "'60'"},
            "responseTemplates": {"application/json": _gateway_body(
                "RATE_LIMIT_EXCEEDED", "RATE_LIMITED", "Rate limit exceeded. Try again in 60 seconds.",
                retry_after=60)}},
        "DEFAULT_4XX": {
            "responseParameters": json_ct,
            # the code is API Gateway's response type (BAD_REQUEST_BODY, ACCESS_DENIED, ...)
            "responseTemplates": {"application/json": _gateway_body(
                "$context.error.responseType", "$context.error.responseType", "__MESSAGE__")}},
        "DEFAULT_5XX": {
            "responseParameters": json_ct,
            "responseTemplates": {"application/json": _gateway_body(
                "INTERNAL_SERVER_ERROR", "INTERNAL_ERROR", "An unexpected error occurred",
                request_id=rid, contact=contact, requestId=rid)}},
    }
