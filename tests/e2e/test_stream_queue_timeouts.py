"""A step's task that times out while its message waits for a worker is not one of the step's attempts.

Step Functions starts the clock of a task's heartbeat timeout when it sends the step's message, not
when a worker takes it. With more steps queued than workers (several streams run at once at month end,
two workers on the local runner) a task times out in the queue and the state machine sends the next
attempt: a step allowed no retry failed "the worker stopped answering" although no worker ever had it
for long. Measured on the local stack: five one-step runs of 25 s started at once, the fifth failed.
"""
from __future__ import annotations

from tests.e2e.test_stream_lost_starts import inproc  # noqa: F401 — a fixture
from tests.e2e.test_stream_runs import _data, _stream, setup, steps_of  # noqa: F401 — setup is a fixture


def _one_step(api, setup, max_retries: int = 0) -> int:
    return _stream(api, setup, steps=1, configs={1: {"continueOnFailure": False, "maxRetries": max_retries}})


def _attempts(api, run_id: int) -> list[tuple[int, str, str | None]]:
    return [(s["attemptNo"], s["status"], s["errorMessage"]) for s in steps_of(api, run_id, attempts="all")]


def _end(api, run_id: int) -> None:
    """Cancel the run; one whose steps are all done is not canceled (409): with no execution here to end it,
    it is ended as the execution's FINISH ends it."""
    from chalicelib.streams import step_worker

    r = api.post(f"/stream-runs/{run_id}/cancel")
    if r.status_code == 409 and "has finished its steps" in r.text:
        step_worker.finish_run(run_id)
    else:
        _data(r)


def test_an_attempt_timed_out_in_the_queue_does_not_use_up_the_steps_retries(api, setup, inproc, monkeypatch):  # noqa: F811
    from chalicelib.db.pool import transaction
    from chalicelib.streams import runs, step_worker

    refused = []
    monkeypatch.setattr(step_worker, "_send_failure", lambda token, error, cause, run_id: refused.append(cause))
    # no execution: the messages are delivered here, as the queue would, in the order a backlog gives them
    run_id = runs.create_run(_one_step(api, setup), "MANUAL", {"reason": "backlog"}, start=False)["runId"]
    try:
        # attempt 1 is taken by a worker after its task timed out in the queue; the retry's message comes a
        # moment later: attempt 1 was timed out by the queue, not by its worker, which has just started
        assert step_worker._claim(run_id, 1, 1, "token") is not None
        second = step_worker._claim(run_id, 1, 2, "token")
        assert second is not None and second.attempt_no == 2, refused
        assert _attempts(api, run_id) == [(1, "FAILED", step_worker.QUEUED_TOO_LONG), (2, "IN_PROGRESS", None)]
        # attempt 2's worker then really stops answering (killed): a lost worker is not the step failing, so
        # it uses up no retry (maxRetries 0) and attempt 3 runs; a step whose worker is lost every time fails
        # after MAX_WORKER_LOSSES of them (before, the first loss failed the step: no retry left)
        for lost in range(2, 2 + step_worker.MAX_WORKER_LOSSES):
            with transaction() as conn:
                conn.execute("UPDATE recon.stream_step_runs SET started_at = started_at - interval '5 minutes'"
                             " WHERE run_id = %s AND attempt_no = %s", (run_id, lost))
            claimed = step_worker._claim(run_id, 1, lost + 1, "token")
            if lost + 1 < 2 + step_worker.MAX_WORKER_LOSSES:
                assert claimed is not None and refused == [], (lost, refused)
                assert _attempts(api, run_id)[lost - 1] == (lost, "FAILED",
                                                            "the worker stopped answering (heartbeat timed out)")
        assert claimed is None
        said = (f"step 1 failed: its worker stopped answering {step_worker.MAX_WORKER_LOSSES} times "
                "(killed, out of memory or past its time limit)")
        assert refused == [said]
        # the step's last attempt says so too: the API shows it as the step's error
        assert _attempts(api, run_id)[-1] == (1 + step_worker.MAX_WORKER_LOSSES, "FAILED", said)
    finally:
        _end(api, run_id)


