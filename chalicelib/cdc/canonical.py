"""Canonical value form shared by the Cassandra and PostgreSQL sides of a comparison.

Every compared value goes through exactly one canonical encoding per CQL column type, whichever
engine it came from.  The canonical value is JSON-compatible and is also what users see in the
``cassandra_data`` / ``postgres_data`` of a mismatch record.  The rules, and why, are written down
in docs/canonical-form.md; this module is the executable form of that document.

Pure domain logic: no I/O, no AWS, no import of the database drivers (driver value types are
recognised by their attributes), so it stays cheap to import and testable in milliseconds.

Hot path: ``build_canonicalizer(cols, side)`` compiles one converter per column once per table and
returns ``row -> tuple`` with no per-value type dispatch beyond one ``type(v) is X`` test.
"""

from __future__ import annotations

import ipaddress
import json
import math
import struct
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal, InvalidOperation, localcontext
from hashlib import blake2b
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any
from uuid import UUID

__all__ = [
    "CASSANDRA",
    "POSTGRES",
    "CqlType",
    "ColumnSpec",
    "UnsupportedTypeError",
    "parse_cql_type",
    "canonical",
    "column_converter",
    "build_canonicalizer",
    "values_equal",
    "build_row_comparator",
    "row_digest",
    "checksum_hex",
    "SegmentDigest",
    "order_key",
    "pk_display",
]

# Which engine a value was decoded by.  Only timestamps depend on it (see _ts_converter).
CASSANDRA = "cassandra"
POSTGRES = "postgres"
_SIDES = (CASSANDRA, POSTGRES, None)


class UnsupportedTypeError(ValueError):
    """A CQL type string the reconciliation does not support (or cannot parse)."""


# --------------------------------------------------------------------------------------------
# CQL type strings -> small type tree
# --------------------------------------------------------------------------------------------

_SCALARS = {
    # name -> family
    "text": "text",
    "varchar": "text",
    "ascii": "text",
    "int": "int",
    "bigint": "int",
    "smallint": "int",
    "tinyint": "int",
    "varint": "int",
    "counter": "int",
    "boolean": "boolean",
    "double": "double",
    "float": "float",
    "decimal": "decimal",
    "uuid": "uuid",
    "timeuuid": "uuid",
    "timestamp": "timestamp",
    "date": "date",
    "time": "time",
    "blob": "blob",
    "inet": "inet",
}
_COLLECTIONS = {"set": 1, "list": 1, "map": 2}
NUMERIC_FAMILIES = frozenset({"int", "float", "double", "decimal"})


@dataclass(frozen=True)
class CqlType:
    """A parsed CQL type: ``name`` is the CQL name (``varchar``, ``set``, ...), ``family`` the
    canonical family shared by aliases (``text`` for text/varchar/ascii), ``params`` the element
    types of a collection.  ``frozen`` is kept for display only: it does not change comparison."""

    name: str
    family: str
    params: tuple["CqlType", ...] = ()
    frozen: bool = False

    @property
    def is_collection(self) -> bool:
        return self.family in _COLLECTIONS

    def __str__(self) -> str:
        s = self.name if not self.params else f"{self.name}<{', '.join(map(str, self.params))}>"
        return f"frozen<{s}>" if self.frozen else s


def _tokenize(s: str) -> list[str]:
    out: list[str] = []
    word = ""
    for ch in s:
        if ch in "<>,":
            if word.strip():
                out.append(word.strip())
            word = ""
            out.append(ch)
        else:
            word += ch
    if word.strip():
        out.append(word.strip())
    return out


def parse_cql_type(type_string: str) -> CqlType:
    """Parse ``map<text, frozen<list<int>>>``-style CQL type strings (case-insensitive)."""
    if not isinstance(type_string, str) or not type_string.strip():
        raise UnsupportedTypeError(f"empty CQL type: {type_string!r}")
    tokens = _tokenize(type_string.lower())
    pos = 0

    def parse() -> CqlType:
        nonlocal pos
        if pos >= len(tokens) or tokens[pos] in "<>,":
            raise UnsupportedTypeError(f"malformed CQL type {type_string!r}")
        name = tokens[pos]
        if " " in name:
            raise UnsupportedTypeError(f"malformed CQL type {type_string!r}")
        pos += 1
        if name == "frozen":
            inner = _params(1, name)[0]
            return CqlType(inner.name, inner.family, inner.params, True)
        if name in _COLLECTIONS:
            return CqlType(name, name, tuple(_params(_COLLECTIONS[name], name)))
        if name in _SCALARS:
            return CqlType(name, _SCALARS[name])
        raise UnsupportedTypeError(
            f"unsupported CQL type {name!r} in {type_string!r}; supported: "
            f"{', '.join(sorted(_SCALARS))}, set<T>, list<T>, map<K,V>, frozen<...>"
        )

    def _params(n: int, name: str) -> list[CqlType]:
        nonlocal pos
        if pos >= len(tokens) or tokens[pos] != "<":
            raise UnsupportedTypeError(f"{name} needs {n} type parameter(s) in {type_string!r}")
        pos += 1
        params = [parse()]
        while pos < len(tokens) and tokens[pos] == ",":
            pos += 1
            params.append(parse())
        if pos >= len(tokens) or tokens[pos] != ">":
            raise UnsupportedTypeError(f"malformed CQL type {type_string!r}")
        pos += 1
        if len(params) != n:
            raise UnsupportedTypeError(
                f"{name} takes {n} type parameter(s), got {len(params)} in {type_string!r}"
            )
        return params

    result = parse()
    if pos != len(tokens):
        raise UnsupportedTypeError(f"malformed CQL type {type_string!r}")
    return result


# --------------------------------------------------------------------------------------------
# Column specification
# --------------------------------------------------------------------------------------------

_CHAR_PG_TYPES = ("char", "character", "bpchar", "nchar")


