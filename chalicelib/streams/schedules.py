"""SCHEDULED streams: six-field, seconds-first cron in an IANA time zone, and the dispatcher.

`triggerConfig: {"cron": "0 30 2 * * *", "timezone": "Europe/Berlin"}` — second minute hour
day-of-month month day-of-week; `*`, lists, ranges, steps, `?` and month/day names; the seconds
field is a single value (at most one run a minute). A day runs when it matches day-of-month AND
day-of-week ('0 0 6 1-7 * MON': the first Monday of the month), as in Spring's six-field cron.

Occurrences are computed on the local wall clock (cronsim over naive local times, the five
minute-and-up fields; the seconds added), then placed on the time line with zoneinfo:
- a local time that does not exist (spring-forward gap) runs at the first instant after the gap;
  several such times collapse into that one instant;
- a local time that occurs twice (fall-back) runs once, at its first occurrence (fold=0): the naive
  wall clock only passes it once.

The dispatcher (`dispatch`) runs on the one-minute EventBridge tick (rule `recon-stream-schedule`
→ queue `recon-stream-ticks`), and at the instant of each occurrence: every tick, and every save or
resume of a SCHEDULED stream, sends a delayed wake-up message (`{"wake": instant, "streamIds": [...]}`)
to the same queue for each occurrence due before the next tick (`send_wakeups`), so a run starts at its
occurrence, not up to a minute after it; a wake-up dispatches only the streams it names. For each ACTIVE SCHEDULED stream it looks at the occurrences in
(cursor, now] — at most 24 hours back — and claims each (stream, occurrence) once in PostgreSQL
(`recon.stream_schedule_claims`, primary key), however many dispatchers run. A claimed occurrence
starts a run; occurrences missed while the service was down are run once, the latest of them,
recorded as late (the others are recorded as superseded); one that meets an active run is skipped
and recorded.
"""
from __future__ import annotations

import functools
import json
from datetime import date, datetime, timedelta, timezone
from typing import Iterator
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from chalicelib.observability import logger

CATCH_UP = timedelta(hours=24)
WAKE_AHEAD = timedelta(seconds=75)   # occurrences before the next one-minute tick (and its jitter) get a wake-up
MAX_WAKEUPS = 60                     # distinct instants woken per look-ahead
TICK_QUEUE = "recon-stream-ticks"
LATE_AFTER = timedelta(seconds=90)   # an occurrence claimed later than this after its instant is late
NEXT_RUN_HORIZON = timedelta(days=29 * 366)   # nextRunAt looks this far ahead
_MAX_SCAN = 100_000                  # occurrences looked at in one window (a per-minute cron over 24 h: 1440)
UTC = timezone.utc


class CronError(ValueError):
    def __init__(self, field: str, code: str, message: str):
        super().__init__(message)
        self.field, self.code, self.message = field, code, message


# Bounds before parsing: what is stored with the stream and quoted in messages stays short. The longest
# IANA name is 32 characters; a six-field cron with a list in every field fits in 200.
MAX_CRON_LENGTH = 200
MAX_TIMEZONE_LENGTH = 64


def _zone(tz: str | None) -> ZoneInfo:
    name = "UTC" if tz is None else tz
    if not isinstance(name, str):
        kind = {bool: "boolean", int: "number", float: "number", list: "array", dict: "object"}.get(type(name), "other")
        raise CronError("triggerConfig.timezone", "TIMEZONE_INVALID",
                        f"must be an IANA time zone name such as Europe/Berlin (got {kind})")
    # the zone database's files that are not zone names: the machine's own zone (localtime), the POSIX
    # default rules, and the posix/ and right/ copies of the database that some systems install
    if len(name) > MAX_TIMEZONE_LENGTH:
        raise CronError("triggerConfig.timezone", "TIMEZONE_INVALID",
                        f"is {len(name)} characters long: not an IANA time zone name (e.g. Europe/Berlin)")
    if not _zone_file_name(name):
        raise CronError("triggerConfig.timezone", "TIMEZONE_INVALID",
                        f"{json.dumps(tz)} is not an IANA time zone name (e.g. Europe/Berlin)")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        meant = _zone_names_folded().get(name.strip().casefold())
        raise CronError("triggerConfig.timezone", "TIMEZONE_INVALID",
                        f"{json.dumps(tz)} is not an IANA time zone name; did you mean {json.dumps(meant)}?"
                        if meant else
                        f"{json.dumps(tz)} is not an IANA time zone name (e.g. Europe/Berlin)") from None


