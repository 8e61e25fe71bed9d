"""Request, query and response models of the CDC reconciliation API (contracts/cdc-reconciliation-api.md).

Field names and enum values are the contract's. Request and query models forbid unknown fields, so a
misspelt parameter is a 400 naming it rather than a silently ignored filter. The same models generate
the OpenAPI document (chalicelib/api/openapi.py).
"""
from __future__ import annotations

import json
import re
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr, WithJsonSchema, field_validator
from pydantic.functional_validators import BeforeValidator
from pydantic_core import PydanticCustomError

from chalicelib.domain.cdc import (  # noqa: F401  (the enums are the domain's; re-exported)
    PRIORITY_FROM_DB,
    PRIORITY_TO_DB,
    JobStatus,
    JobType,
    MismatchType,
    Priority,
    ResolutionStatus,
    ValidationStrategy,
)
from chalicelib.domain.paging import MAX_PAGE
from chalicelib.domain.timeutil import DateBound, iso_z, parse_date_bound  # noqa: F401

IsoDate = Annotated[
    Any,
    BeforeValidator(parse_date_bound),
    WithJsonSchema(
        {
            # what a client can rely on; the basic (20251101) and shorter (2025-11-01T14) forms are read too
            "anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}],
            "description": "ISO 8601 date (2025-11-01) or date-time (2025-11-01T00:00:00Z); no offset means UTC",
            "examples": ["2025-11-01T00:00:00Z"],
        }
    ),
]


def _strict_int_from_query(value: Any) -> Any:
    if isinstance(value, str):
        if not re.fullmatch(r"[+-]?[0-9]{1,30}", value.strip()):
            raise ValueError(f"must be an integer, got '{value}'")
        return int(value)
    return value


QueryInt = Annotated[int, BeforeValidator(_strict_int_from_query)]


def parse_uuid(value: Any) -> uuid.UUID:
    """A UUID in its canonical (or 32-hex-digit) form; ValueError saying what is wrong otherwise."""
    if isinstance(value, uuid.UUID):
        return value
    problem = f"must be a UUID (e.g. 550e8400-e29b-41d4-a716-446655440000), got '{value}'"
    if not isinstance(value, str) or not re.fullmatch(r"[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}", value):
        raise ValueError(problem)
    return uuid.UUID(value)


# ------------------------------------------------------------------------------------------ requests


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, use_enum_values=False)


# any name is looked up in the catalog: one that is not there, the empty name and a name of any length
# included, is the contract's 400 INVALID_TABLE (with valid_tables), not a validation error
TableName = StrictStr


class TriggerRequest(_Request):
    """Body of POST /reconciliation/trigger."""

    tables: list[TableName] = Field(
        max_length=500,
        description="Tables to reconcile (catalog names). Empty array = every table in the catalog. "
        "Duplicates are collapsed.",
        examples=[["users", "orders", "products"]],
    )
    validation_strategy: ValidationStrategy = Field(description="Validation method (required).")
    priority: Priority | None = Field(default=Priority.NORMAL,
                                      description="Job priority (optional: absent or null means NORMAL).")

    @field_validator("priority", mode="before")
    @classmethod
    def _priority_default(cls, v):
        # an optional field sent as null is the client saying "not given": the default applies
        return Priority.NORMAL if v is None else v

    def distinct_tables(self) -> list[str]:
        return list(dict.fromkeys(self.tables))


class ResolveRequest(_Request):
    """Body of POST /reconciliation/mismatches/{mismatch_id}/resolve.

    Any resolution status is accepted syntactically; only MANUAL_RESOLVED and IGNORED are ever legal
    targets (anything else is a 400 INVALID_STATUS_TRANSITION, see docs/api.md).
    """

    resolution_status: ResolutionStatus = Field(description="Target status: MANUAL_RESOLVED or IGNORED.")
    resolution_notes: StrictStr | None = Field(default=None, max_length=1000, description="Free text, max 1000 chars.")

    @field_validator("resolution_status", mode="before")
    @classmethod
    def _a_status(cls, v):
        # an unknown word is told the two a client can set (the other two only recon sets: a transition error)
        if not isinstance(v, ResolutionStatus) and not (isinstance(v, str) and v in ResolutionStatus.__members__):
            raise PydanticCustomError("INVALID_VALUE", "must be MANUAL_RESOLVED or IGNORED (got {got})",
                                      {"got": json.dumps(v)})
        return v


