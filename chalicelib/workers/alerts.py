"""SQS worker glue for webhook deliveries (the logic is chalicelib.runs.webhooks)."""
from __future__ import annotations

from chalicelib.workers.cdc import parse


def handle_alert_message(body: str, receive_count: int = 1) -> None:
    from chalicelib.runs import webhooks

    webhooks.handle_message(parse(body, ()), receive_count)