def _zone_file_name(name: str) -> bool:
    return not (not name or name.startswith("/") or ".." in name or name in ("localtime", "posixrules")
                or name.split("/", 1)[0] in ("posix", "right"))


@functools.lru_cache(maxsize=1)
def _zone_names_folded() -> dict[str, str]:
    """The zone names by their case-folded spelling: "europe/berlin" or "utc " was meant as one of them."""
    import zoneinfo

    return {n.casefold(): n for n in sorted(zoneinfo.available_timezones()) if _zone_file_name(n)}


def _parse(expr: str) -> tuple[int, str]:
    """(second, five-field cronsim expression); CronError naming the problem."""
    field = "triggerConfig.cron"
    if expr is not None and not isinstance(expr, str):
        kind = {bool: "boolean", int: "number", float: "number", list: "array", dict: "object"}.get(type(expr), "other")
        raise CronError(field, "CRON_INVALID", f"must be a string of six fields, seconds first (e.g. '0 30 2 * * *'), "
                                               f"got {kind}")
    if expr is not None and len(expr) > MAX_CRON_LENGTH:
        raise CronError(field, "CRON_INVALID", f"is {len(expr)} characters long; a cron has at most {MAX_CRON_LENGTH} "
                                               "(six fields, seconds first, e.g. '0 30 2 * * *')")
    if expr is None or not expr.strip():
        raise CronError(field, "CRON_INVALID", "cron is required: six fields, seconds first (e.g. '0 30 2 * * *')")
    parts = expr.split()
    if len(parts) != 6:
        raise CronError(field, "CRON_INVALID", f"cron has {len(parts)} field(s); six are needed: second minute hour "
                                               "day-of-month month day-of-week (e.g. '0 30 2 * * *')")
    sec = parts[0]
    if not (sec.isascii() and sec.isdigit()) or not 0 <= int(sec) <= 59:
        raise CronError(field, "CRON_INVALID", f"the seconds field must be a single value 0-59 (at most one run a "
                                               f"minute), got '{sec}'")
    minute, hour, dom, month, dow = parts[1:]
    # '?' means "no specific value" (Quartz style): the same as '*' here
    dom = "*" if dom == "?" else dom
    dow = "*" if dow == "?" else dow
    five = " ".join((minute, hour, dom, month, dow))
    try:
        _cron(five, datetime(2000, 1, 1))
    except CronSimError as exc:
        raise CronError(field, "CRON_INVALID", f"invalid cron '{expr}': {_cron_problem(str(exc), parts)}") from None
    if not _some_day_matches(five):
        raise CronError(field, "CRON_INVALID", f"invalid cron '{expr}': no day has both day-of-month '{dom}' and "
                                               f"day-of-week '{dow}' (in month '{month}')")
    return int(sec), five


# cronsim says "Bad minute", "Bad day-of-month", ...: the field's value and what it takes
_CRON_FIELDS = {"minute": (1, "0-59"), "hour": (2, "0-23"), "day-of-month": (3, "1-31 or L"),
                "month": (4, "1-12 or JAN-DEC"), "day-of-week": (5, "0-7 or SUN-SAT")}


def _cron_problem(message: str, parts: list[str]) -> str:
    name = message.removeprefix("Bad ").strip()
    if name not in _CRON_FIELDS:
        return message
    index, allowed = _CRON_FIELDS[name]
    value = parts[index]
    if name == "day-of-month":
        try:   # a day each month cannot have: 30 in February, 31 in April
            _cron(" ".join(["0", "0", "*" if value == "?" else value, "*", "*"]), datetime(2000, 1, 1))
            return f"day-of-month '{value}' never occurs in month '{parts[4]}'"
        except CronSimError:
            pass
    return f"the {name} field '{value}' is not valid ({allowed}, with lists, ranges and steps)"