def _is_blank_padded(pg_type: str | None) -> bool:
    if not pg_type:
        return False
    t = pg_type.strip().lower()
    if t.startswith("character varying"):
        return False
    base = t.split("(", 1)[0].strip()
    return base in _CHAR_PG_TYPES


@dataclass(frozen=True)
class ColumnSpec:
    """One compared column.

    ``name`` is the logical (Cassandra) column name, used in canonical rows shown to users.
    ``pg_name`` is the PostgreSQL column name when it differs.  ``tolerance`` (numeric columns:
    absolute difference; timestamp columns: milliseconds) makes ``values_equal`` lenient.
    ``pg_type`` is an optional hint of the PostgreSQL column type; today only ``char(n)`` /
    ``character(n)`` changes anything (trailing blanks are insignificant there).
    """

    name: str
    cql_type: str
    pg_name: str | None = None
    tolerance: Any = None
    pg_type: str | None = None
    type: CqlType = field(init=False, repr=False, compare=False)
    tolerance_value: Decimal | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"column name must be a non-empty string, got {self.name!r}")
        ctype = parse_cql_type(self.cql_type)
        object.__setattr__(self, "type", ctype)
        tol = None
        if self.tolerance is not None:
            if ctype.family not in NUMERIC_FAMILIES and ctype.family != "timestamp":
                raise ValueError(
                    f"column {self.name!r}: tolerance is only supported on numeric and timestamp "
                    f"columns, not {self.cql_type!r}"
                )
            if isinstance(self.tolerance, bool):
                raise ValueError(f"column {self.name!r}: tolerance must be a number")
            try:
                tol = Decimal(str(self.tolerance))
            except (InvalidOperation, ValueError):
                raise ValueError(
                    f"column {self.name!r}: tolerance must be a number, got {self.tolerance!r}"
                ) from None
            if not tol.is_finite() or tol < 0:
                raise ValueError(
                    f"column {self.name!r}: tolerance must be a finite number >= 0, "
                    f"got {self.tolerance!r}"
                )
        object.__setattr__(self, "tolerance_value", tol)

    @property
    def postgres_name(self) -> str:
        return self.pg_name or self.name

    @property
    def blank_padded(self) -> bool:
        return _is_blank_padded(self.pg_type)


def _as_spec(col: ColumnSpec | str) -> ColumnSpec:
    if isinstance(col, ColumnSpec):
        return col
    if isinstance(col, str):
        return ColumnSpec("value", col)
    raise TypeError(f"expected ColumnSpec or CQL type string, got {type(col).__name__}")


# --------------------------------------------------------------------------------------------
# Scalar converters.  Each takes a non-None value and returns its canonical form.
# The first test of each is the exact type the drivers produce (fast path); anything else
# (jsonb elements, strings, other numeric types) goes through a slower fallback.
# --------------------------------------------------------------------------------------------

_FLOAT32 = struct.Struct("<f")
_pack_f32 = _FLOAT32.pack
_unpack_f32 = _FLOAT32.unpack
_INF = math.inf
_UTC = timezone.utc
_EPOCH = datetime(1970, 1, 1)
_EPOCH_DATE = date(1970, 1, 1)
_HALF_MS = timedelta(microseconds=500)


def _bad(value: Any, what: str) -> ValueError:
    return ValueError(f"cannot interpret {value!r} ({type(value).__name__}) as {what}")


def _text_fallback(v: Any) -> str:
    """Text of a value that is not a str: a JSON value where text is expected (a map<text, text> stored as
    jsonb with a number, a boolean or an object as a value) is its compact JSON text, as the map keys are
    (`true`, `1`, `{"a":1}`); an object failed the whole job, and `true` read `True`."""
    if isinstance(v, str):
        return str(v)
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v).decode("utf-8")
    if isinstance(v, (bool, dict, list, tuple)):
        return json.dumps(v, separators=(",", ":"), ensure_ascii=False)
    if isinstance(v, (set, frozenset)):
        raise _bad(v, "text")
    return str(v)


def _conv_text(v: Any) -> str:
    return v if type(v) is str else _text_fallback(v)


def _conv_text_unpadded(v: Any) -> str:
    return (v if type(v) is str else _text_fallback(v)).rstrip(" ")


def _decimal_str(d: Decimal) -> str:
    """Exact plain-notation string of a Decimal, trailing zeros removed, ``-0`` -> ``0``."""
    if not d.is_finite():
        if d.is_nan():
            return "NaN"
        return "Infinity" if d > 0 else "-Infinity"
    if not d:
        return "0"
    s = format(d, "f")  # exact: no context rounding, no exponent
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return s


def _to_decimal(v: Any) -> Decimal:
    t = type(v)
    if t is Decimal:
        return v
    if t is bool:
        raise _bad(v, "a number")
    if t is int:
        return Decimal(v)
    if t is float or isinstance(v, float):
        if v != v:
            return Decimal("NaN")
        v = float(v)
        return Decimal(repr(v)) if v - v == 0.0 else Decimal(v)
    if isinstance(v, (Decimal, int)) and not isinstance(v, bool):
        return Decimal(v)
    if isinstance(v, str):
        s = v.strip()
        low = s.lower()
        if low in ("infinity", "+infinity", "inf", "+inf"):
            return Decimal("Infinity")
        if low in ("-infinity", "-inf"):
            return Decimal("-Infinity")
        try:
            return Decimal(s)
        except InvalidOperation:
            raise _bad(v, "a number") from None
    raise _bad(v, "a number")


def _int_fallback(v: Any) -> int | str:
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return int(v)
    d = _to_decimal(v)
    if d.is_finite() and d == d.to_integral_value():
        return int(d)
    # Not an integer: keep it visible (and unequal to any int) as a decimal string.
    return _decimal_str(d)


def _conv_int(v: Any) -> int | str:
    return v if type(v) is int else _int_fallback(v)


