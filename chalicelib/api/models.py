"""Request, query and response models of the CDC reconciliation API (contracts/cdc-reconciliation-api.md).

Field names and enum values are the contract's. Request and query models forbid unknown fields, so a
misspelt parameter is a 400 naming it rather than a silently ignored filter. The same models generate
the OpenAPI document (chalicelib/api/openapi.py).
"""
from __future__ import annotations

import re
import uuid
from datetime import date, datetime, time, timedelta, timezone
from enum import Enum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr, WithJsonSchema, field_validator
from pydantic.functional_validators import BeforeValidator

# --------------------------------------------------------------------------------------------- enums


class ValidationStrategy(str, Enum):
    ROW_COUNT = "ROW_COUNT"
    CHECKSUM = "CHECKSUM"
    TIMESTAMP_RANGE = "TIMESTAMP_RANGE"
    SAMPLE = "SAMPLE"


class Priority(str, Enum):
    LOW = "LOW"
    NORMAL = "NORMAL"
    HIGH = "HIGH"


PRIORITY_TO_DB = {Priority.LOW: 0, Priority.NORMAL: 1, Priority.HIGH: 2}
PRIORITY_FROM_DB = {v: k for k, v in PRIORITY_TO_DB.items()}


class JobStatus(str, Enum):
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


class JobType(str, Enum):
    HOURLY_SCHEDULED = "HOURLY_SCHEDULED"
    MANUAL_ONDEMAND = "MANUAL_ONDEMAND"


class MismatchType(str, Enum):
    MISSING_IN_POSTGRES = "MISSING_IN_POSTGRES"
    MISSING_IN_CASSANDRA = "MISSING_IN_CASSANDRA"
    DATA_MISMATCH = "DATA_MISMATCH"


class ResolutionStatus(str, Enum):
    PENDING = "PENDING"
    AUTO_RESOLVED = "AUTO_RESOLVED"
    MANUAL_RESOLVED = "MANUAL_RESOLVED"
    IGNORED = "IGNORED"


# ------------------------------------------------------------------------------------ time helpers


