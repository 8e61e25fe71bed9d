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


def stream(cron: str, tz: str = "UTC", stream_id: int = 1, **kw) -> dict:
    return {"stream_id": stream_id, "status": "ACTIVE", "trigger_type": "SCHEDULED",
            "trigger_config": {"cron": cron, "timezone": tz}, **kw}


def test_upcoming_lists_each_instant_before_the_next_tick_once_with_the_streams_due():
    streams = [stream("0 30 2 * * *", stream_id=1), stream("0 30 3 * * *", "Europe/Berlin", stream_id=2),  # 02:30:00Z
               stream("15 * * * * *", stream_id=3),                   # 02:30:15Z (02:31:15 is past 75 s)
               stream("0 0 5 * * *", stream_id=4), stream("not a cron", stream_id=5)]
    assert schedules.upcoming(streams, NOW) == {datetime(2026, 12, 2, 2, 30, tzinfo=U): [1, 2],
                                                datetime(2026, 12, 2, 2, 30, 15, tzinfo=U): [3]}
    assert schedules.upcoming([stream("40 29 2 * * *")], NOW) == {}   # 02:29:40 is already past


@pytest.fixture
def sent(monkeypatch):
    from chalicelib import aws

    out: list[tuple[str, dict, int]] = []
    monkeypatch.setattr(aws, "send_message", lambda queue, body, delay_seconds=0: out.append(
        (queue, body, delay_seconds)) or "id")
    return out


def test_a_wake_up_is_delayed_to_one_second_after_its_instant(sent):
    assert schedules.send_wakeups([stream("0 30 2 * * *", stream_id=7), stream("15 * * * * *", stream_id=8)], NOW) == 2
    assert sent == [("recon-stream-ticks", {"wake": "2026-12-02T02:30:00Z", "streamIds": [7]}, 20),
                    ("recon-stream-ticks", {"wake": "2026-12-02T02:30:15Z", "streamIds": [8]}, 35)]


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


@pytest.mark.parametrize("body, expected", [
    (json.dumps({"version": "0", "detail-type": "Scheduled Event", "source": "aws.events"}), [None, "wake", "queued"]),
    (json.dumps({"wake": "2026-12-02T02:30:00Z", "streamIds": [7, 9]}), [[7, 9]]),
    (json.dumps({"wake": "2026-12-02T02:30:00Z"}), [None]),
    ("not json", [None, "wake", "queued"]),
])
def test_the_tick_dispatches_all_and_sends_wake_ups_a_wake_up_dispatches_its_streams(monkeypatch, body, expected):
    """The one-minute tick also starts EVENT triggers queued behind a run whose end was not followed up."""
    from chalicelib.streams import events

    calls: list = []
    monkeypatch.setattr(schedules, "dispatch", lambda now=None, stream_ids=None: calls.append(stream_ids) or [])
    monkeypatch.setattr(schedules, "send_wakeups", lambda streams=None, now=None: calls.append("wake") or 0)
    monkeypatch.setattr(events, "start_queued", lambda stream_id=None: calls.append("queued") or [])
    stream_workers.handle_tick_message(body)
    assert calls == expected

