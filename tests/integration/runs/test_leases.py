"""The product-neutral lease machinery on a table of its own (not a CDC table): priority claims, no
double claims under concurrency, takeover after lease expiry, exactly-once completion, releases."""
from __future__ import annotations

import threading
import time

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row

from chalicelib.runs import leases
from tests.pgcluster import fresh_database

T = leases.LeaseTable("work", "items", ("item_id",))
CANDIDATES = sql.SQL(
    "SELECT i.item_id FROM work.items i WHERE {} ORDER BY i.priority DESC, i.item_id"
).format(T.claimable("i"))


@pytest.fixture
def url(pg_server):
    with fresh_database(pg_server, "recon_leases") as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE SCHEMA work")
            conn.execute(
                "CREATE TABLE work.items (item_id int PRIMARY KEY, priority int NOT NULL, status text NOT NULL,"
                " attempts int NOT NULL DEFAULT 0, lease_until timestamptz, started_at timestamptz,"
                " completed_at timestamptz, last_error text, result text)")
        yield url


def _fill(url, priorities):
    with psycopg.connect(url, autocommit=True) as conn:
        for n, p in enumerate(priorities):
            conn.execute("INSERT INTO work.items (item_id, priority, status) VALUES (%s, %s, 'PENDING')", (n, p))


def _claim(url, lease_s=60.0):
    with psycopg.connect(url, row_factory=dict_row) as conn:
        with conn.transaction():
            return leases.claim_next(conn, T, CANDIDATES, None, lease_s, lock_alias="i")


def test_claims_follow_priority_and_count_attempts(url):
    _fill(url, [0, 2, 1, 2])
    order = [_claim(url)["item_id"] for _ in range(4)]
    assert order == [1, 3, 2, 0]
    assert _claim(url) is None
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT status, attempts, lease_until > now() FROM work.items").fetchall()
    assert set(rows) == {("RUNNING", 1, True)}


def test_concurrent_claimers_never_share_a_row(url):
    _fill(url, [1] * 40)
    got, errors = [], []

    def worker():
        try:
            with psycopg.connect(url, row_factory=dict_row) as conn:
                while True:
                    with conn.transaction():
                        row = leases.claim_next(conn, T, CANDIDATES, None, 60, lock_alias="i")
                    if row is None:
                        with conn.transaction():
                            left = conn.execute("SELECT count(*) AS n FROM work.items WHERE status = 'PENDING'"
                                                ).fetchone()["n"]
                        if left == 0:
                            return
                        continue
                    got.append(row["item_id"])
        except Exception as exc:  # pragma: no cover - shown by the assertion
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert sorted(got) == list(range(40))


def test_an_expired_lease_is_taken_over_and_completion_is_exactly_once(url):
    _fill(url, [1])
    dead = _claim(url, lease_s=0.3)  # a worker claims and dies
    assert _claim(url) is None  # still leased
    deadline = time.monotonic() + 10
    taken = None
    while taken is None and time.monotonic() < deadline:
        taken = _claim(url)
        time.sleep(0.05)
    assert taken is not None and taken["item_id"] == dead["item_id"] and taken["attempts"] == 2

    with psycopg.connect(url, row_factory=dict_row) as conn:
        with conn.transaction():
            assert leases.lock_unfinished(conn, T, (0,)) is not None
            assert leases.mark_done(conn, T, (0,), {"result": "first"})
        with conn.transaction():  # the dead worker's late completion changes nothing
            assert leases.lock_unfinished(conn, T, (0,)) is None
            assert not leases.mark_done(conn, T, (0,), {"result": "late"})
        with conn.transaction():
            assert not leases.extend(conn, T, (0,), 60)  # a lease on a finished row cannot be extended
        row = conn.execute("SELECT status, result, lease_until FROM work.items").fetchone()
    assert row == {"status": "DONE", "result": "first", "lease_until": None}


def test_release_counts_the_attempt_or_not(url):
    _fill(url, [1])
    _claim(url)
    with psycopg.connect(url, row_factory=dict_row) as conn:
        with conn.transaction():
            assert leases.release(conn, T, (0,), "NoHostAvailable: down", count_attempt=False)["attempts"] == 1
        row = conn.execute("SELECT status, attempts, last_error, lease_until FROM work.items").fetchone()
    assert row == {"status": "PENDING", "attempts": 0, "last_error": "NoHostAvailable: down", "lease_until": None}
    _claim(url)
    with psycopg.connect(url, row_factory=dict_row) as conn:
        with conn.transaction():
            leases.release(conn, T, (0,), "ValueError: bad row")
        assert conn.execute("SELECT attempts FROM work.items").fetchone()["attempts"] == 1