def iso_z(value: datetime | None) -> str | None:
    """ISO-8601 UTC with a `Z`, whole seconds (the contract's form: 2025-11-20T14:02:15Z)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# a '+' in a query string arrives as a space: "2025-11-01T00:00:00 01:00"
_SPACE_OFFSET = re.compile(r"^(.*T[0-9:.]+) (\d{2}:?\d{2})$")


class DateBound:
    """A parsed from_date/to_date: the instant, and how precisely the client gave it."""

    __slots__ = ("instant", "granularity")

    def __init__(self, instant: datetime, granularity: timedelta):
        self.instant = instant
        self.granularity = granularity

    @property
    def inclusive_end(self) -> datetime:
        """Exclusive upper bound that includes everything within the bound's precision.

        `to_date=2025-11-20` covers the whole day, `...T14:02:15Z` the whole second, a value with
        fractional seconds is an exact instant (granularity one microsecond).
        """
        return self.instant + self.granularity

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DateBound) and (self.instant, self.granularity) == (other.instant, other.granularity)

    def __repr__(self) -> str:
        return f"DateBound({self.instant.isoformat()}, {self.granularity})"


def parse_date_bound(value: Any) -> DateBound:
    if isinstance(value, DateBound):
        return value
    if isinstance(value, datetime):
        v = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return DateBound(v.astimezone(timezone.utc), timedelta(microseconds=1))
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be an ISO 8601 date or date-time, e.g. 2025-11-01T00:00:00Z")
    text = value.strip()
    m = _SPACE_OFFSET.match(text)
    if m:
        text = f"{m.group(1)}+{m.group(2)}"
    try:
        if _DATE_ONLY.match(text):
            d = date.fromisoformat(text)
            return DateBound(datetime.combine(d, time(0), tzinfo=timezone.utc), timedelta(days=1))
        if "T" not in text and " " not in text:
            raise ValueError
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"'{value}' is not an ISO 8601 date or date-time (e.g. 2025-11-01 or 2025-11-01T00:00:00Z)"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    granularity = timedelta(microseconds=1) if parsed.microsecond or "." in text else timedelta(seconds=1)
    if granularity == timedelta(seconds=1) and re.search(r"T\d{2}:\d{2}(?:[Z+-]|$)", text):
        granularity = timedelta(minutes=1)  # "2025-11-20T14:02Z": the whole minute
    return DateBound(parsed.astimezone(timezone.utc), granularity)


IsoDate = Annotated[
    Any,
    BeforeValidator(parse_date_bound),
    WithJsonSchema(
        {
            "type": "string",
            "description": "ISO 8601 date (2025-11-01) or date-time (2025-11-01T00:00:00Z); no offset means UTC",
            "examples": ["2025-11-01T00:00:00Z"],
        }
    ),
]


def _strict_int_from_query(value: Any) -> Any:
    if isinstance(value, str):
        if not re.fullmatch(r"[+-]?\d{1,9}", value.strip()):
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


TableName = Annotated[StrictStr, Field(min_length=1, max_length=128)]


class TriggerRequest(_Request):
    """Body of POST /reconciliation/trigger."""

    tables: list[TableName] = Field(
        max_length=500,
        description="Tables to reconcile (catalog names). Empty array = every table in the catalog. "
        "Duplicates are collapsed.",
        examples=[["users", "orders", "products"]],
    )
    validation_strategy: ValidationStrategy = Field(description="Validation method (required).")
    priority: Priority = Field(default=Priority.NORMAL, description="Job priority (default NORMAL).")

    def distinct_tables(self) -> list[str]:
        return list(dict.fromkeys(self.tables))


class ResolveRequest(_Request):
    """Body of POST /reconciliation/mismatches/{mismatch_id}/resolve.

    Any resolution status is accepted syntactically; only MANUAL_RESOLVED and IGNORED are ever legal
    targets (anything else is a 400 INVALID_STATUS_TRANSITION, see docs/api.md).
    """

    resolution_status: ResolutionStatus = Field(description="Target status: MANUAL_RESOLVED or IGNORED.")
    resolution_notes: StrictStr | None = Field(default=None, max_length=1000, description="Free text, max 1000 chars.")


# ------------------------------------------------------------------------------------------- queries


class _Query(BaseModel):
    model_config = ConfigDict(extra="forbid")

    page: QueryInt = Field(default=1, ge=1, le=1_000_000, description="Page number, from 1.")
    page_size: QueryInt = Field(default=50, ge=1, le=100, description="Items per page (max 100).")
    from_date: IsoDate | None = Field(default=None, description="Inclusive lower bound.")
    to_date: IsoDate | None = Field(default=None, description="Inclusive upper bound (at the precision given).")

    def date_order_problem(self) -> str | None:
        if self.from_date and self.to_date and self.from_date.instant >= self.to_date.inclusive_end:
            return "must not be after to_date"
        return None


class JobsQuery(_Query):
    """Query parameters of GET /reconciliation/jobs. Dates filter on created_at (see docs/api.md)."""

    table: str | None = Field(default=None, min_length=1, max_length=128, description="Table name.")
    status: JobStatus | None = None
    job_type: JobType | None = None


class MismatchesQuery(_Query):
    """Query parameters of GET /reconciliation/mismatches. Dates filter on detected_at."""

    table: str | None = Field(default=None, min_length=1, max_length=128, description="Table name.")
    mismatch_type: MismatchType | None = None
    resolution_status: ResolutionStatus | None = None
    job_id: uuid.UUID | None = Field(default=None, description="Only mismatches of this job.")

    @field_validator("job_id", mode="before")
    @classmethod
    def _uuid(cls, v):
        return parse_uuid(v)


# ----------------------------------------------------------------------------------------- responses

Timestamp = Annotated[str, Field(description="ISO 8601 UTC, e.g. 2025-11-20T14:02:15Z", examples=["2025-11-20T14:02:15Z"])]


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


class Job(_Response):
    job_id: uuid.UUID
    table_name: str
    job_type: JobType
    validation_strategy: ValidationStrategy
    started_at: Timestamp | None
    completed_at: Timestamp | None
    duration_seconds: int | None = Field(description="Whole seconds from started_at to completed_at; null until finished")
    status: JobStatus
    cassandra_row_count: int | None
    postgres_row_count: int | None
    mismatch_count: int | None
    drift_percentage: float | None = Field(description="100 x mismatch_count / cassandra_row_count")
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
    cassandra_checksum: str | None = Field(default=None, description="Present for DATA_MISMATCH only")
    postgres_checksum: str | None = Field(default=None, description="Present for DATA_MISMATCH only")
    detected_at: Timestamp
    resolution_status: ResolutionStatus


class Progress(_Response):
    segments_total: int | None = Field(description="Null until the job is planned")
    segments_done: int


class JobDetail(Job):
    validation_errors: list[Any] | None = Field(description="Null, or the reasons the job failed / rows it could not compare")
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


class InternalError(Error):
    error: Literal["INTERNAL_SERVER_ERROR"]
    request_id: str = Field(description="Also in the X-Request-Id header and the service logs")
    contact: str


RESPONSE_MODELS: list[type[BaseModel]] = [
    TriggerRequest, ResolveRequest, TriggerResponse, JobsPage, JobDetail, MismatchesPage, ResolveResponse,
    Error, ValidationErrorBody, InvalidTableError, RateLimitError, InternalError,
]
