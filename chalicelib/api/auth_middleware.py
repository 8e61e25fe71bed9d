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
