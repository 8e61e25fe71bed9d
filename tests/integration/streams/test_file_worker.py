"""The file worker's delivery semantics, in process against the stack's database and S3: a duplicate
message changes nothing, a failure is retried (the message raises), and the last delivery turns the
file INVALID with the reason instead of leaving it PROCESSING forever."""
from __future__ import annotations

import json

import pytest


@pytest.fixture
def worker(stack_env, monkeypatch):
    for k in ("DATABASE_URL", "AWS_ENDPOINT_URL", "ARTIFACTS_BUCKET", "QUEUE_PREFIX", "AWS_REGION"):
        if k in stack_env:
            monkeypatch.setenv(k, stack_env[k])
    from chalicelib import aws
    from chalicelib.config import reset_settings
    from chalicelib.db.pool import close_pool

    reset_settings()
    close_pool()
    aws.reset_clients()
    from chalicelib.workers import files as worker_module

    yield worker_module
    close_pool()


def _processing_file(db, uid: str) -> int:
    return db.execute("INSERT INTO recon.files (filename, origin, status, s3_key, declared_size)"
                      " VALUES (%s, 'UPLOAD', 'PROCESSING', %s, 10) RETURNING file_id",
                      (f"w_{uid}.csv", f"files/test-worker/{uid}.csv")).fetchone()["file_id"]


def test_missing_bytes_are_invalid_and_a_duplicate_changes_nothing(worker, db, uid):
    fid = _processing_file(db, uid)
    worker.handle_file_message(json.dumps({"fileId": fid}))
    row = db.execute("SELECT status, error_message, updated_at FROM recon.files WHERE file_id = %s", (fid,)).fetchone()
    assert (row["status"], row["error_message"]) == ("INVALID", "no bytes were uploaded")
    worker.handle_file_message(json.dumps({"fileId": fid}))
    again = db.execute("SELECT status, updated_at FROM recon.files WHERE file_id = %s", (fid,)).fetchone()
    assert again == {"status": "INVALID", "updated_at": row["updated_at"]}


def test_failures_are_retried_then_recorded(worker, db, uid, monkeypatch):
    from chalicelib.streams import files

    fid = _processing_file(db, uid)

    def broken(file_id):
        raise OSError("disk full")

    monkeypatch.setattr(files, "process_session", broken)
    with pytest.raises(OSError):
        worker.handle_file_message(json.dumps({"fileId": fid}), receive_count=1)
    assert db.execute("SELECT status FROM recon.files WHERE file_id = %s", (fid,)).fetchone()["status"] == "PROCESSING"
    worker.handle_file_message(json.dumps({"fileId": fid}), receive_count=worker.LAST_DELIVERY)
    row = db.execute("SELECT status, error_message FROM recon.files WHERE file_id = %s", (fid,)).fetchone()
    assert row["status"] == "INVALID" and "OSError" in row["error_message"]


def test_malformed_messages_are_dropped(worker):
    assert worker.handle_file_message("not json") is None
    assert worker.handle_file_message(json.dumps({"id": 3})) is None


def test_sweep_resends_stalled_files_and_closes_abandoned_sessions(worker, db, uid, api):
    from chalicelib.streams import files

    data = b"id\n1\n2\n3\n"
    r = api.post("/files/uploads", {"filename": f"sweep_{uid}.csv", "sizeBytes": len(data)})
    s = r.json()["data"]
    import requests

    assert requests.put(s["uploadUrl"], data=data, timeout=30).status_code == 200
    # completed long ago, its wake-up lost
    db.execute("UPDATE recon.files SET status = 'PROCESSING', updated_at = now() - interval '1 hour'"
               " WHERE file_id = %s", (s["fileId"],))
    abandoned = db.execute("INSERT INTO recon.files (filename, origin, status, s3_key, declared_size, upload_expires_at)"
                           " VALUES (%s, 'UPLOAD', 'UPLOADING', %s, 5, now() - interval '2 days') RETURNING file_id",
                           (f"gone_{uid}.csv", f"files/test-sweep/{uid}.csv")).fetchone()["file_id"]
    counts = files.sweep()
    assert counts["resent"] >= 1 and counts["expired"] >= 1
    row = db.execute("SELECT status, error_message FROM recon.files WHERE file_id = %s", (abandoned,)).fetchone()
    assert row == {"status": "INVALID", "error_message": "the upload session expired before it was completed"}
    from tests.integration.streams.conftest import wait_for

    f = wait_for(lambda: (lambda d: d if d["status"] != "PROCESSING" else None)(
        api.get(f"/files/{s['fileId']}").json()["data"]), 60, "the re-sent wake-up")
    assert (f["status"], f["rowCount"]) == ("READY", 3)
