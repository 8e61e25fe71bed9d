"""The local Lambda runner and the shared infra against a real LocalStack (host mode).

A small Chalice app is defined here with its own queues (unique names); the runner
discovers its handlers from the app object, exactly as it does for app.py.
"""
from __future__ import annotations

import io
import json
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path

import pytest
from chalice import Chalice

from infra.local import deploy as deploy_mod
from infra.local.runner import Runner
from tests.integration.conftest_localstack import aws_env, localstack, wait_for  # noqa: F401

SUFFIX = uuid.uuid4().hex[:8]
Q_BASIC = "it-basic-%s" % SUFFIX
Q_PARTIAL = "it-partial-%s" % SUFFIX
Q_POISON = "it-poison-%s" % SUFFIX
Q_EVENTS = "it-events-%s" % SUFFIX
Q_SLOW = "it-slow-%s" % SUFFIX
Q_RATE = "it-rate-%s" % SUFFIX
RATE_RULE = "it-rate-rule-%s" % SUFFIX
EVENT_RULE = "it-rule-%s" % SUFFIX
POISON_MAX_RECEIVES = 2

app = Chalice(app_name="runner-it")
_lock = threading.Lock()
seen = defaultdict(list)  # handler -> [(body, receive_count, message_id)]
active = {"now": 0, "max": 0}


def _note(handler: str, record) -> dict:
    raw = record.to_dict()
    with _lock:
        seen[handler].append((record.body, int(raw["attributes"]["ApproximateReceiveCount"]), raw["messageId"]))
    return raw


@app.on_sqs_message(queue=Q_BASIC, batch_size=1)
def basic(event):
    for record in event:
        _note("basic", record)


@app.on_sqs_message(queue=Q_PARTIAL, batch_size=5, maximum_batching_window_in_seconds=1)
def partial(event):
    failures = []
    for record in event:
        raw = _note("partial", record)
        body = json.loads(record.body)
        if body.get("fail_first_delivery") and raw["attributes"]["ApproximateReceiveCount"] == "1":
            failures.append({"itemIdentifier": raw["messageId"]})
    return {"batchItemFailures": failures}


@app.on_sqs_message(queue=Q_POISON, batch_size=1)
def poison(event):
    for record in event:
        _note("poison", record)
    raise RuntimeError("this record always fails")


@app.on_sqs_message(queue=Q_EVENTS, batch_size=1)
def events_target(event):
    for record in event:
        _note("events_target", record)


@app.on_sqs_message(queue=Q_SLOW, batch_size=1)
def slow(event):
    with _lock:
        active["now"] += 1
        active["max"] = max(active["max"], active["now"])
    try:
        for record in event:
            _note("slow", record)
        time.sleep(0.5)
    finally:
        with _lock:
            active["now"] -= 1


@pytest.fixture(scope="module")
def sqs(aws_env):
    return aws_env.client("sqs")


