"""Reads the PostgreSQL side of a replicated table: by token range (ordered by token), by key, by
modification time, and samples it; also maintains the token column.

The Cassandra Murmur3 token of each row's partition key lives in a bigint column of the PostgreSQL
table (catalog `postgres.token_column`, default `recon_token`, btree-indexed): written by the CDC sink
when it can, back-filled by recon for rows that lack it. With it, a token range is an index range
scan on PostgreSQL, so both engines are cut into the same segments (docs/decisions.md).

Rows are tuples `(token, *values)` in the catalog's column order, like the Cassandra reader's.
Identifiers reach SQL only through psycopg.sql.Identifier; values are always bound.
"""
from __future__ import annotations

import marshal
import threading
from contextlib import contextmanager
from typing import Iterator, Sequence

import psycopg
from psycopg import sql

from chalicelib.cdc.catalog import TableConfig
from chalicelib.db.pool import get_pool

_DONE = object()


def _prefetched(make_rows, chunk: int = 2000, depth: int = 4) -> Iterator[tuple]:
    """Iterate `make_rows()` in a reader thread, at most `depth` chunks ahead of the consumer.
    Errors in the reader are raised in the consumer; a consumer that stops early stops the reader."""
    import queue

    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.5)
                return True
            except queue.Full:
                continue
        return False

    def reader() -> None:
        try:
            buf = []
            for row in make_rows():
                buf.append(row)
                if len(buf) >= chunk:
                    if not put(buf):
                        return
                    buf = []
            if buf:
                put(buf)
            put(_DONE)
        except BaseException as exc:  # handed to the consumer
            put(exc)

    t = threading.Thread(target=reader, name="pg-prefetch", daemon=True)
    t.start()

    def consume() -> Iterator[tuple]:
        try:
            while True:
                item = q.get()
                if item is _DONE:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield from item
        finally:
            stop.set()
            t.join(timeout=30)

    return consume()


# ------------------------------------------------------------------------------ wire rows
# The serialized form Cassandra gives a value (native protocol v3+), produced by PostgreSQL
# from its own column: equal bytes mean equal canonical values (docs/canonical-form.md, "Wire
# comparison"). A value that cannot be encoded (NaN or infinite numeric, infinite timestamp, an
# unscaled decimal of more than 18 digits, a null array element) becomes b'\xff', which no
# Cassandra value of the type serializes to: the row differs and goes through the decoded
# comparison.
_BAD = sql.SQL("'\\xff'::bytea")
_TEXT_PG = ("text", "character varying", "character", "varchar", "bpchar", "name")
_TEXT_ARRAY_PG = ("text[]", "character varying[]")


def _base_pg(pg_type: str) -> str:
    t = (pg_type or "").lower()
    arr = t.endswith("[]")
    if "(" in t:  # varchar(20), numeric(12,2), timestamp(3) with time zone
        t = t[: t.index("(")] + t[t.index(")") + 1:]
    return t.strip() + ("[]" if arr and not t.endswith("[]") else "")


