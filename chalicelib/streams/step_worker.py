"""The step worker: answers the state machine's step tasks and finishes runs.

A STEP message `{"kind": "STEP", "runId", "stepOrder", "retryCount", "taskToken"}` is one attempt of
one step: attempt = retryCount + 1, keyed in the control plane by (run, step order, attempt). The
task token is the same for every attempt in LocalStack, so it is never used as a key. A duplicate or
late delivery finds its attempt already claimed (or the run finished) and changes nothing.

An attempt: claim the row (IN_PROGRESS), resolve the inputs (a file, an earlier step's unmatched
output of the same run, or a data-source snapshot taken now), download them to a temporary
directory, run the matching engine with progress and cancel callbacks, upload the outputs and
register them as files and artifacts, load the exceptions of the outputs no later step consumes,
then SendTaskSuccess. A heartbeat thread beats the task token and polls the run's status every
second: a canceled run stops the engine within about a second. Failure answers `StepAttemptFailed`
while retries remain (the state machine waits with backoff and sends attempt + 1) and `StepFailed`
after the last one. `TaskTimedOut` / `InvalidToken` answers are final: logged, not retried.

A FINISH message ends the run: its status follows from the steps' final states. Unmatched rows a later
step was to take, when no later step completed with them, become exceptions of their step at the run's
end (a SETTLE message does it for a canceled run).

Test-only fault hooks (active only against a local endpoint, AWS_ENDPOINT_URL set, unless
RECON_STREAM_FAULT_HOOKS=0): a step whose name contains `[fail-once]` fails its first attempt,
`[fail-always]` every attempt, `[hold=N]` works N seconds (progress moving, heartbeats, cancel
checked) before it matches, and `[vanish-once]` makes the first attempt's worker go silent as if killed
(no answer, no heartbeat: the heartbeat timeout fails the attempt and the retry finishes the step), and
`[no-exception-load]` stops a completed non-last step's worker before it loads the exceptions (FINISH
then has them loaded from the artifacts after EXCEPTIONS_GRACE_SECONDS), and `[hold-completion=N]`
keeps the last step's completion transaction open N seconds before its exception load, and
`[hold-snapshot=N]` keeps a data-source snapshot's transaction open N seconds after its first block,
and `[hold-deferred=N]` makes a completed non-last step's worker wait N seconds before its deferred work,
and `[hold-outputs=N]` makes a worker whose engine is done wait N seconds, without looking for a cancel,
before it uploads and registers the outputs (a cancel then meets the completion), and `[fail-completion]`
makes registering the outputs fail (the attempt fails with the reason), and `[no-answer-once]` stops the first
attempt's worker right after its completion commits, before it answers (and before an earlier step's deferred work),
and `[hold-deferred-load=N]` keeps an earlier step's deferred exception load's transaction open N seconds (once).
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from chalicelib.db.pool import transaction
from chalicelib.observability import logger
from chalicelib.runs.retry import STREAM_STEP, ServiceUnavailable, is_transient, policy_scope, retry_call
from chalicelib.streams import runtime, state_machine
from chalicelib.streams.defs_db import fetch_all, tx

STEPS_QUEUE = "recon-stream-steps"
EXCEPTIONS_GRACE_SECONDS = 60
HEARTBEAT_SECONDS = float(os.environ.get("STREAM_HEARTBEAT_INTERVAL_SECONDS", "5"))
CANCEL_POLL_SECONDS = 1.0
#: the share of a step's progress (percent) that taking a data-source snapshot of an input is given
SNAPSHOT_SHARE = 10
# a file input still PROCESSING (uploaded, its worker reading it) is waited for up to this long
INPUT_WAIT_SECONDS = float(os.environ.get("STREAM_INPUT_WAIT_SECONDS", "120"))
INPUT_POLL_SECONDS = 0.5
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"
_SIDE_ARTIFACT = {"SOURCE": "UNMATCHED_SOURCE", "TARGET": "UNMATCHED_TARGET"}


class AttemptCanceled(Exception):
    pass


class WorkerVanished(Exception):
    """Test hook: behave like a worker killed mid-step (answer nothing, beat no more)."""


class StepInputMissing(Exception):
    """An input that is not there (an earlier step that did not complete): the step is SKIPPED."""


class StepInputInvalid(Exception):
    """An input file that is INVALID (or whose stored bytes are gone): retrying cannot help, the step fails."""


@dataclass
class Attempt:
    run_id: int
    step_order: int
    attempt_no: int
    token: str
    step: dict
    run: dict
    step_run_id: int = 0
    reconciliation_id: int = 0
    cancel: threading.Event = field(default_factory=threading.Event)
    gone: threading.Event = field(default_factory=threading.Event)
    progress: int = 0
    timings: dict = field(default_factory=dict)   # seconds per phase (logged, kept in the summary)
    timeline: dict = field(default_factory=dict)  # epoch seconds at each phase's end (kept in the summary)
    inputs_from: dict = field(default_factory=dict)  # side -> where its bytes came from (download, local copy)
    # the worker process's CPU seconds at each phase's end (every thread: the engine's, and the work of other
    # attempts the process runs at the same time); kept in the summary as processCpu
    cpu: dict = field(default_factory=dict)
    hooks_fired: set = field(default_factory=set)  # test fault hooks that act once per attempt
    input_columns: dict = field(default_factory=dict)  # side -> the input file's [{name, type}] (None: unknown)
    earlier_failures: int = 0   # earlier attempts that count against maxRetries (not those timed out in the queue)
    # with a data-source snapshot among the inputs, the share of the step's progress its inputs take (the engine
    # has the rest), and how far each side's input is (0..1)
    inputs_share: int = 0
    inputs_done: dict = field(default_factory=dict)

    def input_progress(self, side: str, fraction: float) -> None:
        self.inputs_done[side] = fraction
        if self.inputs_share:
            done = sum(self.inputs_done.get(s, 0.0) for s in ("SOURCE", "TARGET")) / 2
            self.progress = max(self.progress, min(self.inputs_share, int(self.inputs_share * done)))

    def engine_progress(self, pct: int) -> None:
        self.progress = max(self.progress, min(99, self.inputs_share + int(pct * (100 - self.inputs_share) / 100)))

    def mark(self, phase: str) -> None:
        self.timeline[phase] = round(time.time(), 3)
        self.cpu[phase] = round(time.process_time(), 3)


# --------------------------------------------------------------------------------------- entry points


def handle_message(body: dict) -> None:
    kind = body.get("kind")
    if kind == "STEP":
        handle_step(body)
    elif kind == "FINISH":
        finish_run(int(body["runId"]), load_requested=body.get("loadRequested") or False)
    elif kind == "EXCEPTIONS":
        load_step_exceptions(int(body["stepRunId"]))
    elif kind == "SETTLE":
        settle_canceled_run(int(body["runId"]))
    else:
        logger.warning("unknown stream step message", extra={"kind": kind})


def handle_step(body: dict) -> None:
    run_id, step_order = int(body["runId"]), int(body["stepOrder"])
    attempt_no = int(body.get("retryCount") or 0) + 1
    token = body["taskToken"]
    # a database restart or failover is waited out (each transaction's checkout), not a failed attempt
    with policy_scope(STREAM_STEP):
        claimed = _claim(run_id, step_order, attempt_no, token)
        if claimed is None:
            return
        _work(claimed)


# -------------------------------------------------------------------------------------------- claim


def _claim(run_id: int, step_order: int, attempt_no: int, token: str) -> Attempt | None:
    """Claim the attempt's row; None (and nothing changed) for a duplicate, late or finished one."""
    with tx() as c:
        kind, payload = _claim_in(c, run_id, step_order, attempt_no)
    if kind == "resend":
        # a final success may not have reached Step Functions (the handler failed after its commit):
        # answer it again. Harmless otherwise: that step's token is spent and the answer is refused.
        _send_success(Attempt(run_id, step_order, attempt_no, token, {}, {}), payload)
        return None
    if kind == "no-attempt-left":
        _send_failure(token, state_machine.STEP_FAILED, payload, run_id)
        return None
    if kind == "claimed":
        run, step, step_run_id, reconciliation_id, failures, superseded = payload
        for earlier in superseded:   # an attempt whose answer was lost keeps no outputs: this one makes them
            _discard_outputs(Attempt(run_id, step_order, 0, "", {}, {}, step_run_id=earlier))
        _observe_step_start(run, step_order)
        return Attempt(run_id, step_order, attempt_no, token, step, run, step_run_id, reconciliation_id,
                       earlier_failures=failures)
    return None


