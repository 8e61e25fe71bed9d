"""Native protocol v4 framing: opcodes, body readers and writers, result messages."""

from __future__ import annotations

import struct

from .errors import ProtocolError

VERSION = 4
RESPONSE_VERSION = 0x80 | VERSION
HEADER = struct.Struct(">BBhBi")

# opcodes
ERROR = 0x00
STARTUP = 0x01
READY = 0x02
AUTHENTICATE = 0x03
OPTIONS = 0x05
SUPPORTED = 0x06
QUERY = 0x07
RESULT = 0x08
PREPARE = 0x09
EXECUTE = 0x0A
REGISTER = 0x0B
EVENT = 0x0C
BATCH = 0x0D
AUTH_RESPONSE = 0x0F

# result kinds
VOID = 0x0001
ROWS = 0x0002
SET_KEYSPACE = 0x0003
PREPARED = 0x0004
SCHEMA_CHANGE = 0x0005

# query parameter flags
F_VALUES = 0x01
F_SKIP_METADATA = 0x02
F_PAGE_SIZE = 0x04
F_PAGING_STATE = 0x08
F_SERIAL_CONSISTENCY = 0x10
F_DEFAULT_TIMESTAMP = 0x20
F_NAMES = 0x40

# rows metadata flags
M_GLOBAL_TABLES_SPEC = 0x0001
M_HAS_MORE_PAGES = 0x0002
M_NO_METADATA = 0x0004

_I32 = struct.Struct(">i")
_U16 = struct.Struct(">H")
_I64 = struct.Struct(">q")

UNSET = object()  # protocol v4 "not set" bind value (length -2)


class Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def _need(self, n):
        if self.pos + n > len(self.data):
            raise ProtocolError("Truncated message body")

    def byte(self) -> int:
        self._need(1)
        v = self.data[self.pos]
        self.pos += 1
        return v

    def short(self) -> int:
        self._need(2)
        v = _U16.unpack_from(self.data, self.pos)[0]
        self.pos += 2
        return v

    def int(self) -> int:
        self._need(4)
        v = _I32.unpack_from(self.data, self.pos)[0]
        self.pos += 4
        return v

    def long(self) -> int:
        self._need(8)
        v = _I64.unpack_from(self.data, self.pos)[0]
        self.pos += 8
        return v

    def raw(self, n) -> bytes:
        self._need(n)
        v = self.data[self.pos:self.pos + n]
        self.pos += n
        return v

    def string(self) -> str:
        return self.raw(self.short()).decode("utf-8")

    def long_string(self) -> str:
        n = self.int()
        if n < 0:
            raise ProtocolError("Negative long string length")
        return self.raw(n).decode("utf-8")

    def short_bytes(self) -> bytes:
        return self.raw(self.short())

    def bytes(self):
        n = self.int()
        if n == -1:
            return None
        if n == -2:
            return UNSET
        if n < 0:
            raise ProtocolError("Invalid value length %d" % n)
        return self.raw(n)

    def values(self, n: int) -> list:
        """``n`` consecutive [value]s (bytes, None for null, UNSET for not set)."""
        data = self.data
        pos = self.pos
        limit = len(data)
        unpack = _I32.unpack_from
        out = []
        append = out.append
        for _ in range(n):
            if pos + 4 > limit:
                raise ProtocolError("Truncated message body")
            size = unpack(data, pos)[0]
            pos += 4
            if size >= 0:
                end = pos + size
                if end > limit:
                    raise ProtocolError("Truncated message body")
                append(data[pos:end])
                pos = end
            elif size == -1:
                append(None)
            elif size == -2:
                append(UNSET)
            else:
                raise ProtocolError("Invalid value length %d" % size)
        self.pos = pos
        return out

    def string_map(self) -> dict:
        return {self.string(): self.string() for _ in range(self.short())}

    def string_list(self) -> list:
        return [self.string() for _ in range(self.short())]


def pack_string(s: str) -> bytes:
    b = s.encode("utf-8")
    return _U16.pack(len(b)) + b


def pack_long_string(s: str) -> bytes:
    b = s.encode("utf-8")
    return _I32.pack(len(b)) + b


def pack_short_bytes(b: bytes) -> bytes:
    return _U16.pack(len(b)) + b


