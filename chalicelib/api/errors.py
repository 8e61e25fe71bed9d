"""The contracts' error shapes, and the decorator that turns any failure into one of them.

Every 4xx names the field and the problem; a 500 carries a request id that is also in the log line,
never a stack trace.
"""
from __future__ import annotations

import functools
import json
import uuid
from typing import Any, Callable

from chalice import Response
from pydantic import ValidationError

from chalicelib.observability import logger

JSON_HEADERS = {"Content-Type": "application/json"}


class ApiError(Exception):
    """An error answered to the client with `{"error": code, "message": ..., **extra}`."""

    def __init__(self, status: int, error: str, message: str, headers: dict | None = None, **extra: Any):
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.headers = headers or {}
        self.extra = extra

    def to_response(self) -> Response:
        body = {"error": self.error, "message": self.message, **self.extra}
        return json_response(body, self.status, self.headers)


def json_response(body: Any, status: int = 200, headers: dict | None = None) -> Response:
    return Response(
        body=json.dumps(body, default=str, separators=(",", ":")),
        status_code=status,
        headers={**JSON_HEADERS, **(headers or {})},
    )


def validation_error(exc: ValidationError, where: str = "body") -> ApiError:
    """A 400 naming every offending field and what is wrong with it."""
    details = []
    for err in exc.errors(include_url=False):
        field = ".".join(str(p) for p in err.get("loc", ())) or where
        details.append({"field": field, "problem": err.get("msg", "invalid")})
    first = details[0] if details else {"field": where, "problem": "invalid"}
    message = f"Invalid {where}: '{first['field']}' {first['problem'].lower()}"
    if len(details) > 1:
        message += f" (and {len(details) - 1} more)"
    return ApiError(400, "VALIDATION_ERROR", message, details=details)


def current_request_id(app) -> str:
    """The id the request middleware put on this request (the same one is in its log lines)."""
    req = getattr(app, "current_request", None)
    ctx = getattr(req, "context", None) or {}
    return ctx.get("recon_request_id") or f"req-{uuid.uuid4().hex[:16]}"


def api_view(app) -> Callable:
    """Decorator for route functions: contract-shaped errors, 500 with request id, no stack traces."""

    def decorate(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except ApiError as exc:
                return exc.to_response()
            except ValidationError as exc:
                return validation_error(exc).to_response()
            except Exception:
                from chalicelib.config import get_settings

                request_id = current_request_id(app)
                logger.exception("unhandled error", extra={"request_id": request_id})
                return json_response(
                    {
                        "error": "INTERNAL_SERVER_ERROR",
                        "message": "An unexpected error occurred",
                        "request_id": request_id,
                        "contact": get_settings().support_contact,
                    },
                    500,
                )

        return wrapper

    return decorate