def _conv_decimal(v: Any) -> str:
    if type(v) is Decimal:
        s = str(v)
        if "E" in s or not v or s[0] in "NIsn":  # exponent, zero, NaN/Infinity: exact path
            return _decimal_str(v)
        if "." in s:
            s = s.rstrip("0").rstrip(".")
        return s
    return _decimal_str(_to_decimal(v))


def _nonfinite(v: float) -> str:
    if v != v:
        return "NaN"
    return "Infinity" if v > 0 else "-Infinity"


def _to_float(v: Any) -> float:
    if isinstance(v, bool):
        raise _bad(v, "a floating point number")
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, str):
        s = v.strip()
        low = s.lower()
        if low in ("nan", "infinity", "+infinity", "-infinity", "inf", "+inf", "-inf"):
            return float(low.replace("infinity", "inf"))
        try:
            return float(s)
        except ValueError:
            raise _bad(v, "a floating point number") from None
    raise _bad(v, "a floating point number")


def _conv_double(v: Any) -> float | str:
    if type(v) is not float:
        v = _to_float(v)
    if v - v == 0.0:  # finite
        return v + 0.0  # -0.0 -> 0.0
    return _nonfinite(v)


def _f32_roundtrips(text: str, f32: float) -> bool:
    return _unpack_f32(_pack_f32(float(text)))[0] == f32


def _shortest_f32(f32: float) -> float:
    """Shortest decimal (as a float) that reads back to the float32 ``f32``.  Round-tripping is
    monotonic in the number of digits, so start at 6 and walk down or up."""
    s = "%.6g" % f32
    if _f32_roundtrips(s, f32):
        digits = len(s.split("e")[0].replace("-", "").replace(".", "").lstrip("0"))
        for p in range(digits - 1, 0, -1):
            t = "%.*g" % (p, f32)
            if not _f32_roundtrips(t, f32):
                break
            s = t
        return float(s)
    for p in (7, 8):
        s = "%.*g" % (p, f32)
        if _f32_roundtrips(s, f32):
            return float(s)
    return float("%.9g" % f32)  # 9 significant digits always round-trip a float32


def _conv_float(v: Any) -> float | str:
    """32-bit float: round to the nearest float32 (what Cassandra ``float`` and PostgreSQL
    ``real`` store), then take the shortest decimal that reads back to that float32, so that
    0.1f shows as 0.1 and compares equal to a ``real`` read as 0.1."""
    if type(v) is not float:
        v = _to_float(v)
    if v - v != 0.0:
        return _nonfinite(v)
    try:
        f32 = _unpack_f32(_pack_f32(v))[0]
    except OverflowError:
        return v  # beyond float32 range: cannot come from a float column; stays unequal
    if f32 == 0.0:
        return 0.0
    return _shortest_f32(f32)


_TRUE = frozenset({"true", "t", "yes", "y", "on", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "off", "0"})


def _bool_fallback(v: Any) -> bool:
    if isinstance(v, bool):
        return bool(v)
    if isinstance(v, int) and v in (0, 1):
        return bool(v)
    if isinstance(v, str):
        s = v.strip().lower()
        if s in _TRUE:
            return True
        if s in _FALSE:
            return False
    raise _bad(v, "a boolean")


def _conv_bool(v: Any) -> bool:
    return v if type(v) is bool else _bool_fallback(v)


def _uuid_fallback(v: Any) -> str:
    if isinstance(v, UUID):
        return str(v)
    if isinstance(v, str):
        try:
            return str(UUID(v.strip()))
        except ValueError:
            raise _bad(v, "a uuid") from None
    if isinstance(v, (bytes, bytearray, memoryview)) and len(v) == 16:
        return str(UUID(bytes=bytes(v)))
    raise _bad(v, "a uuid")


def _conv_uuid(v: Any) -> str:
    if type(v) is UUID:
        # Same text as str(UUID), about a third cheaper: hex of the 16 bytes, then the hyphens.
        h = v.bytes.hex()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
    return _uuid_fallback(v)


def _blob_fallback(v: Any) -> str:
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v).hex()
    if isinstance(v, str):
        s = v.strip()
        if s[:2] in ("0x", "0X", "\\x"):
            s = s[2:]
        try:
            return bytes.fromhex(s).hex()
        except ValueError:
            raise _bad(v, "a blob (hex string)") from None
    raise _bad(v, "a blob")


def _conv_blob(v: Any) -> str:
    return v.hex() if type(v) is bytes else _blob_fallback(v)


_IP_TYPES = (ipaddress.IPv4Address, ipaddress.IPv6Address)
_IFACE_TYPES = (ipaddress.IPv4Interface, ipaddress.IPv6Interface)
_NET_TYPES = (ipaddress.IPv4Network, ipaddress.IPv6Network)


def _conv_inet(v: Any) -> str:
    if isinstance(v, _IFACE_TYPES):  # before addresses: an interface *is* an address subclass
        if v.network.prefixlen == v.max_prefixlen:
            return v.ip.compressed
        return v.with_prefixlen
    if isinstance(v, _IP_TYPES):
        return v.compressed
    if isinstance(v, _NET_TYPES):
        if v.prefixlen == v.max_prefixlen:
            return v.network_address.compressed
        return v.with_prefixlen
    if isinstance(v, str):
        s = v.strip()
        try:
            return ipaddress.ip_address(s).compressed
        except ValueError:
            try:
                return _conv_inet(ipaddress.ip_interface(s))
            except ValueError:
                raise _bad(v, "an inet address") from None
    if isinstance(v, (bytes, bytearray, memoryview)) and len(v) in (4, 16):
        return ipaddress.ip_address(bytes(v)).compressed
    raise _bad(v, "an inet address")


# ---- timestamps ---------------------------------------------------------------------------


