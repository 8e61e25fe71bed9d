"""Files whose stored bytes are gone: the local stack's S3 (LocalStack community edition) does not survive
a restart while the control plane does (docs/decisions.md). Caused here by deleting the object under a
file, then the file is read, downloaded, validated and run, and the start-of-stack check is run."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from tests.integration.streams.conftest import SOURCE_CSV, TARGET_CSV, assert_error, step, wait_for

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def s3(stack_env):
    return boto3.client("s3", endpoint_url=stack_env["AWS_ENDPOINT_URL"], region_name=stack_env["AWS_REGION"],
                        aws_access_key_id="test", aws_secret_access_key="test")


def _drop_bytes(s3, stack_env, db, file_id: int) -> None:
    key = db.execute("SELECT s3_key FROM recon.files WHERE file_id = %s", (file_id,)).fetchone()["s3_key"]
    s3.delete_object(Bucket=stack_env["ARTIFACTS_BUCKET"], Key=key)
    assert s3.list_objects_v2(Bucket=stack_env["ARTIFACTS_BUCKET"], Prefix=key).get("KeyCount") == 0


def test_a_file_whose_bytes_are_gone_reads_invalid_and_its_download_is_a_conflict(api, s3, stack_env, db, uid):
    f = api.upload(f"orders_{uid}.csv", SOURCE_CSV)
    assert api.get(f"/files/{f['id']}/download").content == SOURCE_CSV.encode()
    _drop_bytes(s3, stack_env, db, f["id"])

    got = api.get(f"/files/{f['id']}")
    assert got.status_code == 200, got.text
    after = got.json()["data"]
    assert after["status"] == "INVALID"
    assert "bytes" in after["errorMessage"] and "gone" in after["errorMessage"]
    # the rest of what was known about it stays as it was
    assert (after["rowCount"], after["checksum"], after["sizeBytes"]) == (f["rowCount"], f["checksum"], f["sizeBytes"])
    listed = api.get("/files", status="INVALID", filename=f"orders_{uid}").json()["data"]["items"]
    assert [x["id"] for x in listed] == [f["id"]]

    body = assert_error(api.get(f"/files/{f['id']}/download"), 409, "CONFLICT")
    assert f"File {f['id']}" in body["message"] and "gone" in body["message"]


def test_an_invalid_upload_whose_bytes_are_gone_downloads_as_a_conflict_not_a_500(api, s3, stack_env, db, uid):
    """platform §1: a 500 only for the unexpected. An INVALID upload keeps its bytes for download; once they
    are gone its download is the 409 of any file whose bytes are gone (it was a 500: NoSuchKey)."""
    f = api.upload(f"broken_{uid}.csv", "a,b\n1,2,3\n")
    assert f["status"] == "INVALID"
    assert api.get(f"/files/{f['id']}/download").content == b"a,b\n1,2,3\n"
    _drop_bytes(s3, stack_env, db, f["id"])
    body = assert_error(api.get(f"/files/{f['id']}/download"), 409, "CONFLICT")
    assert f"File {f['id']}" in body["message"] and "gone" in body["message"]
    # what it was refused for is still what it says
    assert api.get(f"/files/{f['id']}").json()["data"]["errorMessage"] == "line 2: 3 fields, header has 2"


def test_a_download_finds_the_bytes_gone_without_a_read_first(api, s3, stack_env, db, uid):
    f = api.upload(f"orders_{uid}.csv", SOURCE_CSV)
    _drop_bytes(s3, stack_env, db, f["id"])
    assert_error(api.get(f"/files/{f['id']}/download"), 409, "CONFLICT")
    assert api.get(f"/files/{f['id']}").json()["data"]["status"] == "INVALID"


def test_a_run_on_a_file_whose_bytes_are_gone_fails_its_step_once_with_the_reason(api, s3, stack_env, db, uid):
    src = api.upload(f"orders_{uid}.csv", SOURCE_CSV)
    tgt = api.upload(f"market_{uid}.csv", TARGET_CSV)
    rs = api.rule_set(name=f"rs {uid}")
    s = api.stream({"name": f"gone {uid}", "steps": [
        step(1, ("FILE", src["id"]), ("FILE", tgt["id"]), rs["id"], maxRetries=2)]})
    _drop_bytes(s3, stack_env, db, tgt["id"])   # nothing has looked at the file since

    r = api.post(f"/streams/{s['id']}/runs", {"triggerMetadata": {"reason": "test"}})
    assert r.status_code == 201, r.text
    run_id = r.json()["data"]["runId"]
    run = wait_for(lambda: (lambda x: x if x["status"] not in ("PENDING", "RUNNING") else None)(
        api.get(f"/stream-runs/{run_id}").json()["data"]), 90, "the run to end")
    assert run["status"] == "FAILED", run
    (st,) = api.get(f"/stream-runs/{run_id}/steps", attempts="all").json()["data"]
    # an input that cannot come back is not retried
    assert (st["status"], st["attemptNo"]) == ("FAILED", 1), st
    assert f"file {tgt['id']}" in st["errorMessage"] and "INVALID" in st["errorMessage"], st
    assert "gone" in st["errorMessage"]
    assert api.get(f"/files/{tgt['id']}").json()["data"]["status"] == "INVALID"
    assert api.get(f"/files/{src['id']}").json()["data"]["status"] == "READY"
    v = api.post(f"/streams/{s['id']}/validate").json()["data"]
    assert ("steps[0].targetInput.id", "FILE_NOT_READY") in {(e["field"], e["code"]) for e in v["errors"]}


def test_the_stack_start_check_marks_every_file_whose_bytes_are_gone(api, s3, stack_env, db, uid):
    kept = api.upload(f"kept_{uid}.csv", SOURCE_CSV)
    lost = [api.upload(f"lost{i}_{uid}.csv", TARGET_CSV) for i in range(2)]
    for f in lost:
        _drop_bytes(s3, stack_env, db, f["id"])
    env = {**os.environ, **stack_env}
    out = subprocess.run([sys.executable, "-m", "chalicelib.streams.files", "check-storage"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert '"bytesGone"' in out.stdout
    rows = {r["file_id"]: r for r in db.execute(
        "SELECT file_id, status, error_message FROM recon.files WHERE file_id = ANY(%s)",
        ([kept["id"]] + [f["id"] for f in lost],)).fetchall()}
    assert rows[kept["id"]]["status"] == "READY"
    for f in lost:
        assert rows[f["id"]]["status"] == "INVALID" and "gone" in rows[f["id"]]["error_message"]
    # run again: nothing more to mark
    again = subprocess.run([sys.executable, "-m", "chalicelib.streams.files", "check-storage"], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and '"bytesGone": 0' in again.stdout, again.stdout
