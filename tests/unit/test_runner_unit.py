"""The local Lambda runner's discovery, event building and deletion rules (moto, no LocalStack)."""
from __future__ import annotations

import io
import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
import pytest
from chalice import Blueprint, Chalice, Cron, Rate
from moto import mock_aws

from infra.local.runner import (
    LambdaContext,
    Runner,
    discover,
    failed_message_ids,
    parse_schedule,
    scheduled_event,
    sqs_record,
)
from infra.local.runner.events import InvalidBatchResponse

REPO_ROOT = Path(__file__).resolve().parents[2]
UTC = timezone.utc


@pytest.fixture
def aws(monkeypatch):
    for var in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "QUEUE_PREFIX"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        yield boto3.client("sqs", region_name="us-east-1")


def _queue(sqs, name, visibility=30):
    return sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": str(visibility)})["QueueUrl"]


def _visible(sqs, url):
    attrs = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]), int(attrs["ApproximateNumberOfMessagesNotVisible"])


# ---------------------------------------------------------------- discovery

def test_discovers_sqs_and_schedule_sources_from_the_app_object():
    app = Chalice(app_name="disc")
    bp = Blueprint(__name__)

    @app.on_sqs_message(queue="q-one", batch_size=7, maximum_batching_window_in_seconds=3)
    def one(event):
        pass

    @app.on_sqs_message(queue_arn="arn:aws:sqs:us-east-1:123456789012:q-by-arn", maximum_concurrency=4)
    def by_arn(event):
        pass

    @bp.on_sqs_message(queue="q-bp", name="bp_handler")
    def bp_fn(event):
        pass

    @app.schedule(Rate(5, unit=Rate.MINUTES))
    def every5(event):
        pass

    @app.schedule(Cron(0, 10, "?", "*", "MON-FRI", "*"), name="weekday")
    def weekday_fn(event):
        pass

    @app.on_s3_event(bucket="b")
    def s3_handler(event):
        pass

    app.register_blueprint(bp, name_prefix="pre_")
    sqs, schedules = discover(app)
    by_name = {s.name: s for s in sqs}
    assert set(by_name) == {"one", "by_arn", "pre_bp_handler"}
    assert (by_name["one"].queue, by_name["one"].batch_size, by_name["one"].maximum_batching_window) == ("q-one", 7, 3)
    assert by_name["by_arn"].queue == "q-by-arn" and by_name["by_arn"].maximum_concurrency == 4
    assert by_name["pre_bp_handler"].queue == "q-bp"
    assert by_name["one"].handler is app.handler_map["one"]
    assert {s.name: s.expression for s in schedules} == {
        "every5": "rate(5 minutes)", "weekday": "cron(0 10 ? * MON-FRI *)"}


# ---------------------------------------------------------------- schedules

def test_rate_schedule_counts_from_the_anchor():
    s = parse_schedule("rate(5 minutes)")
    anchor = datetime(2026, 1, 1, 0, 0, 30, tzinfo=UTC)
    assert s.next_after(anchor, anchor) == anchor + timedelta(minutes=5)
    assert s.next_after(anchor + timedelta(minutes=5), anchor) == anchor + timedelta(minutes=10)
    assert s.next_after(anchor + timedelta(minutes=7), anchor) == anchor + timedelta(minutes=10)
    assert parse_schedule("rate(1 hour)").period == timedelta(hours=1)
    assert parse_schedule("rate(2 days)").period == timedelta(days=2)


@pytest.mark.parametrize("expr,after,expected", [
    ("cron(0 * * * ? *)", datetime(2026, 1, 1, 3, 10), datetime(2026, 1, 1, 4, 0)),
    # EventBridge numbers weekdays 1=SUN..7=SAT: 2 is Monday. 2026-01-01 is a Thursday.
    ("cron(0 10 ? * 2 *)", datetime(2026, 1, 1), datetime(2026, 1, 5, 10, 0)),
    ("cron(0 10 ? * MON-FRI *)", datetime(2026, 1, 3), datetime(2026, 1, 5, 10, 0)),
    ("cron(15 12 1 * ? 2027)", datetime(2026, 6, 1), datetime(2027, 1, 1, 12, 15)),
])
def test_cron_schedule_follows_eventbridge_fields(expr, after, expected):
    assert parse_schedule(expr).next_after(after.replace(tzinfo=UTC)) == expected.replace(tzinfo=UTC)


@pytest.mark.parametrize("bad", ["every 5 minutes", "rate(0 minutes)", "cron(0 * * *)", "rate(5 weeks)"])
def test_invalid_schedule_expressions_are_rejected(bad):
    with pytest.raises(ValueError):
        parse_schedule(bad)


# ------------------------------------------------------------- event shapes

