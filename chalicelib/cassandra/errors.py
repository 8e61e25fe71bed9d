"""Errors raised by the Cassandra reader."""

from __future__ import annotations


class CassandraReadError(RuntimeError):
    """A read failed after bounded retries. The message names host, keyspace, table and range."""

    def __init__(
        self,
        message: str,
        *,
        host: str | None = None,
        keyspace: str | None = None,
        table: str | None = None,
        token_range: object | None = None,
        attempts: int | None = None,
    ):
        super().__init__(message)
        self.host = host
        self.keyspace = keyspace
        self.table = table
        self.token_range = token_range
        self.attempts = attempts


class CassandraSchemaError(RuntimeError):
    """The Cassandra table lacks what the catalog names (the table itself, or one of its columns)."""
