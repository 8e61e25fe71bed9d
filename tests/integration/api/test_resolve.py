"""POST /api/v1/reconciliation/mismatches/{mismatch_id}/resolve against a real PostgreSQL."""
from __future__ import annotations

import json
import multiprocessing as mp
import time
import uuid
from datetime import datetime, timezone

import psycopg
import pytest

from tests.integration.api.conftest import OWNER, body, insert_job, insert_mismatch
from tests.integration.api.contract_schemas import RESOLVE_200, check, check_documented


def path(mid: str) -> str:
    return f"/api/v1/reconciliation/mismatches/{mid}/resolve"


@pytest.fixture
def mismatch(api):
    return insert_mismatch(api, insert_job(api))


def stored(api, mid) -> dict:
    return api.sql("SELECT resolution_status, resolution_notes, resolved_at, resolved_by FROM recon.mismatches"
                   " WHERE mismatch_id = %s", (mid,))[0]


def test_resolve_pending_mismatch(api, mismatch):
    notes = "Manually synced user data from Cassandra to PostgreSQL. Name change was legitimate."
    before = datetime.now(timezone.utc).replace(microsecond=0)
    r = api.post(path(mismatch), {"resolution_status": "MANUAL_RESOLVED", "resolution_notes": notes})
    assert r.status_code == 200, r.body
    data = body(r)
    check(data, RESOLVE_200)
    check_documented(data, "ResolveResponse")
    assert (data["mismatch_id"], data["resolution_status"], data["resolution_notes"], data["resolved_by"]) == (
        mismatch, "MANUAL_RESOLVED", notes, OWNER)
    resolved_at = datetime.strptime(data["resolved_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    assert resolved_at >= before
    row = stored(api, mismatch)
    assert (row["resolution_status"], row["resolution_notes"], row["resolved_by"]) == ("MANUAL_RESOLVED", notes, OWNER)
    # and the listing shows it
    item = body(api.get("/api/v1/reconciliation/mismatches?resolution_status=MANUAL_RESOLVED"))["mismatches"][0]
    assert (item["mismatch_id"], item["resolution_notes"], item["resolved_at"], item["resolved_by"]) == (
        mismatch, notes, data["resolved_at"], OWNER)


def test_notes_are_optional(api, mismatch):
    r = api.post(path(mismatch), {"resolution_status": "IGNORED"})
    assert r.status_code == 200, r.body
    assert body(r)["resolution_notes"] is None


@pytest.mark.parametrize(
    "start, target, ok",
    [
        ("PENDING", "MANUAL_RESOLVED", True),
        ("PENDING", "IGNORED", True),
        ("IGNORED", "MANUAL_RESOLVED", True),
        ("MANUAL_RESOLVED", "IGNORED", False),
        ("MANUAL_RESOLVED", "PENDING", False),
        ("AUTO_RESOLVED", "MANUAL_RESOLVED", False),
        ("AUTO_RESOLVED", "IGNORED", False),
        ("IGNORED", "PENDING", False),
        ("PENDING", "AUTO_RESOLVED", False),
        ("PENDING", "PENDING", False),
    ],
)
def test_transitions(api, start, target, ok):
    mid = insert_mismatch(api, insert_job(api), status=start, notes="earlier" if start != "PENDING" else None)
    r = api.post(path(mid), {"resolution_status": target, "resolution_notes": "now"})
    if ok:
        assert r.status_code == 200, r.body
        assert stored(api, mid)["resolution_status"] == target
    else:
        assert r.status_code == 400, r.body
        assert body(r)["error"] == "INVALID_STATUS_TRANSITION"
        assert body(r)["message"] == f"Cannot change resolution_status from '{start}' to '{target}'"
        assert stored(api, mid)["resolution_status"] == start


def test_repeating_the_same_resolution_is_idempotent(api, mismatch):
    first = api.post(path(mismatch), {"resolution_status": "IGNORED", "resolution_notes": "soft delete"})
    again = api.post(path(mismatch), {"resolution_status": "IGNORED", "resolution_notes": "soft delete"})
    no_notes = api.post(path(mismatch), {"resolution_status": "IGNORED"})
    assert (first.status_code, again.status_code, no_notes.status_code) == (200, 200, 200)
    assert body(first) == body(again) == body(no_notes)


def test_same_status_with_different_notes_is_refused(api, mismatch):
    assert api.post(path(mismatch), {"resolution_status": "IGNORED", "resolution_notes": "a"}).status_code == 200
    r = api.post(path(mismatch), {"resolution_status": "IGNORED", "resolution_notes": "b"})
    assert r.status_code == 400
    assert body(r)["error"] == "INVALID_STATUS_TRANSITION"
    assert "already 'IGNORED'" in body(r)["message"]
    assert stored(api, mismatch)["resolution_notes"] == "a"


def test_unknown_mismatch_is_404(api):
    mid = str(uuid.uuid4())
    r = api.post(path(mid), {"resolution_status": "IGNORED"})
    assert r.status_code == 404
    assert body(r) == {"error": "MISMATCH_NOT_FOUND", "message": f"Mismatch with ID '{mid}' not found"}


def test_malformed_id_is_400(api):
    r = api.post(path("abc"), {"resolution_status": "IGNORED"})
    assert r.status_code == 400
    assert "'mismatch_id'" in body(r)["message"]


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"resolution_status": "IGNORED", "resolution_notes": "x" * 1001}, "resolution_notes"),
        ({"resolution_status": "FIXED"}, "resolution_status"),
        ({"resolution_notes": "n"}, "resolution_status"),
        ({"resolution_status": "IGNORED", "resolution_notes": 5}, "resolution_notes"),
        ({"resolution_status": "IGNORED", "resolved_by": "mallory@example.com"}, "resolved_by"),
    ],
)
def test_invalid_body_is_400_naming_the_field(api, mismatch, payload, field):
    r = api.post(path(mismatch), payload)
    assert r.status_code == 400, r.body
    assert body(r)["error"] == "VALIDATION_ERROR"
    assert body(r)["details"][0]["field"] == field
    assert stored(api, mismatch)["resolution_status"] == "PENDING"


