"""Stream definitions: streams, their versions and steps (streams contract §4.1–4.3, platform §5).

A PUT writes a new version with new step rows; a run records the version it started with, so a run in
flight keeps its definition. Pause, resume and archive change the stream's status only.
"""
from __future__ import annotations

import re
from typing import Any, Callable

from psycopg.types.json import Jsonb

from chalicelib.streams import data_sources, files, rule_sets
from chalicelib.streams.defs_db import fetch_all, fetch_one, tx
from chalicelib.streams.defs_errors import Conflict, Invalid, Issue, NotFound
from chalicelib.streams.validation import (
    StreamIn, check_definition, data_source_problems, file_problems, rule_set_problems, stream_problems,
)

_STREAM = ("stream_id, kind, status, current_version, name, domain, trigger_type, trigger_config, created_by,"
           " created_at, updated_at, archived_at")
_STEP = ("step_id, stream_id, version, step_order, name, source_type, source_id, target_type, target_id,"
         " rule_set_id, continue_on_failure, max_retries, config")


def as_definition(body: StreamIn | dict) -> dict:
    """snake_case dict form of a definition."""
    if isinstance(body, StreamIn):
        d = body.model_dump(mode="json")
    else:
        d = dict(body)
    return d


def _references(defn: dict, conn, share_lock: bool = False, archived: set[int] | None = None) -> dict[str, Any]:
    """The objects the definition refers to that exist; the streams it follows that are ARCHIVED are
    added to `archived`."""
    archived = set() if archived is None else archived
    file_ids, ds_ids = [], []
    for s in defn["steps"]:
        for key in ("source_input", "target_input"):
            if s[key]["type"] == "FILE":
                file_ids.append(s[key]["id"])
            elif s[key]["type"] == "DATA_SOURCE_SNAPSHOT":
                ds_ids.append(s[key]["id"])
    tc = defn.get("trigger_config") or {}
    stream_ids = set()
    if isinstance(tc.get("streamId"), int):
        row = fetch_one(conn, "SELECT stream_id, status FROM recon.streams WHERE stream_id = %s AND kind = 'STREAM'",
                        (tc["streamId"],))
        if row:
            stream_ids.add(row["stream_id"])
            if row["status"] == "ARCHIVED":
                archived.add(row["stream_id"])
    return {"files": files.get_files(file_ids, conn, share_lock=share_lock),
            "rule_sets": rule_sets.existing([s["rule_set_id"] for s in defn["steps"]], conn, share_lock=share_lock),
            "data_sources": data_sources.existing(ds_ids, conn, share_lock=share_lock), "streams": stream_ids}


def check(defn: dict, *, strict_ready: bool, self_id: int | None = None, conn=None, share_lock: bool = False
          ) -> tuple[list[Issue], list[Issue]]:
    """share_lock (saving): the referenced files, rule sets and data sources stay locked against a
    concurrent delete until the caller's transaction ends."""
    archived: set[int] = set()
    with tx(conn) as c:
        refs = _references(defn, c, share_lock, archived)
        loop = _chain_loop(defn, self_id, c)
    errors, warnings = check_definition(defn, strict_ready=strict_ready, self_id=self_id,
                                        describe_sources=strict_ready and conn is None, **refs)
    for sid in archived:   # an archived stream never runs again: a trigger on its completions never fires
        errors.append(Issue("triggerConfig.streamId", "STREAM_ARCHIVED",
                            f"stream {sid} is ARCHIVED: it never runs again, so its completions never start this stream"))
    if loop:
        errors.append(Issue("triggerConfig.streamId", "INVALID_VALUE", f"a chain of streams must not loop: {loop}"))
    return errors, warnings


def _id(value: Any) -> int | None:
    """An id as the body's model takes it (a JSON integer 1..2^63-1), else None."""
    return value if type(value) is int and 1 <= value <= 2 ** 63 - 1 else None


