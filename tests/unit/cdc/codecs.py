"""Decode real wire bytes with the real drivers, so the tests see exactly what production sees.

* ``cassandra_decode(cql_type, value)``: encodes ``value`` with the CQL native protocol v4 value
  encoding written out below (from the protocol spec, independent of the code under test), wraps
  it in a RESULT/Rows frame body and decodes that with the cassandra-driver's own protocol handler
  (the Cython row parser when the driver is compiled, as in production).
* ``pg_decode(pg_type, text)``: loads PostgreSQL's text output of a value with psycopg's own
  loader for that type (text is psycopg's default result format).
"""

from __future__ import annotations

import ipaddress
import struct
import uuid
from decimal import Decimal
from typing import Any

from cassandra.protocol import ProtocolHandler
from psycopg.adapt import Transformer
from psycopg.postgres import types as pg_types

# ---- Cassandra -------------------------------------------------------------------------------

_TYPE_IDS = {
    "ascii": 0x01, "bigint": 0x02, "blob": 0x03, "boolean": 0x04, "decimal": 0x06,
    "double": 0x07, "float": 0x08, "int": 0x09, "timestamp": 0x0B, "uuid": 0x0C,
    "varchar": 0x0D, "text": 0x0D, "varint": 0x0E, "timeuuid": 0x0F, "inet": 0x10,
    "date": 0x11, "time": 0x12, "smallint": 0x13, "tinyint": 0x14,
    "list": 0x20, "map": 0x21, "set": 0x22,
}


def _split_params(s: str) -> list[str]:
    depth, cur, out = 0, "", []
    for ch in s:
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
            continue
        depth += ch == "<"
        depth -= ch == ">"
        cur += ch
    out.append(cur.strip())
    return out


def _parse(t: str) -> tuple[str, list]:
    t = t.strip()
    if t.startswith("frozen<"):
        return _parse(t[len("frozen<"):-1])
    if "<" in t:
        name, rest = t.split("<", 1)
        return name.strip(), [_parse(p) for p in _split_params(rest[:-1])]
    return t, []


def _option(t: tuple[str, list]) -> bytes:
    name, params = t
    out = struct.pack(">H", _TYPE_IDS[name])
    for p in params:
        out += _option(p)
    return out


def _varint(n: int) -> bytes:
    length = max(1, (n.bit_length() + 8) // 8)
    return n.to_bytes(length, "big", signed=True)


def _value(t: tuple[str, list], v: Any) -> bytes:
    """Protocol v4 [value] body of ``v``.  Temporal values are given as the raw numbers the
    protocol carries: timestamp = epoch ms, date = days since epoch, time = ns since midnight."""
    name, params = t
    if name in ("text", "varchar", "ascii"):
        return v.encode("utf-8")
    if name == "int":
        return struct.pack(">i", v)
    if name in ("bigint", "timestamp"):
        return struct.pack(">q", v)
    if name == "smallint":
        return struct.pack(">h", v)
    if name == "tinyint":
        return struct.pack(">b", v)
    if name == "varint":
        return _varint(v)
    if name == "boolean":
        return b"\x01" if v else b"\x00"
    if name == "double":
        return struct.pack(">d", v)
    if name == "float":
        return struct.pack(">f", v)
    if name == "decimal":
        sign, digits, exp = Decimal(v).as_tuple()
        unscaled = int("".join(map(str, digits)) or "0") * (-1 if sign else 1)
        return struct.pack(">i", -exp) + _varint(unscaled)
    if name in ("uuid", "timeuuid"):
        return uuid.UUID(str(v)).bytes
    if name == "date":
        return struct.pack(">I", v + 2**31)
    if name == "time":
        return struct.pack(">q", v)
    if name == "blob":
        return bytes(v)
    if name == "inet":
        return ipaddress.ip_address(v).packed
    if name in ("set", "list"):
        items = list(v)
        out = struct.pack(">i", len(items))
        for x in items:
            b = _value(params[0], x)
            out += struct.pack(">i", len(b)) + b
        return out
    if name == "map":
        items = list(v.items()) if hasattr(v, "items") else list(v)
        out = struct.pack(">i", len(items))
        for k, x in items:
            kb, xb = _value(params[0], k), _value(params[1], x)
            out += struct.pack(">i", len(kb)) + kb + struct.pack(">i", len(xb)) + xb
        return out
    raise ValueError(f"no encoder for {name}")


def _string(s: str) -> bytes:
    b = s.encode()
    return struct.pack(">H", len(b)) + b


def cassandra_decode_row(columns: list[tuple[str, str]], values: list[Any]) -> tuple:
    """One row of ``columns`` [(name, cql type)] decoded by the driver from wire bytes.
    A value of None is sent as a CQL null."""
    parsed = [_parse(t) for _, t in columns]
    body = struct.pack(">i", 2)  # RESULT kind Rows
    body += struct.pack(">ii", 0x0001, len(columns)) + _string("ks") + _string("t")
    for (name, _), p in zip(columns, parsed):
        body += _string(name) + _option(p)
    body += struct.pack(">i", 1)
    for p, v in zip(parsed, values):
        if v is None:
            body += struct.pack(">i", -1)
        else:
            b = _value(p, v)
            body += struct.pack(">i", len(b)) + b
    msg = ProtocolHandler.decode_message(4, {}, 0, 0, 0x08, body, None, None)
    (row,) = msg.parsed_rows
    return tuple(row)


def cassandra_decode(cql_type: str, value: Any) -> Any:
    return cassandra_decode_row([("v", cql_type)], [value])[0]


# ---- PostgreSQL ------------------------------------------------------------------------------

_tx = Transformer()


def pg_decode(pg_type: str, text: str | bytes | None) -> Any:
    """``pg_type`` like ``timestamptz``, ``numeric``, ``text[]``, ``jsonb``, ``bpchar``."""
    if text is None:
        return None
    if pg_type.endswith("[]"):
        oid = pg_types.get(pg_type[:-2]).array_oid
    else:
        oid = pg_types.get(pg_type).oid
    data = text.encode("utf-8") if isinstance(text, str) else text
    return _tx.get_loader(oid, 0).load(data)
