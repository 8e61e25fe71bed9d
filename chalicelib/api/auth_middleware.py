"""Bearer-key authentication for every route but the public ones (health, the OpenAPI document)."""
from __future__ import annotations

from chalicelib.api.errors import ApiError, current_request_id, json_response
from chalicelib.observability import logger


def register(app, public_paths: set[str]) -> None:
    @app.middleware("http")
    def _authenticate(event, get_response):
        if event.context.get("resourcePath") in public_paths or event.method == "OPTIONS":
            return get_response(event)
        from chalicelib.api.auth import authenticate

        try:
            event.context["recon_principal"] = authenticate(event.headers.get("authorization"))
        except ApiError as exc:
            return exc.to_response()
        except Exception:
            request_id = current_request_id(app)
            logger.exception("authentication failed", extra={"request_id": request_id})
            return json_response(
                {"error": "INTERNAL_SERVER_ERROR", "message": "An unexpected error occurred",
                 "request_id": request_id, "contact": "support@company.com"},
                500,
            )
        return get_response(event)


def principal(app):
    """The authenticated caller of the current request."""
    return app.current_request.context["recon_principal"]
