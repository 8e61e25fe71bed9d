"""The end of a job: re-check live-CDC suspects after the grace period, auto-resolve earlier
mismatches that have converged, then finalise the job exactly once."""
from __future__ import annotations

from datetime import datetime, timezone

from psycopg.types.json import Jsonb

from chalicelib.cdc import jobs, recording
from chalicelib.cdc.catalog import get_catalog
from chalicelib.cdc.diff import diff_rows
from chalicelib.db.pool import transaction
from chalicelib.observability import logger
from chalicelib.runs import wakeups

#: keys with earlier PENDING mismatches re-checked per job (oldest first); the rest wait for the next job
CONVERGENCE_BATCH = 5000


def finalize(job_id, context_for) -> str:
    """Handle a 'finalize' message. `context_for(table_config)` gives the TableContext. Safe to run
    again after a fault at any point (the worker retries it on transient faults): the reads change
    nothing and the writes commit together under the job's row lock, conditional on RECHECKING.

    Returns 'finalized', 'not-due' (re-sent with a delay), or 'skipped' (not in RECHECKING, or
    another worker holds it)."""
    with transaction() as conn:
        job = conn.execute(
            "SELECT * FROM recon.jobs WHERE job_id = %s AND phase = 'RECHECKING' AND status = 'RUNNING'"
            " FOR UPDATE SKIP LOCKED", (job_id,)
        ).fetchone()
        if job is None:
            return "skipped"
        wait = conn.execute(
            "SELECT ceil(extract(epoch FROM max(due_at) - now()))::int AS s FROM recon.rechecks WHERE job_id = %s",
            (job_id,),
        ).fetchone()["s"]
        suspects = conn.execute(
            "SELECT primary_key_value, primary_key, segment_no, first_seen_type FROM recon.rechecks WHERE job_id = %s",
            (job_id,)
        ).fetchall()
        # per key, not per mismatch: every job records its own mismatch of a difference that persists,
        # so the oldest PENDING rows would soon all be copies of the same few unfixed keys and a key
        # fixed later would never be reached
        earlier = conn.execute(
            "SELECT primary_key_value, (array_agg(primary_key ORDER BY detected_at))[1] AS primary_key,"
            " array_agg(mismatch_id) AS ids FROM recon.mismatches"
            " WHERE table_name = %s AND resolution_status = 'PENDING' AND job_id <> %s"
            " GROUP BY primary_key_value ORDER BY min(detected_at), primary_key_value LIMIT %s",
            (job["table_name"], job_id, CONVERGENCE_BATCH),
        ).fetchall()
    if wait is not None and wait > 0:
        wakeups.wake(jobs.SEGMENTS_QUEUE, [{"kind": "finalize", "job_id": str(job_id)}], delay_s=min(wait, 900))
        return "not-due"

    table = get_catalog().get(job["table_name"])
    still: list = []
    converged_ids: list = []
    if table is not None and (suspects or earlier):
        ctx = context_for(table)
        # Keys are compared as displayed (primary_key_value): the re-read of a key also reads the other
        # PostgreSQL rows of its millisecond, whose differences are not the ones re-checked here.
        if suspects:
            c_map, p_map = ctx.fetch_both([tuple(s["primary_key"]) for s in suspects])
            wanted = {s["primary_key_value"] for s in suspects}
            still = [d for d in diff_rows(c_map, p_map, ctx.matcher) if d.pk_display in wanted]
        if earlier:
            c_map, p_map = ctx.fetch_both([tuple(e["primary_key"]) for e in earlier])
            differing = {d.pk_display for d in diff_rows(c_map, p_map, ctx.matcher)}
            converged_ids = [i for e in earlier if e["primary_key_value"] not in differing for i in e["ids"]]

    with transaction() as conn:
        job = conn.execute(
            "SELECT * FROM recon.jobs WHERE job_id = %s AND phase = 'RECHECKING' AND status = 'RUNNING' FOR UPDATE",
            (job_id,),
        ).fetchone()
        if job is None:
            return "skipped"
        seg_of = {s["primary_key_value"]: s["segment_no"] for s in suspects}
        # a row with a wrong token was seen twice (missing in Cassandra at its wrong token, missing in PostgreSQL
        # at its real one, in another segment or the same): what the scans recorded for it gives way to its
        # re-read by key
        misplaced = [s["primary_key_value"] for s in suspects if s["first_seen_type"] == recording.MISPLACED]
        if misplaced and table is not None:
            conn.execute("DELETE FROM recon.mismatches WHERE job_id = %s AND primary_key_value = ANY(%s)",
                         (job_id, misplaced))
            # said on the job (GET /reconciliation/jobs/{id}, the console's job page), not only in a log
            column = table.postgres.token_column
            examples = ", ".join(sorted(misplaced)[:3]) + (", ..." if len(misplaced) > 3 else "")
            note = (f"{len(misplaced)} PostgreSQL row{'s' if len(misplaced) != 1 else ''} ({examples}) "
                    f"{'have' if len(misplaced) != 1 else 'has'} a {column} that is not the Murmur3 token of the "
                    f"partition key: compared by key instead of reported missing. The CDC sink writes this column "
                    f"wrong; set it to NULL for these rows and the next job fills it")
            conn.execute("UPDATE recon.jobs SET validation_errors = coalesce(validation_errors, '[]'::jsonb) || %s"
                         " WHERE job_id = %s", (Jsonb([note]), job_id))
        for d in still:
            recording.insert_mismatches(conn, job, seg_of.get(d.pk_display), [d])
        odd = set(misplaced)
        transient = (len(suspects) - len(odd)) - sum(1 for d in still if d.pk_display not in odd)
        auto = 0
        if converged_ids:
            auto = conn.execute(
                "UPDATE recon.mismatches SET resolution_status = 'AUTO_RESOLVED', resolved_at = now(),"
                " resolved_by = 'recon', resolution_notes = %s"
                " WHERE mismatch_id = ANY(%s) AND resolution_status = 'PENDING'",
                (f"converged: rows equal on both sides when job {job_id} re-checked them", converged_ids),
            ).rowcount
        conn.execute("DELETE FROM recon.rechecks WHERE job_id = %s", (job_id,))
        conn.execute(
            "UPDATE recon.jobs SET transient_count = transient_count + %s, auto_resolved_count = auto_resolved_count + %s"
            " WHERE job_id = %s",
            (transient, auto, job_id),
        )
        deliveries = jobs.finalize_job(conn, job)
    jobs._after_finish(deliveries)
    logger.info("job finalized", extra={"job_id": str(job_id), "transient": transient, "auto_resolved": auto,
                                        "wrong_token_rows": len(misplaced),
                                        "at": datetime.now(timezone.utc).isoformat()})
    return "finalized"
