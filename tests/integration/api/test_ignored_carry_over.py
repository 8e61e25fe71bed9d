"""An IGNORED mismatch ("difference is expected") stays ignored on later jobs while the difference is the
same: the later job's record of that key is written IGNORED with the person's notes, instead of coming
back PENDING every hour. A changed difference, a MANUAL_RESOLVED one, or the same key in another table
is PENDING. Real PostgreSQL, the resolution through the API, the recording as the engine does it."""
from __future__ import annotations

import psycopg
import pytest
from psycopg.rows import dict_row

from chalicelib.cdc import recording
from chalicelib.cdc.diff import Diff, MismatchType
from tests.integration.api.conftest import OWNER, body, insert_job, insert_mismatch


def diff(pk: str, mtype: str = "DATA_MISMATCH", c_sum: str | None = "a1b2c3d4e5f6",
         p_sum: str | None = "f6e5d4c3b2a1") -> Diff:
    t = MismatchType(mtype)
    return Diff(mismatch_type=t, pk=(pk,), pk_display=pk,
                cassandra_data=None if t is MismatchType.MISSING_IN_CASSANDRA else {"user_id": pk, "name": "John Doe"},
                postgres_data=None if t is MismatchType.MISSING_IN_POSTGRES else {"user_id": pk, "name": "John Smith"},
                cassandra_checksum=None if t is MismatchType.MISSING_IN_CASSANDRA else c_sum,
                postgres_checksum=None if t is MismatchType.MISSING_IN_POSTGRES else p_sum,
                differing_columns=("name",) if t is MismatchType.DATA_MISMATCH else ())


def resolve(api, mid: str, status: str, notes: str | None = None) -> dict:
    r = api.post(f"/api/v1/reconciliation/mismatches/{mid}/resolve",
                 {"resolution_status": status, **({"resolution_notes": notes} if notes else {})})
    assert r.status_code == 200, r.body
    return body(r)


def record(api, job_id: str, table: str, diffs: list[Diff]) -> dict[str, dict]:
    with psycopg.connect(api.database_url, row_factory=dict_row) as conn:
        job = conn.execute("SELECT * FROM recon.jobs WHERE job_id = %s", (job_id,)).fetchone()
        recording.insert_mismatches(conn, job, 0, diffs)
    rows = api.sql("SELECT primary_key_value, resolution_status, resolution_notes, resolved_by, resolved_at"
                   " FROM recon.mismatches WHERE job_id = %s", (job_id,))
    return {r["primary_key_value"]: r for r in rows}


@pytest.fixture
def history(api):
    """A first job with four mismatches of users: two ignored, one manually resolved, one pending."""
    first = insert_job(api, mismatch_count=4)
    ids = {pk: insert_mismatch(api, first, pk=pk, mtype=t) for pk, t in
           [("user-soft-deleted", "MISSING_IN_CASSANDRA"), ("user-renamed", "DATA_MISMATCH"),
            ("user-fixed", "DATA_MISMATCH"), ("user-open", "DATA_MISMATCH")]}
    # as the engine stores it: the checksum of the side that has the row
    api.sql("UPDATE recon.mismatches SET postgres_checksum = 'f6e5d4c3b2a1' WHERE mismatch_id = %s",
            (ids["user-soft-deleted"],))
    resolve(api, ids["user-soft-deleted"], "IGNORED", "soft delete in PostgreSQL, expected")
    resolve(api, ids["user-renamed"], "IGNORED", "rename lands with the nightly batch")
    resolve(api, ids["user-fixed"], "MANUAL_RESOLVED", "synced by hand")
    return ids


@pytest.mark.parametrize("padding", [0, 60], ids=["few-rows", "copy-path"])
def test_the_same_ignored_difference_is_recorded_ignored_again(api, history, padding):
    second = insert_job(api, status="RUNNING")
    extra = [diff(f"user-other-{i}") for i in range(padding)]   # 50 or more go through the COPY path
    got = record(api, second, "users", [
        diff("user-soft-deleted", "MISSING_IN_CASSANDRA"),
        diff("user-renamed"),
        diff("user-fixed"),
        diff("user-open"),
        *extra,
    ])
    assert got["user-soft-deleted"]["resolution_status"] == "IGNORED"
    assert got["user-soft-deleted"]["resolution_notes"] == "soft delete in PostgreSQL, expected"
    assert got["user-soft-deleted"]["resolved_by"] == OWNER and got["user-soft-deleted"]["resolved_at"] is not None
    assert got["user-renamed"]["resolution_status"] == "IGNORED"
    # a difference someone said was fixed is back: it needs a person again
    assert (got["user-fixed"]["resolution_status"], got["user-fixed"]["resolution_notes"]) == ("PENDING", None)
    assert got["user-open"]["resolution_status"] == "PENDING"
    assert {got[d.pk_display]["resolution_status"] for d in extra} <= {"PENDING"}
    # the listing's PENDING filter shows only what needs a person
    r = api.get(f"/api/v1/reconciliation/mismatches?job_id={second}&resolution_status=PENDING&page_size=100")
    assert sorted(m["primary_key_value"] for m in body(r)["mismatches"]
                  if not m["primary_key_value"].startswith("user-other")) == ["user-fixed", "user-open"]


def test_a_changed_difference_is_pending_again(api, history):
    second = insert_job(api, status="RUNNING")
    got = record(api, second, "users", [
        diff("user-renamed", p_sum="0123456789abcdef"),                # PostgreSQL's row changed again
        diff("user-soft-deleted", "DATA_MISMATCH"),                     # now present on both sides, differing
    ])
    assert {k: v["resolution_status"] for k, v in got.items()} == {"user-renamed": "PENDING",
                                                                   "user-soft-deleted": "PENDING"}


def test_an_ignored_key_of_another_table_is_not_carried(api, history):
    other = insert_job(api, table="orders", status="RUNNING")
    got = record(api, other, "orders", [diff("user-renamed")])
    assert got["user-renamed"]["resolution_status"] == "PENDING"


def test_ignored_then_fixed_by_hand_is_no_longer_carried(api, history):
    resolve(api, history["user-renamed"], "MANUAL_RESOLVED", "the batch ran")   # IGNORED -> MANUAL_RESOLVED
    second = insert_job(api, status="RUNNING")
    got = record(api, second, "users", [diff("user-renamed")])
    assert got["user-renamed"]["resolution_status"] == "PENDING"


def test_a_carried_over_record_fixed_by_hand_ends_the_carry_over(api, history):
    second = insert_job(api, status="RUNNING")
    carried = record(api, second, "users", [diff("user-renamed")])["user-renamed"]
    assert carried["resolution_status"] == "IGNORED"
    [row] = api.sql("SELECT mismatch_id FROM recon.mismatches WHERE job_id = %s", (second,))
    resolve(api, str(row["mismatch_id"]), "MANUAL_RESOLVED", "the batch ran")   # the first job's stays IGNORED
    third = insert_job(api, status="RUNNING")
    assert record(api, third, "users", [diff("user-renamed")])["user-renamed"]["resolution_status"] == "PENDING"
