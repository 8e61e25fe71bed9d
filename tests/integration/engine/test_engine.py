"""The CDC job engine end to end in-process: real PostgreSQL, the Cassandra side through the real
driver, the real worker handlers fed from SQS (moto). Drift is injected independently of the engine
and every strategy must report exactly it."""
from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from psycopg.rows import dict_row

from chalicelib.cdc import jobs
from tests.integration.engine import tables
from tests.integration.engine.conftest import drain

NOW = datetime.now(timezone.utc)


@pytest.fixture
def world(engine_env, cql_session, database, tmp_path):
    (tmp_path / "catalog.yml").write_text(tables.CATALOG)
    tables.create(cql_session, database)
    return cql_session, database


def q(url, sql, *args):
    with psycopg.connect(url, row_factory=dict_row) as conn:
        return conn.execute(sql, args).fetchall()


def load_kv(world, n=3000, seed=7, missing_pg=7, missing_cass=5, mismatch=12):
    cql, url = world
    rows = tables.kv_rows(n, seed, NOW)
    rows, expected = tables.inject(rows, seed + 1, missing_pg, missing_cass, mismatch)
    tables.write_kv(cql, url, rows, pg_variant=tables.differ)
    return expected


def run(table, strategy, priority="NORMAL"):
    created = jobs.create_jobs([table], strategy, priority, "MANUAL_ONDEMAND", "tester@example.com")
    drain()
    return created[0]["job_id"]


def job_row(url, job_id):
    return q(url, "SELECT * FROM recon.jobs WHERE job_id = %s", job_id)[0]


def found(url, job_id):
    return {r["primary_key_value"]: r["mismatch_type"]
            for r in q(url, "SELECT primary_key_value, mismatch_type FROM recon.mismatches WHERE job_id = %s", job_id)}


def test_checksum_reports_exactly_the_injected_drift(world):
    expected = load_kv(world)
    url = world[1]
    job_id = run("kv", "CHECKSUM")
    job = job_row(url, job_id)
    assert job["status"] == "COMPLETED", job["validation_errors"]
    assert job["validation_errors"] is None
    assert found(url, job_id) == expected
    assert job["cassandra_row_count"] == 3000 - 5
    assert job["postgres_row_count"] == 3000 - 7
    assert job["mismatch_count"] == len(expected)
    assert job["drift_percentage"] == pytest.approx(100 * len(expected) / (3000 - 5), rel=1e-6)
    assert job["segments_done"] == job["segment_count"] == 8
    # mismatch records carry both sides' data and checksums
    rows = q(url, "SELECT * FROM recon.mismatches WHERE job_id = %s AND mismatch_type = 'DATA_MISMATCH'", job_id)
    for r in rows:
        assert r["cassandra_data"]["id"] == r["postgres_data"]["id"] == r["primary_key_value"]
        assert r["cassandra_checksum"] and r["postgres_checksum"] and r["cassandra_checksum"] != r["postgres_checksum"]
        assert r["differing_columns"]
    missing = q(url, "SELECT * FROM recon.mismatches WHERE job_id = %s AND mismatch_type = 'MISSING_IN_POSTGRES'", job_id)
    assert all(r["postgres_data"] is None and r["cassandra_data"] for r in missing)


def test_sample_finds_only_real_mismatches(world, engine_env):
    # a large drift so that a 1000-row sample certainly meets all three types
    engine_env(sample_size=1000)
    expected = load_kv(world, n=1500, missing_pg=150, missing_cass=150, mismatch=300)
    url = world[1]
    job_id = run("kv", "SAMPLE")
    job = job_row(url, job_id)
    assert job["status"] == "COMPLETED", job["validation_errors"]
    got = found(url, job_id)
    assert got, "a 1000-row sample of 40% drift found nothing"
    # everything reported is a real injected mismatch of the right type (no false positives)
    assert {k: expected.get(k) for k in got} == got
    assert set(got.values()) == {"MISSING_IN_POSTGRES", "MISSING_IN_CASSANDRA", "DATA_MISMATCH"}
    assert 900 <= job["cassandra_row_count"] + job["postgres_row_count"]