def _claim_in(c, run_id: int, step_order: int, attempt_no: int) -> tuple[str, Any]:
    run = runtime.get_run(c, run_id, lock=True)
    extra = {"run_id": run_id, "step_order": step_order, "attempt_no": attempt_no}
    if run is None:
        logger.warning("step message for an unknown run", extra=extra)
        return "ignore", None
    if run["status"] not in runtime.ACTIVE_RUN:
        logger.info("step message for a finished run: ignored", extra={**extra, "status": run["status"]})
        return "ignore", None
    step = next((s for s in run["definition"] if s["stepOrder"] == step_order), None)
    if step is None:
        logger.error("step message for a step the run does not have", extra=extra)
        return "ignore", None
    current = runtime.attempt(c, run_id, step_order, attempt_no, lock=True)
    if current is not None and current["status"] != "PENDING":
        logger.info("duplicate step message: attempt already %s" % current["status"], extra=extra)
        if current["status"] in ("COMPLETED", "SKIPPED"):
            return "resend", {"stepOrder": step_order, "status": current["status"]}
        return "ignore", None
    latest = runtime.latest_attempt(c, run_id, step_order)
    if latest is not None and latest["attempt_no"] > attempt_no:
        logger.info("late step message: a later attempt exists", extra=extra)
        return "ignore", None
    superseded: list[int] = []
    done = _completed_earlier(c, run_id, step_order, attempt_no, superseded)
    if done is not None:
        return "resend", {"stepOrder": step_order, "status": "COMPLETED"}
    failures, losses = _earlier_failures(c, run_id, step_order, attempt_no)
    runtime.fail_stale_attempts(c, run_id, step_order, attempt_no,
                                "the worker stopped answering (heartbeat timed out)")
    max_attempts = int(step.get("maxRetries", 0)) + 1
    if failures + 1 > max_attempts:
        runtime.mark_running(c, run_id, step_order)
        return "no-attempt-left", f"step {step_order} failed after {max_attempts} attempt(s)"
    if losses >= MAX_WORKER_LOSSES:
        # a step that takes its worker down every time (out of memory, a Lambda timeout) is not retried for ever;
        # its last attempt says why, as the step's error
        message = (f"step {step_order} failed: its worker stopped answering {losses} times "
                   "(killed, out of memory or past its time limit)")
        if latest is not None:
            runtime.update_step_run(c, latest["step_run_id"], error_message=message)
        runtime.mark_running(c, run_id, step_order)
        return "no-attempt-left", message
    if current is None:
        rec = runtime.reconciliation_of(c, run_id, step_order)
        row = runtime.insert_attempt(c, run_id, step_order, attempt_no, step.get("stepId"), rec,
                                     step.get("ruleSetId"))
        if row is None:
            return "ignore", None
        step_run_id = row["step_run_id"]
    else:
        step_run_id = current["step_run_id"]
    runtime.update_step_run(c, step_run_id, status="IN_PROGRESS", started_at=_now(c), progress=0,
                            worker_id=WORKER_ID, heartbeat_at=_now(c), error_message=None, completed_at=None)
    runtime.mark_running(c, run_id, step_order)
    return "claimed", (run, step, step_run_id, runtime.reconciliation_of(c, run_id, step_order), failures, superseded)


#: Step Functions' heartbeat timeout of a step's task (StreamStepHeartbeatSeconds in infra/resources.yml)
TASK_HEARTBEAT_TIMEOUT_SECONDS = float(os.environ.get("STREAM_STEP_HEARTBEAT_TIMEOUT_SECONDS", "30"))
QUEUED_TOO_LONG = ("its task timed out while its message waited for a worker (steps queued longer than the"
                   " task's heartbeat timeout); not counted as an attempt of the step")


#: an earlier step's attempt whose worker died after its completion committed and before it answered
ANSWER_LOST = ("its worker stopped after the step completed and before it answered, so the outputs that were "
               "to follow the answer never came: the next attempt runs the step again")


def _completed_earlier(c, run_id: int, step_order: int, attempt_no: int, superseded: list[int]) -> dict | None:
    """An earlier attempt of this step that COMPLETED: its worker died between the completion's commit and its
    answer to Step Functions, whose heartbeat timeout then sent this attempt. When everything it reports is in
    place (the last step loads its exceptions in that commit), the step is done: this attempt answers for it
    (running it again would load its exceptions a second time). An earlier step answers before its deferred
    work (MATCHED, the unconsumed sides, its exceptions), which therefore never began: that attempt is FAILED,
    without counting against maxRetries, and this one runs the step again (the next step has not started: it
    waits for the answer). The row is locked: a load in progress is waited for."""
    rows = fetch_all(c, "SELECT step_run_id, summary FROM recon.stream_step_runs WHERE run_id = %s"
                        " AND step_order = %s AND attempt_no < %s AND status = 'COMPLETED'"
                        " ORDER BY attempt_no DESC FOR UPDATE", (run_id, step_order, attempt_no))
    for row in rows:
        summary = row["summary"] or {}
        if summary.get("exceptionsLoaded", True):
            logger.warning("step message for a step already completed: answered for it", extra={
                "run_id": run_id, "step_order": step_order, "attempt_no": attempt_no})
            return row
        runtime.update_step_run(c, row["step_run_id"], status="FAILED", error_message=ANSWER_LOST, exception_count=0,
                                summary={**summary, "exceptionsLoaded": True, "answerLost": True})
        superseded.append(row["step_run_id"])
    return None


#: attempts of one step whose worker died (the heartbeat timed out) before the step fails; they are not the
#: step's failures, and do not use up its maxRetries (a worker killed mid-step, maxRetries 0: the next one finishes)
MAX_WORKER_LOSSES = int(os.environ.get("STREAM_MAX_WORKER_LOSSES", "3"))


def _earlier_failures(c, run_id: int, step_order: int, attempt_no: int) -> tuple[int, int]:
    """(failures, losses): the attempts before this one that count against the step's retries, and those whose
    worker died (still IN_PROGRESS past a heartbeat timeout, or closed so earlier: `summary.workerLost`), which
    do not: a crash is not the step failing, and the next worker finishes it. The clock of a task's heartbeat
    timeout starts when its message is sent, not when a worker takes it: with more steps queued than
    workers (many runs at once at month end) a task times out in the queue and Step Functions sends the
    next attempt. An earlier attempt no worker took (PENDING), or that a worker took less than a heartbeat
    timeout ago (its worker heartbeats every few seconds: only the queue can have timed it out), is such a
    timeout: it is closed as one and does not use up a retry. Attempts CANCELED by their worker (their task
    was gone at its first heartbeat) do not count either."""
    now = _now(c)
    failures = losses = 0
    for e in fetch_all(c, "SELECT step_run_id, status, started_at, summary FROM recon.stream_step_runs"
                          " WHERE run_id = %s AND step_order = %s AND attempt_no < %s FOR UPDATE",
                       (run_id, step_order, attempt_no)):
        queued = e["status"] == "PENDING" or (
            e["status"] == "IN_PROGRESS" and e["started_at"] is not None
            and (now - e["started_at"]).total_seconds() < TASK_HEARTBEAT_TIMEOUT_SECONDS)
        if queued:
            runtime.update_step_run(c, e["step_run_id"], status="FAILED", error_message=QUEUED_TOO_LONG,
                                    completed_at=now, summary={**(e["summary"] or {}), "queueTimeout": True})
        elif e["status"] == "IN_PROGRESS" or (e["summary"] or {}).get("workerLost"):
            if e["status"] == "IN_PROGRESS":   # closed by fail_stale_attempts below
                runtime.update_step_run(c, e["step_run_id"], summary={**(e["summary"] or {}), "workerLost": True})
            losses += 1
        elif e["status"] in ("FAILED", "RETRY_WAIT") and not (
                (e["summary"] or {}).get("queueTimeout") or (e["summary"] or {}).get("answerLost")):
            failures += 1
    return failures, losses


def _now(c) -> Any:
    return c.execute("SELECT clock_timestamp() AS now").fetchone()["now"]


def _observe_step_start(run: dict, step_order: int) -> None:
    try:
        from chalicelib.streams import metrics

        metrics.step_started(run["stream_id"], step_order)
    except Exception:  # metrics never break a step
        pass


# --------------------------------------------------------------------------------------------- work


