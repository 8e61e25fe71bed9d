"""Stream runs (streams contract §4.4–4.8, platform §5): create a run, list a stream's runs, get a
run, its step runs (latest attempt, or every attempt), a step run's artifacts, cancel a run."""
from __future__ import annotations

import json
from datetime import datetime
from enum import Enum
from typing import Any, Optional

from chalice import Blueprint
from pydantic import ConfigDict, Field, RootModel, field_validator, model_validator
from pydantic_core import PydanticCustomError

from chalicelib.api.auth_middleware import caller_email, run_creation
from chalicelib.api.core import (Dialect, Routes, StreamsIn, StreamsOut, StreamsPageQuery, StreamsQuery, created, ok,
                                 page_of, paginated)
from chalicelib.domain.keyorder import ordered_keys
from chalicelib.streams import definitions, runs
from chalicelib.streams.defs_errors import Conflict, NotFound
from chalicelib.streams.validation import TriggerType

bp = Blueprint(__name__)
api = Routes(bp, dialect=Dialect.STREAMS, tag="stream runs", owns=("/stream-runs", "/step-runs"))


class RunStatus(str, Enum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    PARTIAL_FAILED = "PARTIAL_FAILED"
    FAILED = "FAILED"
    COMPLETED = "COMPLETED"
    CANCELED = "CANCELED"


class StepRunStatus(str, Enum):
    PENDING = "PENDING"
    IN_PROGRESS = "IN_PROGRESS"
    RETRY_WAIT = "RETRY_WAIT"
    FAILED = "FAILED"
    COMPLETED = "COMPLETED"
    SKIPPED = "SKIPPED"
    CANCELED = "CANCELED"


class ArtifactType(str, Enum):
    MATCHED = "MATCHED"
    UNMATCHED_SOURCE = "UNMATCHED_SOURCE"
    UNMATCHED_TARGET = "UNMATCHED_TARGET"
    SNAPSHOT_SOURCE = "SNAPSHOT_SOURCE"
    SNAPSHOT_TARGET = "SNAPSHOT_TARGET"


class ManualTrigger(str, Enum):
    MANUAL = "MANUAL"


TRIGGER_METADATA_MAX_BYTES = 8192


class TriggerMetadataIn(StreamsIn):
    """Who asked for the run and why (streams §4.4); other keys are kept as they are, up to
    TRIGGER_METADATA_MAX_BYTES of JSON in all (it is stored with the run and sent back with every read)."""

    model_config = ConfigDict(extra="allow", json_schema_extra={
        "description": f"Who or what asked for the run; keys of the caller's own are kept as they are, at most "
                      f"{TRIGGER_METADATA_MAX_BYTES} bytes of JSON in all"})
    requested_by: Optional[str] = Field(default=None, min_length=1, max_length=320,
                                        description="Default: the API key's owner")
    reason: Optional[str] = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _bounded(self):
        size = len(json.dumps(self.model_dump(mode="json", by_alias=True, exclude_none=True),
                              separators=(",", ":"), ensure_ascii=False).encode())
        if size > TRIGGER_METADATA_MAX_BYTES:
            raise PydanticCustomError("TOO_LARGE", "must be at most {limit} bytes of JSON (got {size})",
                                      {"limit": TRIGGER_METADATA_MAX_BYTES, "size": size})
        return self


class RunIn(StreamsIn):
    trigger_type: ManualTrigger = Field(default=ManualTrigger.MANUAL,
                                        description="MANUAL (schedules and events start their own runs)")
    trigger_metadata: Optional[TriggerMetadataIn] = Field(
        default=None, description="Who or what asked for the run, e.g. {\"requestedBy\": ..., \"reason\": ...}")


class RunCreatedOut(StreamsOut):
    run_id: int
    stream_id: int
    status: RunStatus
    current_step_order: int
    started_at: Optional[datetime] = None
    created_at: datetime


class RunMetricsOut(StreamsOut):
    total_steps: int
    completed_steps: int
    failed_steps: int
    matched_records: int = Field(description="Source rows matched, all steps")
    exception_count: int = Field(description="Unmatched rows of every step that no later step of the run consumes")


class RunOut(StreamsOut):
    id: int
    stream_id: int
    stream_version: int
    status: RunStatus
    current_step_order: int
    trigger_type: TriggerType
    trigger_metadata: dict[str, Any]
    metrics: RunMetricsOut

    @field_validator("trigger_metadata")
    @classmethod
    def _as_written(cls, v):   # streams §4.4's order: requestedBy, reason; a schedule's occurrence before late
        v = ordered_keys(v, ("requestedBy", "reason", "schedule", "event", "eventId"))
        if isinstance(v, dict) and isinstance(v.get("schedule"), dict):
            v["schedule"] = ordered_keys(v["schedule"], ("occurrence", "late"))
        return v
    error_message: Optional[str] = None
    started_at: Optional[datetime] = None
    completed_at: Optional[datetime] = None
    created_at: datetime
    updated_at: datetime


class StepRunOut(StreamsOut):
    id: int
    run_id: int
    step_id: Optional[int] = None
    step_order: int
    name: Optional[str] = None
    status: StepRunStatus
    attempt_no: int
    progress: int = Field(ge=0, le=100)
    reconciliation_id: int
    rule_set_id: Optional[int] = None
    rule_set_version: Optional[int] = None
    source_rows: Optional[int] = None
    target_rows: Optional[int] = None
    matched_source_rows: Optional[int] = None
    matched_target_rows: Optional[int] = None
    unmatched_source_rows: Optional[int] = None
    unmatched_target_rows: Optional[int] = None
    exception_count: int = 0
    error_message: Optional[str] = None
    started_at: Optional[datetime] = None
    completed_at: Optional[datetime] = None


class ArtifactOut(StreamsOut):
    id: int
    artifact_type: ArtifactType
    file_id: int
    filename: str
    row_count: Optional[int] = None
    checksum: Optional[str] = None
    download_url: str
    created_at: datetime


class CanceledOut(StreamsOut):
    run_id: int
    status: RunStatus
    completed_at: Optional[datetime] = None


class StepRunList(RootModel[list[StepRunOut]]):
    pass


class ArtifactList(RootModel[list[ArtifactOut]]):
    pass


class RunsQuery(StreamsPageQuery):
    status: Optional[RunStatus] = Field(default=None, description="Only runs with this status")


class Attempts(str, Enum):
    ALL = "all"
    LATEST = "latest"


class StepsQuery(StreamsQuery):
    attempts: Attempts = Field(default=Attempts.LATEST, description="`all` adds earlier attempts of each step")


@api.route("/streams/{id}/runs", "POST", body=RunIn, response=RunCreatedOut, status=201, errors=[404, 409],
           summary="Start a run of a stream",
           description="Creates a run of the stream's current definition and starts its execution. 409 when the "
                       "stream is not ACTIVE or a run of it is PENDING or RUNNING. A created run counts against the "
                       "per-key run-creation rate limit (a request rejected with 400, 404 or 409 does not).")
def create_stream_run(id: int, body: RunIn):
    stream = definitions.get_stream(id)
    if stream is None:
        raise NotFound("Stream", id)
    if stream["kind"] != "STREAM":   # one reconciliation, one run: start it with POST /reconciliations/{id}/start
        raise Conflict(f"Stream {id} belongs to a legacy reconciliation: use /reconciliations")
    metadata = body.trigger_metadata.model_dump(by_alias=True, exclude_unset=True) if body.trigger_metadata else {}
    if metadata.get("requestedBy") is None:
        metadata["requestedBy"] = caller_email(bp)
    with run_creation(bp) as conn:   # a run is created (and counted) or nothing is
        run = runs.create_run(id, body.trigger_type.value, metadata, conn=conn)
    runs.start_run(run["runId"])
    return created(run, f"/stream-runs/{run['runId']}", message="Run created")


@api.route("/streams/{id}/runs", "GET", query=RunsQuery, response=page_of(RunOut), errors=[404],
           summary="Runs of a stream, newest first")
def list_stream_runs(id: int, query: RunsQuery):
    items, total = runs.list_runs(id, status=query.status.value if query.status else None,
                                  offset=query.offset, limit=query.limit)
    return ok(paginated(items, total, query))


@api.route("/stream-runs/{runId}", "GET", response=RunOut, errors=[404], summary="One run, with its metrics")
def get_stream_run(runId: int):
    return ok(runs.get_run(runId))


@api.route("/stream-runs/{runId}/steps", "GET", query=StepsQuery, response=StepRunList, errors=[404],
           summary="Step runs of a run (latest attempt per step; ?attempts=all for every attempt)")
def list_stream_run_steps(runId: int, query: StepsQuery):
    return ok(runs.list_step_runs(runId, all_attempts=query.attempts is Attempts.ALL))


@api.route("/step-runs/{stepRunId}/artifacts", "GET", response=ArtifactList, errors=[404],
           summary="Artifacts of a step run (files: download through downloadUrl)")
def list_step_run_artifacts(stepRunId: int):
    return ok(in_type_order(runs.artifacts_of(stepRunId)))


def in_type_order(artifacts: list[dict]) -> list[dict]:
    """One fixed order whatever order the worker registered them in: the outputs (MATCHED,
    UNMATCHED_SOURCE, UNMATCHED_TARGET), then the snapshots (ArtifactType's order)."""
    rank = {t.value: i for i, t in enumerate(ArtifactType)}
    return sorted(artifacts, key=lambda a: (rank.get(a.get("artifactType"), len(rank)), a.get("id") or 0))


@api.route("/stream-runs/{runId}/cancel", "POST", response=CanceledOut, errors=[404, 409],
           summary="Cancel a run (the running step stops within seconds; pending steps are SKIPPED)")
def cancel_stream_run(runId: int):
    return ok(runs.cancel_run(runId), message="Run canceled")