#: PostgreSQL's infinite dates and timestamps, as the PostgreSQL reader hands them over (no Python date holds them):
#: their canonical form is the word, which no finite value's form equals, so a row holding one is compared, and
#: reported when the other side holds a date
INFINITE = frozenset({"infinity", "-infinity"})


#: the epoch milliseconds of 0001-01-01T00:00:00.000 and 9999-12-31T23:59:59.999: a timestamp outside them (Cassandra
#: and PostgreSQL hold such) has no Python datetime; both readers hand it over as its epoch milliseconds (an int)
#: and its canonical form is that count as text, as a date outside them is its day count
_MIN_MS, _MAX_MS = -62_135_596_800_000, 253_402_300_799_999


def _ts_to_naive_utc(v: Any) -> datetime:
    """Any accepted timestamp representation -> naive UTC datetime (µs precision)."""
    if isinstance(v, datetime):
        off = v.utcoffset()
        if off is not None:
            return (v - off).replace(tzinfo=None)
        return v
    if isinstance(v, date):  # a plain date means midnight UTC
        return datetime(v.year, v.month, v.day)
    if isinstance(v, str):
        s = v.strip()
        try:
            dt = datetime.fromisoformat(s)
        except ValueError:
            raise _bad(v, "a timestamp") from None
        return _ts_to_naive_utc(dt)
    if isinstance(v, int) and not isinstance(v, bool):  # epoch milliseconds
        return _EPOCH + timedelta(milliseconds=v)
    raise _bad(v, "a timestamp")


def _fmt_ms(dt: datetime) -> str:
    """Naive (UTC) or UTC-aware datetime -> ``YYYY-MM-DDTHH:MM:SS.mmmZ``, microseconds
    truncated.  Slicing isoformat() is about twice as fast as isoformat(timespec=...)."""
    if dt.microsecond:
        return dt.isoformat()[:23] + "Z"
    return dt.isoformat()[:19] + ".000Z"


def _conv_ts_truncate(v: Any) -> str:
    if type(v) is str and v in INFINITE:
        return v
    if type(v) is int and not _MIN_MS <= v <= _MAX_MS:
        return str(v)
    if type(v) is datetime:
        tz = v.tzinfo
        if tz is None:
            s = v.isoformat()
            return s[:23] + "Z" if s[19:20] == "." else s + ".000Z"
        if tz is _UTC:
            # isoformat() of an aware value also formats the offset: the fields are cheaper.
            return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (
                v.year, v.month, v.day, v.hour, v.minute, v.second, v.microsecond // 1000
            )
    return _fmt_ms(_ts_to_naive_utc(v))


def _conv_ts_cassandra(v: Any) -> str:
    """The driver decodes the stored epoch milliseconds through a float division, which can land
    a few microseconds off the exact millisecond far from 1970 (9999-12-31T23:59:59.999 decodes
    as ...59.998993).  The stored value is whole milliseconds by definition, so round."""
    if type(v) is int and not _MIN_MS <= v <= _MAX_MS:
        return str(v)
    if type(v) is datetime and v.tzinfo is None:
        if not v.microsecond % 1000:
            s = v.isoformat()
            return s[:23] + "Z" if s[19:20] == "." else s + ".000Z"
        dt = v
    else:
        dt = _ts_to_naive_utc(v)
    try:
        return _fmt_ms(dt + _HALF_MS)
    except OverflowError:
        return _fmt_ms(dt)


# ---- date / time --------------------------------------------------------------------------


def _days_to_str(days: int) -> str:
    try:
        return (_EPOCH_DATE + timedelta(days=days)).isoformat()
    except OverflowError:
        # Outside 0001-01-01..9999-12-31 neither Python nor psycopg has a date for it:
        # the canonical form is then the signed day count since 1970-01-01.
        return str(days)


def _conv_date(v: Any) -> str:
    t = type(v)
    if t is date:
        return v.isoformat()
    if t is str and v in INFINITE:
        return v
    days = getattr(v, "days_from_epoch", None)  # cassandra.util.Date
    if days is not None:
        return _days_to_str(int(days))
    if isinstance(v, datetime):
        return _ts_to_naive_utc(v).date().isoformat()
    if isinstance(v, date):
        return date(v.year, v.month, v.day).isoformat()
    if isinstance(v, str):
        s = v.strip()
        try:
            return date.fromisoformat(s).isoformat()
        except ValueError:
            try:
                return _ts_to_naive_utc(s).date().isoformat()
            except ValueError:
                raise _bad(v, "a date") from None
    if isinstance(v, int) and not isinstance(v, bool):  # days since epoch
        return _days_to_str(v)
    raise _bad(v, "a date")


_NS_PER_DAY = 86_400_000_000_000


def _fmt_time_us(us: int) -> str:
    s, us = divmod(us, 1_000_000)
    m, s = divmod(s, 60)
    h, m = divmod(m, 60)
    return "%02d:%02d:%02d.%06d" % (h, m, s, us)


