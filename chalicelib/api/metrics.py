"""GET /api/v1/metrics (and GET /metrics, where Prometheus looks by default): the Prometheus text
exposition of CDC reconciliation, computed from the control plane on each scrape. Bearer auth applies
as on every route (Prometheus: `authorization: {credentials: <key>}`).
"""
from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.api.errors import api_view

bp = Blueprint(__name__)        # registered under /api/v1
root_bp = Blueprint(__name__)   # registered at the root


def _scrape() -> Response:
    from chalicelib.cdc.metrics import CONTENT_TYPE, render
    from chalicelib.streams.metrics import render as render_streams  # reconciliation streams

    body = render().decode("utf-8") + render_streams().decode("utf-8")
    return Response(body=body, status_code=200, headers={"Content-Type": CONTENT_TYPE})


@bp.route("/metrics", methods=["GET"])
@api_view(bp)
def metrics():
    return _scrape()


@root_bp.route("/metrics", methods=["GET"])
@api_view(root_bp)
def metrics_root():
    return _scrape()
