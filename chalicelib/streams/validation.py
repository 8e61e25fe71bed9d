"""Stream definitions: the request model and every check of streams platform §5.

`check_definition` finds every problem of a definition against today's files, rule sets and data
sources: errors (STEP_ORDER_INVALID, STEP_INPUT_FORWARD_REFERENCE, FILE_NOT_FOUND, FILE_NOT_READY,
RULE_SET_NOT_FOUND, DATA_SOURCE_NOT_FOUND, RULE_FIELD_MISSING, CRON_INVALID, TIMEZONE_INVALID) and
warnings (STEP_TARGET_FILE_LARGE, STEP_OUTPUT_UNUSED), each naming the step and the field.
Creating or updating a stream refuses a definition with errors; the only difference from
`POST /streams/{id}/validate` is that a file still PROCESSING is accepted at save time (its upload
may finish before the first run) and reported by validate.
"""
from __future__ import annotations

import json
import re
from enum import Enum
from typing import Annotated, Any, Optional

from pydantic import AfterValidator, AliasGenerator, BaseModel, ConfigDict, Field, StrictBool, StrictInt
from pydantic_core import PydanticCustomError
from pydantic.alias_generators import to_camel

from chalicelib.streams.defs_errors import Issue

MAX_STEPS = 50
LARGE_TARGET_ROWS = 1_000_000


def _not_blank(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("INVALID_VALUE", "must not be blank")
    return value


# a name a person reads in lists: 1..200 characters, not only white space
Name = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_not_blank)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=AliasGenerator(validation_alias=to_camel,
                                                                          serialization_alias=to_camel),
                              validate_by_alias=True, validate_by_name=False)


class StreamStatus(str, Enum):
    ACTIVE = "ACTIVE"
    PAUSED = "PAUSED"
    ARCHIVED = "ARCHIVED"


class TriggerType(str, Enum):
    MANUAL = "MANUAL"
    SCHEDULED = "SCHEDULED"
    EVENT = "EVENT"


class InputType(str, Enum):
    FILE = "FILE"
    STEP_OUTPUT_UNMATCHED_SOURCE = "STEP_OUTPUT_UNMATCHED_SOURCE"
    STEP_OUTPUT_UNMATCHED_TARGET = "STEP_OUTPUT_UNMATCHED_TARGET"
    DATA_SOURCE_SNAPSHOT = "DATA_SOURCE_SNAPSHOT"


class StepInput(_In):
    type: InputType = Field(description="FILE: id = file id; STEP_OUTPUT_UNMATCHED_SOURCE/_TARGET: id = the "
                                        "step order of an earlier step; DATA_SOURCE_SNAPSHOT: id = data source id")
    id: StrictInt = Field(ge=1, le=2**63 - 1)


class StepConfig(_In):
    continue_on_failure: StrictBool = Field(default=False, description="After the last failed attempt, go on with the "
                                      "steps that do not need this step's output (run ends PARTIAL_FAILED)")
    max_retries: StrictInt = Field(default=0, ge=0, le=10, description="Retries after a failed attempt (with backoff)")


def _step_order(value: int) -> int:
    # platform §5: orders outside 1..n are STEP_ORDER_INVALID, whichever end they miss (0 as well as a gap)
    if not 1 <= value <= MAX_STEPS:
        raise PydanticCustomError("STEP_ORDER_INVALID",
                                  "step orders must be 1..n without gaps, n the number of steps (got {got})",
                                  {"got": value})
    return value


class StepIn(_In):
    step_order: Annotated[StrictInt, AfterValidator(_step_order)] = Field(
        description="1..n without gaps", json_schema_extra={"minimum": 1, "maximum": MAX_STEPS})
    name: Name
    source_input: StepInput
    target_input: StepInput
    rule_set_id: StrictInt = Field(ge=1, le=2**63 - 1)
    config: StepConfig = Field(default_factory=StepConfig)