def wire_expression(cql, pg_type: str, col: sql.Composable) -> tuple[sql.Composable, int | None] | None:
    """(SQL expression giving the bytes Cassandra serializes the value of `col` to, or NULL for
    a null; fixed length or None) for a CQL type (canonical.CqlType) stored in a PostgreSQL
    column of `pg_type`; None when the pair has no exact encoding here."""
    pg = _base_pg(pg_type)
    name, fam = cql.name, cql.family
    if fam == "text" and pg in _TEXT_PG:
        return sql.SQL("convert_to({}::text, 'UTF8')").format(col), None
    if name == "int" and pg in ("integer", "smallint"):
        return sql.SQL("int4send({}::int4)").format(col), 4
    if name == "bigint" and pg in ("bigint", "integer", "smallint"):
        return sql.SQL("int8send({}::int8)").format(col), 8
    if name == "smallint" and pg == "smallint":
        return sql.SQL("int2send({})").format(col), 2
    if fam == "boolean" and pg == "boolean":
        return sql.SQL("boolsend({})").format(col), 1
    if fam == "double" and pg == "double precision":
        return sql.SQL("float8send({})").format(col), 8
    if fam == "float" and pg == "real":
        return sql.SQL("float4send({})").format(col), 4
    if fam == "uuid" and pg == "uuid":
        return sql.SQL("uuid_send({})").format(col), 16
    if fam == "blob" and pg == "bytea":
        return col, None
    if fam == "timestamp" and pg in ("timestamp with time zone", "timestamp without time zone"):
        # epoch milliseconds, PostgreSQL's microseconds truncated toward the millisecond (floor)
        return sql.SQL(
            "CASE WHEN {c} IS NULL THEN NULL WHEN isfinite({c}) THEN int8send(floor(extract(epoch FROM {c}) * 1000)::int8)"
            " ELSE {bad} END").format(c=col, bad=_BAD), None
    if fam == "decimal" and pg == "numeric":
        # int32 scale + the unscaled value as a minimal two's-complement varint: n bytes, n the
        # significant bytes of 2*(u XOR sign) (u < 2^62: at most 18 digits, else the sentinel);
        # a scale other than Cassandra's makes the bytes differ (then the decoded comparison)
        u = sql.SQL("replace({c}::text, '.', '')::int8").format(c=col)
        return sql.SQL(
            "CASE WHEN {c} IS NULL THEN NULL"
            " WHEN scale({c}) IS NULL OR length(translate({c}::text, '-.', '')) > 18 THEN {bad}"
            " ELSE int4send(scale({c})) || substring(int8send({u}) FROM 9 - greatest(1, octet_length("
            "ltrim(int8send(({u} # ({u} >> 63)) << 1), '\\x00'::bytea)))) END"
        ).format(c=col, bad=_BAD, u=u), None
    if fam in ("set", "list") and cql.params and cql.params[0].family == "text" and pg in _TEXT_ARRAY_PG:
        # int32 count + (int32 length + UTF-8) per element, in the array's order: Cassandra sends
        # a set sorted, so an array holding the set in another order (or with repeats) gives other
        # bytes and is compared decoded; an empty array is null (Cassandra's empty collection)
        if fam == "set":
            inner = sql.SQL("SELECT convert_to(e, 'UTF8') AS b FROM unnest({c}) e").format(c=col)
            agg = sql.SQL("string_agg(int4send(octet_length(b)) || b, ''::bytea)")
        else:
            inner = sql.SQL("SELECT convert_to(e, 'UTF8') AS b, o FROM unnest({c}) WITH ORDINALITY x(e, o)").format(c=col)
            agg = sql.SQL("string_agg(int4send(octet_length(b)) || b, ''::bytea ORDER BY o)")
        # small one-dimensional arrays inline (no subquery per row); a null element makes the
        # inline form null, turned into the sentinel (never null: that would be an empty set)
        def elem(i: int) -> sql.Composable:
            e = sql.SQL("convert_to({c}[{i}], 'UTF8')").format(c=col, i=sql.Literal(i))
            return sql.SQL("int4send(octet_length({e})) || {e}").format(e=e)

        inline = [
            sql.SQL("WHEN {n} THEN coalesce({cnt} || {els}, {bad})").format(
                n=sql.Literal(n), cnt=_bytea(n.to_bytes(4, "big")), els=sql.SQL(" || ").join(elem(i) for i in range(1, n + 1)),
                bad=_BAD)
            for n in (1, 2, 3)
        ]
        return sql.SQL(
            "CASE WHEN cardinality({c}) > 0 THEN CASE WHEN array_ndims({c}) = 1 AND array_lower({c}, 1) = 1"
            " AND cardinality({c}) <= 3 THEN CASE cardinality({c}) {inline} END"
            " ELSE (SELECT int4send(count(*)::int4) || coalesce({agg}, ''::bytea) FROM ({inner}) s) END END"
        ).format(c=col, inline=sql.SQL(" ").join(inline), agg=agg, inner=inner), None
    return None


def _le4(n: int) -> bytes:
    return n.to_bytes(4, "little")


def _bytea(b: bytes) -> sql.Composable:
    return sql.SQL("'\\x{}'::bytea").format(sql.SQL(b.hex()))