def reference_problems(raw: Any) -> list[Issue]:
    """On a body whose shape is wrong elsewhere (a 400 lists every problem, platform §1): the broken
    references among its well-formed parts — files, data sources and rule sets that do not exist, INVALID
    files, a followed stream that does not exist. `raw`: the parsed JSON of POST/PUT /streams."""
    if not isinstance(raw, dict):
        return []
    steps = raw.get("steps")
    file_refs, ds_refs, rs_refs = [], [], []   # (field, label, side, id)
    for i, step in enumerate(steps if isinstance(steps, list) else []):
        if not isinstance(step, dict):
            continue
        label = f"Step {_id(step.get('stepOrder')) or i + 1}"
        for side, key in (("source", "sourceInput"), ("target", "targetInput")):
            inp = step.get(key)
            ref = _id(inp.get("id")) if isinstance(inp, dict) else None
            if ref is not None and inp.get("type") == "FILE":
                file_refs.append((f"steps[{i}].{key}.id", label, side, ref))
            elif ref is not None and inp.get("type") == "DATA_SOURCE_SNAPSHOT":
                ds_refs.append((f"steps[{i}].{key}.id", label, side, ref))
        if _id(step.get("ruleSetId")) is not None:
            rs_refs.append((f"steps[{i}].ruleSetId", label, "", step["ruleSetId"]))
    tc = raw.get("triggerConfig")
    followed = (_id(tc.get("streamId")) if raw.get("triggerType") == "EVENT" and isinstance(tc, dict)
                and tc.get("event") == "STREAM_RUN_COMPLETED" else None)
    if not (file_refs or ds_refs or rs_refs or followed):
        return []
    with tx() as c:
        found_files = files.get_files([r[3] for r in file_refs], c)
        found_ds = data_sources.existing([r[3] for r in ds_refs], c)
        found_rs = rule_sets.existing([r[3] for r in rs_refs], c)
        streams = {followed} if followed and fetch_one(
            c, "SELECT 1 FROM recon.streams WHERE stream_id = %s AND kind = 'STREAM'", (followed,)) else set()
    out = [i for fld, label, side, ref in file_refs
           for i in file_problems(fld, label, side, ref, found_files.get(ref), strict_ready=False)]
    out += [i for fld, label, _, ref in ds_refs for i in data_source_problems(fld, label, ref, found_ds)]
    out += [i for fld, label, _, ref in rs_refs for i in rule_set_problems(fld, label, ref, found_rs)]
    if followed:
        out += stream_problems(followed, None, streams)
    return out


CHAIN_LOCK = "SELECT pg_advisory_xact_lock(hashtext('recon.stream-chains'))"


def _chain_loop(defn: dict, self_id: int | None, c) -> str | None:
    """When this stream would follow (STREAM_RUN_COMPLETED) a stream that, through its own trigger and
    those of the streams it follows, follows this one: the loop in words — every run would start the
    next one forever. Archived streams never run and break a chain; paused ones may be resumed."""
    tc = defn.get("trigger_config") or {}
    first = tc.get("streamId")
    if (self_id is None or defn.get("trigger_type") != "EVENT" or tc.get("event") != "STREAM_RUN_COMPLETED"
            or not isinstance(first, int) or isinstance(first, bool) or first == self_id):
        return None
    chain, current = [first], first
    while True:
        row = fetch_one(c, "SELECT trigger_type, trigger_config FROM recon.streams WHERE stream_id = %s"
                           " AND kind = 'STREAM' AND status <> 'ARCHIVED'", (current,))
        up = (row["trigger_config"] or {}) if row and row["trigger_type"] == "EVENT" else {}
        nxt = up.get("streamId") if up.get("event") == "STREAM_RUN_COMPLETED" else None
        if not isinstance(nxt, int) or isinstance(nxt, bool) or nxt in chain:
            return None
        if nxt == self_id:
            names = [f"stream {x}" for x in chain] + ["this stream"]
            return f"{names[0]} follows " + ", which follows ".join(names[1:])
        chain.append(nxt)
        current = nxt


def _write_version(c, stream_id: int, version: int, defn: dict, created_by: str | None) -> None:
    c.execute("INSERT INTO recon.stream_versions (stream_id, version, name, description, domain, trigger_type,"
              " trigger_config, created_by) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
              (stream_id, version, defn["name"], defn.get("description"), defn.get("domain"), defn["trigger_type"],
               Jsonb(defn.get("trigger_config") or {}), created_by))
    with c.cursor() as cur:
        cur.executemany(
            "INSERT INTO recon.stream_steps (stream_id, version, step_order, name, source_type, source_id, target_type,"
            " target_id, rule_set_id, continue_on_failure, max_retries, config)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [(stream_id, version, s["step_order"], s["name"], s["source_input"]["type"], s["source_input"]["id"],
              s["target_input"]["type"], s["target_input"]["id"], s["rule_set_id"],
              s["config"]["continue_on_failure"], s["config"]["max_retries"],
              Jsonb({"continueOnFailure": s["config"]["continue_on_failure"], "maxRetries": s["config"]["max_retries"]}))
             for s in sorted(defn["steps"], key=lambda s: s["step_order"])])


