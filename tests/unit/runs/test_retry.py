"""The retry policy: what is transient, backoff within a budget, permanent faults fail at once."""
from __future__ import annotations

import errno

import psycopg
import pytest
from psycopg import errors as pg_errors
from psycopg_pool import PoolTimeout

from chalicelib.runs import retry
from chalicelib.runs.retry import RetryPolicy, ServiceUnavailable, is_transient, retry_call

FAST = RetryPolicy("test", budget_s=5.0, max_attempts=4, initial_s=0.001, max_wait_s=0.002, jitter_s=0.0)


def _pg(cls, msg="x"):
    return cls(msg)


@pytest.mark.parametrize("exc", [
    pg_errors.AdminShutdown("terminating connection due to administrator command"),
    pg_errors.CrashShutdown("terminating connection due to unexpected postmaster exit"),
    pg_errors.CannotConnectNow("the database system is starting up"),
    pg_errors.SerializationFailure("could not serialize access"),
    pg_errors.DeadlockDetected("deadlock detected"),
    pg_errors.TooManyConnections("too many clients"),
    psycopg.OperationalError("connection failed: Connection refused"),
    psycopg.OperationalError("consuming input failed: server closed the connection unexpectedly"),
    PoolTimeout("couldn't get a connection after 10.00 sec"),
    ConnectionRefusedError(errno.ECONNREFUSED, "refused"),
    ConnectionResetError(errno.ECONNRESET, "reset"),
    TimeoutError("timed out"),
])
def test_transient_database_and_network_faults(exc):
    assert is_transient(exc)


def test_transient_cassandra_faults():
    import cassandra
    from cassandra.cluster import NoHostAvailable

    assert is_transient(NoHostAvailable("Unable to connect to any servers", {"127.0.0.1": OSError("x")}))
    assert is_transient(cassandra.OperationTimedOut("errors={}, last_host=127.0.0.1"))
    assert is_transient(cassandra.Unavailable("not enough replicas"))
    assert is_transient(cassandra.ReadTimeout("read timed out"))
    assert is_transient(cassandra.WriteTimeout("write timed out", write_type=0))


@pytest.mark.parametrize("exc", [
    pg_errors.UndefinedTable('relation "public.users" does not exist'),
    pg_errors.UndefinedColumn('column "email" does not exist'),
    pg_errors.SyntaxError("syntax error at or near"),
    pg_errors.UniqueViolation("duplicate key"),
    pg_errors.InvalidTextRepresentation("invalid input syntax for type uuid"),
    ValueError("table 'x' is no longer in the catalog"),
    KeyError("strategy"),
    OSError(errno.ENOENT, "no such file"),
])
def test_permanent_faults(exc):
    assert not is_transient(exc)


def test_cause_chain_is_followed():
    try:
        try:
            raise pg_errors.AdminShutdown("terminating connection")
        except Exception as inner:
            raise RuntimeError("scan failed") from inner
    except RuntimeError as outer:
        assert is_transient(outer)
    try:
        try:
            raise ValueError("bad")
        except ValueError as inner:
            raise RuntimeError("scan failed") from inner
    except RuntimeError as outer:
        assert not is_transient(outer)


def test_transient_fault_is_retried_until_success():
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise pg_errors.AdminShutdown("terminating connection due to administrator command")
        return "ok"

    assert retry_call(flaky, policy=FAST) == "ok"
    assert len(calls) == 3


def test_permanent_fault_is_not_retried():
    calls = []

    def broken():
        calls.append(1)
        raise pg_errors.UndefinedTable('relation "x" does not exist')

    with pytest.raises(pg_errors.UndefinedTable):
        retry_call(broken, policy=FAST)
    assert len(calls) == 1


def test_persistent_transient_fault_becomes_service_unavailable():
    calls = []

    def down():
        calls.append(1)
        raise psycopg.OperationalError("connection failed: Connection refused")

    with pytest.raises(ServiceUnavailable) as info:
        retry_call(down, policy=FAST)
    assert len(calls) == FAST.max_attempts
    assert info.value.attempts == FAST.max_attempts
    assert isinstance(info.value.cause, psycopg.OperationalError)
    assert "Connection refused" in str(info.value)
    assert info.value.retry_after_s == FAST.retry_after_s
    assert is_transient(info.value)


def test_budget_bounds_the_time_spent():
    import time

    slow = RetryPolicy("slow", budget_s=0.3, max_attempts=1000, initial_s=0.05, max_wait_s=0.05, jitter_s=0.0)
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable):
        retry_call(lambda: (_ for _ in ()).throw(TimeoutError("t")), policy=slow)
    assert time.monotonic() - started < 1.5


def test_nested_calls_do_not_multiply_budgets():
    inner_calls = []

    def inner():
        inner_calls.append(1)
        raise TimeoutError("down")

    def outer():
        return retry_call(inner, policy=FAST)

    with pytest.raises(ServiceUnavailable):
        retry_call(outer, policy=FAST)
    assert len(inner_calls) == FAST.max_attempts


def test_on_retry_hook_sees_each_fault():
    seen = []
    attempts = iter([TimeoutError("a"), ConnectionResetError("b"), None])

    def fn():
        exc = next(attempts)
        if exc:
            raise exc
        return 1

    assert retry_call(fn, policy=FAST, on_retry=seen.append) == 1
    assert [type(e).__name__ for e in seen] == ["TimeoutError", "ConnectionResetError"]


def test_decorator():
    state = {"n": 0}

    @retry.retrying(FAST)
    def f(x):
        state["n"] += 1
        if state["n"] == 1:
            raise pg_errors.CannotConnectNow("starting up")
        return x * 2

    assert f(21) == 42 and state["n"] == 2


def test_policy_scope_sets_the_default():
    assert retry.current() is retry.WORKER
    calls = []

    def down():
        calls.append(1)
        raise TimeoutError("down")

    with retry.policy_scope(FAST):
        assert retry.current() is FAST
        with pytest.raises(ServiceUnavailable):
            retry_call(down)
    assert len(calls) == FAST.max_attempts
    assert retry.current() is retry.WORKER
