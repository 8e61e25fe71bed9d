"""SQS worker glue for webhook deliveries (the logic is chalicelib.cdc.alerts)."""
from __future__ import annotations

from chalicelib.workers.cdc import parse


def handle_alert_message(body: str, receive_count: int = 1) -> None:
    from chalicelib.cdc import alerts

    alerts.handle_delivery_message(parse(body, ()), receive_count)
