"""Logging and tracing (AWS Lambda Powertools), shared by routes and workers.

Logs are JSON lines; every API request gets a request id (API Gateway's, or one we make up locally)
that is a logger key, an `X-Request-Id` response header and, on a 500, part of the body. Metrics are
computed from the control plane for Prometheus (chalicelib.cdc.metrics), not kept in-process.
Requests run under the API retry policy (a short budget, then 503), workers under the worker one.
"""
from __future__ import annotations

import os
import time
import uuid

from functools import lru_cache

from aws_lambda_powertools import Logger

SERVICE = "recon"
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", SERVICE)

logger = Logger(service=SERVICE)


def tracing_enabled() -> bool:
    return os.environ.get("POWERTOOLS_TRACE_DISABLED", "false").lower() not in ("1", "true")


@lru_cache(maxsize=1)
def get_tracer():
    """The X-Ray tracer, created on first use: its SDK costs ~0.3 s of import (cold start)."""
    from aws_lambda_powertools import Tracer

    return Tracer(service=SERVICE)


def _request_id_from(request) -> str:
    ctx = getattr(request, "context", None) or {}
    rid = ctx.get("requestId") if isinstance(ctx, dict) else None
    # `chalice local` uses a constant placeholder; a real API Gateway id is unique per request
    if not rid or rid == "request-id-value" or len(rid) < 8:
        rid = f"req-{uuid.uuid4().hex[:16]}"
    return rid


def register(app) -> None:
    """Attach request logging/correlation (http), tracing and metrics (all handlers) to the app."""

    @app.middleware("http")
    def _correlate(event, get_response):
        request_id = _request_id_from(event)
        event.context["recon_request_id"] = request_id
        logger.set_correlation_id(request_id)
        logger.append_keys(request_id=request_id)
        started = time.perf_counter()
        from chalicelib.runs import retry

        with retry.policy_scope(retry.API, deadline_s=retry.API.budget_s):
            response = get_response(event)
        response.headers["X-Request-Id"] = request_id
        logger.info(
            "request",
            extra={
                "method": event.method,
                "path": event.path,
                "status": response.status_code,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            },
        )
        logger.remove_keys(["request_id"])
        return response

    if tracing_enabled():
        @app.middleware("all")
        def _trace(event, get_response):
            name = getattr(event, "path", None) or type(event).__name__
            with get_tracer().provider.in_subsegment(f"## {name}"):
                return get_response(event)
