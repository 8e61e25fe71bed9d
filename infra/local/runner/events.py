"""Lambda-format events and context objects, and the partial-batch response rules."""
from __future__ import annotations

import base64
import json
import time
import uuid
from datetime import datetime, timezone
from typing import Any, Dict, Iterable, List, Optional, Sequence, Set

ACCOUNT_ID = "000000000000"

# System attributes Lambda passes through in Records[].attributes.
_SQS_SYSTEM_ATTRIBUTES = (
    "ApproximateReceiveCount",
    "SentTimestamp",
    "SenderId",
    "ApproximateFirstReceiveTimestamp",
    "SequenceNumber",
    "MessageGroupId",
    "MessageDeduplicationId",
    "DeadLetterQueueSourceArn",
    "AWSTraceHeader",
)


def _message_attribute(value: Dict[str, Any]) -> Dict[str, Any]:
    """boto3's MessageAttributeValue -> Lambda's camelCase shape (binary as base64)."""

    def b64(data: Any) -> str:
        if isinstance(data, str):
            data = data.encode()
        return base64.b64encode(data).decode("ascii")

    out: Dict[str, Any] = {
        "stringListValues": list(value.get("StringListValues", [])),
        "binaryListValues": [b64(v) for v in value.get("BinaryListValues", [])],
        "dataType": value.get("DataType", "String"),
    }
    if "StringValue" in value:
        out["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        out["binaryValue"] = b64(value["BinaryValue"])
    return out


def sqs_record(message: Dict[str, Any], queue_arn: str, region: str) -> Dict[str, Any]:
    """One SQS message (as returned by ReceiveMessage) -> one Lambda event record."""
    attrs = message.get("Attributes", {}) or {}
    attributes = {k: str(attrs[k]) for k in _SQS_SYSTEM_ATTRIBUTES if k in attrs}
    attributes.setdefault("ApproximateReceiveCount", "1")
    now_ms = str(int(time.time() * 1000))
    attributes.setdefault("SentTimestamp", now_ms)
    attributes.setdefault("SenderId", ACCOUNT_ID)
    attributes.setdefault("ApproximateFirstReceiveTimestamp", now_ms)
    record: Dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": attributes,
        "messageAttributes": {
            name: _message_attribute(v) for name, v in (message.get("MessageAttributes") or {}).items()
        },
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if message.get("MD5OfMessageAttributes"):
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def sqs_event(messages: Sequence[Dict[str, Any]], queue_arn: str, region: str) -> Dict[str, Any]:
    return {"Records": [sqs_record(m, queue_arn, region) for m in messages]}


def scheduled_event(rule_arn: str, region: str, when: Optional[datetime] = None) -> Dict[str, Any]:
    """The payload EventBridge sends a target for a scheduled rule."""
    when = when or datetime.now(timezone.utc)
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": rule_arn.split(":")[4] if rule_arn.count(":") >= 5 else ACCOUNT_ID,
        "time": when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }


class LambdaContext:
    """The attributes and method of the Python Lambda runtime's context object."""

    def __init__(self, function_name: str, region: str, timeout_seconds: float = 60.0,
                 memory_limit_in_mb: int = 128):
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = "arn:aws:lambda:%s:%s:function:%s" % (region, ACCOUNT_ID, function_name)
        self.memory_limit_in_mb = str(memory_limit_in_mb)
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = "/aws/lambda/%s" % function_name
        self.log_stream_name = "%s/[$LATEST]%s" % (
            datetime.now(timezone.utc).strftime("%Y/%m/%d"), uuid.uuid4().hex
        )
        self.identity = None
        self.client_context = None
        self.tenant_id = None
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class InvalidBatchResponse(ValueError):
    """The handler's response makes Lambda treat the whole batch as failed."""


def failed_message_ids(response: Any, batch_ids: Iterable[str]) -> Set[str]:
    """Message ids Lambda would leave on the queue, per ReportBatchItemFailures.

    * ``None``, an empty dict, or an empty ``batchItemFailures`` -> all succeeded.
    * ``{"batchItemFailures": [{"itemIdentifier": id}, ...]}`` -> those failed.
    * An identifier that is empty or not in the batch, or a malformed response,
      -> the whole batch failed (raises InvalidBatchResponse).
    A response that is not JSON-serialisable fails the invocation in Lambda; it
    raises InvalidBatchResponse too.
    """
    ids = list(batch_ids)
    try:
        json.dumps(response)
    except (TypeError, ValueError) as exc:
        raise InvalidBatchResponse("response is not JSON-serialisable: %s" % exc) from None
    if response is None or not isinstance(response, dict):
        # Lambda ignores responses that are not a batch-failure object.
        return set()
    failures = response.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        raise InvalidBatchResponse("batchItemFailures must be a list")
    known = set(ids)
    failed: Set[str] = set()
    for item in failures:
        ident = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not ident or ident not in known:
            raise InvalidBatchResponse("invalid itemIdentifier %r" % (ident,))
        failed.add(ident)
    return failed


def chunks(items: List[Any], size: int) -> Iterable[List[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
