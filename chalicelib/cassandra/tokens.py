"""Murmur3 token arithmetic, identical to Cassandra's ``Murmur3Partitioner``.

Token ranges
------------
A :class:`TokenRange` is ``(start, end]``: exclusive start, inclusive end, exactly the semantics
of ``WHERE token(pk) > start AND token(pk) <= end``.

The Murmur3 ring spans ``[-2**63, 2**63 - 1]``, but the partitioner never assigns the minimum
token to a key: when the 64-bit hash of a key is ``-2**63`` Cassandra normalises it to
``2**63 - 1`` (``Murmur3Partitioner.normalize``; the driver's ``Murmur3Token.hash_fn`` does the
same, and :func:`token_for` mirrors it). So ``(MIN_TOKEN, x]`` covers every key from the bottom of
the ring, and ``(MIN_TOKEN, MAX_TOKEN]`` is the whole ring.

A range whose start is not below its end wraps around the ring: ``(s, e]`` with ``s >= e`` means
``(s, MAX_TOKEN] + (MIN_TOKEN, e]``, and ``s == e`` is the full ring (Cassandra's convention).
:meth:`TokenRange.unwrap` splits any range into non-wrapping pieces that can be queried directly.

Token of a key
--------------
Cassandra hashes the serialized partition key: for a single-column key, the column value in its
native-protocol encoding; for a composite key, per component ``len (2 bytes, big endian) + bytes +
0x00``. :func:`token_for` does exactly that with the driver's own serializers and its Murmur3 (C
extension when available). :class:`TokenFunction` is the fast path for many keys of one table.
"""

from __future__ import annotations

import bisect
import re
import struct
from datetime import datetime, timedelta
from collections.abc import Iterable, Sequence
from typing import Any, Callable, NamedTuple

from cassandra import cqltypes
from cassandra.murmur3 import murmur3

MIN_TOKEN = -(2**63)
MAX_TOKEN = 2**63 - 1

# Serialization format of collections inside keys is that of protocol v3+ (32-bit lengths),
# which is also Cassandra's storage format.
_SERIALIZE_PROTOCOL = 4


class TokenRange(NamedTuple):
    """``(start, end]`` on the Murmur3 ring; wraps around when ``start >= end``."""

    start: int
    end: int

    @property
    def wraps(self) -> bool:
        return self.start >= self.end and self.end != MIN_TOKEN

    def unwrap(self) -> list[TokenRange]:
        """Non-wrapping pieces ``(s, e]`` with ``s < e`` covering the same tokens."""
        start, end = self.start, self.end
        if end == MIN_TOKEN:  # (s, MIN] ends at the ring's end: no key has MIN_TOKEN
            end = MAX_TOKEN
        if start < end:
            return [TokenRange(start, end)]
        pieces = []
        if start < MAX_TOKEN:
            pieces.append(TokenRange(start, MAX_TOKEN))
        if end > MIN_TOKEN:
            pieces.append(TokenRange(MIN_TOKEN, end))
        return pieces

    def contains(self, token: int) -> bool:
        return any(s < token <= e for s, e in self.unwrap())

    def __str__(self) -> str:
        return f"({self.start}, {self.end}]"


def validate_token(token: int) -> int:
    if isinstance(token, bool) or not isinstance(token, int):
        raise TypeError(f"token must be an int, got {type(token).__name__}")
    if not MIN_TOKEN <= token <= MAX_TOKEN:
        raise ValueError(f"token {token} outside the Murmur3 ring [{MIN_TOKEN}, {MAX_TOKEN}]")
    return token


