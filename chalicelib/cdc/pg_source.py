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


class TargetSchemaError(RuntimeError):
    """The PostgreSQL table does not match the catalog (missing table, column or token column)."""


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

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        if self._connect is not None:
            with self._connect() as conn:
                yield conn
        else:
            with get_pool("target").connection() as conn:
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
        name = f"{self.table.postgres.schema_}.{self.table.postgres.table}"
        with self.connection() as conn:
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
        return {c: types[c][1] for c in self.pg_cols}

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

    def count_range(self, start: int, end: int) -> int:
        q = sql.SQL("SELECT count(*) FROM {t} WHERE {tok} > %s AND {tok} <= %s").format(t=self.qualified, tok=self.token_col)
        with self.connection() as conn:
            return conn.execute(q, (start, end)).fetchone()[0]

    def count_untokened(self) -> int:
        q = sql.SQL("SELECT count(*) FROM {t} WHERE {tok} IS NULL").format(t=self.qualified, tok=self.token_col)
        with self.connection() as conn:
            return conn.execute(q).fetchone()[0]

    def get_rows(self, keys: Sequence[tuple]) -> dict[tuple, tuple | None]:
        """Point reads by full primary key (values as PostgreSQL takes them); None when absent."""
        out: dict[tuple, tuple | None] = {tuple(k): None for k in keys}
        if not keys:
            return out
        pk = sql.SQL(", ").join(sql.Identifier(c) for c in self.pk_pg)
        with self.connection() as conn:
            oids = self._types(conn)
            key_types = [oids[1 + i] for i in self.key_idx]
            type_names = [conn.execute("SELECT format_type(%s, NULL)", (o,)).fetchone()[0] for o in key_types]
            for i in range(0, len(keys), 1000):
                chunk = [tuple(k) for k in keys[i:i + 1000]]
                # unnest one array per key column, cast to the column's type
                arrays = sql.SQL(", ").join(
                    sql.SQL("%s::{}[]").format(sql.SQL(tn)) for tn in type_names
                )
                q = sql.SQL(
                    "SELECT {sel} FROM {t} WHERE ({pk}) IN (SELECT * FROM unnest({arrays}))"
                ).format(sel=self._select, t=self.qualified, pk=pk, arrays=arrays)
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
            types = self.column_types(conn)
            key_oids = [types[c][0] for c in self.pk_pg]
            select = sql.SQL("COPY (SELECT {pk} FROM {t} WHERE {tok} IS NULL LIMIT {n}) TO STDOUT (FORMAT BINARY)").format(
                pk=pk_ids, t=self.qualified, tok=self.token_col, n=sql.Literal(chunk))
            cond = sql.SQL(" AND ").join(sql.SQL("x.{c} = r.{c}").format(c=sql.Identifier(c)) for c in self.pk_pg)
            update = sql.SQL("UPDATE {t} AS x SET {tok} = r.{tok} FROM recon_tok r WHERE {cond}").format(
                t=self.qualified, tok=self.token_col, cond=cond)
            while True:
                with conn.transaction():
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
