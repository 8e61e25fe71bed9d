"""AWS clients, created lazily and reused across invocations (boto3 is imported on first use)."""
from __future__ import annotations

import json
import threading
from functools import lru_cache
from typing import Any

from chalicelib.config import get_settings

_lock = threading.Lock()


@lru_cache(maxsize=None)
def client(service: str):
    import boto3

    s = get_settings()
    with _lock:
        return boto3.session.Session().client(service, region_name=s.aws_region, endpoint_url=s.aws_endpoint_url,
                                              config=_config(service, s.aws_endpoint_url))


def _config(service: str, endpoint_url: str | None):
    """S3 signs with Signature Version 4 (botocore still presigns with version 2 in us-east-1 and eu-west-1,
    which S3 refuses for buckets created since June 2020), on the bucket's own regional host on AWS and with
    the bucket in the path on a local endpoint (LocalStack: an IP and port, no per-bucket host names)."""
    if service != "s3":
        return None
    from botocore.config import Config

    return Config(signature_version="s3v4", s3={"addressing_style": "path" if endpoint_url else "virtual"})


@lru_cache(maxsize=None)
def queue_url(name: str) -> str:
    full = f"{get_settings().queue_prefix}{name}"
    return client("sqs").get_queue_url(QueueName=full)["QueueUrl"]


def send_message(queue: str, body: dict[str, Any], delay_seconds: int = 0) -> str:
    resp = client("sqs").send_message(
        QueueUrl=queue_url(queue), MessageBody=json.dumps(body, default=str), DelaySeconds=delay_seconds
    )
    return resp["MessageId"]


def send_messages(queue: str, bodies: list[dict[str, Any]]) -> None:
    """Send in batches of 10 (the SQS limit); raises if any entry failed."""
    url = queue_url(queue)
    sqs = client("sqs")
    for i in range(0, len(bodies), 10):
        chunk = bodies[i : i + 10]
        resp = sqs.send_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(n), "MessageBody": json.dumps(b, default=str)} for n, b in enumerate(chunk)],
        )
        if resp.get("Failed"):
            raise RuntimeError(f"SQS rejected {len(resp['Failed'])} message(s) for {queue}: {resp['Failed'][0]}")


def reset_clients() -> None:
    client.cache_clear()
    queue_url.cache_clear()
