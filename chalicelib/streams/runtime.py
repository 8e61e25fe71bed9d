"""Data access for stream runs, step-run attempts and artifacts (recon.stream_runs, stream_run_steps,
stream_step_runs, stream_artifacts). SQL only: decisions are made in runs.py and step_worker.py."""
from __future__ import annotations

from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from chalicelib.streams.defs_db import fetch_all, fetch_one

FINISHED_RUN = ("PARTIAL_FAILED", "FAILED", "COMPLETED", "CANCELED")
ACTIVE_RUN = ("PENDING", "RUNNING")
FINISHED_STEP = ("FAILED", "COMPLETED", "SKIPPED", "CANCELED")

_RUN = ("r.run_id, r.stream_id, r.stream_version, r.status, r.trigger_type, r.trigger_metadata, r.definition,"
        " r.bound_inputs, r.current_step_order, r.total_steps, r.error_message, r.execution_arn, r.created_at,"
        " r.started_at, r.completed_at, r.updated_at")
_STEP_RUN = ("s.step_run_id, s.run_id, s.step_order, s.attempt_no, s.step_id, s.reconciliation_id, s.status,"
             " s.progress, s.rule_set_id,"
             # the version the worker loaded; before that, the one the run pinned for the step (shown from the start)
             " coalesce(s.rule_set_version, (SELECT (d ->> 'ruleSetVersion')::int FROM recon.stream_runs pr,"
             " jsonb_array_elements(pr.definition) d WHERE pr.run_id = s.run_id"
             " AND (d ->> 'stepOrder')::int = s.step_order)) AS rule_set_version,"
             " s.source_file_id, s.target_file_id, s.source_rows,"
             " s.target_rows, s.matched_source_rows, s.matched_target_rows, s.unmatched_source_rows,"
             " s.unmatched_target_rows, s.exception_count, s.summary, s.error_message, s.worker_id,"
             " s.heartbeat_at, s.started_at, s.completed_at, s.created_at, s.updated_at")
# run metrics, as they happen: from the latest attempt of each step
_METRICS = """
  (SELECT count(*) FILTER (WHERE l.status = 'COMPLETED') AS completed_steps,
          count(*) FILTER (WHERE l.status = 'FAILED') AS failed_steps,
          coalesce(sum(l.matched_source_rows) FILTER (WHERE l.status = 'COMPLETED'), 0) AS matched_records,
          coalesce(sum(l.exception_count) FILTER (WHERE l.status = 'COMPLETED'), 0) AS exception_count
     FROM (SELECT DISTINCT ON (x.step_order) x.status, x.matched_source_rows, x.exception_count
             FROM recon.stream_step_runs x WHERE x.run_id = r.run_id
            ORDER BY x.step_order, x.attempt_no DESC) l) m"""


# --------------------------------------------------------------------------------------------- runs


def insert_run(conn: psycopg.Connection, *, stream_id: int, stream_version: int, trigger_type: str,
               trigger_metadata: dict, definition: list[dict], bound_inputs: list[dict]) -> dict:
    return fetch_one(
        conn,
        "INSERT INTO recon.stream_runs (stream_id, stream_version, trigger_type, trigger_metadata, definition,"
        " bound_inputs, total_steps) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING run_id",
        (stream_id, stream_version, trigger_type, Jsonb(trigger_metadata), Jsonb(definition), Jsonb(bound_inputs),
         len(definition)),
    )


def insert_steps(conn: psycopg.Connection, run_id: int, definition: list[dict]) -> None:
    for st in definition:
        rec = fetch_one(
            conn,
            "INSERT INTO recon.stream_run_steps (run_id, step_order, step_id, name) VALUES (%s, %s, %s, %s)"
            " RETURNING reconciliation_id",
            (run_id, st["stepOrder"], st.get("stepId"), st["name"]),
        )
        conn.execute(
            "INSERT INTO recon.stream_step_runs (run_id, step_order, attempt_no, step_id, reconciliation_id,"
            " rule_set_id) VALUES (%s, %s, 1, %s, %s, %s)",
            (run_id, st["stepOrder"], st.get("stepId"), rec["reconciliation_id"], st.get("ruleSetId")),
        )


