"""Cassandra access for recon workers: token-range scans, point reads and sampling.

Imports are lazy so that importing ``chalicelib.cassandra`` (e.g. from the API) stays cheap;
the driver is loaded only by the worker code that uses the reader.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "CassandraReader",
    "CassandraReadError",
    "CassandraSettings",
    "MAX_TOKEN",
    "MIN_TOKEN",
    "TokenRange",
    "get_session",
    "segment_of",
    "shutdown",
    "split_ring",
    "token_for",
]

_EXPORTS = {
    "CassandraReader": "reader",
    "CassandraReadError": "errors",
    "CassandraSettings": "settings",
    "MAX_TOKEN": "tokens",
    "MIN_TOKEN": "tokens",
    "TokenRange": "tokens",
    "get_session": "session",
    "segment_of": "tokens",
    "shutdown": "session",
    "split_ring": "tokens",
    "token_for": "tokens",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f"{__name__}.{module}"), name)
