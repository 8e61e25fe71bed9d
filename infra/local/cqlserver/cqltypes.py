"""CQL data types: parsing of type names, protocol v4 encoding, literals, ordering keys.

Values travel through the server in their serialized protocol form (``bytes``) or as
``None`` for null.  Python values only appear when a CQL literal has to be serialized
(``INSERT ... VALUES (1, 'a')``) or a collection bound by a client has to be normalised
(sets sorted and de-duplicated, empty collections turned into null).
"""

from __future__ import annotations

import datetime
import decimal
import ipaddress
import re
import struct
import uuid
from dataclasses import dataclass, field

from .errors import InvalidRequest

_INT32 = struct.Struct(">i")
_UINT32 = struct.Struct(">I")
_INT64 = struct.Struct(">q")
_INT16 = struct.Struct(">h")
_INT8 = struct.Struct(">b")
_DOUBLE = struct.Struct(">d")
_FLOAT = struct.Struct(">f")

# Protocol v4 [option] ids of the native types.
TYPE_IDS = {
    "ascii": 0x0001,
    "bigint": 0x0002,
    "blob": 0x0003,
    "boolean": 0x0004,
    "decimal": 0x0006,
    "double": 0x0007,
    "float": 0x0008,
    "int": 0x0009,
    "timestamp": 0x000B,
    "uuid": 0x000C,
    "text": 0x000D,
    "varint": 0x000E,
    "timeuuid": 0x000F,
    "inet": 0x0010,
    "date": 0x0011,
    "time": 0x0012,
    "smallint": 0x0013,
    "tinyint": 0x0014,
    "list": 0x0020,
    "map": 0x0021,
    "set": 0x0022,
}
ALIASES = {"varchar": "text"}
COLLECTIONS = ("list", "set", "map")
FIXED_SIZES = {
    "bigint": 8, "timestamp": 8, "time": 8, "int": 4, "date": 4, "float": 4, "smallint": 2,
    "tinyint": 1, "boolean": 1, "double": 8, "uuid": 16, "timeuuid": 16,
}
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
EPOCH_DATE = datetime.date(1970, 1, 1)


@dataclass(frozen=True)
class CqlType:
    name: str
    subtypes: tuple = field(default=())
    frozen: bool = False

    # ----------------------------------------------------------------- naming
    def cql(self) -> str:
        """The type as Cassandra writes it in system_schema (e.g. ``frozen<list<int>>``)."""
        if self.name in COLLECTIONS:
            inner = "%s<%s>" % (self.name, ", ".join(t.cql() for t in self.subtypes))
            return "frozen<%s>" % inner if self.frozen else inner
        return self.name

    @property
    def is_collection(self) -> bool:
        return self.name in COLLECTIONS

    def option(self) -> bytes:
        """Serialized [option] for result/bind metadata."""
        out = struct.pack(">H", TYPE_IDS[self.name])
        for sub in self.subtypes:
            out += sub.option()
        return out

    # --------------------------------------------------------------- encoding
    def encode(self, value) -> bytes | None:
        """Serialize a Python value (None -> None)."""
        if value is None:
            return None
        try:
            return _ENCODERS[self.name](self, value)
        except InvalidRequest:
            raise
        except (TypeError, ValueError, OverflowError, struct.error, decimal.InvalidOperation) as exc:
            raise InvalidRequest("Invalid value %r for type %s: %s" % (value, self.cql(), exc)) from None

    def decode(self, data: bytes | None):
        if data is None:
            return None
        return _DECODERS[self.name](self, data)

    def validate(self, data: bytes | None, what: str) -> bytes | None:
        """Check a client-serialized value and normalise it (collections)."""
        if data is None:
            return None
        if self.name == "blob":
            return data
        size = FIXED_SIZES.get(self.name)
        if size is not None:
            if len(data) != size:
                raise InvalidRequest(
                    "Invalid value for %s: expected %d bytes for type %s, got %d"
                    % (what, size, self.cql(), len(data)))
            return data
        if self.name in COLLECTIONS:
            try:
                return self._normalize(data, what)
            except InvalidRequest:
                raise
            except Exception:
                raise InvalidRequest("Invalid collection value for %s of type %s" % (what, self.cql())) from None
        if self.name in ("text", "ascii"):
            if data.isascii():  # valid for both, no decoding needed
                return data
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidRequest("Invalid UTF-8 string for %s" % what) from None
            if self.name == "ascii" and not text.isascii():
                raise InvalidRequest("Invalid ASCII string for %s" % what)
            return data
        if self.name == "inet" and len(data) not in (4, 16):
            raise InvalidRequest("Invalid inet value for %s" % what)
        if self.name == "decimal" and len(data) < 4:
            raise InvalidRequest("Invalid decimal value for %s" % what)
        return data

    def _normalize(self, data: bytes, what: str) -> bytes | None:
        """Validate a serialized collection; sort/de-duplicate sets and maps; empty -> null."""
        if self.name == "map":
            raw = _read_items(data, 2)
            kt, vt = self.subtypes
            pairs = {}
            for i in range(0, len(raw), 2):
                pairs[kt.validate(raw[i], what)] = vt.validate(raw[i + 1], what)
            if not pairs and not self.frozen:
                return None
            keys = list(pairs)
            if len(keys) > 1:
                keys.sort(key=kt.order_key if kt.orderable else None)
            return _INT32.pack(len(keys)) + b"".join(pack_bytes(k) + pack_bytes(pairs[k]) for k in keys)
        sub = self.subtypes[0]
        items = [sub.validate(i, what) for i in _read_items(data)]
        if not items and not self.frozen:
            return None
        if self.name == "set" and len(items) > 1:
            items = _sort_unique(sub, items)
        return _INT32.pack(len(items)) + b"".join(pack_bytes(i) for i in items)

    # --------------------------------------------------------------- ordering
    @property
    def orderable(self) -> bool:
        return self.name in _ORDER_KEYS

    def order_key(self, data: bytes) -> bytes:
        """A prefix-free byte string whose unsigned order is the CQL order of the value."""
        return _ORDER_KEYS[self.name](data)


