"""Bearer-key authentication for every route but the public ones (health, the OpenAPI document).

Errors answer in the dialect of the route asked for (chalicelib/api/core.py REGISTRY).
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from chalicelib.api.core import REGISTRY, ApiError, current_request_id, failure_response


def register(app, public_paths: set[str]) -> None:
    @app.middleware("http")
    def _authenticate(event, get_response):
        resource = event.context.get("resourcePath")
        if resource in public_paths or resource in REGISTRY.public_paths or event.method == "OPTIONS":
            return get_response(event)
        from chalicelib.api.auth import authenticate

        dialect = REGISTRY.dialect_of(resource or event.path)
        try:
            event.context["recon_principal"] = authenticate(event.headers.get("authorization"))
        except ApiError as exc:
            return exc.to_response(dialect)
        except Exception as exc:
            return failure_response(exc, dialect, current_request_id(app), "authentication failed")
        return get_response(event)


def principal(app):
    """The authenticated caller of the current request."""
    return app.current_request.context["recon_principal"]


def caller_email(app) -> str | None:
    """The owner of the current request's API key (None when the request carried none)."""
    return getattr((app.current_request.context or {}).get("recon_principal"), "owner_email", None)


def rate_limit(app, bucket: str, per_minute: int, conn=None) -> None:
    """Count the current request against its API key's `bucket`: 429 past `per_minute` in 60 s (counted
    only if `conn`, the caller's transaction, commits)."""
    p = (app.current_request.context or {}).get("recon_principal")
    if p is not None:
        from chalicelib.api.auth import enforce_rate_limit

        enforce_rate_limit(p, bucket, per_minute, conn=conn)


@contextmanager
def run_creation(app) -> Iterator:
    """The transaction of a request that creates a run: POST /streams/{id}/runs and POST /reconciliations
    share one per-key limit, and only a request that creates a run counts (platform §1: "run creation"
    counts). The limit is taken once the run is written, in the same transaction: a request refused with
    400, 404 or 409 creates nothing and counts nothing, and a 429 rolls its run back (docs/decisions.md)."""
    from chalicelib.config import get_settings
    from chalicelib.db.pool import steady_transaction

    with steady_transaction("run creation") as conn:
        yield conn
        rate_limit(app, "stream-runs", get_settings().rate_limit_runs_per_minute, conn=conn)
