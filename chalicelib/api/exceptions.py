"""Exceptions (streams platform §8): list across reconciliations, get, PATCH (status, note, assignee)
with history recording the API key's owner."""
from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any, Optional

from chalice import Blueprint
from pydantic import Field, field_validator, model_validator

from chalicelib.api.auth_middleware import caller_email
from chalicelib.api.core import Dialect, Routes, StreamsIn, StreamsOut, StreamsPageQuery, ok, page_of, paginated
from chalicelib.streams import exceptions

bp = Blueprint(__name__)
api = Routes(bp, dialect=Dialect.STREAMS, tag="exceptions")


class ExceptionStatus(str, Enum):
    OPEN = "OPEN"
    RESOLVED = "RESOLVED"
    IGNORED = "IGNORED"


class ExceptionReason(str, Enum):
    NO_CANDIDATE = "NO_CANDIDATE"
    TOLERANCE_EXCEEDED = "TOLERANCE_EXCEEDED"
    DATE_OUT_OF_WINDOW = "DATE_OUT_OF_WINDOW"
    BELOW_SIMILARITY = "BELOW_SIMILARITY"
    AMBIGUOUS = "AMBIGUOUS"


class Side(str, Enum):
    SOURCE = "SOURCE"
    TARGET = "TARGET"


class ExceptionOut(StreamsOut):
    id: int
    reconciliation_id: int
    stream_id: int
    run_id: int
    step_run_id: int
    step_order: int
    side: Side
    row_key: Optional[str] = None
    row_data: dict[str, Any]
    reason: ExceptionReason
    closest_candidate: Optional[dict[str, Any]] = Field(
        default=None, description="{rowKey, pass, failedCondition, detail}: the nearest row and the condition it failed")
    status: ExceptionStatus
    assignee: Optional[str] = None
    note: Optional[str] = None
    resolved_by: Optional[str] = Field(default=None, description="Who set the current RESOLVED/IGNORED status")
    resolved_at: Optional[datetime] = None
    created_at: datetime
    updated_at: datetime


class HistoryOut(StreamsOut):
    id: int
    exception_id: int
    changed_by: str = Field(description="The owner of the API key that made the change")
    changed_at: datetime
    changes: dict[str, Any] = Field(examples=[{"status": {"from": "OPEN", "to": "RESOLVED"}}])


class ExceptionPatch(StreamsIn):
    # absent: unchanged; never null (an exception always has a status), so the schema is not nullable
    status: ExceptionStatus = Field(default=None, json_schema_extra=lambda s: s.pop("default", None))
    note: Optional[str] = Field(default=None, max_length=4000)
    assignee: Optional[str] = Field(default=None, min_length=1, max_length=320)

    @field_validator("status", mode="before")
    @classmethod
    def _status_given(cls, v):
        if v is None:   # only a status given as null reaches this (an absent one keeps its default)
            raise ValueError("cannot be null (OPEN, RESOLVED or IGNORED)")
        return v

    @field_validator("assignee")
    @classmethod
    def _assignee_named(cls, v):
        if v is not None and not v.strip():   # only white space names nobody (null clears the assignee)
            raise ValueError("must not be blank (null clears the assignee)")
        return v

    @model_validator(mode="after")
    def _something(self):
        if not self.model_fields_set:
            raise ValueError("must give at least one of status, note, assignee")
        return self


class ExceptionsQuery(StreamsPageQuery):
    status: Optional[ExceptionStatus] = None
    reason: Optional[ExceptionReason] = None
    side: Optional[Side] = None
    stream_id: Optional[int] = Field(default=None, ge=1, le=2**63 - 1)
    run_id: Optional[int] = Field(default=None, ge=1, le=2**63 - 1)
    reconciliation_id: Optional[int] = Field(default=None, ge=1, le=2**63 - 1)
    assignee: Optional[str] = Field(default=None, min_length=1, max_length=320)
    older_than_days: Optional[int] = Field(default=None, ge=0, le=36500, description="Created more than N days ago")


def _v(e) -> Any:
    return e.value if isinstance(e, Enum) else e


@api.route("/exceptions", "GET", query=ExceptionsQuery, response=page_of(ExceptionOut),
           summary="Exceptions across reconciliations (newest first)")
def list_exceptions(query: ExceptionsQuery):
    rows, total = exceptions.list_exceptions(
        status=_v(query.status), reason=_v(query.reason), side=_v(query.side), stream_id=query.stream_id,
        run_id=query.run_id, reconciliation_id=query.reconciliation_id, assignee=query.assignee,
        older_than_days=query.older_than_days, offset=query.offset, limit=query.limit)
    return ok(paginated(exceptions.views(rows), total, query))


@api.route("/exceptions/{id}", "GET", response=ExceptionOut, errors=[404], summary="One exception")
def get_exception(id: int):
    return ok(exceptions.view(exceptions.get_exception(id)))


@api.route("/exceptions/{id}", "PATCH", body=ExceptionPatch, response=ExceptionOut, errors=[404],
           summary="Review an exception: status (OPEN, RESOLVED, IGNORED), note, assignee",
           description="Only the fields given change (null clears note or assignee). Every change is kept in "
                       "GET /exceptions/{id}/history with the API key's owner and the time.")
def update_exception(id: int, body: ExceptionPatch):
    changes = {k: _v(getattr(body, k)) for k in body.model_fields_set}
    row = exceptions.update_exception(id, changes, caller_email(bp) or "unknown")
    return ok(exceptions.view(row), message="Exception updated")


@api.route("/exceptions/{id}/history", "GET", query=StreamsPageQuery, response=page_of(HistoryOut), errors=[404],
           summary="Every change of an exception (paginated, newest first)")
def exception_history(id: int, query: StreamsPageQuery):
    rows, total = exceptions.history(id, offset=query.offset, limit=query.limit)
    return ok(paginated([exceptions.history_view(r) for r in rows], total, query))
