"""Wake-up messages: SQS carries no state, only "there is work" (the control plane is the queue).

So a wake-up may be lost, duplicated or reordered without harm: the woken worker claims whatever is
best in the control plane, and the sweeper re-sends wake-ups for work that waited too long. Sending
is therefore best effort after the commit that created the work: a failure is logged, not raised.
"""
from __future__ import annotations

from typing import Any

from chalicelib import aws
from chalicelib.observability import logger


def wake(queue: str, bodies: list[dict[str, Any]], *, delay_s: int = 0) -> bool:
    """Send wake-ups (batched; `delay_s` up to 900). Returns False when they could not be sent."""
    if not bodies:
        return True
    try:
        if delay_s or len(bodies) == 1:
            for body in bodies:
                aws.send_message(queue, body, delay_seconds=min(max(int(delay_s), 0), 900))
        else:
            aws.send_messages(queue, bodies)
        return True
    except Exception:
        logger.exception("wake-ups not sent; the sweeper will re-send them", extra={"queue": queue, "count": len(bodies)})
        return False