def test_sqs_record_has_the_lambda_shape():
    message = {
        "MessageId": "m-1", "ReceiptHandle": "rh-1", "Body": "{}", "MD5OfBody": "99914b932bd37a50b983c5e7c90ae93b",
        "Attributes": {"ApproximateReceiveCount": "3", "SentTimestamp": "1700000000000", "SenderId": "AID",
                       "ApproximateFirstReceiveTimestamp": "1700000000001", "Ignored": "x"},
        "MessageAttributes": {
            "s": {"DataType": "String", "StringValue": "v"},
            "b": {"DataType": "Binary", "BinaryValue": b"\xff"},
        },
    }
    rec = sqs_record(message, "arn:aws:sqs:eu-west-1:000000000000:q", "eu-west-1")
    assert rec == {
        "messageId": "m-1",
        "receiptHandle": "rh-1",
        "body": "{}",
        "attributes": {"ApproximateReceiveCount": "3", "SentTimestamp": "1700000000000", "SenderId": "AID",
                       "ApproximateFirstReceiveTimestamp": "1700000000001"},
        "messageAttributes": {
            "s": {"stringValue": "v", "stringListValues": [], "binaryListValues": [], "dataType": "String"},
            "b": {"binaryValue": "/w==", "stringListValues": [], "binaryListValues": [], "dataType": "Binary"},
        },
        "md5OfBody": "99914b932bd37a50b983c5e7c90ae93b",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:eu-west-1:000000000000:q",
        "awsRegion": "eu-west-1",
    }


def test_scheduled_event_and_context():
    ev = scheduled_event("arn:aws:events:us-east-1:000000000000:rule/r", "us-east-1",
                         datetime(2026, 1, 1, 4, 0, tzinfo=UTC))
    assert ev["detail-type"] == "Scheduled Event" and ev["source"] == "aws.events"
    assert ev["time"] == "2026-01-01T04:00:00Z" and ev["resources"] == ["arn:aws:events:us-east-1:000000000000:rule/r"]
    assert ev["detail"] == {} and ev["account"] == "000000000000" and ev["version"] == "0"
    ctx = LambdaContext("recon-local-job_worker", "us-east-1", timeout_seconds=2)
    assert ctx.invoked_function_arn.endswith(":function:recon-local-job_worker")
    assert 0 < ctx.get_remaining_time_in_millis() <= 2000
    assert ctx.memory_limit_in_mb == "128" and len(ctx.aws_request_id) == 36


@pytest.mark.parametrize("response,failed", [
    (None, set()),
    ({}, set()),
    ({"batchItemFailures": []}, set()),
    ({"batchItemFailures": [{"itemIdentifier": "b"}]}, {"b"}),
    ("not a batch response", set()),
])
def test_failed_message_ids(response, failed):
    assert failed_message_ids(response, ["a", "b", "c"]) == failed


@pytest.mark.parametrize("response", [
    {"batchItemFailures": [{"itemIdentifier": "zzz"}]},
    {"batchItemFailures": [{"itemIdentifier": ""}]},
    {"batchItemFailures": [{"itemIdentifier": None}]},
    {"batchItemFailures": [{"wrongKey": "a"}]},
    {"batchItemFailures": "a"},
    {"batchItemFailures": [], "x": object()},
])
def test_invalid_batch_responses_fail_the_whole_batch(response):
    with pytest.raises(InvalidBatchResponse):
        failed_message_ids(response, ["a", "b"])


# ------------------------------------------------------- deletion semantics

def _app_with(handler, queue="work", batch_size=10, window=0):
    app = Chalice(app_name="unit")
    app.on_sqs_message(queue=queue, batch_size=batch_size, maximum_batching_window_in_seconds=window)(handler)
    return app


def test_only_records_not_reported_as_failed_are_deleted(aws):
    url = _queue(aws, "work")
    for i in range(3):
        aws.send_message(QueueUrl=url, MessageBody="m%d" % i)
    seen = []

    def handler(event):
        failures = []
        for record in event:
            seen.append(record.body)
            if record.body == "m1":
                failures.append({"itemIdentifier": record.to_dict()["messageId"]})
        return {"batchItemFailures": failures}

    log = io.StringIO()
    runner = Runner(_app_with(handler), log_stream=log)
    [inv] = runner.run_once()
    assert sorted(seen) == ["m0", "m1", "m2"]
    assert (inv.batch_size, inv.failures, inv.deleted, inv.error) == (3, 1, 2, None)
    assert _visible(aws, url) == (0, 1)  # only m1 left, in flight until its visibility timeout
    line = json.loads(log.getvalue())
    assert line["handler"] == "handler" and line["batch_size"] == 3 and line["failures"] == 1
    assert line["source"] == "work" and "duration_ms" in line


def test_a_raising_handler_deletes_nothing(aws):
    url = _queue(aws, "work")
    for i in range(2):
        aws.send_message(QueueUrl=url, MessageBody="m%d" % i)

    def handler(event):
        raise ValueError("boom")

    runner = Runner(_app_with(handler), log_stream=io.StringIO())
    [inv] = runner.run_once()
    assert inv.deleted == 0 and inv.failures == 2 and inv.error == "ValueError: boom"
    assert _visible(aws, url) == (0, 2)


