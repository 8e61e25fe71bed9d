"""Partial-batch SQS processing with powertools: a failing record is reported in
`batchItemFailures` (and redelivered after its visibility timeout, then dead-lettered), the others
are deleted. Every failure is logged with the message id."""
from __future__ import annotations

from typing import Callable

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from chalicelib.observability import logger


def process_batch(event, handle_body: Callable[..., object], context=None, with_receive_count: bool = False) -> dict:
    processor = BatchProcessor(event_type=EventType.SQS)

    def record_handler(record: SQSRecord):
        logger.append_keys(message_id=record.message_id)
        try:
            if with_receive_count:
                return handle_body(record.body, int(record.attributes.approximate_receive_count or 1))
            return handle_body(record.body)
        except Exception as exc:
            logger.warning(
                "message failed",
                extra={"message_id": record.message_id, "receive_count": record.attributes.approximate_receive_count,
                       "error": f"{type(exc).__name__}: {exc}"},
            )
            raise
        finally:
            logger.remove_keys(["message_id"])

    raw = event.to_dict() if hasattr(event, "to_dict") else event
    return process_partial_response(event=raw, record_handler=record_handler, processor=processor, context=context)