class StreamIn(_In):
    """A stream definition (create and PUT)."""

    name: Name
    description: Optional[str] = Field(default=None, max_length=2000)
    domain: Optional[str] = Field(default=None, min_length=1, max_length=50, pattern=r"^[A-Za-z0-9_\-]+$",
                                  examples=["ECOMMERCE"])
    trigger_type: TriggerType = TriggerType.MANUAL
    trigger_config: Optional[dict[str, Any]] = Field(
        default=None, description="SCHEDULED: {cron (six fields, seconds first), timezone (IANA, default UTC)}; "
                                  "EVENT: {event: FILE_UPLOADED, filenamePattern, bind: {stepOrder, input: SOURCE|TARGET}}"
                                  " or {event: STREAM_RUN_COMPLETED, streamId}; MANUAL: none")
    steps: list[StepIn] = Field(min_length=1, max_length=MAX_STEPS)

    @classmethod
    def problems_beyond_shape(cls, raw: Any) -> list[Issue]:
        """Asked by the API layer when the body fails validation, so the 400 lists these problems too."""
        return problems_beyond_shape(raw)


# ------------------------------------------------------------------------------------- triggers


def _cron_problems(cron: Any, tz: Any) -> list[Issue]:
    """Six fields, seconds first and a single value, IANA time zone: the scheduler's own rules."""
    from chalicelib.streams import schedules

    return [Issue(f, c, m) for f, c, m in schedules.validate_cron(cron, tz)]


def _tz_ok(tz: str) -> bool:
    from chalicelib.streams import schedules   # the scheduler's own reading of a zone name

    try:
        schedules._zone(tz)
        return True
    except schedules.CronError:
        return False


_JSON_KINDS = {str: "a string", int: "an integer"}