def _conv_time(v: Any) -> str:
    """Time of day at microsecond precision (PostgreSQL's); Cassandra nanoseconds are truncated."""
    if isinstance(v, time):
        if v.tzinfo is not None and v.utcoffset():
            raise _bad(v, "a time without time zone")
        return "%02d:%02d:%02d.%06d" % (v.hour, v.minute, v.second, v.microsecond)
    ns = getattr(v, "nanosecond_time", None)  # cassandra.util.Time
    if ns is not None:
        return _fmt_time_us(int(ns) // 1000)
    if isinstance(v, timedelta):
        us = (v.days * 86_400 + v.seconds) * 1_000_000 + v.microseconds
        if 0 <= us < 86_400_000_000:
            return _fmt_time_us(us)
        raise _bad(v, "a time of day")
    if isinstance(v, int) and not isinstance(v, bool):  # nanoseconds since midnight (CQL)
        if 0 <= v < _NS_PER_DAY:
            return _fmt_time_us(v // 1000)
        raise _bad(v, "a time of day")
    if isinstance(v, str):
        s = v.strip()
        frac = ""
        if "." in s:
            s, frac = s.split(".", 1)
        try:
            t = time.fromisoformat(s)
        except ValueError:
            raise _bad(v, "a time of day") from None
        if not frac.isdigit() and frac:
            raise _bad(v, "a time of day")
        us = int((frac + "000000")[:6]) if frac else 0
        return "%02d:%02d:%02d.%06d" % (t.hour, t.minute, t.second, us)
    raise _bad(v, "a time of day")


# --------------------------------------------------------------------------------------------
# Total order on canonical values (sets, map entries, composite keys)
# --------------------------------------------------------------------------------------------


def order_key(v: Any) -> tuple:
    """A total order over canonical values of mixed kinds: None < bool < number < str < list <
    dict.  Within a kind, the natural order (lists lexicographically by element key)."""
    if v is None:
        return (0,)
    t = type(v)
    if t is bool:
        return (1, v)
    if t is int or t is float:
        return (2, v)
    if t is str:
        return (3, v)
    if t is list or t is tuple:
        return (4, tuple(order_key(x) for x in v))
    if t is dict:
        return (5, tuple((k, order_key(x)) for k, x in v.items()))
    return (6, repr(v))


def _sorted_unique(items: list) -> list:
    try:
        items.sort()
    except TypeError:
        items.sort(key=order_key)
    if len(items) > 1:
        out = [items[0]]
        for x in items[1:]:
            if x != out[-1] or type(x) is not type(out[-1]):
                out.append(x)
        return out
    return items


def _map_key_str(k: Any) -> str:
    """Canonical map keys become JSON object keys: strings as they are, anything else as its
    compact JSON text (``1`` -> ``"1"``, ``true`` -> ``"true"``)."""
    if type(k) is str:
        return k
    return _json_compact(k)


_json_compact = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), allow_nan=False, check_circular=False, sort_keys=True
).encode


# --------------------------------------------------------------------------------------------
# Converter compilation
# --------------------------------------------------------------------------------------------

_SCALAR_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "text": _conv_text,
    "int": _conv_int,
    "boolean": _conv_bool,
    "double": _conv_double,
    "float": _conv_float,
    "decimal": _conv_decimal,
    "uuid": _conv_uuid,
    "date": _conv_date,
    "time": _conv_time,
    "blob": _conv_blob,
    "inet": _conv_inet,
}


_NATIVE_ELEMENT = {"text": str, "int": int, "boolean": bool}
# Types seen to be sets (they have an ``add`` method): the set<text> fast path accepts them without
# a per-value attribute test.  Only ever grows by the few set types drivers return.
_ADDABLE: set[type] = {set}


def _as_collection(v: Any) -> Any:
    if isinstance(v, (str, bytes, bytearray)):
        # A collection stored as JSON text (json/text column on the PostgreSQL side).
        try:
            return json.loads(v)
        except ValueError:
            raise _bad(v, "a collection (JSON text)") from None
    return v


def _element_converter(ctype: CqlType, side: str | None, padded: bool) -> Callable[[Any], Any]:
    """Converter for a non-None value of ``ctype``, at any nesting level.  Nested empty
    collections stay empty (``[]``/``{}``); only a column's top-level empty becomes None."""
    fam = ctype.family
    if fam == "text":
        return _conv_text_unpadded if padded else _conv_text
    if fam == "timestamp":
        return _conv_ts_cassandra if side == CASSANDRA else _conv_ts_truncate
    if fam in _SCALAR_CONVERTERS:
        return _SCALAR_CONVERTERS[fam]
    if fam == "set" or fam == "list":
        etype = ctype.params[0]
        el = _nullable(_element_converter(etype, side, False))
        # Elements already in canonical form (text as str, ints as int) skip the call.
        native = _NATIVE_ELEMENT.get(etype.family)
        scalar = not etype.is_collection

        if fam == "list":

            def conv_list(v: Any) -> list:
                if type(v) is not list:
                    v = _as_collection(v)
                    if isinstance(v, Mapping):
                        raise _bad(v, str(ctype))
                if native is not None:
                    return [x if type(x) is native else el(x) for x in v]
                return [el(x) for x in v]

            return conv_list

        text_elements = etype.family == "text"
        addable = _ADDABLE

        def conv_set(v: Any) -> list:
            t = type(v)
            if text_elements and (t is list or t in addable):
                # Fast path for the common set<text>: sort the distinct values and check they are
                # all plain str (then they are canonical already).  None, other kinds or mixed
                # kinds fall through to the general path, which gives the same result for str.
                try:
                    items = sorted(set(v))
                except TypeError:
                    pass
                else:
                    for x in items:
                        if type(x) is not str:
                            break
                    else:
                        return items
            if t is not list and not hasattr(v, "add"):
                v = _as_collection(v)
                if isinstance(v, Mapping):
                    raise _bad(v, str(ctype))
            if native is not None:
                items = [x if type(x) is native else el(x) for x in v]
            else:
                items = [el(x) for x in v]
            if t not in addable and t is not list and hasattr(v, "add"):
                _ADDABLE.add(t)  # a set type (e.g. the driver's SortedSet): remembered by type
            if scalar:
                try:
                    return sorted(set(items))
                except TypeError:  # mixed kinds (None, "NaN" among floats): total order
                    pass
            return _sorted_unique(items)

        return conv_set
    if fam == "map":
        kc = _nullable(_element_converter(ctype.params[0], side, False))
        vc = _nullable(_element_converter(ctype.params[1], side, False))

        def conv_map(v: Any) -> dict:
            v = _as_collection(v)
            if isinstance(v, Mapping) or hasattr(v, "items"):
                pairs = v.items()
            else:  # a list of [key, value] pairs
                pairs = v
            items = [(_map_key_str(kc(_json_key(k, ctype.params[0]))), vc(x)) for k, x in pairs]
            items.sort(key=_first)
            return dict(items)

        return conv_map
    raise UnsupportedTypeError(f"no converter for {ctype}")  # pragma: no cover