def get_run(conn: psycopg.Connection, run_id: int, *, lock: bool = False) -> dict | None:
    if lock:
        return fetch_one(conn, f"SELECT {_RUN} FROM recon.stream_runs r WHERE r.run_id = %s FOR UPDATE", (run_id,))
    return fetch_one(conn, f"SELECT {_RUN}, m.* FROM recon.stream_runs r, LATERAL {_METRICS}"
                           " WHERE r.run_id = %s", (run_id,))


def active_run_of(conn: psycopg.Connection, stream_id: int) -> dict | None:
    return fetch_one(conn, "SELECT run_id, status FROM recon.stream_runs WHERE stream_id = %s"
                           " AND status IN ('PENDING', 'RUNNING')", (stream_id,))


def list_runs(conn: psycopg.Connection, stream_id: int, status: str | None, offset: int, limit: int
              ) -> tuple[list[dict], int]:
    where, params = "r.stream_id = %s", [stream_id]
    if status:
        where += " AND r.status = %s"
        params.append(status)
    total = fetch_one(conn, f"SELECT count(*) AS n FROM recon.stream_runs r WHERE {where}", params)["n"]
    rows = fetch_all(conn, f"SELECT {_RUN}, m.* FROM recon.stream_runs r, LATERAL {_METRICS} WHERE {where}"
                           " ORDER BY r.created_at DESC, r.run_id DESC OFFSET %s LIMIT %s", [*params, offset, limit])
    return rows, total


def update_run(conn: psycopg.Connection, run_id: int, **fields: Any) -> None:
    # the time of the write, not of the transaction's start: a cancel that waited for a completing step's
    # row stamped the run updated before it completed
    sets = ", ".join(f"{k} = %s" for k in fields)
    values = [Jsonb(v) if isinstance(v, (dict, list)) else v for v in fields.values()]
    conn.execute(f"UPDATE recon.stream_runs SET {sets}, updated_at = clock_timestamp() WHERE run_id = %s",
                 [*values, run_id])


def mark_running(conn: psycopg.Connection, run_id: int, step_order: int) -> None:
    conn.execute(
        "UPDATE recon.stream_runs SET status = CASE WHEN status = 'PENDING' THEN 'RUNNING' ELSE status END,"
        " started_at = coalesce(started_at, now()), current_step_order = %s, updated_at = now()"
        " WHERE run_id = %s AND status IN ('PENDING', 'RUNNING')",
        (step_order, run_id),
    )


def run_status(conn: psycopg.Connection, run_id: int) -> str | None:
    row = fetch_one(conn, "SELECT status FROM recon.stream_runs WHERE run_id = %s", (run_id,))
    return row["status"] if row else None


# ---------------------------------------------------------------------------------------- step runs


def step_runs(conn: psycopg.Connection, run_id: int, *, all_attempts: bool = False) -> list[dict]:
    if all_attempts:
        sql = (f"SELECT {_STEP_RUN}, t.name FROM recon.stream_step_runs s JOIN recon.stream_run_steps t"
               " USING (reconciliation_id) WHERE s.run_id = %s ORDER BY s.step_order, s.attempt_no")
    else:
        sql = (f"SELECT DISTINCT ON (s.step_order) {_STEP_RUN}, t.name FROM recon.stream_step_runs s"
               " JOIN recon.stream_run_steps t USING (reconciliation_id) WHERE s.run_id = %s"
               " ORDER BY s.step_order, s.attempt_no DESC")
    return fetch_all(conn, sql, (run_id,))


def outcome(steps: dict[int, dict], definition: list[dict]) -> tuple[str, list[int]]:
    """The status a run ends with, from its steps' latest attempts (by step order), and the orders of its
    failed steps: FAILED when a failed step stops the run (no `continueOnFailure`), PARTIAL_FAILED when a
    step failed or was skipped, else COMPLETED. A step still IN_PROGRESS or RETRY_WAIT when the run ends
    counts as failed."""
    by_order = {st["stepOrder"]: st for st in definition}
    failed = [o for o, s in sorted(steps.items()) if s["status"] in ("FAILED", "IN_PROGRESS", "RETRY_WAIT")]
    if any(not by_order[o].get("continueOnFailure") for o in failed):
        return "FAILED", failed
    if failed or any(s["status"] == "SKIPPED" for s in steps.values()):
        return "PARTIAL_FAILED", failed
    return "COMPLETED", failed


