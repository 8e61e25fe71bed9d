"""CDC jobs under faults, at the control-plane level: a transient failure does not use up a segment's
attempts; a permanent one does and fails the job with the error; a job whose faults never end is
failed at its deadline naming the last error."""
from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg.rows import dict_row

from chalicelib import aws
from chalicelib.cdc import jobs
from chalicelib.config import reset_settings
from chalicelib.db import pool
from tests.pgcluster import database_url_or_cluster, fresh_database


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    url, stop = database_url_or_cluster(tmp_path_factory.mktemp("cdc-faults-pg"))
    yield url
    stop()


@pytest.fixture
def url(server, monkeypatch):
    from chalicelib.db.migrate import migrate

    with fresh_database(server, "recon_faults") as url:
        migrate(url, log=lambda *_: None)
        monkeypatch.setenv("DATABASE_URL", url)
        monkeypatch.setenv("WEBHOOK_URLS", "")
        # no queues here: wake-ups are best effort and must not fail anything
        monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        reset_settings()
        pool.close_pool()
        aws.reset_clients()
        yield url
        pool.close_pool()
        aws.reset_clients()
    reset_settings()


def _scanning_job(url, segments=2) -> uuid.UUID:
    job_id = uuid.uuid4()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO recon.jobs (job_id, table_name, job_type, validation_strategy, priority, status, phase,"
            " deadline_at, started_at, segment_count) VALUES (%s, 'users', 'MANUAL_ONDEMAND', 'CHECKSUM', 1,"
            " 'RUNNING', 'SCANNING', now() + interval '1 hour', now(), %s)", (job_id, segments))
        for n in range(segments):
            conn.execute("INSERT INTO recon.segments (job_id, segment_no, token_start, token_end, status)"
                         " VALUES (%s, %s, %s, %s, 'PENDING')", (job_id, n, n * 10, n * 10 + 9))
    return job_id


def _job(url, job_id):
    with psycopg.connect(url, row_factory=dict_row) as conn:
        return conn.execute("SELECT * FROM recon.jobs WHERE job_id = %s", (job_id,)).fetchone()


def test_transient_failures_never_use_up_attempts(url):
    job_id = _scanning_job(url)
    for _ in range(jobs.MAX_SEGMENT_ATTEMPTS + 2):
        seg = jobs.claim_next_segment()
        assert seg["job_id"] == job_id and seg["attempts"] == 1
        assert jobs.release_segment(job_id, seg["segment_no"], "NoHostAvailable: down", transient=True) is False
    assert _job(url, job_id)["status"] == "RUNNING"


def test_permanent_failures_fail_the_job_with_the_error(url):
    job_id = _scanning_job(url, segments=1)
    for attempt in range(1, jobs.MAX_SEGMENT_ATTEMPTS + 1):
        seg = jobs.claim_next_segment()
        assert seg["attempts"] == attempt
        failed = jobs.release_segment(job_id, 0, 'UndefinedColumn: column "email" does not exist\ntraceback...')
        assert failed is (attempt == jobs.MAX_SEGMENT_ATTEMPTS)
    job = _job(url, job_id)
    assert job["status"] == "FAILED"
    assert job["validation_errors"] == [
        f'segment 0 failed {jobs.MAX_SEGMENT_ATTEMPTS} times; last error: UndefinedColumn: column "email" does not exist']


def test_endless_transient_faults_fail_the_job_at_its_deadline_with_the_last_error(url):
    job_id = _scanning_job(url)
    seg = jobs.claim_next_segment()
    jobs.release_segment(job_id, seg["segment_no"], "OperationTimedOut: errors={}, last_host=10.0.0.7\n...", transient=True)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE recon.jobs SET deadline_at = now() - interval '1 second' WHERE job_id = %s", (job_id,))
    counts = jobs.sweep()
    assert counts["failed"] == 1
    job = _job(url, job_id)
    assert job["status"] == "FAILED"
    (reason,) = job["validation_errors"]
    assert reason.startswith("deadline exceeded: still SCANNING after ")
    assert reason.endswith("(0/2 segments done); last error (segment 0): OperationTimedOut: errors={}, last_host=10.0.0.7")