def test_row_count_on_composite_partition_keys(world):
    cql, url = world
    total = tables.write_events(cql, url, tenants=6, days=5, per_day=7, drop_pg=4)
    job_id = run("events", "ROW_COUNT")
    job = job_row(url, job_id)
    assert job["status"] == "COMPLETED", job["validation_errors"]
    assert (job["cassandra_row_count"], job["postgres_row_count"]) == (total, total - 4)
    assert job["mismatch_count"] == 4


def test_checksum_on_clustering_rows(world):
    cql, url = world
    tables.write_events(cql, url, tenants=4, days=3, per_day=5, drop_pg=3)
    job_id = run("events", "CHECKSUM")
    got = found(url, job_id)
    assert sorted(got.values()) == ["MISSING_IN_POSTGRES"] * 3
    # composite keys are shown as tenant|day|seq
    assert all(len(k.split("|")) == 3 for k in got)


def test_timestamp_range_covers_recent_changes_only(world):
    cql, url = world
    rows = tables.kv_rows(800, 3, NOW)
    # 30 rows modified within the last hour; drift injected among them and among old rows
    for r in rows[:30]:
        r["updated_at"] = (NOW - timedelta(minutes=20)).replace(microsecond=123000)
    rows[0]["_only"] = "cassandra"
    rows[1]["_only"] = "pg"
    rows[2]["_differ"] = "n"
    rows[500]["_differ"] = "n"       # old row: outside the window, not reported by this strategy
    rows[501]["_only"] = "cassandra"  # old row
    tables.write_kv(cql, url, rows, pg_variant=tables.differ)
    job_id = run("kv", "TIMESTAMP_RANGE")
    job = job_row(url, job_id)
    assert job["status"] == "COMPLETED", job["validation_errors"]
    assert found(url, job_id) == {rows[0]["id"]: "MISSING_IN_POSTGRES", rows[1]["id"]: "MISSING_IN_CASSANDRA",
                                  rows[2]["id"]: "DATA_MISMATCH"}
    assert job["cassandra_row_count"] == 29 and job["postgres_row_count"] == 29


def test_priority_high_runs_first_with_one_worker(world):
    load_kv(world, n=200, missing_pg=1, missing_cass=0, mismatch=0)
    url = world[1]
    ids = {}
    for prio in ("LOW", "NORMAL", "HIGH"):
        ids[prio] = jobs.create_jobs(["kv"], "CHECKSUM", prio, "MANUAL_ONDEMAND", None)[0]["job_id"]
    drain()
    rows = q(url, "SELECT job_id, completed_at, started_at FROM recon.jobs ORDER BY completed_at")
    order = [next(p for p, i in ids.items() if i == r["job_id"]) for r in rows]
    assert order == ["HIGH", "NORMAL", "LOW"]


def test_redelivered_and_duplicated_messages_change_nothing(world):
    expected = load_kv(world, n=600, missing_pg=2, missing_cass=2, mismatch=2)
    url = world[1]
    created = jobs.create_jobs(["kv"], "CHECKSUM", "NORMAL", "MANUAL_ONDEMAND", None)
    job_id = created[0]["job_id"]
    # plan, then run one segment and record its result twice (a redelivery after a slow ack)
    from chalicelib.workers import cdc as worker

    jobs.plan_next_job(prepare_table=worker._prepare_table)
    seg = jobs.claim_next_segment()
    from chalicelib.cdc.strategies import STRATEGIES, LeaseKeeper

    ctx = worker.context_for(__import__("chalicelib.cdc.catalog", fromlist=["x"]).get_catalog().get("kv"))
    result = STRATEGIES["CHECKSUM"].run_segment(ctx, seg["token_start"], seg["token_end"], job_row(url, job_id), LeaseKeeper(None, 1))
    assert jobs.complete_segment(seg, result) == "recorded"
    assert jobs.complete_segment(seg, result) == "duplicate"
    # the job message and every segment message delivered twice
    from chalicelib import aws

    aws.send_messages(jobs.JOBS_QUEUE, [{"kind": "job", "job_id": str(job_id)}] * 2)
    aws.send_messages(jobs.SEGMENTS_QUEUE, [{"kind": "segment", "job_id": str(job_id), "segment_no": n} for n in range(8)])
    drain()
    job = job_row(url, job_id)
    assert job["status"] == "COMPLETED" and job["segments_done"] == 8
    assert found(url, job_id) == expected
    assert q(url, "SELECT count(*) AS n FROM recon.jobs")[0]["n"] == 1


