"""One retry policy for the faults a worker or a request can outlive: a database that restarts or
fails over, a Cassandra node that times out or is briefly unreachable.

`is_transient(exc)` decides what is worth retrying; everything else (bad SQL, a missing table, a
schema that does not match the catalog, a bug) is permanent and fails at once with its reason.
`retry_call(fn, policy=...)` re-runs `fn` with exponential backoff and jitter (tenacity) while the
failure is transient and the policy's time budget lasts; when the budget is spent it raises
`ServiceUnavailable` (the cause attached), which the API answers with 503 and a worker leaves to the
queue's redelivery. Only code that is safe to run again may be retried: one database transaction,
or a whole idempotent step (planning, a segment, finalisation, a sweep).
"""
from __future__ import annotations

import dataclasses
import errno
import functools
import socket
import time
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Callable, Iterator, TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, stop_after_delay
from tenacity import wait_exponential_jitter

from chalicelib.observability import logger

T = TypeVar("T")

# SQLSTATEs that mean "the server or the connection went away, or the transaction lost a race":
# class 08 (connection exception), admin/crash shutdown, cannot connect now (starting up or in
# recovery), too many connections, serialization failure and deadlock (the transaction is rolled back).
_TRANSIENT_SQLSTATES = {"57P01", "57P02", "57P03", "53300", "40001", "40P01", "55P03"}
# Cassandra driver exceptions worth another try (matched by class name along the MRO, so this module
# never imports the driver)
_TRANSIENT_CASSANDRA = {
    "NoHostAvailable", "OperationTimedOut", "Unavailable", "ReadTimeout", "WriteTimeout",
    "ConnectionShutdown", "ConnectionException", "ConnectionBusy", "CoordinationFailure",
    "OverloadedErrorMessage", "IsBootstrappingErrorMessage",
}
_TRANSIENT_ERRNOS = {errno.ECONNREFUSED, errno.ECONNRESET, errno.ECONNABORTED, errno.EPIPE, errno.ETIMEDOUT,
                     errno.EHOSTUNREACH, errno.ENETUNREACH}


def _one_is_transient(exc: BaseException) -> bool:
    for cls in type(exc).__mro__:
        module = cls.__module__ or ""
        if module.startswith("cassandra") and cls.__name__ in _TRANSIENT_CASSANDRA:
            return True
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a runtime dependency
        psycopg = None
    if psycopg is not None and isinstance(exc, psycopg.Error):
        state = getattr(exc, "sqlstate", None)
        if state is None:
            # raised by the client: connection refused, lost, closed, pool timeout, ...
            return isinstance(exc, psycopg.OperationalError)
        return state.startswith("08") or state in _TRANSIENT_SQLSTATES
    if isinstance(exc, (socket.timeout, TimeoutError, ConnectionError)):
        return True
    if isinstance(exc, OSError) and exc.errno in _TRANSIENT_ERRNOS:
        return True
    return False


def exception_chain(exc: BaseException | None, most: int = 8):
    """``exc`` and what it was raised from (its cause, or the exception it was raised while handling),
    at most ``most`` of them."""
    for _ in range(most):
        if exc is None:
            return
        yield exc
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)


def is_transient(exc: BaseException) -> bool:
    """True for a fault that another attempt a moment later may not meet (the exception or what it
    was raised from)."""
    return any(isinstance(e, ServiceUnavailable) or _one_is_transient(e) for e in exception_chain(exc))


class ServiceUnavailable(Exception):
    """A transient fault outlived the retry policy: try again later (API: 503 with Retry-After)."""

    def __init__(self, cause: BaseException, attempts: int, retry_after_s: int):
        super().__init__(f"{describe(cause)} (after {attempts} attempt(s))")
        self.cause = cause
        self.attempts = attempts
        self.retry_after_s = retry_after_s


def describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:500] if text else type(exc).__name__


@dataclass(frozen=True)
class RetryPolicy:
    name: str
    #: total time budget for all attempts, seconds (measured from the first attempt)
    budget_s: float
    max_attempts: int
    initial_s: float = 0.1
    max_wait_s: float = 5.0
    jitter_s: float = 0.2
    #: what an API client is told to wait when the budget is spent
    retry_after_s: int = 5


#: an API request: a short budget, then 503 (a client retries on its own schedule)
API = RetryPolicy("api", budget_s=8.0, max_attempts=8, initial_s=0.1, max_wait_s=2.0, jitter_s=0.1, retry_after_s=5)
#: a worker step: long enough to ride out a database restart or a failover; after that the message
#: is redelivered by the queue and the step runs again
WORKER = RetryPolicy("worker", budget_s=90.0, max_attempts=40, initial_s=0.2, max_wait_s=5.0, jitter_s=0.5)
#: a stream step (its own name in the logs): the worker's policy
STREAM_STEP = dataclasses.replace(WORKER, name="stream-step")
#: a lease heartbeat inside a long step: a few quick tries, then leave it to the next beat
HEARTBEAT = RetryPolicy("heartbeat", budget_s=3.0, max_attempts=3, initial_s=0.2, max_wait_s=1.0, jitter_s=0.1)


