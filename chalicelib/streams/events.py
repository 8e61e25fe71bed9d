"""Stream events on the service's EventBridge bus (`recon-events`) and the EVENT trigger.

Published: `FileReady` (source `recon.files`, by the file worker through `publish_file_ready`),
`StreamRunCompleted` / `StreamRunFailed` (source `recon.streams`, when a run ends). The rule
`recon-stream-triggers` (infra/resources.yml) sends them to the `recon-stream-events` queue, whose
handler starts the EVENT-triggered streams that match:

- `{"event": "FILE_UPLOADED", "filenamePattern": "bank_*.csv", "bind": {"stepOrder": 1, "input": "TARGET"}}`
  on FileReady of an uploaded file whose name matches (fnmatch, case-sensitive, both in Unicode
  composed form: a name from macOS spells 'Ü' as U + combining diaeresis);
- `{"event": "STREAM_RUN_COMPLETED", "streamId": 9001}` on StreamRunCompleted of that stream.

Each (event id, stream) starts at most one run (recon.stream_event_runs), however often the event is
delivered. Runs that end also get signed webhooks (`stream.run.completed` / `stream.run.failed`),
through the shared delivery machinery (chalicelib/runs/webhooks.py).
"""
from __future__ import annotations

import fnmatch
import json
import unicodedata
from datetime import datetime, timezone
from typing import Any

from psycopg.types.json import Jsonb

from chalicelib import aws
from chalicelib.observability import logger

BUS = "recon-events"
FAILED_RUN = ("FAILED", "PARTIAL_FAILED")


#: the bus's detail types as the EVENT triggers name them (triggerConfig.event)
TRIGGER_EVENTS = {"FileReady": "FILE_UPLOADED", "StreamRunCompleted": "STREAM_RUN_COMPLETED"}


def _put(source: str, detail_type: str, detail: dict) -> None:
    resp = aws.client("events").put_events(Entries=[{
        "EventBusName": BUS, "Source": source, "DetailType": detail_type,
        "Detail": json.dumps(detail, default=str)}])
    if resp.get("FailedEntryCount"):
        raise RuntimeError(f"PutEvents refused {detail_type}: {resp['Entries']}")


def publish_file_ready(file_row: dict) -> None:
    """Called by the file worker when an UPLOAD becomes READY."""
    if file_row.get("origin", "UPLOAD") != "UPLOAD":
        return
    try:
        _put("recon.files", "FileReady", {"fileId": file_row["file_id"], "filename": file_row["filename"]})
    except Exception:   # an upload never fails because the event could not be published
        logger.exception("publishing FileReady failed", extra={"file_id": file_row.get("file_id")})


def _iso(v: Any) -> Any:
    return v.astimezone(timezone.utc).isoformat().replace("+00:00", "Z") if isinstance(v, datetime) else v


def run_finished(view: dict) -> None:
    """A run ended: event on the bus, webhooks, metrics. Each part is best-effort and logged."""
    status = view["status"]
    detail = {"runId": view["id"], "streamId": view["streamId"], "status": status,
              "metrics": view.get("metrics"), "errorMessage": view.get("errorMessage"),
              "completedAt": _iso(view.get("completedAt"))}
    if status in ("COMPLETED", *FAILED_RUN):
        try:
            _put("recon.streams", "StreamRunCompleted" if status == "COMPLETED" else "StreamRunFailed", detail)
        except Exception:
            logger.exception("publishing the run's event failed", extra={"run_id": view["id"]})
        _webhooks(view, detail)
    try:
        from chalicelib.streams import metrics

        metrics.run_finished(view)
    except Exception:
        pass
    try:
        start_queued(view["streamId"])   # an event that waited for this run starts its own now
    except Exception:
        logger.exception("starting the stream's queued event failed", extra={"run_id": view["id"]})