def test_an_unknown_status_is_told_the_two_a_client_can_set(api, mismatch):
    r = api.post(path(mismatch), {"resolution_status": "FIXED"})
    assert r.status_code == 400, r.body
    detail = body(r)["details"][0]
    assert detail["field"] == "resolution_status" and "MANUAL_RESOLVED or IGNORED" in detail["problem"], detail
    assert "PENDING" not in detail["problem"] and '"FIXED"' in detail["problem"], detail


# ---------------------------------------------------------------------------------------- concurrency


def _resolve_in_child(project_dir, key, mid, payload, barrier, results):
    from chalice.test import Client

    import app as application

    client = Client(application.app, project_dir=project_dir)
    barrier.wait(timeout=60)
    r = client.http.post(path(mid), headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
                         body=json.dumps(payload))
    results.put((r.status_code, json.loads(r.body)))


def _race(api, tmp_path, mid, payloads):
    """Hold the row's lock while both requests arrive, release it once both wait, collect answers."""
    from chalicelib.db import pool

    pool.close_pool()
    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(len(payloads))
    results = ctx.Queue()
    project = str(tmp_path / "chalice-project")
    with psycopg.connect(api.database_url) as holder:
        holder.execute("SELECT 1 FROM recon.mismatches WHERE mismatch_id = %s FOR UPDATE", (mid,))
        holder_pid = holder.info.backend_pid
        procs = [ctx.Process(target=_resolve_in_child, args=(project, api.key, mid, p, barrier, results))
                 for p in payloads]
        for p in procs:
            p.start()
        # wait (by polling PostgreSQL, not by sleeping a guessed time) until every request is blocked on us
        with psycopg.connect(api.database_url, autocommit=True) as watcher:
            deadline = time.monotonic() + 60
            while True:
                waiting = watcher.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock' AND pid <> %s", (holder_pid,)
                ).fetchone()[0]
                if waiting == len(payloads):
                    break
                if time.monotonic() > deadline:
                    pytest.fail(f"only {waiting} request(s) reached the mismatch row")
        holder.rollback()
    out = [results.get(timeout=60) for _ in payloads]
    for p in procs:
        p.join(timeout=60)
    return out


def test_concurrent_conflicting_resolutions_exactly_one_wins(api, mismatch, tmp_path):
    out = _race(api, tmp_path, mismatch, [
        {"resolution_status": "MANUAL_RESOLVED", "resolution_notes": "synced by hand"},
        {"resolution_status": "MANUAL_RESOLVED", "resolution_notes": "fixed upstream"},
    ])
    codes = sorted(code for code, _ in out)
    assert codes == [200, 400], out
    winner = next(b for code, b in out if code == 200)
    loser = next(b for code, b in out if code == 400)
    assert loser["error"] == "INVALID_STATUS_TRANSITION"
    assert stored(api, mismatch)["resolution_notes"] == winner["resolution_notes"]


def test_concurrent_identical_resolutions_are_idempotent(api, mismatch, tmp_path):
    payload = {"resolution_status": "IGNORED", "resolution_notes": "expected soft delete"}
    out = _race(api, tmp_path, mismatch, [payload, payload])
    assert [code for code, _ in out] == [200, 200], out
    assert out[0][1] == out[1][1]
