"""Schedules: six-field seconds-first cron in an IANA zone, both DST transitions, validation codes."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.streams.schedules import next_run_at, occurrences, validate_cron

U = timezone.utc


def occ(cron: str, tz: str, start: datetime, end: datetime) -> list[datetime]:
    return list(occurrences({"cron": cron, "timezone": tz}, start, end))


def t(*args) -> datetime:
    return datetime(*args, tzinfo=U)


def test_daily_run_in_berlin_across_the_spring_forward_gap():
    # 2026-03-29: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist -> first instant after the gap
    got = occ("0 30 2 * * *", "Europe/Berlin", t(2026, 3, 27), t(2026, 3, 31))
    assert got == [t(2026, 3, 27, 1, 30), t(2026, 3, 28, 1, 30), t(2026, 3, 29, 1, 0), t(2026, 3, 30, 0, 30)]


def test_several_times_inside_the_gap_run_once_at_its_end():
    got = occ("0 */20 2 * * *", "Europe/Berlin", t(2026, 3, 29), t(2026, 3, 29, 23))
    assert got == [t(2026, 3, 29, 1, 0)]


def test_daily_run_in_berlin_in_the_repeated_fall_back_hour_runs_once_at_its_first_occurrence():
    # 2026-10-25: 03:00 CEST goes back to 02:00 CET; 02:30 happens at 00:30Z and again at 01:30Z
    got = occ("15 30 2 * * *", "Europe/Berlin", t(2026, 10, 24), t(2026, 10, 27))
    assert got == [t(2026, 10, 24, 0, 30, 15), t(2026, 10, 25, 0, 30, 15), t(2026, 10, 26, 1, 30, 15)]


def test_every_quarter_hour_through_new_york_transitions():
    spring = occ("0 */15 * * * *", "America/New_York", t(2026, 3, 8, 6, 30), t(2026, 3, 8, 7, 30))
    # 01:30, 01:45 EST (06:30Z excluded: start is exclusive), then 03:00 EDT = 07:00Z; 02:xx do not exist
    assert spring == [t(2026, 3, 8, 6, 45), t(2026, 3, 8, 7, 0), t(2026, 3, 8, 7, 15), t(2026, 3, 8, 7, 30)]
    fall = occ("0 */30 * * * *", "America/New_York", t(2026, 11, 1, 4, 45), t(2026, 11, 1, 7, 0))
    # 01:00 and 01:30 EDT (05:00Z, 05:30Z) once; the repeated 01:00/01:30 EST (06:00Z, 06:30Z) do not run again
    assert fall == [t(2026, 11, 1, 5, 0), t(2026, 11, 1, 5, 30), t(2026, 11, 1, 7, 0)]


def test_window_is_exclusive_at_start_and_inclusive_at_end():
    got = occ("0 0 * * * *", "UTC", t(2026, 1, 1, 1), t(2026, 1, 1, 3))
    assert got == [t(2026, 1, 1, 2), t(2026, 1, 1, 3)]


def test_names_question_mark_and_default_zone():
    assert next_run_at({"cron": "0 0 9 ? JAN MON"}, after=t(2026, 12, 1)) == t(2027, 1, 4, 9)
    assert next_run_at({"cron": "30 15 10 1 * ?", "timezone": "Asia/Kolkata"}, after=t(2026, 12, 1)) == \
        t(2026, 12, 1, 4, 45, 30)
    assert next_run_at({"cron": "bad"}) is None


@pytest.mark.parametrize("cron,tz,expected", [
    ("0 30 2 * *", "UTC", [("triggerConfig.cron", "CRON_INVALID")]),
    ("*/5 * * * * *", "UTC", [("triggerConfig.cron", "CRON_INVALID")]),
    ("0 61 * * * *", "UTC", [("triggerConfig.cron", "CRON_INVALID")]),
    ("0 0 0 * * *", "Mars/Olympus", [("triggerConfig.timezone", "TIMEZONE_INVALID")]),
    ("0 0 0 * * * *", "Nowhere", [("triggerConfig.cron", "CRON_INVALID"), ("triggerConfig.timezone", "TIMEZONE_INVALID")]),
    ("0 30 2 * * *", "Europe/Berlin", []),
    ("0 0 9 ? * MON-FRI", "America/New_York", []),
])
def test_validate_cron_names_field_and_code(cron, tz, expected):
    problems = validate_cron(cron, tz)
    assert [(f, c) for f, c, _ in problems] == expected
    assert all(m for _, _, m in problems)


def test_a_leap_day_schedule_has_a_next_run_more_than_a_year_ahead():
    # platform §5: nextRunAt of a SCHEDULED stream; the next 29 February after December 2026 is in 2028
    assert next_run_at({"cron": "0 0 12 29 2 *", "timezone": "UTC"}, after=t(2026, 12, 2)) == t(2028, 2, 29, 12)
    assert next_run_at({"cron": "0 0 12 29 2 *", "timezone": "Europe/Berlin"}, after=t(2028, 2, 29, 12)) == \
        t(2032, 2, 29, 11)


@pytest.mark.parametrize("tz", ["Factory", "US/Eastern", "EST5EDT", "Etc/GMT+5", "Asia/Calcutta"])
def test_backward_and_etc_zone_names_are_iana_names(tz):
    assert validate_cron("0 30 2 * * *", tz) == []


def test_a_per_minute_schedule_over_a_day_is_bounded():
    got = occ("0 * * * * *", "UTC", t(2026, 1, 1), t(2026, 1, 2))
    assert len(got) == 1440 and got[-1] == t(2026, 1, 2) and got[0] == t(2026, 1, 1) + timedelta(minutes=1)


def test_a_day_runs_when_it_matches_day_of_month_and_day_of_week():
    # the first Monday of each month at 06:00 Berlin: days 1-7 that are Mondays, not every Monday and every day 1-7
    got = occ("0 0 6 1-7 * MON", "Europe/Berlin", t(2026, 11, 1), t(2027, 1, 31))
    assert got == [t(2026, 11, 2, 5), t(2026, 12, 7, 5), t(2027, 1, 4, 5)]
    # Friday the 13th; 29 February on a Monday is once in 28 years
    assert occ("0 0 9 13 * FRI", "UTC", t(2026, 1, 1), t(2027, 12, 31)) == \
        [t(2026, 2, 13, 9), t(2026, 3, 13, 9), t(2026, 11, 13, 9), t(2027, 8, 13, 9)]
    assert next_run_at({"cron": "0 0 0 29 2 MON", "timezone": "UTC"}, after=t(2026, 12, 2)) == t(2044, 2, 29)
    # '?' (or '*') in one day field leaves the other alone
    assert len(occ("0 0 6 ? * MON", "UTC", t(2026, 11, 1), t(2026, 12, 1))) == 5
    assert len(occ("0 0 6 1-7 * ?", "UTC", t(2026, 11, 1), t(2026, 11, 30))) == 7


@pytest.mark.parametrize("cron", ["0 0 0 1 * MON#2", "0 0 0 L * MON#1", "0 0 0 30 2 MON", "0 0 0 8-14 * MON#1"])
def test_day_fields_no_day_can_match_are_refused(cron):
    # nothing could ever run (and the occurrence search would not end)
    problems = validate_cron(cron, "UTC")
    assert [(f, c) for f, c, _ in problems] == [("triggerConfig.cron", "CRON_INVALID")]
    assert "no day has both day-of-month" in problems[0][2]
    assert next_run_at({"cron": cron, "timezone": "UTC"}, after=t(2026, 12, 2)) is None


def test_a_cron_or_time_zone_of_any_length_is_refused_briefly():
    # a valid cron padded with a megabyte of spaces was stored and sent back with every read of the stream;
    # an invalid one was echoed whole in the error message (the time zone likewise)
    padded = "0 30 2 * * *" + " " * 1_000_000
    problems = validate_cron(padded, "UTC")
    assert [(f, c) for f, c, _ in problems] == [("triggerConfig.cron", "CRON_INVALID")]
    assert "1000012 characters" in problems[0][2] and len(problems[0][2]) < 200
    garbage = "x" * 100_000
    problems = validate_cron("0 30 2 * * *", garbage)
    assert [(f, c) for f, c, _ in problems] == [("triggerConfig.timezone", "TIMEZONE_INVALID")]
    assert len(problems[0][2]) < 200
    problems = validate_cron(garbage, "UTC")
    assert [(f, c) for f, c, _ in problems] == [("triggerConfig.cron", "CRON_INVALID")]
    assert len(problems[0][2]) < 200
    # the longest real crons fit (lists in every field)
    longest = "0 0,5,10,15,20,25,30,35,40,45,50,55 0,2,4,6,8,10,12,14,16,18,20,22 1,8,15,22,29 1,3,5,7,9,11 MON,TUE,WED,THU,FRI"
    assert validate_cron(longest, "America/Argentina/ComodRivadavia") == []
