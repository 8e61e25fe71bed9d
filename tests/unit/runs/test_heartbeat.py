"""Heartbeats: beat when due, ride out a transient fault, notice a lost lease, surface a permanent error."""
from __future__ import annotations

import pytest
from psycopg import errors as pg_errors

from chalicelib.runs.leases import Heartbeat
from chalicelib.runs.retry import RetryPolicy

FAST = RetryPolicy("test", budget_s=1.0, max_attempts=2, initial_s=0.001, max_wait_s=0.001, jitter_s=0.0)


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_beats_only_when_due():
    clock, calls = Clock(), []
    hb = Heartbeat(lambda: calls.append(clock.t) or True, 10, policy=FAST, clock=clock)
    assert hb.maybe_beat() and calls == []
    clock.t = 10
    assert hb.maybe_beat() and calls == [10]
    clock.t = 15
    hb.maybe_beat()
    assert calls == [10]


def test_transient_fault_is_a_missed_beat_not_an_error():
    def down():
        raise pg_errors.AdminShutdown("terminating connection")

    hb = Heartbeat(down, 1, policy=FAST)
    assert hb.beat() is True
    assert hb.missed == 1 and not hb.lost


def test_lost_lease_is_noticed():
    hb = Heartbeat(lambda: False, 1, policy=FAST)
    assert hb.beat() is False
    assert hb.lost


def test_permanent_error_propagates():
    def broken():
        raise pg_errors.UndefinedTable("no such table")

    with pytest.raises(pg_errors.UndefinedTable):
        Heartbeat(broken, 1, policy=FAST).beat()