@pytest.fixture(scope="module")
def queues(sqs, aws_env):
    urls = {}

    def make(name, visibility=1, dlq_max=None):
        attrs = {"VisibilityTimeout": str(visibility)}
        if dlq_max:
            dlq_url = sqs.create_queue(QueueName=name + "-dlq")["QueueUrl"]
            dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            urls[name + "-dlq"] = dlq_url
            attrs["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": dlq_max})
        urls[name] = sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]

    make(Q_BASIC, visibility=30)
    # Visibility must outlast batching window + handler, as AWS requires: a shorter
    # one lets a failed record come back while its next batch is still being gathered.
    make(Q_PARTIAL, visibility=3, dlq_max=5)
    make(Q_POISON, visibility=1, dlq_max=POISON_MAX_RECEIVES)
    make(Q_EVENTS, visibility=30)
    make(Q_SLOW, visibility=30)
    make(Q_RATE, visibility=30)
    # A rate rule of our own (the stack's rules may be consumed by a running stack):
    # created first thing so its first minute runs while the other tests do.
    events = aws_env.client("events")
    rate_arn = sqs.get_queue_attributes(QueueUrl=urls[Q_RATE], AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    rule_arn = events.put_rule(Name=RATE_RULE, ScheduleExpression="rate(1 minute)")["RuleArn"]
    events.put_targets(Rule=RATE_RULE, Targets=[{"Id": "q", "Arn": rate_arn}])
    urls["_rate_rule"] = (rule_arn, time.monotonic())
    yield urls
    for rule in (RATE_RULE, EVENT_RULE):
        try:
            events.remove_targets(Rule=rule, Ids=["q"])
            events.delete_rule(Name=rule)
        except Exception:
            pass
    for name, url in urls.items():
        if not name.startswith("_"):
            sqs.delete_queue(QueueUrl=url)


def _runner(localstack, only, **kw):
    kw.setdefault("wait_time_seconds", 1)
    return Runner(app, endpoint_url=localstack.endpoint_url, region=localstack.region,
                  only=only, log_stream=io.StringIO(), **kw)


def _count(sqs, url):
    attrs = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


# ------------------------------------------------------------------ infra

@pytest.fixture(scope="module")
def deployed(aws_env):
    """Deploy infra/resources.yml; on a LocalStack given by AWS_ENDPOINT_URL, as recon-local."""
    if aws_env.started_here:
        stack, params = "recon-it-%s" % SUFFIX, {"ArtifactsBucketName": "recon-artifacts-it-%s" % SUFFIX}
    else:
        stack, params = deploy_mod.DEFAULT_STACK, dict(deploy_mod.LOCAL_PARAMETERS)
    t0 = time.monotonic()
    outputs = deploy_mod.deploy(
        stack_name=stack, endpoint_url=aws_env.endpoint_url, region=aws_env.region,
        parameters=params, timeout=180,
    )
    return {"outputs": outputs, "at": t0, "stack": stack, "params": params}


def test_deploy_creates_queues_rules_and_bucket(deployed, aws_env):
    sqs, events, s3 = aws_env.client("sqs"), aws_env.client("events"), aws_env.client("s3")
    for name in ("recon-jobs", "recon-segments", "recon-schedule", "recon-maintenance",
                 "recon-alerts", "recon-stream-steps"):
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        redrive = json.loads(attrs["RedrivePolicy"])
        assert redrive["deadLetterTargetArn"].endswith(":%s-dlq" % name)
        assert int(redrive["maxReceiveCount"]) == 5
        assert attrs["VisibilityTimeout"] == "120"
        sqs.get_queue_url(QueueName=name + "-dlq")
    hourly = events.describe_rule(Name="recon-hourly")
    assert hourly["ScheduleExpression"] == "cron(0 * * * ? *)"
    sweeper = events.describe_rule(Name="recon-sweeper")
    assert sweeper["ScheduleExpression"] == "rate(1 minute)"
    targets = events.list_targets_by_rule(Rule="recon-sweeper")["Targets"]
    assert targets and targets[0]["Arn"].endswith(":recon-maintenance")
    assert events.list_targets_by_rule(Rule="recon-hourly")["Targets"][0]["Arn"].endswith(":recon-schedule")
    bucket = deployed["outputs"]["ArtifactsBucketName"]
    assert bucket == deployed["params"]["ArtifactsBucketName"]
    s3.head_bucket(Bucket=bucket)
    # Idempotent: a second deploy is a no-op update that returns the same outputs.
    again = deploy_mod.deploy(
        stack_name=deployed["stack"], endpoint_url=aws_env.endpoint_url, region=aws_env.region,
        parameters=deployed["params"], timeout=120,
    )
    assert again == deployed["outputs"]


# ------------------------------------------------------------------ runner

def test_message_is_processed_and_deleted(localstack, sqs, queues):
    runner = _runner(localstack, ["basic"])
    sqs.send_message(
        QueueUrl=queues[Q_BASIC], MessageBody='{"hello": "world"}',
        MessageAttributes={"kind": {"DataType": "String", "StringValue": "greeting"}},
    )
    results = runner.drain(timeout=20, until=lambda: len(seen["basic"]) >= 1)
    assert [r.error for r in results] == [None]
    assert seen["basic"][0][0] == '{"hello": "world"}'
    assert results[0].deleted == 1
    wait_for(lambda: _count(sqs, queues[Q_BASIC]) == 0, 10, what="queue empty")


def test_event_shape_matches_lambda(localstack, sqs, queues):
    captured = {}
    runner = _runner(localstack, ["basic"])
    sqs.send_message(
        QueueUrl=queues[Q_BASIC], MessageBody="shape",
        MessageAttributes={"n": {"DataType": "Number", "StringValue": "7"},
                           "b": {"DataType": "Binary", "BinaryValue": b"\x00\x01"}},
    )
    q = None

    def grab(event, context):
        captured["event"], captured["context"] = event, context
        return None

    runner.resolve_queues()
    q = runner._queues[Q_BASIC]
    messages = wait_for(lambda: runner._receive(q, 1), 10, what="message")
    q.source = type(q.source)(**{**q.source.__dict__, "handler": grab})
    inv = runner.process_batch(q, messages)
    rec = captured["event"]["Records"][0]
    assert inv.deleted == 1
    assert rec["eventSource"] == "aws:sqs"
    assert rec["eventSourceARN"].endswith(":" + Q_BASIC)
    assert rec["awsRegion"] == localstack.region
    assert rec["body"] == "shape"
    assert rec["attributes"]["ApproximateReceiveCount"] == "1"
    assert rec["attributes"]["SentTimestamp"].isdigit()
    assert rec["md5OfBody"]
    assert rec["messageAttributes"]["n"] == {
        "stringValue": "7", "stringListValues": [], "binaryListValues": [], "dataType": "Number"}
    assert rec["messageAttributes"]["b"]["binaryValue"] == "AAE="
    ctx = captured["context"]
    assert ctx.function_name == "runner-it-local-basic"
    assert 0 < ctx.get_remaining_time_in_millis() <= 60000
    assert ctx.aws_request_id == inv.request_id


def test_partial_batch_failure_redelivers_only_the_failed_record(localstack, sqs, queues):
    runner = _runner(localstack, ["partial"])
    bodies = [json.dumps({"n": i, "fail_first_delivery": i == 2}) for i in range(5)]
    sqs.send_message_batch(
        QueueUrl=queues[Q_PARTIAL], Entries=[{"Id": str(i), "MessageBody": b} for i, b in enumerate(bodies)]
    )

    def done():
        return sum(1 for body, count, _ in seen["partial"] if json.loads(body)["n"] == 2 and count >= 2)

    results = runner.drain(timeout=30, until=done)
    by_n = defaultdict(list)
    for body, count, _ in seen["partial"]:
        by_n[json.loads(body)["n"]].append(count)
    assert sorted(by_n) == [0, 1, 2, 3, 4]
    for n in (0, 1, 3, 4):
        assert by_n[n] == [1], "record %d processed %r" % (n, by_n[n])
    assert by_n[2] == [1, 2]
    first = results[0]
    assert first.failures == 1 and first.deleted == first.batch_size - 1
    wait_for(lambda: _count(sqs, queues[Q_PARTIAL]) == 0, 10, what="partial queue empty")
    assert _count(sqs, queues[Q_PARTIAL + "-dlq"]) == 0


def test_always_failing_record_lands_in_dlq(localstack, sqs, queues):
    runner = _runner(localstack, ["poison"])
    sqs.send_message(QueueUrl=queues[Q_POISON], MessageBody="poison-pill")
    dlq = queues[Q_POISON + "-dlq"]
    results = runner.drain(timeout=40, until=lambda: _count(sqs, dlq) >= 1)
    assert all(r.error and "always fails" in r.error and r.deleted == 0 for r in results)
    counts = [c for body, c, _ in seen["poison"] if body == "poison-pill"]
    assert counts == list(range(1, POISON_MAX_RECEIVES + 1))
    moved = sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=1)["Messages"]
    assert moved[0]["Body"] == "poison-pill"
    assert _count(sqs, queues[Q_POISON]) == 0