def parse_type(text: str) -> CqlType:
    """Parse a CQL type name such as ``map<text, frozen<list<int>>>``."""
    tokens = re.findall(r"[A-Za-z_][A-Za-z0-9_]*|[<>,]|\S", text)
    pos = 0

    def parse(frozen=False):
        nonlocal pos
        if pos >= len(tokens):
            raise InvalidRequest("Incomplete type %r" % text)
        name = tokens[pos].lower()
        pos += 1
        if name == "frozen":
            expect("<")
            inner = parse(frozen=True)
            expect(">")
            return inner
        name = ALIASES.get(name, name)
        if name in COLLECTIONS:
            expect("<")
            subs = [parse()]
            while pos < len(tokens) and tokens[pos] == ",":
                pos += 1
                subs.append(parse())
            expect(">")
            wanted = 2 if name == "map" else 1
            if len(subs) != wanted:
                raise InvalidRequest("Invalid type %r" % text)
            for sub in subs:
                if sub.is_collection and not sub.frozen:
                    raise InvalidRequest("Non-frozen collections are not allowed inside collections: %s" % text)
            return CqlType(name, tuple(subs), frozen)
        if name not in TYPE_IDS:
            raise InvalidRequest("Unsupported type %s (this CQL dev server supports the native scalar "
                                 "types and list/set/map of them)" % name)
        return CqlType(name)

    def expect(tok):
        nonlocal pos
        if pos >= len(tokens) or tokens[pos] != tok:
            raise InvalidRequest("Invalid type %r" % text)
        pos += 1

    result = parse()
    if pos != len(tokens):
        raise InvalidRequest("Invalid type %r" % text)
    return result


# ------------------------------------------------------------------ helpers
def pack_bytes(data: bytes | None) -> bytes:
    """[bytes]: int32 length + data, -1 for null."""
    if data is None:
        return b"\xff\xff\xff\xff"
    return _INT32.pack(len(data)) + data


def varint_encode(n: int) -> bytes:
    if n == 0:
        return b"\x00"
    length = (n.bit_length() + 8) // 8
    return n.to_bytes(length, "big", signed=True)


def varint_decode(data: bytes) -> int:
    return int.from_bytes(data, "big", signed=True)


def _to_int(value, bits, name):
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
            value = int(value)
        else:
            raise InvalidRequest("Invalid %s value %r" % (name, value))
    if bits and not -(1 << (bits - 1)) <= value < (1 << (bits - 1)):
        raise InvalidRequest("Value %d out of range for type %s" % (value, name))
    return value


def _enc_timestamp(t, value):
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        delta = value - EPOCH
        ms = (delta.days * 86400 + delta.seconds) * 1000 + delta.microseconds // 1000
        return _INT64.pack(ms)
    if isinstance(value, datetime.date):
        return _enc_timestamp(t, datetime.datetime(value.year, value.month, value.day))
    if isinstance(value, str):
        return _INT64.pack(parse_timestamp_literal(value))
    return _INT64.pack(_to_int(value, 64, "timestamp"))