def test_an_invalid_batch_response_deletes_nothing(aws):
    url = _queue(aws, "work")
    aws.send_message(QueueUrl=url, MessageBody="m")

    def handler(event):
        return {"batchItemFailures": [{"itemIdentifier": "not-in-batch"}]}

    [inv] = Runner(_app_with(handler), log_stream=io.StringIO()).run_once()
    assert inv.deleted == 0 and inv.error.startswith("InvalidBatchResponse")
    assert _visible(aws, url) == (0, 1)


def test_failed_record_is_redelivered_with_a_higher_receive_count(aws):
    url = _queue(aws, "work", visibility=0)
    aws.send_message(QueueUrl=url, MessageBody="again")
    counts = []

    def handler(event):
        for record in event:
            counts.append(record.to_dict()["attributes"]["ApproximateReceiveCount"])
            if len(counts) == 1:
                return {"batchItemFailures": [{"itemIdentifier": record.to_dict()["messageId"]}]}
        return None

    runner = Runner(_app_with(handler), log_stream=io.StringIO())
    runner.drain(timeout=10, until=lambda: len(counts) >= 2)
    assert counts == ["1", "2"]
    assert _visible(aws, url) == (0, 0)


def test_batching_window_gathers_more_than_ten(aws):
    url = _queue(aws, "work")
    for i in range(0, 15, 5):
        aws.send_message_batch(QueueUrl=url, Entries=[{"Id": str(j), "MessageBody": str(i + j)} for j in range(5)])
    sizes = []

    def handler(event):
        sizes.append(len(list(event)))

    runner = Runner(_app_with(handler, batch_size=15, window=1), log_stream=io.StringIO())
    runner.run_once()
    assert sizes == [15]
    assert _visible(aws, url) == (0, 0)


def test_without_window_one_receive_makes_the_batch(aws):
    url = _queue(aws, "work")
    aws.send_message_batch(QueueUrl=url, Entries=[{"Id": str(j), "MessageBody": str(j)} for j in range(4)])
    sizes = []

    def handler(event):
        sizes.append(len(list(event)))

    Runner(_app_with(handler, batch_size=2), log_stream=io.StringIO()).drain(timeout=10)
    assert sum(sizes) == 4 and max(sizes) <= 2


def test_queue_prefix_and_missing_queue(aws):
    _queue(aws, "t1-work")
    app = _app_with(lambda event: None)
    Runner(app, queue_prefix="t1-", log_stream=io.StringIO()).resolve_queues()
    with pytest.raises(RuntimeError, match="does not exist.*infra.local.deploy"):
        Runner(app, queue_resolve_timeout=0, log_stream=io.StringIO()).resolve_queues()


def test_schedule_handler_gets_a_scheduled_event(aws):
    app = Chalice(app_name="unit")
    got = []

    @app.schedule("rate(1 minute)")
    def tick(event):
        got.append((event.to_dict(), event.context))

    runner = Runner(app, log_stream=io.StringIO())
    [sched] = runner.schedules
    inv = runner.fire_schedule(sched, datetime(2026, 1, 1, tzinfo=UTC))
    assert inv.error is None
    event, ctx = got[0]
    assert event["detail-type"] == "Scheduled Event"
    assert event["resources"] == ["arn:aws:events:us-east-1:000000000000:rule/unit-local-tick"]
    assert ctx.function_name == "unit-local-tick"


def test_start_and_stop_with_background_pollers(aws):
    url = _queue(aws, "work")
    aws.send_message_batch(QueueUrl=url, Entries=[{"Id": str(j), "MessageBody": str(j)} for j in range(5)])
    seen = []

    def handler(event):
        seen.extend(r.body for r in event)

    runner = Runner(_app_with(handler, batch_size=1), concurrency=2, wait_time_seconds=0, log_stream=io.StringIO())
    runner.start()
    try:
        import time
        deadline = time.monotonic() + 10
        while len(seen) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        assert runner.stop(timeout=10)
    assert sorted(seen) == ["0", "1", "2", "3", "4"]


def test_cli_lists_sources_of_an_app(tmp_path):
    (tmp_path / "myapp.py").write_text(
        "from chalice import Chalice\n"
        "app = Chalice(app_name='cli')\n"
        "@app.on_sqs_message(queue='recon-jobs', batch_size=3)\n"
        "def jobs(event):\n    pass\n"
        "@app.schedule('cron(0 * * * ? *)')\n"
        "def hourly(event):\n    pass\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "infra.local.runner", "--app", "myapp:app", "--project-dir", str(tmp_path), "--list"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    listed = json.loads(proc.stdout)
    assert listed["sqs"] == [{"handler": "jobs", "queue": "recon-jobs", "batch_size": 3,
                              "maximum_batching_window": 0, "maximum_concurrency": None}]
    assert listed["schedules"] == [{"handler": "hourly", "expression": "cron(0 * * * ? *)"}]