def test_an_attempt_no_worker_took_before_the_retry_came_is_not_counted(api, setup, inproc, monkeypatch):  # noqa: F811
    from chalicelib.streams import runs, state_machine, step_worker

    refused = []
    monkeypatch.setattr(step_worker, "_send_failure",
                        lambda token, error, cause, run_id: refused.append((error, cause)))
    run_id = runs.create_run(_one_step(api, setup, max_retries=1), "MANUAL", {"reason": "backlog"},
                             start=False)["runId"]
    try:
        # the retry's message overtook attempt 1's, still queued: attempt 1 never ran
        second = step_worker._claim(run_id, 1, 2, "token")
        assert second is not None and refused == []
        assert _attempts(api, run_id) == [(1, "FAILED", step_worker.QUEUED_TOO_LONG), (2, "IN_PROGRESS", None)]
        # attempt 1's message, delivered at last, is late: nothing changes
        assert step_worker._claim(run_id, 1, 1, "token") is None
        assert [a[:2] for a in _attempts(api, run_id)] == [(1, "FAILED"), (2, "IN_PROGRESS")]
        # attempt 2 is the step's first real attempt: when it fails, the one retry allowed is still there
        step_worker._finish_failed(second, "the gateway file could not be read")
        assert refused == [(state_machine.ATTEMPT_FAILED, "the gateway file could not be read")]
        assert _attempts(api, run_id)[1][:2] == (2, "RETRY_WAIT")
    finally:
        _end(api, run_id)


def test_finish_asks_again_for_a_load_that_never_came(api, setup, inproc, monkeypatch):  # noqa: F811
    """A completed step's exceptions still to load after the minute of grace: FINISH asks for them from the
    artifacts (an EXCEPTIONS message), and asks again when that load has not come LOAD_REQUEST_AGAIN_SECONDS
    later (the message lost with its worker, or in the dead-letter queue after outputs made again for a long
    step took longer than its visibility timeout, five times). It asked once only: the run stayed RUNNING."""
    import time

    from chalicelib import aws
    from chalicelib.db.pool import transaction
    from chalicelib.streams import runs, step_worker

    sent = []
    monkeypatch.setattr(aws, "send_messages", lambda queue, bodies, **kw: sent.extend(bodies))
    monkeypatch.setattr(aws, "send_message", lambda queue, body, **kw: sent.append(body))
    run_id = runs.create_run(_one_step(api, setup), "MANUAL", {"reason": "a load lost"}, start=False)["runId"]
    try:
        with transaction() as conn:
            conn.execute("UPDATE recon.stream_runs SET status = 'RUNNING', started_at = now() WHERE run_id = %s", (run_id,))
            conn.execute("UPDATE recon.stream_step_runs SET status = 'COMPLETED', started_at = now() - interval '3 minutes',"
                         " completed_at = now() - interval '2 minutes', summary = '{\"exceptionsLoaded\": false}'"
                         " WHERE run_id = %s", (run_id,))

        def loads() -> int:
            n = sum(1 for b in sent if b.get("kind") == "EXCEPTIONS")
            sent.clear()
            return n
        step_worker.finish_run(run_id)
        assert loads() == 1
        step_worker.finish_run(run_id, load_requested=time.time() - 10)   # asked for 10 s ago: wait
        assert loads() == 0
        step_worker.finish_run(run_id, load_requested=time.time() - step_worker.LOAD_REQUEST_AGAIN_SECONDS - 1)
        assert loads() == 1
        step_worker.finish_run(run_id, load_requested=True)   # a FINISH of the earlier version: asked just now
        assert loads() == 0
    finally:
        with transaction() as conn:
            conn.execute("UPDATE recon.stream_step_runs SET summary = '{\"exceptionsLoaded\": true}' WHERE run_id = %s",
                         (run_id,))
        monkeypatch.undo()
        _end(api, run_id)