_TS_RE = re.compile(
    r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?\s*"
    r"(Z|[+-]\d{2}:?\d{2})?$")


def parse_timestamp_literal(text: str) -> int:
    text = text.strip()
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    m = _TS_RE.match(text)
    if not m:
        raise InvalidRequest("Unable to coerce '%s' to a formatted date (long)" % text)
    year, month, day, hh, mi, ss, frac, tz = m.groups()
    tzinfo = datetime.timezone.utc
    if tz and tz != "Z":
        sign = -1 if tz[0] == "-" else 1
        digits = tz[1:].replace(":", "")
        tzinfo = datetime.timezone(sign * datetime.timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    micro = int((frac or "0").ljust(6, "0")[:6])
    dt = datetime.datetime(int(year), int(month), int(day), int(hh or 0), int(mi or 0), int(ss or 0),
                           micro, tzinfo=tzinfo)
    delta = dt - EPOCH
    return (delta.days * 86400 + delta.seconds) * 1000 + delta.microseconds // 1000


def _enc_date(t, value):
    if isinstance(value, datetime.datetime):
        value = value.date()
    if isinstance(value, datetime.date):
        days = (value - EPOCH_DATE).days
    elif isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"\d+", text):
            return _UINT32.pack(int(text))
        try:
            days = (datetime.date.fromisoformat(text) - EPOCH_DATE).days
        except ValueError:
            raise InvalidRequest("Unable to coerce '%s' to a formatted date" % value) from None
    else:
        # An integer date literal is the raw unsigned value (2**31 is the epoch), as in CQL.
        raw = _to_int(value, 0, "date")
        if not 0 <= raw < (1 << 32):
            raise InvalidRequest("Unable to make unsigned int (for date) from: '%s'" % value)
        return _UINT32.pack(raw)
    if not -(1 << 31) <= days < (1 << 31):
        raise InvalidRequest("Date out of range: %s" % value)
    return _UINT32.pack(days + (1 << 31))


def _enc_time(t, value):
    if isinstance(value, datetime.time):
        nanos = ((value.hour * 60 + value.minute) * 60 + value.second) * 10**9 + value.microsecond * 1000
    elif isinstance(value, str):
        m = re.fullmatch(r"\s*(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?\s*", value)
        if not m:
            raise InvalidRequest("Unable to coerce '%s' to a formatted time" % value)
        hh, mi, ss, frac = m.groups()
        nanos = ((int(hh) * 60 + int(mi)) * 60 + int(ss)) * 10**9 + int((frac or "0").ljust(9, "0"))
    else:
        nanos = _to_int(value, 64, "time")
    if not 0 <= nanos < 86400 * 10**9:
        raise InvalidRequest("Invalid time value %r" % value)
    return _INT64.pack(nanos)


def _enc_uuid(t, value):
    if isinstance(value, str):
        value = uuid.UUID(value)
    if not isinstance(value, uuid.UUID):
        raise InvalidRequest("Invalid %s value %r" % (t.name, value))
    if t.name == "timeuuid" and value.version != 1:
        raise InvalidRequest("Invalid version for TimeUUID type")
    return value.bytes


def _enc_decimal(t, value):
    if isinstance(value, float):
        value = decimal.Decimal(repr(value))
    elif not isinstance(value, decimal.Decimal):
        value = decimal.Decimal(str(value))
    if not value.is_finite():
        raise InvalidRequest("Invalid decimal value %r" % value)
    sign, digits, exponent = value.as_tuple()
    unscaled = int("".join(map(str, digits)) or "0")
    if sign:
        unscaled = -unscaled
    return _INT32.pack(-exponent) + varint_encode(unscaled)


def _dec_decimal(t, data):
    scale = _INT32.unpack_from(data)[0]
    unscaled = varint_decode(data[4:])
    return decimal.Decimal(unscaled).scaleb(-scale)


def _enc_float(t, value, packer):
    if isinstance(value, str):
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float, decimal.Decimal)):
        raise InvalidRequest("Invalid %s value %r" % (t.name, value))
    return packer.pack(float(value))


def _enc_text(t, value):
    if not isinstance(value, str):
        raise InvalidRequest("Invalid %s value %r" % (t.name, value))
    if t.name == "ascii" and not value.isascii():
        raise InvalidRequest("Invalid ASCII character in string literal")
    return value.encode("utf-8")


