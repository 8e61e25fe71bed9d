"""Legacy reconciliations (streams platform §7) behind an adapter: a reconciliation is one step run.

`POST /reconciliations` creates an implicit one-step stream (kind LEGACY) and a PENDING run of it; the
run's step has the reconciliation id. Every step run of any stream is visible here through its
reconciliation id. Status: the step run's, with RETRY_WAIT read as IN_PROGRESS and SKIPPED as CANCELED.
"""
from __future__ import annotations

from chalicelib.streams import definitions
from chalicelib.streams.defs_db import fetch_all, fetch_one, tx
from chalicelib.streams.defs_errors import Conflict, Invalid, Issue, NotFound

STATUS = {"PENDING": "PENDING", "IN_PROGRESS": "IN_PROGRESS", "RETRY_WAIT": "IN_PROGRESS",
          "COMPLETED": "COMPLETED", "FAILED": "FAILED", "SKIPPED": "CANCELED", "CANCELED": "CANCELED"}
FINISHED = ("COMPLETED", "FAILED", "CANCELED")
_FIELDS = {"steps[0].sourceInput.id": "sourceFileId", "steps[0].targetInput.id": "targetFileId",
           "steps[0].ruleSetId": "ruleSetId"}

# one row per (run, step): its latest attempt, the run, the stream and the legacy record if any
_SELECT = """
SELECT t.reconciliation_id, t.run_id, t.step_order, t.name AS step_name, r.stream_id, r.status AS run_status,
       r.execution_arn, r.created_at AS run_created_at, r.started_at AS run_started_at,
       r.completed_at AS run_completed_at, r.error_message AS run_error, r.definition, s.kind, s.name AS stream_name,
       sr.status, sr.progress, sr.rule_set_id AS sr_rule_set_id, sr.source_file_id, sr.target_file_id,
       sr.source_rows, sr.target_rows, sr.matched_source_rows, sr.unmatched_source_rows, sr.unmatched_target_rows,
       sr.exception_count, sr.error_message, coalesce(fa.first_started_at, sr.started_at) AS started_at,
       sr.completed_at,
       l.name AS legacy_name, l.description AS legacy_description, l.source_file_id AS l_source_file_id,
       l.target_file_id AS l_target_file_id, l.rule_set_id AS l_rule_set_id, l.created_at AS legacy_created_at,
       l.started_at AS legacy_started_at
FROM recon.stream_run_steps t
JOIN recon.stream_runs r ON r.run_id = t.run_id
JOIN recon.streams s ON s.stream_id = r.stream_id
LEFT JOIN LATERAL (SELECT * FROM recon.stream_step_runs x WHERE x.reconciliation_id = t.reconciliation_id
                   ORDER BY x.attempt_no DESC LIMIT 1) sr ON true
LEFT JOIN LATERAL (SELECT min(x.started_at) AS first_started_at FROM recon.stream_step_runs x
                   WHERE x.reconciliation_id = t.reconciliation_id) fa ON true
LEFT JOIN recon.legacy_reconciliations l ON l.reconciliation_id = t.reconciliation_id
"""


def create(name: str, description: str | None, source_file_id: int, target_file_id: int, rule_set_id: int,
           created_by: str | None, conn=None) -> dict:
    from chalicelib.streams import runs

    defn = {"name": name, "description": description, "domain": None, "trigger_type": "MANUAL",
            "trigger_config": None,
            "steps": [{"step_order": 1, "name": name,
                       "source_input": {"type": "FILE", "id": source_file_id},
                       "target_input": {"type": "FILE", "id": target_file_id}, "rule_set_id": rule_set_id,
                       "config": {"continue_on_failure": False, "max_retries": 0}}]}
    with tx(conn) as c:
        try:
            stream = definitions.create_stream(defn, created_by, kind="LEGACY", conn=c)
        except Invalid as exc:
            raise Invalid([_as_legacy(i) for i in exc.issues]) from None
        run = runs.create_run(stream["stream_id"], "MANUAL",
                              {"requestedBy": created_by, "reason": "legacy reconciliation"}, start=False, conn=c)
        rid = fetch_one(c, "SELECT reconciliation_id FROM recon.stream_run_steps WHERE run_id = %s AND step_order = 1",
                        (run["runId"],))["reconciliation_id"]
        c.execute("INSERT INTO recon.legacy_reconciliations (reconciliation_id, stream_id, run_id, name, description,"
                  " source_file_id, target_file_id, rule_set_id, created_by) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                  (rid, stream["stream_id"], run["runId"], name, description, source_file_id, target_file_id,
                   rule_set_id, created_by))
        return _load(rid, c)


