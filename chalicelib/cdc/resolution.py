"""The mismatch resolution workflow: which status changes a person may make, applied atomically.

Legal manual transitions (docs/api.md explains why):

    PENDING          -> MANUAL_RESOLVED | IGNORED
    IGNORED          -> MANUAL_RESOLVED          (an accepted difference that was later fixed)
    MANUAL_RESOLVED  -> (none: terminal)
    AUTO_RESOLVED    -> (none: the rows converged; only the engine sets it)

Re-sending the resolution a mismatch already has (same status, same or no notes) is idempotent: the
stored resolution is returned unchanged. The row is locked (SELECT ... FOR UPDATE) while the decision
is taken, so two concurrent requests are serialised and judged against each other's outcome.
"""
from __future__ import annotations

import uuid

from chalicelib.db.pool import transaction
from chalicelib.runs.retry import retrying

MANUAL_TARGETS = frozenset({"MANUAL_RESOLVED", "IGNORED"})

TRANSITIONS: dict[str, frozenset[str]] = {
    "PENDING": frozenset({"MANUAL_RESOLVED", "IGNORED"}),
    "IGNORED": frozenset({"MANUAL_RESOLVED"}),
    "MANUAL_RESOLVED": frozenset(),
    "AUTO_RESOLVED": frozenset(),
}


class MismatchNotFound(LookupError):
    def __init__(self, mismatch_id):
        super().__init__(f"Mismatch with ID '{mismatch_id}' not found")
        self.mismatch_id = mismatch_id


class InvalidStatusTransition(ValueError):
    def __init__(self, current: str, target: str, message: str | None = None):
        super().__init__(message or f"Cannot change resolution_status from '{current}' to '{target}'")
        self.current = current
        self.target = target


def is_legal(current: str, target: str) -> bool:
    return target in TRANSITIONS.get(current, frozenset())


def decide(current: str, current_notes: str | None, target: str, notes: str | None) -> str:
    """'update', 'unchanged' (idempotent repeat) or raises InvalidStatusTransition."""
    if current == target and target in MANUAL_TARGETS:
        if notes is None or notes == current_notes:
            return "unchanged"
        raise InvalidStatusTransition(
            current, target,
            f"Mismatch is already '{current}'; its resolution_notes cannot be changed by resolving it again",
        )
    if not is_legal(current, target):
        raise InvalidStatusTransition(current, target)
    return "update"


def _out(row: dict) -> dict:
    from chalicelib.domain.timeutil import iso_z

    return {
        "mismatch_id": str(row["mismatch_id"]),
        "resolution_status": row["resolution_status"],
        "resolution_notes": row["resolution_notes"],
        "resolved_at": iso_z(row["resolved_at"]),
        "resolved_by": row["resolved_by"],
    }


@retrying(what="resolve mismatch")  # safe to repeat: an applied resolution is "unchanged"
def resolve(mismatch_id: uuid.UUID, target: str, notes: str | None, actor: str) -> dict:
    """Apply a manual resolution; returns the mismatch's resolution as stored afterwards."""
    with transaction() as conn:
        row = conn.execute(
            "SELECT mismatch_id, resolution_status, resolution_notes, resolved_at, resolved_by"
            " FROM recon.mismatches WHERE mismatch_id = %s FOR UPDATE",
            (mismatch_id,),
        ).fetchone()
        if row is None:
            raise MismatchNotFound(mismatch_id)
        if decide(row["resolution_status"], row["resolution_notes"], target, notes) == "unchanged":
            return _out(row)
        row = conn.execute(
            "UPDATE recon.mismatches SET resolution_status = %s, resolution_notes = %s,"
            " resolved_at = clock_timestamp(), resolved_by = %s WHERE mismatch_id = %s"
            " RETURNING mismatch_id, resolution_status, resolution_notes, resolved_at, resolved_by",
            (target, notes, actor, mismatch_id),
        ).fetchone()
    return _out(row)
