"""SQS entry points of the streams runtime (thin: parse the message, call the domain module).

- `recon-stream-steps`: STEP tasks from the state machine and FINISH messages (step_worker).
- `recon-stream-events`: EventBridge events that may start EVENT-triggered streams (events).
- `recon-stream-ticks`: the one-minute EventBridge tick of the schedule dispatcher and its wake-ups (schedules),
  and of the EVENT triggers queued behind a run in flight (events).
"""
from __future__ import annotations

import json
from typing import Any


def _body(raw: Any) -> dict:
    return json.loads(raw) if isinstance(raw, (str, bytes)) else dict(raw)


def handle_step_message(raw: Any) -> None:
    from chalicelib.streams import step_worker

    step_worker.handle_message(_body(raw))


def handle_event_message(raw: Any) -> None:
    from chalicelib.streams import events

    events.handle_event(_body(raw))


def handle_tick_message(raw: Any) -> None:
    """The one-minute tick dispatches and sends wake-ups for the occurrences due before the next one;
    a wake-up (`{"wake": instant, "streamIds": [...]}`, sent by a tick or a save) only dispatches those
    streams."""
    from chalicelib.streams import schedules

    try:
        body = _body(raw)
    except (ValueError, TypeError):
        body = {}
    if isinstance(body, dict) and "wake" in body:
        ids = body.get("streamIds")
        schedules.dispatch(stream_ids=[int(i) for i in ids] if isinstance(ids, list) else None)
        return
    schedules.dispatch()
    schedules.send_wakeups()
    # an event queued behind a run whose end was not seen (its worker gone) starts on the next tick
    from chalicelib.streams import events

    events.start_queued()
