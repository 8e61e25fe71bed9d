"""Primary keys between their three forms: canonical (JSON, stored with mismatches), the
cassandra-driver's Python values, and psycopg's parameters."""
from __future__ import annotations

import uuid
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, Sequence

from chalicelib.cdc.canonical import parse_cql_type


def from_canonical(value: Any, cql_type: str) -> Any:
    """A canonical key component back to a value both drivers bind correctly (type families
    from the one CQL type table, canonical.parse_cql_type)."""
    if value is None:
        return None
    family = parse_cql_type(cql_type).family
    if family == "uuid":
        return uuid.UUID(value)
    if family == "timestamp":
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(timezone.utc)
    if family == "date":
        return date.fromisoformat(value)
    if family == "decimal":
        return Decimal(value)
    if family == "int":
        return int(value)
    if family in ("double", "float"):
        return float(value)
    if family == "blob":
        return bytes.fromhex(value)
    return value


def key_values(canonical_pk: Sequence[Any], types: Sequence[str]) -> tuple:
    return tuple(from_canonical(v, t) for v, t in zip(canonical_pk, types))