class WireQuery:
    """SQL giving a token range's rows in Cassandra's serialization, as Python's marshal format
    (version 2: stable, no back-references) of the tuples ``(token bytes, column bytes or None,
    ...)`` — exactly what the driver's undecoded rows are (``chalicelib.cassandra.wire``) — packed
    `GROUP` rows per result row: ``(row count, concatenated rows)``. ``marshal.loads`` turns a
    group back into the list of tuples in one C call, so neither side spends Python code per row;
    length prefixes make the layout unambiguous. PostgreSQL does the encoding on its own CPU."""

    GROUP = 2000

    def __init__(self, source: "PostgresSource", exprs: list[tuple[sql.Composable, int | None]]):
        self.source = source
        self.exprs = exprs
        self.width = len(exprs) + 1
        parts = [_bytea(b"(" + _le4(self.width) + b"s" + _le4(8)), sql.SQL("int8send(t)")]
        inner = [sql.SQL("{} AS t").format(source.token_col)]
        for i, (expr, fixed) in enumerate(exprs):
            b = sql.Identifier(f"b{i}")
            inner.append(sql.SQL("{} AS {}").format(expr, b))
            if fixed is not None:
                parts.append(sql.SQL("coalesce({} || {}, '\\x4e'::bytea)").format(_bytea(b"s" + _le4(fixed)), b))
            else:
                # 's' + little-endian int32 length (one set_byte for the usual length < 256) + bytes
                parts.append(sql.SQL(
                    "coalesce('\\x73'::bytea || CASE WHEN length({b}) < 256 THEN set_byte('\\x00000000'::bytea, 0, length({b}))"
                    " ELSE set_byte(set_byte(set_byte(set_byte('\\x00000000'::bytea, 0, length({b}) & 255), 1,"
                    " (length({b}) >> 8) & 255), 2, (length({b}) >> 16) & 255), 3, length({b}) >> 24) END"
                    " || {b}, '\\x4e'::bytea)").format(b=b))
        self._enc = sql.SQL(" || ").join(parts)
        self._inner = sql.SQL(", ").join(inner)

    def select(self, start: int, end: int) -> sql.Composed:
        s = self.source
        return sql.SQL(
            "SELECT count(*)::int8, string_agg(enc, ''::bytea ORDER BY t) FROM ("
            "SELECT t, {enc} AS enc, (row_number() OVER (ORDER BY t) - 1) / {g} AS g FROM ("
            "SELECT {inner} FROM {tbl} WHERE {tok} > {a} AND {tok} <= {b} ORDER BY {tok} OFFSET 0) r) x"
            " GROUP BY g ORDER BY g"
        ).format(enc=self._enc, g=sql.Literal(self.GROUP), inner=self._inner, tbl=s.qualified, tok=s.token_col,
                 a=sql.Literal(start), b=sql.Literal(end))


class TargetSchemaError(RuntimeError):
    """The PostgreSQL table does not match the catalog (missing table, column or token column)."""


def _read_infinity(conn) -> None:
    """PostgreSQL's `infinity` / `-infinity` dates and timestamps are read as those words: psycopg has no Python
    date for them and raised DataError ("date too large"), failing the whole table's job for one value; the
    canonical form compares the words (chalicelib.cdc.canonical.INFINITE). Text and binary (COPY) forms. A
    timestamp after the year 9999 read by COPY is its epoch milliseconds (an int), as Cassandra's reader gives it."""
    if getattr(conn, "_recon_infinity", False):
        return
    from psycopg.types import datetime as dt

    def loader(base, infinite: dict[bytes, str], epoch_ms: bool = False):
        class Loader(base):
            def load(self, data):
                word = infinite.get(bytes(data))
                if word is not None:
                    return word
                if not epoch_ms:
                    return super().load(data)
                try:
                    return super().load(data)
                except psycopg.DataError:
                    # after the year 9999 (PostgreSQL goes on to 294276): the epoch milliseconds, microseconds
                    # truncated, as Cassandra's reader hands over such a timestamp (canonical form: the count)
                    return int.from_bytes(bytes(data), "big", signed=True) // 1000 + 946_684_800_000
        return Loader

    words = {b"infinity": "infinity", b"-infinity": "-infinity"}
    int32 = {b"\x7f\xff\xff\xff": "infinity", b"\x80\x00\x00\x00": "-infinity"}
    int64 = {b"\x7f\xff\xff\xff\xff\xff\xff\xff": "infinity", b"\x80\x00\x00\x00\x00\x00\x00\x00": "-infinity"}
    for name, text, binary, inf in (("date", dt.DateLoader, dt.DateBinaryLoader, int32),
                                    ("timestamp", dt.TimestampLoader, dt.TimestampBinaryLoader, int64),
                                    ("timestamptz", dt.TimestamptzLoader, dt.TimestamptzBinaryLoader, int64)):
        conn.adapters.register_loader(name, loader(text, words))
        conn.adapters.register_loader(name, loader(binary, inf, epoch_ms=name != "date"))
    conn._recon_infinity = True