def split_ring(n: int) -> list[TokenRange]:
    """``n`` contiguous ranges covering the whole ring, the first starting at ``MIN_TOKEN``.

    Each range's start is the previous range's end; the last one ends at ``MAX_TOKEN``. Sizes
    differ by at most one token.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"number of ranges must be a positive int, got {n!r}")
    span = MAX_TOKEN - MIN_TOKEN  # tokens in (MIN_TOKEN, MAX_TOKEN]
    if n > span:
        raise ValueError(f"cannot split the ring into {n} non-empty ranges")
    bounds = [MIN_TOKEN + (span * i) // n for i in range(n + 1)]
    return [TokenRange(bounds[i], bounds[i + 1]) for i in range(n)]


def segment_of(token: int, ranges: Sequence[TokenRange]) -> int:
    """Index of the range holding ``token``, by bisection on the range ends.

    ``ranges`` must be sorted, contiguous and non-wrapping, as :func:`split_ring` returns them.
    A token outside them (``MIN_TOKEN`` for a full-ring split, which no key ever has) raises
    ``ValueError``, in agreement with ``token > start AND token <= end`` on either database.
    """
    if not ranges:
        raise ValueError("no ranges")
    i = bisect.bisect_left(ranges, token, key=_range_end)
    if i == len(ranges) or token <= ranges[i].start:
        raise ValueError(f"token {token} is not covered by the given ranges")
    return i


def _range_end(r: TokenRange) -> int:
    return r.end


# --------------------------------------------------------------------------------------------
# CQL type names -> driver serializers


_TYPE_TOKEN = re.compile(r"\s*([A-Za-z0-9_.]+|[<>,])")


def cql_type(type_string: str) -> type:
    """Driver type class for a CQL type such as ``text``, ``list<int>``, ``frozen<map<text,int>>``."""
    if not isinstance(type_string, str) or not type_string.strip():
        raise ValueError(f"invalid CQL type {type_string!r}")
    tokens = []
    pos = 0
    text = type_string.strip()
    while pos < len(text):
        m = _TYPE_TOKEN.match(text, pos)
        if not m:
            raise ValueError(f"invalid CQL type {type_string!r}")
        tokens.append(m.group(1))
        pos = m.end()
    result, rest = _parse_type(tokens, type_string)
    if rest:
        raise ValueError(f"invalid CQL type {type_string!r}")
    return result


def _parse_type(tokens: list[str], original: str) -> tuple[type, list[str]]:
    if not tokens or tokens[0] in "<>,":
        raise ValueError(f"invalid CQL type {original!r}")
    name, rest = tokens[0].lower(), tokens[1:]
    params: list[type] = []
    if rest and rest[0] == "<":
        rest = rest[1:]
        while True:
            sub, rest = _parse_type(rest, original)
            params.append(sub)
            if not rest:
                raise ValueError(f"invalid CQL type {original!r}")
            sep, rest = rest[0], rest[1:]
            if sep == ">":
                break
            if sep != ",":
                raise ValueError(f"invalid CQL type {original!r}")
    if name == "frozen":
        if len(params) != 1:
            raise ValueError(f"invalid CQL type {original!r}")
        return params[0], rest
    try:
        base = cqltypes._cqltypes[name]
    except KeyError:
        raise ValueError(f"unsupported CQL type {name!r} in {original!r}") from None
    if params:
        return base.apply_parameters(params), rest
    if name in ("list", "set", "map", "tuple"):
        raise ValueError(f"CQL type {name!r} needs type parameters in {original!r}")
    return base, rest


# --------------------------------------------------------------------------------------------
# Tokens of keys


def _normalize(h: int) -> int:
    return MAX_TOKEN if h == MIN_TOKEN else h


class TokenFunction:
    """Computes tokens for many keys of one partition-key shape, serializers bound once.

    >>> tf = TokenFunction(["text"]); tf(["user-1"]) == token_for(["user-1"], ["text"])
    True
    """

    __slots__ = ("cql_types", "_fn")

    def __init__(self, cql_types: Sequence[str]):
        if not cql_types:
            raise ValueError("a partition key has at least one column")
        self.cql_types = tuple(cql_types)
        serializers = [_serializer(t) for t in self.cql_types]
        self._fn = _build(serializers)

    def __call__(self, partition_key_values: Sequence[Any]) -> int:
        if len(partition_key_values) != len(self.cql_types):
            raise ValueError(
                f"expected {len(self.cql_types)} partition key values, got {len(partition_key_values)}"
            )
        return self._fn(partition_key_values)

    def many(self, keys: Iterable[Sequence[Any]]) -> list[int]:
        """Tokens of many keys (no per-key length check: the fast path)."""
        fn = self._fn
        return [fn(k) for k in keys]


def _floor_to_millisecond(serialize: Callable[[Any, int], bytes]) -> Callable[[Any, int], bytes]:
    """A timestamp serializer that floors a datetime's microseconds to the millisecond first. The
    driver computes epoch milliseconds as a float and truncates it toward zero, so a pre-1970 value
    with microseconds below the millisecond (`1969-12-31T23:59:59.999500`) would hash as the next
    millisecond (`1970-01-01T00:00:00.000`), while the canonical form, Cassandra's Java clients and
    PostgreSQL's `floor` take the millisecond below: a PostgreSQL row keyed so would get another
    token, and so another segment, than the Cassandra row it is compared with."""

    def ser(value: Any, proto: int) -> bytes:
        if isinstance(value, datetime) and value.microsecond % 1000:
            value = value - timedelta(microseconds=value.microsecond % 1000)
        return serialize(value, proto)

    return ser


def _serializer(type_string: str) -> Callable[[Any], bytes]:
    ctype = cql_type(type_string)
    serialize = ctype.serialize
    if issubclass(ctype, cqltypes.DateType):  # timestamp
        serialize = _floor_to_millisecond(serialize)
    proto = _SERIALIZE_PROTOCOL

    def ser(value: Any) -> bytes:
        if value is None:
            raise ValueError(f"partition key component of type {type_string} cannot be null")
        return serialize(value, proto)

    ser.raw = serialize  # type: ignore[attr-defined]
    return ser


def _build(serializers: list[Callable[[Any], bytes]]) -> Callable[[Sequence[Any]], int]:
    if len(serializers) == 1:
        ser = serializers[0].raw  # type: ignore[attr-defined]
        checked = serializers[0]
        proto = _SERIALIZE_PROTOCOL

        def single(values: Sequence[Any]) -> int:
            v = values[0]
            h = murmur3(ser(v, proto) if v is not None else checked(v))
            return MAX_TOKEN if h == MIN_TOKEN else h

        return single

    pack = struct.pack

    def composite(values: Sequence[Any]) -> int:
        parts = []
        for s, v in zip(serializers, values):
            b = s(v)
            parts.append(pack(">H", len(b)))
            parts.append(b)
            parts.append(b"\x00")
        h = murmur3(b"".join(parts))
        return MAX_TOKEN if h == MIN_TOKEN else h

    return composite


_TOKEN_FUNCTIONS: dict[tuple[str, ...], TokenFunction] = {}


def token_function(cql_types: Sequence[str]) -> TokenFunction:
    key = tuple(cql_types)
    fn = _TOKEN_FUNCTIONS.get(key)
    if fn is None:
        fn = _TOKEN_FUNCTIONS[key] = TokenFunction(key)
    return fn


def token_for(partition_key_values: Sequence[Any], cql_types: Sequence[str]) -> int:
    """Cassandra's Murmur3 token of a partition key given its values and CQL types."""
    if len(partition_key_values) != len(cql_types):
        raise ValueError(
            f"{len(partition_key_values)} partition key values for {len(cql_types)} types"
        )
    return token_function(cql_types)(partition_key_values)


def routing_key(partition_key_values: Sequence[Any], cql_types: Sequence[str]) -> bytes:
    """The serialized partition key Cassandra hashes (mainly for tests and diagnostics)."""
    serialized = [_serializer(t)(v) for v, t in zip(partition_key_values, cql_types, strict=True)]
    if len(serialized) == 1:
        return serialized[0]
    return b"".join(struct.pack(">H", len(b)) + b + b"\x00" for b in serialized)


def token_of_routing_key(key: bytes) -> int:
    return _normalize(murmur3(key))
