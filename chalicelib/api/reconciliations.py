"""Legacy reconciliations (streams contract §6, platform §7): the six endpoints of the compatibility
matrix plus the list, answered from one-step stream runs (chalicelib/streams/legacy.py)."""
from __future__ import annotations

from datetime import datetime, timezone
from enum import Enum
from typing import Optional

from chalice import Blueprint
from pydantic import Field, StrictInt

from chalicelib.api.auth_middleware import caller_email, run_creation
from chalicelib.api.core import (Dialect, Routes, StreamsIn, StreamsOut, StreamsPageQuery, created, ok, page_of,
                                 paginated)
from chalicelib.api.exceptions import ExceptionOut, ExceptionReason, ExceptionStatus, Side
from chalicelib.streams import exceptions, legacy
from chalicelib.streams.validation import Name

bp = Blueprint(__name__)
api = Routes(bp, dialect=Dialect.STREAMS, tag="reconciliations")


class LegacyStatus(str, Enum):
    PENDING = "PENDING"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"


class ReconciliationIn(StreamsIn):
    name: Name
    description: Optional[str] = Field(default=None, max_length=2000)
    source_file_id: StrictInt = Field(ge=1, le=2**63 - 1)
    target_file_id: StrictInt = Field(ge=1, le=2**63 - 1)
    rule_set_id: StrictInt = Field(ge=1, le=2**63 - 1)


class ReconciliationCreatedOut(StreamsOut):
    id: int
    name: str
    status: LegacyStatus
    source_file_id: int
    target_file_id: int
    rule_set_id: int
    created_at: datetime


class ReconciliationOut(StreamsOut):
    id: int
    name: str
    description: Optional[str] = None
    status: LegacyStatus
    source_file_id: Optional[int] = None
    target_file_id: Optional[int] = None
    rule_set_id: Optional[int] = None
    stream_id: int = Field(description="The stream behind it (an implicit one-step stream for reconciliations "
                                       "created here)")
    run_id: int
    step_order: int
    total_source_records: Optional[int] = None
    total_target_records: Optional[int] = None
    matched_records: Optional[int] = None
    unmatched_source_records: Optional[int] = None
    unmatched_target_records: Optional[int] = None
    exception_count: int
    match_rate: Optional[float] = Field(default=None, description="Matched source records, percent of the source")
    error_message: Optional[str] = None
    started_at: Optional[datetime] = None
    completed_at: Optional[datetime] = None
    created_at: datetime


class StartedOut(StreamsOut):
    id: int
    status: LegacyStatus
    started_at: Optional[datetime] = None


class StatusOut(StreamsOut):
    id: int
    status: LegacyStatus
    progress: int = Field(ge=0, le=100)


class CanceledOut(StreamsOut):
    id: int
    status: LegacyStatus
    completed_at: Optional[datetime] = None


class ReconciliationsQuery(StreamsPageQuery):
    status: Optional[LegacyStatus] = Field(default=None, description="Only the reconciliations of this legacy status")


class ReconciliationExceptionsQuery(StreamsPageQuery):
    side: Optional[Side] = None
    reason: Optional[ExceptionReason] = None
    status: Optional[ExceptionStatus] = None


@api.route("/reconciliations", "POST", body=ReconciliationIn, response=ReconciliationCreatedOut, status=201,
           beyond_shape=legacy.reference_problems,
           summary="Create a reconciliation (PENDING until started)",
           description="Behind the adapter: an implicit one-step stream and a PENDING run of it. 400 when a file "
                       "or the rule set does not exist, a file is INVALID or the rule set reads a missing column. "
                       "A created reconciliation counts against the per-key run-creation rate limit (a refused "
                       "one does not).")
def create_reconciliation(body: ReconciliationIn):
    with run_creation(bp) as conn:   # creating a reconciliation creates a run: counted when it is created
        row = legacy.create(body.name, body.description, body.source_file_id, body.target_file_id,
                            body.rule_set_id, caller_email(bp), conn=conn)
    v = legacy.view(row)
    answer = {k: v[k] for k in ("id", "name", "status", "sourceFileId", "targetFileId", "ruleSetId", "createdAt")}
    return created(answer, f"/reconciliations/{v['id']}", message="Reconciliation created")


@api.route("/reconciliations", "GET", query=ReconciliationsQuery, response=page_of(ReconciliationOut),
           summary="List reconciliations (every step run of every stream; newest first; filter status)")
def list_reconciliations(query: ReconciliationsQuery):
    rows, total = legacy.list_all(query.offset, query.limit, status=query.status.value if query.status else None)
    return ok(paginated([legacy.view(r) for r in rows], total, query))


@api.route("/reconciliations/{id}", "GET", response=ReconciliationOut, errors=[404], summary="One reconciliation")
def get_reconciliation(id: int):
    return ok(legacy.view(legacy.get(id)))


@api.route("/reconciliations/{id}/start", "POST", response=StartedOut, errors=[404, 409],
           summary="Start a PENDING reconciliation (409 once started)")
def start_reconciliation(id: int):
    v = legacy.view(legacy.start(id))
    started = v["startedAt"] or datetime.now(timezone.utc)
    # the start's answer is what it did (platform §7: "status": "IN_PROGRESS"), even if a worker has finished the
    # step by the time it is read; only a run that could not start says FAILED
    status = "FAILED" if v["status"] == "FAILED" else "IN_PROGRESS"
    return ok({"id": id, "status": status, "started_at": started}, message="Reconciliation started")


@api.route("/reconciliations/{id}/status", "GET", response=StatusOut, errors=[404],
           summary="Status and progress (RETRY_WAIT reads IN_PROGRESS, SKIPPED reads CANCELED)")
def reconciliation_status(id: int):
    v = legacy.view(legacy.get(id))
    progress = 100 if v["status"] == "COMPLETED" else v["progress"]
    return ok({"id": id, "status": v["status"], "progress": progress})


@api.route("/reconciliations/{id}/cancel", "POST", response=CanceledOut, errors=[404, 409],
           summary="Cancel a reconciliation (its run); 409 when it is finished")
def cancel_reconciliation(id: int):
    row = legacy.cancel(id)
    v = legacy.view(row)
    return ok({"id": id, "status": v["status"], "completed_at": v["completedAt"] or row["run_completed_at"]},
              message="Reconciliation canceled")


@api.route("/reconciliations/{id}/exceptions", "GET", query=ReconciliationExceptionsQuery,
           response=page_of(ExceptionOut), errors=[404],
           summary="Exceptions of a reconciliation (filters side, reason, status; newest first)")
def reconciliation_exceptions(id: int, query: ReconciliationExceptionsQuery):
    legacy.get(id)   # 404 for an unknown reconciliation, not an empty page
    rows, total = exceptions.list_exceptions(
        reconciliation_id=id, side=query.side.value if query.side else None,
        reason=query.reason.value if query.reason else None, status=query.status.value if query.status else None,
        offset=query.offset, limit=query.limit)
    return ok(paginated(exceptions.views(rows), total, query))