def _work(a: Attempt) -> None:
    log_extra = {"run_id": a.run_id, "step_order": a.step_order, "attempt_no": a.attempt_no}
    stop_watch = threading.Event()
    watcher = threading.Thread(target=_watch, args=(a, stop_watch), name=f"step-{a.run_id}-{a.step_order}",
                               daemon=True)
    watcher.start()
    workdir = Path(tempfile.mkdtemp(prefix=f"recon-run{a.run_id}-step{a.step_order}-"))
    started = time.monotonic()
    a.mark("claimed")
    try:
        try:
            result = _match(a, workdir)
        except WorkerVanished:
            logger.warning("fault hook: the worker goes silent mid-step", extra=log_extra)
            return
        except AttemptCanceled:
            logger.info("step canceled", extra=log_extra)
            _finish_canceled(a)
            return
        except StepInputMissing as exc:
            _finish_skipped(a, str(exc))
            _send_success(a, {"stepOrder": a.step_order, "status": "SKIPPED"})
            return
        except StepInputInvalid as exc:
            logger.warning("step input unusable", extra={**log_extra, "error": str(exc)})
            _finish_failed(a, _error_text(exc), retry=False)
            return
        except Exception as exc:
            if a.cancel.is_set():
                _finish_canceled(a)
                return
            logger.warning("step attempt failed", extra={**log_extra, "error": f"{type(exc).__name__}: {exc}"})
            _finish_failed(a, _error_text(exc))
            return
        if a.cancel.is_set():
            _finish_canceled(a)
            return
        # a connection lost inside one of the completion's transactions (a database restart) is not
        # the step's failure: the completion runs again once the database is back (what it did
        # before is found, not done twice: artifacts by type, the loading transaction was rolled back)
        completed = False
        try:
            completed = retry_call(_finish_completed, a, result, time.monotonic() - started,
                                   what="stream step completion")
        except Exception as exc:
            if is_transient(exc) or isinstance(exc, ServiceUnavailable):
                raise   # the database or storage is away for longer than retry_call waits: as before, redelivered
            # the outputs could not be registered: the attempt fails now with the reason, instead of its
            # heartbeat timing out without one
            logger.exception("step completion failed", extra=log_extra)
            _finish_failed(a, f"its outputs could not be registered: {_error_text(exc)}")
        finally:
            if not completed:   # canceled meanwhile, or failed: what it registered is not its output
                _discard_outputs(a)
    finally:
        stop_watch.set()
        watcher.join(timeout=5)
        shutil.rmtree(workdir, ignore_errors=True)


def _error_text(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:1000]


def _watch(a: Attempt, stop: threading.Event) -> None:
    """Heartbeats to the task token, cancel polling of the run, progress to the control plane."""
    last_beat = 0.0
    last_progress = -1
    while not stop.wait(CANCEL_POLL_SECONDS):
        try:
            # no waiting for the database here: the heartbeats below must go on while it is away
            with transaction() as c:
                status = runtime.run_status(c, a.run_id)
                mine = runtime.attempt(c, a.run_id, a.step_order, a.attempt_no)
                if status != "RUNNING" or mine is None or mine["status"] != "IN_PROGRESS":
                    a.cancel.set()
                elif a.progress != last_progress:
                    runtime.set_progress(c, a.step_run_id, a.progress)
                    last_progress = a.progress
        except Exception:
            logger.exception("progress/cancel poll failed", extra={"run_id": a.run_id})
        if time.monotonic() - last_beat >= HEARTBEAT_SECONDS and not a.cancel.is_set():
            try:
                state_machine.heartbeat(a.token)
            except state_machine.ExecutionGone:
                logger.info("heartbeat: the task is gone (timed out or stopped)", extra={"run_id": a.run_id})
                a.gone.set()
                a.cancel.set()
            except Exception:
                logger.exception("heartbeat failed", extra={"run_id": a.run_id})
            last_beat = time.monotonic()


def _hooks_enabled() -> bool:
    flag = os.environ.get("RECON_STREAM_FAULT_HOOKS")
    if flag is not None:
        return flag not in ("0", "false", "")
    return bool(os.environ.get("AWS_ENDPOINT_URL"))


def _hook_seconds(a: Attempt, tag: str) -> float | None:
    """N of a `[tag=N]` fault hook in the step's name (hooks enabled), else None."""
    if not _hooks_enabled():
        return None
    m = re.search(rf"\[{re.escape(tag)}=(\d+(?:\.\d+)?)\]", a.step.get("name") or "")
    return float(m.group(1)) if m else None


def _fault_hooks(a: Attempt) -> None:
    if not _hooks_enabled():
        return
    name = a.step.get("name") or ""
    if "[vanish-once]" in name and a.attempt_no == 1:
        a.progress = 10
        time.sleep(CANCEL_POLL_SECONDS * 1.5)   # long enough for the progress to be recorded
        raise WorkerVanished()
    if "[fail-always]" in name or ("[fail-once]" in name and a.attempt_no == 1):
        raise RuntimeError(f"injected fault: step {a.step_order} attempt {a.attempt_no} fails")
    hold = _hook_seconds(a, "hold")
    if hold is not None:
        t0 = time.monotonic()
        while time.monotonic() - t0 < hold:
            if a.cancel.wait(0.2):
                raise AttemptCanceled()
            a.progress = min(40, int(40 * (time.monotonic() - t0) / hold))


def _match(a: Attempt, workdir: Path):
    from chalicelib.matching import MatchCanceled, run_match

    _fault_hooks(a)
    # a connection lost while the inputs are prepared (a database restart, inside a snapshot's COPY
    # or any of the small transactions) is waited out and the preparation done again: each part of it
    # is idempotent (downloads overwrite, a snapshot already registered is reused, not taken twice)
    rule_set, source, target = retry_call(_prepare, a, workdir, what="stream step inputs")
    if a.cancel.is_set():
        raise AttemptCanceled()
    out = workdir / "out"
    out.mkdir()

    limits = _engine_limits(workdir)
    t0 = time.monotonic()
    try:
        return run_match(str(source["path"]), str(target["path"]), rule_set, str(out), limits=limits,
                         progress=a.engine_progress, should_cancel=a.cancel.is_set)
    except MatchCanceled:
        raise AttemptCanceled() from None
    finally:
        a.timings["engine"] = round(time.monotonic() - t0, 3)
        a.mark("engine")


def _engine_limits(workdir: Path):
    """The engine's memory limit, threads and spill directory for a step (STREAM_ENGINE_MEMORY / _THREADS)."""
    from chalicelib.matching import EngineLimits

    return EngineLimits(memory_limit=os.environ.get("STREAM_ENGINE_MEMORY", "1GB"),
                        threads=int(os.environ.get("STREAM_ENGINE_THREADS", "2")), temp_dir=str(workdir / "spill"))


def _outputs_of(result) -> list[tuple[str, Path, int]]:
    """(artifact type, local path, rows) of the engine's three outputs."""
    return [("MATCHED", Path(result.matched_path), result.matched_rows),
            ("UNMATCHED_SOURCE", Path(result.unmatched_source_path), result.unmatched_source_rows),
            ("UNMATCHED_TARGET", Path(result.unmatched_target_path), result.unmatched_target_rows)]


def _prepare(a: Attempt, workdir: Path) -> tuple[Any, dict, dict]:
    """The rule set and both inputs as local files (recorded on the step run)."""
    from concurrent.futures import ThreadPoolExecutor

    from chalicelib.streams import rule_sets

    # the version pinned when the run was created (runs created before versions were pinned: the latest)
    rule_set, version = rule_sets.load(a.step["ruleSetId"], a.step.get("ruleSetVersion"))
    with tx() as c:
        runtime.update_step_run(c, a.step_run_id, rule_set_version=version)
    t0 = time.monotonic()

    def resolve(side: str, spec: dict) -> dict:
        got = _resolve(a, side, spec, workdir)
        a.input_progress(side, 1.0)
        a.timings[f"{side.lower()}Input"] = round(time.monotonic() - t0, 3)
        a.inputs_from[side] = got.get("from", spec["type"])
        a.input_columns[side] = got.get("columns")
        return got

    # a snapshot can take as long as the matching: its progress shows in the step's (SNAPSHOT_SHARE of it)
    if "DATA_SOURCE_SNAPSHOT" in (a.step["sourceInput"]["type"], a.step["targetInput"]["type"]):
        a.inputs_share = SNAPSHOT_SHARE
    # both inputs at once (downloads and snapshots overlap)
    with ThreadPoolExecutor(max_workers=2) as pool:
        fs = pool.submit(resolve, "SOURCE", a.step["sourceInput"])
        ft = pool.submit(resolve, "TARGET", a.step["targetInput"])
        source, target = fs.result(), ft.result()
    a.timings["inputs"] = round(time.monotonic() - t0, 3)
    a.mark("inputs")
    with tx() as c:
        runtime.update_step_run(c, a.step_run_id, source_file_id=source["file_id"], target_file_id=target["file_id"])
    return rule_set, source, target