def test_a_duplicate_for_a_leased_segment_looks_again_when_the_lease_would_lapse(world):
    """A segment's message delivered again while another worker holds the segment: it is not failed back
    to the queue (one visibility timeout per look, and a dead letter under a long scan) but answered
    with one delayed wake-up for when the lease would lapse; the queue holds nothing in flight."""
    from chalicelib import aws
    from chalicelib.workers import cdc as worker

    load_kv(world, n=200, missing_pg=1, missing_cass=1, mismatch=1)
    url = world[1]
    job_id = jobs.create_jobs(["kv"], "CHECKSUM", "NORMAL", "MANUAL_ONDEMAND", None)[0]["job_id"]
    drain(max_messages=1)  # planned; its eight segment wake-ups wait on the queue
    sqs, queue = aws.client("sqs"), aws.queue_url(jobs.SEGMENTS_QUEUE)
    sqs.purge_queue(QueueUrl=queue)
    held = [jobs.claim_next_segment() for _ in range(8)]   # other, live workers hold every segment
    assert all(held) and jobs.claim_next_segment() is None
    lease_until = q(url, "SELECT lease_until FROM recon.segments WHERE job_id = %s AND segment_no = 3", job_id)[0]["lease_until"]

    worker.handle_segment_message(json.dumps({"kind": "segment", "job_id": str(job_id), "segment_no": 3}))

    attrs = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
    assert (attrs["ApproximateNumberOfMessages"], attrs["ApproximateNumberOfMessagesDelayed"]) == ("0", "1"), attrs
    # the wake-up's delay reaches past the lease (SQS keeps delayed messages out of receive calls)
    assert not sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=0).get("Messages")
    assert (lease_until - datetime.now(timezone.utc)).total_seconds() > 60


def test_worker_killed_mid_segment_work_is_finished_by_another(world):
    expected = load_kv(world, n=400, missing_pg=1, missing_cass=1, mismatch=1)
    url = world[1]
    job_id = jobs.create_jobs(["kv"], "CHECKSUM", "NORMAL", "MANUAL_ONDEMAND", None)[0]["job_id"]
    drain(max_messages=1)  # planned
    dead = jobs.claim_next_segment()  # a worker takes a segment and dies: no completion, lease runs out
    assert dead is not None
    q(url, "UPDATE recon.segments SET lease_until = now() - interval '1 second' WHERE job_id = %s AND segment_no = %s RETURNING 1",
      job_id, dead["segment_no"])
    drain()
    job = job_row(url, job_id)
    assert job["status"] == "COMPLETED"
    seg = q(url, "SELECT attempts FROM recon.segments WHERE job_id = %s AND segment_no = %s", job_id, dead["segment_no"])[0]
    assert seg["attempts"] == 2
    assert found(url, job_id) == expected


def test_stuck_job_is_failed_with_a_reason(world):
    url = world[1]
    job_id = jobs.create_jobs(["kv"], "CHECKSUM", "NORMAL", "MANUAL_ONDEMAND", None)[0]["job_id"]
    q(url, "UPDATE recon.jobs SET deadline_at = now() - interval '1 second' WHERE job_id = %s RETURNING 1", job_id)
    counts = jobs.sweep()
    job = job_row(url, job_id)
    assert counts["failed"] == 1
    assert job["status"] == "FAILED" and "deadline exceeded" in job["validation_errors"][0]
    assert job["completed_at"] is not None