def _enc_blob(t, value):
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise InvalidRequest("Invalid blob value %r" % (value,))


def _enc_bool(t, value):
    if isinstance(value, bool):
        return b"\x01" if value else b"\x00"
    raise InvalidRequest("Invalid boolean value %r" % (value,))


def _enc_inet(t, value):
    if isinstance(value, str):
        value = ipaddress.ip_address(value)
    if isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return value.packed
    raise InvalidRequest("Invalid inet value %r" % (value,))


def _enc_list(t, value):
    if isinstance(value, (set, frozenset, dict, str, bytes)) and t.name == "list":
        raise InvalidRequest("Invalid list value %r" % (value,))
    sub = t.subtypes[0]
    items = []
    for item in value:
        if item is None:
            raise InvalidRequest("null is not supported inside collections")
        items.append(sub.encode(item))
    if t.name == "set":
        items = _sort_unique(sub, items)
    if not items and not t.frozen:
        return None
    return _INT32.pack(len(items)) + b"".join(pack_bytes(i) for i in items)


def _sort_unique(sub, items):
    unique = {bytes(i): None for i in items}
    key = sub.order_key if sub.orderable else (lambda b: b)
    return sorted(unique, key=key)


def _enc_map(t, value):
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, (list, tuple)) and all(isinstance(p, tuple) and len(p) == 2 for p in value):
        items = value
    else:
        raise InvalidRequest("Invalid map value %r" % (value,))
    kt, vt = t.subtypes
    pairs = {}
    for k, v in items:
        if k is None or v is None:
            raise InvalidRequest("null is not supported inside collections")
        pairs[kt.encode(k)] = vt.encode(v)
    if not pairs and not t.frozen:
        return None
    key = kt.order_key if kt.orderable else (lambda b: b)
    keys = sorted(pairs, key=key)
    return _INT32.pack(len(keys)) + b"".join(pack_bytes(k) + pack_bytes(pairs[k]) for k in keys)


def _read_items(data, count_pairs=1):
    n = _INT32.unpack_from(data)[0]
    if n < 0:
        raise InvalidRequest("Invalid collection size")
    pos = 4
    out = []
    for _ in range(n * count_pairs):
        size = _INT32.unpack_from(data, pos)[0]
        pos += 4
        if size < 0:
            raise InvalidRequest("null is not supported inside collections")
        if pos + size > len(data):
            raise InvalidRequest("Truncated collection value")
        out.append(data[pos:pos + size])
        pos += size
    if pos != len(data):
        raise InvalidRequest("Invalid collection value (trailing bytes)")
    return out


def _dec_list(t, data):
    sub = t.subtypes[0]
    items = [sub.decode(sub.validate(i, "collection element")) for i in _read_items(data)]
    return items if t.name == "list" else _SetValue(items)


class _SetValue(list):
    """Decoded set, kept as a list so unhashable values do not matter."""


def _dec_map(t, data):
    kt, vt = t.subtypes
    raw = _read_items(data, 2)
    return [(kt.decode(kt.validate(raw[i], "map key")), vt.decode(vt.validate(raw[i + 1], "map value")))
            for i in range(0, len(raw), 2)]


def _enc_set(t, value):
    return _enc_list(t, list(value))


_ENCODERS = {
    "ascii": _enc_text,
    "text": _enc_text,
    "bigint": lambda t, v: _INT64.pack(_to_int(v, 64, "bigint")),
    "int": lambda t, v: _INT32.pack(_to_int(v, 32, "int")),
    "smallint": lambda t, v: _INT16.pack(_to_int(v, 16, "smallint")),
    "tinyint": lambda t, v: _INT8.pack(_to_int(v, 8, "tinyint")),
    "varint": lambda t, v: varint_encode(_to_int(v, 0, "varint")),
    "blob": _enc_blob,
    "boolean": _enc_bool,
    "decimal": _enc_decimal,
    "double": lambda t, v: _enc_float(t, v, _DOUBLE),
    "float": lambda t, v: _enc_float(t, v, _FLOAT),
    "timestamp": _enc_timestamp,
    "date": _enc_date,
    "time": _enc_time,
    "uuid": _enc_uuid,
    "timeuuid": _enc_uuid,
    "inet": _enc_inet,
    "list": _enc_list,
    "set": _enc_set,
    "map": _enc_map,
}