def _resolve(a: Attempt, side: str, spec: dict, workdir: Path) -> dict:
    """The input as a local file: {"path", "file_id"} (a snapshot is registered as a file and artifact)."""
    from chalicelib.streams import files

    kind, ref = spec["type"], int(spec["id"])
    path = workdir / side.lower()
    if kind == "FILE":
        row = files.get_file(ref)
        waited = row is not None and row["status"] == "PROCESSING"
        if waited:
            row = _wait_processed(a, side, ref, row)
        if row is None:
            raise RuntimeError(f"{side.lower()} input: file {ref} not found")
        if row["status"] == "INVALID":
            raise StepInputInvalid(f"{side.lower()} input: file {ref} is INVALID: {row['error_message']}")
        if row["status"] != "READY":
            # the status the files API shows (an unfinished upload session reads PROCESSING there)
            shown = "PROCESSING (its upload is not complete)" if row["status"] == "UPLOADING" else row["status"]
            if waited and row["status"] == "PROCESSING":
                shown = f"still PROCESSING after {INPUT_WAIT_SECONDS:g} s"
            raise RuntimeError(f"{side.lower()} input: file {ref} is {shown}")
        path = path.with_suffix(_suffix(row))
        _download(side, row, path)
        return {"path": path, "file_id": ref, "from": "download", "columns": row.get("columns")}
    if kind in ("STEP_OUTPUT_UNMATCHED_SOURCE", "STEP_OUTPUT_UNMATCHED_TARGET"):
        artifact_type = kind.removeprefix("STEP_OUTPUT_")
        with tx() as c:
            row = runtime.step_output_file(c, a.run_id, ref, artifact_type)
        if row is None:
            raise StepInputMissing(f"step {ref} did not complete: its {artifact_type.lower().replace('_', ' ')}"
                                   f" output does not exist")
        path = path.with_suffix(".csv")
        if _from_output_cache(row, path):
            return {"path": path, "file_id": row["file_id"], "from": "local copy", "columns": row.get("columns")}
        _download(side, row, path)
        return {"path": path, "file_id": row["file_id"], "from": "download", "columns": row.get("columns")}
    if kind == "DATA_SOURCE_SNAPSHOT":
        return _snapshot(a, side, ref, workdir)
    raise RuntimeError(f"unknown input type {kind}")


def _wait_processed(a: Attempt | None, side: str, ref: int, row: dict) -> dict | None:
    """A file input whose upload is complete but still PROCESSING (a worker is reading it; the files
    sweeper wakes another if that one died): the step waits for READY or INVALID, up to
    STREAM_INPUT_WAIT_SECONDS, instead of failing a run started right after an upload. Heartbeats go
    on meanwhile (the watcher thread) and a cancel ends the wait. Returns the last row read."""
    from chalicelib.streams import files

    cancel = a.cancel if a is not None else threading.Event()
    t0 = time.monotonic()
    logger.info("step input: waiting for a file still PROCESSING", extra={"side": side, "file_id": ref})
    while row is not None and row["status"] == "PROCESSING" and time.monotonic() - t0 < INPUT_WAIT_SECONDS:
        if cancel.wait(INPUT_POLL_SECONDS):
            raise AttemptCanceled()
        row = files.get_file(ref)
    return row


# A step's outputs that a later step of the run reads, kept on this worker's disk after their upload:
# when the later step lands on the same worker (process / warm Lambda container: /tmp is reused), it
# links the copy instead of downloading the object again. Content-addressed: an entry is named by the
# object's key and the sha256 registered for it, and its bytes are hashed again before use (a mismatch
# is dropped and the object downloaded). Bounded: a few entries and STREAM_OUTPUT_CACHE_MB (default
# 1024) at most, oldest dropped first.
_OUTPUT_CACHE = Path(tempfile.gettempdir()) / f"recon-step-outputs-{os.getpid()}"
_OUTPUT_CACHE_ENTRIES = 4


def _cache_path(key: str, sha256: str) -> Path:
    import hashlib

    return _OUTPUT_CACHE / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}-{sha256}"


def _drop_dead_caches() -> None:
    """Copies kept by worker processes that are gone (a local runner restarted) are never read again."""
    for d in _OUTPUT_CACHE.parent.glob("recon-step-outputs-*"):
        pid = d.name.rsplit("-", 1)[-1]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(d, ignore_errors=True)
        except (PermissionError, OverflowError, OSError):
            pass


def _to_output_cache(key: str, sha256: str, path: Path) -> None:
    try:
        if not _OUTPUT_CACHE.exists():
            _drop_dead_caches()
        _OUTPUT_CACHE.mkdir(parents=True, exist_ok=True)
        target = _cache_path(key, sha256)
        tmp = target.with_name(f"{target.name}.{threading.get_ident()}.tmp")
        try:
            os.link(path, tmp)
        except OSError:
            shutil.copyfile(path, tmp)
        os.replace(tmp, target)
        budget = int(os.environ.get("STREAM_OUTPUT_CACHE_MB", "1024")) << 20
        entries = sorted(((p, p.stat()) for p in _OUTPUT_CACHE.iterdir() if not p.name.endswith(".tmp")),
                         key=lambda e: e[1].st_mtime, reverse=True)
        kept = used = 0
        for p, st in entries:   # newest first
            if kept < _OUTPUT_CACHE_ENTRIES and used + st.st_size <= budget:
                kept, used = kept + 1, used + st.st_size
            else:
                p.unlink(missing_ok=True)
    except OSError:
        logger.warning("could not keep a step output on local disk", exc_info=True)


def _from_output_cache(row: dict, path: Path) -> bool:
    """Link the local copy of an artifact to `path` if there is one with the registered sha256."""
    if not row.get("sha256"):
        return False
    cached = _cache_path(row["s3_key"], row["sha256"])
    try:
        if row.get("size_bytes") is None or cached.stat().st_size != int(row["size_bytes"]):
            return False
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(cached, path)
        except OSError:
            shutil.copyfile(cached, path)
    except OSError:
        return False
    from chalicelib.streams import storage

    if storage.sha256_of(path) != row["sha256"]:
        logger.warning("local copy of a step output does not match its checksum: downloaded instead",
                       extra={"s3_key": row["s3_key"]})
        path.unlink(missing_ok=True)
        cached.unlink(missing_ok=True)
        return False
    return True


def _download(side: str, row: dict, path: Path) -> None:
    """A file's bytes to `path`; a file whose object is gone becomes INVALID and fails the step."""
    from chalicelib.streams import files, storage

    try:
        storage.download_to(row["s3_key"], path)
    except Exception as exc:
        if not storage.is_missing(exc):
            raise
        files.mark_bytes_gone(row["file_id"])
        raise StepInputInvalid(f"{side.lower()} input: file {row['file_id']} is INVALID: {files.BYTES_GONE}"
                               ) from None


def _suffix(row: dict) -> str:
    return {"PARQUET": ".parquet", "JSONL": ".jsonl"}.get(row.get("format") or "CSV", ".csv")


def _snapshot(a: Attempt, side: str, data_source_id: int, workdir: Path) -> dict:
    from chalicelib.streams import data_sources, snapshots

    path = workdir / f"snapshot_{side.lower()}.csv"
    known = _registered_snapshot(a, side, path)
    if known is not None:
        return known
    source = data_sources.get(data_source_id)
    if source is None:
        raise RuntimeError(f"{side.lower()} input: data source {data_source_id} not found")
    held = _hook_seconds(a, "hold-snapshot")

    def should_cancel() -> bool:
        # test hook: the first try keeps the snapshot's transaction open N seconds after its first block
        if held is not None and f"hold-snapshot-{side}" not in a.hooks_fired:
            a.hooks_fired.add(f"hold-snapshot-{side}")
            logger.warning("fault hook: the snapshot's transaction is held open", extra={"run_id": a.run_id})
            time.sleep(held)
        return a.cancel.is_set()
    try:
        rows = snapshots.take(source, path, should_cancel=should_cancel, canceled=a.cancel.is_set,
                              progress=lambda fraction: a.input_progress(side, fraction))
    except InterruptedError:
        raise AttemptCanceled() from None
    filename = f"stream_{a.run_id}_step_{a.step_order}_snapshot_{side.lower()}.csv"
    columns = _detected_columns(path)
    row = _register(a, path, filename, "SNAPSHOT", rows, f"SNAPSHOT_{side}", columns=columns)
    return {"path": path, "file_id": row["file_id"], "columns": columns}


def _registered_snapshot(a: Attempt, side: str, path: Path) -> dict | None:
    """The snapshot an earlier try of this attempt's input preparation took and registered (the
    preparation is done again after a lost database connection): the same bytes, not a second snapshot."""
    from chalicelib.streams import files, storage

    with tx() as c:
        known = runtime.artifact_file_id(c, a.step_run_id, f"SNAPSHOT_{side}")
        row = None if known is None else files.get_file(known, conn=c)
    if row is None:
        return None
    if not (path.exists() and storage.sha256_of(path) == row["sha256"]):
        _download(side, row, path)
    return {"path": path, "file_id": row["file_id"], "columns": row.get("columns")}


def _detected_columns(path: Path) -> list[dict]:
    """A snapshot is an input like an uploaded file: its columns carry the types read from it the same
    way (platform §2), not VARCHAR throughout."""
    from chalicelib.matching import InputError, inspect_file
    from chalicelib.streams.files import _columns_json

    try:
        return _columns_json(inspect_file(str(path), format="CSV").columns)
    except InputError:
        return _header(path)