def _webhooks(view: dict, detail: dict) -> None:
    try:
        from chalicelib.db.pool import transaction
        from chalicelib.runs import webhooks
    except ImportError:
        return
    event = "stream.run.completed" if view["status"] == "COMPLETED" else "stream.run.failed"
    body = webhooks.ordered_json({"event": event, "timestamp": _iso(datetime.now(timezone.utc)), "data": detail},
                                 data_order=("runId", "streamId", "status"))
    try:
        with transaction() as conn:
            ids = webhooks.plan(conn, event, body, subject=f"stream-run:{view['id']}")
        webhooks.enqueue_quietly(ids)
    except Exception:
        logger.exception("planning the run's webhooks failed", extra={"run_id": view["id"]})


# ----------------------------------------------------------------------------------- EVENT trigger


def handle_event(body: dict) -> list[int]:
    """An EventBridge event from the queue: start the EVENT streams it triggers; the run ids started."""
    event_id = body.get("id") or ""
    detail_type = body.get("detail-type")
    detail = body.get("detail") or {}
    if isinstance(detail, str):
        detail = json.loads(detail)
    from chalicelib.streams import definitions

    started = []
    for stream in definitions.active_streams("EVENT"):
        cfg = stream["trigger_config"] or {}
        bound = _matches(cfg, detail_type, detail, stream["stream_id"])
        if bound is None:
            continue
        loop = _in_its_own_chain(stream["stream_id"], detail) if detail_type == "StreamRunCompleted" else False
        run_id = _start_once(event_id, stream["stream_id"], detail_type, detail, bound, loop=loop)
        if run_id is not None:
            started.append(run_id)
    return started


class _Loop(Exception):
    """The triggering run descends from a run of the stream it would start."""


def _matches(cfg: dict, detail_type: str | None, detail: dict, stream_id: int) -> list[dict] | None:
    """The inputs to bind when this event triggers the stream; None when it does not."""
    if cfg.get("event") == "FILE_UPLOADED" and detail_type == "FileReady":
        pattern = cfg.get("filenamePattern") or "*"
        if not fnmatch.fnmatchcase(_nfc(detail.get("filename") or ""), _nfc(pattern)):
            return None
        bind = cfg.get("bind")
        if bind:
            return [{"stepOrder": int(bind["stepOrder"]), "input": str(bind["input"]).upper(),
                     "fileId": int(detail["fileId"])}]
        return []
    if cfg.get("event") == "STREAM_RUN_COMPLETED" and detail_type == "StreamRunCompleted":
        if int(cfg.get("streamId", -1)) == int(detail.get("streamId", -2)) and detail.get("streamId") != stream_id:
            return []
    return None


def _nfc(text: str) -> str:
    """The composed form of a name: 'Ü' typed as one character (most keyboards) and as U + combining
    diaeresis (file names from macOS) are the same name to whoever reads it, so they match."""
    return unicodedata.normalize("NFC", text)


def dedup_key(event_id: str, detail_type: str | None, detail: dict) -> str:
    """What makes two deliveries the same event: the finished run or the ready file they are about
    (a redelivered message and a re-published event carry different envelopes, the same subject);
    otherwise the EventBridge event id."""
    if detail_type == "StreamRunCompleted" and detail.get("runId") is not None:
        return f"StreamRunCompleted:run-{detail['runId']}"
    if detail_type == "FileReady" and detail.get("fileId") is not None:
        return f"FileReady:file-{detail['fileId']}"
    return event_id


CHAIN_DEPTH = 1000


def _in_its_own_chain(stream_id: int, detail: dict) -> bool:
    """Whether the finished run was started, through a chain of STREAM_RUN_COMPLETED triggers, by a run of
    this very stream: streams that follow each other in a loop (saves refuse one since it was checked;
    one saved before would otherwise start runs without end). Followed through the runs' triggerMetadata."""
    from chalicelib.streams.defs_db import fetch_one, tx

    run_id, seen = detail.get("runId"), 0
    with tx() as c:
        while isinstance(run_id, int) and seen < CHAIN_DEPTH:
            row = fetch_one(c, "SELECT stream_id, trigger_metadata FROM recon.stream_runs WHERE run_id = %s", (run_id,))
            if row is None:
                return False
            if row["stream_id"] == stream_id:
                return True
            meta = row["trigger_metadata"] or {}
            # "StreamRunCompleted": runs recorded before the event was named as its trigger names it
            run_id = meta.get("sourceRunId") if meta.get("event") in ("STREAM_RUN_COMPLETED", "StreamRunCompleted") else None
            seen += 1
    return False