def _json_kind(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    return {str: "string", int: "number", float: "number", dict: "object", list: "array"}.get(type(v), type(v).__name__)


def _config_value(config: dict, key: str, kind: type, what: str, valid, invalid: str, *,
                  prefix: str = "triggerConfig") -> list[Issue]:
    """A key of a trigger config: present (REQUIRED), of its JSON type (INVALID_TYPE), valid (INVALID_VALUE)."""
    field = f"{prefix}.{key}"
    if key not in config or config[key] is None:
        return [Issue(field, "REQUIRED", f"is required: {what}")]
    v = config[key]
    if not isinstance(v, kind) or isinstance(v, bool):
        return [Issue(field, "INVALID_TYPE", f"must be {_JSON_KINDS[kind]} (got {_json_kind(v)})")]
    if not valid(v):
        return [Issue(field, "INVALID_VALUE", f"{invalid} (got {json.dumps(v, ensure_ascii=False)})")]
    return []


def trigger_problems(trigger_type: str, config: dict | None, step_orders: set[int]) -> list[Issue]:
    config = config or {}
    out: list[Issue] = []
    if trigger_type == "MANUAL":
        if config:
            out.append(Issue("triggerConfig", "INVALID_VALUE", "a MANUAL stream takes no triggerConfig"))
        return out
    if trigger_type == "SCHEDULED":
        allowed = {"cron", "timezone"}
        for k in config:
            if k not in allowed:
                out.append(Issue(f"triggerConfig.{k}", "UNKNOWN_FIELD", "is not a known field (cron, timezone)"))
        if "cron" not in config:
            out.append(Issue("triggerConfig.cron", "CRON_INVALID", "is required for a SCHEDULED stream"))
            if "timezone" in config and not (isinstance(config["timezone"], str) and _tz_ok(config["timezone"])):
                out.append(Issue("triggerConfig.timezone", "TIMEZONE_INVALID",
                                 f"{json.dumps(config['timezone'])} is not an IANA time zone name"))
            return out
        tz = config.get("timezone", "UTC")
        if not isinstance(tz, str) or not tz.strip():
            # an explicit empty or non-string zone is not "the default"
            out.append(Issue("triggerConfig.timezone", "TIMEZONE_INVALID",
                             f"{json.dumps(tz)} is not an IANA time zone name"))
            return out + [i for i in _cron_problems(config["cron"], "UTC") if i.code != "TIMEZONE_INVALID"]
        return out + _cron_problems(config["cron"], tz)
    # EVENT: a missing key is REQUIRED, a value of the wrong JSON type INVALID_TYPE, values shown as JSON
    event = config.get("event")
    if event == "FILE_UPLOADED":
        allowed = {"event", "filenamePattern", "bind"}
        pattern = config.get("filenamePattern")
        if isinstance(pattern, str) and not 1 <= len(pattern) <= 255:
            # the length codes of every other text field (TOO_SHORT / TOO_LONG), not INVALID_VALUE
            out.append(Issue("triggerConfig.filenamePattern", "TOO_SHORT" if not pattern else "TOO_LONG",
                             "must be at least 1 character(s)" if not pattern else "must be at most 255 characters"))
        else:
            out += _config_value(config, "filenamePattern", str, "a filename pattern such as bank_*.csv",
                                 lambda v: True, "")
        bind = config.get("bind")
        if "bind" not in config or bind is None:
            out.append(Issue("triggerConfig.bind", "REQUIRED",
                             "is required: {stepOrder, input: SOURCE|TARGET} (the input the uploaded file replaces)"))
        elif not isinstance(bind, dict):
            out.append(Issue("triggerConfig.bind", "INVALID_TYPE", f"must be an object (got {_json_kind(bind)})"))
        else:
            for k in bind:
                if k not in ("stepOrder", "input"):
                    out.append(Issue(f"triggerConfig.bind.{k}", "UNKNOWN_FIELD", "is not a known field (stepOrder, input)"))
            out += _config_value(bind, "stepOrder", int, "the order of the step whose input the file replaces",
                                 lambda v: v in step_orders, "must be the order of one of the stream's steps",
                                 prefix="triggerConfig.bind")
            out += _config_value(bind, "input", str, "SOURCE or TARGET", lambda v: v in ("SOURCE", "TARGET"),
                                 "must be one of SOURCE or TARGET", prefix="triggerConfig.bind")
    elif event == "STREAM_RUN_COMPLETED":
        allowed = {"event", "streamId"}
        out += _config_value(config, "streamId", int, "the id of the stream to follow", lambda v: v >= 1,
                             "must be a positive integer id")
    else:
        allowed = {"event"}
        out += _config_value(config, "event", str, "FILE_UPLOADED or STREAM_RUN_COMPLETED", lambda v: False,
                             "must be one of FILE_UPLOADED or STREAM_RUN_COMPLETED")
    for k in config:
        if k not in allowed and event in ("FILE_UPLOADED", "STREAM_RUN_COMPLETED"):
            out.append(Issue(f"triggerConfig.{k}", "UNKNOWN_FIELD", "is not a known field"))
    return out


# ---------------------------------------------------------------------------------------- steps


def step_order_problems(orders: list[int]) -> list[Issue]:
    """STEP_ORDER_INVALID: the orders of n steps are 1..n, without gaps or repeats."""
    errors: list[Issue] = []
    expected = list(range(1, len(orders) + 1))
    if sorted(orders) != expected:
        seen: set[int] = set()
        for i, o in enumerate(orders):
            if o in seen:
                errors.append(Issue(f"steps[{i}].stepOrder", "STEP_ORDER_INVALID",
                                    f"Step {o}: step order {o} is used twice (orders must be 1..{len(orders)})"))
            elif o > len(orders):
                errors.append(Issue(f"steps[{i}].stepOrder", "STEP_ORDER_INVALID",
                                    f"Step {o}: step orders must be 1..{len(orders)} without gaps (got {o})"))
            seen.add(o)
        missing = [o for o in expected if o not in seen]
        if missing and not errors:
            errors.append(Issue("steps", "STEP_ORDER_INVALID", f"step orders must be 1..{len(orders)} without gaps "
                                                               f"(missing {', '.join(map(str, missing))})"))
    return errors


def problems_beyond_shape(raw: Any) -> list[Issue]:
    """The definition's own rules that can still be checked on a body whose shape is wrong elsewhere:
    the trigger (cron, time zone, event keys) and the step orders. A 400 lists every problem (platform
    §1), so a missing step name does not hide an invalid cron."""
    if not isinstance(raw, dict):
        return []
    out: list[Issue] = []
    steps = raw.get("steps")
    orders = None
    if isinstance(steps, list) and steps and all(isinstance(s, dict) for s in steps):
        got = [s.get("stepOrder") for s in steps]
        if all(type(o) is int and 1 <= o <= MAX_STEPS for o in got) and len(got) <= MAX_STEPS:
            orders = got
            out += [Issue(i.field, i.code, re.sub(r"^Step \d+: ", "", i.message)) for i in step_order_problems(orders)]
    ttype = raw.get("triggerType", "MANUAL")
    config = raw.get("triggerConfig")
    if ttype in ("MANUAL", "SCHEDULED", "EVENT") and (config is None or isinstance(config, dict)):
        for issue in trigger_problems(ttype, config, set(orders or ())):
            # a bound step order is checked against the steps only when their orders could be read
            if issue.field == "triggerConfig.bind.stepOrder" and issue.code == "INVALID_VALUE" and orders is None:
                continue
            out.append(issue)
    return out


def _step_label(i: int, step: dict) -> str:
    return f"Step {step.get('step_order', i + 1)}"


def check_definition(defn: dict, *, files: dict[int, dict], rule_sets: dict[int, dict],
                     data_sources: dict[int, dict], streams: set[int] | None = None,
                     strict_ready: bool = True, self_id: int | None = None,
                     describe_sources: bool = False) -> tuple[list[Issue], list[Issue]]:
    """(errors, warnings) of a definition in snake_case form:
    {trigger_type, trigger_config, steps: [{step_order, name, source_input: {type, id}, target_input, rule_set_id}]}.

    `files`, `rule_sets`, `data_sources`: the referenced objects that exist (by id); `streams`: existing
    stream ids (EVENT STREAM_RUN_COMPLETED). `strict_ready=False` accepts PROCESSING files (save time).
    `describe_sources` (POST /streams/{id}/validate): each POSTGRES data source is read as its connection test
    does (columns, no rows), so that its columns are checked against the rule set (RULE_FIELD_MISSING) and a
    source that cannot be read now is a DATA_SOURCE_UNREADABLE warning; saving never connects to sources.
    """
    warnings: list[Issue] = []
    steps = defn["steps"]
    orders = [s["step_order"] for s in steps]
    errors: list[Issue] = step_order_problems(orders)
    by_order = {s["step_order"]: s for s in steps}

    # trigger
    errors += trigger_problems(defn["trigger_type"], defn.get("trigger_config"), set(orders))
    tc = defn.get("trigger_config") or {}
    if defn["trigger_type"] == "EVENT" and tc.get("event") == "STREAM_RUN_COMPLETED" and streams is not None:
        sid = tc.get("streamId")
        if isinstance(sid, int) and not isinstance(sid, bool) and sid >= 1:
            errors += stream_problems(sid, self_id, streams)

    # columns of each step's inputs, resolved in order (None = unknown)
    columns: dict[tuple[int, str], Optional[list[str]]] = {}
    used_outputs: set[int] = set()

    described: dict[int, dict] = {}

    def input_columns(inp: dict, at_order: int, fld: str = "", label: str = "", side: str = "") -> Optional[list[str]]:
        t, ref = inp["type"], inp["id"]
        if t == "FILE":
            f = files.get(ref)
            if f and f["status"] == "READY" and f.get("columns") is not None:
                return [c["name"] for c in f["columns"]]
            return None
        if t == "DATA_SOURCE_SNAPSHOT":
            ds = data_sources.get(ref)
            if ds and ds["type"] == "CDC_TABLE":
                return _cdc_columns(ds["config"].get("table"))
            if ds and describe_sources:
                from chalicelib.streams import data_sources as sources

                got = described.get(ref) or described.setdefault(ref, sources.test(ds))
                if got["ok"]:
                    return [c["name"] for c in got["columns"]]
                warnings.append(Issue(f"{fld}.id", "DATA_SOURCE_UNREADABLE",
                                      f"{label}: {side} data source {ref} cannot be read now: {got['errorMessage']}"))
            return None
        side = "source" if t == "STEP_OUTPUT_UNMATCHED_SOURCE" else "target"
        if ref < at_order and ref in by_order:
            return columns.get((ref, side))
        return None

    for i, step in sorted(enumerate(steps), key=lambda p: p[1]["step_order"]):
        order = step["step_order"]
        label = f"Step {order}"
        for side, key in (("source", "source_input"), ("target", "target_input")):
            inp = step[key]
            fld = f"steps[{i}].{to_camel(key)}"
            t, ref = inp["type"], inp["id"]
            if t == "FILE":
                f = files.get(ref)
                errors += file_problems(f"{fld}.id", label, side, ref, f, strict_ready)
                if f and f["status"] == "READY" and side == "target" and (f.get("row_count") or 0) > LARGE_TARGET_ROWS:
                    warnings.append(Issue(f"{fld}.id", "STEP_TARGET_FILE_LARGE",
                                          f"{label} target file has {_rows(f['row_count'])} rows; consider schedule window."))
            elif t == "DATA_SOURCE_SNAPSHOT":
                errors += data_source_problems(f"{fld}.id", label, ref, data_sources)
            else:
                if ref >= order:
                    errors.append(Issue(f"{fld}.id", "STEP_INPUT_FORWARD_REFERENCE",
                                        f"{label}: {t} must name an earlier step order (got {ref}, this step is {order})"))
                elif ref not in by_order:
                    errors.append(Issue(f"{fld}.id", "STEP_INPUT_FORWARD_REFERENCE",
                                        f"{label}: {t} names step {ref}, which does not exist"))
                else:
                    used_outputs.add(ref)
            columns[(order, side)] = input_columns(inp, order, fld, label, side)
        rs = rule_sets.get(step["rule_set_id"])
        errors += rule_set_problems(f"steps[{i}].ruleSetId", label, step["rule_set_id"], rule_sets)
        if rs is not None:
            src, tgt = columns[(order, "source")], columns[(order, "target")]
            if src is not None or tgt is not None:
                errors += _column_issues(i, label, rs, src, tgt)

    # STEP_OUTPUT_UNUSED: a step before the last whose unmatched rows no later step reads
    last = max(orders) if orders else 0
    for i, step in enumerate(steps):
        o = step["step_order"]
        if o < last and o not in used_outputs:
            warnings.append(Issue(f"steps[{i}]", "STEP_OUTPUT_UNUSED",
                                  f"Step {o}: its unmatched rows are not used by any later step"))
    return errors, warnings


def file_problems(fld: str, label: str, side: str, ref: int, f: dict | None, strict_ready: bool) -> list[Issue]:
    """A step's reference to a file: missing, INVALID, or (strict_ready) not READY yet."""
    if f is None:
        return [Issue(fld, "FILE_NOT_FOUND", f"{label}: {side} file {ref} not found")]
    if f["status"] == "INVALID":
        return [Issue(fld, "FILE_NOT_READY", f"{label}: {side} file {ref} is INVALID ({f.get('error_message') or 'unreadable'})")]
    if f["status"] != "READY" and strict_ready:
        return [Issue(fld, "FILE_NOT_READY", f"{label}: {side} file {ref} is still PROCESSING")]
    return []


def data_source_problems(fld: str, label: str, ref: int, existing: dict) -> list[Issue]:
    return [] if ref in existing else [Issue(fld, "DATA_SOURCE_NOT_FOUND", f"{label}: data source {ref} not found")]


def rule_set_problems(fld: str, label: str, ref: int, existing: dict) -> list[Issue]:
    return [] if ref in existing else [Issue(fld, "RULE_SET_NOT_FOUND", f"{label}: rule set {ref} not found")]


def stream_problems(sid: int, self_id: int | None, existing: set[int]) -> list[Issue]:
    """The stream an EVENT STREAM_RUN_COMPLETED trigger follows."""
    if sid == self_id:
        return [Issue("triggerConfig.streamId", "INVALID_VALUE", "a stream cannot follow itself")]
    return [] if sid in existing else [Issue("triggerConfig.streamId", "STREAM_NOT_FOUND", f"stream {sid} not found")]


def _rows(n: int) -> str:
    if n >= 1_000_000_000:
        return f"{n / 1_000_000_000:.1f}B"
    return f"{n / 1_000_000:.1f}M" if n >= 1_000_000 else str(n)


def _cdc_columns(table: str | None) -> Optional[list[str]]:
    try:
        from chalicelib.cdc.catalog import get_catalog

        t = get_catalog().tables.get(table)
    except Exception:
        return None
    return list(t.columns) if t else None


def _column_issues(i: int, label: str, rule_set_row: dict, src, tgt) -> list[Issue]:
    from chalicelib.matching.rules import RuleSet, check_columns

    try:
        rs = RuleSet.model_validate(rule_set_row["definition"])
    except Exception:
        return []
    out = []
    for p in check_columns(rs, src if src is not None else [], tgt if tgt is not None else []):
        if (p.side == "source" and src is None) or (p.side == "target" and tgt is None):
            continue
        out.append(Issue(f"steps[{i}].ruleSetId", "RULE_FIELD_MISSING",
                         f"{label}: rule set {rule_set_row['rule_set_id']} {p.field} reads column '{p.column}', "
                         f"absent from the {p.side} input (columns: {', '.join(p.available)})"))
    return out