def test_missing_postgres_table_fails_the_job_with_the_reason(world):
    cql, url = world
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE public.kv")
    job_id = run("kv", "CHECKSUM")
    job = job_row(url, job_id)
    assert job["status"] == "FAILED"
    assert "public.kv does not exist" in job["validation_errors"][0]


def test_live_cdc_difference_is_rechecked_then_transient(world, engine_env):
    cql, url = world
    engine_env(replication_lag_seconds=600, recheck_grace_seconds=0)
    rows = tables.kv_rows(300, 11, NOW)
    # "just now" is the test's own now: the module's NOW can be older than the lag window in a long suite
    just_now = (datetime.now(timezone.utc) - timedelta(seconds=5)).replace(microsecond=0)
    rows[5]["updated_at"] = just_now   # written just now
    rows[5]["_only"] = "cassandra"    # not replicated yet
    rows[6]["updated_at"] = just_now
    rows[6]["_only"] = "cassandra"    # never replicated: stays a mismatch
    tables.write_kv(cql, url, rows, pg_variant=tables.differ)
    job_id = jobs.create_jobs(["kv"], "CHECKSUM", "NORMAL", "MANUAL_ONDEMAND", None)[0]["job_id"]
    drain(until=lambda: job_row(url, job_id)["phase"] == "RECHECKING")
    assert found(url, job_id) == {}  # suspects are not reported yet
    # replication catches up on one of them before the grace period ends
    from chalicelib.cassandra.tokens import token_for
    r = rows[5]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO public.kv (id, n, amount, ratio, tags, attrs, code, ref, updated_at, recon_token)"
                     " VALUES (%s,%s,%s,%s,%s,%s::jsonb,%s,%s,%s,%s)",
                     (r["id"], r["n"], r["amount"], r["ratio"], sorted(r["tags"]) or None,
                      psycopg.types.json.Json(r["attrs"]) if r["attrs"] else None, r["code"], r["ref"], r["updated_at"],
                      token_for([r["id"]], ["text"])))
    drain()
    job = job_row(url, job_id)
    assert job["status"] == "COMPLETED"
    assert found(url, job_id) == {rows[6]["id"]: "MISSING_IN_POSTGRES"}
    assert job["transient_count"] == 1


@pytest.mark.parametrize("lag", [0, 600])
def test_an_infinite_postgres_timestamp_is_a_difference_not_a_failed_job(world, engine_env, lag):
    """PostgreSQL's 'infinity' has no Python value: reading it raised DataError and failed the whole table's job for
    one value. It is compared as the word: a DATA_MISMATCH on its column, the rest of the table as usual; as an
    updated_at it is no write time (with a replication-lag window, not a live change rechecked forever)."""
    cql, url = world
    engine_env(replication_lag_seconds=lag, recheck_grace_seconds=0)
    expected = load_kv(world, n=300, missing_pg=2, missing_cass=0, mismatch=0)
    forever = sorted(k for k in (r["id"] for r in q(url, "SELECT id FROM public.kv")) if k not in expected)[0]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE public.kv SET updated_at = 'infinity' WHERE id = %s", (forever,))
    job_id = run("kv", "CHECKSUM")
    job = job_row(url, job_id)
    assert job["status"] == "COMPLETED", job["validation_errors"]
    assert found(url, job_id) == {**expected, forever: "DATA_MISMATCH"}
    row = q(url, "SELECT * FROM recon.mismatches WHERE job_id = %s AND primary_key_value = %s", job_id, forever)[0]
    assert row["differing_columns"] == ["updated_at"] and row["postgres_data"]["updated_at"] == "infinity", row