def create_stream(body: StreamIn | dict, created_by: str | None = None, *, kind: str = "STREAM", conn=None) -> dict:
    """Validate and store a new stream (version 1); Invalid listing every error otherwise."""
    defn = as_definition(body)
    with tx(conn) as c:
        errors, _ = check(defn, strict_ready=False, conn=c, share_lock=True)
        if errors:
            raise _refused(errors)
        row = fetch_one(c, f"INSERT INTO recon.streams (kind, name, domain, trigger_type, trigger_config, created_by)"
                           f" VALUES (%s, %s, %s, %s, %s, %s) RETURNING {_STREAM}",
                        (kind, defn["name"], defn.get("domain"), defn["trigger_type"],
                         Jsonb(defn.get("trigger_config") or {}), created_by))
        _write_version(c, row["stream_id"], 1, defn, created_by)
        return load(row["stream_id"], c)


def update_stream(stream_id: int, body: StreamIn | dict, created_by: str | None = None,
                  check_locked: Callable[[dict], None] | None = None) -> dict:
    """Writes a new version. `check_locked(row)` sees the stream locked (`status`, `current_version`) before anything
    is written: a PUT's version compared there cannot be overtaken by a concurrent PUT."""
    defn = as_definition(body)
    with tx() as c:
        row = fetch_one(c, f"SELECT {_STREAM} FROM recon.streams WHERE stream_id = %s FOR UPDATE", (stream_id,))
        if row is None:
            raise NotFound("Stream", stream_id)
        if check_locked is not None:
            check_locked(row)
        if row["kind"] != "STREAM":
            raise Conflict(f"Stream {stream_id} belongs to a legacy reconciliation and cannot be edited")
        if row["status"] == "ARCHIVED":
            raise Conflict(f"Stream {stream_id} is ARCHIVED and cannot be changed")
        if isinstance(body, StreamIn) and "domain" not in body.model_fields_set:
            defn["domain"] = row["domain"]    # PUT replaces name, description, trigger and steps
        if (defn.get("trigger_config") or {}).get("event") == "STREAM_RUN_COMPLETED":
            c.execute(CHAIN_LOCK)   # two streams made to follow each other at once: one of the saves sees the other
        errors, _ = check(defn, strict_ready=False, self_id=stream_id, conn=c, share_lock=True)
        if errors:
            raise _refused(errors)
        version = row["current_version"] + 1
        _write_version(c, stream_id, version, defn, created_by)
        c.execute("UPDATE recon.streams SET current_version = %s, name = %s, domain = %s, trigger_type = %s,"
                  " trigger_config = %s, updated_at = now() WHERE stream_id = %s",
                  (version, defn["name"], defn.get("domain"), defn["trigger_type"],
                   Jsonb(defn.get("trigger_config") or {}), stream_id))
        if defn["trigger_type"] == "SCHEDULED":
            from chalicelib.streams import schedules

            schedules.restart_from_now(stream_id, c)   # the new schedule counts from the save
        return load(stream_id, c)


def _summary(errors: list[Issue]) -> str:
    first = errors[0]
    text = first.message if _STEP_LABEL.match(first.message) else f"{first.field}: {first.message}"
    return text + (f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else "")


_STEP_LABEL = re.compile(r"^Step \d+: ")


def _refused(errors: list[Issue]) -> Invalid:
    """The 400 of a definition with errors, as the platform document writes it: the message names the
    step ("Step 2: rule set 56 not found"), each problem is located by its field and says what is wrong
    there ({"field": "steps[1].ruleSetId", "message": "rule set 56 not found"})."""
    located = [Issue(i.field, i.code, _STEP_LABEL.sub("", i.message, count=1)) for i in errors]
    return Invalid(located, message=_summary(errors))


def get_stream(stream_id: int, conn=None) -> dict | None:
    with tx(conn) as c:
        return fetch_one(c, f"SELECT {_STREAM} FROM recon.streams WHERE stream_id = %s", (stream_id,))


