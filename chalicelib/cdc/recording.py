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
        total += len(batch)
        batch = list(islice(rows, BATCH))
    return total


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