_current: ContextVar[RetryPolicy] = ContextVar("recon_retry_policy", default=WORKER)


def current() -> RetryPolicy:
    """The policy of the code running now: API inside an HTTP request (set by the request middleware),
    WORKER everywhere else."""
    return _current.get()


#: the monotonic time by which the code running now must have its answer (an HTTP request's budget, or the
#: innermost retry call's); None: no deadline
_deadline: ContextVar[float | None] = ContextVar("recon_retry_deadline", default=None)


@contextmanager
def policy_scope(policy: RetryPolicy, deadline_s: float | None = None) -> Iterator[RetryPolicy]:
    """Run the block under `policy`; with `deadline_s`, everything in it (every retry call, every wait
    for a pooled connection) also ends within that many seconds from now: an HTTP request's budget is
    the whole request's, not one per call."""
    token = _current.set(policy)
    deadline_token = _deadline.set(_earliest(_deadline.get(), deadline_s)) if deadline_s is not None else None
    try:
        yield policy
    finally:
        if deadline_token is not None:
            _deadline.reset(deadline_token)
        _current.reset(token)


def _earliest(deadline: float | None, within_s: float | None) -> float | None:
    if within_s is None:
        return deadline
    mine = time.monotonic() + within_s
    return mine if deadline is None else min(deadline, mine)


def time_left(at_most: float) -> float:
    """How long the code running now may still wait (for a pooled connection, say): `at_most`, or less
    when its deadline comes sooner (never below 0.5 s: a wait fails as a timeout, not at once)."""
    deadline = _deadline.get()
    if deadline is None:
        return at_most
    return max(0.5, min(at_most, deadline - time.monotonic()))


def _log_retry(policy: RetryPolicy, what: str) -> Callable[[RetryCallState], None]:
    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        logger.warning(
            "transient fault; retrying",
            extra={"operation": what, "policy": policy.name, "attempt": state.attempt_number,
                   "retry_in_s": round(state.next_action.sleep, 2) if state.next_action else None,
                   "error": describe(exc) if exc else None},
        )

    return before_sleep


def retry_call(fn: Callable[..., T], *args: Any, policy: RetryPolicy | None = None, what: str | None = None,
               on_retry: Callable[[BaseException], None] | None = None, **kwargs: Any) -> T:
    """Run `fn(*args, **kwargs)`, again after a transient fault (backoff with jitter) within the
    policy's budget. A permanent fault propagates at once, unchanged; a transient one that outlives
    the budget becomes `ServiceUnavailable`. `on_retry(exc)` runs before each new attempt (for
    example to drop a cached session). Without `policy`, the current one (`current()`)."""
    policy = policy or current()
    name = what or getattr(fn, "__qualname__", repr(fn))
    log = _log_retry(policy, name)

    def before_sleep(state: RetryCallState) -> None:
        log(state)
        if on_retry is not None and state.outcome is not None and state.outcome.exception() is not None:
            on_retry(state.outcome.exception())

    deadline = _earliest(_deadline.get(), policy.budget_s)
    retrying = Retrying(
        # a nested call that already spent its budget is not retried again (budgets do not multiply)
        retry=retry_if_exception(lambda e: is_transient(e) and not isinstance(e, ServiceUnavailable)),
        # an enclosing deadline (the request's) ends the attempts too
        stop=stop_after_delay(policy.budget_s) | stop_after_attempt(policy.max_attempts)
        | (lambda _state: time.monotonic() >= deadline),
        wait=wait_exponential_jitter(initial=policy.initial_s, max=policy.max_wait_s, jitter=policy.jitter_s),
        before_sleep=before_sleep,
        reraise=True,
    )
    attempts = 0
    token = _deadline.set(deadline)
    try:
        for attempt in retrying:
            attempts = attempt.retry_state.attempt_number
            with attempt:
                return fn(*args, **kwargs)
    except ServiceUnavailable:
        raise
    except Exception as exc:
        if is_transient(exc):
            raise ServiceUnavailable(exc, attempts, policy.retry_after_s) from exc
        raise
    finally:
        _deadline.reset(token)
    raise AssertionError("unreachable")  # pragma: no cover


def retrying(policy: RetryPolicy | None = None, what: str | None = None) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Decorator form of `retry_call` (without `policy`: the current one at call time)."""

    def decorate(fn: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> T:
            return retry_call(fn, *args, policy=policy, what=what or fn.__qualname__, **kwargs)

        return wrapper

    return decorate
