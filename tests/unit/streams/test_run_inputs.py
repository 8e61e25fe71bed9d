"""The step worker's file inputs: a file that cannot be read yet is named with the status the files
API shows for it; a file whose upload is complete but still PROCESSING is waited for."""
from __future__ import annotations

import threading

import pytest

from chalicelib.streams import files
from chalicelib.streams import step_worker as sw


def _row(ref, status, error=None):
    return {"file_id": ref, "status": status, "error_message": error, "format": "CSV", "filename": "x.csv"}


def test_an_unfinished_upload_fails_at_once_named_as_the_api_shows_it(tmp_path, monkeypatch):
    """UPLOADING is not an API status: the client has not completed its session, nothing is reading it."""
    reads = []
    monkeypatch.setattr(files, "get_file", lambda ref: reads.append(ref) or _row(ref, "UPLOADING"))
    with pytest.raises(RuntimeError) as exc:
        sw._resolve(None, "TARGET", {"type": "FILE", "id": 7}, tmp_path)
    assert str(exc.value) == "target input: file 7 is PROCESSING (its upload is not complete)"
    assert reads == [7]


def test_a_file_still_processing_is_waited_for_until_it_is_ready(tmp_path, monkeypatch):
    states = iter(["PROCESSING", "PROCESSING", "PROCESSING", "READY"])
    monkeypatch.setattr(files, "get_file", lambda ref: _row(ref, next(states)))
    monkeypatch.setattr(sw, "INPUT_POLL_SECONDS", 0.01)
    downloaded = []
    monkeypatch.setattr(sw, "_download", lambda side, row, path: downloaded.append((side, row["status"], path.name)))
    got = sw._resolve(None, "SOURCE", {"type": "FILE", "id": 7}, tmp_path)
    assert got["file_id"] == 7 and got["from"] == "download"
    assert downloaded == [("SOURCE", "READY", "source.csv")]


def test_a_file_found_invalid_after_the_wait_fails_the_step_for_good(tmp_path, monkeypatch):
    states = iter([_row(7, "PROCESSING"), _row(7, "PROCESSING"), _row(7, "INVALID", "line 3: 2 fields, expected 3")])
    monkeypatch.setattr(files, "get_file", lambda ref: next(states))
    monkeypatch.setattr(sw, "INPUT_POLL_SECONDS", 0.01)
    with pytest.raises(sw.StepInputInvalid) as exc:
        sw._resolve(None, "SOURCE", {"type": "FILE", "id": 7}, tmp_path)
    assert str(exc.value) == "source input: file 7 is INVALID: line 3: 2 fields, expected 3"


def test_the_wait_is_bounded_and_says_how_long_it_waited(tmp_path, monkeypatch):
    reads = []
    monkeypatch.setattr(files, "get_file", lambda ref: reads.append(ref) or _row(ref, "PROCESSING"))
    monkeypatch.setattr(sw, "INPUT_POLL_SECONDS", 0.01)
    monkeypatch.setattr(sw, "INPUT_WAIT_SECONDS", 0.2)
    with pytest.raises(RuntimeError) as exc:
        sw._resolve(None, "TARGET", {"type": "FILE", "id": 7}, tmp_path)
    assert str(exc.value) == "target input: file 7 is still PROCESSING after 0.2 s"
    assert len(reads) > 2            # it looked again while it waited


def test_a_cancel_ends_the_wait(tmp_path, monkeypatch):
    monkeypatch.setattr(files, "get_file", lambda ref: _row(ref, "PROCESSING"))
    monkeypatch.setattr(sw, "INPUT_POLL_SECONDS", 0.01)
    attempt = sw.Attempt(run_id=1, step_order=1, attempt_no=1, token="t", step={}, run={})
    threading.Timer(0.1, attempt.cancel.set).start()
    with pytest.raises(sw.AttemptCanceled):
        sw._resolve(attempt, "SOURCE", {"type": "FILE", "id": 7}, tmp_path)


def test_the_api_shows_an_unfinished_upload_as_processing():
    """The counterpart of the first message: what GET /files/{id} says of such a file."""
    view = files.file_view({"file_id": 7, "filename": "x.csv", "status": "UPLOADING", "format": None,
                            "size_bytes": None, "sha256": None, "row_count": None, "columns": None,
                            "error_message": None, "origin": "UPLOAD", "created_at": None, "updated_at": None})
    assert view["status"] == "PROCESSING"