def _start_once(event_id: str, stream_id: int, detail_type: str | None, detail: dict, bound: list[dict],
                loop: bool = False) -> int | None:
    from chalicelib.db.pool import transaction
    from chalicelib.streams import runs

    key = dedup_key(event_id, detail_type, detail)   # the claim's key: its outcome is written under it too
    # "event" in the words of the trigger (triggerConfig.event), the bus's detail type beside it
    metadata = {"event": TRIGGER_EVENTS.get(detail_type, detail_type), "detailType": detail_type, "eventId": event_id,
                **{k: v for k, v in detail.items()
                                                              if k in ("fileId", "filename", "runId", "streamId")}}
    if "streamId" in metadata:
        metadata["sourceStreamId"] = metadata.pop("streamId")
    if "runId" in metadata:
        metadata["sourceRunId"] = metadata.pop("runId")
    # the claim, the run and the claim's outcome commit together: a reader never sees a claim without
    # its outcome, and a handler that dies in between leaves nothing (the redelivered event is handled
    # afresh) instead of a claim that swallows the event
    outcome, run_id = "STARTED", None
    with transaction() as conn:
        row = conn.execute("INSERT INTO recon.stream_event_runs (event_id, stream_id, outcome) VALUES (%s, %s, 'CLAIMED')"
                           " ON CONFLICT DO NOTHING RETURNING event_id", (key, stream_id)).fetchone()
        if row is None:
            logger.info("event already handled for this stream", extra={"event_id": event_id, "stream_id": stream_id})
            return None
        try:
            if loop:
                raise _Loop()
            with conn.transaction():   # a savepoint: what create_run wrote goes if it fails
                run_id = runs.create_run(stream_id, "EVENT", metadata, bound_inputs=bound, start=False,
                                         conn=conn)["runId"]
        except _Loop:
            outcome = "LOOP"
            logger.warning("event trigger refused: the chain of runs began with this stream",
                           extra={"stream_id": stream_id, "source_run_id": detail.get("runId")})
        except runs.RunConflict as exc:
            # a run of the stream is in flight: the event waits for it (start_queued), so an upload that
            # arrives meanwhile is reconciled when that run ends, in its turn, never dropped
            outcome = "QUEUED"
            logger.info("event trigger queued behind the run in flight",
                        extra={"stream_id": stream_id, "reason": str(exc)})
        except Exception:   # noqa: BLE001 — recorded once; a lost connection fails the update below too
            outcome = "FAILED"
            logger.exception("the triggered run could not be created", extra={"stream_id": stream_id})
        queued = Jsonb({"bound": bound, "metadata": metadata}) if outcome == "QUEUED" else None
        conn.execute("UPDATE recon.stream_event_runs SET outcome = %s, run_id = %s, queued = %s"
                     " WHERE event_id = %s AND stream_id = %s", (outcome, run_id, queued, key, stream_id))
    if run_id is not None:
        runs.start_created(run_id)   # a failed start has marked the run FAILED with the reason
    return run_id


