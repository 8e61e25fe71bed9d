"""Writes a segment's findings to the control plane: mismatches, and rows to re-check later."""
from __future__ import annotations

import uuid
from itertools import islice
from typing import Iterable, Iterator

from psycopg.types.json import Jsonb

_NS = uuid.UUID("8a4f6b0e-2f4c-4c1e-9d2b-7a4f3e9c1d20")

#: mismatches written per COPY batch: memory stays bounded whatever a segment's drift
BATCH = 2000
#: below this many rows a plain multi-row INSERT is cheaper than a staging table
_SMALL = 50

_COLUMNS = ("mismatch_id, job_id, segment_no, table_name, primary_key_value, primary_key, mismatch_type,"
            " cassandra_checksum, postgres_checksum, cassandra_data, postgres_data, differing_columns")


def mismatch_id(job_id, pk_display: str) -> uuid.UUID:
    """Deterministic: a redelivered segment writes the same ids (and the unique key drops repeats)."""
    return uuid.uuid5(_NS, f"{job_id}/{pk_display}")


def _rows(job: dict, segment_no: int | None, diffs: Iterable) -> Iterator[tuple]:
    for d in diffs:
        yield (mismatch_id(job["job_id"], d.pk_display), job["job_id"], segment_no, job["table_name"], d.pk_display,
               Jsonb(list(d.pk)), d.mismatch_type.value, d.cassandra_checksum, d.postgres_checksum,
               Jsonb(d.cassandra_data) if d.cassandra_data is not None else None,
               Jsonb(d.postgres_data) if d.postgres_data is not None else None,
               list(d.differing_columns) or None)


def insert_mismatches(conn, job: dict, segment_no: int | None, diffs: Iterable) -> int:
    """Insert the diffs (any iterable, read once) as mismatch records; a record already there
    (same job and key) is kept. Streams in batches of `BATCH` through COPY into a staging table,
    so memory is bounded by one batch. Runs inside the caller's transaction."""
    rows = _rows(job, segment_no, diffs)
    first = list(islice(rows, _SMALL))
    if not first:
        return 0
    if len(first) < _SMALL:
        with conn.cursor() as cur:
            cur.executemany(
                f"INSERT INTO recon.mismatches ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (job_id, primary_key_value) DO NOTHING",
                first,
            )
        carry_ignored(conn, job, [r[4] for r in first])
        return len(first)
    conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS recon_mismatch_batch ON COMMIT DROP AS"
                 f" SELECT {_COLUMNS} FROM recon.mismatches WITH NO DATA")
    total = 0
    batch = first
    while batch:
        with conn.cursor() as cur:
            with cur.copy(f"COPY recon_mismatch_batch ({_COLUMNS}) FROM STDIN") as copy:
                for r in batch:
                    copy.write_row(r)
            cur.execute(f"INSERT INTO recon.mismatches ({_COLUMNS}) SELECT {_COLUMNS} FROM recon_mismatch_batch"
                        " ON CONFLICT (job_id, primary_key_value) DO NOTHING")
            cur.execute("TRUNCATE recon_mismatch_batch")
        carry_ignored(conn, job, [r[4] for r in batch])
        total += len(batch)
        batch = list(islice(rows, BATCH))
    return total


def carry_ignored(conn, job: dict, keys: list[str]) -> int:
    """Record the job's new mismatches of `keys` as IGNORED where a person already ignored the same
    difference: the latest decision a person took on the key in this table (the IGNORED or
    MANUAL_RESOLVED mismatch resolved last) is IGNORED, with the same type and the same checksums (so the
    same row images). The notes and the person are carried over, `resolved_at` is now. A difference
    that changed, or whose latest decision was MANUAL_RESOLVED (the fix did not hold), stays PENDING.

    Without this, an expected difference (a soft delete on one side) came back PENDING on every job,
    every hour. Reads only mismatches resolved by a person (index `mismatches_status_list`), so it costs
    next to nothing while nothing is resolved. Returns the number of mismatches recorded as IGNORED."""
    if not keys:
        return 0
    return conn.execute(
        "UPDATE recon.mismatches m SET resolution_status = 'IGNORED', resolution_notes = i.resolution_notes,"
        " resolved_by = i.resolved_by, resolved_at = now()"
        " FROM (SELECT DISTINCT ON (primary_key_value) primary_key_value, resolution_status, mismatch_type,"
        "              cassandra_checksum, postgres_checksum, resolution_notes, resolved_by"
        "       FROM recon.mismatches WHERE resolution_status IN ('IGNORED', 'MANUAL_RESOLVED')"
        "         AND table_name = %(table)s AND job_id <> %(job)s AND primary_key_value = ANY(%(keys)s)"
        "       ORDER BY primary_key_value, resolved_at DESC NULLS LAST, mismatch_id DESC) i"
        " WHERE m.job_id = %(job)s AND m.primary_key_value = i.primary_key_value AND i.resolution_status = 'IGNORED'"
        "   AND m.resolution_status = 'PENDING' AND m.mismatch_type = i.mismatch_type"
        "   AND m.cassandra_checksum IS NOT DISTINCT FROM i.cassandra_checksum"
        "   AND m.postgres_checksum IS NOT DISTINCT FROM i.postgres_checksum",
        {"table": job["table_name"], "job": job["job_id"], "keys": keys},
    ).rowcount


def insert_suspects(conn, job: dict, segment_no: int | None, diffs: Iterable, grace_seconds: int) -> int:
    total = 0
    it = iter(diffs)
    while batch := [(job["job_id"], d.pk_display, Jsonb(list(d.pk)), segment_no, d.mismatch_type.value, grace_seconds)
                    for d in islice(it, BATCH)]:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO recon.rechecks (job_id, primary_key_value, primary_key, segment_no, first_seen_type, due_at)"
                " VALUES (%s, %s, %s, %s, %s, now() + make_interval(secs => %s))"
                " ON CONFLICT (job_id, primary_key_value) DO NOTHING",
                batch,
            )
        total += len(batch)
    return total


#: first_seen_type of a recheck that is a PostgreSQL row with a wrong token column (strategies.split_misplaced)
MISPLACED = "MISPLACED_TOKEN"


def insert_misplaced(conn, job: dict, segment_no: int | None, misplaced: Iterable) -> int:
    """Queue PostgreSQL rows read under a wrong token for a re-read by key when the job ends: `misplaced`
    holds (diff, grace seconds). A key already queued as a live suspect (the Cassandra row's segment) is
    marked misplaced, so the job's end replaces whatever the scans recorded for it."""
    rows = [(job["job_id"], d.pk_display, Jsonb(list(d.pk)), segment_no, MISPLACED, grace) for d, grace in misplaced]
    if not rows:
        return 0
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO recon.rechecks (job_id, primary_key_value, primary_key, segment_no, first_seen_type, due_at)"
            " VALUES (%s, %s, %s, %s, %s, now() + make_interval(secs => %s))"
            " ON CONFLICT (job_id, primary_key_value) DO UPDATE SET first_seen_type = EXCLUDED.first_seen_type,"
            " due_at = GREATEST(recon.rechecks.due_at, EXCLUDED.due_at)",
            rows,
        )
    return len(rows)