def _output_columns(a: Attempt, artifact_type: str) -> list[dict] | None:
    """An output's columns with their types: MATCHED's are fixed; an unmatched output has its
    input's (their types hold for any subset of its rows) and the explanation columns. None (the
    header, VARCHAR) when the input's columns are not known."""
    from chalicelib.matching import MATCHED_COLUMNS, unmatched_columns

    if artifact_type == "MATCHED":
        return [{"name": n, "type": t} for n, t in MATCHED_COLUMNS]
    columns = a.input_columns.get(artifact_type.removeprefix("UNMATCHED_"))
    if not columns:
        return None
    return [{"name": n, "type": t} for n, t in unmatched_columns([(c["name"], c.get("type") or "VARCHAR")
                                                                   for c in columns])]


def _typed_header(path: Path, columns: list[dict] | None) -> list[dict]:
    """The file's header with the given types when they name exactly its columns, else VARCHAR."""
    header = _header(path)
    if columns and [c["name"] for c in columns] == [c["name"] for c in header]:
        return columns
    return header


def _header(path: Path) -> list[dict]:
    import csv

    with open(path, newline="") as f:
        names = next(csv.reader(f), [])
    return [{"name": n, "type": "VARCHAR"} for n in names]


def _register(a: Attempt, path: Path, filename: str, origin: str, rows: int, artifact_type: str,
              keep: bool = False, columns: list[dict] | None = None) -> dict:
    """Upload a local output, register it as a READY file and as an artifact of this attempt (`keep`:
    a later step reads it, keep a local copy for it)."""
    from chalicelib.streams import files, storage

    with tx() as c:
        known = runtime.artifact_file_id(c, a.step_run_id, artifact_type)
        row = None if known is None else files.get_file(known, conn=c)
    if row is not None:         # registered by an earlier try of this completion: the same bytes
        if keep:
            _to_output_cache(row["s3_key"], row["sha256"], path)
        return row
    key = storage.artifact_key(a.run_id, a.step_order, a.attempt_no, filename)
    sha = storage.sha256_of(path)
    storage.put_path(key, path, content_type="text/csv")
    if keep:
        _to_output_cache(key, sha, path)
    with tx() as c:
        try:
            row = files.register_file(filename=filename, origin=origin, s3_key=key, size_bytes=path.stat().st_size,
                                      sha256=sha, row_count=rows, columns=_typed_header(path, columns), format="CSV",
                                      conn=c)
            registered = runtime.insert_artifact(c, a.step_run_id, artifact_type, row)
        except psycopg.errors.UniqueViolation:   # the same object key, registered meanwhile
            registered = False
        if not registered:
            # registered meanwhile by another try of this work (outputs made again while a slow worker uploads
            # the same bytes under the same key): that registration stands, nothing of this one is kept
            c.rollback()
            row = files.get_file(runtime.artifact_file_id(c, a.step_run_id, artifact_type), conn=c)
    return row


# ------------------------------------------------------------------------------------------ outcomes


def _consumers(definition: list[dict], step_order: int) -> dict[str, list[int]]:
    """Side -> the later steps of the run that take this step's unmatched output of that side."""
    out: dict[str, list[int]] = {}
    for st in definition:
        if st["stepOrder"] <= step_order:
            continue
        for spec in (st["sourceInput"], st["targetInput"]):
            if spec["type"].startswith("STEP_OUTPUT_") and int(spec["id"]) == step_order:
                out.setdefault(spec["type"].removeprefix("STEP_OUTPUT_UNMATCHED_"), []).append(st["stepOrder"])
    return out


def _consumed_sides(a: Attempt) -> set[str]:
    """The sides of this step whose unmatched output a later step of the run takes as input."""
    return set(_consumers(a.run["definition"], a.step_order))


def _answer_lost(a: Attempt) -> bool:
    """Test-only `[no-answer-once]`: the first attempt's worker stops right after its completion commits, before it
    answers (as if killed there): no answer, no deferred work; the heartbeat timeout sends the next attempt."""
    if _hooks_enabled() and "[no-answer-once]" in (a.step.get("name") or "") and a.attempt_no == 1:
        logger.warning("fault hook: the worker stops before answering its completed step", extra={
            "run_id": a.run_id, "step_order": a.step_order})
        return True
    return False


def _finish_completed(a: Attempt, result, seconds: float) -> bool:
    """A step that later steps follow: only the outputs they read (the consumed unmatched sides) are
    uploaded and registered before the attempt is COMPLETED and the task answered — the next step
    starts on another worker at once. Then this worker uploads the other outputs (MATCHED, the
    unconsumed sides) while it loads the exceptions, and marks the deferred work done in the loading
    transaction (`summary.exceptionsLoaded`). FINISH does not end the run before that; if this worker
    dies first, FINISH has the load done from the artifacts (load_step_exceptions), or fails the step
    when its deferred outputs never reached storage."""
    from concurrent.futures import ThreadPoolExecutor

    if a.cancel.is_set():
        _finish_canceled(a)
        return False
    if _hooks_enabled() and "[fail-completion]" in (a.step.get("name") or ""):
        raise ValueError(f"injected fault: step {a.step_order} attempt {a.attempt_no} cannot register its outputs")
    held = _hook_seconds(a, "hold-outputs")
    if held is not None:   # the engine is done and the cancel not yet seen: a cancel now meets the completion
        logger.warning("fault hook: the outputs wait", extra={"run_id": a.run_id, "step_order": a.step_order})
        time.sleep(held)
    outputs = _outputs_of(result)
    consumed = _consumed_sides(a)
    sides = [side for side in ("SOURCE", "TARGET") if side not in consumed]
    expected = sum(result.unmatched_source_rows if side == "SOURCE" else result.unmatched_target_rows
                   for side in sides)
    paths = {"SOURCE": Path(result.unmatched_source_path), "TARGET": Path(result.unmatched_target_path)}
    if a.step_order == max(st["stepOrder"] for st in a.run["definition"]):
        # the last step (nothing runs after it) loads its exceptions and uploads before it completes
        return _finish_completed_with_exceptions(a, result, seconds, outputs, {s_: paths[s_] for s_ in sides})
    now = [o for o in outputs if o[0] in {f"UNMATCHED_{side}" for side in consumed}]
    later = [o for o in outputs if o not in now]

    def register(o, keep=False):
        # the engine's counts of each output's rows (a row of MATCHED is a pair or a member of a group)
        return _register(a, o[1], f"stream_{a.run_id}_step_{a.step_order}_{o[0].lower()}.csv",
                         "ARTIFACT", o[2], o[0], keep=keep,
                         columns=_output_columns(a, o[0]))

    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=3) as pool:
        list(pool.map(lambda o: register(o, keep=True), now))
    a.timings["artifacts"] = round(time.monotonic() - t0, 3)
    a.mark("artifacts")
    summary = {**(result.summary or {}), "timings": a.timings, "timeline": a.timeline, "inputsFrom": a.inputs_from,
               "processCpu": a.cpu, "exceptionSides": sides, "deferredArtifacts": [o[0] for o in later], "exceptionsLoaded": False}
    with tx() as c:
        done = _mark_completed(c, a, result, expected, summary)
    if done is None:
        logger.info("attempt no longer in progress at completion", extra={"run_id": a.run_id})
        return False
    _observe_step_end(a, "COMPLETED", seconds, result.matched_source_rows)
    if _answer_lost(a):
        return True
    _send_success(a, {"stepOrder": a.step_order, "status": "COMPLETED", "matched": result.matched_source_rows,
                      "unmatchedSource": result.unmatched_source_rows,
                      "unmatchedTarget": result.unmatched_target_rows})
    if _hooks_enabled() and "[no-deferred-work]" in (a.step.get("name") or ""):
        logger.warning("fault hook: the worker stops before its deferred uploads", extra={"run_id": a.run_id})
        return True
    t0 = time.monotonic()
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            if expected and _hooks_enabled() and "[no-exception-load]" in (a.step.get("name") or ""):
                list(pool.map(register, later))
                logger.warning("fault hook: the worker stops before loading the exceptions", extra={"run_id": a.run_id})
                return True
            # the exceptions load at once; the uploads wait until the next step has its inputs (at most
            # NEXT_STEP_HEAD_START_SECONDS): its task transition and downloads need the S3 / Step Functions
            # endpoints more than this deferred work does (on LocalStack, uploads started at once delayed
            # the next step's start by up to 0.6 s). They must succeed before the load commits.
            held = _hook_seconds(a, "hold-deferred")
            if held is not None:
                logger.warning("fault hook: the deferred work waits", extra={"run_id": a.run_id})
                time.sleep(held)
            uploads = pool.submit(lambda: (_wait_for_next_step(a), list(pool.map(register, later))))
            # a database restart in the middle rolls the load back: it is done again once the database is back
            # (left to FINISH's minute of grace, the run waited a minute for it)
            hold = [_hook_seconds(a, "hold-deferred-load")]   # test hook: the first try only

            def load():
                return _load_exceptions(a.step_run_id, {side: paths[side] for side in sides},
                                        before_commit=uploads.result, timeline=a.timeline, spare=paths,
                                        hold=hold.pop() if hold else None)
            retry_call(load, what="deferred exception load")
    except Exception:
        # the task is answered: FINISH waits for this work and takes it over (load_step_exceptions)
        logger.exception("deferred uploads / exception load failed", extra={"run_id": a.run_id,
                                                                             "step_order": a.step_order})
        return True
    a.timings["deferred"] = round(time.monotonic() - t0, 3)
    logger.info("step completed", extra={"run_id": a.run_id, "step_order": a.step_order,
                                         "attempt_no": a.attempt_no, "timings": a.timings})
    _finish_if_all_done(a.run_id)
    return True


