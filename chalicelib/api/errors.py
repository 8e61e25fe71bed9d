"""Error shapes of the API (compatibility names; the implementation is chalicelib/api/core.py).

Every 4xx names the field and the problem; a 500 carries a request id that is also in the log line,
never a stack trace.
"""
from __future__ import annotations

from chalicelib.api.core import (  # noqa: F401  (re-exported)
    JSON_HEADERS,
    ApiError,
    CdcError,
    Dialect,
    RateLimited,
    RequestInvalid,
    StreamsError,
    current_request_id,
    internal_error_response,
    json_response,
    problems_from,
)

