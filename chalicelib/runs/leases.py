"""Claim, lease, heartbeat and exactly-once completion on rows of a control-plane table.

A unit of work (a CDC segment, a stream step attempt, ...) is a row with a status, a lease deadline
and an attempt counter. Workers are stateless and may die at any moment, so:

- `claim_next` takes the best claimable row (pending, or running under a lease that ran out) in the
  caller's priority order with `FOR UPDATE SKIP LOCKED`, marks it running and leases it — two workers
  never hold one row, and a dead worker's row is taken over once its lease expires;
- `Heartbeat` extends the lease while the work runs (a missed beat is logged, not fatal: the worst
  case is that another worker takes over and the loser's completion is discarded);
- `lock_unfinished` + `mark_done` complete a row exactly once inside the caller's transaction: a
  duplicate or late completion finds the row done and changes nothing;
- `release` gives a failed row back, counting the attempt or not (a transient fault is not the
  work's fault).

The table is described by a `LeaseTable`; identifiers reach SQL only through psycopg.sql.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from psycopg import sql

from chalicelib.observability import logger
from chalicelib.runs.retry import HEARTBEAT, RetryPolicy, describe, is_transient, retry_call


@dataclass(frozen=True)
class LeaseTable:
    schema: str
    table: str
    key: tuple[str, ...]
    status: str = "status"
    pending: str = "PENDING"
    running: str = "RUNNING"
    done: str = "DONE"
    lease_until: str = "lease_until"
    attempts: str = "attempts"
    started_at: str | None = "started_at"
    completed_at: str | None = "completed_at"
    last_error: str | None = "last_error"

    @property
    def ident(self) -> sql.Composable:
        return sql.Identifier(self.schema, self.table)

    def col(self, name: str, alias: str | None = None) -> sql.Composable:
        return sql.Identifier(alias, name) if alias else sql.Identifier(name)

    def key_match(self, alias: str | None = None) -> sql.Composable:
        return sql.SQL(" AND ").join(
            sql.SQL("{} = {}").format(self.col(k, alias), sql.Placeholder(k)) for k in self.key
        )

    def claimable(self, alias: str) -> sql.Composable:
        """SQL condition: the row (under `alias`) may be claimed now."""
        return sql.SQL("({st} = {p} OR ({st} = {r} AND {lu} < now()))").format(
            st=self.col(self.status, alias), p=sql.Literal(self.pending), r=sql.Literal(self.running),
            lu=self.col(self.lease_until, alias),
        )


def _key_params(t: LeaseTable, key: Sequence[Any]) -> dict:
    if len(key) != len(t.key):
        raise ValueError(f"{t.table} key has {len(t.key)} column(s), got {len(key)} value(s)")
    return dict(zip(t.key, key))


def claim_next(conn, t: LeaseTable, candidates: sql.Composable, params: dict | None, lease_s: float,
               lock_alias: str) -> dict | None:
    """Lease the first row of `candidates` that nobody else is claiming right now.

    `candidates` is a SELECT of `t`'s key columns, in claim order (priority first), whose rows of `t`
    appear under `lock_alias` and are restricted with `t.claimable(lock_alias)`. Returns the claimed
    row (attempts already counted), or None."""
    keys = sql.SQL(", ").join(sql.Identifier(k) for k in t.key)
    on = sql.SQL(" AND ").join(sql.SQL("w.{k} = c.{k}").format(k=sql.Identifier(k)) for k in t.key)
    sets = [
        sql.SQL("{} = {}").format(sql.Identifier(t.status), sql.Literal(t.running)),
        sql.SQL("{a} = w.{a} + 1").format(a=sql.Identifier(t.attempts)),
        sql.SQL("{} = now() + make_interval(secs => {})").format(sql.Identifier(t.lease_until), sql.Placeholder("_lease")),
    ]
    if t.started_at:
        sets.append(sql.SQL("{} = now()").format(sql.Identifier(t.started_at)))
    query = sql.SQL(
        "WITH c AS (SELECT {keys} FROM ({candidates}) cand LIMIT 1) "
        "UPDATE {table} w SET {sets} FROM c WHERE {on} RETURNING w.*"
    ).format(keys=keys, candidates=sql.SQL("{} FOR UPDATE OF {} SKIP LOCKED LIMIT 1").format(
        candidates, sql.Identifier(lock_alias)), table=t.ident, sets=sql.SQL(", ").join(sets), on=on)
    return conn.execute(query, {**(params or {}), "_lease": lease_s}).fetchone()


def extend(conn, t: LeaseTable, key: Sequence[Any], lease_s: float) -> bool:
    """Push the lease of a running row forward; False when the row is no longer running (done, or
    released and taken by another worker after this one's lease ran out)."""
    query = sql.SQL("UPDATE {table} SET {lu} = now() + make_interval(secs => {lease}) WHERE {match} AND {st} = {r}").format(
        table=t.ident, lu=sql.Identifier(t.lease_until), lease=sql.Placeholder("_lease"), match=t.key_match(),
        st=sql.Identifier(t.status), r=sql.Literal(t.running),
    )
    return conn.execute(query, {**_key_params(t, key), "_lease": lease_s}).rowcount == 1


def lock_unfinished(conn, t: LeaseTable, key: Sequence[Any]) -> dict | None:
    """Lock the row for completion; None when it does not exist or is already done (a duplicate)."""
    row = conn.execute(
        sql.SQL("SELECT * FROM {table} WHERE {match} FOR UPDATE").format(table=t.ident, match=t.key_match()),
        _key_params(t, key),
    ).fetchone()
    if row is None or row[t.status] == t.done:
        return None
    return row


def mark_done(conn, t: LeaseTable, key: Sequence[Any], values: dict[str, Any] | None = None) -> bool:
    """Complete a row (call after `lock_unfinished` in the same transaction). Exactly once: the update
    is conditional on the row not being done yet."""
    values = dict(values or {})
    sets = [sql.SQL("{} = {}").format(sql.Identifier(t.status), sql.Literal(t.done)),
            sql.SQL("{} = NULL").format(sql.Identifier(t.lease_until))]
    if t.completed_at:
        sets.append(sql.SQL("{} = now()").format(sql.Identifier(t.completed_at)))
    for name in values:
        sets.append(sql.SQL("{} = {}").format(sql.Identifier(name), sql.Placeholder(f"v_{name}")))
    query = sql.SQL("UPDATE {table} SET {sets} WHERE {match} AND {st} <> {d}").format(
        table=t.ident, sets=sql.SQL(", ").join(sets), match=t.key_match(), st=sql.Identifier(t.status),
        d=sql.Literal(t.done),
    )
    params = {**_key_params(t, key), **{f"v_{k}": v for k, v in values.items()}}
    return conn.execute(query, params).rowcount == 1


def release(conn, t: LeaseTable, key: Sequence[Any], error: str, count_attempt: bool = True) -> dict | None:
    """Give a failed row back (pending, no lease, last error kept). A transient fault is released with
    `count_attempt=False` (the claim's attempt is taken back). Returns the row as it was before, or
    None when it is missing or already done."""
    row = lock_unfinished(conn, t, key)
    if row is None:
        return None
    sets = [sql.SQL("{} = {}").format(sql.Identifier(t.status), sql.Literal(t.pending)),
            sql.SQL("{} = NULL").format(sql.Identifier(t.lease_until))]
    if t.last_error:
        sets.append(sql.SQL("{} = {}").format(sql.Identifier(t.last_error), sql.Placeholder("_error")))
    if not count_attempt:
        sets.append(sql.SQL("{a} = greatest({a} - 1, 0)").format(a=sql.Identifier(t.attempts)))
    conn.execute(
        sql.SQL("UPDATE {table} SET {sets} WHERE {match}").format(table=t.ident, sets=sql.SQL(", ").join(sets),
                                                                   match=t.key_match()),
        {**_key_params(t, key), "_error": error[:2000]},
    )
    return row


class Heartbeat:
    """Extends a lease while work runs: call it as often as convenient, it beats every `every_s`.

    `extend()` returns False when the lease is lost. A transient fault during a beat is retried
    briefly and then logged (the next beat tries again); a permanent one propagates."""

    def __init__(self, extend: Callable[[], bool], every_s: float, *, what: str = "lease",
                 policy: RetryPolicy = HEARTBEAT, clock: Callable[[], float] = time.monotonic):
        self._extend, self.every_s, self.what, self.policy, self.clock = extend, every_s, what, policy, clock
        self.last = clock()
        self.beats = 0
        self.missed = 0
        self.lost = False

    def due(self) -> bool:
        return self.clock() - self.last >= self.every_s

    def maybe_beat(self) -> bool:
        return self.beat() if self.due() else not self.lost

    def beat(self) -> bool:
        self.last = self.clock()
        try:
            ok = retry_call(self._extend, policy=self.policy, what=f"heartbeat {self.what}")
        except Exception as exc:
            if not is_transient(exc):
                raise
            self.missed += 1
            logger.warning("heartbeat missed", extra={"what": self.what, "error": describe(exc)})
            return True
        self.beats += 1
        if not ok and not self.lost:
            self.lost = True
            logger.warning("lease lost: another worker may finish this work", extra={"what": self.what})
        return bool(ok)

    __call__ = beat