def reference_problems(raw) -> list[Issue]:
    """definitions.reference_problems for the body of POST /reconciliations, in its field names."""
    if not isinstance(raw, dict):
        return []
    step = {"stepOrder": 1, "sourceInput": {"type": "FILE", "id": raw.get("sourceFileId")},
            "targetInput": {"type": "FILE", "id": raw.get("targetFileId")}, "ruleSetId": raw.get("ruleSetId")}
    return [_as_legacy(i) for i in definitions.reference_problems({"steps": [step]})]


def _as_legacy(issue: Issue) -> Issue:
    return Issue(_FIELDS.get(issue.field, issue.field), issue.code, issue.message.replace("Step 1: ", ""))


def _load(reconciliation_id: int, conn=None) -> dict:
    with tx(conn) as c:
        row = fetch_one(c, _SELECT + " WHERE t.reconciliation_id = %s", (reconciliation_id,))
    if row is None:
        raise NotFound("Reconciliation", reconciliation_id)
    return row


def get(reconciliation_id: int) -> dict:
    return _load(reconciliation_id)


# status_of() in SQL, for the list's status filter (tests/integration/streams/test_reconciliations.py checks that
# every reconciliation a filter lists reads that status, and that the five filters list every reconciliation)
_STATUS_SQL = """CASE
  WHEN s.kind = 'LEGACY' AND r.status = 'FAILED' AND coalesce(sr.status, 'PENDING') IN ('PENDING', 'SKIPPED')
    THEN 'FAILED'
  WHEN coalesce(sr.status, 'PENDING') = 'PENDING' AND s.kind = 'LEGACY' AND coalesce(r.execution_arn, '') <> ''
       AND r.status IN ('PENDING', 'RUNNING') THEN 'IN_PROGRESS'
  WHEN coalesce(sr.status, 'PENDING') = 'PENDING' AND r.status = 'CANCELED' THEN 'CANCELED'
  WHEN sr.status = 'RETRY_WAIT' THEN 'IN_PROGRESS'
  WHEN sr.status = 'SKIPPED' THEN 'CANCELED'
  ELSE coalesce(sr.status, 'PENDING') END"""


def list_all(offset: int = 0, limit: int = 20, status: str | None = None) -> tuple[list[dict], int]:
    """One page of every step run of every stream as reconciliations, newest first; `status` a legacy status."""
    with tx() as c:
        if status is None:
            total = fetch_one(c, "SELECT count(*) AS n FROM recon.stream_run_steps")["n"]
            rows = fetch_all(c, _SELECT + " ORDER BY r.created_at DESC, t.reconciliation_id DESC OFFSET %s LIMIT %s",
                             (offset, limit))
            return rows, total
        where = f" WHERE {_STATUS_SQL} = %s"
        total = fetch_one(c, f"SELECT count(*) AS n FROM ({_SELECT}{where}) x", (status,))["n"]
        rows = fetch_all(c, _SELECT + where + " ORDER BY r.created_at DESC, t.reconciliation_id DESC OFFSET %s LIMIT %s",
                         (status, offset, limit))
    return rows, total


def status_of(row: dict) -> str:   # _STATUS_SQL says the same in SQL
    step = row["status"] or "PENDING"
    if row["kind"] == "LEGACY" and row["run_status"] == "FAILED" and step in ("PENDING", "SKIPPED"):
        return "FAILED"        # the run could not start: its only step never ran
    if step == "PENDING" and row["kind"] == "LEGACY" and row["execution_arn"] and row["run_status"] in ("PENDING", "RUNNING"):
        return "IN_PROGRESS"   # started, waiting for a worker
    if step == "PENDING" and row["run_status"] == "CANCELED":
        return "CANCELED"
    return STATUS.get(step, step)


def start(reconciliation_id: int) -> dict:
    from chalicelib.streams import runs

    row = _load(reconciliation_id)
    if row["kind"] != "LEGACY":
        raise Conflict(f"Reconciliation {reconciliation_id} is step {row['step_order']} of stream run {row['run_id']}:"
                       " it starts with its run")
    if row["execution_arn"] or row["run_status"] != "PENDING":
        raise _not_startable(reconciliation_id, row)
    _inputs_ready(reconciliation_id, row)
    started_at = _database_now()   # taken before the run starts: no worker can have started its step earlier
    try:
        runs.start_run(row["run_id"], pin_now=True)   # the rule set as it is when the reconciliation starts
    except runs.RunConflict:
        # a cancel or another start got there between the check above and the run's lock: say which
        raise _not_startable(reconciliation_id, _load(reconciliation_id)) from None
    # it reads IN_PROGRESS from now on, before a worker takes its step: startedAt is this moment, the one the
    # start answers, in every later read (not null until a worker comes, then a later time)
    with tx() as c:
        c.execute("UPDATE recon.legacy_reconciliations SET started_at = coalesce(started_at, %s)"
                  " WHERE reconciliation_id = %s", (started_at, reconciliation_id))
    return _load(reconciliation_id)