def get_version(stream_id: int, version: int | None = None, conn=None) -> dict | None:
    """A definition version with its steps (ordered); the current one when version is None."""
    with tx(conn) as c:
        if version is None:
            s = get_stream(stream_id, c)
            if s is None:
                return None
            version = s["current_version"]
        v = fetch_one(c, "SELECT stream_id, version, name, description, domain, trigger_type, trigger_config,"
                         " created_by, created_at FROM recon.stream_versions WHERE stream_id = %s AND version = %s",
                      (stream_id, version))
        if v is None:
            return None
        v["steps"] = fetch_all(c, f"SELECT {_STEP} FROM recon.stream_steps WHERE stream_id = %s AND version = %s"
                                  " ORDER BY step_order", (stream_id, version))
        return v


def load(stream_id: int, conn=None) -> dict:
    """The stream with its current version (description, steps) merged in."""
    with tx(conn) as c:
        s = get_stream(stream_id, c)
        if s is None:
            raise NotFound("Stream", stream_id)
        v = get_version(stream_id, s["current_version"], c)
    return {**s, "description": v["description"], "steps": v["steps"], "version": v["version"]}


def definition_of(stream: dict) -> dict:
    """The snake_case definition of a loaded stream (for re-validation)."""
    return {"name": stream["name"], "description": stream.get("description"), "domain": stream.get("domain"),
            "trigger_type": stream["trigger_type"], "trigger_config": stream["trigger_config"] or None,
            "steps": [{"step_order": st["step_order"], "name": st["name"],
                       "source_input": {"type": st["source_type"], "id": st["source_id"]},
                       "target_input": {"type": st["target_type"], "id": st["target_id"]},
                       "rule_set_id": st["rule_set_id"],
                       "config": {"continue_on_failure": st["continue_on_failure"], "max_retries": st["max_retries"]}}
                      for st in stream["steps"]]}


def validate_saved(stream_id: int) -> tuple[list[Issue], list[Issue]]:
    stream = load(stream_id)
    return check(definition_of(stream), strict_ready=True, self_id=stream_id)


def list_streams(*, status: str | None = None, domain: str | None = None, offset: int = 0, limit: int = 20
                 ) -> tuple[list[dict], int]:
    where, params = ["kind = 'STREAM'"], []
    if status:
        where.append("status = %s")
        params.append(status)
    if domain:
        where.append("domain = %s")
        params.append(domain)
    clause = " AND ".join(where)
    with tx() as c:
        total = fetch_one(c, f"SELECT count(*) AS n FROM recon.streams WHERE {clause}", params)["n"]
        rows = fetch_all(c, f"SELECT {_STREAM}, (SELECT count(*) FROM recon.stream_steps st WHERE st.stream_id ="
                            f" s.stream_id AND st.version = s.current_version) AS step_count,"
                            f" (SELECT description FROM recon.stream_versions v WHERE v.stream_id = s.stream_id"
                            f" AND v.version = s.current_version) AS description"
                            f" FROM recon.streams s WHERE {clause} ORDER BY created_at DESC, stream_id DESC"
                            f" OFFSET %s LIMIT %s", params + [offset, limit])
    return rows, total


_TRANSITIONS = {"pause": ("ACTIVE", "PAUSED"), "resume": ("PAUSED", "ACTIVE")}


def set_status(stream_id: int, action: str) -> dict:
    """pause (ACTIVE -> PAUSED), resume (PAUSED -> ACTIVE), archive (-> ARCHIVED). Repeating an action is a
    no-op; anything from ARCHIVED is a conflict."""
    with tx() as c:
        row = fetch_one(c, f"SELECT {_STREAM} FROM recon.streams WHERE stream_id = %s FOR UPDATE", (stream_id,))
        if row is None:
            raise NotFound("Stream", stream_id)
        if row["kind"] != "STREAM":
            raise Conflict(f"Stream {stream_id} belongs to a legacy reconciliation: use /reconciliations")
        if action == "archive":
            if row["status"] != "ARCHIVED":
                c.execute("UPDATE recon.streams SET status = 'ARCHIVED', archived_at = now(), updated_at = now()"
                          " WHERE stream_id = %s", (stream_id,))
            return load(stream_id, c)
        src, dst = _TRANSITIONS[action]
        if row["status"] == "ARCHIVED":
            raise Conflict(f"Stream {stream_id} is ARCHIVED and cannot be {'paused' if action == 'pause' else 'resumed'}")
        if row["status"] == src:
            c.execute("UPDATE recon.streams SET status = %s, updated_at = now() WHERE stream_id = %s", (dst, stream_id))
            if action == "resume":
                from chalicelib.streams import schedules

                schedules.restart_from_now(stream_id, c)   # what fell in the pause is not caught up
        return load(stream_id, c)