def _cron(five: str, start: datetime) -> CronSim:
    """cronsim over five fields, a day matching when it satisfies day-of-month AND day-of-week (the
    six-field, seconds-first cron of Spring: '0 0 6 1-7 * MON' is the first Monday of the month; Vixie
    cron, cronsim's default, would run on days 1-7 and on every Monday)."""
    sim = CronSim(five, start)
    sim.day_and = True
    return sim


@functools.lru_cache(maxsize=1024)
def _some_day_matches(five: str) -> bool:
    """Whether any day satisfies both day fields (and the month field): '0 0 0 1 * MON#2' never does, and
    cronsim would look for it without end. 28 years from 2000 hold every weekday of every date, 29 February
    included, as every 28 years of 1901-2099 do."""
    sim = _cron(five, datetime(2000, 1, 1))
    day, end = date(2000, 1, 1), date(2028, 1, 1)
    while day < end:
        if day.month in sim.months and sim.match_day(day):
            return True
        day += timedelta(days=1)
    return False


def validate_cron(expr, tz) -> list[tuple[str, str, str]]:
    """Every problem of a cron + time zone as (field, code, message); [] when valid."""
    problems = []
    for check in (lambda: _parse(expr), lambda: _zone(tz)):
        try:
            check()
        except CronError as exc:
            problems.append((exc.field, exc.code, exc.message))
    return problems