def _finish_completed_with_exceptions(a: Attempt, result, seconds: float, outputs: list, paths: dict) -> bool:
    """Artifacts uploaded while the exceptions load; the attempt COMPLETED in the loading transaction."""
    from concurrent.futures import ThreadPoolExecutor

    from chalicelib.streams import artifacts

    t0 = time.monotonic()

    def register(o):
        _register(a, o[1], f"stream_{a.run_id}_step_{a.step_order}_{o[0].lower()}.csv", "ARTIFACT",
                  o[2], o[0], columns=_output_columns(a, o[0]))
        return time.monotonic() - t0

    with ThreadPoolExecutor(max_workers=3) as pool, tx() as c:
        uploads = [pool.submit(register, o) for o in outputs]
        # the step run's row lock: loads of one step run never overlap (artifacts.load_exceptions); NO KEY
        # UPDATE, not UPDATE: the uploads' artifact rows (foreign key to it) must not wait for this transaction
        c.execute("SELECT step_run_id FROM recon.stream_step_runs WHERE step_run_id = %s FOR NO KEY UPDATE",
                  (a.step_run_id,))
        held = _hook_seconds(a, "hold-completion")
        if held is not None:
            logger.warning("fault hook: the completion transaction is held open", extra={"run_id": a.run_id})
            time.sleep(held)
        exceptions = 0
        for side, path in paths.items():
            exceptions += artifacts.load_exceptions(
                c, path, side=side, stream_id=a.run["stream_id"], run_id=a.run_id, step_run_id=a.step_run_id,
                reconciliation_id=a.reconciliation_id, step_order=a.step_order)
        a.timings["exceptions"] = round(time.monotonic() - t0, 3)
        a.mark("exceptions")
        a.timings["artifacts"] = round(max(f.result() for f in uploads), 3)   # raises if an upload failed
        a.mark("uploads")
        summary = {**(result.summary or {}), "timings": a.timings, "timeline": a.timeline, "inputsFrom": a.inputs_from,
                   "processCpu": a.cpu, "exceptionSides": list(paths), "exceptionsLoaded": True}
        done = _mark_completed(c, a, result, exceptions, summary)
        if done is None:
            c.rollback()
    if done is None:
        logger.info("attempt no longer in progress at completion", extra={"run_id": a.run_id})
        return False
    logger.info("step completed", extra={"run_id": a.run_id, "step_order": a.step_order,
                                         "attempt_no": a.attempt_no, "timings": a.timings})
    _observe_step_end(a, "COMPLETED", seconds, result.matched_source_rows)
    if _answer_lost(a):
        return True
    _send_success(a, {"stepOrder": a.step_order, "status": "COMPLETED", "matched": result.matched_source_rows,
                      "unmatchedSource": result.unmatched_source_rows,
                      "unmatchedTarget": result.unmatched_target_rows})
    _finish_if_all_done(a.run_id)
    return True


def _mark_completed(c, a: Attempt, result, exception_count: int, summary: dict):
    """The attempt COMPLETED with the engine's counts, if it is still IN_PROGRESS (else None)."""
    return c.execute(
        "UPDATE recon.stream_step_runs SET status = 'COMPLETED', progress = 100, completed_at = clock_timestamp(),"
        " source_rows = %s, target_rows = %s, matched_source_rows = %s, matched_target_rows = %s,"
        " unmatched_source_rows = %s, unmatched_target_rows = %s, exception_count = %s, summary = %s,"
        " updated_at = now() WHERE step_run_id = %s AND status = 'IN_PROGRESS' RETURNING step_run_id",
        (result.source_rows, result.target_rows, result.matched_source_rows, result.matched_target_rows,
         result.unmatched_source_rows, result.unmatched_target_rows, exception_count,
         Jsonb(_jsonable(summary)), a.step_run_id)).fetchone()


NEXT_STEP_HEAD_START_SECONDS = 1.0


def _wait_for_next_step(a: Attempt) -> None:
    """Until the next step's latest attempt has recorded its inputs (or is over), at most
    NEXT_STEP_HEAD_START_SECONDS."""
    deadline = time.monotonic() + NEXT_STEP_HEAD_START_SECONDS
    while time.monotonic() < deadline:
        try:
            with tx() as c:
                row = runtime.latest_attempt(c, a.run_id, a.step_order + 1)
        except Exception:
            return
        if row is None or row["status"] not in ("PENDING", "IN_PROGRESS") or (
                row["source_file_id"] is not None and row["target_file_id"] is not None):
            return
        time.sleep(0.05)


def _finish_if_all_done(run_id: int) -> None:
    """The worker whose work was the last one outstanding ends the run at once instead of leaving it to
    FINISH (which comes after the state machine's last transitions, or re-sends itself every second while
    an earlier step's deferred work is pending): when every step's latest attempt is COMPLETED or SKIPPED,
    nothing but FINISH is left in the execution, and finish_run (idempotent, under the run's lock, refusing
    while a load is pending) gives the same answer now as then."""
    try:
        with tx() as c:
            run = runtime.get_run(c, run_id)
            steps = runtime.step_runs(c, run_id)
        if (run is None or run["status"] != "RUNNING" or len(steps) != len(run["definition"])
                or any(s["status"] not in ("COMPLETED", "SKIPPED") for s in steps)):
            return
        finish_run(run_id, resend=False)
    except Exception:   # FINISH does it anyway
        logger.exception("finishing the run from its last worker failed", extra={"run_id": run_id})


def _load_exceptions(step_run_id: int, paths: dict[str, Path], before_commit=None, timeline: dict | None = None,
                     spare: dict[str, Path] | None = None, hold: float | None = None) -> bool:
    """Load a completed attempt's exceptions from local unmatched outputs, once (the step run's row is
    locked; `summary.exceptionsLoaded` says it is done). False when it was already done. `before_commit`
    (the deferred uploads) must succeed for the load and its flag to commit. The sides loaded are the
    summary's `exceptionSides` (the run's end may have added a side whose consumers did not complete:
    taken from `spare`); the flag is set only when every one of them had a file here."""
    from chalicelib.streams import artifacts

    with tx() as c:
        # NO KEY UPDATE: the deferred uploads' artifact rows (foreign key to this row) do not wait for it
        row = c.execute("SELECT s.step_run_id, s.run_id, s.step_order, s.reconciliation_id, s.summary, r.stream_id"
                        " FROM recon.stream_step_runs s JOIN recon.stream_runs r USING (run_id)"
                        " WHERE s.step_run_id = %s AND s.status = 'COMPLETED' FOR NO KEY UPDATE OF s",
                        (step_run_id,)).fetchone()
        if row is None or (row["summary"] or {}).get("exceptionsLoaded", True):
            return False
        if hold is not None:   # test hook [hold-deferred-load=N]
            logger.warning("fault hook: the deferred load's transaction is held open", extra={"step_run_id": step_run_id})
            time.sleep(hold)
        wanted = (row["summary"] or {}).get("exceptionSides") or list(paths)
        have = {**(spare or {}), **paths}
        n = 0
        for side in wanted:
            if side in have:
                n += artifacts.load_exceptions(c, have[side], side=side, stream_id=row["stream_id"],
                                               run_id=row["run_id"], step_run_id=step_run_id,
                                               reconciliation_id=row["reconciliation_id"], step_order=row["step_order"])
        done = {"exceptionsLoaded": all(side in have for side in wanted)}
        if timeline is not None:
            timeline["exceptions"] = round(time.time(), 3)
        if before_commit is not None:
            before_commit()
        if timeline is not None:
            timeline["uploads"] = round(time.time(), 3)
            done["timeline"] = timeline
        c.execute("UPDATE recon.stream_step_runs SET summary = summary || %s, exception_count = %s, updated_at = now()"
                  " WHERE step_run_id = %s", (Jsonb(done), n, step_run_id))
    return True