def start_queued(stream_id: int | None = None) -> list[int]:
    """Start the oldest queued event of each stream (of `stream_id` only, when given) that has no run in flight:
    called when a run ends, and by the one-minute tick (so a queued event whose run's end was not seen, its
    worker gone, still starts). One event per stream and call: its run is the stream's run in flight now, and
    the next queued event waits for that one to end. A stream no longer ACTIVE drops its queued events
    (SKIPPED_NOT_ACTIVE, as an upload to a paused stream starts nothing). The run ids started."""
    from chalicelib.db.pool import transaction
    from chalicelib.streams import runs

    with transaction() as conn:
        streams = [r["stream_id"] for r in conn.execute(
            "SELECT DISTINCT stream_id FROM recon.stream_event_runs WHERE outcome = 'QUEUED'"
            + ("" if stream_id is None else " AND stream_id = %s") + " ORDER BY stream_id",
            () if stream_id is None else (stream_id,)).fetchall()]
    started = []
    for sid in streams:
        run_id = None
        try:
            with transaction() as conn:
                row = conn.execute(
                    "SELECT e.event_id, e.queued, e.received_at, s.status FROM recon.stream_event_runs e"
                    " JOIN recon.streams s ON s.stream_id = e.stream_id"
                    " WHERE e.stream_id = %s AND e.outcome = 'QUEUED' ORDER BY e.received_at, e.event_id"
                    " LIMIT 1 FOR UPDATE OF e SKIP LOCKED", (sid,)).fetchone()
                if row is None:
                    continue
                if row["status"] != "ACTIVE":
                    conn.execute("UPDATE recon.stream_event_runs SET outcome = 'SKIPPED_NOT_ACTIVE', queued = NULL"
                                 " WHERE stream_id = %s AND outcome = 'QUEUED'", (sid,))
                    continue
                queued = row["queued"] or {}
                outcome = "STARTED"
                try:
                    with conn.transaction():
                        metadata = {**queued.get("metadata", {}), "queuedAt": _iso(row["received_at"])}
                        run_id = runs.create_run(sid, "EVENT", metadata,
                                                 bound_inputs=queued.get("bound") or [], start=False,
                                                 conn=conn)["runId"]
                except runs.RunConflict:
                    continue            # still a run in flight: its end starts this event
                except Exception:   # noqa: BLE001 — the definition changed under it (a bound step gone, ...)
                    outcome = "FAILED"
                    logger.exception("the queued event's run could not be created", extra={"stream_id": sid})
                conn.execute("UPDATE recon.stream_event_runs SET outcome = %s, run_id = %s, queued = NULL"
                             " WHERE event_id = %s AND stream_id = %s", (outcome, run_id, row["event_id"], sid))
        except Exception:   # noqa: BLE001 — one stream's trouble does not stop the others
            logger.exception("starting a queued event failed", extra={"stream_id": sid})
            continue
        if run_id is not None:
            runs.start_created(run_id)
            started.append(run_id)
    return started


def recent_triggers(stream_id: int, limit: int = 10, conn=None) -> list[dict]:
    """An EVENT stream's latest triggering events, newest first, with what became of each — a run STARTED,
    or SKIPPED_RUN_ACTIVE when a run of the stream was in flight (platform §5: one active run per stream;
    a trigger that meets one is recorded, as a scheduled occurrence is)."""
    from chalicelib.streams.defs_db import fetch_all, tx

    with tx(conn) as c:
        rows = fetch_all(c, "SELECT event_id, outcome, run_id, received_at FROM recon.stream_event_runs"
                            " WHERE stream_id = %s ORDER BY received_at DESC, event_id DESC LIMIT %s",
                         (stream_id, int(limit)))
    out = []
    for r in rows:
        kind, _, subject = r["event_id"].partition(":")
        about = {"FileReady": "file ", "StreamRunCompleted": "run "}.get(kind) if subject else None
        what = f"{kind} of {about}{subject.split('-', 1)[-1]}" if about else "event " + r["event_id"]
        outcome = r["outcome"] if r["outcome"] in ("STARTED", "SKIPPED_RUN_ACTIVE", "QUEUED", "SKIPPED_NOT_ACTIVE") \
            else "FAILED"
        detail = {"STARTED": what, "SKIPPED_RUN_ACTIVE": f"{what}: a run of the stream was in progress",
                  "QUEUED": f"{what}: waiting for the run in progress to end",
                  "SKIPPED_NOT_ACTIVE": f"{what}: the stream was paused or archived before its turn",
                  "FAILED": f"{what}: the run could not be started"}[outcome]
        if r["outcome"] == "LOOP":
            detail = (f"{what}: not started, the chain of runs that led to it began with a run of this stream"
                      " (streams that follow each other in a loop)")
        out.append({"occurrenceAt": r["received_at"], "outcome": outcome, "late": False, "runId": r["run_id"],
                    "detail": detail})
    return out
