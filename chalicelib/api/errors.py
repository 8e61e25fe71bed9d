"""Error shapes of the API (compatibility names; the implementation is chalicelib/api/core.py).

Every 4xx names the field and the problem; a 500 carries a request id that is also in the log line,
never a stack trace.
"""
from __future__ import annotations

from pydantic import ValidationError

from chalicelib.api.core import (  # noqa: F401  (re-exported)
    JSON_HEADERS,
    ApiError,
    CdcError,
    Dialect,
    RateLimited,
    RequestInvalid,
    StreamsError,
    api_view,
    current_request_id,
    internal_error_response,
    json_response,
    problems_from,
)


def validation_error(exc: ValidationError, where: str = "body") -> ApiError:
    """A 400 naming every offending field and what is wrong with it."""
    return RequestInvalid(problems_from(exc, where=where), where=where)
