"""Writes a segment's findings to the control plane: mismatches, and rows to re-check later."""
from __future__ import annotations

import uuid
from typing import Iterable

from psycopg.types.json import Jsonb

_NS = uuid.UUID("8a4f6b0e-2f4c-4c1e-9d2b-7a4f3e9c1d20")


def mismatch_id(job_id, pk_display: str) -> uuid.UUID:
    """Deterministic: a redelivered segment writes the same ids (and the unique key drops repeats)."""
    return uuid.uuid5(_NS, f"{job_id}/{pk_display}")


def insert_mismatches(conn, job: dict, segment_no: int | None, diffs: Iterable) -> int:
    rows = [
        (mismatch_id(job["job_id"], d.pk_display), job["job_id"], segment_no, job["table_name"], d.pk_display,
         Jsonb(list(d.pk)), d.mismatch_type.value, d.cassandra_checksum, d.postgres_checksum,
         Jsonb(d.cassandra_data) if d.cassandra_data is not None else None,
         Jsonb(d.postgres_data) if d.postgres_data is not None else None,
         list(d.differing_columns) or None)
        for d in diffs
    ]
    if not rows:
        return 0
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO recon.mismatches (mismatch_id, job_id, segment_no, table_name, primary_key_value, primary_key,"
            " mismatch_type, cassandra_checksum, postgres_checksum, cassandra_data, postgres_data, differing_columns)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (job_id, primary_key_value) DO NOTHING",
            rows,
        )
    return len(rows)


def insert_suspects(conn, job: dict, segment_no: int | None, diffs: Iterable, grace_seconds: int) -> int:
    rows = [(job["job_id"], d.pk_display, Jsonb(list(d.pk)), segment_no, d.mismatch_type.value, grace_seconds) for d in diffs]
    if not rows:
        return 0
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO recon.rechecks (job_id, primary_key_value, primary_key, segment_no, first_seen_type, due_at)"
            " VALUES (%s, %s, %s, %s, %s, now() + make_interval(secs => %s))"
            " ON CONFLICT (job_id, primary_key_value) DO NOTHING",
            rows,
        )
    return len(rows)