@pytest.mark.parametrize("strategy", ["CHECKSUM", "TIMESTAMP_RANGE"])
def test_a_value_that_is_not_its_column_type_is_a_difference_not_a_failed_job(world, engine_env, strategy):
    """A map column held in jsonb can hold any JSON value: a string, a number or a list where Cassandra has a map.
    Reading it as a map raised, the segment failed on every retry and with it the table's whole job, so the
    table's drift went unreported. Such a value is now compared as its own text: a DATA_MISMATCH on that column
    showing what PostgreSQL holds, the rest of the table as usual."""
    cql, url = world
    engine_env(replication_lag_seconds=0, recheck_grace_seconds=0)
    expected = load_kv(world, n=300, missing_pg=2, missing_cass=0, mismatch=0)
    keys = sorted(k for k in (r["id"] for r in q(url, "SELECT id FROM public.kv")) if k not in expected)[:3]
    held = dict(zip(keys, ['"hello"', "5", "[1, 2]"]))
    recent = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=10)   # inside the window
    with psycopg.connect(url, autocommit=True) as conn:
        for key, value in held.items():
            conn.execute("UPDATE public.kv SET attrs = %s::jsonb, updated_at = %s WHERE id = %s", (value, recent, key))
            cql.execute(f"UPDATE {tables.KS}.kv SET updated_at = %s WHERE id = %s", (recent, key))
    job_id = run("kv", strategy)
    job = job_row(url, job_id)
    assert job["status"] == "COMPLETED", job["validation_errors"]
    got = found(url, job_id)
    assert {k: got.get(k) for k in keys} == dict.fromkeys(keys, "DATA_MISMATCH")
    if strategy == "CHECKSUM":
        assert got == {**expected, **dict.fromkeys(keys, "DATA_MISMATCH")}
    for key, value in held.items():
        row = q(url, "SELECT * FROM recon.mismatches WHERE job_id = %s AND primary_key_value = %s", job_id, key)[0]
        assert row["differing_columns"] == ["attrs"], row
        assert row["postgres_data"]["attrs"] == ("hello" if value == '"hello"' else value.replace(" ", "")), row
        assert isinstance(row["cassandra_data"]["attrs"], (dict, type(None))), row


def test_timestamps_after_the_year_9999_are_compared_not_a_stalled_job(world):
    """Cassandra and PostgreSQL hold timestamps after 9999-12-31 (any 64-bit millisecond count; PostgreSQL to the
    year 294276) that no Python datetime holds. The driver's decoder raised inside its row parser, dropping the
    connection: every read of the range failed again, NoHostAvailable, until the job's deadline. Both sides are
    now read as epoch milliseconds there: equal values are equal, different ones a DATA_MISMATCH."""
    cql, url = world
    expected = load_kv(world, n=300, missing_pg=2, missing_cass=0, mismatch=0)
    same, other = sorted(k for k in (r["id"] for r in q(url, "SELECT id FROM public.kv")) if k not in expected)[:2]
    far = 300_000_000_000_000   # epoch milliseconds: the year 11476
    for key, pg_ms in ((same, far), (other, far + 1000)):
        cql.execute(f"UPDATE {tables.KS}.kv SET updated_at = {far} WHERE id = %s", (key,))
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("UPDATE public.kv SET updated_at = to_timestamp(%s / 1000.0) WHERE id = %s", (pg_ms, key))
    job_id = run("kv", "CHECKSUM")
    job = job_row(url, job_id)
    assert job["status"] == "COMPLETED", job["validation_errors"]
    assert found(url, job_id) == {**expected, other: "DATA_MISMATCH"}
    row = q(url, "SELECT * FROM recon.mismatches WHERE job_id = %s AND primary_key_value = %s", job_id, other)[0]
    assert row["differing_columns"] == ["updated_at"], row
    assert (row["cassandra_data"]["updated_at"], row["postgres_data"]["updated_at"]) == (str(far), str(far + 1000))


