"""Streams (streams contract §4.1–4.3, platform §5): create, list, get, update, pause, resume, archive,
validate. Runs are in stream_runs.py."""
from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any, Literal, Optional

from chalice import Blueprint
from pydantic import Field, field_validator

from chalicelib.api.auth_middleware import caller_email
from chalicelib.api.core import (Dialect, Routes, StreamsOut, StreamsPageQuery, check_read_only, created, ok,
                                 page_of, paginated, read_only_fields)
from chalicelib.domain.keyorder import ordered_keys
from chalicelib.streams import definitions, schedules
from chalicelib.streams.validation import InputType, StreamIn, StreamStatus, TriggerType

bp = Blueprint(__name__)
api = Routes(bp, dialect=Dialect.STREAMS, tag="streams")


class StepInputOut(StreamsOut):
    type: InputType
    id: int


class StepConfigOut(StreamsOut):
    continue_on_failure: bool
    max_retries: int


class StepOut(StreamsOut):
    id: int
    step_order: int
    name: str
    source_input: StepInputOut
    target_input: StepInputOut
    rule_set_id: int
    config: StepConfigOut


class OccurrenceView(StreamsOut):
    occurrence_at: datetime = Field(description="The schedule's instant (UTC); EVENT streams: when the event came")
    status: Literal["STARTED", "QUEUED", "SKIPPED_RUN_ACTIVE", "SKIPPED_NOT_ACTIVE", "FAILED"] = Field(
        description="STARTED: it started run runId; QUEUED: an EVENT stream's event that met a run in flight, "
                    "waiting for it to end (it then starts its own run and reads STARTED); SKIPPED_RUN_ACTIVE: a "
                    "scheduled occurrence met a run in flight (or a later missed occurrence superseded it, see "
                    "detail); SKIPPED_NOT_ACTIVE: the stream was not ACTIVE; FAILED: the run could not start (detail)")
    late: bool = Field(description="Claimed more than 90 s after its instant (catch-up after downtime)")
    run_id: Optional[int] = None
    detail: Optional[str] = None


class StreamOut(StreamsOut):
    id: int
    name: str
    description: Optional[str] = None
    status: StreamStatus
    domain: Optional[str] = None
    trigger_type: TriggerType
    trigger_config: Optional[dict[str, Any]] = None
    version: int = Field(description="Definition version (a PUT writes a new one; runs keep theirs)")
    next_run_at: Optional[datetime] = Field(default=None, description="SCHEDULED and ACTIVE streams: the next occurrence")
    recent_occurrences: list[OccurrenceView] = Field(
        default_factory=list, description="SCHEDULED streams: the latest 10 occurrences, newest first, run or skipped; "
                                           "EVENT streams: the latest 10 triggering events (occurrenceAt = received), "
                                           "likewise")
    steps: list[StepOut]
    created_at: datetime
    updated_at: datetime

    @field_validator("trigger_config")
    @classmethod
    def _as_written(cls, v):   # the contracts' order: cron, timezone / event, filenamePattern, bind / streamId
        v = ordered_keys(v, ("cron", "timezone", "event", "filenamePattern", "bind", "streamId"))
        if isinstance(v, dict) and "bind" in v:
            v["bind"] = ordered_keys(v["bind"], ("stepOrder", "input"))
        return v


class StreamSummaryOut(StreamsOut):
    id: int
    name: str
    description: Optional[str] = None
    status: StreamStatus
    domain: Optional[str] = None
    trigger_type: TriggerType
    step_count: int
    created_at: datetime
    updated_at: datetime


class StreamCreatedOut(StreamsOut):
    """The answer to a create: exactly the streams contract's §4.1 fields (GET /streams/{id} has the rest)."""
    id: int
    name: str
    status: StreamStatus
    domain: Optional[str] = None
    step_count: int
    created_at: datetime
    updated_at: datetime


class ValidationItem(StreamsOut):
    field: str = Field(examples=["steps[1].targetInput.id"])
    code: str = Field(examples=["STEP_TARGET_FILE_LARGE"])
    message: str = Field(examples=["Step 2 target file has 1.2M rows; consider schedule window."])


class ValidationOut(StreamsOut):
    valid: bool
    errors: list[ValidationItem]
    warnings: list[ValidationItem]


class StreamsListQuery(StreamsPageQuery):
    status: Optional[StreamStatus] = None
    domain: Optional[str] = Field(default=None, min_length=1, max_length=50)


@api.route("/streams", "POST", body=StreamIn, response=StreamCreatedOut, status=201, summary="Create a stream",
           beyond_shape=definitions.reference_problems,
           description="Validated on create: structural errors and broken references are a 400 listing them all "
                       "(codes as in POST /streams/{id}/validate). A file still PROCESSING is accepted.")