def load_step_exceptions(step_run_id: int) -> bool:
    """The fallback loader (an EXCEPTIONS message): the unmatched artifacts from S3, then _load_exceptions."""
    from chalicelib.streams import storage
    from chalicelib.streams.defs_db import fetch_all, fetch_one

    with tx() as c:
        row = fetch_one(c, "SELECT summary FROM recon.stream_step_runs WHERE step_run_id = %s AND status = 'COMPLETED'",
                        (step_run_id,))
        if row is None or (row["summary"] or {}).get("exceptionsLoaded", True):
            return False
        sides = row["summary"].get("exceptionSides") or []
        files = {a["artifact_type"]: a for a in fetch_all(
            c, "SELECT a.artifact_type, f.s3_key FROM recon.stream_artifacts a JOIN recon.files f USING (file_id)"
               " WHERE a.step_run_id = %s", (step_run_id,))}
    missing = [t for t in (row["summary"].get("deferredArtifacts") or []) if t not in files]
    workdir = Path(tempfile.mkdtemp(prefix=f"recon-exceptions-{step_run_id}-"))
    try:
        if missing:
            # its worker died (or is too slow) before these outputs reached storage: they are made again
            regenerated = _regenerate(step_run_id, missing, workdir)
            if regenerated is None:
                # the step cannot count as COMPLETED
                with tx() as c:
                    c.execute("UPDATE recon.stream_step_runs SET status = 'FAILED', error_message = %s,"
                              " exception_count = 0, summary = summary || %s, updated_at = now()"
                              " WHERE step_run_id = %s AND status = 'COMPLETED'",
                              (f"the worker stopped before keeping its outputs ({', '.join(missing)})",
                               Jsonb({"exceptionsLoaded": True}), step_run_id))
                return False
            return _load_exceptions(step_run_id, {side: regenerated[side] for side in sides}, spare=regenerated)
        logger.info("exceptions loaded from the artifacts", extra={"step_run_id": step_run_id, "sides": sides})
        paths = {}
        for side in sides:
            paths[side] = storage.download_to(files[f"UNMATCHED_{side}"]["s3_key"], workdir / f"{side.lower()}.csv")
        return _load_exceptions(step_run_id, paths)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _regenerate(step_run_id: int, missing: list[str], workdir: Path) -> dict[str, Path] | None:
    """The outputs a completed step's worker never stored (it died, or is still busy, after answering),
    made again by another worker: the engine on the same recorded inputs (the files or snapshots the
    attempt read) and rule-set version gives the same bytes — the outputs the attempt did store must match
    byte for byte (sha256), or nothing is registered. The missing outputs are registered as the attempt's
    own (already registered ones are found by type: the original worker may still register them too).
    Returns the local unmatched outputs by side, None when they cannot be made again."""
    from chalicelib.matching import run_match
    from chalicelib.streams import files, rule_sets, storage
    from chalicelib.streams.defs_db import fetch_all, fetch_one

    with tx() as c:
        row = fetch_one(c, "SELECT run_id, step_order, attempt_no, reconciliation_id, rule_set_id, rule_set_version,"
                           " source_file_id, target_file_id FROM recon.stream_step_runs WHERE step_run_id = %s"
                           " AND status = 'COMPLETED'", (step_run_id,))
        stored = {a["artifact_type"]: a["sha256"] for a in fetch_all(
            c, "SELECT a.artifact_type, f.sha256 FROM recon.stream_artifacts a JOIN recon.files f USING (file_id)"
               " WHERE a.step_run_id = %s", (step_run_id,))}
    extra = {"step_run_id": step_run_id, "missing": missing}
    if row is None or None in (row["rule_set_id"], row["source_file_id"], row["target_file_id"]):
        logger.warning("outputs cannot be made again: the attempt's inputs are not recorded", extra=extra)
        return None
    try:
        rule_set, _ = rule_sets.load(row["rule_set_id"], row["rule_set_version"])
        inputs = {}
        for side in ("SOURCE", "TARGET"):
            f = files.get_file(row[f"{side.lower()}_file_id"])
            if f is None or f["status"] != "READY":
                logger.warning("outputs cannot be made again: an input file is gone", extra=extra)
                return None
            path = workdir / f"{side.lower()}{_suffix(f)}"
            _download(side, f, path)
            inputs[side] = (path, f)
        out = workdir / "out"
        out.mkdir()
        result = run_match(str(inputs["SOURCE"][0]), str(inputs["TARGET"][0]), rule_set, str(out),
                           limits=_engine_limits(workdir))
    except Exception:   # noqa: BLE001 - the step then fails as before, naming the outputs it lacks
        logger.exception("outputs cannot be made again", extra=extra)
        return None
    outputs = {t: (path, rows) for t, path, rows in _outputs_of(result)}
    differing = [t for t, sha in stored.items() if t in outputs and storage.sha256_of(outputs[t][0]) != sha]
    if differing:
        logger.error("outputs made again differ from those stored", extra={**extra, "differing": differing})
        return None
    a = Attempt(row["run_id"], row["step_order"], row["attempt_no"], "", {}, {}, step_run_id=step_run_id,
                reconciliation_id=row["reconciliation_id"])
    a.input_columns = {side: f.get("columns") for side, (_, f) in inputs.items()}
    for t in missing:
        path, rows = outputs[t]
        _register(a, path, f"stream_{a.run_id}_step_{a.step_order}_{t.lower()}.csv", "ARTIFACT", rows, t,
                  columns=_output_columns(a, t))
    logger.warning("outputs its worker never stored were made again", extra=extra)
    return {"SOURCE": outputs["UNMATCHED_SOURCE"][0], "TARGET": outputs["UNMATCHED_TARGET"][0]}


def _jsonable(value: Any) -> Any:
    import json

    return json.loads(json.dumps(value, default=str))


def _observe_step_end(a: Attempt, status: str, seconds: float, matched: int = 0) -> None:
    try:
        from chalicelib.streams import metrics

        metrics.step_finished(a.run["stream_id"], a.step_order, status, seconds, matched)
    except Exception:
        pass


def _finish_failed(a: Attempt, message: str, *, retry: bool = True) -> None:
    retries_left = retry and a.earlier_failures + 1 <= int(a.step.get("maxRetries", 0))
    with tx() as c:
        mine = runtime.attempt(c, a.run_id, a.step_order, a.attempt_no, lock=True)
        if mine is None or mine["status"] != "IN_PROGRESS":
            return
        # the attempt ended now, retried or not (an attempt waiting for its retry shows no completedAt:
        # its step is not complete; the time shows once the next attempt has taken over)
        runtime.update_step_run(c, a.step_run_id, status="RETRY_WAIT" if retries_left else "FAILED",
                                error_message=message, completed_at=_now(c))
    if retries_left:
        _send_failure(a.token, state_machine.ATTEMPT_FAILED, message, a.run_id)
    else:
        _send_failure(a.token, state_machine.STEP_FAILED, message, a.run_id)


def _finish_skipped(a: Attempt, message: str) -> None:
    # claimed but never started on its work: no startedAt, like the dependants a cancel skips
    with tx() as c:
        runtime.update_step_run(c, a.step_run_id, status="SKIPPED", error_message=message, started_at=None,
                                progress=0, completed_at=_now(c))


def _finish_canceled(a: Attempt) -> None:
    with tx() as c:
        mine = runtime.attempt(c, a.run_id, a.step_order, a.attempt_no, lock=True)
        if mine is not None and mine["status"] == "IN_PROGRESS":
            runtime.update_step_run(c, a.step_run_id, status="CANCELED", completed_at=_now(c),
                                    error_message="canceled" if not a.gone.is_set() else
                                    "the task was stopped or timed out")


OUTPUT_ARTIFACTS = ("MATCHED", "UNMATCHED_SOURCE", "UNMATCHED_TARGET")


def _discard_outputs(a: Attempt) -> None:
    """An attempt that did not complete keeps no outputs: MATCHED / UNMATCHED_* are the artifacts of a completed
    step run (platform §5). A cancel that lands after the engine ended meets a completion already uploading and
    registering them; they go (artifact rows, their files, the stored bytes). Snapshots stay: they were taken at
    the step's start and are what the attempt read. Nothing is removed once the attempt is COMPLETED."""
    from chalicelib.streams import storage

    try:
        with tx() as c:
            gone = c.execute(
                "DELETE FROM recon.stream_artifacts a USING recon.stream_step_runs s"
                " WHERE a.step_run_id = %s AND s.step_run_id = a.step_run_id AND s.status <> 'COMPLETED'"
                " AND a.artifact_type = ANY(%s) RETURNING a.file_id",
                (a.step_run_id, list(OUTPUT_ARTIFACTS))).fetchall()
            ids = [r["file_id"] if isinstance(r, dict) else r[0] for r in gone]
            rows = c.execute("DELETE FROM recon.files f WHERE f.file_id = ANY(%s) AND NOT EXISTS"
                             " (SELECT 1 FROM recon.stream_artifacts x WHERE x.file_id = f.file_id)"
                             " RETURNING f.s3_key", (ids,)).fetchall() if ids else []
    except Exception:
        logger.exception("discarding the outputs of an attempt that did not complete failed",
                         extra={"run_id": a.run_id, "step_order": a.step_order})
        return
    for r in rows:
        key = r["s3_key"] if isinstance(r, dict) else r[0]
        try:
            storage.delete(key)
        except Exception:   # the rows are gone; stray bytes are harmless
            logger.warning("could not delete a discarded output's bytes", extra={"run_id": a.run_id, "key": key})
    if rows:
        logger.info("outputs of an attempt that did not complete discarded",
                    extra={"run_id": a.run_id, "step_order": a.step_order, "files": len(rows)})


