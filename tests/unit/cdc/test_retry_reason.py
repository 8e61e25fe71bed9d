"""The words a RUNNING job shows for the transient fault it is riding out (jobs.retry_reason): which side is
down, then the driver's own error, found through the wrappers the reader and the retry policy add."""
from __future__ import annotations

import psycopg
from cassandra import OperationTimedOut
from cassandra.cluster import NoHostAvailable

from chalicelib.cassandra.errors import CassandraReadError
from chalicelib.cdc.jobs import retry_reason
from chalicelib.runs.retry import ServiceUnavailable


def _raised(exc: BaseException, wrap=None) -> BaseException:
    """`exc` raised, then (optionally) re-raised from inside `wrap(exc)` as the reader does."""
    try:
        try:
            raise exc
        except BaseException as inner:
            if wrap is None:
                raise
            raise wrap(inner) from inner
    except BaseException as outer:
        return outer


def test_an_unreachable_cassandra_behind_the_reader_and_the_retry_policy():
    read = _raised(NoHostAvailable("Unable to connect to any servers", {"127.0.0.1:9042": ConnectionRefusedError(111)}),
                   lambda e: CassandraReadError(f"Cassandra read failed on host 127.0.0.1:9042 after 4 attempt(s): {e}"))
    gave_up = ServiceUnavailable(read, attempts=12, retry_after_s=5)
    for exc in (read, gave_up):
        assert retry_reason(exc).startswith(
            "Cassandra unreachable: NoHostAvailable: ('Unable to connect to any servers'"), retry_reason(exc)


def test_a_cassandra_timeout_and_a_postgresql_outage_are_named_as_such():
    assert retry_reason(_raised(OperationTimedOut(last_host="127.0.0.1"))) == (
        "Cassandra timed out: OperationTimedOut: errors=None, last_host=127.0.0.1")
    assert retry_reason(_raised(psycopg.OperationalError("connection refused"))) == (
        "PostgreSQL unavailable: OperationalError: connection refused")


def test_anything_else_is_described_by_its_own_error():
    assert retry_reason(_raised(ConnectionResetError(104, "Connection reset by peer"))) == (
        "ConnectionResetError: [Errno 104] Connection reset by peer")