_DECODERS = {
    "ascii": lambda t, d: d.decode("ascii"),
    "text": lambda t, d: d.decode("utf-8"),
    "bigint": lambda t, d: _INT64.unpack(d)[0],
    "int": lambda t, d: _INT32.unpack(d)[0],
    "smallint": lambda t, d: _INT16.unpack(d)[0],
    "tinyint": lambda t, d: _INT8.unpack(d)[0],
    "varint": lambda t, d: varint_decode(d),
    "blob": lambda t, d: bytes(d),
    "boolean": lambda t, d: d != b"\x00",
    "decimal": _dec_decimal,
    "double": lambda t, d: _DOUBLE.unpack(d)[0],
    "float": lambda t, d: _FLOAT.unpack(d)[0],
    "timestamp": lambda t, d: _INT64.unpack(d)[0],
    "date": lambda t, d: EPOCH_DATE + datetime.timedelta(days=_UINT32.unpack(d)[0] - (1 << 31)),
    "time": lambda t, d: _INT64.unpack(d)[0],
    "uuid": lambda t, d: uuid.UUID(bytes=bytes(d)),
    "timeuuid": lambda t, d: uuid.UUID(bytes=bytes(d)),
    "inet": lambda t, d: ipaddress.ip_address(bytes(d)),
    "list": _dec_list,
    "set": _dec_list,
    "map": _dec_map,
}


# ------------------------------------------------------------ ordering keys
def _escape(data: bytes) -> bytes:
    """Order-preserving, prefix-free encoding of a variable-length byte string."""
    return data.replace(b"\x00", b"\x00\xff") + b"\x00\x00"


def _signed_key(data: bytes) -> bytes:
    return bytes([data[0] ^ 0x80]) + data[1:]


def _float_key(data: bytes) -> bytes:
    if data[0] & 0x80:
        return bytes(b ^ 0xFF for b in data)
    return bytes([data[0] ^ 0x80]) + data[1:]


def _uuid_key(data: bytes) -> bytes:
    # Cassandra's UUIDType orders by version first, time-based UUIDs by their timestamp.
    version = data[6] >> 4
    if version == 1:
        return bytes([version]) + _timeuuid_ts(data) + data
    return bytes([version]) + data


def _timeuuid_ts(data: bytes) -> bytes:
    time_low = data[0:4]
    time_mid = data[4:6]
    time_hi = bytes([data[6] & 0x0F, data[7]])
    return time_hi + time_mid + time_low


def _timeuuid_key(data: bytes) -> bytes:
    # TimeUUIDType: timestamp first, then the remaining bytes compared as signed bytes.
    return _timeuuid_ts(data) + bytes(b ^ 0x80 for b in data[8:]) + data[:8]


def _varint_key(data: bytes) -> bytes:
    n = varint_decode(data)
    return _int_key(n)


def _int_key(n: int) -> bytes:
    if n >= 0:
        mag = n.to_bytes(max(1, (n.bit_length() + 7) // 8), "big")
        return b"\x80" + bytes([0x80 + len(mag)]) + mag
    m = -n
    mag = m.to_bytes(max(1, (m.bit_length() + 7) // 8), "big")
    inv = bytes(b ^ 0xFF for b in mag)
    return b"\x7f" + bytes([0x7F - len(mag)]) + inv


def _decimal_key(data: bytes) -> bytes:
    # Order-preserving key for decimals: sign, adjusted exponent, digits.
    value = _dec_decimal(None, data)
    if value == 0:
        return b"\x80"
    sign, digits, exponent = value.as_tuple()
    digits = "".join(map(str, digits)).rstrip("0") or "0"
    adjusted = value.adjusted()
    exp_key = (adjusted + (1 << 31)).to_bytes(4, "big")
    body = exp_key + digits.encode() + b"\x00"
    if sign:
        return b"\x7f" + bytes(b ^ 0xFF for b in body)
    return b"\x81" + body


_ORDER_KEYS = {
    "ascii": _escape,
    "text": _escape,
    "blob": _escape,
    "inet": _escape,
    "bigint": _signed_key,
    "timestamp": _signed_key,
    "int": _signed_key,
    "smallint": _signed_key,
    "tinyint": _signed_key,
    "time": lambda d: d,
    "date": lambda d: d,
    "boolean": lambda d: d,
    "double": _float_key,
    "float": _float_key,
    "uuid": _uuid_key,
    "timeuuid": _timeuuid_key,
    "varint": _varint_key,
    "decimal": _decimal_key,
}
