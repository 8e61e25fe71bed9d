"""Primary keys between their three forms: canonical (JSON, stored with mismatches), the
cassandra-driver's Python values, and psycopg's parameters."""
from __future__ import annotations

import uuid
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, Sequence


def from_canonical(value: Any, cql_type: str) -> Any:
    """A canonical key component back to a value both drivers bind correctly."""
    if value is None:
        return None
    t = cql_type.lower()
    if t in ("uuid", "timeuuid"):
        return uuid.UUID(value)
    if t == "timestamp":
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(timezone.utc)
    if t == "date":
        return date.fromisoformat(value)
    if t == "decimal":
        return Decimal(value)
    if t in ("int", "bigint", "smallint", "tinyint", "varint"):
        return int(value)
    if t in ("double", "float"):
        return float(value)
    if t == "blob":
        return bytes.fromhex(value)
    return value


def key_values(canonical_pk: Sequence[Any], types: Sequence[str]) -> tuple:
    return tuple(from_canonical(v, t) for v, t in zip(canonical_pk, types))
