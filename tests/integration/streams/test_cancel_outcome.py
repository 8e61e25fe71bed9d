"""platform §5: a cancel stops the running step, skips the pending ones and cancels the run; "cancel of a
finished run is 409". A run whose steps are all done still reads RUNNING while its end is written (the last
exceptions loading, the execution's last transitions): a cancel in that moment must not turn its COMPLETED or
FAILED into CANCELED (the run's outcome, its error message, its completion event and the streams that follow it
would be lost). The steps' states are set in the database here; the cancel goes through the API."""
from __future__ import annotations

import threading

import psycopg
import pytest
from psycopg.rows import dict_row

from tests.integration.streams.conftest import assert_error, step
from tests.integration.streams.test_streams import _inputs

_DONE = ("COMPLETED", "FAILED", "SKIPPED", "CANCELED", "RETRY_WAIT")


def _created_run(api, uid, *, continue_on_failure: bool) -> int:
    from chalicelib.streams import runs

    src, tgt, gw, rs = _inputs(api, uid)
    stream = api.stream({"name": f"cancel outcome {uid}", "triggerType": "MANUAL", "steps": [
        step(1, ("FILE", src["id"]), ("FILE", tgt["id"]), rs["id"], continueOnFailure=continue_on_failure),
        step(2, ("STEP_OUTPUT_UNMATCHED_SOURCE", 1), ("FILE", gw["id"]), rs["id"])]})
    return runs.create_run(stream["id"], "MANUAL", None, start=False)["runId"]


def _put(db, run_id: int, first: str, second: str) -> None:
    db.execute("UPDATE recon.stream_runs SET status = 'RUNNING', started_at = now() WHERE run_id = %s", (run_id,))
    for order, status in ((1, first), (2, second)):
        db.execute("UPDATE recon.stream_step_runs SET status = %s, started_at = CASE WHEN %s <> 'PENDING' THEN now() END,"
                   " completed_at = CASE WHEN %s = ANY(%s) THEN now() END,"
                   " error_message = CASE WHEN %s = 'FAILED' THEN 'injected: the gateway file is gone' END"
                   " WHERE run_id = %s AND step_order = %s",
                   (status, status, status, list(_DONE), status, run_id, order))


def _statuses(db, run_id: int) -> tuple[str, list[str]]:
    run = db.execute("SELECT status FROM recon.stream_runs WHERE run_id = %s", (run_id,)).fetchone()["status"]
    steps = [r["status"] for r in db.execute(
        "SELECT DISTINCT ON (step_order) status FROM recon.stream_step_runs WHERE run_id = %s"
        " ORDER BY step_order, attempt_no DESC", (run_id,)).fetchall()]
    return run, steps


@pytest.mark.parametrize("first, second, continue_on_failure, ending", [
    ("COMPLETED", "COMPLETED", False, "COMPLETED"),
    ("COMPLETED", "SKIPPED", True, "PARTIAL_FAILED"),
    ("FAILED", "PENDING", False, "FAILED"),        # the failed step stops the run: step 2 never starts
])
def test_a_run_whose_steps_are_done_refuses_the_cancel(api, db, uid, first, second, continue_on_failure, ending):
    run_id = _created_run(api, uid, continue_on_failure=continue_on_failure)
    _put(db, run_id, first, second)
    body = assert_error(api.post(f"/stream-runs/{run_id}/cancel"), 409, "CONFLICT")
    assert f"ending {ending}" in body["message"], body
    assert _statuses(db, run_id) == ("RUNNING", [first, second])


@pytest.mark.parametrize("first, second, continue_on_failure, after", [
    ("COMPLETED", "PENDING", False, ["COMPLETED", "SKIPPED"]),      # between the steps
    ("COMPLETED", "IN_PROGRESS", False, ["COMPLETED", "CANCELED"]),
    ("FAILED", "PENDING", True, ["FAILED", "SKIPPED"]),             # step 2 still runs after a failure it tolerates
    ("RETRY_WAIT", "PENDING", False, ["CANCELED", "SKIPPED"]),      # a retry is still to come
])
def test_a_run_with_a_step_still_to_run_is_canceled(api, db, uid, first, second, continue_on_failure, after):
    run_id = _created_run(api, uid, continue_on_failure=continue_on_failure)
    _put(db, run_id, first, second)
    r = api.post(f"/stream-runs/{run_id}/cancel")
    assert r.status_code == 200 and r.json()["data"]["status"] == "CANCELED", r.text
    assert _statuses(db, run_id) == ("CANCELED", after)


