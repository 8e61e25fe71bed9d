"""Files over HTTP: direct upload, upload sessions through a presigned PUT and the file worker,
list, get, download (exact bytes), delete and its conflicts, rate limit, auth."""
from __future__ import annotations

import hashlib
import json
import unicodedata

import requests

from tests.integration.streams.conftest import SOURCE_CSV, TARGET_CSV, assert_error, step, wait_for


def sha(data: bytes | str) -> str:
    return "sha256:" + hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def test_direct_upload_is_inspected_and_hashed(api, uid):
    r = api.post("/files", params={"filename": f"orders_{uid}.csv"}, data=SOURCE_CSV.encode(),
                 headers={"Content-Type": "text/csv"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["success"] is True
    f = body["data"]
    assert f["filename"] == f"orders_{uid}.csv"
    assert (f["format"], f["origin"], f["status"]) == ("CSV", "UPLOAD", "READY")
    assert f["rowCount"] == 3
    assert f["sizeBytes"] == len(SOURCE_CSV.encode())
    assert f["checksum"] == sha(SOURCE_CSV)
    assert [c["name"] for c in f["columns"]] == ["order_id", "amount", "order_date", "customer"]
    assert dict((c["name"], c["type"]) for c in f["columns"])["order_date"] == "DATE"
    assert f["errorMessage"] is None
    assert f["downloadUrl"] == f"/api/v1/files/{f['id']}/download"
    assert f["createdAt"].endswith("Z")
    assert api.get(f"/files/{f['id']}").json()["data"] == f


def test_malformed_upload_is_invalid_with_line_and_problem(api, uid):
    data = "a,b,c\n1,2,3\n4,5\n6,7,8\n"
    f = api.upload(f"broken_{uid}.csv", data)
    assert f["status"] == "INVALID"
    assert "line 3" in f["errorMessage"] and "field" in f["errorMessage"]
    assert f["rowCount"] is None and f["columns"] is None      # nothing half-imported
    assert f["checksum"] == sha(data)


def test_empty_upload_is_refused(api, uid):
    r = api.post("/files", params={"filename": f"empty_{uid}.csv"}, data=b"")
    assert_error(r, 400, "VALIDATION_ERROR", ("body", "REQUIRED"))
    assert api.get("/files", filename=f"empty_{uid}").json()["data"]["totalItems"] == 0
    # a header without rows is a file (zero rows), not an error
    f = api.upload(f"header_only_{uid}.csv", "a,b\n")
    assert (f["status"], f["rowCount"]) == ("READY", 0)


def test_jsonl_upload(api, uid):
    data = "".join(json.dumps({"id": i, "amount": i * 1.5}) + "\n" for i in range(1, 8))
    f = api.upload(f"events_{uid}.jsonl", data)
    assert (f["format"], f["status"], f["rowCount"]) == ("JSONL", "READY", 7)
    assert {c["name"] for c in f["columns"]} == {"id", "amount"}


def test_a_jsonl_line_that_is_not_an_object_makes_the_file_invalid(api, uid):
    """A JSONL row is a JSON object. A line holding an array, a number or null was read as a document like any
    other, and the file came out READY with a single column `json`: now it is INVALID naming that line."""
    for tail, kind in (("[1, 2]", "an array"), ("5", "a number"), ("null", "null"), ('"text"', "a string")):
        data = '{"id": 1, "amount": 2.5}\n\n{"id": 2, "amount": 3}\n' + tail + "\n"
        f = api.upload(f"mixed_{uid}.jsonl", data)
        assert (f["format"], f["status"], f["rowCount"], f["columns"]) == ("JSONL", "INVALID", None, None), f
        assert f["errorMessage"].startswith(f"line 4: not a JSON object ({kind})"), f
    # blank lines and indentation are not rows and change nothing
    f = api.upload(f"spaced_{uid}.jsonl", '  {"id": 1}\r\n\n\t{"id": 2}\n')
    assert (f["status"], f["rowCount"]) == ("READY", 2), f


def test_same_bytes_twice_are_two_files_with_equal_checksums(api, uid):
    a = api.upload(f"twice_{uid}.csv", TARGET_CSV)
    b = api.upload(f"twice_{uid}.csv", TARGET_CSV)
    assert a["id"] != b["id"] and a["checksum"] == b["checksum"] == sha(TARGET_CSV)


def test_direct_upload_over_5mb_is_413(api, uid):
    data = b"x" * (5 * 1024 * 1024 + 1)
    r = api.post("/files", params={"filename": f"big_{uid}.csv"}, data=data)
    body = assert_error(r, 413, "PAYLOAD_TOO_LARGE")
    assert "/files/uploads" in body["message"]
    assert not [f for f in api.get("/files", filename=f"big_{uid}").json()["data"]["items"]]
    # past the gateway's 10 MB the HTTP layer refuses the body before the route: its answer points to the
    # upload session too (the same text as API Gateway's REQUEST_TOO_LARGE response on AWS)
    r = api.post("/files", params={"filename": f"bigger_{uid}.csv"}, data=b"x" * (11 * 1024 * 1024))
    body = assert_error(r, 413, "PAYLOAD_TOO_LARGE")
    assert "10 MB" in body["message"] and "POST /api/v1/files/uploads" in body["message"], body


def test_upload_needs_a_plain_filename(api):
    assert_error(api.post("/files", data=b"a\n1\n"), 400, "VALIDATION_ERROR", ("filename", "REQUIRED"))
    assert_error(api.post("/files", params={"filename": "../etc/passwd"}, data=b"a\n1\n"), 400, "VALIDATION_ERROR",
                 ("filename", "INVALID_VALUE"))
    assert_error(api.post("/files", params={"filename": "a.csv", "bogus": "1"}, data=b"a\n1\n"), 400,
                 "VALIDATION_ERROR", ("bogus", "UNKNOWN_FIELD"))
    # a line break, a tab or an escape is not part of a file name (it was stored, listed and shown as sent)
    for name in ("orders\nfeb.csv", "orders\tfeb.csv", "orders\x1b[31m.csv", "   "):
        body = assert_error(api.post("/files", params={"filename": name}, data=b"a\n1\n"), 400, "VALIDATION_ERROR",
                            ("filename", "INVALID_VALUE"))
        assert body["errors"][0]["message"] in ("must not contain control characters", "must not be blank"), body
        assert_error(api.post("/files/uploads", {"filename": name, "sizeBytes": 4}), 400, "VALIDATION_ERROR",
                     ("filename", "INVALID_VALUE"))
    assert api.post("/files", params={"filename": "données €.csv"}, data=b"a\n1\n").status_code == 201


def test_filename_filter_finds_a_name_whatever_its_unicode_form(api, uid):
    # macOS spells 'Ü' as U + combining diaeresis; a user types the one character
    decomposed = unicodedata.normalize("NFD", f"Überweisung_{uid}.csv")
    f = api.upload(decomposed, b"a\n1\n")
    composed = unicodedata.normalize("NFC", f"Überweisung_{uid}")
    assert composed != unicodedata.normalize("NFD", composed)
    found = api.get("/files", filename=composed).json()["data"]
    assert [i["id"] for i in found["items"]] == [f["id"]] and found["totalItems"] == 1
    found = api.get("/files", filename=unicodedata.normalize("NFD", composed)).json()["data"]
    assert [i["id"] for i in found["items"]] == [f["id"]]


def test_download_returns_the_exact_bytes(api, uid):
    data = "k,v\r\n\"quoted, comma\",1\r\nÜmlaut,2\r\n".encode()
    f = api.upload(f"exact_{uid}.csv", data)
    r = api.get(f"/files/{f['id']}/download")
    assert r.status_code == 200
    assert r.content == data
    assert r.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert f"exact_{uid}.csv" in r.headers["Content-Disposition"]


def _session(api, filename: str, data: bytes, size: int | None = None) -> dict:
    r = api.post("/files/uploads", {"filename": filename, "sizeBytes": size if size is not None else len(data)})
    assert r.status_code == 201, r.text
    s = r.json()["data"]
    assert set(s) == {"fileId", "uploadUrl", "expiresAt"} and s["expiresAt"].endswith("Z")
    return s


def _put(url: str, data: bytes) -> None:
    r = requests.put(url, data=data, timeout=60)
    assert r.status_code == 200, r.text


def test_upload_session_flow(api, uid):
    data = ("id,amount\n" + "".join(f"{i},{i}.25\n" for i in range(1, 1001))).encode()
    s = _session(api, f"session_{uid}.csv", data)
    fid = s["fileId"]
    assert api.get(f"/files/{fid}").json()["data"]["status"] == "PROCESSING"
    # no bytes yet
    assert_error(api.post(f"/files/{fid}/complete"), 409, "CONFLICT")
    _put(s["uploadUrl"], data)
    r = api.post(f"/files/{fid}/complete")
    assert r.status_code == 202, r.text
    assert r.json()["data"]["status"] == "PROCESSING"
    f = wait_for(lambda: (lambda d: d if d["status"] != "PROCESSING" else None)(api.get(f"/files/{fid}").json()["data"]),
                 60, "the file worker")
    assert (f["status"], f["rowCount"], f["sizeBytes"], f["checksum"]) == ("READY", 1000, len(data), sha(data))
    # completing again changes nothing
    again = api.post(f"/files/{fid}/complete")
    assert again.status_code == 202 and again.json()["data"]["status"] == "READY"
    assert api.get(f"/files/{fid}/download").content == data


def test_upload_session_with_malformed_bytes_becomes_invalid(api, uid):
    data = b"a,b\n1,2\n3,4\n5\n"
    s = _session(api, f"session_bad_{uid}.csv", data)
    _put(s["uploadUrl"], data)
    assert api.post(f"/files/{s['fileId']}/complete").status_code == 202
    f = wait_for(lambda: (lambda d: d if d["status"] != "PROCESSING" else None)(
        api.get(f"/files/{s['fileId']}").json()["data"]), 60, "the file worker")
    assert f["status"] == "INVALID" and "line 4" in f["errorMessage"]
    assert f["rowCount"] is None


def test_upload_session_size_must_match(api, uid):
    data = b"a,b\n1,2\n"
    s = _session(api, f"session_size_{uid}.csv", data, size=len(data) + 10)
    _put(s["uploadUrl"], data)
    api.post(f"/files/{s['fileId']}/complete")
    f = wait_for(lambda: (lambda d: d if d["status"] != "PROCESSING" else None)(
        api.get(f"/files/{s['fileId']}").json()["data"]), 60, "the file worker")
    assert f["status"] == "INVALID" and "announced" in f["errorMessage"]


def test_large_file_download_redirects_to_presigned_url(api, uid):
    data = ("id,payload\n" + "".join(f"{i},{'p' * 90}\n" for i in range(60000))).encode()
    assert len(data) > 5 * 1024 * 1024
    s = _session(api, f"large_{uid}.csv", data)
    _put(s["uploadUrl"], data)
    api.post(f"/files/{s['fileId']}/complete")
    f = wait_for(lambda: (lambda d: d if d["status"] == "READY" else None)(
        api.get(f"/files/{s['fileId']}").json()["data"]), 90, "the large file to be READY")
    assert f["rowCount"] == 60000
    r = api.get(f"/files/{s['fileId']}/download")
    assert r.status_code == 302
    got = requests.get(r.headers["Location"], timeout=60)
    assert got.status_code == 200 and got.content == data
    # the presigned URL answers as a small file's download does
    assert got.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert got.headers["Content-Disposition"] == f'attachment; filename="large_{uid}.csv"'


def test_upload_session_validation(api):
    assert_error(api.post("/files/uploads", {"filename": "x.csv", "sizeBytes": 0}), 400, "VALIDATION_ERROR",
                 ("sizeBytes", "OUT_OF_RANGE"))
    assert_error(api.post("/files/uploads", {"filename": "x.csv", "sizeBytes": "12"}), 400, "VALIDATION_ERROR",
                 ("sizeBytes", "INVALID_TYPE"))
    # over what one presigned PUT carries: the message says the limit and why
    body = assert_error(api.post("/files/uploads", {"filename": "x.csv", "sizeBytes": 6 * 1024 ** 3}), 400,
                        "VALIDATION_ERROR", ("sizeBytes", "OUT_OF_RANGE"))
    assert "5 GiB" in body["errors"][0]["message"] and str(6 * 1024 ** 3) in body["errors"][0]["message"], body
    assert api.post("/files/uploads", {"filename": "x.csv", "sizeBytes": 5 * 1024 ** 3}).status_code == 201
    assert_error(api.post("/files/uploads", {"sizeBytes": 3, "extra": True}), 400, "VALIDATION_ERROR",
                 ("filename", "REQUIRED"), ("extra", "UNKNOWN_FIELD"))
    assert_error(api.post("/files/999999999/complete"), 404, "NOT_FOUND")


def test_list_filters_and_pagination(api, uid):
    ids = [api.upload(f"list_{uid}_{i}.csv", TARGET_CSV)["id"] for i in range(3)]
    bad = api.upload(f"list_{uid}_bad.csv", "a,b\n1\n")["id"]
    r = api.get("/files", filename=f"list_{uid}", pageSize=2)
    assert r.status_code == 200
    page = r.json()["data"]
    assert (page["page"], page["pageSize"], page["totalItems"], page["totalPages"]) == (1, 2, 4, 2)
    assert [f["id"] for f in page["items"]] == [bad, ids[2]]           # newest first
    page2 = api.get("/files", filename=f"list_{uid}", pageSize=2, page=2).json()["data"]
    assert [f["id"] for f in page2["items"]] == [ids[1], ids[0]]
    ready = api.get("/files", filename=f"list_{uid}", status="READY").json()["data"]
    assert sorted(f["id"] for f in ready["items"]) == ids
    invalid = api.get("/files", filename=f"list_{uid}", status="INVALID", origin="UPLOAD").json()["data"]
    assert [f["id"] for f in invalid["items"]] == [bad]
    assert api.get("/files", filename=f"list_{uid}", origin="ARTIFACT").json()["data"]["totalItems"] == 0
    # the prefix is a prefix, not a pattern
    assert api.get("/files", filename=f"list%{uid}").json()["data"]["totalItems"] == 0
    assert_error(api.get("/files", status="DONE"), 400, "VALIDATION_ERROR", ("status", "INVALID_VALUE"))
    assert_error(api.get("/files", pageSize=101), 400, "VALIDATION_ERROR", ("pageSize", "OUT_OF_RANGE"))
    assert_error(api.get("/files", sort="name"), 400, "VALIDATION_ERROR", ("sort", "UNKNOWN_FIELD"))


def test_get_unknown_and_malformed_ids(api):
    body = assert_error(api.get("/files/987654321"), 404, "NOT_FOUND")
    assert body["message"] == "File 987654321 not found"
    assert_error(api.get("/files/abc"), 400, "VALIDATION_ERROR", ("id", "INVALID_TYPE"))
    assert_error(api.get("/files/987654321/download"), 404, "NOT_FOUND")


def test_delete_and_in_use_conflicts(api, uid):
    src = api.upload(f"del_src_{uid}.csv", SOURCE_CSV)
    tgt = api.upload(f"del_tgt_{uid}.csv", TARGET_CSV)
    loose = api.upload(f"del_loose_{uid}.csv", TARGET_CSV)
    r = api.delete(f"/files/{loose['id']}")
    assert r.status_code == 200 and r.json()["data"] == {"id": loose["id"], "deleted": True}
    assert_error(api.get(f"/files/{loose['id']}"), 404, "NOT_FOUND")
    assert_error(api.delete(f"/files/{loose['id']}"), 404, "NOT_FOUND")

    rs = api.rule_set()
    stream = api.stream({"name": f"uses files {uid}", "steps": [step(1, ("FILE", src["id"]), ("FILE", tgt["id"]), rs["id"])]})
    body = assert_error(api.delete(f"/files/{src['id']}"), 409, "CONFLICT")
    assert f"stream {stream['id']}" in body["message"]
    # archived streams do not hold files
    assert api.delete(f"/streams/{stream['id']}").status_code == 200
    assert api.delete(f"/files/{src['id']}").status_code == 200

    # a legacy reconciliation holds its files
    src2 = api.upload(f"del_src2_{uid}.csv", SOURCE_CSV)
    rec = api.post("/reconciliations", {"name": f"rec {uid}", "sourceFileId": src2["id"], "targetFileId": tgt["id"],
                                        "ruleSetId": rs["id"]})
    assert rec.status_code == 201, rec.text
    body = assert_error(api.delete(f"/files/{tgt['id']}"), 409, "CONFLICT")
    assert f"reconciliation {rec.json()['data']['id']}" in body["message"]


def test_uploads_are_rate_limited_per_key(api, db, uid, stack_env):
    from chalicelib.config import Settings

    limit = int(stack_env.get("RATE_LIMIT_UPLOADS_PER_MINUTE", Settings.model_fields["rate_limit_uploads_per_minute"].default))
    # the key's earlier uploads of this minute, all but two (sending them one by one took more than the
    # sliding minute on a loaded machine, and the first ones had left the window before the last was sent)
    key_id = db.execute("SELECT key_id FROM recon.api_keys WHERE owner_email = %s", (api.owner,)).fetchone()["key_id"]
    db.execute("INSERT INTO recon.rate_limit_events (key_id, bucket, at) SELECT %s, 'uploads', clock_timestamp()"
               " FROM generate_series(1, %s)", (key_id, limit - 2))
    # a direct upload and a session both count
    assert api.post("/files", params={"filename": f"rl_{uid}.csv"}, data=b"a\n1\n").status_code == 201
    assert api.post("/files/uploads", {"filename": f"rl_{uid}.csv", "sizeBytes": 4}).status_code == 201
    assert_error(api.post("/files", params={"filename": f"rl_{uid}.csv"}, data=b"a\n1\n"), 429, "RATE_LIMITED")
    r = api.post("/files/uploads", {"filename": f"rl_{uid}.csv", "sizeBytes": 4})
    body = assert_error(r, 429, "RATE_LIMITED")
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    assert body["message"]


def test_files_need_an_api_key(stack_env):
    r = requests.get(stack_env["API_URL"] + "/files", timeout=30)
    assert_error(r, 401, "UNAUTHORIZED")
    r = requests.post(stack_env["API_URL"] + "/files", params={"filename": "a.csv"}, data=b"a\n1\n",
                      headers={"Authorization": "Bearer recon_nope_nope"}, timeout=30)
    assert_error(r, 401, "UNAUTHORIZED")


def test_complete_again_resends_a_lost_wake_up(api, db, uid):
    data = b"id,amount\n1,2.50\n2,3.75\n"
    s = _session(api, f"lost_{uid}.csv", data)
    _put(s["uploadUrl"], data)
    # as if `complete` had run and its queue message had been lost a while ago
    db.execute("UPDATE recon.files SET status = 'PROCESSING', updated_at = now() - interval '10 minutes'"
               " WHERE file_id = %s", (s["fileId"],))
    r = api.post(f"/files/{s['fileId']}/complete")
    assert r.status_code == 202
    f = wait_for(lambda: (lambda d: d if d["status"] != "PROCESSING" else None)(
        api.get(f"/files/{s['fileId']}").json()["data"]), 60, "the re-sent wake-up")
    assert (f["status"], f["rowCount"]) == ("READY", 2)


def test_delete_racing_a_stream_save_never_leaves_a_dangling_reference(api, uid):
    from concurrent.futures import ThreadPoolExecutor

    rs = api.rule_set()
    src = api.upload(f"race_src_{uid}.csv", SOURCE_CSV)
    outcomes = set()
    with ThreadPoolExecutor(max_workers=2) as pool:
        for i in range(8):
            tgt = api.upload(f"race_tgt_{uid}_{i}.csv", TARGET_CSV)
            body = {"name": f"race {uid} {i}", "steps": [step(1, ("FILE", src["id"]), ("FILE", tgt["id"]), rs["id"])]}
            save = pool.submit(api.post, "/streams", body)
            delete = pool.submit(api.delete, f"/files/{tgt['id']}")
            s, d = save.result(), delete.result()
            outcomes.add((s.status_code, d.status_code))
            if s.status_code == 201:
                assert d.status_code == 409, d.text
                assert api.get(f"/files/{tgt['id']}").status_code == 200
            else:
                assert (s.status_code, d.status_code) == (400, 200), (s.text, d.text)
                assert ("steps[0].targetInput.id", "FILE_NOT_FOUND") in {(e["field"], e["code"]) for e in s.json()["errors"]}
    assert outcomes <= {(201, 409), (400, 200)}


def test_a_file_always_has_one_of_the_three_formats(api, uid):
    """platform §2: format is CSV, PARQUET or JSONL — also for a file that cannot be read and whose name
    says nothing (it reads as the format it was read as), and for an upload session not yet read."""
    import gzip
    r = api.post(f"/files?filename=packed_{uid}.gz", None, data=gzip.compress(b"id,amount\n1,2.50\n"))
    assert r.status_code == 201, r.text
    bad = r.json()["data"]
    assert (bad["status"], bad["format"]) == ("INVALID", "CSV"), bad
    session = api.post("/files/uploads", {"filename": f"later_{uid}.dat", "sizeBytes": 10})
    assert session.status_code == 201, session.text
    pending = api.get(f"/files/{session.json()['data']['fileId']}").json()["data"]
    assert (pending["status"], pending["format"]) == ("PROCESSING", "CSV"), pending


def test_a_download_is_named_as_the_file(api, uid):
    """The download carries the file's own name: as is when it is plain ASCII ('orders (1).csv' was
    'orders__1_.csv'), and as UTF-8 in filename* (RFC 6266) when it is not ('données €.csv' was 'donn_es__.csv')."""
    from urllib.parse import quote
    for name, expected in ((f"orders ({uid}).csv", f'attachment; filename="orders ({uid}).csv"'),
                           (f"données €{uid}.csv", f"filename*=UTF-8''{quote(f'données €{uid}.csv', safe='')}")):
        f = api.upload(name, "id,amount\n1,2.50\n")
        assert f["filename"] == name, f
        r = api.get(f"/files/{f['id']}/download")
        assert r.status_code == 200 and expected in r.headers["Content-Disposition"], r.headers


def test_a_file_still_processing_downloads_as_a_conflict_saying_so(api, db, uid):
    """platform §2: a completed session is PROCESSING until the worker has read it. Its download is a 409 that
    says so, not one saying that the stored bytes are gone and must be uploaded again (they are not gone)."""
    data = b"id,amount\n1,2.50\n"
    s = _session(api, f"pending_{uid}.csv", data)
    _put(s["uploadUrl"], data)
    # as if `complete` had just run and the worker had not read the bytes yet (no wake-up is sent here)
    db.execute("UPDATE recon.files SET status = 'PROCESSING' WHERE file_id = %s", (s["fileId"],))
    body = assert_error(api.get(f"/files/{s['fileId']}/download"), 409, "CONFLICT")
    assert "PROCESSING" in body["message"] and "gone" not in body["message"], body
    assert api.get(f"/files/{s['fileId']}").json()["data"]["status"] == "PROCESSING"


def test_an_invalid_session_upload_keeps_its_bytes_like_a_direct_one(api, uid):
    """An INVALID direct upload can be downloaded (to see what is wrong with it); so can a session upload
    found INVALID by the worker (a wrong size, a malformed line). Its bytes were dropped with the staging
    object, and the download said they were gone because the object storage was reset."""
    for name, data, size in ((f"short_{uid}.csv", b"a,b\n1,2\n", 18), (f"broken_{uid}.csv", b"a,b\n1,2\n3\n", None)):
        s = _session(api, name, data, size=size)
        _put(s["uploadUrl"], data)
        assert api.post(f"/files/{s['fileId']}/complete").status_code == 202
        f = wait_for(lambda: (lambda d: d if d["status"] != "PROCESSING" else None)(
            api.get(f"/files/{s['fileId']}").json()["data"]), 60, "the file worker")
        assert (f["status"], f["checksum"]) == ("INVALID", sha(data)), f
        r = api.get(f"/files/{s['fileId']}/download")
        assert (r.status_code, r.content) == (200, data), r.text
        assert "sha256:" + r.headers["X-Checksum-Sha256"] == f["checksum"]


def test_a_session_file_that_never_had_bytes_says_so_on_download(api, db, uid):
    """A session closed without bytes (the sweep: expired before it was completed) has nothing to download:
    409 naming why, not the message of a file whose stored bytes were lost."""
    s = _session(api, f"abandoned_{uid}.csv", b"id\n1\n")
    db.execute("UPDATE recon.files SET status = 'INVALID', error_message = 'the upload session expired before it"
               " was completed' WHERE file_id = %s", (s["fileId"],))
    body = assert_error(api.get(f"/files/{s['fileId']}/download"), 409, "CONFLICT")
    assert "expired before it was completed" in body["message"] and "gone" not in body["message"], body


def test_completing_an_expired_session_without_bytes_says_it_expired(api, db, uid):
    """`complete` before the PUT is 409 'PUT them first'; once the presigned URL has expired that advice cannot
    be followed, so the 409 says the session expired and how to start a new one."""
    s = _session(api, f"late_{uid}.csv", b"id\n1\n")
    body = assert_error(api.post(f"/files/{s['fileId']}/complete"), 409, "CONFLICT")
    assert "PUT" in body["message"] and "expired" not in body["message"], body
    db.execute("UPDATE recon.files SET upload_expires_at = now() - interval '1 minute' WHERE file_id = %s",
               (s["fileId"],))
    body = assert_error(api.post(f"/files/{s['fileId']}/complete"), 409, "CONFLICT")
    assert "expired" in body["message"] and "POST /api/v1/files/uploads" in body["message"], body


def test_a_file_a_run_in_flight_reads_cannot_be_deleted(api, db, uid):
    """A run keeps the definition it started with (platform §5): archiving (or editing) its stream while it
    runs frees the file as far as the stream goes, but deleting it then failed the run ('target input: file
    N not found'). While a run that reads it is PENDING or RUNNING, the delete is a 409 naming the run."""
    src = api.upload(f"fl_src_{uid}.csv", SOURCE_CSV)
    tgt = api.upload(f"fl_tgt_{uid}.csv", TARGET_CSV)
    rs = api.rule_set()
    s = api.stream({"name": f"in flight {uid}", "steps": [step(1, ("FILE", src["id"]), ("FILE", tgt["id"]), rs["id"])]})
    r = api.post(f"/streams/{s['id']}/runs")
    assert r.status_code == 201, r.text
    run_id = r.json()["data"]["runId"]
    wait_for(lambda: api.get(f"/stream-runs/{run_id}").json()["data"]["status"] not in ("PENDING", "RUNNING"), 90,
             "the run to end")
    assert api.delete(f"/streams/{s['id']}").status_code == 200   # archived: the stream no longer holds the file
    db.execute("UPDATE recon.stream_runs SET status = 'RUNNING' WHERE run_id = %s", (run_id,))   # as if still running
    try:
        body = assert_error(api.delete(f"/files/{tgt['id']}"), 409, "CONFLICT")
        assert f"stream run {run_id}" in body["message"], body
    finally:
        db.execute("UPDATE recon.stream_runs SET status = 'COMPLETED' WHERE run_id = %s", (run_id,))
    assert api.delete(f"/files/{tgt['id']}").status_code == 200


def test_completing_a_run_output_says_what_it_is(api, db, uid):
    """A snapshot or an artifact is not an upload session: the 409 said 'File N is an snapshot, ...'."""
    f = api.upload(f"not_a_session_{uid}.csv", SOURCE_CSV)
    for origin, what in (("SNAPSHOT", "a snapshot"), ("ARTIFACT", "an artifact")):
        db.execute("UPDATE recon.files SET origin = %s WHERE file_id = %s", (origin, f["id"]))   # as a run writes it
        body = assert_error(api.post(f"/files/{f['id']}/complete"), 409, "CONFLICT")
        assert body["message"] == f"File {f['id']} is {what}, not an upload session", body
    db.execute("UPDATE recon.files SET origin = 'UPLOAD' WHERE file_id = %s", (f["id"],))


def test_a_csv_without_its_header_row_is_invalid(api, uid):
    """platform §2: a CSV needs its header row. A bank export without one was READY with its first row taken
    for the header: one row fewer (lost to every reconciliation) and columns named '1', '10.50', '2026-02-20'."""
    f = api.upload(f"no_header_{uid}.csv", "1,10.50,2026-02-20\n2,12.00,2026-02-21\n3,7.25,2026-02-22\n")
    assert (f["status"], f["rowCount"], f["columns"]) == ("INVALID", None, None), f
    assert f["errorMessage"] == ("line 1: the header row holds no column name (1, 10.50, 2026-02-20): a CSV needs a "
                                 "header row naming its columns, and this first line looks like data"), f
    # names that are numbers beside a name are names (a budget export's year columns)
    g = api.upload(f"years_{uid}.csv", "account,2025,2026\nA-1,10.50,12.00\n")
    assert (g["status"], g["rowCount"], [c["name"] for c in g["columns"]]) == ("READY", 1, ["account", "2025", "2026"])


def test_a_csv_without_its_header_row_is_invalid_when_its_first_row_holds_text(api, uid):
    """The same export with text in its first row (a reference): its dates and decimals under columns of dates and
    numbers were taken for column names ('2026-02-20', '10.50'), and the row lost. Names that are years over
    numbers, and a date-like name over text, stay names."""
    f = api.upload(f"no_header_text_{uid}.csv", "ORD-1,10.50,2026-02-20\nORD-2,12.00,2026-02-21\nORD-3,7.25,2026-02-22\n")
    assert (f["status"], f["rowCount"], f["columns"]) == ("INVALID", None, None), f
    assert f["errorMessage"] == ("line 1: the header row (ORD-1, 10.50, 2026-02-20) names a column '10.50', a number "
                                 "like the values below it: a CSV needs a header row naming its columns, and this "
                                 "first line looks like data"), f
    g = api.upload(f"dated_{uid}.csv", "ORD-1,ref,2026-02-20\nORD-2,x,2026-02-21\nORD-3,y,2026-02-22\n")
    assert g["status"] == "INVALID" and "names a column '2026-02-20', a date" in g["errorMessage"], g
    h = api.upload(f"named_{uid}.csv", "order_id,2026-02-20,2025\nORD-1,a,10\nORD-2,b,11\n")
    assert (h["status"], h["rowCount"]) == ("READY", 2), h
