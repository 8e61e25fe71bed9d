"""A segment that fails with a permanent error is given back with an attempt counted; the worker wakes
another worker for the next attempt a few seconds later. Without that wake-up, a job whose only
claimable segment keeps failing (a SAMPLE job has one segment; so has the tail of a scan) waited one
queue visibility timeout (two minutes) per attempt before it could end FAILED."""
from __future__ import annotations

import types
import uuid

import pytest

from chalicelib.cdc import jobs
from chalicelib.cdc import strategies as strategies_mod
from chalicelib.runs import wakeups
from chalicelib.workers import cdc as worker


class _PermanentlyBroken:
    segments = 1

    def run_segment(self, ctx, start, end, job, lease):
        raise ValueError("Undefined column name extra")


class _TransientlyBroken(_PermanentlyBroken):
    def run_segment(self, ctx, start, end, job, lease):
        raise ConnectionResetError("connection reset by peer")


@pytest.fixture
def segment(monkeypatch):
    job_id = uuid.uuid4()
    job = {"job_id": job_id, "table_name": "users", "validation_strategy": "SAMPLE"}
    woken: list[tuple[str, list, int]] = []
    released: list[tuple] = []
    monkeypatch.setattr(jobs, "get_job", lambda jid: job)
    monkeypatch.setattr(worker, "get_catalog", lambda: types.SimpleNamespace(get=lambda name: object()))
    monkeypatch.setattr(worker, "context_for", lambda table: object())
    monkeypatch.setattr(jobs, "segment_heartbeat", lambda jid, no: (lambda: True))
    monkeypatch.setattr(jobs, "release_segment",
                        lambda jid, no, error, transient=False: released.append((jid, no, transient)) or False)
    monkeypatch.setattr(wakeups, "wake", lambda queue, bodies, delay_s=0: woken.append((queue, bodies, delay_s)) or True)
    monkeypatch.setattr(worker.time, "sleep", lambda s: None)
    noted: list[tuple] = []
    monkeypatch.setattr(jobs, "note_retry", lambda jid, where, exc: noted.append((jid, where, type(exc).__name__)))
    seg = {"job_id": job_id, "segment_no": 0, "token_start": -2**63, "token_end": 2**63 - 1}
    return types.SimpleNamespace(seg=seg, job=job, woken=woken, released=released, job_id=job_id, noted=noted)


def test_a_permanent_failure_wakes_the_next_attempt_within_seconds(segment, monkeypatch):
    monkeypatch.setitem(strategies_mod.STRATEGIES, "SAMPLE", _PermanentlyBroken())
    with pytest.raises(ValueError, match="Undefined column"):
        worker.run_segment(segment.seg)
    assert segment.released == [(segment.job_id, 0, False)]   # an attempt is counted
    assert segment.woken == [(jobs.SEGMENTS_QUEUE,
                              [{"kind": "segment", "job_id": str(segment.job_id), "segment_no": 0}],
                              worker.PERMANENT_REWAKE_SECONDS)]
    assert 0 < worker.PERMANENT_REWAKE_SECONDS <= 15


def test_the_last_permanent_failure_fails_the_job_and_wakes_nothing(segment, monkeypatch):
    monkeypatch.setitem(strategies_mod.STRATEGIES, "SAMPLE", _PermanentlyBroken())
    monkeypatch.setattr(jobs, "release_segment", lambda jid, no, error, transient=False: True)
    assert worker.run_segment(segment.seg) == "job-failed"
    assert segment.woken == []


def test_a_transient_failure_still_wakes_without_counting_an_attempt(segment, monkeypatch):
    monkeypatch.setitem(strategies_mod.STRATEGIES, "SAMPLE", _TransientlyBroken())
    monkeypatch.setattr(worker, "retry_call", lambda fn, *a, what="", on_retry=None: fn(*a))
    assert worker.run_segment(segment.seg) == "released"
    assert segment.released == [(segment.job_id, 0, True)]
    # the job shows what it is waiting out meanwhile (a permanent failure is counted instead)
    assert segment.noted == [(segment.job_id, "segment 0", "ConnectionResetError")]
    assert [w[2] for w in segment.woken] == [worker.TRANSIENT_REWAKE_SECONDS]
