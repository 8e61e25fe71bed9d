"""GET /api/v1/health: PostgreSQL, SQS and Cassandra connectivity; 200 only when all are up."""
from __future__ import annotations

import time
from typing import Literal

from chalice import Blueprint
from pydantic import BaseModel, Field

from chalicelib.api.core import Dialect, Routes, ok

bp = Blueprint(__name__)
api = Routes(bp, dialect=Dialect.CDC, tag="operations")


class Check(BaseModel):
    status: Literal["UP", "DOWN"]
    detail: str | None = Field(default=None, exclude_if=lambda v: v is None, description="When UP")
    error: str | None = Field(default=None, exclude_if=lambda v: v is None, description="When DOWN: the reason")
    latency_ms: float


class Health(BaseModel):
    status: Literal["UP", "DOWN"]
    checks: dict[str, Check] = Field(description="postgres, sqs, cassandra")


def _check(fn) -> dict:
    started = time.perf_counter()
    try:
        detail = fn()
        status = {"status": "UP"}
        if detail:
            status["detail"] = detail
    except Exception as exc:  # the reason is the point of a health check
        status = {"status": "DOWN", "error": f"{type(exc).__name__}: {exc}"[:300]}
    status["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return status


def _postgres() -> str:
    from chalicelib.db.pool import transaction

    with transaction() as conn:
        row = conn.execute("SELECT max(version) AS v FROM recon.schema_migrations").fetchone()
    return f"schema version {row['v']}"


def _sqs() -> str:
    from chalicelib import aws

    aws.client("sqs").get_queue_attributes(QueueUrl=aws.queue_url("recon-jobs"), AttributeNames=["QueueArn"])
    return "recon-jobs reachable"


def _cassandra() -> str:
    """The process's session answers, or else a connection made now: a session whose nodes were down waits
    for its next reconnection attempt, and the check says whether Cassandra is reachable now."""
    from chalicelib.cassandra.session import build_cluster, get_session
    from chalicelib.cassandra.settings import CassandraSettings

    query = "SELECT release_version FROM system.local"
    try:
        return f"release {get_session().execute(query).one()[0]}"
    except Exception:
        cluster = build_cluster(CassandraSettings())
        try:
            row = cluster.connect().execute(query).one()
        finally:
            cluster.shutdown()
        return f"release {row[0]} (reconnecting)"


@api.route(
    "/health", "GET", response=Health, public=True, operation_id="health",
    summary="Connectivity of PostgreSQL, SQS and Cassandra (public)",
    extra_responses={"503": {"description": "A dependency is down (the check names it and why)",
                             "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Health"}}}}},
)
def health():
    checks = {"postgres": _check(_postgres), "sqs": _check(_sqs), "cassandra": _check(_cassandra)}
    up = all(c["status"] == "UP" for c in checks.values())
    return ok({"status": "UP" if up else "DOWN", "checks": checks}, status=200 if up else 503)