class PostgresSource:
    COPY_CHUNK = 5000

    def __init__(self, table: TableConfig, connect=None):
        self.table = table
        self._connect = connect  # a context manager factory yielding a connection (tests)
        self.cols = table.column_list
        self.pg_cols = [c.pg_name for c in self.cols]
        self.key_idx = [self.pg_cols.index(table.columns[k].pg_name) for k in table.primary_key]
        self.pk_pg = [table.columns[k].pg_name for k in table.primary_key]
        self.part_pg = [table.columns[k].pg_name for k in table.partition_key]
        self.qualified = sql.Identifier(table.postgres.schema_, table.postgres.table)
        self.token_col = sql.Identifier(table.postgres.token_column)
        self._select = sql.SQL(", ").join([self.token_col, *[sql.Identifier(c) for c in self.pg_cols]])
        self._oids: list[int] | None = None
        # key components compared at millisecond precision (timestamps), in primary key order
        from chalicelib.cdc.canonical import parse_cql_type

        self._ms_key_parts = [parse_cql_type(table.columns[k].type).family == "timestamp" for k in table.primary_key]

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        if self._connect is not None:
            with self._connect() as conn:
                _read_infinity(conn)
                yield conn
        else:
            with get_pool("target").connection() as conn:
                _read_infinity(conn)
                yield conn

    # ---------------------------------------------------------------- schema checks
    def column_types(self, conn) -> dict[str, tuple[int, str]]:
        rows = conn.execute(
            "SELECT a.attname, a.atttypid, format_type(a.atttypid, a.atttypmod)"
            " FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped",
            (self.table.postgres.schema_, self.table.postgres.table),
        ).fetchall()
        return {r[0]: (int(r[1]), r[2]) for r in rows}

    def check_schema(self) -> dict[str, str]:
        """Verify the table and every compared column exist; returns {pg column: pg type}."""
        with self.connection() as conn:
            types = self._checked_types(conn)
        return {c: types[c][1] for c in self.pg_cols}

    def _checked_types(self, conn) -> dict[str, tuple[int, str]]:
        """column_types, or TargetSchemaError saying what the table lacks (a job planned after the table
        was dropped or renamed fails with that reason, not with a missing key)."""
        name = f"{self.table.postgres.schema_}.{self.table.postgres.table}"
        types = self.column_types(conn)
        if not types:
            raise TargetSchemaError(f"PostgreSQL table {name} does not exist")
        missing = [c for c in self.pg_cols if c not in types]
        if missing:
            raise TargetSchemaError(f"PostgreSQL table {name} has no column(s) {', '.join(missing)} named in the catalog")
        if self.table.postgres.token_column not in types:
            raise TargetSchemaError(
                f"PostgreSQL table {name} has no token column {self.table.postgres.token_column}: "
                f"run `python -m chalicelib.cli tokens prepare {self.table.name}` (docs/operations.md)"
            )
        self._oids = [types[self.table.postgres.token_column][0], *[types[c][0] for c in self.pg_cols]]
        return types

    def _types(self, conn) -> list[int]:
        if self._oids is None:
            types = self.column_types(conn)
            self._oids = [types[self.table.postgres.token_column][0], *[types[c][0] for c in self.pg_cols]]
        return self._oids

    # ---------------------------------------------------------------- reads
    def scan_range(self, start: int, end: int, prefetch: bool = True) -> Iterator[tuple]:
        """Rows with start < token <= end, ordered by token, streamed with binary COPY.

        With `prefetch`, a thread reads ahead (a few chunks, so memory stays bounded) while the
        caller compares: PostgreSQL's I/O and parsing overlap with the Cassandra side and the diff."""
        if prefetch:
            return _prefetched(lambda: self._scan_range(start, end))
        return self._scan_range(start, end)

    def _scan_range(self, start: int, end: int) -> Iterator[tuple]:
        return self._copy_rows(sql.SQL(
            "SELECT {sel} FROM {t} WHERE {tok} > {a} AND {tok} <= {b} ORDER BY {tok}"
        ).format(sel=self._select, t=self.qualified, tok=self.token_col, a=sql.Literal(start), b=sql.Literal(end)))

    def _copy_rows(self, select: sql.Composed) -> Iterator[tuple]:
        """Stream the rows of a SELECT of `self._select` with binary COPY, typed like the table."""
        with self.connection() as conn:
            oids = self._types(conn)
            with conn.cursor() as cur:
                with cur.copy(sql.SQL("COPY ({}) TO STDOUT (FORMAT BINARY)").format(select)) as copy:
                    copy.set_types(oids)
                    yield from copy.rows()

    def wire_query(self, specs) -> WireQuery | None:
        """The wire query when every compared column has an exact encoding (see
        ``wire_expression``; specs are canonical.ColumnSpec with ``pg_type``), else None."""
        exprs = []
        for spec in specs:
            e = wire_expression(spec.type, spec.pg_type or "", sql.Identifier(spec.postgres_name))
            if e is None:
                return None
            exprs.append(e)
        with self.connection() as conn:
            if conn.info.server_version < 140000:  # extract(epoch) is exact numeric from 14 on
                return None
        return WireQuery(self, exprs)

    def scan_wire(self, query: WireQuery, start: int, end: int, prefetch: bool = True) -> Iterator[list[tuple]]:
        """Lists of rows with start < token <= end in token order, each row a tuple of Cassandra-
        serialized bytes (see ``WireQuery``). With `prefetch`, a thread reads ahead."""
        width = query.width

        def chunks():
            with self.connection() as conn:
                with conn.cursor() as cur:
                    with cur.copy(sql.SQL("COPY ({}) TO STDOUT (FORMAT BINARY)").format(query.select(start, end))) as copy:
                        copy.set_types(["int8", "bytea"])
                        for n, blob in copy.rows():
                            rows = marshal.loads(b"[" + n.to_bytes(4, "little") + blob)
                            if len(rows) != n or (rows and len(rows[0]) != width):
                                raise ValueError("wire rows from PostgreSQL do not have the expected layout")
                            yield rows

        if not prefetch:
            return chunks()
        return _prefetched(chunks, chunk=1, depth=4)

    def rows_for_tokens(self, tokens: Sequence[int]) -> list[tuple]:
        """Rows (token, *values) whose token is one of `tokens`, in token order (decoded like
        ``scan_range``)."""
        if not tokens:
            return []
        out: list[tuple] = []
        for i in range(0, len(tokens), 5000):
            part = list(tokens[i:i + 5000])
            out.extend(self._copy_rows(sql.SQL("SELECT {sel} FROM {t} WHERE {tok} = ANY({arr}) ORDER BY {tok}").format(
                sel=self._select, t=self.qualified, tok=self.token_col,
                arr=sql.SQL("'{{{}}}'::int8[]").format(sql.SQL(",".join(str(int(x)) for x in part))))))
        return out

    def rows_for_keys(self, query: WireQuery, keys: Sequence[tuple], key_idx: Sequence[int]) -> list[tuple]:
        """Rows (token, *values) of the given keys, decoded like ``scan_range``, in token order. A key
        is ``(token bytes, key column bytes, ...)`` as the wire rows hold them (``key_idx``: the key
        columns' positions among the compared columns); PostgreSQL matches the same encoding of its
        own columns (``query``'s expressions), so only the rows asked for are read and decoded."""
        if not keys:
            return []
        enc = sql.SQL(" || ").join(sql.SQL("int4send(length({e})) || {e}").format(e=query.exprs[i][0]) for i in key_idx)
        out: list[tuple] = []
        for i in range(0, len(keys), 5000):
            part = keys[i:i + 5000]
            tokens = sorted({int.from_bytes(k[0], "big", signed=True) for k in part})
            wanted = sql.SQL(", ").join(
                sql.Literal(b"".join(len(b).to_bytes(4, "big") + b for b in k[1:])) for k in part)
            out.extend(self._copy_rows(sql.SQL(
                "SELECT {sel} FROM {t} WHERE {tok} = ANY({arr}) AND ({enc}) = ANY(ARRAY[{wanted}]::bytea[]) ORDER BY {tok}"
            ).format(sel=self._select, t=self.qualified, tok=self.token_col, enc=enc, wanted=wanted,
                     arr=sql.SQL("'{{{}}}'::int8[]").format(sql.SQL(",".join(str(t) for t in tokens))))))
        out.sort(key=lambda r: r[0])
        return out

    def count_range(self, start: int, end: int) -> int:
        q = sql.SQL("SELECT count(*) FROM {t} WHERE {tok} > %s AND {tok} <= %s").format(t=self.qualified, tok=self.token_col)
        with self.connection() as conn:
            return conn.execute(q, (start, end)).fetchone()[0]

    def count_untokened(self) -> int:
        q = sql.SQL("SELECT count(*) FROM {t} WHERE {tok} IS NULL").format(t=self.qualified, tok=self.token_col)
        with self.connection() as conn:
            return conn.execute(q).fetchone()[0]

    def get_rows(self, keys: Sequence[tuple]) -> dict[tuple, tuple | None]:
        """Point reads by full primary key (values as PostgreSQL takes them); None when absent.

        A timestamp key component finds the row whose value falls in that millisecond, as the scans
        compare keys (canonical form: PostgreSQL's microseconds truncated to Cassandra's milliseconds),
        so a key read back from a canonical key finds `...13:30:00.123456` for `...13:30:00.123Z`."""
        out: dict[tuple, tuple | None] = {tuple(k): None for k in keys}
        if not keys:
            return out
        with self.connection() as conn:
            oids = self._types(conn)
            key_types = [oids[1 + i] for i in self.key_idx]
            type_names = [conn.execute("SELECT format_type(%s, NULL)", (o,)).fetchone()[0] for o in key_types]
            names = [sql.Identifier(f"recon_key_{j}") for j in range(len(self.pk_pg))]
            on = sql.SQL(" AND ").join(
                (sql.SQL("t.{c} >= k.{k} AND t.{c} < k.{k} + interval '1 millisecond'") if ms else
                 sql.SQL("t.{c} = k.{k}")).format(c=sql.Identifier(c), k=k)
                for c, k, ms in zip(self.pk_pg, names, self._ms_key_parts)
            )
            for i in range(0, len(keys), 1000):
                chunk = [tuple(k) for k in keys[i:i + 1000]]
                # unnest one array per key column, cast to the column's type
                arrays = sql.SQL(", ").join(
                    sql.SQL("%s::{}[]").format(sql.SQL(tn)) for tn in type_names
                )
                q = sql.SQL(
                    "SELECT {sel} FROM {t} AS t JOIN unnest({arrays}) AS k({names}) ON {on}"
                ).format(sel=sql.SQL(", ").join([sql.SQL("t.{}").format(self.token_col),
                                                 *[sql.SQL("t.{}").format(sql.Identifier(c)) for c in self.pg_cols]]),
                         t=self.qualified, arrays=arrays, names=sql.SQL(", ").join(names), on=on)
                params = [[k[j] for k in chunk] for j in range(len(self.pk_pg))]
                with conn.cursor(binary=True) as cur:
                    for row in cur.execute(q, params):
                        key = tuple(row[1 + j] for j in self.key_idx)
                        out[key] = row
        return out

    def modified_since(self, since, start: int, end: int) -> Iterator[tuple]:
        """Rows of a token range whose updated_at column is at or after `since`."""
        col = self.table.columns[self.table.updated_at_column].pg_name
        return self._copy_rows(sql.SQL(
            "SELECT {sel} FROM {t} WHERE {u} >= {since} AND {tok} > {a} AND {tok} <= {b}"
        ).format(sel=self._select, t=self.qualified, u=sql.Identifier(col), since=sql.Literal(since),
                 tok=self.token_col, a=sql.Literal(start), b=sql.Literal(end)))

    def sample(self, n: int, start: int, end: int, seed: float) -> list[tuple]:
        """About n random rows of a token range (uniform: random order over the index range)."""
        q = sql.SQL(
            "SELECT {sel} FROM {t} WHERE {tok} > %s AND {tok} <= %s ORDER BY md5({tok}::text || %s) LIMIT %s"
        ).format(sel=self._select, t=self.qualified, tok=self.token_col)
        with self.connection() as conn:
            with conn.cursor(binary=True) as cur:
                return cur.execute(q, (start, end, str(seed), n)).fetchall()

    # ---------------------------------------------------------------- token column
    def prepare_token_column(self) -> None:
        """Add the token column and its index if missing (an explicit operator step)."""
        idx = sql.Identifier(f"{self.table.postgres.table}_{self.table.postgres.token_column}_idx")
        with self.connection() as conn:
            conn.execute(sql.SQL("ALTER TABLE {t} ADD COLUMN IF NOT EXISTS {tok} bigint").format(t=self.qualified, tok=self.token_col))
            conn.execute(sql.SQL("CREATE INDEX IF NOT EXISTS {i} ON {t} ({tok})").format(i=idx, t=self.qualified, tok=self.token_col))

    def backfill_tokens(self, token_fn, chunk: int = 50_000) -> int:
        """Compute the token of every row that has none; returns how many rows were updated.

        In chunks (memory stays bounded): keys of untokened rows stream out with COPY (the token
        index also holds the NULLs), tokens are computed with Cassandra's Murmur3 (`token_fn` takes
        the partition-key values), go back with COPY into a temporary table, and one UPDATE joins them.
        """
        pk_ids = sql.SQL(", ").join(sql.Identifier(c) for c in self.pk_pg)
        part_pos = [self.pk_pg.index(c) for c in self.part_pg]
        total = 0
        with self.connection() as conn:
            types = self._checked_types(conn)
            key_oids = [types[c][0] for c in self.pk_pg]
            select = sql.SQL("COPY (SELECT {pk} FROM {t} WHERE {tok} IS NULL LIMIT {n}) TO STDOUT (FORMAT BINARY)").format(
                pk=pk_ids, t=self.qualified, tok=self.token_col, n=sql.Literal(chunk))
            cond = sql.SQL(" AND ").join(sql.SQL("x.{c} = r.{c}").format(c=sql.Identifier(c)) for c in self.pk_pg)
            update = sql.SQL("UPDATE {t} AS x SET {tok} = r.{tok} FROM recon_tok r WHERE {cond}").format(
                t=self.qualified, tok=self.token_col, cond=cond)
            # one back-fill per table at a time: two jobs of a table planned at once would otherwise both
            # read the same untokened rows and compute and write every token twice
            lock = sql.SQL("SELECT pg_advisory_xact_lock(hashtext({name}))").format(
                name=sql.Literal(f"recon-token-backfill:{self.table.postgres.schema_}.{self.table.postgres.table}"))
            while True:
                with conn.transaction():
                    conn.execute(lock)
                    conn.execute(sql.SQL(
                        "CREATE TEMP TABLE recon_tok ON COMMIT DROP AS SELECT {pk}, {tok} FROM {t} WITH NO DATA"
                    ).format(pk=pk_ids, tok=self.token_col, t=self.qualified))
                    with conn.cursor() as cur:
                        with cur.copy(select) as copy:
                            copy.set_types(key_oids)
                            keys = list(copy.rows())
                    if not keys:
                        return total
                    with conn.cursor() as cur:
                        with cur.copy(sql.SQL("COPY recon_tok FROM STDIN (FORMAT BINARY)")) as copy:
                            copy.set_types([*key_oids, types[self.table.postgres.token_column][0]])
                            for k in keys:
                                copy.write_row((*k, token_fn([k[i] for i in part_pos])))
                    updated = conn.execute(update).rowcount
                total += updated
                if updated == 0:  # nothing matched back: never loop forever
                    return total