def decided_outcome(steps: dict[int, dict], definition: list[dict]) -> str | None:
    """The status an active run is bound to end with once none of its steps can run any more (its end is
    still being written: the last exception loads, the execution's last transitions); None while a step
    runs, waits for its retry, or may still start."""
    if any(s["status"] in ("IN_PROGRESS", "RETRY_WAIT") for s in steps.values()):
        return None
    by_order = {st["stepOrder"]: st for st in definition}
    stopped = any(s["status"] == "FAILED" and not by_order[o].get("continueOnFailure") for o, s in steps.items())
    waiting = [o for o in by_order if o not in steps or steps[o]["status"] == "PENDING"]
    if waiting and not stopped:
        return None
    return outcome(steps, definition)[0]


def latest_attempt(conn: psycopg.Connection, run_id: int, step_order: int) -> dict | None:
    return fetch_one(conn, f"SELECT {_STEP_RUN} FROM recon.stream_step_runs s WHERE s.run_id = %s"
                           " AND s.step_order = %s ORDER BY s.attempt_no DESC LIMIT 1", (run_id, step_order))


def attempt(conn: psycopg.Connection, run_id: int, step_order: int, attempt_no: int, *, lock: bool = False
            ) -> dict | None:
    return fetch_one(conn, f"SELECT {_STEP_RUN} FROM recon.stream_step_runs s WHERE s.run_id = %s"
                           " AND s.step_order = %s AND s.attempt_no = %s" + (" FOR UPDATE" if lock else ""),
                     (run_id, step_order, attempt_no))


def get_step_run(conn: psycopg.Connection, step_run_id: int) -> dict | None:
    return fetch_one(conn, f"SELECT {_STEP_RUN} FROM recon.stream_step_runs s WHERE s.step_run_id = %s",
                     (step_run_id,))


def reconciliation_of(conn: psycopg.Connection, run_id: int, step_order: int) -> int:
    return fetch_one(conn, "SELECT reconciliation_id FROM recon.stream_run_steps WHERE run_id = %s"
                           " AND step_order = %s", (run_id, step_order))["reconciliation_id"]


def insert_attempt(conn: psycopg.Connection, run_id: int, step_order: int, attempt_no: int, step_id: int | None,
                   reconciliation_id: int, rule_set_id: int | None) -> dict | None:
    """The attempt's row, IN_PROGRESS; None when another delivery of the same task created it first."""
    return fetch_one(
        conn,
        "INSERT INTO recon.stream_step_runs (run_id, step_order, attempt_no, step_id, reconciliation_id, rule_set_id,"
        " status) VALUES (%s, %s, %s, %s, %s, %s, 'PENDING') ON CONFLICT (run_id, step_order, attempt_no) DO NOTHING"
        " RETURNING step_run_id",
        (run_id, step_order, attempt_no, step_id, reconciliation_id, rule_set_id),
    )


def update_step_run(conn: psycopg.Connection, step_run_id: int, **fields: Any) -> None:
    sets = ", ".join(f"{k} = %s" for k in fields)
    values = [Jsonb(v) if isinstance(v, (dict, list)) else v for v in fields.values()]
    conn.execute(f"UPDATE recon.stream_step_runs SET {sets}, updated_at = now() WHERE step_run_id = %s",
                 [*values, step_run_id])


def set_progress(conn: psycopg.Connection, step_run_id: int, progress: int) -> None:
    conn.execute("UPDATE recon.stream_step_runs SET progress = greatest(progress, %s), heartbeat_at = now(),"
                 " updated_at = now() WHERE step_run_id = %s AND status = 'IN_PROGRESS'",
                 (max(0, min(100, int(progress))), step_run_id))


