"""Fixtures for the webhook-delivery tests: a real PostgreSQL, SQS through moto, and a real HTTP
receiver on 127.0.0.1 that checks signatures and can be told to fail."""
from __future__ import annotations

import json
import threading
import uuid
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.pgcluster import database_url_or_cluster

from chalicelib import aws
from chalicelib.cdc import alerts
from chalicelib.config import reset_settings
from chalicelib.db import pool

SECRET = "whsec-test-0123456789"
QUEUE = "recon-alerts"


# ------------------------------------------------------------------------------------- PostgreSQL
@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    """DATABASE_URL when the environment provides one (the test stack), otherwise a private cluster
    from tests/pgcluster.py."""
    from chalicelib.db.migrate import migrate

    url, stop = database_url_or_cluster(tmp_path_factory.mktemp("alerts-pg"))
    migrate(url, log=lambda *_: None)
    yield url
    stop()


@pytest.fixture
def env(database_url, monkeypatch):
    """Service settings for one test; returns a function to change them (re-reads settings)."""
    values = {
        "DATABASE_URL": database_url,
        "WEBHOOK_SECRET": SECRET,
        "WEBHOOK_URLS": "",
        "DRIFT_ALERT_THRESHOLD_PERCENTAGE": "1.0",
        "QUEUE_PREFIX": "",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)

    def set_env(**changes):
        values.update({k.upper(): str(v) for k, v in changes.items()})
        for k, v in values.items():
            monkeypatch.setenv(k, v)
        reset_settings()

    set_env()
    pool.close_pool()
    aws.reset_clients()
    yield set_env
    pool.close_pool()
    aws.reset_clients()
    reset_settings()


@pytest.fixture
def db(env):
    """Run one statement in its own committed transaction; returns the rows."""

    def run(sql, params=()):
        with pool.transaction() as conn:
            cur = conn.execute(sql, params)
            return cur.fetchall() if cur.description else []

    return run


def make_job(db, *, status="COMPLETED", drift=0.0, mismatches=0, rows=1000, errors=None, table="users",
             strategy="CHECKSUM", duration_s=135, job_type="MANUAL_ONDEMAND", completed=None):
    """Insert a finished recon.jobs row and return it as the job engine would hand it over."""
    completed = completed or datetime.now(timezone.utc).replace(microsecond=0)
    started = completed - timedelta(seconds=duration_s)
    (job,) = db(
        "INSERT INTO recon.jobs (job_id, table_name, job_type, validation_strategy, priority, status, phase,"
        " started_at, completed_at, deadline_at, cassandra_row_count, postgres_row_count, mismatch_count,"
        " drift_percentage, validation_errors)"
        " VALUES (%s, %s, %s, %s, 1, %s, 'DONE', %s, %s, %s, %s, %s, %s, %s, %s::jsonb)"
        " RETURNING *",
        (uuid.uuid4(), table, job_type, strategy, status, started, completed, completed + timedelta(hours=1),
         rows, rows - (mismatches or 0), mismatches, drift, None if errors is None else json.dumps(errors)),
    )
    return job


def deliveries(db, job_id):
    return db(
        "SELECT * FROM recon.webhook_deliveries WHERE job_id = %s ORDER BY event, url", (job_id,)
    )


# ------------------------------------------------------------------------------------- receiver
class Receiver:
    """Records every POST; answers from a script of statuses (then 200)."""

    def __init__(self, secret: str):
        self.secret = secret
        self.requests: list[dict] = []
        self.script: list[int | str] = []
        self.release = threading.Event()
        self.arrived = threading.Event()  # set when a "hold" request is in
        self.unhold = threading.Event()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                valid = alerts.verify_signature(
                    receiver.secret, headers.get("x-recon-timestamp"), body, headers.get("x-recon-signature", "")
                )
                with receiver._lock:
                    receiver.requests.append({"path": self.path, "headers": headers, "body": body, "valid": valid})
                    action = receiver.script.pop(0) if receiver.script else 200
                if action == "hold":  # answer 200 once the test says so
                    receiver.arrived.set()
                    receiver.unhold.wait(30)
                    action = 200
                if action == "hang":
                    receiver.release.wait(30)
                    return
                if action == "redirect":
                    self.send_response(302)
                    self.send_header("Location", "/elsewhere")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if not valid:
                    action = 401
                reply = b"ok" if 200 <= int(action) < 300 else b"receiver says no"
                self.send_response(int(action))
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/recon"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def fail_next(self, n: int, status: int = 500) -> None:
        self.script.extend([status] * n)

    def posts(self) -> list[dict]:
        with self._lock:
            return list(self.requests)

    def close(self) -> None:
        self.release.set()
        self.unhold.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver(SECRET)
    yield r
    r.close()


# ------------------------------------------------------------------------------------- SQS (moto)
class Queue:
    """The recon-alerts queue in moto, plus a record of every message the code sent to it."""

    def __init__(self, sqs, url: str, sent: list):
        self.sqs, self.url, self.sent = sqs, url, sent

    def attributes(self) -> dict:
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesDelayed"]
        attrs = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=names)["Attributes"]
        return {k: int(v) for k, v in attrs.items()}

    def receive_all(self) -> list[tuple[dict, int, str]]:
        """Visible messages as (body, receive_count, receipt_handle)."""
        out = []
        while True:
            resp = self.sqs.receive_message(
                QueueUrl=self.url, MaxNumberOfMessages=10, AttributeNames=["ApproximateReceiveCount"],
                VisibilityTimeout=0, WaitTimeSeconds=0,
            )
            msgs = resp.get("Messages", [])
            if not msgs:
                return out
            for m in msgs:
                out.append((json.loads(m["Body"]), int(m["Attributes"]["ApproximateReceiveCount"]), m["ReceiptHandle"]))
                self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=m["ReceiptHandle"])

    def work(self) -> int:
        """Act as the queue worker for every visible message; returns how many were handled."""
        handled = 0
        for body, count, _ in self.receive_all():
            alerts.handle_delivery_message(body, count)
            handled += 1
        return handled

    def purge(self) -> None:
        self.sqs.purge_queue(QueueUrl=self.url)


@pytest.fixture
def queue(env, monkeypatch):
    from moto import mock_aws

    with mock_aws():
        aws.reset_clients()
        sqs = aws.client("sqs")
        dlq = sqs.create_queue(QueueName=f"{QUEUE}-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        url = sqs.create_queue(
            QueueName=QUEUE,
            Attributes={
                "VisibilityTimeout": "120",
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"}),
            },
        )["QueueUrl"]
        sent: list[dict] = []
        real_send = aws.send_message

        def recording_send(queue_name, body, delay_seconds=0):
            sent.append({"queue": queue_name, "body": body, "delay_seconds": delay_seconds})
            return real_send(queue_name, body, delay_seconds=delay_seconds)

        monkeypatch.setattr(aws, "send_message", recording_send)
        yield Queue(sqs, url, sent)
    aws.reset_clients()