def test_eventbridge_rule_delivers_cloudwatch_event_to_handler(localstack, sqs, queues):
    events = localstack.client("events")
    arn = sqs.get_queue_attributes(QueueUrl=queues[Q_EVENTS], AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    rule = EVENT_RULE
    events.put_rule(Name=rule, EventPattern=json.dumps({"source": ["recon.it"], "detail-type": ["Tick"]}))
    events.put_targets(Rule=rule, Targets=[{"Id": "q", "Arn": arn}])
    events.put_events(Entries=[{"Source": "recon.it", "DetailType": "Tick", "Detail": json.dumps({"job": 42})}])
    runner = _runner(localstack, ["events_target"])
    runner.drain(timeout=20, until=lambda: seen["events_target"])
    body = json.loads(seen["events_target"][0][0])
    assert body["source"] == "recon.it"
    assert body["detail-type"] == "Tick"
    assert body["detail"] == {"job": 42}
    for key in ("version", "id", "account", "time", "region", "resources"):
        assert key in body


def test_background_pollers_run_concurrently_and_stop_cleanly(localstack, sqs, queues):
    runner = _runner(localstack, ["slow"], concurrency=2)
    sqs.send_message_batch(
        QueueUrl=queues[Q_SLOW], Entries=[{"Id": str(i), "MessageBody": "s%d" % i} for i in range(6)]
    )
    runner.start()
    try:
        wait_for(lambda: len(seen["slow"]) >= 6, 30, what="6 slow messages")
    finally:
        t0 = time.monotonic()
        assert runner.stop(timeout=30)
        stop_seconds = time.monotonic() - t0
    assert active["max"] == 2
    assert sorted(b for b, _, _ in seen["slow"]) == ["s%d" % i for i in range(6)]
    assert stop_seconds < 10
    log_lines = [json.loads(line) for line in runner.log_stream.getvalue().splitlines()]
    assert {line["handler"] for line in log_lines} == {"slow"}
    assert all({"batch_size", "failures", "duration_ms"} <= set(line) for line in log_lines)
    wait_for(lambda: _count(sqs, queues[Q_SLOW]) == 0, 10, what="slow queue empty")


def test_rate_rule_fires_a_scheduled_event_into_its_queue(localstack, queues):
    """A rate(1 minute) EventBridge rule (like recon-sweeper) delivers a Scheduled Event through SQS."""
    rule_arn, created = queues["_rate_rule"]
    rate_app = Chalice(app_name="recon")
    got = []

    @rate_app.on_sqs_message(queue=Q_RATE, batch_size=1)
    def sweep(event):
        for record in event:
            got.append(json.loads(record.body))

    runner = Runner(rate_app, endpoint_url=localstack.endpoint_url, region=localstack.region,
                    wait_time_seconds=2, log_stream=io.StringIO())
    runner.drain(timeout=max(5.0, created + 100 - time.monotonic()), until=lambda: got)
    assert got[0]["detail-type"] == "Scheduled Event"
    assert got[0]["source"] == "aws.events"
    assert got[0]["resources"] == [rule_arn]
    assert got[0]["detail"] == {}


def test_cli_runs_an_app_in_the_foreground_and_stops_on_sigterm(aws_env, tmp_path):
    """python -m infra.local.runner as the stack runs it: JSON line per invocation, clean SIGTERM."""
    import os
    import signal
    import subprocess
    import sys

    queue = "it-cli-%s" % SUFFIX
    sqs = aws_env.client("sqs")
    url = sqs.create_queue(QueueName=queue)["QueueUrl"]
    marker = tmp_path / "handled.txt"
    (tmp_path / "cliapp.py").write_text(
        "from chalice import Chalice\n"
        "app = Chalice(app_name='cliapp')\n"
        "@app.on_sqs_message(queue=%r, batch_size=2)\n"
        "def handle(event):\n"
        "    with open(%r, 'a') as f:\n"
        "        for r in event:\n"
        "            f.write(r.body + '\\n')\n" % (queue, str(marker))
    )
    env = dict(os.environ, AWS_ENDPOINT_URL=aws_env.endpoint_url)
    out, err = tmp_path / "out.log", tmp_path / "err.log"
    with open(out, "w") as fo, open(err, "w") as fe:
        proc = subprocess.Popen(
            [sys.executable, "-m", "infra.local.runner", "--app", "cliapp:app", "--project-dir", str(tmp_path),
             "--wait-time", "1", "--concurrency", "1"],
            cwd=Path(__file__).resolve().parents[2], env=env, stdout=fo, stderr=fe,
        )
    try:
        wait_for(lambda: "runner started" in err.read_text() or proc.poll() is not None, 30, what="runner start")
        assert proc.poll() is None, err.read_text()
        sqs.send_message(QueueUrl=url, MessageBody="via-cli")
        wait_for(lambda: marker.exists() and "via-cli" in marker.read_text(), 20, what="CLI handled message")
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=20)
    assert rc == 0, err.read_text()
    lines = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    assert lines and lines[0]["handler"] == "handle" and lines[0]["deleted"] == 1
    assert "runner stopped" in err.read_text()
    sqs.delete_queue(QueueUrl=url)
