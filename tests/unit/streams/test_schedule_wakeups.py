"""Schedule wake-ups: the occurrences due before the next one-minute tick get a delayed message on the tick
queue, so a run starts at its occurrence (platform §6: six fields, seconds first) instead of on the tick."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.streams import schedules
from chalicelib.workers import streams as stream_workers

U = timezone.utc
NOW = datetime(2026, 12, 2, 2, 29, 40, 500000, tzinfo=U)


def stream(cron: str, tz: str = "UTC", **kw) -> dict:
    return {"stream_id": 1, "status": "ACTIVE", "trigger_type": "SCHEDULED",
            "trigger_config": {"cron": cron, "timezone": tz}, **kw}


def test_upcoming_lists_each_instant_before_the_next_tick_once():
    streams = [stream("0 30 2 * * *"), stream("0 30 3 * * *", "Europe/Berlin"),   # both 02:30:00Z
               stream("15 * * * * *"),                                           # 02:30:15Z (02:31:15 is past 75 s)
               stream("0 0 5 * * *"), stream("not a cron")]
    assert schedules.upcoming(streams, NOW) == [datetime(2026, 12, 2, 2, 30, tzinfo=U),
                                                datetime(2026, 12, 2, 2, 30, 15, tzinfo=U)]
    assert schedules.upcoming([stream("40 29 2 * * *")], NOW) == []   # 02:29:40 is already past


@pytest.fixture
def sent(monkeypatch):
    from chalicelib import aws

    out: list[tuple[str, dict, int]] = []
    monkeypatch.setattr(aws, "send_message", lambda queue, body, delay_seconds=0: out.append(
        (queue, body, delay_seconds)) or "id")
    return out


def test_a_wake_up_is_delayed_to_one_second_after_its_instant(sent):
    assert schedules.send_wakeups([stream("0 30 2 * * *"), stream("15 * * * * *")], NOW) == 2
    assert sent == [("recon-stream-ticks", {"wake": "2026-12-02T02:30:00Z"}, 20),
                    ("recon-stream-ticks", {"wake": "2026-12-02T02:30:15Z"}, 35)]


def test_paused_or_unscheduled_streams_are_not_woken(sent):
    assert schedules.send_wakeups([stream("0 30 2 * * *", status="PAUSED"),
                                   stream("0 30 2 * * *", trigger_type="MANUAL")], NOW) == 0
    assert sent == []


def test_a_failing_send_is_not_the_callers_problem(monkeypatch):
    from chalicelib import aws

    def boom(*a, **k):
        raise RuntimeError("queue down")

    monkeypatch.setattr(aws, "send_message", boom)
    assert schedules.send_wakeups([stream("0 30 2 * * *")], NOW) == 0


@pytest.mark.parametrize("body, wakes", [
    (json.dumps({"version": "0", "detail-type": "Scheduled Event", "source": "aws.events"}), True),
    (json.dumps({"wake": "2026-12-02T02:30:00Z"}), False),
    ("not json", True),
])
def test_the_tick_sends_wake_ups_and_a_wake_up_does_not(monkeypatch, body, wakes):
    calls: list[str] = []
    monkeypatch.setattr(schedules, "dispatch", lambda now=None: calls.append("dispatch") or [])
    monkeypatch.setattr(schedules, "send_wakeups", lambda streams=None, now=None: calls.append("wake") or 0)
    stream_workers.handle_tick_message(body)
    assert calls == (["dispatch", "wake"] if wakes else ["dispatch"])

