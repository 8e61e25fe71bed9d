"""Local Lambda runner for the recon Chalice app (SQS event sources and schedules).

    python -m infra.local.runner --app app:app --concurrency 2

See docs/local-runtime.md for the semantics.
"""
from .engine import Invocation, Runner
from .events import LambdaContext, failed_message_ids, scheduled_event, sqs_event, sqs_record
from .sources import ScheduleSource, SqsSource, discover, parse_schedule

__all__ = [
    "Invocation",
    "LambdaContext",
    "Runner",
    "ScheduleSource",
    "SqsSource",
    "discover",
    "failed_message_ids",
    "parse_schedule",
    "scheduled_event",
    "sqs_event",
    "sqs_record",
]
