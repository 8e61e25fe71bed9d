"""Writes the demo tables identically to Cassandra and PostgreSQL, then injects known drift.

For each table, ``rows`` rows are generated (deterministic for a seed and ``now``). Drift is
chosen among them with its own seeded generator, disjoint sets of:

- ``MISSING_IN_POSTGRES`` (``drift_missing_pg``): written to Cassandra only;
- ``MISSING_IN_CASSANDRA`` (``drift_missing_cass``): written to PostgreSQL only;
- ``DATA_MISMATCH`` (``drift_mismatch``): written to both, PostgreSQL holding a different value in
  one non-key column (the column, and so its type, rotates through the table's columns).

So Cassandra holds ``rows - drift_missing_cass`` rows and PostgreSQL ``rows - drift_missing_pg``.
The manifest lists every injected key (primary-key values as strings) by table and type.

Cassandra is written with prepared INSERTs through ``execute_concurrent`` (one unlogged batch per
partition for tables with clustering columns; ``batch_rows > 1`` groups several partitions per
unlogged batch, much faster on the CQL dev server, to be avoided on a real cluster); PostgreSQL through ``COPY``, with the row's Murmur3
token in ``recon_token`` as a CDC sink that records it would write. Without ``append`` both sides
are truncated first; with it rows are upserted and the drift keys removed from the side they must
be missing from, so the manifest still holds for the keys it names.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import queue
import random
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .tables import TABLES, TOKEN_COLUMN, UTC, DemoTable

log = logging.getLogger(__name__)

MISSING_IN_POSTGRES = "MISSING_IN_POSTGRES"
MISSING_IN_CASSANDRA = "MISSING_IN_CASSANDRA"
DATA_MISMATCH = "DATA_MISMATCH"

CHUNK = 5000


@dataclass
class LoadOptions:
    rows: int
    drift_missing_pg: int = 0
    drift_missing_cass: int = 0
    drift_mismatch: int = 0
    seed: int = 1
    tables: Sequence[str] = ("users", "orders", "products")
    keyspace: str = "demo"
    pg_schema: str = "public"
    append: bool = False
    now: dt.datetime | None = None
    concurrency: int = 64
    batch_rows: int = 1  # >1: unlogged batches of about this many rows (several partitions each)

    def __post_init__(self) -> None:
        if self.rows < 0:
            raise ValueError("rows must be >= 0")
        drift = (self.drift_missing_pg, self.drift_missing_cass, self.drift_mismatch)
        if self.batch_rows < 1 or self.concurrency < 1:
            raise ValueError("batch_rows and concurrency must be >= 1")
        if any(d < 0 for d in drift):
            raise ValueError("drift counts must be >= 0")
        if sum(drift) > self.rows:
            raise ValueError(f"drift ({sum(drift)} rows) exceeds the {self.rows} rows per table")
        unknown = [t for t in self.tables if t not in TABLES]
        if unknown or not self.tables:
            raise ValueError(f"unknown tables {unknown}; choose among {', '.join(TABLES)}")
        for name in (self.keyspace, self.pg_schema):
            if not name.replace("_", "a").isalnum() or not name[0].isalpha():
                raise ValueError(f"invalid schema/keyspace name {name!r}")
        if self.now is None:
            now = dt.datetime.now(UTC)
            self.now = now.replace(microsecond=now.microsecond // 1000 * 1000, tzinfo=None)
        elif self.now.tzinfo is not None:
            self.now = self.now.astimezone(UTC).replace(tzinfo=None)


@dataclass
class TableStats:
    table: str
    generated: int = 0
    cassandra_rows: int = 0
    postgres_rows: int = 0
    seconds: float = 0.0
    cassandra_seconds: float = 0.0
    postgres_seconds: float = 0.0

    @property
    def rows_per_second(self) -> float:
        return (self.cassandra_rows + self.postgres_rows) / self.seconds if self.seconds else 0.0


@dataclass
class LoadResult:
    manifest: dict[str, Any]
    stats: list[TableStats] = field(default_factory=list)


def _key_strings(table: DemoTable, row: dict[str, Any]) -> dict[str, str]:
    return {c: str(row[c]) for c in table.primary_key}


def _plan_drift(table: DemoTable, opts: LoadOptions) -> tuple[set[int], set[int], dict[int, Any]]:
    rng = random.Random(f"{opts.seed}:{table.name}:drift")
    a, b, c = opts.drift_missing_pg, opts.drift_missing_cass, opts.drift_mismatch
    picked = rng.sample(range(opts.rows), a + b + c)
    missing_pg, missing_cass = set(picked[:a]), set(picked[a:a + b])
    offset = rng.randrange(len(table.mutations))
    mismatch = {i: table.mutations[(offset + j) % len(table.mutations)]
                for j, i in enumerate(sorted(picked[a + b:]))}
    return missing_pg, missing_cass, mismatch


# -------------------------------------------------------------------------------------------------
# schema


def ensure_cassandra_schema(session, keyspace: str, tables: Iterable[DemoTable], truncate: bool) -> None:
    session.execute(
        f"CREATE KEYSPACE IF NOT EXISTS {keyspace} "
        "WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}"
    )
    for t in tables:
        session.execute(t.cql_create(keyspace))
        if truncate:
            session.execute(f"TRUNCATE {keyspace}.{t.name}")


def ensure_postgres_schema(conn, schema: str, tables: Iterable[DemoTable], truncate: bool) -> None:
    conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    for t in tables:
        for stmt in t.pg_create(schema):
            conn.execute(stmt)
        if truncate:
            conn.execute(f'TRUNCATE "{schema}"."{t.name}"')
    conn.commit()


# -------------------------------------------------------------------------------------------------
# writers


class _CassandraWriter:
    def __init__(self, session, keyspace: str, table: DemoTable, concurrency: int, batch_rows: int = 1):
        cols = table.columns
        self.batch_rows = batch_rows
        self.session = session
        self.table = table
        self.concurrency = concurrency
        self.insert = session.prepare(
            f"INSERT INTO {keyspace}.{table.name} ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})"
        )
        where = " AND ".join(f"{c} = ?" for c in table.primary_key)
        self.delete = session.prepare(f"DELETE FROM {keyspace}.{table.name} WHERE {where}")
        self.pk_width = len(table.partition_key)

    def write(self, rows: list[tuple]) -> None:
        from cassandra.concurrent import execute_concurrent, execute_concurrent_with_args
        from cassandra.query import BatchStatement, BatchType

        if not rows:
            return
        if not self.table.clustering_key and self.batch_rows == 1:
            execute_concurrent_with_args(self.session, self.insert, rows, concurrency=self.concurrency,
                                         raise_on_first_error=True)
            return
        # unlogged batches: never split a partition; cut at a partition change once the batch holds
        # batch_rows rows (batch_rows == 1: one batch per partition)
        batches = []
        current_key, batch, size = None, None, 0
        for r in rows:
            key = r[: self.pk_width]
            if batch is None or (key != current_key and size >= self.batch_rows):
                batch = BatchStatement(batch_type=BatchType.UNLOGGED)
                batches.append((batch, None))
                size = 0
            current_key = key
            batch.add(self.insert, r)
            size += 1
        execute_concurrent(self.session, batches, concurrency=self.concurrency, raise_on_first_error=True)

    def delete_keys(self, keys: list[tuple]) -> None:
        from cassandra.concurrent import execute_concurrent_with_args

        if keys:
            execute_concurrent_with_args(self.session, self.delete, keys, concurrency=self.concurrency,
                                         raise_on_first_error=True)


class _PostgresWriter(threading.Thread):
    """COPYs chunks handed over through a bounded queue, in its own thread (overlaps Cassandra)."""

    def __init__(self, url: str, schema: str, table: DemoTable, append: bool):
        super().__init__(name=f"pg-copy-{table.name}", daemon=True)
        self.url, self.schema, self.table, self.append = url, schema, table, append
        self.chunks: queue.Queue = queue.Queue(maxsize=4)
        self.error: BaseException | None = None
        self.seconds = 0.0
        self.delete_keys: list[tuple] = []

    def run(self) -> None:
        import psycopg

        try:
            with psycopg.connect(self.url) as conn:
                self._copy(conn)
        except BaseException as exc:  # reported by finish()
            self.error = exc
            while self.chunks.get() is not None:  # drain so the producer never blocks
                pass

    def _copy(self, conn) -> None:
        t = self.table
        target = f'"{self.schema}"."{t.name}"'
        cols = ", ".join(t.pg_columns)
        dest = target
        if self.append:
            conn.execute(f"CREATE TEMP TABLE recon_demo_stage (LIKE {target}) ON COMMIT DROP")
            dest = "recon_demo_stage"
        with conn.cursor() as cur:
            with cur.copy(f"COPY {dest} ({cols}) FROM STDIN") as copy:
                while True:
                    chunk = self.chunks.get()
                    if chunk is None:
                        break
                    t0 = time.perf_counter()
                    for row in chunk:
                        copy.write_row(row)
                    self.seconds += time.perf_counter() - t0
            t0 = time.perf_counter()
            if self.append:
                pk = ", ".join(t.primary_key)
                updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in t.pg_columns if c not in t.primary_key)
                cur.execute(f"INSERT INTO {target} ({cols}) SELECT {cols} FROM recon_demo_stage "
                            f"ON CONFLICT ({pk}) DO UPDATE SET {updates}")
                if self.delete_keys:
                    where = " AND ".join(f"{c} = %s" for c in t.primary_key)
                    cur.executemany(f"DELETE FROM {target} WHERE {where}", self.delete_keys)
            conn.commit()
            self.seconds += time.perf_counter() - t0

    def put(self, chunk: list[tuple]) -> None:
        if self.error is None:
            self.chunks.put(chunk)

    def finish(self) -> None:
        self.chunks.put(None)
        self.join()
        if self.error is not None:
            raise RuntimeError(f"PostgreSQL load of {self.table.name} failed: {self.error}") from self.error


# -------------------------------------------------------------------------------------------------


def load_table(session, pg_url: str, table: DemoTable, opts: LoadOptions) -> tuple[TableStats, list[dict]]:
    stats = TableStats(table.name)
    t_start = time.perf_counter()
    missing_pg, missing_cass, mismatch = _plan_drift(table, opts)
    rng_rows = random.Random(f"{opts.seed}:{table.name}:rows")
    rng_pg = random.Random(f"{opts.seed}:{table.name}:pg")
    rng_mut = random.Random(f"{opts.seed}:{table.name}:mutations")
    token_of = table.token_fn()
    pk_idx = [table.columns.index(c) for c in table.partition_key]
    entries: list[dict] = []

    cass = _CassandraWriter(session, opts.keyspace, table, opts.concurrency, opts.batch_rows)
    pg = _PostgresWriter(pg_url, opts.pg_schema, table, opts.append)
    cass_deletes: list[tuple] = []
    pg.start()
    try:
        cass_chunk: list[tuple] = []
        pg_chunk: list[tuple] = []
        for i, row in enumerate(table.generate(rng_rows, opts.now, opts.rows)):
            stats.generated += 1
            c_row = table.to_cassandra(row)
            token = token_of([c_row[j] for j in pk_idx])
            if i in missing_pg:
                entries.append({"table": table.name, "type": MISSING_IN_POSTGRES, "key": _key_strings(table, row)})
                pg.delete_keys.append(table.key_of(row))
            else:
                pg_source_row = row
                if i in mismatch:
                    mut = mismatch[i]
                    pg_source_row = {**row, mut.column: mut.apply(row[mut.column], rng_mut)}
                    entries.append({"table": table.name, "type": DATA_MISMATCH,
                                    "key": _key_strings(table, row), "column": mut.column})
                pg_chunk.append(table.to_postgres(pg_source_row, token, rng_pg))
            if i in missing_cass:
                entries.append({"table": table.name, "type": MISSING_IN_CASSANDRA, "key": _key_strings(table, row)})
                cass_deletes.append(table.key_of(row))
            else:
                cass_chunk.append(c_row)
            if len(cass_chunk) >= CHUNK or len(pg_chunk) >= CHUNK:
                stats.postgres_rows += len(pg_chunk)
                pg.put(pg_chunk)
                pg_chunk = []
                t0 = time.perf_counter()
                cass.write(cass_chunk)
                stats.cassandra_seconds += time.perf_counter() - t0
                stats.cassandra_rows += len(cass_chunk)
                cass_chunk = []
        stats.postgres_rows += len(pg_chunk)
        pg.put(pg_chunk)
        t0 = time.perf_counter()
        cass.write(cass_chunk)
        if opts.append:
            cass.delete_keys(cass_deletes)
        stats.cassandra_seconds += time.perf_counter() - t0
        stats.cassandra_rows += len(cass_chunk)
    finally:
        pg.finish()
    stats.postgres_seconds = pg.seconds
    stats.seconds = time.perf_counter() - t_start
    return stats, entries


def load(session, pg_url: str, opts: LoadOptions) -> LoadResult:
    """Creates the schemas, loads every selected table, returns the manifest and timings."""
    import psycopg

    tables = [TABLES[name] for name in opts.tables]
    ensure_cassandra_schema(session, opts.keyspace, tables, truncate=not opts.append)
    with psycopg.connect(pg_url) as conn:
        ensure_postgres_schema(conn, opts.pg_schema, tables, truncate=not opts.append)
    all_entries: list[dict] = []
    stats: list[TableStats] = []
    summary: dict[str, Any] = {}
    for t in tables:
        s, entries = load_table(session, pg_url, t, opts)
        stats.append(s)
        all_entries.extend(entries)
        summary[t.name] = {
            "rows_generated": s.generated,
            "cassandra_rows": s.cassandra_rows,
            "postgres_rows": s.postgres_rows,
            "primary_key": t.primary_key,
            MISSING_IN_POSTGRES: sum(e["type"] == MISSING_IN_POSTGRES for e in entries),
            MISSING_IN_CASSANDRA: sum(e["type"] == MISSING_IN_CASSANDRA for e in entries),
            DATA_MISMATCH: sum(e["type"] == DATA_MISMATCH for e in entries),
        }
    order = {MISSING_IN_POSTGRES: 0, MISSING_IN_CASSANDRA: 1, DATA_MISMATCH: 2}
    all_entries.sort(key=lambda e: (e["table"], order[e["type"]], sorted(e["key"].items())))
    manifest = {
        "seed": opts.seed,
        "rows_per_table": opts.rows,
        "now": opts.now.replace(tzinfo=UTC).isoformat(timespec="milliseconds"),
        "append": opts.append,
        "cassandra": {"keyspace": opts.keyspace},
        "postgres": {"schema": opts.pg_schema, "token_column": TOKEN_COLUMN},
        "tables": summary,
        "drift": all_entries,
    }
    return LoadResult(manifest=manifest, stats=stats)


def write_manifest(manifest: dict[str, Any], path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n")
    tmp.replace(path)