def _first(pair: tuple) -> Any:
    return pair[0]


def _json_key(k: Any, ktype: CqlType) -> Any:
    """jsonb object keys are always strings: a non-text key type arrives as its JSON text, e.g.
    a frozen<list<int>> key as '[1,2]'.  Scalars parse fine from their text already."""
    if type(k) is str and ktype.is_collection:
        try:
            return json.loads(k)
        except ValueError:
            return k
    return k


def _nullable(conv: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def f(v: Any) -> Any:
        return None if v is None else conv(v)

    return f


def column_converter(col: ColumnSpec | str, side: str | None = None) -> Callable[[Any], Any]:
    """Compile the converter of one column: value as decoded by either driver -> canonical.

    ``side`` is CASSANDRA for values decoded by the cassandra-driver, POSTGRES (or None) for
    anything else; it only matters for timestamps (see docs/canonical-form.md)."""
    col = _as_spec(col)
    if side not in _SIDES:
        raise ValueError(f"side must be {CASSANDRA!r}, {POSTGRES!r} or None, got {side!r}")
    ctype = col.type
    conv = _element_converter(ctype, side, col.blank_padded)
    if ctype.is_collection:

        def top_collection(v: Any) -> Any:
            if v is None:
                return None
            r = conv(v)
            return r if r else None  # null == empty collection

        return top_collection

    def top_scalar(v: Any) -> Any:
        return None if v is None else conv(v)

    return top_scalar


def canonical(value: Any, col: ColumnSpec | str, side: str | None = None) -> Any:
    """Canonical, JSON-compatible form of one value of column ``col`` (a ColumnSpec or a CQL
    type string).  For whole rows use ``build_canonicalizer``: it compiles converters once."""
    return column_converter(col, side)(value)


def build_canonicalizer(
    cols: Sequence[ColumnSpec], side: str | None
) -> Callable[[Sequence[Any] | Mapping[str, Any]], tuple]:
    """Compile ``row -> canonical tuple`` for a table, once.

    ``row`` is either a sequence in ``cols`` order (tuple, list, driver namedtuple, psycopg
    tuple row) or a mapping keyed by column name (``col.name`` on the Cassandra side,
    ``col.postgres_name`` on the PostgreSQL side).  A row of the wrong width raises ValueError.
    """
    cols = tuple(_as_spec(c) for c in cols)
    if not cols:
        raise ValueError("a canonicalizer needs at least one column")
    names = [c.name for c in cols]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate column names in {names}")
    if side not in _SIDES:
        raise ValueError(f"side must be {CASSANDRA!r}, {POSTGRES!r} or None, got {side!r}")
    keys = tuple(c.name if side == CASSANDRA else c.postgres_name for c in cols)
    n = len(cols)
    # One generated function per table: per column, an inline null test, an inline pass-through
    # for values already canonical (str for text, int for integers, bool for booleans), and one
    # call of the compiled element converter otherwise.  Only indices and type names are
    # generated, never catalog text.
    env: dict[str, Any] = {"_str": str, "_int": int, "_bool": bool, "_tuple": tuple, "_list": list}
    loads, exprs = [], []
    for i, c in enumerate(cols):
        ctype = c.type
        env[f"c{i}"] = _element_converter(ctype, side, c.blank_padded)
        loads.append(f"v{i} = r[{i}]")
        if ctype.is_collection:
            exprs.append(f"None if v{i} is None else (c{i}(v{i}) or None)")
            continue
        native = _NATIVE_ELEMENT.get(ctype.family)
        if native is not None and not (ctype.family == "text" and c.blank_padded):
            exprs.append(f"v{i} if type(v{i}) is _{native.__name__} else (None if v{i} is None else c{i}(v{i}))")
        else:
            exprs.append(f"None if v{i} is None else c{i}(v{i})")
    # The width / shape test is inline too: tuples (and lists) of the right width go straight to
    # the column expressions, anything else through _prep (mappings, other sequences, errors).
    env["_n"], env["_len"], env["_prep"] = n, len, None
    # A value that cannot be read as its column type (a jsonb string where a map is expected) does not fail
    # the row, and with it the table's job: the row is converted again column by column, and that value's
    # canonical form is its own text (_unreadable), which no readable value's form equals, so it is reported
    # as a DATA_MISMATCH on that column showing what the table holds
    tops = [column_converter(c, side) for c in cols]

    def tolerant(r: Sequence[Any]) -> tuple:
        out = []
        for conv, v in zip(tops, r):
            try:
                out.append(conv(v))
            except (ValueError, TypeError):
                out.append(_unreadable(v))
        return tuple(out)

    env["_tolerant"] = tolerant
    src = (
        "def canonicalize(r):\n"
        "    if type(r) is not _tuple or _len(r) != _n:\n"
        "        r = _prep(r)\n"
        "    try:\n        "
        + "\n        ".join(loads)
        + "\n        return (\n            "
        + ",\n            ".join(exprs)
        + ",\n        )\n"
        "    except (ValueError, TypeError):\n"
        "        return _tolerant(r)\n"
    )
    exec(src, env)  # noqa: S102 - generated from column indices only
    canonicalize: Callable[[Sequence[Any] | Mapping[str, Any]], tuple] = env["canonicalize"]
    _len = len

    def prep(row: Sequence[Any] | Mapping[str, Any]) -> Sequence[Any]:
        if type(row) is list and _len(row) == n:
            return row
        if isinstance(row, Mapping):
            try:
                return [row[k] for k in keys]
            except KeyError as e:
                raise ValueError(f"row has no column {e.args[0]!r}") from None
        if _len(row) != n:
            raise ValueError(f"row has {_len(row)} values, expected {n} ({', '.join(names)})")
        return row

    env["_prep"] = prep

    # ``against(r, o, k)``: the same canonical row as ``canonicalize(r)``, given the other side's
    # raw row ``o`` (of a table with the same column kinds) and its canonical row ``k``.  Where a
    # column's raw value has the same driver type as the other side's and is equal to it, the
    # canonical value is a function of that value alone, so the other side's canonical value is
    # reused instead of converting again: uuid (equal 128-bit ints), decimal (equal values: the
    # canonical text is the exact value), double and float (equal floats, -0.0 == 0.0 both give
    # 0.0), and text sets/lists already equal to the other side's canonical list.  Anything else,
    # and any error, goes the ordinary way.
    checks = []
    for i, c in enumerate(cols):
        fam, ctype = c.type.family, c.type
        if fam == "uuid":
            chk = f"type(v{i}) is _UUID and type(o[{i}]) is _UUID and v{i}.int == o[{i}].int"
        elif fam == "decimal":
            chk = f"type(v{i}) is _Decimal and type(o[{i}]) is _Decimal and v{i} == o[{i}]"
        elif fam in ("double", "float"):
            chk = f"type(v{i}) is _float and type(o[{i}]) is _float and v{i} == o[{i}]"
        elif fam in ("set", "list") and ctype.params[0].family == "text":
            chk = f"type(v{i}) is _list and v{i} == k[{i}]"
        else:
            checks.append(exprs[i])
            continue
        checks.append(f"k[{i}] if {chk} else ({exprs[i]})")
    env.update(_UUID=UUID, _Decimal=Decimal, _float=float, _canonicalize=canonicalize)
    src = (
        "def against(r, o, k):\n"
        "    if type(r) is not _tuple or _len(r) != _n or type(o) is not _tuple or _len(o) != _n:\n"
        "        return _canonicalize(r)\n"
        "    try:\n        "
        + "\n        ".join(loads)
        + "\n        return (\n            "
        + ",\n            ".join(checks)
        + ",\n        )\n"
        "    except Exception:\n"
        "        return _canonicalize(r)\n"
    )
    exec(src, env)  # noqa: S102 - generated from column indices only
    canonicalize.columns = cols  # type: ignore[attr-defined]
    canonicalize.side = side  # type: ignore[attr-defined]
    canonicalize.signature = tuple(_family_tree(c.type) for c in cols)  # type: ignore[attr-defined]
    canonicalize.against = env["against"]  # type: ignore[attr-defined]
    return canonicalize


def _unreadable(v: Any) -> str:
    """The canonical form of a value that cannot be read as its column type: always text (a column's readable
    forms of a collection, a number or a boolean are never text; those that are text are the canonical spelling
    of a readable value, which an unreadable text is not): the text itself, or the compact JSON of a JSON value
    (a number in a map column), or the value's repr."""
    if isinstance(v, str):
        return v
    try:
        return _json_compact(v)
    except (TypeError, ValueError):
        return repr(v)


def _family_tree(ctype: CqlType) -> tuple:
    return (ctype.family, tuple(_family_tree(p) for p in ctype.params))


def same_canonical_form(canon_a: Callable[..., tuple], canon_b: Callable[..., tuple]) -> bool:
    """Do two compiled canonicalizers produce rows of the same canonical kinds, column by column
    (same type families, at every nesting level)?  Then their rows have this property: equal
    (``==``) rows have the same compact JSON and so the same ``row_digest``.  That holds because
    a column's canonical values never mix ``int``/``float``/``bool`` (which compare equal across
    kinds), ``-0.0`` is folded into ``0.0``, and map keys are always sorted; the segment diff
    relies on it to hash an equal pair once."""
    sa = getattr(canon_a, "signature", None)
    return sa is not None and sa == getattr(canon_b, "signature", None)


# --------------------------------------------------------------------------------------------
# Equality with tolerances
# --------------------------------------------------------------------------------------------


def _num_decimal(v: Any) -> Decimal | None:
    t = type(v)
    if t is bool or v is None:
        return None
    if t is int:
        return Decimal(v)
    if t is float:
        return Decimal(repr(v)) if v - v == 0.0 else None
    if t is str:
        try:
            d = Decimal(v)
        except InvalidOperation:
            return None
        return d if d.is_finite() else None
    return None


def _within_numeric(a: Any, b: Any, tol: Decimal) -> bool:
    da, db = _num_decimal(a), _num_decimal(b)
    if da is None or db is None:
        return False
    with localcontext() as ctx:
        ctx.prec = max(60, len(da.as_tuple().digits) + len(db.as_tuple().digits) + 10)
        return abs(da - db) <= tol


def _parse_canon_ts(s: Any) -> datetime | None:
    if type(s) is not str:
        return None
    try:
        return datetime.fromisoformat(s)
    except ValueError:
        return None


def _within_ms(a: Any, b: Any, tol: Decimal) -> bool:
    da, db = _parse_canon_ts(a), _parse_canon_ts(b)
    if da is None or db is None:
        return False
    diff = abs(da - db)
    return Decimal(diff // timedelta(microseconds=1)) <= tol * 1000


def _equal_fn(col: ColumnSpec) -> Callable[[Any, Any], bool]:
    tol = col.tolerance_value
    if tol is None:
        return _plain_equal
    within = _within_ms if col.type.family == "timestamp" else _within_numeric

    def eq(a: Any, b: Any) -> bool:
        if a == b:
            return True
        if a is None or b is None:
            return False
        return within(a, b, tol)

    return eq


def _plain_equal(a: Any, b: Any) -> bool:
    return a == b


def values_equal(a_canon: Any, b_canon: Any, col: ColumnSpec) -> bool:
    """Are two canonical values equal for ``col``?  Plain equality unless the column has a
    tolerance: numeric |a-b| <= tolerance (exact decimal arithmetic on the canonical values),
    timestamps |a-b| <= tolerance milliseconds.  Null never equals a value, whatever the
    tolerance."""
    return _equal_fn(col)(a_canon, b_canon)


def build_row_comparator(cols: Sequence[ColumnSpec]) -> Callable[[Sequence[Any], Sequence[Any]], list[str]]:
    """Compile ``(canon_a, canon_b) -> [names of differing columns]`` (empty when equal)."""
    cols = tuple(cols)
    fns = [(i, c.name, _equal_fn(c)) for i, c in enumerate(cols)]

    def differing(a: Sequence[Any], b: Sequence[Any]) -> list[str]:
        return [name for i, name, eq in fns if not eq(a[i], b[i])]

    return differing


# --------------------------------------------------------------------------------------------
# Digests
# --------------------------------------------------------------------------------------------

def _make_row_encoder() -> Callable[[Any], str]:
    """Compact JSON (``separators=(",", ":")``, ``ensure_ascii=False``, no NaN) of a canonical
    row.  The C encoder is built once: JSONEncoder.encode() builds one per call."""
    try:
        from json.encoder import c_encode_basestring, c_make_encoder
    except ImportError:  # pragma: no cover - interpreters without the C accelerator
        c_make_encoder = None
    if c_make_encoder is None or c_encode_basestring is None:  # pragma: no cover
        return json.JSONEncoder(
            ensure_ascii=False, separators=(",", ":"), allow_nan=False, check_circular=False
        ).encode

    def _no_default(o: Any) -> Any:
        raise TypeError(f"{type(o).__name__} is not a canonical value")

    enc = c_make_encoder(None, _no_default, c_encode_basestring, None, ":", ",", False, False, False)
    join = "".join
    return lambda o: join(enc(o, 0))


_json_row = _make_row_encoder()
_MASK64 = (1 << 64) - 1
DIGEST_VERSION = 1


def row_tuple(canon_row: Sequence[Any] | Mapping[str, Any], cols: Sequence[ColumnSpec] | None) -> Sequence[Any]:
    """A canonical row as a sequence in column order (mappings are read by column name)."""
    if type(canon_row) is tuple:
        return canon_row
    if isinstance(canon_row, Mapping):
        if cols is None:
            raise ValueError("a canonical row given as a mapping needs the column list")
        return [canon_row[c.name] for c in cols]
    return canon_row


def row_digest(canon_row: Sequence[Any] | Mapping[str, Any], cols: Sequence[ColumnSpec] | None = None) -> int:
    """Stable 64-bit hash of a canonical row: blake2b-64 over the compact JSON array of the
    canonical values in catalog column order (digest format version 1)."""
    if type(canon_row) is not tuple:
        canon_row = row_tuple(canon_row, cols)
    return _from_bytes(blake2b(_json_row(canon_row).encode("utf-8", "surrogatepass"), digest_size=8).digest(), "big")


_from_bytes = int.from_bytes


def checksum_hex(canon_row: Sequence[Any] | Mapping[str, Any] | int, cols: Sequence[ColumnSpec] | None = None) -> str:
    """The contract's ``cassandra_checksum`` / ``postgres_checksum``: the row digest as 16
    lowercase hex characters.  Accepts a row or an already computed ``row_digest``."""
    h = canon_row if isinstance(canon_row, int) else row_digest(canon_row, cols)
    return f"{h:016x}"


@dataclass
class SegmentDigest:
    """Order-independent, mergeable digest of a set of rows: row count, sum of the 64-bit row
    digests modulo 2**64, and their xor.  Equal multisets of rows give equal digests whatever
    the order in which rows (or partial digests of sub-ranges) are added."""

    count: int = 0
    sum: int = 0
    xor: int = 0

    def add(self, row_hash: int) -> None:
        self.count += 1
        self.sum = (self.sum + row_hash) & _MASK64
        self.xor ^= row_hash

    def add_row(self, canon_row: Sequence[Any], cols: Sequence[ColumnSpec] | None = None) -> int:
        h = row_digest(canon_row, cols)
        self.add(h)
        return h

    def merge(self, other: "SegmentDigest") -> "SegmentDigest":
        return SegmentDigest(
            self.count + other.count, (self.sum + other.sum) & _MASK64, self.xor ^ other.xor
        )

    @classmethod
    def of(cls, hashes: Iterable[int]) -> "SegmentDigest":
        d = cls()
        for h in hashes:
            d.add(h)
        return d

    def hex(self) -> str:
        """32 hex characters (sum then xor); the count is kept separately."""
        return f"{self.sum:016x}{self.xor:016x}"

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "digest": self.hex(), "version": DIGEST_VERSION}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "SegmentDigest":
        if d.get("version", DIGEST_VERSION) != DIGEST_VERSION:
            raise ValueError(f"unsupported segment digest version {d.get('version')!r}")
        hx = d["digest"]
        if not isinstance(hx, str) or len(hx) != 32:
            raise ValueError(f"segment digest must be 32 hex characters, got {hx!r}")
        return cls(int(d["count"]), int(hx[:16], 16), int(hx[16:], 16))


# --------------------------------------------------------------------------------------------
# Primary key display
# --------------------------------------------------------------------------------------------


def _display_component(v: Any) -> str:
    if type(v) is str:
        return v
    if v is None:
        return ""
    return _json_compact(v)


def pk_display(pk: Sequence[Any]) -> str:
    """``primary_key_value`` of a mismatch record.  A single-column key is its canonical value
    as text (``user-12345``, ``42``, a uuid).  A composite key joins its components with ``|``;
    inside a component of a composite key, ``\\`` and ``|`` are escaped with a backslash."""
    if len(pk) == 1:
        return _display_component(pk[0])
    return "|".join(
        _display_component(v).replace("\\", "\\\\").replace("|", "\\|") for v in pk
    )