def _cancel_while_step_2_is_locked(api, db, stack_env, run_id: int, release) -> tuple:
    """Cancel the run while another transaction (a completing worker's, locking the step run's row as the
    exception load does) holds step 2; once the cancel is seen waiting for that row, ``release(worker)`` runs in
    that transaction and it commits. (the cancel's answer, what ``release`` returned)"""
    answer = {}
    with psycopg.connect(stack_env["DATABASE_URL"], row_factory=dict_row) as worker:
        worker.execute("SELECT step_run_id FROM recon.stream_step_runs WHERE run_id = %s AND step_order = 2"
                       " FOR NO KEY UPDATE", (run_id,))
        cancel = threading.Thread(target=lambda: answer.update(r=api.post(f"/stream-runs/{run_id}/cancel")))
        cancel.start()
        # the cancel is waiting for the step's row (not answered while the transaction is open)
        waiting = "SELECT count(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE %s"
        deadline_checks = 0
        while db.execute(waiting, ("%stream_step_runs%FOR NO KEY UPDATE%",)).fetchone()["n"] == 0:
            deadline_checks += 1
            assert deadline_checks < 3000 and cancel.is_alive(), answer
            threading.Event().wait(0.01)
        assert "r" not in answer
        released = release(worker)
        worker.commit()
    cancel.join(60)
    return answer["r"], released


def test_a_cancel_waits_for_the_last_step_completing_and_then_refuses(api, db, stack_env, uid):
    """The last step completes in the transaction that loads its exceptions: a cancel arriving meanwhile waits
    for it and then finds the step COMPLETED (it used to cancel the run with every step completed)."""
    run_id = _created_run(api, uid, continue_on_failure=False)
    _put(db, run_id, "COMPLETED", "IN_PROGRESS")
    r, _ = _cancel_while_step_2_is_locked(api, db, stack_env, run_id, lambda worker: worker.execute(
        "UPDATE recon.stream_step_runs SET status = 'COMPLETED', completed_at = now()"
        " WHERE run_id = %s AND step_order = 2", (run_id,)))
    body = assert_error(r, 409, "CONFLICT")
    assert "ending COMPLETED" in body["message"], body
    assert _statuses(db, run_id) == ("RUNNING", ["COMPLETED", "COMPLETED"])


def test_a_cancel_that_waited_stamps_the_time_it_took_effect(api, db, stack_env, uid):
    """A cancel that waits for a completing step writes its times when it takes effect: the run's updatedAt
    and the canceled step's completedAt were the time the cancel's transaction began (before the wait), so
    the run read updatedAt earlier than its completedAt, and the step ended before the cancel that ended it."""
    run_id = _created_run(api, uid, continue_on_failure=False)
    _put(db, run_id, "COMPLETED", "IN_PROGRESS")
    r, released = _cancel_while_step_2_is_locked(
        api, db, stack_env, run_id, lambda worker: worker.execute("SELECT clock_timestamp() AS t").fetchone()["t"])
    assert r.status_code == 200, r.text
    run = db.execute("SELECT status, updated_at, completed_at FROM recon.stream_runs WHERE run_id = %s",
                     (run_id,)).fetchone()
    step2 = db.execute("SELECT status, completed_at, updated_at FROM recon.stream_step_runs WHERE run_id = %s"
                       " AND step_order = 2", (run_id,)).fetchone()
    assert run["status"] == "CANCELED" and step2["status"] == "CANCELED"
    assert released <= run["completed_at"] <= run["updated_at"], run
    assert released <= step2["completed_at"] <= run["completed_at"], (step2, run)
    api_run = api.get(f"/stream-runs/{run_id}").json()["data"]
    assert api_run["completedAt"] <= api_run["updatedAt"], api_run