def _database_now():
    """The control plane's clock, which stamps every other time of a reconciliation."""
    with tx() as c:
        return fetch_one(c, "SELECT now() AS t")["t"]


def _not_startable(reconciliation_id: int, row: dict) -> Conflict:
    status = status_of(row)
    if status == "CANCELED" and not row["execution_arn"]:
        return Conflict(f"Reconciliation {reconciliation_id} was canceled before it started (CANCELED): "
                        "create a new one to run it")
    return Conflict(f"Reconciliation {reconciliation_id} was already started ({status})")


def _inputs_ready(reconciliation_id: int, row: dict) -> None:
    """A start that cannot succeed is refused while the reconciliation can still be started later: an input
    file still PROCESSING (its upload is being read) or INVALID would fail the run at once, for good."""
    from chalicelib.streams import files

    found = files.get_files([row["l_source_file_id"], row["l_target_file_id"]])
    for side, file_id in (("source", row["l_source_file_id"]), ("target", row["l_target_file_id"])):
        f = found.get(file_id)
        if f is None:
            raise Conflict(f"Reconciliation {reconciliation_id} cannot start: its {side} file {file_id} no longer exists")
        if f["status"] in ("PROCESSING", "UPLOADING"):
            raise Conflict(f"Reconciliation {reconciliation_id} cannot start yet: its {side} file {file_id} is PROCESSING"
                           " (its upload is not complete); start it once the file is READY")
        if f["status"] == "INVALID":
            raise Conflict(f"Reconciliation {reconciliation_id} cannot start: its {side} file {file_id} is INVALID"
                           f" ({f['error_message']})")


def cancel(reconciliation_id: int) -> dict:
    from chalicelib.streams import runs

    row = _load(reconciliation_id)
    status = status_of(row)
    if status in FINISHED:
        raise Conflict(f"Reconciliation {reconciliation_id} is already {status}")
    try:
        runs.cancel_run(row["run_id"], step_order=row["step_order"])
    except runs.RunConflict as exc:
        raise Conflict(f"Reconciliation {reconciliation_id} cannot be canceled: {exc}") from None
    return _load(reconciliation_id)


def _step_def(row: dict) -> dict:
    for st in row.get("definition") or []:
        if st.get("stepOrder") == row["step_order"]:
            return st
    return {}


def match_rate(matched: int | None, source_rows: int | None) -> float | None:
    """Matched source rows as a percent of the source rows, two decimals — never 100.0 while a row is
    unmatched nor 0.0 once one matched (99,996 of 100,000 read 99.99, not 100.0)."""
    if not source_rows or matched is None:
        return None
    rate = round(100.0 * matched / source_rows, 2)
    if matched < source_rows:
        rate = min(rate, 99.99)
    if matched > 0:
        rate = max(rate, 0.01)
    return rate


def view(row: dict) -> dict:
    st = _step_def(row)
    legacy = row["kind"] == "LEGACY" and row["legacy_name"] is not None

    def input_file(key: str, own, legacy_value):
        if legacy:
            return legacy_value
        if own is not None:
            return own
        inp = st.get(key) or {}
        return inp.get("id") if inp.get("type") == "FILE" else None

    source_rows, matched = row["source_rows"], row["matched_source_rows"]
    rate = match_rate(matched, source_rows)
    return {
        "id": row["reconciliation_id"],
        "name": row["legacy_name"] if legacy else f"{row['stream_name']} / {row['step_name']}",
        "description": row["legacy_description"] if legacy else None,
        "status": status_of(row),
        "sourceFileId": input_file("sourceInput", row["source_file_id"], row["l_source_file_id"]),
        "targetFileId": input_file("targetInput", row["target_file_id"], row["l_target_file_id"]),
        "ruleSetId": row["l_rule_set_id"] if legacy else (row["sr_rule_set_id"] or st.get("ruleSetId")),
        "streamId": row["stream_id"], "runId": row["run_id"], "stepOrder": row["step_order"],
        "totalSourceRecords": source_rows, "totalTargetRecords": row["target_rows"],
        "matchedRecords": matched, "unmatchedSourceRecords": row["unmatched_source_rows"],
        "unmatchedTargetRecords": row["unmatched_target_rows"], "exceptionCount": row["exception_count"] or 0,
        "matchRate": rate, "progress": row["progress"] or 0,
        "errorMessage": row["error_message"] or (row["run_error"] if legacy else None),
        "startedAt": ((row["legacy_started_at"] if legacy else None) or row["started_at"]
                      or (row["run_started_at"] if legacy else None)),
        "completedAt": (None if row["status"] == "RETRY_WAIT"
                        else row["completed_at"] or (row["run_completed_at"] if status_of(row) == "CANCELED" else None)),
        "createdAt": row["legacy_created_at"] or row["run_created_at"],
    }