def active_streams(trigger_type: str, conn=None) -> list[dict]:
    """ACTIVE user streams with this trigger (for the scheduler and event routing)."""
    with tx(conn) as c:
        return fetch_all(c, f"SELECT {_STREAM} FROM recon.streams WHERE status = 'ACTIVE' AND kind = 'STREAM'"
                            " AND trigger_type = %s ORDER BY stream_id", (trigger_type,))


# ------------------------------------------------------------------------------------- views


def step_view(st: dict) -> dict:
    return {"id": st["step_id"], "stepOrder": st["step_order"], "name": st["name"],
            "sourceInput": {"type": st["source_type"], "id": st["source_id"]},
            "targetInput": {"type": st["target_type"], "id": st["target_id"]},
            "ruleSetId": st["rule_set_id"],
            "config": {"continueOnFailure": st["continue_on_failure"], "maxRetries": st["max_retries"]}}


def next_run_at(stream: dict):
    if stream["trigger_type"] != "SCHEDULED" or stream["status"] != "ACTIVE":
        return None
    try:
        from chalicelib.streams import schedules

        return schedules.next_run_at(stream["trigger_config"])
    except (ImportError, AttributeError):
        return None


def recent_occurrences(stream: dict) -> list[dict]:
    """SCHEDULED streams: the latest claimed occurrences, newest first, with what became of each (a run
    STARTED, or SKIPPED_RUN_ACTIVE / SKIPPED_NOT_ACTIVE / FAILED: platform §5 records skips on the stream);
    EVENT streams: the latest events that triggered it, likewise."""
    if stream["trigger_type"] == "EVENT":   # the events that triggered it, started or skipped
        from chalicelib.streams import events

        return [{"occurrenceAt": c["occurrenceAt"], "status": c["outcome"], "late": c["late"], "runId": c["runId"],
                 "detail": c["detail"]} for c in events.recent_triggers(stream["stream_id"], limit=RECENT_OCCURRENCES)]
    if stream["trigger_type"] != "SCHEDULED":
        return []
    from chalicelib.streams import schedules

    return [{"occurrenceAt": c["occurrenceAt"], "status": c["outcome"], "late": c["late"], "runId": c["runId"],
             "detail": c["detail"]} for c in schedules.recent_claims(stream["stream_id"], limit=RECENT_OCCURRENCES)]


RECENT_OCCURRENCES = 10


def trigger_config_view(trigger_type: str, config: dict | None) -> dict | None:
    """The trigger configuration as it applies: a SCHEDULED stream's zone defaults to UTC (platform §6)."""
    if trigger_type == "SCHEDULED" and config and "timezone" not in config:
        return {**config, "timezone": "UTC"}
    return config or None


def stream_view(stream: dict) -> dict:
    return {"id": stream["stream_id"], "name": stream["name"], "description": stream.get("description"),
            "status": stream["status"], "domain": stream["domain"], "triggerType": stream["trigger_type"],
            "triggerConfig": trigger_config_view(stream["trigger_type"], stream["trigger_config"]),
            "version": stream["version"],
            "nextRunAt": next_run_at(stream), "recentOccurrences": recent_occurrences(stream),
            "steps": [step_view(s) for s in stream["steps"]],
            "createdAt": stream["created_at"], "updatedAt": stream["updated_at"]}


def summary_view(stream: dict) -> dict:
    count = stream.get("step_count")
    if count is None:
        count = len(stream.get("steps", []))
    return {"id": stream["stream_id"], "name": stream["name"], "description": stream.get("description"),
            "status": stream["status"], "domain": stream["domain"], "triggerType": stream["trigger_type"],
            "stepCount": count, "createdAt": stream["created_at"], "updatedAt": stream["updated_at"]}