def create_stream(body: StreamIn):
    stream = definitions.create_stream(body, caller_email(bp))
    _wake(stream)
    view = definitions.summary_view(stream)
    return created(view, f"/streams/{view['id']}", message="Stream created")


@api.route("/streams", "GET", query=StreamsListQuery, response=page_of(StreamSummaryOut),
           summary="List streams (newest first; filters status, domain)")
def list_streams(query: StreamsListQuery):
    rows, total = definitions.list_streams(status=query.status.value if query.status else None, domain=query.domain,
                                           offset=query.offset, limit=query.limit)
    return ok(paginated([definitions.summary_view(r) for r in rows], total, query))


@api.route("/streams/{id}", "GET", response=StreamOut, errors=[404], summary="One stream with its steps")
def get_stream(id: int):
    return ok(definitions.stream_view(definitions.load(id)))


@api.route("/streams/{id}", "PUT", body=StreamIn, response=StreamOut, errors=[404, 409],
           beyond_shape=definitions.reference_problems,
           summary="Replace a stream's definition (name, description, trigger, steps): a new version",
           description="A run in flight keeps the definition it started with. 409 for an ARCHIVED stream. What GET "
                       "answered can be PUT back: its read-only fields are checked, not written (id and status must "
                       "be the stream's, a version other than the current one is a 409; timestamps, nextRunAt, "
                       "recentOccurrences, stepCount and the steps' ids are ignored).",
           read_only=read_only_fields("id", "status", "version", "nextRunAt", "recentOccurrences", "stepCount",
                                      "createdAt", "updatedAt", each={"steps": ("id",)}))
def update_stream(id: int, body: StreamIn, given: dict):
    def check(row: dict) -> None:   # under the stream's lock: two PUTs of one version cannot both pass
        check_read_only(given, {"id": id, "status": row["status"], "version": row["current_version"]}, "Stream",
                        {"status": f"change it with POST /streams/{id}/pause, /resume or DELETE /streams/{id}"})

    stream = definitions.update_stream(id, body, caller_email(bp), check_locked=check if given else None)
    _wake(stream)
    return ok(definitions.stream_view(stream), message=f"Stream {id} is now at version {stream['version']}")


def _wake(stream: dict) -> None:
    """A schedule saved or resumed: its occurrences before the next dispatcher tick start on time
    (send_wakeups skips a stream that is not an ACTIVE SCHEDULED one)."""
    schedules.send_wakeups([stream])


def _status(id: int, action: str, message: str):
    stream = definitions.set_status(id, action)
    if action == "resume":
        _wake(stream)
    return ok(definitions.stream_view(stream), message=message)


@api.route("/streams/{id}/pause", "POST", response=StreamOut, errors=[404, 409],
           summary="Pause a stream (no scheduled or event runs; 409 when ARCHIVED)")
def pause_stream(id: int):
    return _status(id, "pause", "Stream paused")


@api.route("/streams/{id}/resume", "POST", response=StreamOut, errors=[404, 409],
           summary="Resume a paused stream (409 when ARCHIVED)")
def resume_stream(id: int):
    return _status(id, "resume", "Stream resumed")


@api.route("/streams/{id}", "DELETE", response=StreamOut, errors=[404, 409],
           summary="Archive a stream (status ARCHIVED; its runs and artifacts stay readable)",
           description="409 for the implicit stream of a legacy reconciliation.")
def archive_stream(id: int):
    return _status(id, "archive", "Stream archived")


@api.route("/streams/{id}/validate", "POST", response=ValidationOut, errors=[404],
           summary="Re-check a saved stream against today's files, rule sets and data sources",
           description="Errors: STEP_ORDER_INVALID, STEP_INPUT_FORWARD_REFERENCE, FILE_NOT_FOUND, FILE_NOT_READY, "
                       "RULE_SET_NOT_FOUND, DATA_SOURCE_NOT_FOUND, RULE_FIELD_MISSING, CRON_INVALID, "
                       "TIMEZONE_INVALID. Warnings: STEP_TARGET_FILE_LARGE (over 1,000,000 rows), STEP_OUTPUT_UNUSED, "
                       "DATA_SOURCE_UNREADABLE (a POSTGRES data source that cannot be read now; its columns are "
                       "checked too). Each names the step and the field.")
def validate_stream(id: int):
    errors, warnings = definitions.validate_saved(id)
    return ok({"valid": not errors, "errors": [asdict(i) for i in errors], "warnings": [asdict(i) for i in warnings]})
