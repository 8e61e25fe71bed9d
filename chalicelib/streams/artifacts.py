"""Exceptions from a step's unmatched outputs: each row of an UNMATCHED_SOURCE / UNMATCHED_TARGET CSV
(original columns + the engine's explanation columns, docs/matching.md) becomes one exception,
written with COPY in the caller's transaction. Loading the same attempt twice loads nothing twice
(UNIQUE (step_run_id, side, row_no))."""
from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import psycopg

REASONS = ("NO_CANDIDATE", "TOLERANCE_EXCEEDED", "DATE_OUT_OF_WINDOW", "BELOW_SIMILARITY", "AMBIGUOUS")
_EXPLANATION = ("_row_key", "_reason", "_closest_key", "_closest_pass", "_failed_condition", "_detail")


def _explanation_columns() -> tuple[str, ...]:
    try:
        from chalicelib.matching import EXPLANATION_COLUMNS

        return tuple(EXPLANATION_COLUMNS)
    except ImportError:
        return _EXPLANATION


def exception_rows(path: Path):
    """(row_no, row_key, row_data, reason, closest_candidate) per unmatched row, in file order."""
    explanation = _explanation_columns()
    csv.field_size_limit(sys.maxsize)
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            return
        n = len(explanation)
        if tuple(header[-n:]) != explanation:
            raise ValueError(f"{path.name}: the last columns are not the engine's explanation columns")
        data_cols = header[:-n]
        for row_no, row in enumerate(reader, start=1):
            data, expl = row[:-n], dict(zip(explanation, row[-n:]))
            reason = expl.get("_reason") or "NO_CANDIDATE"
            if reason not in REASONS:
                reason = "NO_CANDIDATE"
            closest = None
            if expl.get("_closest_key"):
                closest = {"rowKey": expl["_closest_key"], "pass": expl.get("_closest_pass") or None,
                           "failedCondition": expl.get("_failed_condition") or None,
                           "detail": expl.get("_detail") or None}
            yield row_no, expl.get("_row_key") or str(row_no), dict(zip(data_cols, data)), reason, closest


def load_exceptions(conn: psycopg.Connection, path: Path, *, side: str, stream_id: int, run_id: int,
                    step_run_id: int, reconciliation_id: int, step_order: int) -> int:
    already = conn.execute("SELECT count(*) AS n FROM recon.stream_exceptions WHERE step_run_id = %s AND side = %s",
                           (step_run_id, side)).fetchone()
    if (already["n"] if isinstance(already, dict) else already[0]) > 0:
        return int(already["n"] if isinstance(already, dict) else already[0])
    n = 0
    with conn.cursor() as cur:
        with cur.copy("COPY recon.stream_exceptions (stream_id, run_id, step_run_id, reconciliation_id, step_order,"
                      " side, row_no, row_key, row_data, reason, closest_candidate) FROM STDIN") as copy:
            for row_no, key, data, reason, closest in exception_rows(path):
                copy.write_row((stream_id, run_id, step_run_id, reconciliation_id, step_order, side, row_no, key,
                                json.dumps(data), reason, json.dumps(closest) if closest else None))
                n += 1
    return n