def wrong_token_note(keys: list[str]) -> list[str]:
    """The job's validation_errors naming PostgreSQL rows re-read by key because of their token column."""
    return [f"{len(keys)} PostgreSQL rows ({', '.join(sorted(keys))}) have a recon_token that is not the Murmur3 "
            "token of the partition key: compared by key instead of reported missing. The CDC sink writes this column "
            "wrong; set it to NULL for these rows and the next job fills it"]


@pytest.mark.parametrize("wire", ["1", "0"])
def test_a_wrong_token_column_is_no_pair_of_missing_rows(world, engine_env, monkeypatch, wire):
    """A PostgreSQL row whose token column is wrong (a CDC sink bug) is read in another segment than its Cassandra
    row: one segment saw it missing in Cassandra, the other missing in PostgreSQL, and as mismatches are kept per
    job and key, the report said MISSING_IN_CASSANDRA for a row both sides hold. Such a row is now read again by
    its key on both sides when the job ends: equal rows are no mismatch, different ones a DATA_MISMATCH, and a
    row Cassandra really lacks stays MISSING_IN_CASSANDRA; the scans' records of it give way. By wire comparison
    and with every row decoded."""
    monkeypatch.setenv("CHECKSUM_WIRE_COMPARISON", wire)
    cql, url = world
    engine_env(replication_lag_seconds=0)
    expected = load_kv(world, n=600, missing_pg=3, missing_cass=3, mismatch=3)
    equal, changed, gone = sorted(k for k in (r["id"] for r in q(url, "SELECT id FROM public.kv")) if k not in expected)[:3]
    with psycopg.connect(url, autocommit=True) as conn:
        # the opposite half of the ring: certainly another of the job's 8 segments
        conn.execute("UPDATE public.kv SET recon_token = CASE WHEN recon_token >= 0 THEN recon_token - 9223372036854775807 - 1"
                     " ELSE recon_token + 9223372036854775807 + 1 END WHERE id = ANY(%s)", ([equal, changed, gone],))
        conn.execute("UPDATE public.kv SET code = 'QQ' WHERE id = %s", (changed,))
    cql.execute(f"DELETE FROM {tables.KS}.kv WHERE id = %s", (gone,))
    job_id = run("kv", "CHECKSUM")
    job = job_row(url, job_id)
    assert job["status"] == "COMPLETED", job["validation_errors"]
    assert found(url, job_id) == {**expected, changed: "DATA_MISMATCH", gone: "MISSING_IN_CASSANDRA"}
    row = q(url, "SELECT * FROM recon.mismatches WHERE job_id = %s AND primary_key_value = %s", job_id, changed)[0]
    assert row["differing_columns"] == ["code"] and row["postgres_data"]["code"] == "QQ", row
    assert job["mismatch_count"] == len(expected) + 2
    assert job["transient_count"] == 0
    assert job["cassandra_row_count"] == 600 - 3 - 1 and job["postgres_row_count"] == 600 - 3
    # the job says so (the API's validation_errors, the console's job page)
    assert job["validation_errors"] == wrong_token_note([equal, changed, gone]), job["validation_errors"]


