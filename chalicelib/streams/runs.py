"""Run control for reconciliation streams: create, start, cancel and read runs (no HTTP, no SQL here).

A run is created PENDING with one row per step (its reconciliation id) and a PENDING first attempt of
each step; starting it starts the Step Functions execution named after the run id. The run becomes
RUNNING when the step worker picks up its first step, and ends when the execution's FINISH message is
handled (step_worker.finish_run). Cancel marks the run CANCELED in the control plane first (the
worker polls it and stops within seconds), then stops the execution.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import psycopg

from chalicelib.observability import logger
from chalicelib.streams import runtime, state_machine
from chalicelib.streams.defs_db import tx
from chalicelib.streams.defs_errors import Conflict, NotFound

__all__ = ["RunConflict", "NotFound", "create_run", "start_run", "cancel_run", "get_run", "list_runs",
           "list_step_runs", "get_step_run", "artifacts_of", "step_run_for_reconciliation", "run_view",
           "step_run_view", "artifact_view", "created_view"]

TRIGGER_TYPES = ("MANUAL", "SCHEDULED", "EVENT")


class RunConflict(Conflict):
    """A state that forbids the action (409)."""


# ------------------------------------------------------------------------------------------ create


def _definition(version: dict, bound_inputs: list[dict]) -> list[dict]:
    """The steps as the run keeps them (camelCase), with inputs bound by an event applied."""
    steps = []
    for st in version["steps"]:
        steps.append({
            "stepOrder": st["step_order"], "stepId": st["step_id"], "name": st["name"],
            "sourceInput": {"type": st["source_type"], "id": st["source_id"]},
            "targetInput": {"type": st["target_type"], "id": st["target_id"]},
            "ruleSetId": st["rule_set_id"], "maxRetries": st["max_retries"],
            "continueOnFailure": st["continue_on_failure"],
        })
    for b in bound_inputs:
        for st in steps:
            if st["stepOrder"] == int(b["stepOrder"]):
                key = "sourceInput" if b["input"].upper() == "SOURCE" else "targetInput"
                st[key] = {"type": "FILE", "id": int(b["fileId"])}
    return steps


def _pin_rule_set_versions(steps: list[dict], c) -> None:
    """Each step keeps the version its rule set had when the run was created (platform §4: a run in
    flight keeps the definition it started with; a rule set edited while step 1 runs does not change
    what step 2, or a retry, matches with). Every attempt of the step loads that version."""
    from chalicelib.streams import rule_sets

    latest = rule_sets.existing([s["ruleSetId"] for s in steps if s.get("ruleSetId") is not None], c)
    for s in steps:
        row = latest.get(s.get("ruleSetId"))
        if row is not None:
            s["ruleSetVersion"] = row["version"]


def create_run(stream_id: int, trigger_type: str, trigger_metadata: dict | None, *, start: bool = True,
               bound_inputs: list[dict] | None = None, conn: psycopg.Connection | None = None) -> dict:
    """Create a run of the stream's current definition (and start it unless start=False).

    Raises NotFound (no such stream), RunConflict (stream not ACTIVE, or a run PENDING/RUNNING).
    Returns the created run's view (PENDING: it turns RUNNING when its first step starts).
    """
    from chalicelib.streams import definitions

    if trigger_type not in TRIGGER_TYPES:
        raise ValueError(f"trigger_type must be one of {TRIGGER_TYPES}")
    bound_inputs = list(bound_inputs or [])
    with tx(conn) as c:
        stream = definitions.get_stream(stream_id, c)
        if stream is None:
            raise NotFound("Stream", stream_id)
        if stream["status"] != "ACTIVE":
            raise RunConflict(f"Stream {stream_id} is {stream['status']}: only an ACTIVE stream can run")
        active = runtime.active_run_of(c, stream_id)
        if active is not None:
            raise RunConflict(f"Stream {stream_id} already has a run in progress (run {active['run_id']},"
                              f" {active['status']})")
        version = definitions.get_version(stream_id, stream["current_version"], c)
        steps = _definition(version, bound_inputs)
        _pin_rule_set_versions(steps, c)
        try:
            with c.transaction():
                row = runtime.insert_run(c, stream_id=stream_id, stream_version=version["version"],
                                         trigger_type=trigger_type, trigger_metadata=trigger_metadata or {},
                                         definition=steps, bound_inputs=bound_inputs)
                runtime.insert_steps(c, row["run_id"], steps)
        except psycopg.errors.UniqueViolation:
            # a concurrent create won the one-active-run index
            raise RunConflict(f"Stream {stream_id} already has a run in progress") from None
        run_id = row["run_id"]
        run = runtime.get_run(c, run_id)
    if start and conn is None:
        start_run(run_id)
    elif start:
        logger.info("run created inside a caller's transaction: the caller starts it", extra={"run_id": run_id})
    return created_view(run)


def start_run(run_id: int, *, pin_now: bool = False) -> dict:
    """Start the run's execution. RunConflict when it was started already or is finished. `pin_now`: the
    run's rule sets are pinned to their versions of now, not of its creation (a legacy reconciliation is
    created PENDING and started later: a rule set corrected in between is the one it starts with)."""
    with tx() as c:
        run = runtime.get_run(c, run_id, lock=True)
        if run is None:
            raise NotFound("Stream run", run_id)
        if run["execution_arn"] or run["status"] != "PENDING":
            raise RunConflict(f"Stream run {run_id} was already started ({run['status']})")
        definition = run["definition"]
        if pin_now:
            _pin_rule_set_versions(definition, c)
            runtime.update_run(c, run_id, definition=definition)
        # claimed under the row lock: of concurrent starts, one starts the execution and the others
        # meet a started run (409), instead of each starting it (the name makes the execution one)
        try:
            claim = state_machine.execution_arn(run_id)
        except Exception:   # no state machine to name it after: start() below fails and says so
            claim = None
        if claim:
            runtime.update_run(c, run_id, execution_arn=claim)
    try:
        arn = state_machine.start(run_id, definition)
    except Exception as exc:
        logger.exception("starting the run's execution failed", extra={"run_id": run_id})
        with tx() as c:
            runtime.update_run(c, run_id, status="FAILED", completed_at=_now(c),
                               error_message=f"the run could not be started: {type(exc).__name__}")
            runtime.close_open_steps(c, run_id, in_progress_to="FAILED", pending_to="SKIPPED")
        raise
    with tx() as c:
        runtime.update_run(c, run_id, execution_arn=arn)
        return run_view(runtime.get_run(c, run_id))


def start_created(run_id: int) -> Exception | None:
    """Start, after its commit, a run that a trigger created inside its own transaction
    (create_run(start=False, conn=...)). Returns the error of a failed start (start_run has marked the run
    FAILED with the reason). A process that dies before this call leaves a PENDING run: start_stalled
    starts it."""
    try:
        start_run(run_id)
    except RunConflict:
        pass   # started meanwhile (by start_stalled)
    except Exception as exc:   # noqa: BLE001 — the run says why it failed
        logger.exception("a run created by a trigger could not be started", extra={"run_id": run_id})
        return exc
    return None


#: a run still PENDING this long after it was created has lost its start: normally its first step
#: makes it RUNNING within a second
STALLED_START_SECONDS = 60


def start_stalled(older_than: float = STALLED_START_SECONDS, limit: int = 100) -> dict:
    """Maintenance (chalicelib.runs.sweeper): start the runs that were created but never started — the
    process that created one (a trigger, the API) died between its commit and StartExecution, or
    between claiming the execution's name and starting it. A legacy reconciliation waits PENDING for
    its start on purpose, so one is taken only once its start was claimed. Starting is idempotent
    (the execution is named after the run, with the same input), so a run whose execution exists and
    whose first step is merely queued is not started twice."""
    with tx() as c:
        rows = c.execute(
            "SELECT r.run_id, r.execution_arn FROM recon.stream_runs r JOIN recon.streams s USING (stream_id)"
            " WHERE r.status = 'PENDING' AND r.created_at < clock_timestamp() - make_interval(secs => %s)"
            " AND (s.kind <> 'LEGACY' OR r.execution_arn IS NOT NULL) ORDER BY r.run_id LIMIT %s",
            (float(older_than), int(limit))).fetchall()
    started = failed = 0
    for r in rows:
        try:
            if r["execution_arn"] is None:
                start_run(r["run_id"])
            else:
                with tx() as c:
                    run = runtime.get_run(c, r["run_id"])
                if run is None or run["status"] != "PENDING":
                    continue
                state_machine.start(r["run_id"], run["definition"])
            started += 1
            logger.info("a run that had lost its start was started", extra={"run_id": r["run_id"]})
        except RunConflict:
            pass   # started or finished meanwhile
        except Exception:   # noqa: BLE001 — start_run has marked it FAILED with the reason
            failed += 1
            logger.exception("a run that had lost its start could not be started", extra={"run_id": r["run_id"]})
    return {"stalledRuns": len(rows), "started": started, "failed": failed}


#: a run whose execution has ended or vanished this long ago without finishing it is ended by the sweep
LOST_EXECUTION_SECONDS = 120


def end_lost_executions(older_than: float = LOST_EXECUTION_SECONDS, limit: int = 100) -> dict:
    """Maintenance (chalicelib.runs.sweeper): a run still PENDING or RUNNING whose execution has ended
    without finishing it — stopped or failed outside the service (the Step Functions console, an
    execution that timed out), or gone (a local stack restarted without its Step Functions state) —
    would stay active for ever, and the stream with it: every run refused with 409, every scheduled
    occurrence and event skipped. Its first step that had not finished fails, naming what became of the
    execution, and the run ends as after its last step (FAILED, or PARTIAL_FAILED when that step may
    fail; completed steps' unmatched rows that no later step took become exceptions). An execution that
    succeeded has sent FINISH, which may have been lost: it is sent again (FINISH is idempotent).
    Runs created less than `older_than` seconds ago, and executions still RUNNING, are left alone."""
    with tx() as c:
        rows = c.execute(
            "SELECT run_id, execution_arn FROM recon.stream_runs WHERE status IN ('PENDING', 'RUNNING')"
            " AND execution_arn IS NOT NULL AND created_at < clock_timestamp() - make_interval(secs => %s)"
            " ORDER BY run_id LIMIT %s", (float(older_than), int(limit))).fetchall()
    ended = finished = 0
    for r in rows:
        try:
            execution = state_machine.describe(r["execution_arn"])
            status, stopped = execution["status"], execution.get("stopDate")
        except Exception as exc:   # noqa: BLE001 — only a missing execution is news; anything else: next sweep
            if getattr(exc, "response", {}).get("Error", {}).get("Code") != "ExecutionDoesNotExist":
                logger.exception("the execution of an active run could not be read", extra={"run_id": r["run_id"]})
                continue
            status, stopped = "gone", None
        if status == "RUNNING":
            continue
        if stopped is not None and (datetime.now(timezone.utc) - stopped).total_seconds() < older_than:
            continue   # just ended: its FINISH (or the cancel that stopped it) is on its way
        if status == "SUCCEEDED":
            from chalicelib import aws

            aws.send_message("recon-stream-steps", {"kind": "FINISH", "runId": r["run_id"]})
            finished += 1
            continue
        if _fail_open_step(r["run_id"], status):
            ended += 1
    return {"activeRuns": len(rows), "ended": ended, "finishResent": finished}


def _fail_open_step(run_id: int, execution_status: str) -> bool:
    from chalicelib.streams import step_worker

    what = ("no longer exists" if execution_status == "gone"
            else f"ended {execution_status} before the run finished")
    with tx() as c:
        run = runtime.get_run(c, run_id, lock=True)
        if run is None or run["status"] not in runtime.ACTIVE_RUN:
            return False
        open_step = c.execute(
            "SELECT DISTINCT ON (step_order) step_run_id, step_order, status FROM recon.stream_step_runs"
            " WHERE run_id = %s ORDER BY step_order, attempt_no DESC", (run_id,)).fetchall()
        first = next((s for s in open_step if s["status"] in ("PENDING", "IN_PROGRESS", "RETRY_WAIT", "CANCELED")),
                     None)
        if first is not None:
            runtime.update_step_run(c, first["step_run_id"], status="FAILED", completed_at=_now(c),
                                    error_message=f"the run's execution {what}")
    logger.warning("a run whose execution ended without finishing it is ended",
                   extra={"run_id": run_id, "execution": execution_status})
    step_worker.finish_run(run_id)
    return True


def _now(c) -> Any:
    return c.execute("SELECT clock_timestamp() AS now").fetchone()["now"]


# ------------------------------------------------------------------------------------------ cancel


def cancel_run(run_id: int, *, step_order: int | None = None) -> dict:
    """CANCELED now (the worker notices within seconds), running step CANCELED, pending steps SKIPPED.

    RunConflict when the run is already finished, or, with `step_order`, when that step has already
    finished (a reconciliation is its step: one that completed cannot be canceled, even while its run
    is still closing).
    """
    with tx() as c:
        run = runtime.get_run(c, run_id, lock=True)
        if run is None:
            raise NotFound("Stream run", run_id)
        if run["status"] in runtime.FINISHED_RUN:
            raise RunConflict(f"Stream run {run_id} is already {run['status']}")
        # the steps' rows locked: a worker completing the last step (its exceptions loading in the same
        # transaction) is waited for, and seen COMPLETED
        c.execute("SELECT step_run_id FROM recon.stream_step_runs WHERE run_id = %s FOR NO KEY UPDATE", (run_id,))
        decided = runtime.decided_outcome({s["step_order"]: s for s in runtime.step_runs(c, run_id)},
                                          run["definition"])
        if decided is not None:
            # nothing is left to run or skip: the run's outcome is decided, only its end is being written
            raise RunConflict(f"Stream run {run_id} has finished its steps and is ending {decided}")
        runtime.close_open_steps(c, run_id, in_progress_to="CANCELED", pending_to="SKIPPED",
                                 message="canceled")
        if step_order is not None:
            # after the update: a worker that finished the step first is seen here; one that finishes
            # later finds the step CANCELED and its answer changes nothing
            step = c.execute(
                "SELECT status FROM recon.stream_step_runs WHERE run_id = %s AND step_order = %s"
                " ORDER BY attempt_no DESC LIMIT 1 FOR UPDATE", (run_id, step_order)).fetchone()
            if step and step["status"] in ("COMPLETED", "FAILED"):
                raise RunConflict(f"step {step_order} of run {run_id} is already {step['status']}")
        runtime.update_run(c, run_id, status="CANCELED", completed_at=_now(c))
        arn = run["execution_arn"]
        view = run_view(runtime.get_run(c, run_id))
    if arn:
        try:
            state_machine.stop(arn, cause=f"run {run_id} canceled")
        except Exception:
            # the control plane already says CANCELED; the worker stops on that alone
            logger.exception("StopExecution failed", extra={"run_id": run_id})
    try:
        # completed steps' unmatched rows that the canceled steps were to take become exceptions
        from chalicelib import aws

        aws.send_message("recon-stream-steps", {"kind": "SETTLE", "runId": run_id})
    except Exception:
        logger.exception("settling the canceled run's exceptions could not be requested", extra={"run_id": run_id})
    _after_finish(view)
    return {"runId": view["id"], "status": view["status"], "completedAt": view["completedAt"]}


def _after_finish(view: dict) -> None:
    try:
        from chalicelib.streams import events

        events.run_finished(view)
    except Exception:
        logger.exception("publishing the run's end failed", extra={"run_id": view.get("id")})


# ------------------------------------------------------------------------------------------- reads


def get_run(run_id: int) -> dict:
    with tx() as c:
        run = runtime.get_run(c, run_id)
    if run is None:
        raise NotFound("Stream run", run_id)
    return run_view(run)


def list_runs(stream_id: int, *, status: str | None = None, offset: int = 0, limit: int = 20
              ) -> tuple[list[dict], int]:
    from chalicelib.streams import definitions

    with tx() as c:
        if definitions.get_stream(stream_id, c) is None:
            raise NotFound("Stream", stream_id)
        rows, total = runtime.list_runs(c, stream_id, status, offset, limit)
    return [run_view(r) for r in rows], total


def list_step_runs(run_id: int, *, all_attempts: bool = False) -> list[dict]:
    with tx() as c:
        if runtime.run_status(c, run_id) is None:
            raise NotFound("Stream run", run_id)
        return [step_run_view(s) for s in runtime.step_runs(c, run_id, all_attempts=all_attempts)]


def get_step_run(step_run_id: int) -> dict:
    with tx() as c:
        row = runtime.get_step_run(c, step_run_id)
    if row is None:
        raise NotFound("Step run", step_run_id)
    return step_run_view(row)


def artifacts_of(step_run_id: int) -> list[dict]:
    with tx() as c:
        if runtime.get_step_run(c, step_run_id) is None:
            raise NotFound("Step run", step_run_id)
        return [artifact_view(a) for a in runtime.artifacts(c, step_run_id)]


def step_run_for_reconciliation(reconciliation_id: int, conn: psycopg.Connection | None = None) -> dict | None:
    """The latest attempt of the (run, step) behind a reconciliation id, as a raw row (snake_case, with
    counts, status, progress, error_message, started_at, completed_at, run_id, run_status)."""
    with tx(conn) as c:
        from chalicelib.streams.defs_db import fetch_one

        return fetch_one(
            c,
            "SELECT s.*, r.status AS run_status, r.stream_id, t.name FROM recon.stream_run_steps t"
            " JOIN recon.stream_step_runs s ON s.reconciliation_id = t.reconciliation_id"
            " JOIN recon.stream_runs r ON r.run_id = t.run_id"
            " WHERE t.reconciliation_id = %s ORDER BY s.attempt_no DESC LIMIT 1",
            (reconciliation_id,),
        )


# ------------------------------------------------------------------------------------------- views


def created_view(run: dict) -> dict:
    return {"runId": run["run_id"], "streamId": run["stream_id"], "status": run["status"],
            "currentStepOrder": run["current_step_order"], "startedAt": run["started_at"],
            "createdAt": run["created_at"]}


def run_view(run: dict) -> dict:
    return {
        "id": run["run_id"], "streamId": run["stream_id"], "streamVersion": run["stream_version"],
        "status": run["status"], "currentStepOrder": run["current_step_order"],
        "triggerType": run["trigger_type"], "triggerMetadata": run["trigger_metadata"] or {},
        "metrics": {"totalSteps": run["total_steps"], "completedSteps": int(run.get("completed_steps") or 0),
                    "failedSteps": int(run.get("failed_steps") or 0),
                    "matchedRecords": int(run.get("matched_records") or 0),
                    "exceptionCount": int(run.get("exception_count") or 0)},
        "errorMessage": run["error_message"], "startedAt": run["started_at"], "completedAt": run["completed_at"],
        "createdAt": run["created_at"], "updatedAt": run["updated_at"],
    }


def step_run_view(s: dict) -> dict:
    return {
        "id": s["step_run_id"], "runId": s["run_id"], "stepId": s["step_id"], "stepOrder": s["step_order"],
        "name": s.get("name"), "status": s["status"], "attemptNo": s["attempt_no"], "progress": s["progress"],
        "reconciliationId": s["reconciliation_id"], "ruleSetId": s["rule_set_id"],
        "ruleSetVersion": s["rule_set_version"], "sourceRows": s["source_rows"], "targetRows": s["target_rows"],
        "matchedSourceRows": s["matched_source_rows"], "matchedTargetRows": s["matched_target_rows"],
        "unmatchedSourceRows": s["unmatched_source_rows"], "unmatchedTargetRows": s["unmatched_target_rows"],
        "exceptionCount": s["exception_count"], "errorMessage": s["error_message"],
        "startedAt": s["started_at"],
        # an attempt waiting for its retry has ended, but its step has not
        "completedAt": None if s["status"] == "RETRY_WAIT" else s["completed_at"],
    }


def artifact_view(a: dict) -> dict:
    return {"id": a["artifact_id"], "artifactType": a["artifact_type"], "fileId": a["file_id"],
            "filename": a["filename"], "rowCount": a["row_count"], "checksum": a["checksum"],
            "downloadUrl": f"/api/v1/files/{a['file_id']}/download", "createdAt": a["created_at"]}
