"""The local Lambda runner: SQS event source mappings and schedules for a Chalice app.

For each ``@app.on_sqs_message`` source, ``concurrency`` pollers long-poll the queue
(resolved by name), build a Lambda SQS event of up to ``batch_size`` records, invoke
``app.handler_map[name](event, context)``, and delete exactly the records that did
not fail (ReportBatchItemFailures semantics). If the handler raises, nothing is
deleted: visibility timeout and dead-letter redrive are left to SQS, as in AWS.

``@app.schedule`` sources fire on their rate/cron with a scheduled-event payload.
"""
from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, Optional, Sequence, TextIO

import boto3
from botocore.config import Config as BotoConfig

from .events import (
    InvalidBatchResponse,
    LambdaContext,
    chunks,
    failed_message_ids,
    scheduled_event,
    sqs_event,
    ACCOUNT_ID,
)
from .sources import ScheduleSource, SqsSource, discover, parse_schedule

log = logging.getLogger("infra.local.runner")

SQS_MAX_RECEIVE = 10


@dataclass
class Invocation:
    """What happened in one handler invocation (also the JSON log line)."""

    kind: str  # "sqs" or "schedule"
    handler: str
    source: str  # queue name or schedule expression
    request_id: str
    batch_size: int = 0
    failures: int = 0
    deleted: int = 0
    error: Optional[str] = None
    duration_ms: float = 0.0
    message_ids: List[str] = field(default_factory=list)
    failed_ids: List[str] = field(default_factory=list)

    def as_log(self) -> Dict[str, Any]:
        out = {
            "ts": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
            "kind": self.kind,
            "handler": self.handler,
            "source": self.source,
            "request_id": self.request_id,
            "batch_size": self.batch_size,
            "failures": self.failures,
            "deleted": self.deleted,
            "duration_ms": round(self.duration_ms, 1),
        }
        if self.error:
            out["error"] = self.error
        return out


class _Queue:
    def __init__(self, source: SqsSource, url: str, arn: str):
        self.source = source
        self.url = url
        self.arn = arn