@pytest.mark.parametrize("segments", [8, 1])
@pytest.mark.parametrize("wire", ["1", "0"])
def test_a_wrong_token_in_the_same_segment_is_no_pair_of_missing_rows(world, engine_env, monkeypatch, wire, segments):
    """A wrong token column that still falls in the segment of the row's real token (one chance in the number of
    segments, and always when the table runs as one segment): the merge in token order met the PostgreSQL row at
    its wrong token, missing in Cassandra, and the Cassandra row at its real token, missing in PostgreSQL. As
    mismatches are kept per job and key one of the two was kept at random: an equal row reported missing, a
    difference reported as the wrong type, and every later job auto-resolved the record and wrote it again.
    Such a row is read again by its key like one whose wrong token lies in another segment: equal rows are no
    mismatch, different ones a DATA_MISMATCH, a row Cassandra really lacks stays MISSING_IN_CASSANDRA, and the
    job names them. By wire comparison and with every row decoded."""
    from chalicelib.cassandra.tokens import segment_of, split_ring, token_for

    monkeypatch.setenv("CHECKSUM_WIRE_COMPARISON", wire)
    cql, url = world
    engine_env(replication_lag_seconds=0, segments_per_job=segments)
    expected = load_kv(world, n=600, missing_pg=3, missing_cass=3, mismatch=3)
    equal, changed, gone = sorted(k for k in (r["id"] for r in q(url, "SELECT id FROM public.kv")) if k not in expected)[:3]
    ranges = split_ring(segments)
    with psycopg.connect(url, autocommit=True) as conn:
        for key in (equal, changed, gone):
            real = token_for([key], ["text"])
            seg = ranges[segment_of(real, ranges)]
            wrong = seg.start + seg.end - real   # the mirror image of the real token inside its segment
            assert wrong != real and segment_of(wrong, ranges) == segment_of(real, ranges)
            conn.execute("UPDATE public.kv SET recon_token = %s WHERE id = %s", (wrong, key))
        conn.execute("UPDATE public.kv SET code = 'QQ' WHERE id = %s", (changed,))
    cql.execute(f"DELETE FROM {tables.KS}.kv WHERE id = %s", (gone,))
    job_id = run("kv", "CHECKSUM")
    job = job_row(url, job_id)
    assert job["status"] == "COMPLETED", job["validation_errors"]
    assert job["segments_done"] == job["segment_count"] == segments
    assert found(url, job_id) == {**expected, changed: "DATA_MISMATCH", gone: "MISSING_IN_CASSANDRA"}
    row = q(url, "SELECT * FROM recon.mismatches WHERE job_id = %s AND primary_key_value = %s", job_id, changed)[0]
    assert row["differing_columns"] == ["code"] and row["postgres_data"]["code"] == "QQ", row
    assert row["cassandra_data"]["code"] != "QQ" and row["cassandra_checksum"] and row["postgres_checksum"], row
    row = q(url, "SELECT * FROM recon.mismatches WHERE job_id = %s AND primary_key_value = %s", job_id, gone)[0]
    assert row["cassandra_data"] is None and row["postgres_data"]["id"] == gone, row
    assert job["mismatch_count"] == len(expected) + 2
    assert job["transient_count"] == 0
    assert job["cassandra_row_count"] == 600 - 3 - 1 and job["postgres_row_count"] == 600 - 3
    assert job["validation_errors"] == wrong_token_note([equal, changed, gone]), job["validation_errors"]
    # the next job finds the same: nothing of the first job's is auto-resolved, nothing new comes and goes
    second = run("kv", "CHECKSUM")
    assert found(url, second) == found(url, job_id)
    assert job_row(url, second)["auto_resolved_count"] == 0
    assert {r["resolution_status"] for r in q(url, "SELECT resolution_status FROM recon.mismatches")} == {"PENDING"}


def test_a_token_column_wrong_throughout_fails_the_job_naming_it(world, monkeypatch):
    """Tokens written with another hash for every row: each would be re-read by key at the job's end, the whole
    table point by point. Past WRONG_TOKEN_LIMIT rows in one segment the job fails instead, saying what to do."""
    from chalicelib.cdc import strategies

    from chalicelib.workers import cdc as cdc_worker

    monkeypatch.setattr(strategies, "WRONG_TOKEN_LIMIT", 10)
    monkeypatch.setattr(cdc_worker, "PERMANENT_REWAKE_SECONDS", 0)
    cql, url = world
    load_kv(world, n=400, missing_pg=0, missing_cass=0, mismatch=0)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE public.kv SET recon_token = CASE WHEN recon_token >= 0 THEN recon_token - 9223372036854775807 - 1"
                     " ELSE recon_token + 9223372036854775807 + 1 END")
    job_id = jobs.create_jobs(["kv"], "CHECKSUM", "NORMAL", "MANUAL_ONDEMAND", None)[0]["job_id"]
    deadline = time.monotonic() + 120
    while job_row(url, job_id)["status"] == "RUNNING" and time.monotonic() < deadline:
        try:   # a segment's permanent failure is raised to the queue (redelivered): each attempt is fed again
            drain(until=lambda: job_row(url, job_id)["status"] != "RUNNING")
        except strategies.WrongTokenColumn:
            pass
    job = job_row(url, job_id)
    assert job["status"] == "FAILED", job
    reason = job["validation_errors"][0]
    assert "have a recon_token that is not the Murmur3 token of their partition key" in reason, reason
    assert "SET recon_token = NULL" in reason and "the next job fills it" in reason, reason
    assert found(url, job_id) == {}


