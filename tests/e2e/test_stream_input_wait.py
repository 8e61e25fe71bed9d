"""A run started while one of its input files is still PROCESSING (uploaded, a worker still reading
it) waits for the file instead of failing: the step stays IN_PROGRESS, heartbeating, and goes on once
the file is READY — with the same counts as a run on a file that was READY from the start.

The slow file worker is caused by putting a READY file back to PROCESSING in the control plane (its
bytes are in the bucket, as after `POST /files/{id}/complete`), then releasing it as the worker would.
"""
from __future__ import annotations

import time

import uuid

import psycopg
import pytest

from chalicelib.demo import streams_demo
from tests.e2e.conftest import poll
from tests.e2e.test_stream_runs import _data, _run, _upload, setup, steps_of, wait_run  # noqa: F401


def _set_status(stack, file_id: int, status: str, error: str | None = None) -> None:
    with psycopg.connect(stack["env"]["DATABASE_URL"], autocommit=True) as c:
        c.execute("UPDATE recon.files SET status = %s, error_message = %s WHERE file_id = %s",
                  (status, error, file_id))


@pytest.fixture
def slow_file(api, stack, setup):  # noqa: F811
    """A copy of the marketplace file, shown PROCESSING as if its worker had not finished."""
    path = setup["data"].files["marketplace"]
    file_id = _upload(api, path)
    _set_status(stack, file_id, "PROCESSING")
    assert _data(api.get(f"/files/{file_id}"))["status"] == "PROCESSING"
    return file_id


def _stream_reading(api, setup, file_id: int) -> int:  # noqa: F811
    """A one-step stream (orders snapshot vs marketplace) whose target is ``file_id``."""
    body = streams_demo.stream_body(f"test {uuid.uuid4().hex[:8]}",
                                    {"type": "DATA_SOURCE_SNAPSHOT", "id": setup["data_source"]},
                                    {**setup["files"], "marketplace": file_id}, setup["rule_sets"])
    body["steps"] = body["steps"][:1]
    return _data(api.post("/streams", body), 201)["id"]     # a stream may name a file still PROCESSING


def test_a_run_waits_for_an_input_file_still_processing_then_completes(api, stack, setup, slow_file):  # noqa: F811
    stream_id = _stream_reading(api, setup, slow_file)
    run_id = _run(api, stream_id)
    poll(lambda: steps_of(api, run_id)[0]["status"] == "IN_PROGRESS", 60, "step 1 IN_PROGRESS")
    # it stays there while the file is PROCESSING: several looks over more than two heartbeats' worth
    # of the poll, and nothing is matched or failed meanwhile
    seen, t0 = [], time.monotonic()
    while time.monotonic() - t0 < 3:
        step = steps_of(api, run_id)[0]
        seen.append((step["status"], step["attemptNo"], step.get("matchedSourceRows") or 0))
        time.sleep(0.5)
    assert len(seen) >= 4 and set(seen) == {("IN_PROGRESS", 1, 0)}, seen
    assert _data(api.get(f"/stream-runs/{run_id}"))["status"] == "RUNNING"
    _set_status(stack, slow_file, "READY")          # the worker has read it
    run = wait_run(api, run_id)
    assert run["status"] == "COMPLETED", run
    step = steps_of(api, run_id)[0]
    t = setup["data"].truth[1]
    assert step["attemptNo"] == 1
    assert (step["matchedSourceRows"], step["unmatchedSourceRows"], step["unmatchedTargetRows"]) == \
        (t["matched"], t["unmatchedSource"], t["unmatchedTarget"]), (step, t)


def test_a_file_found_invalid_after_the_wait_fails_the_step_naming_it(api, stack, setup, slow_file):  # noqa: F811
    stream_id = _stream_reading(api, setup, slow_file)
    run_id = _run(api, stream_id)
    poll(lambda: steps_of(api, run_id)[0]["status"] == "IN_PROGRESS", 60, "step 1 IN_PROGRESS")
    _set_status(stack, slow_file, "INVALID", "line 4: expected 6 fields, found 5")
    run = wait_run(api, run_id)
    assert run["status"] == "FAILED", run
    step = steps_of(api, run_id)[0]
    # an INVALID file is not retried (maxRetries 1 in this stream): one attempt, the reason named
    assert step["status"] == "FAILED" and step["attemptNo"] == 1, step
    assert f"file {slow_file} is INVALID: line 4: expected 6 fields, found 5" in step["errorMessage"], step