def fail_stale_attempts(conn: psycopg.Connection, run_id: int, step_order: int, before_attempt: int,
                        message: str) -> None:
    """Earlier attempts still IN_PROGRESS (their worker died; the heartbeat timed out) become FAILED."""
    conn.execute(
        "UPDATE recon.stream_step_runs SET status = 'FAILED', error_message = coalesce(error_message, %s),"
        " completed_at = coalesce(completed_at, now()), updated_at = now()"
        " WHERE run_id = %s AND step_order = %s AND attempt_no < %s AND status IN ('PENDING', 'IN_PROGRESS', 'RETRY_WAIT')",
        (message, run_id, step_order, before_attempt),
    )


def close_open_steps(conn: psycopg.Connection, run_id: int, *, in_progress_to: str, pending_to: str,
                     message: str | None = None) -> None:
    """At the end of a run (finish or cancel): every latest attempt still open gets a final status, at the
    time of the write (a cancel may have waited for a completing step's row)."""
    conn.execute(
        "UPDATE recon.stream_step_runs s SET status = CASE WHEN s.status = 'PENDING' THEN %s ELSE %s END,"
        " error_message = CASE WHEN s.status = 'PENDING' THEN s.error_message ELSE coalesce(s.error_message, %s) END,"
        # an attempt waiting for its retry ended when it failed; canceled meanwhile, its step ends now
        " completed_at = CASE WHEN s.status = 'RETRY_WAIT' AND %s = 'CANCELED' THEN clock_timestamp()"
        " ELSE coalesce(s.completed_at, clock_timestamp()) END, updated_at = clock_timestamp()"
        " WHERE s.run_id = %s AND s.status IN ('PENDING', 'IN_PROGRESS', 'RETRY_WAIT')",
        (pending_to, in_progress_to, message, in_progress_to, run_id),
    )


# ---------------------------------------------------------------------------------------- artifacts


def insert_artifact(conn: psycopg.Connection, step_run_id: int, artifact_type: str, file_row: dict) -> bool:
    """False when the step run already has an artifact of that type (registered meanwhile by another try)."""
    return conn.execute(
        "INSERT INTO recon.stream_artifacts (step_run_id, artifact_type, file_id, filename, row_count, checksum)"
        " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (step_run_id, artifact_type) DO NOTHING",
        (step_run_id, artifact_type, file_row["file_id"], file_row["filename"], file_row.get("row_count"),
         "sha256:" + file_row["sha256"] if file_row.get("sha256") else None),
    ).rowcount == 1


def artifact_file_id(conn: psycopg.Connection, step_run_id: int, artifact_type: str) -> int | None:
    """The file already registered as this step run's artifact of that type (a completion done again
    after a lost database connection finds it instead of registering a second file)."""
    row = fetch_one(conn, "SELECT file_id FROM recon.stream_artifacts WHERE step_run_id = %s AND artifact_type = %s",
                    (step_run_id, artifact_type))
    return None if row is None else row["file_id"]


def artifacts(conn: psycopg.Connection, step_run_id: int) -> list[dict]:
    return fetch_all(conn, "SELECT artifact_id, step_run_id, artifact_type, file_id, filename, row_count, checksum,"
                           " created_at FROM recon.stream_artifacts WHERE step_run_id = %s ORDER BY artifact_id",
                     (step_run_id,))


def step_output_file(conn: psycopg.Connection, run_id: int, step_order: int, artifact_type: str) -> dict | None:
    """The artifact of the completed attempt of an earlier step of the same run."""
    return fetch_one(
        conn,
        "SELECT a.file_id, f.s3_key, f.filename, f.row_count, f.size_bytes, f.sha256, f.columns"
        " FROM recon.stream_step_runs s"
        " JOIN recon.stream_artifacts a ON a.step_run_id = s.step_run_id AND a.artifact_type = %s"
        " JOIN recon.files f ON f.file_id = a.file_id"
        " WHERE s.run_id = %s AND s.step_order = %s AND s.status = 'COMPLETED'"
        " ORDER BY s.attempt_no DESC LIMIT 1",
        (artifact_type, run_id, step_order),
    )
