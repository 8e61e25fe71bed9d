"""The pools replace a lost connection at most RECONNECT_MAX_DELAY_S apart while the server is away
(psycopg_pool alone doubles the wait: 1, 2, 4, 8 ... s, so after a 40 s outage the API answered 503 for
24 s more with the database back). No server: the pool's connect is made to fail and the attempts it
schedules are collected."""
from __future__ import annotations

import psycopg
import pytest

from chalicelib.db import pool


def _refused(*_args, **_kwargs):
    raise psycopg.OperationalError("connection refused")


def test_a_lost_connection_is_tried_again_at_most_2_s_apart(monkeypatch):
    p = pool._Pool("postgresql://127.0.0.1:9/x", min_size=0, max_size=1, open=False)
    scheduled = []
    monkeypatch.setattr(p, "_connect", _refused)
    monkeypatch.setattr(p, "schedule_task", lambda task, delay: scheduled.append((task, delay)))

    p._add_connection(None)  # what the pool runs when it discards a broken connection
    for _ in range(8):       # the server stays away: each scheduled attempt fails again
        p._add_connection(scheduled[-1][0].attempt)

    delays = [delay for _task, delay in scheduled]
    assert len(delays) == 9, delays
    assert 0.8 <= delays[0] <= 1.2, delays                  # psycopg_pool's first wait, jittered
    assert max(delays) <= pool.RECONNECT_MAX_DELAY_S == 2.0, delays
    assert delays[-1] == pytest.approx(2.0), delays          # and not 256 s as uncapped


def test_the_pools_of_the_app_are_capped(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://127.0.0.1:9/x")
    monkeypatch.setenv("DB_POOL_MIN", "0")
    from chalicelib.config import reset_settings

    reset_settings()
    pool.close_pool()
    try:
        created = pool._create("control")
        try:
            assert isinstance(created, pool._Pool)
        finally:
            created.close()
    finally:
        pool.close_pool()
        reset_settings()


def test_a_request_gets_its_503_within_its_budget_when_the_pool_would_wait_longer(monkeypatch):
    """An HTTP request's budget (~8 s) bounds the wait for a pooled connection: with the database away,
    the checkout gives up when the request's time is spent, not after DB_POOL_TIMEOUT (10 s by default;
    30 s here), so the 503 comes within the budget the API documents."""
    import time

    from chalicelib.config import reset_settings
    from chalicelib.runs import retry

    monkeypatch.setenv("DATABASE_URL", "postgresql://127.0.0.1:9/x")  # nothing listens there
    monkeypatch.setenv("DB_POOL_MIN", "0")
    monkeypatch.setenv("DB_POOL_TIMEOUT", "30")
    reset_settings()
    pool.close_pool()
    quick = retry.RetryPolicy("request", budget_s=1.0, max_attempts=8, initial_s=0.1, max_wait_s=0.2, jitter_s=0.0)
    try:
        for enter in (pool.transaction, pool.steady_transaction):
            started = time.monotonic()
            with retry.policy_scope(quick, deadline_s=quick.budget_s):
                with pytest.raises(Exception) as info:
                    with enter():
                        pass
            waited = time.monotonic() - started
            assert retry.is_transient(info.value), info.value   # answered 503, not 500
            assert waited < 5, (enter.__name__, waited)          # not the pool's 30 s
    finally:
        pool.close_pool()
        reset_settings()


def test_time_left_is_the_nearest_deadline():
    from chalicelib.runs import retry

    assert retry.time_left(10.0) == 10.0                       # no deadline: the pool's own timeout
    with retry.policy_scope(retry.API, deadline_s=3.0):
        assert 2.5 < retry.time_left(10.0) <= 3.0
        assert retry.time_left(1.0) == 1.0
        with retry.policy_scope(retry.API, deadline_s=60.0):    # an inner scope never extends it
            assert retry.time_left(10.0) <= 3.0
    assert retry.time_left(10.0) == 10.0