# ------------------------------------------------------------------------------------------- queries


class _Query(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # the contract bounds page_size, not page: a page past the last is an empty page with the real totals
    page: QueryInt = Field(default=1, ge=1, le=MAX_PAGE, description="Page number, from 1 (past the last: no items).")
    page_size: QueryInt = Field(default=50, ge=1, le=100, description="Items per page (max 100).")
    from_date: IsoDate | None = Field(default=None, description="Inclusive lower bound.")
    to_date: IsoDate | None = Field(default=None, description="Inclusive upper bound (at the precision given).")

    def date_order_problem(self) -> str | None:
        if self.from_date and self.to_date and self.from_date.instant >= self.to_date.inclusive_end:
            return "must not be after to_date"
        return None

    def problems(self) -> list:
        """Cross-field problems (the shared layer reports them with the field problems)."""
        from chalicelib.api.core import Problem

        problem = self.date_order_problem()
        return [Problem("from_date", "INVALID_VALUE", problem)] if problem else []


class JobsQuery(_Query):
    """Query parameters of GET /reconciliation/jobs. Dates filter on started_at, created_at while queued (docs/api.md)."""

    table: str | None = Field(default=None, description="Table name.")
    status: JobStatus | None = None
    job_type: JobType | None = None


class MismatchesQuery(_Query):
    """Query parameters of GET /reconciliation/mismatches. Dates filter on detected_at."""

    table: str | None = Field(default=None, description="Table name.")
    mismatch_type: MismatchType | None = None
    resolution_status: ResolutionStatus | None = None
    job_id: uuid.UUID | None = Field(default=None, description="Only mismatches of this job.")

    @field_validator("job_id", mode="before")
    @classmethod
    def _uuid(cls, v):
        return parse_uuid(v)


# ----------------------------------------------------------------------------------------- responses

Timestamp = Annotated[str, Field(description="ISO 8601 UTC, e.g. 2025-11-20T14:02:15Z", examples=["2025-11-20T14:02:15Z"],
                                 json_schema_extra={"format": "date-time"})]


class _Response(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TriggerResponse(_Response):
    job_ids: list[uuid.UUID]
    status: Literal["RUNNING"]
    message: str = Field(examples=["Reconciliation jobs queued for 3 tables"])
    estimated_completion: Timestamp


class Pagination(_Response):
    page: int = Field(ge=1)
    page_size: int = Field(ge=1, le=100)
    total_pages: int = Field(ge=0, description="ceil(total_items / page_size); 0 when nothing matches")
    total_items: int = Field(ge=0)


class _JobFields(_Response):
    """The fields a job has in the listing and the detail, in the contract's order up to drift_percentage
    (the detail then has validation_errors before alert_fired, as the contract's examples do)."""

    job_id: uuid.UUID
    table_name: str
    job_type: JobType
    validation_strategy: ValidationStrategy
    started_at: Timestamp = Field(description="When the job began; while it waits in the queue, when it was requested")
    completed_at: Timestamp | None
    duration_seconds: int | None = Field(description="Whole seconds from started_at to completed_at; null until finished")
    status: JobStatus
    cassandra_row_count: int | None
    postgres_row_count: int | None
    mismatch_count: int | None
    drift_percentage: float | None = Field(description="100 x mismatch_count / cassandra_row_count")


class Job(_JobFields):
    alert_fired: bool


class JobsPage(_Response):
    jobs: list[Job]
    pagination: Pagination


class MismatchesSummary(_Response):
    MISSING_IN_POSTGRES: int
    MISSING_IN_CASSANDRA: int
    DATA_MISMATCH: int


class SampleMismatch(_Response):
    mismatch_id: uuid.UUID
    primary_key_value: str
    mismatch_type: MismatchType
    cassandra_checksum: str | None = Field(default=None, description="Present for DATA_MISMATCH only",
                                           exclude_if=lambda v: v is None)
    postgres_checksum: str | None = Field(default=None, description="Present for DATA_MISMATCH only",
                                          exclude_if=lambda v: v is None)
    detected_at: Timestamp
    resolution_status: ResolutionStatus


class Progress(_Response):
    segments_total: int | None = Field(description="Null until the job is planned")
    segments_done: int


class JobDetail(_JobFields):
    validation_errors: list[Any] | None = Field(description="Null, or the reasons the job failed / rows it could not compare")
    alert_fired: bool
    mismatches_summary: MismatchesSummary
    sample_mismatches: list[SampleMismatch]
    transient_count: int = Field(description="Differences that converged within the replication-lag grace period")
    auto_resolved_count: int = Field(description="Earlier PENDING mismatches this job found converged")
    priority: Priority
    progress: Progress


class Mismatch(_Response):
    mismatch_id: uuid.UUID
    job_id: uuid.UUID
    table_name: str
    primary_key_value: str
    mismatch_type: MismatchType
    cassandra_checksum: str | None
    postgres_checksum: str | None
    cassandra_data: dict[str, Any] | None
    postgres_data: dict[str, Any] | None
    detected_at: Timestamp
    resolution_status: ResolutionStatus
    resolution_notes: str | None
    resolved_at: Timestamp | None
    resolved_by: str | None
    differing_columns: list[str] | None


class MismatchesPage(_Response):
    mismatches: list[Mismatch]
    pagination: Pagination


class CatalogTables(_Response):
    tables: list[str] = Field(description="Tables of the catalog in its order (the names trigger and the filters accept)")


class ResolveResponse(_Response):
    mismatch_id: uuid.UUID
    resolution_status: ResolutionStatus
    resolution_notes: str | None
    resolved_at: Timestamp | None
    resolved_by: str | None


# ---------------------------------------------------------------------------------------- error bodies


class ErrorDetail(_Response):
    field: str
    problem: str


class Error(BaseModel):
    """Every 4xx: `error` is a machine code, `message` names the field and the problem."""

    model_config = ConfigDict(extra="allow")
    error: str = Field(examples=["JOB_NOT_FOUND"])
    message: str


class ValidationErrorBody(Error):
    error: Literal["VALIDATION_ERROR"]
    details: list[ErrorDetail]


class InvalidTableError(Error):
    error: Literal["INVALID_TABLE"]
    valid_tables: list[str]


class RateLimitError(Error):
    error: Literal["RATE_LIMIT_EXCEEDED"]
    retry_after: int = Field(ge=1, description="Seconds; also sent as the Retry-After header")


class StatusTransitionError(Error):
    """The requested resolution is not a legal move from the current one."""

    error: Literal["INVALID_STATUS_TRANSITION"]
    current_status: ResolutionStatus
    requested_status: ResolutionStatus


class ServiceDisabledError(Error):
    """The reconciliation service is switched off by configuration (RECONCILIATION_ENABLED=false)."""

    error: Literal["RECONCILIATION_DISABLED"]


class ServiceUnavailableError(Error):
    """A dependency (PostgreSQL, Cassandra) stayed unavailable for the request's retry budget."""

    error: Literal["SERVICE_UNAVAILABLE"]
    retry_after: int = Field(ge=1, description="Seconds; also sent as the Retry-After header")
    request_id: str


class BadRequestError(Error):
    """Refused by the HTTP layer before any route reads the request: not valid HTTP/1.1 (a Content-Length that
    is not one number, a body whose end cannot be found, a body cut short, HTTP/2 in the request line)."""

    error: Literal["BAD_REQUEST"]


class InternalError(Error):
    error: Literal["INTERNAL_SERVER_ERROR"]
    request_id: str = Field(description="Also in the X-Request-Id header and the service logs")
    contact: str


RESPONSE_MODELS: list[type[BaseModel]] = [
    TriggerRequest, ResolveRequest, TriggerResponse, JobsPage, JobDetail, MismatchesPage, ResolveResponse, CatalogTables,
    Error, ValidationErrorBody, InvalidTableError, RateLimitError, InternalError, StatusTransitionError,
    ServiceDisabledError, ServiceUnavailableError, BadRequestError,
]
