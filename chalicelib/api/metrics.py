"""GET /api/v1/metrics (and GET /metrics, where Prometheus looks by default): the Prometheus text
exposition of CDC reconciliation, computed from the control plane on each scrape. Bearer auth applies
as on every route (Prometheus: `authorization: {credentials: <key>}`).
"""
from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.api.core import Dialect, Routes

bp = Blueprint(__name__)        # registered under /api/v1
root_bp = Blueprint(__name__)   # registered at the root
api = Routes(bp, dialect=Dialect.CDC, tag="metrics")
root_api = Routes(root_bp, dialect=Dialect.CDC, tag="metrics", prefix="")

PROMETHEUS_TEXT = {"text/plain; version=0.0.4": {"schema": {"type": "string"}}}
SUMMARY = "Prometheus scrape endpoint (text exposition format 0.0.4)"
DESCRIPTION = "Computed from the control plane on every scrape. Bearer auth as everywhere."


def _scrape() -> Response:
    from chalicelib.cdc.metrics import CONTENT_TYPE, render
    from chalicelib.streams.metrics import render as render_streams  # reconciliation streams

    body = render().decode("utf-8") + render_streams().decode("utf-8")
    return Response(body=body, status_code=200, headers={"Content-Type": CONTENT_TYPE})


@api.route("/metrics", "GET", summary=SUMMARY, description=DESCRIPTION, raw_response=PROMETHEUS_TEXT,
           operation_id="metrics")
def metrics():
    return _scrape()


@root_api.route("/metrics", "GET", summary=SUMMARY, description=DESCRIPTION, raw_response=PROMETHEUS_TEXT,
                operation_id="metricsRoot")
def metrics_root():
    return _scrape()