def _to_instant(naive: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant of a local wall-clock time: first occurrence when repeated, first instant after
    the gap when it does not exist."""
    first = naive.replace(tzinfo=zone, fold=0)
    utc = first.astimezone(UTC)
    if utc.astimezone(zone).replace(tzinfo=None) == naive:
        return utc
    # in a gap: the transition lies between the two readings of the wall-clock time
    lo = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    hi = utc
    if lo > hi:
        lo, hi = hi, lo
    off_after = hi.astimezone(zone).utcoffset()
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        if mid.astimezone(zone).utcoffset() == off_after:
            hi = mid
        else:
            lo = mid
    return hi.replace(microsecond=0)


def occurrences(trigger_config: dict, after: datetime, until: datetime) -> Iterator[datetime]:
    """Occurrence instants (aware UTC) in (after, until], in order, each once."""
    second, five = _parse(trigger_config.get("cron"))
    zone = _zone(trigger_config.get("timezone"))
    after, until = after.astimezone(UTC), until.astimezone(UTC)
    # start the wall clock a little before `after` (a gap maps earlier wall times to later instants)
    start = (after.astimezone(zone).replace(tzinfo=None) - timedelta(hours=3)).replace(second=0, microsecond=0)
    last = None
    for n, local in enumerate(_cron(five, start - timedelta(minutes=1))):
        if n > _MAX_SCAN:
            break
        instant = _to_instant(local.replace(second=second), zone)
        if instant <= after or instant == last:
            if local > until.astimezone(zone).replace(tzinfo=None) + timedelta(hours=3):
                break
            continue
        if instant > until:
            break
        last = instant
        yield instant


def next_run_at(trigger_config: dict, after: datetime | None = None) -> datetime | None:
    """The next occurrence after `after` (default now), or None when the config is not a valid schedule."""
    after = after or datetime.now(UTC)
    try:
        # a cron that names a leap day (with a weekday, one in up to 28 years) still has a next occurrence
        return next(occurrences(trigger_config or {}, after, after + NEXT_RUN_HORIZON), None)
    except CronError:
        return None


# ------------------------------------------------------------------------------------- dispatcher


def upcoming(streams: list[dict], now: datetime, ahead: timedelta = WAKE_AHEAD) -> dict[datetime, list[int]]:
    """{instant: [stream ids due then]} for the occurrences in (now, now + ahead] of these streams'
    schedules, instants in order (at most MAX_WAKEUPS of them)."""
    due: dict[datetime, list[int]] = {}
    for stream in streams:
        try:
            for instant in occurrences(stream.get("trigger_config") or {}, now, now + ahead):
                due.setdefault(instant, []).append(stream["stream_id"])
        except CronError:
            continue
    return {instant: due[instant] for instant in sorted(due)[:MAX_WAKEUPS]}


def send_wakeups(streams: list[dict] | None = None, now: datetime | None = None) -> int:
    """Ask for a dispatch at each occurrence due before the next tick (a delayed `{"wake": instant,
    "streamIds": [...]}` on the tick queue, one second after the instant: it dispatches those streams
    only); `streams` default: every ACTIVE SCHEDULED stream. Never raises: without the wake-up the next
    tick still starts the run. Returns the number sent."""
    from chalicelib import aws

    try:
        if streams is None:
            from chalicelib.streams import definitions

            streams = definitions.active_streams("SCHEDULED")
        now = (now or datetime.now(UTC)).astimezone(UTC)
        sent = 0
        due = upcoming([s for s in streams if s.get("status", "ACTIVE") == "ACTIVE"
                        and s.get("trigger_type", "SCHEDULED") == "SCHEDULED"], now)
        for instant, stream_ids in due.items():
            delay = min(900, max(0, int((instant - now).total_seconds()) + 1))
            aws.send_message(TICK_QUEUE, {"wake": instant.isoformat().replace("+00:00", "Z"),
                                          "streamIds": stream_ids}, delay_seconds=delay)
            sent += 1
        return sent
    except Exception:
        logger.exception("schedule wake-ups could not be sent (the next tick dispatches instead)")
        return 0


def restart_from_now(stream_id: int, conn) -> None:
    """The stream's schedule counts from now: occurrences before it (while it was paused, or of the
    schedule it replaced) are not caught up. Catch-up is for time the service was down."""
    conn.execute("INSERT INTO recon.stream_schedule_cursors (stream_id, checked_until) VALUES (%s, now())"
                 " ON CONFLICT (stream_id) DO UPDATE SET checked_until ="
                 " greatest(recon.stream_schedule_cursors.checked_until, excluded.checked_until)", (stream_id,))


def dispatch(now: datetime | None = None, stream_ids: list[int] | None = None) -> list[dict]:
    """Claim and start due occurrences of every ACTIVE SCHEDULED stream (or of those of `stream_ids`, a
    wake-up's); what was done, per claim."""
    from chalicelib.db.pool import transaction
    from chalicelib.streams import definitions

    with transaction() as conn:
        db_now = conn.execute("SELECT now() AS now").fetchone()["now"]
    now = (now or db_now).astimezone(UTC)
    done: list[dict] = []
    wanted = None if stream_ids is None else set(stream_ids)
    for stream in definitions.active_streams("SCHEDULED"):
        if wanted is not None and stream["stream_id"] not in wanted:
            continue
        try:
            done.extend(_dispatch_stream(stream, now))
        except Exception:
            logger.exception("schedule dispatch failed for a stream", extra={"stream_id": stream["stream_id"]})
    return done


def _dispatch_stream(stream: dict, now: datetime) -> list[dict]:
    from chalicelib.db.pool import transaction

    sid = stream["stream_id"]
    with transaction() as conn:
        row = conn.execute("SELECT checked_until FROM recon.stream_schedule_cursors WHERE stream_id = %s",
                           (sid,)).fetchone()
    since = row["checked_until"] if row else stream["updated_at"]
    since = max(since.astimezone(UTC), now - CATCH_UP)
    try:
        due = list(occurrences(stream["trigger_config"] or {}, since, now))
    except CronError as exc:
        logger.warning("stream has an invalid schedule", extra={"stream_id": sid, "error": exc.message})
        due = []
    out = []
    if due:
        *superseded, latest = due
        for occ in superseded:
            out.append(_claim(sid, occ, now, run=False, detail="superseded by a later missed occurrence"))
        out.append(_claim(sid, latest, now, run=True))
    with transaction() as conn:
        conn.execute("INSERT INTO recon.stream_schedule_cursors (stream_id, checked_until) VALUES (%s, %s)"
                     " ON CONFLICT (stream_id) DO UPDATE SET checked_until ="
                     " greatest(recon.stream_schedule_cursors.checked_until, excluded.checked_until)", (sid, now))
    return [o for o in out if o]


def _claim(stream_id: int, occurrence: datetime, now: datetime, *, run: bool, detail: str | None = None
           ) -> dict | None:
    from chalicelib.db.pool import transaction
    from chalicelib.streams import runs

    late = now - occurrence > LATE_AFTER
    result = {"streamId": stream_id, "occurrence": occurrence, "late": late, "outcome": "STARTED" if run else
              "SKIPPED_RUN_ACTIVE", "runId": None}
    metadata = {"schedule": {"occurrence": occurrence.isoformat().replace("+00:00", "Z"), "late": late}}
    # the claim, the run and the claim's outcome commit together: a dispatcher that dies in between
    # (or loses its connection) leaves nothing, so the next tick claims the occurrence again (its
    # cursor was not moved) instead of a claim without a run
    with transaction() as conn:
        claimed = conn.execute(
            "INSERT INTO recon.stream_schedule_claims (stream_id, occurrence_at, late, outcome, detail)"
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING stream_id",
            (stream_id, occurrence, late, result["outcome"], detail)).fetchone()
        if claimed is None:
            return None   # another dispatcher has it
        if not run:
            return result
        try:
            with conn.transaction():   # a savepoint: what create_run wrote goes if it fails
                result["runId"] = runs.create_run(stream_id, "SCHEDULED", metadata, start=False, conn=conn)["runId"]
        except runs.RunConflict as exc:
            result["outcome"] = "SKIPPED_RUN_ACTIVE" if "in progress" in str(exc) else "SKIPPED_NOT_ACTIVE"
            detail = str(exc)
        except Exception as exc:   # noqa: BLE001 — recorded once; a lost connection fails the update below too
            logger.exception("scheduled run could not be created", extra={"stream_id": stream_id})
            result["outcome"] = "FAILED"
            detail = f"{type(exc).__name__}: {exc}"[:500]
        conn.execute("UPDATE recon.stream_schedule_claims SET outcome = %s, run_id = %s, detail = %s"
                     " WHERE stream_id = %s AND occurrence_at = %s",
                     (result["outcome"], result["runId"], detail, stream_id, occurrence))
    failed = runs.start_created(result["runId"]) if result["runId"] is not None else None
    if failed is not None:   # the run is FAILED with the reason; the claim says so too
        with transaction() as conn:
            conn.execute("UPDATE recon.stream_schedule_claims SET outcome = 'FAILED', detail = %s"
                         " WHERE stream_id = %s AND occurrence_at = %s",
                         (f"{type(failed).__name__}: {failed}"[:500], stream_id, occurrence))
        result["outcome"] = "FAILED"
    return result


def recent_claims(stream_id: int, limit: int = 10, conn=None) -> list[dict]:
    """The stream's latest claimed occurrences, newest first: what ran, what was skipped and why
    (`{"occurrenceAt", "outcome", "late", "runId", "detail", "claimedAt"}`)."""
    from chalicelib.streams.defs_db import fetch_all, tx

    with tx(conn) as c:
        rows = fetch_all(c, "SELECT occurrence_at, outcome, late, run_id, detail, claimed_at"
                            " FROM recon.stream_schedule_claims WHERE stream_id = %s"
                            " ORDER BY occurrence_at DESC LIMIT %s", (stream_id, int(limit)))
    return [{"occurrenceAt": r["occurrence_at"], "outcome": r["outcome"], "late": r["late"], "runId": r["run_id"],
             "detail": r["detail"], "claimedAt": r["claimed_at"]} for r in rows]
