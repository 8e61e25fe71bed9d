"""Primary keys between their three forms: canonical (JSON, stored with mismatches), the
cassandra-driver's Python values, and psycopg's parameters."""
from __future__ import annotations

import re
import uuid
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, Sequence

from chalicelib.cdc.canonical import _ts_to_naive_utc, parse_cql_type


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


# --------------------------------------------------------------------------------------------
# Timestamp key components below the millisecond (docs/decisions.md, "Timestamp keys that collide
# below the millisecond"). Cassandra keeps milliseconds, PostgreSQL microseconds: PostgreSQL rows
# whose keys differ only below the millisecond have one canonical key. Cassandra's row of that key
# has one counterpart among them; every other one is reported under its *exact* key, where a
# timestamp component with microseconds below the millisecond is written with six fraction digits
# (`2025-11-20T13:30:00.123456Z`); a whole millisecond keeps the canonical three.


def _timestamp_positions(types: Sequence[str]) -> tuple[int, ...]:
    return tuple(j for j, t in enumerate(types) if parse_cql_type(t).family == "timestamp")


def _sub_ms(value: Any) -> int:
    """The microseconds below the millisecond of a PostgreSQL timestamp value (0 for anything else)."""
    try:
        return _ts_to_naive_utc(value).microsecond % 1000
    except (TypeError, ValueError):
        return 0


def exact_key_function(types: Sequence[str], pk_indexes: Sequence[int]):
    """For a table whose key has timestamp components: `(raw row, canonical key) -> (exact key,
    sub-millisecond microseconds per timestamp component)`, the raw row being PostgreSQL's values in
    column order (`pk_indexes` are the key columns' positions in it). None when the key has no
    timestamp: the canonical key is then the exact key."""
    positions = _timestamp_positions(types)
    if not positions:
        return None
    at = tuple((j, pk_indexes[j]) for j in positions)

    def exact(raw: Sequence[Any], pk: tuple) -> tuple[tuple, tuple[int, ...]]:
        subs = tuple(_sub_ms(raw[i]) for _j, i in at)
        if not any(subs):
            return pk, subs
        out = list(pk)
        for (j, _i), rem in zip(at, subs):
            if rem and type(out[j]) is str and out[j].endswith("Z"):
                out[j] = f"{out[j][:-1]}{rem:03d}Z"
        return tuple(out), subs

    return exact


_EXACT_FRACTION = re.compile(r"\.\d{6}Z\Z")


def millisecond_key(pk: Sequence[Any], types: Sequence[str]) -> tuple:
    """The canonical (millisecond) key of a key that may be exact: six fraction digits cut to three."""
    out = list(pk)
    for j in _timestamp_positions(types):
        v = out[j] if j < len(out) else None
        if type(v) is str and _EXACT_FRACTION.search(v):
            out[j] = v[:-4] + "Z"
    return tuple(out)