class Runner:
    """Drive a Chalice app's SQS and schedule handlers against (Local)SQS.

    Library use::

        runner = Runner(app, endpoint_url="http://127.0.0.1:4566")
        runner.start()          # background pollers + scheduler
        ...
        runner.stop()           # finish in-flight batches, stop polling

    or synchronously: ``runner.run_once()`` / ``runner.drain(timeout)``.
    """

    def __init__(
        self,
        app: Any,
        endpoint_url: Optional[str] = None,
        region: Optional[str] = None,
        concurrency: int = 2,
        wait_time_seconds: int = 10,
        function_timeout: float = 60.0,
        stage: str = "local",
        only: Optional[Sequence[str]] = None,
        log_stream: Optional[TextIO] = None,
        sqs_client: Any = None,
        queue_resolve_timeout: float = 10.0,
        queue_prefix: Optional[str] = None,
    ):
        self.app = app
        self.region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        self.endpoint_url = endpoint_url or os.environ.get("AWS_ENDPOINT_URL")
        self.concurrency = max(1, int(concurrency))
        self.wait_time_seconds = max(0, min(20, int(wait_time_seconds)))
        self.function_timeout = function_timeout
        self.stage = stage
        self.queue_resolve_timeout = queue_resolve_timeout
        # Same convention as the app's settings (QUEUE_PREFIX): isolated queue sets per test/dev.
        self.queue_prefix = os.environ.get("QUEUE_PREFIX", "") if queue_prefix is None else queue_prefix
        self.log_stream = log_stream if log_stream is not None else sys.stdout
        sqs_sources, schedules = discover(app)
        if only:
            wanted = set(only)
            sqs_sources = [s for s in sqs_sources if s.name in wanted]
            schedules = [s for s in schedules if s.name in wanted]
        self.sqs_sources: List[SqsSource] = sqs_sources
        self.schedules: List[ScheduleSource] = schedules
        self._sqs = sqs_client or self._make_client()
        self._queues: Dict[str, _Queue] = {}
        self._stop = threading.Event()
        self._threads: List[threading.Thread] = []
        self._log_lock = threading.Lock()
        self._inflight = 0
        self._inflight_lock = threading.Condition()
        self.invocations: List[Invocation] = []
        self._started_at: Optional[datetime] = None

    # ------------------------------------------------------------- set-up
    def _make_client(self):
        pollers = max(1, len(self.sqs_sources)) * self.concurrency
        kwargs: Dict[str, Any] = {
            "region_name": self.region,
            "config": BotoConfig(
                max_pool_connections=pollers + 8,
                read_timeout=self.wait_time_seconds + 30,
                retries={"max_attempts": 3, "mode": "standard"},
            ),
        }
        if self.endpoint_url:
            kwargs["endpoint_url"] = self.endpoint_url
        if self.endpoint_url and not (os.environ.get("AWS_ACCESS_KEY_ID") or os.environ.get("AWS_PROFILE")):
            kwargs.update(aws_access_key_id="test", aws_secret_access_key="test")
        return boto3.client("sqs", **kwargs)

    def function_name(self, handler_name: str) -> str:
        # Chalice names each Lambda <app_name>-<stage>-<handler name>.
        return "%s-%s-%s" % (getattr(self.app, "app_name", "app"), self.stage, handler_name)

    def resolve_queues(self) -> None:
        """Look every source's queue up by name (URL and ARN); fail clearly if missing."""
        deadline = time.monotonic() + self.queue_resolve_timeout
        for source in self.sqs_sources:
            if source.queue in self._queues:
                continue
            name = self.queue_prefix + source.queue
            while True:
                try:
                    url = self._sqs.get_queue_url(QueueName=name)["QueueUrl"]
                    arn = self._sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
                        "Attributes"
                    ]["QueueArn"]
                    break
                except self._sqs.exceptions.QueueDoesNotExist:
                    if time.monotonic() >= deadline:
                        raise RuntimeError(
                            "queue %r (handler %s) does not exist at %s; deploy the infra first "
                            "(python -m infra.local.deploy)" % (name, source.name, self.endpoint_url or "AWS")
                        ) from None
                    time.sleep(0.5)
            self._queues[source.queue] = _Queue(source, url, arn)

    # --------------------------------------------------------------- SQS
    def _receive(self, q: _Queue, wait: int) -> List[Dict[str, Any]]:
        """Gather up to batch_size messages like an event source mapping does.

        The first receive long-polls ``wait`` seconds. Without a batching window
        the batch is what one receive returns (or, above 10, what immediate
        follow-up receives add); with a window, receives continue until the batch
        is full or the window has elapsed.
        """
        src = q.source
        batch_size = max(1, src.batch_size)
        window = src.maximum_batching_window
        messages = self._receive_call(q, min(SQS_MAX_RECEIVE, batch_size), wait)
        if not messages:
            return messages
        window_end = time.monotonic() + window
        while len(messages) < batch_size and not self._stop.is_set():
            if window > 0:
                remaining = window_end - time.monotonic()
                if remaining <= 0:
                    break
                wait_s = min(20, int(remaining))
            elif batch_size > SQS_MAX_RECEIVE:
                wait_s = 0
            else:
                break
            got = self._receive_call(q, min(SQS_MAX_RECEIVE, batch_size - len(messages)), wait_s)
            if not got and wait_s == 0:
                if window == 0:
                    break
                self._stop.wait(min(0.2, max(0.0, window_end - time.monotonic())))
            messages.extend(got)
        return messages

    def _receive_call(self, q: _Queue, max_messages: int, wait: int) -> List[Dict[str, Any]]:
        resp = self._sqs.receive_message(
            QueueUrl=q.url,
            MaxNumberOfMessages=max_messages,
            WaitTimeSeconds=wait,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return list(resp.get("Messages", []))

    def process_batch(self, q: _Queue, messages: List[Dict[str, Any]]) -> Invocation:
        """Invoke the handler on one batch and delete the records that succeeded."""
        src = q.source
        event = sqs_event(messages, q.arn, self.region)
        ctx = LambdaContext(self.function_name(src.name), self.region, self.function_timeout)
        ids = [m["MessageId"] for m in messages]
        inv = Invocation("sqs", src.name, src.queue, ctx.aws_request_id, batch_size=len(messages), message_ids=ids)
        t0 = time.perf_counter()
        try:
            response = src.handler(event, ctx)
            failed = failed_message_ids(response, ids)
        except InvalidBatchResponse as exc:
            inv.error = "InvalidBatchResponse: %s" % exc
            failed = set(ids)
        except Exception as exc:  # the whole batch fails, as in Lambda
            inv.error = "%s: %s" % (type(exc).__name__, exc)
            log.debug("handler %s raised", src.name, exc_info=True)
            failed = set(ids)
        inv.duration_ms = (time.perf_counter() - t0) * 1000.0
        if inv.duration_ms > self.function_timeout * 1000.0:
            inv.error = (inv.error + "; " if inv.error else "") + "exceeded function timeout %.0fs" % self.function_timeout
        inv.failures = len(failed)
        inv.failed_ids = sorted(failed)
        to_delete = [m for m in messages if m["MessageId"] not in failed]
        inv.deleted = self._delete(q, to_delete)
        self._record(inv)
        return inv

    def _delete(self, q: _Queue, messages: List[Dict[str, Any]]) -> int:
        deleted = 0
        for chunk in chunks(messages, SQS_MAX_RECEIVE):
            resp = self._sqs.delete_message_batch(
                QueueUrl=q.url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )
            deleted += len(resp.get("Successful", []))
            for fail in resp.get("Failed", []):
                log.warning("delete failed on %s: %s", q.source.queue, fail)
        return deleted

    def _poll_loop(self, q: _Queue) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                messages = self._receive(q, self.wait_time_seconds)
            except Exception as exc:  # LocalStack restarting, network blip...
                if self._stop.is_set():
                    break
                log.warning("receive on %s failed: %s; retrying in %.1fs", q.source.queue, exc, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            backoff = 0.5
            if not messages:
                continue
            # Messages already received are in flight: process them even when
            # stopping, so they are not left invisible until their timeout.
            with self._inflight_lock:
                self._inflight += 1
            try:
                self.process_batch(q, messages)
            except Exception:
                log.exception("processing a batch from %s failed", q.source.queue)
            finally:
                with self._inflight_lock:
                    self._inflight -= 1
                    self._inflight_lock.notify_all()

    # ---------------------------------------------------------- schedules
    def rule_arn(self, schedule_name: str) -> str:
        return "arn:aws:events:%s:%s:rule/%s-%s-%s" % (
            self.region, ACCOUNT_ID, getattr(self.app, "app_name", "app"), self.stage, schedule_name
        )

    def fire_schedule(self, sched: ScheduleSource, when: Optional[datetime] = None) -> Invocation:
        """Invoke one scheduled handler now, with the scheduled-event payload for ``when``."""
        event = scheduled_event(self.rule_arn(sched.name), self.region, when)
        ctx = LambdaContext(self.function_name(sched.name), self.region, self.function_timeout)
        inv = Invocation("schedule", sched.name, sched.expression, ctx.aws_request_id, batch_size=1)
        t0 = time.perf_counter()
        try:
            sched.handler(event, ctx)
        except Exception as exc:
            inv.error = "%s: %s" % (type(exc).__name__, exc)
            inv.failures = 1
            log.debug("schedule %s raised", sched.name, exc_info=True)
        inv.duration_ms = (time.perf_counter() - t0) * 1000.0
        self._record(inv)
        return inv

    def _schedule_loop(self) -> None:
        anchor = self._started_at or datetime.now(timezone.utc)
        plans = [(s, parse_schedule(s.expression)) for s in self.schedules]
        due = {s.name: p.next_after(anchor, anchor) for s, p in plans}
        for s, _ in plans:
            log.info("schedule %s (%s) next at %s", s.name, s.expression, due[s.name].isoformat())
        while not self._stop.is_set():
            now = datetime.now(timezone.utc)
            for s, plan in plans:
                if due[s.name] <= now:
                    fire_at = due[s.name]
                    due[s.name] = plan.next_after(now, anchor)
                    t = threading.Thread(
                        target=self._fire_tracked, args=(s, fire_at), name="schedule-%s" % s.name, daemon=True
                    )
                    t.start()
            next_due = min(due.values())
            self._stop.wait(max(0.05, min(1.0, (next_due - datetime.now(timezone.utc)).total_seconds())))

    def _fire_tracked(self, sched: ScheduleSource, when: datetime) -> None:
        with self._inflight_lock:
            self._inflight += 1
        try:
            self.fire_schedule(sched, when)
        finally:
            with self._inflight_lock:
                self._inflight -= 1
                self._inflight_lock.notify_all()

    # ------------------------------------------------------------ logging
    def _record(self, inv: Invocation) -> None:
        with self._log_lock:
            self.invocations.append(inv)
            if len(self.invocations) > 10000:
                del self.invocations[:5000]
            if self.log_stream is not None:
                self.log_stream.write(json.dumps(inv.as_log()) + "\n")
                self.log_stream.flush()

    # ---------------------------------------------------------- lifecycle
    def start(self) -> "Runner":
        """Start pollers (``concurrency`` per queue, capped by maximum_concurrency) and the scheduler."""
        if self._threads:
            raise RuntimeError("runner already started")
        self._stop.clear()
        self._started_at = datetime.now(timezone.utc)
        self.resolve_queues()
        for src in self.sqs_sources:
            q = self._queues[src.queue]
            n = self.concurrency
            if src.maximum_concurrency:
                n = min(n, int(src.maximum_concurrency))
            for i in range(n):
                t = threading.Thread(target=self._poll_loop, args=(q,), name="sqs-%s-%d" % (src.name, i), daemon=True)
                t.start()
                self._threads.append(t)
        if self.schedules:
            t = threading.Thread(target=self._schedule_loop, name="scheduler", daemon=True)
            t.start()
            self._threads.append(t)
        log.info(
            "runner started: %d SQS source(s) x%d, %d schedule(s)",
            len(self.sqs_sources), self.concurrency, len(self.schedules),
        )
        return self

    def stop(self, timeout: Optional[float] = None) -> bool:
        """Stop polling; wait for in-flight batches to finish. True if all threads ended."""
        self._stop.set()
        if timeout is None:
            timeout = self.wait_time_seconds + self.function_timeout + 5
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        with self._inflight_lock:
            while self._inflight and time.monotonic() < deadline:
                self._inflight_lock.wait(max(0.0, deadline - time.monotonic()))
        alive = [t.name for t in self._threads if t.is_alive()]
        self._threads = []
        if alive:
            log.warning("threads still running after stop: %s", alive)
        return not alive

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run_once(self, wait_time_seconds: int = 0) -> List[Invocation]:
        """One receive + invoke per SQS source, in the calling thread."""
        self.resolve_queues()
        results = []
        for src in self.sqs_sources:
            q = self._queues[src.queue]
            messages = self._receive(q, wait_time_seconds)
            if messages:
                results.append(self.process_batch(q, messages))
        return results

    def drain(self, timeout: float = 30.0, until: Optional[Callable[[], bool]] = None) -> List[Invocation]:
        """Call run_once until ``until()`` is true, or (without ``until``) until a pass finds no message.

        Raises TimeoutError at the deadline.
        """
        deadline = time.monotonic() + timeout
        results: List[Invocation] = []
        while True:
            batch = self.run_once(wait_time_seconds=1)
            results.extend(batch)
            if until is not None:
                if until():
                    return results
            elif not batch:
                return results
            if time.monotonic() >= deadline:
                raise TimeoutError("drain did not finish within %.0fs" % timeout)