def _send_success(a: Attempt, output: dict) -> None:
    try:
        state_machine.succeed(a.token, output)
    except state_machine.ExecutionGone as exc:
        logger.info("task answer refused (timed out or stopped): final", extra={"run_id": a.run_id,
                                                                               "error": str(exc)[:200]})


def _send_failure(token: str, error: str, cause: str, run_id: int) -> None:
    try:
        state_machine.fail(token, error, cause)
    except state_machine.ExecutionGone as exc:
        logger.info("task answer refused (timed out or stopped): final", extra={"run_id": run_id,
                                                                               "error": str(exc)[:200]})


# ------------------------------------------------------------------------------------------- finish


def _orphaned_sides(definition: list[dict], steps: dict[int, dict]) -> dict[int, list[str]]:
    """Completed steps whose unmatched output of a side later steps consume, when none of those later
    steps completed (failed, skipped, never answered): step run id -> every side its exceptions then
    cover (the ones loaded already and these). Platform §5: exceptions are the unmatched rows no later
    step of the run consumes — rows whose consumer did not complete were consumed by nothing."""
    out: dict[int, list[str]] = {}
    for st in definition:
        done = steps.get(st["stepOrder"])
        if done is None or done["status"] != "COMPLETED":
            continue
        loaded = list((done["summary"] or {}).get("exceptionSides") or [])
        add = [side for side, consumers in _consumers(definition, st["stepOrder"]).items()
               if side not in loaded and not any((steps.get(o) or {}).get("status") == "COMPLETED" for o in consumers)]
        if add:
            out[done["step_run_id"]] = [x for x in ("SOURCE", "TARGET") if x in loaded or x in add]
    return out


def _claim_orphaned_sides(c, run: dict, steps: dict[int, dict]) -> list[int] | None:
    """Mark the orphaned sides (_orphaned_sides) of the run's steps for loading, in the caller's
    transaction. None when there are none; else the step runs to load from their artifacts now.
    Each step run is marked under its lock: a worker's deferred load in progress is waited for. One
    done already → loaded from the artifacts now; one still to come → its worker loads these sides too
    (from its local outputs: _load_exceptions reads exceptionSides under the same lock)."""
    orphaned = _orphaned_sides(run["definition"], steps)
    if not orphaned:
        return None
    load_now = []
    for step_run_id, sides in orphaned.items():
        held = c.execute("SELECT summary FROM recon.stream_step_runs WHERE step_run_id = %s FOR NO KEY UPDATE",
                         (step_run_id,)).fetchone()
        if (held["summary"] or {}).get("exceptionsLoaded", True):
            load_now.append(step_run_id)
        c.execute("UPDATE recon.stream_step_runs SET summary = summary || %s, updated_at = now()"
                  " WHERE step_run_id = %s", (Jsonb({"exceptionSides": sides, "exceptionsLoaded": False}),
                                             step_run_id))
    return load_now


def _send_loads(step_run_ids: list[int] | None) -> None:
    """Loads from the artifacts, now (no worker has these outputs at hand; not after the grace period)."""
    if step_run_ids:
        from chalicelib import aws

        aws.send_messages(STEPS_QUEUE, [{"kind": "EXCEPTIONS", "stepRunId": i} for i in step_run_ids])


def _pending_loads(c, steps) -> tuple[list[dict], float]:
    """Completed step runs whose exception load is still to come, and the seconds since the latest of
    them completed (0 when none)."""
    pending = [s for s in steps if s["status"] == "COMPLETED" and not (s["summary"] or {}).get("exceptionsLoaded", True)]
    if not pending:
        return [], 0.0
    age = c.execute("SELECT extract(epoch FROM clock_timestamp() - %s)::float AS s",
                    (max(s["completed_at"] for s in pending),)).fetchone()["s"]
    return pending, age


def settle_canceled_run(run_id: int) -> None:
    """A canceled run's completed steps: the unmatched rows a later step was to take, which no later step
    completed with, are exceptions too (as at any run's end). Sent by the cancel (SETTLE); idempotent.
    A completed step whose deferred load is still to come keeps its worker's load; when that worker does
    not load within EXCEPTIONS_GRACE_SECONDS of the completion (it died), SETTLE comes back and has the
    load done from the artifacts, as FINISH does for a run that ends."""
    with tx() as c:
        run = runtime.get_run(c, run_id, lock=True)
        if run is None or run["status"] != "CANCELED":
            return
        steps = {s["step_order"]: s for s in runtime.step_runs(c, run_id)}
        load_now = _claim_orphaned_sides(c, run, steps) or []
        # a step claimed here was pending already unless it is loaded now: the rows read above will do
        pending, age = _pending_loads(c, [s for s in steps.values() if s["step_run_id"] not in load_now])
    _send_loads(load_now)
    if not pending:
        return
    from chalicelib import aws

    if age > EXCEPTIONS_GRACE_SECONDS:
        aws.send_messages(STEPS_QUEUE, [{"kind": "EXCEPTIONS", "stepRunId": s["step_run_id"]} for s in pending])
    else:
        # back when the grace period is over (SQS delays up to 15 minutes)
        aws.send_message(STEPS_QUEUE, {"kind": "SETTLE", "runId": run_id},
                         delay_seconds=min(900, int(EXCEPTIONS_GRACE_SECONDS - age) + 1))


#: how long FINISH waits for a load it asked for (an EXCEPTIONS message) before it asks again: that message can
#: be lost with its worker, or go to the dead-letter queue after its retries (outputs made again for a long step)
LOAD_REQUEST_AGAIN_SECONDS = 300


def finish_run(run_id: int, *, load_requested: bool | float = False, resend: bool = True) -> dict | None:
    """The execution has ended: give the run its final status (idempotent). While a step's deferred work
    is pending, FINISH re-sends itself (`resend`; not when a worker calls it, see _finish_if_all_done)."""
    from chalicelib.streams import runs

    with tx() as c:
        run = runtime.get_run(c, run_id, lock=True)
        if run is None or run["status"] not in runtime.ACTIVE_RUN:
            return None
        steps = {s["step_order"]: s for s in runtime.step_runs(c, run_id)}
        # unmatched rows a later step was to take but no later step completed with: exceptions after all
        load_now = _claim_orphaned_sides(c, run, steps)
        if load_now is not None:
            steps = {s["step_order"]: s for s in runtime.step_runs(c, run_id)}
        pending, age = _pending_loads(c, steps.values())
    _send_loads(load_now)
    if pending and not resend:
        return None
    if pending:
        # the run ends when its exceptions are in; a load that does not come from its worker within
        # a minute (the worker died) is done from the artifacts
        from chalicelib import aws

        # `load_requested`: when the load was asked for (epoch seconds; True from a message of an earlier version)
        now = time.time()
        if load_requested is True:
            load_requested = now
        if age > EXCEPTIONS_GRACE_SECONDS and (not load_requested or now - float(load_requested) > LOAD_REQUEST_AGAIN_SECONDS):
            aws.send_messages(STEPS_QUEUE, [{"kind": "EXCEPTIONS", "stepRunId": s["step_run_id"]} for s in pending])
            load_requested = now
        aws.send_message(STEPS_QUEUE, {"kind": "FINISH", "runId": run_id, "loadRequested": load_requested},
                         delay_seconds=1)
        return None
    with tx() as c:
        run = runtime.get_run(c, run_id, lock=True)
        if run is None or run["status"] not in runtime.ACTIVE_RUN:
            return None
        steps = {s["step_order"]: s for s in runtime.step_runs(c, run_id)}
        status, failed = runtime.outcome(steps, run["definition"])
        runtime.close_open_steps(c, run_id, in_progress_to="FAILED", pending_to="SKIPPED",
                                 message="the step did not answer before the run ended")
        message = None
        if failed:
            first = steps[failed[0]]
            message = f"Step {failed[0]} ({first['name']}) failed: {first['error_message'] or 'no answer'}"
        runtime.update_run(c, run_id, status=status, completed_at=_now(c), error_message=message)
        view = runs.run_view(runtime.get_run(c, run_id))
    runs._after_finish(view)
    return view