def pack_int(n: int) -> bytes:
    return _I32.pack(n)


def pack_string_multimap(m: dict) -> bytes:
    out = [_U16.pack(len(m))]
    for k, values in m.items():
        out.append(pack_string(k))
        out.append(_U16.pack(len(values)))
        out.extend(pack_string(v) for v in values)
    return b"".join(out)


def frame(opcode: int, stream: int, body: bytes, version: int = RESPONSE_VERSION) -> bytes:
    return HEADER.pack(version, 0, stream, opcode, len(body)) + body


class QueryParams:
    __slots__ = ("consistency", "values", "names", "skip_metadata", "page_size", "paging_state",
                 "serial_consistency", "timestamp")

    def __init__(self):
        self.consistency = 1
        self.values = []
        self.names = None
        self.skip_metadata = False
        self.page_size = -1
        self.paging_state = None
        self.serial_consistency = None
        self.timestamp = None


def read_query_params(r: Reader) -> QueryParams:
    p = QueryParams()
    p.consistency = r.short()
    flags = r.byte()
    if flags & F_VALUES:
        n = r.short()
        if flags & F_NAMES:
            names = []
            values = []
            for _ in range(n):
                names.append(r.string())
                values.append(r.bytes())
            p.names = names
            p.values = values
        else:
            p.values = r.values(n)
    p.skip_metadata = bool(flags & F_SKIP_METADATA)
    if flags & F_PAGE_SIZE:
        p.page_size = r.int()
    if flags & F_PAGING_STATE:
        ps = r.bytes()
        p.paging_state = ps if isinstance(ps, bytes) else None
    if flags & F_SERIAL_CONSISTENCY:
        p.serial_consistency = r.short()
    if flags & F_DEFAULT_TIMESTAMP:
        p.timestamp = r.long()
    return p


def column_specs(columns, keyspace: str, table: str) -> bytes:
    """Global-table-spec column list: columns are (name, CqlType)."""
    out = [pack_string(keyspace), pack_string(table)]
    for name, ctype in columns:
        out.append(pack_string(name))
        out.append(ctype.option())
    return b"".join(out)


def rows_metadata(columns, keyspace, table, paging_state=None, no_metadata=False) -> bytes:
    flags = 0
    if paging_state is not None:
        flags |= M_HAS_MORE_PAGES
    if no_metadata:
        flags |= M_NO_METADATA
    elif columns:
        flags |= M_GLOBAL_TABLES_SPEC
    out = [_I32.pack(flags), _I32.pack(len(columns))]
    if paging_state is not None:
        out.append(_I32.pack(len(paging_state)) + paging_state)
    if not no_metadata and columns:
        out.append(column_specs(columns, keyspace, table))
    return b"".join(out)


def rows_result(columns, keyspace, table, row_count, rows_bytes, paging_state=None,
                no_metadata=False) -> bytes:
    return b"".join((_I32.pack(ROWS), rows_metadata(columns, keyspace, table, paging_state, no_metadata),
                     _I32.pack(row_count), rows_bytes))


def void_result() -> bytes:
    return _I32.pack(VOID)


def set_keyspace_result(keyspace: str) -> bytes:
    return _I32.pack(SET_KEYSPACE) + pack_string(keyspace)


def schema_change_result(change: str, target: str, keyspace: str, table: str | None = None) -> bytes:
    out = _I32.pack(SCHEMA_CHANGE) + pack_string(change) + pack_string(target) + pack_string(keyspace)
    if table is not None:
        out += pack_string(table)
    return out


def prepared_result(query_id: bytes, bind_columns, pk_indexes, result_columns, keyspace, table) -> bytes:
    flags = M_GLOBAL_TABLES_SPEC if bind_columns else 0
    out = [_I32.pack(PREPARED), pack_short_bytes(query_id), _I32.pack(flags), _I32.pack(len(bind_columns)),
           _I32.pack(len(pk_indexes))]
    out.extend(_U16.pack(i) for i in pk_indexes)
    if bind_columns:
        out.append(column_specs(bind_columns, keyspace, table))
    out.append(rows_metadata(result_columns, keyspace, table, no_metadata=not result_columns))
    return b"".join(out)


def error_body(code: int, message: str, extra: bytes = b"") -> bytes:
    return _I32.pack(code) + pack_string(message) + extra
