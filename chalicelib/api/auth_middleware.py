"""Bearer-key authentication for every route but the public ones (health, the OpenAPI document).

Errors answer in the dialect of the route asked for (chalicelib/api/core.py REGISTRY).
"""
from __future__ import annotations

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


def rate_limit(app, bucket: str, per_minute: int) -> None:
    """Count the current request against its API key's `bucket`: 429 past `per_minute` in 60 s."""
    p = (app.current_request.context or {}).get("recon_principal")
    if p is not None:
        from chalicelib.api.auth import enforce_rate_limit

        enforce_rate_limit(p, bucket, per_minute)


def limit_run_creation(app) -> None:
    """POST /streams/{id}/runs and POST /reconciliations (which creates a run) share one per-key limit."""
    from chalicelib.config import get_settings

    rate_limit(app, "stream-runs", get_settings().rate_limit_runs_per_minute)
