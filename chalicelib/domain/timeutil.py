"""Instants as the API speaks them: ISO 8601 UTC with a `Z`, and date bounds given at a precision."""
from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

# the last instant a datetime can hold, as an aware UTC value
END_OF_TIME = datetime.max.replace(tzinfo=timezone.utc)


def iso_z(value: datetime | None) -> str | None:
    """ISO-8601 UTC with a `Z`, whole seconds (the contract's form: 2025-11-20T14:02:15Z)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


_DATE_ONLY = re.compile(r"^\d{4}(?:-\d{2}-\d{2}|\d{4})$")   # extended 2025-11-01 or basic 20251101
# the other ISO 8601 dates: a calendar month (2025-11), a week (2025-W45), a week day (2025-W45-3), an ordinal day
# (2025-305), each covering its whole period as a bound
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_WEEK = re.compile(r"^(\d{4})-?W(\d{2})(?:-?([1-7]))?$")
_ORDINAL = re.compile(r"^(\d{4})-(\d{3})$")
# the time of a date-time, extended (14:02:15) or basic (140215), down to the hour, fraction and offset optional
_TIME = re.compile(r"^(\d{2})(?::?(\d{2})(?::?(\d{2}))?)?([.,]\d+)?(?:Z|[+-]\d{2}(?::?\d{2})?)?$")
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
        fractional seconds is an exact instant (granularity one microsecond). At the end of the
        calendar (9999-12-31) the bound is the last representable instant.
        """
        if END_OF_TIME - self.instant < self.granularity:
            return END_OF_TIME
        return self.instant + self.granularity

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DateBound) and (self.instant, self.granularity) == (other.instant, other.granularity)

    def __repr__(self) -> str:
        return f"DateBound({self.instant.isoformat()}, {self.granularity})"


def parse_date_bound(value: Any) -> DateBound:
    """`2025-11-01`, `2025-11-01T00:00:00Z`, `...+01:00`, `...T14:02Z`, `2025-11`, `2025-W45`, `2025-W45-3`,
    `2025-305`; ValueError saying what is wrong."""
    if isinstance(value, DateBound):
        return value
    if isinstance(value, datetime):
        v = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return DateBound(_to_utc(v, str(value)), timedelta(microseconds=1))
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be an ISO 8601 date or date-time, e.g. 2025-11-01T00:00:00Z")
    text = value.strip().upper()   # RFC 3339 allows a lower-case 't' and 'z'
    m = _SPACE_OFFSET.match(text)
    if m:
        text = f"{m.group(1)}+{m.group(2)}"
    try:
        if _DATE_ONLY.match(text):
            d = date.fromisoformat(text)
            return DateBound(datetime.combine(d, time(0), tzinfo=timezone.utc), timedelta(days=1))
        period = _calendar_period(text)
        if period is not None:
            return DateBound(datetime.combine(period[0], time(0), tzinfo=timezone.utc), period[1])
        if "T" not in text and " " not in text:
            raise ValueError
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"'{value}' is not an ISO 8601 date or date-time (e.g. 2025-11-01 or 2025-11-01T00:00:00Z)"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return DateBound(_to_utc(parsed, value), _time_granularity(text))


def _calendar_period(text: str) -> tuple[date, timedelta] | None:
    """(first day, length) of a month, week, week day or ordinal day as written; None for another form;
    ValueError for a month, week or day that does not exist (2025-13, 2025-W54, 2025-366)."""
    m = _MONTH.match(text)
    if m:
        first = date(int(m.group(1)), int(m.group(2)), 1)
        if first.month < 12:
            return first, date(first.year, first.month + 1, 1) - first
        return first, timedelta(days=31)   # December (9999-12 too: the bound's end stops at the end of time)
    m = _WEEK.match(text)
    if m:
        first = date.fromisocalendar(int(m.group(1)), int(m.group(2)), int(m.group(3) or 1))
        return first, timedelta(days=1 if m.group(3) else 7)
    m = _ORDINAL.match(text)
    if m:
        year, day = int(m.group(1)), int(m.group(2))
        if not 1 <= day <= (date(year, 12, 31) - date(year, 1, 1)).days + 1:
            raise ValueError
        return date(year, 1, 1) + timedelta(days=day - 1), timedelta(days=1)
    return None


def _time_granularity(text: str) -> timedelta:
    """The precision of a date-time as written: "...T14" the hour, "...T14:02Z" the minute, "...T14:02:15Z"
    the second, a fraction an exact instant (one microsecond)."""
    m = _TIME.match(re.split(r"[T ]", text, maxsplit=1)[1]) if re.search(r"[T ]", text) else None
    if m is None:
        return timedelta(microseconds=1) if re.search(r"[.,]\d", text) else timedelta(seconds=1)
    if m.group(4):
        return timedelta(microseconds=1)
    if m.group(3):
        return timedelta(seconds=1)
    return timedelta(minutes=1) if m.group(2) else timedelta(hours=1)


def _to_utc(value: datetime, shown: str) -> datetime:
    try:
        return value.astimezone(timezone.utc)
    except OverflowError:
        raise ValueError(
            f"'{shown}' is outside the representable range (0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999Z)"
        ) from None
