"""Discover the event sources a Chalice app declares, and compute schedule times.

The Chalice app object is the only list of handlers: ``app.event_sources`` holds
one config object per decorated handler (SQSEventConfig, ScheduledEventConfig,
...), and ``app.handler_map[name]`` is the callable Lambda would invoke.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, List, Optional, Tuple

log = logging.getLogger("infra.local.runner")


@dataclass(frozen=True)
class SqsSource:
    name: str  # handler name (key of app.handler_map)
    queue: str  # queue name
    batch_size: int
    maximum_batching_window: int
    maximum_concurrency: Optional[int]
    handler: Callable[..., Any]


@dataclass(frozen=True)
class ScheduleSource:
    name: str
    expression: str
    handler: Callable[..., Any]


def discover(app: Any) -> Tuple[List[SqsSource], List[ScheduleSource]]:
    """Return the SQS and schedule sources declared on ``app``.

    Sources the local runtime cannot drive (S3, SNS, Kinesis, DynamoDB, raw
    EventBridge patterns) are logged and skipped.
    """
    from chalice.app import ScheduledEventConfig, SQSEventConfig

    sqs: List[SqsSource] = []
    schedules: List[ScheduleSource] = []
    for source in getattr(app, "event_sources", []):
        handler = app.handler_map.get(source.name)
        if handler is None:  # pragma: no cover - Chalice always registers both
            raise RuntimeError("event source %r has no entry in app.handler_map" % source.name)
        if isinstance(source, SQSEventConfig):
            queue = source.queue or (source.queue_arn or "").rsplit(":", 1)[-1]
            sqs.append(
                SqsSource(
                    name=source.name,
                    queue=queue,
                    batch_size=int(source.batch_size),
                    maximum_batching_window=int(source.maximum_batching_window_in_seconds or 0),
                    maximum_concurrency=getattr(source, "maximum_concurrency", None),
                    handler=handler,
                )
            )
        elif isinstance(source, ScheduledEventConfig):
            expr = source.schedule_expression
            if not isinstance(expr, str):
                expr = expr.to_string()
            parse_schedule(expr)  # fail early on an expression we cannot run
            schedules.append(ScheduleSource(name=source.name, expression=expr, handler=handler))
        else:
            log.warning(
                "event source %s (%s) is not driven by the local runner",
                source.name, type(source).__name__,
            )
    return sqs, schedules


# --------------------------------------------------------------- schedules

_RATE_RE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$", re.I)
_CRON_RE = re.compile(r"^cron\((.*)\)$", re.I)
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


class Schedule:
    """Next fire times of an EventBridge ``rate(...)`` or ``cron(...)`` expression (UTC)."""

    def __init__(self, expression: str, period: Optional[timedelta], cron: Optional[str], year: str):
        self.expression = expression
        self.period = period
        self.cron = cron
        self.year = year

    def next_after(self, after: datetime, anchor: Optional[datetime] = None) -> datetime:
        """First fire time strictly after ``after``.

        Rates count from ``anchor`` (the runner's start, like a rule's creation).
        """
        if after.tzinfo is None:
            after = after.replace(tzinfo=timezone.utc)
        if self.period is not None:
            anchor = anchor or after
            if anchor.tzinfo is None:
                anchor = anchor.replace(tzinfo=timezone.utc)
            if after < anchor:
                return anchor + self.period
            elapsed = (after - anchor) // self.period
            return anchor + (elapsed + 1) * self.period
        from croniter import croniter

        it = croniter(self.cron, after)
        for _ in range(5000):
            candidate = it.get_next(datetime)
            if self._year_ok(candidate.year):
                return candidate
        raise ValueError("schedule %s never fires again after %s" % (self.expression, after))

    def _year_ok(self, year: int) -> bool:
        if self.year in ("*", "?"):
            return True
        for part in self.year.split(","):
            if "-" in part:
                lo, hi = part.split("-", 1)
                if int(lo) <= year <= int(hi):
                    return True
            elif "/" in part:
                start, step = part.split("/", 1)
                start_y = 1970 if start in ("*", "") else int(start)
                if year >= start_y and (year - start_y) % int(step) == 0:
                    return True
            elif int(part) == year:
                return True
        return False


def _aws_dow_to_cron(field: str) -> str:
    """EventBridge numbers days 1-7 from Sunday; croniter numbers them 0-6."""

    def shift(match: "re.Match[str]") -> str:
        return str(int(match.group(0)) - 1)

    if field in ("?", "*"):
        return "*"
    # Shift numbers that are days (not the N of '#N' nor a '/step').
    out = []
    for part in field.split(","):
        base, hash_sep, nth = part.partition("#")
        rng, slash, step = base.partition("/")
        rng = re.sub(r"\d+", shift, rng)
        out.append(rng + slash + step + hash_sep + nth)
    return ",".join(out)


def parse_schedule(expression: str) -> Schedule:
    expression = expression.strip()
    m = _RATE_RE.match(expression)
    if m:
        value, unit = int(m.group(1)), m.group(2).lower().rstrip("s")
        if value <= 0:
            raise ValueError("rate must be positive: %s" % expression)
        return Schedule(expression, timedelta(seconds=value * _UNIT_SECONDS[unit]), None, "*")
    m = _CRON_RE.match(expression)
    if m:
        fields = m.group(1).split()
        if len(fields) != 6:
            raise ValueError("cron() needs 6 fields (min hour dom month dow year): %s" % expression)
        minute, hour, dom, month, dow, year = fields
        dom = "*" if dom == "?" else dom
        cron = " ".join([minute, hour, dom, month, _aws_dow_to_cron(dow)])
        from croniter import croniter

        if not croniter.is_valid(cron):
            raise ValueError("unsupported cron expression: %s" % expression)
        return Schedule(expression, None, cron, year)
    raise ValueError("not a rate() or cron() expression: %r" % expression)
