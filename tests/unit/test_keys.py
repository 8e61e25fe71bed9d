"""Canonical key components come back as values both drivers bind to the same row."""
import uuid
from datetime import date, datetime, timezone
from decimal import Decimal

from chalicelib.cdc.canonical import canonical
from chalicelib.cdc.keys import from_canonical, key_values


def test_round_trip_through_the_canonical_form():
    values = [
        ("uuid", uuid.UUID("550E8400-E29B-41D4-A716-446655440000")),
        ("timeuuid", uuid.uuid1()),
        ("timestamp", datetime(2025, 11, 20, 13, 30, 0, 123000, tzinfo=timezone.utc)),
        ("date", date(2024, 2, 29)),
        ("decimal", Decimal("10.50")),
        ("bigint", 2**62),
        ("text", "user-12345"),
        ("blob", b"\x00\xff"),
    ]
    for cql_type, v in values:
        back = from_canonical(canonical(v, cql_type), cql_type)
        assert canonical(back, cql_type) == canonical(v, cql_type), cql_type
        assert type(back) is type(v) or cql_type == "timeuuid", cql_type


def test_key_values_and_nulls():
    assert key_values(["a", "3"], ["text", "int"]) == ("a", 3)
    assert from_canonical(None, "uuid") is None