def test_later_job_auto_resolves_converged_mismatches(world):
    cql, url = world
    expected = load_kv(world, n=300, missing_pg=2, missing_cass=0, mismatch=0)
    first = run("kv", "CHECKSUM")
    assert found(url, first) == expected
    # repair one of the two rows in PostgreSQL
    fixed = sorted(expected)[0]
    row = cql.execute(f"SELECT id, n, amount, ratio, tags, attrs, code, ref, updated_at FROM {tables.KS}.kv WHERE id = %s", (fixed,)).one()
    from chalicelib.cassandra.tokens import token_for
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO public.kv (id, n, amount, ratio, tags, attrs, code, ref, updated_at, recon_token)"
                     " VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                     (row[0], row[1], row[2], row[3], sorted(row[4]) if row[4] else None,
                      psycopg.types.json.Jsonb(dict(row[5])) if row[5] else None, row[6], row[7],
                      row[8].replace(tzinfo=timezone.utc), token_for([row[0]], ["text"])))
    second = run("kv", "SAMPLE")
    statuses = {r["primary_key_value"]: r["resolution_status"]
                for r in q(url, "SELECT primary_key_value, resolution_status FROM recon.mismatches WHERE job_id = %s", first)}
    assert statuses[fixed] == "AUTO_RESOLVED"
    assert [s for k, s in statuses.items() if k != fixed] == ["PENDING"]
    assert job_row(url, second)["auto_resolved_count"] == 1


def test_scheduled_event_enqueues_one_job_per_table_once(world):
    from chalicelib.workers import cdc as worker

    event = '{"id": "evt-1", "detail-type": "Scheduled Event", "source": "aws.events", "time": "2026-11-22T03:00:00Z"}'
    worker.handle_schedule_event(event)
    worker.handle_schedule_event(event)  # EventBridge delivers at least once
    url = world[1]
    rows = q(url, "SELECT table_name, validation_strategy, job_type FROM recon.jobs ORDER BY table_name")
    assert [(r["table_name"], r["validation_strategy"], r["job_type"]) for r in rows] == [
        ("events", "ROW_COUNT", "HOURLY_SCHEDULED"), ("kv", "CHECKSUM", "HOURLY_SCHEDULED")]


def test_token_backfill_fills_only_missing_tokens_in_bounded_chunks(world):
    cql, url = world
    tables.write_events(cql, url, tenants=5, days=4, per_day=6)
    from chalicelib.cassandra.tokens import token_for
    from chalicelib.cdc.catalog import get_catalog
    from chalicelib.cdc.pg_source import PostgresSource

    q(url, "UPDATE public.events SET recon_token = NULL WHERE seq %% 2 = 0 RETURNING 1")
    src = PostgresSource(get_catalog().get("events"))
    assert src.count_untokened() == 60
    assert src.backfill_tokens(lambda pk: token_for(pk, ["uuid", "date"]), chunk=7) == 60
    assert src.count_untokened() == 0
    rows = q(url, "SELECT tenant, day, recon_token FROM public.events")
    assert all(r["recon_token"] == token_for([r["tenant"], r["day"]], ["uuid", "date"]) for r in rows)
