"""SQLite storage of schema and rows.

One SQLite table per CQL table::

    tok    INTEGER  Murmur3 token of the partition key
    pk     BLOB     routing key (serialized partition key)
    ck     BLOB     order-preserving clustering key (DESC components inverted)
    cells  BLOB     every column value, key columns included, as protocol [bytes] in
                    result order, so a ``SELECT *`` row is this blob verbatim
    wts    BLOB     per regular column write timestamp (int64 big-endian, microseconds)
    marker INTEGER  row marker timestamp (set by INSERT) or NULL
    maxts  INTEGER  max(marker, wts): lets whole-row deletes run as one SQL statement

PRIMARY KEY (tok, pk, ck), WITHOUT ROWID: rows are clustered in CQL order.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import struct
import threading
import uuid

from .cqltypes import parse_type, pack_bytes
from .schema import Keyspace, Table

_I32 = struct.Struct(">i")
NO_TS = -(1 << 63)


def split_cells(blob: bytes, n: int) -> list:
    """Values (bytes or None) of a stored cells blob."""
    out = []
    pos = 0
    unpack = _I32.unpack_from
    for _ in range(n):
        size = unpack(blob, pos)[0]
        pos += 4
        if size < 0:
            out.append(None)
        else:
            out.append(blob[pos:pos + size])
            pos += size
    return out


def split_raw(blob: bytes, n: int) -> list:
    """Protocol-ready [bytes] slices (length prefix included) of a stored cells blob."""
    out = []
    pos = 0
    unpack = _I32.unpack_from
    for _ in range(n):
        size = unpack(blob, pos)[0]
        end = pos + 4 + (size if size > 0 else 0)
        out.append(blob[pos:end])
        pos = end
    return out


_NULL = b"\xff\xff\xff\xff"


def join_cells(values) -> bytes:
    pack = _I32.pack
    return b"".join([_NULL if v is None else pack(len(v)) + v for v in values])


def pack_wts(wts) -> bytes:
    return struct.pack(">%dq" % len(wts), *wts)


def unpack_wts(blob: bytes, n: int) -> list:
    if not blob:
        return [NO_TS] * n
    return list(struct.unpack(">%dq" % n, blob))


class Store:
    """Schema and rows in one SQLite database; every call is made under ``self.lock``."""

    def __init__(self, path: str | None):
        self.path = path
        self.lock = threading.RLock()
        self.db = sqlite3.connect(path or ":memory:", check_same_thread=False, isolation_level=None)
        if path:
            # WAL, no fsync: survives a killed server process (the OS keeps the writes), not a
            # power loss -- the right trade for a dev server that must load millions of rows.
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=OFF")
            self.db.execute("PRAGMA wal_autocheckpoint=20000")
        self.db.execute("PRAGMA cache_size=-65536")
        self.db.execute("PRAGMA temp_store=MEMORY")
        self.db.execute("CREATE TABLE IF NOT EXISTS cql_keyspaces (name TEXT PRIMARY KEY, definition TEXT NOT NULL)")
        self.db.execute("CREATE TABLE IF NOT EXISTS cql_tables (keyspace TEXT NOT NULL, name TEXT NOT NULL, "
                        "definition TEXT NOT NULL, PRIMARY KEY (keyspace, name))")
        self.keyspaces: dict[str, Keyspace] = {}
        for name, definition in self.db.execute("SELECT name, definition FROM cql_keyspaces"):
            d = json.loads(definition)
            self.keyspaces[name] = Keyspace(name, d["replication"], d.get("durable_writes", True))
        for ks, name, definition in self.db.execute("SELECT keyspace, name, definition FROM cql_tables"):
            if ks in self.keyspaces:
                self.keyspaces[ks].tables[name] = Table.from_json(ks, name, json.loads(definition))
        self.schema_version = uuid.uuid4()
        self._closed = threading.Event()
        self._committer = threading.Thread(target=self._commit_loop, name="cqlserver-commit", daemon=True)
        self._committer.start()

    # -------------------------------------------------------- transactions
    # Writes are group-committed: a transaction stays open while requests arrive and is
    # committed at most COMMIT_INTERVAL seconds later (one WAL append per group instead of
    # one per row).  Reads go through the same connection and always see the latest writes.
    COMMIT_INTERVAL = 0.1

    def begin(self):
        if not self.db.in_transaction:
            self.db.execute("BEGIN")

    def commit(self):
        if self.db.in_transaction:
            self.db.execute("COMMIT")

    @contextlib.contextmanager
    def savepoint(self):
        """All-or-nothing scope inside the open transaction (for multi-row writes)."""
        self.db.execute("SAVEPOINT w")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK TO w")
            self.db.execute("RELEASE w")
            raise
        self.db.execute("RELEASE w")

    def _commit_loop(self):
        while not self._closed.wait(self.COMMIT_INTERVAL):
            with self.lock:
                if self._closed.is_set():
                    break
                try:
                    self.commit()
                except sqlite3.Error:
                    pass

    def close(self):
        self._closed.set()
        with self.lock:
            try:
                self.commit()
                if self.path:
                    self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                self.db.close()
        self._committer.join(timeout=5)

    # ------------------------------------------------------------- schema
    def create_keyspace(self, ks: Keyspace):
        self.db.execute("INSERT INTO cql_keyspaces VALUES (?, ?)",
                        (ks.name, json.dumps({"replication": ks.replication, "durable_writes": ks.durable_writes})))
        self.keyspaces[ks.name] = ks
        self.schema_version = uuid.uuid4()

    def drop_keyspace(self, name: str):
        ks = self.keyspaces.pop(name)
        for table in list(ks.tables.values()):
            self.db.execute('DROP TABLE IF EXISTS "%s"' % table.data_table)
        self.db.execute("DELETE FROM cql_tables WHERE keyspace = ?", (name,))
        self.db.execute("DELETE FROM cql_keyspaces WHERE name = ?", (name,))
        self.schema_version = uuid.uuid4()

    def create_table(self, table: Table):
        self.db.execute('CREATE TABLE "%s" (tok INTEGER NOT NULL, pk BLOB NOT NULL, ck BLOB NOT NULL, '
                        'cells BLOB NOT NULL, wts BLOB, marker INTEGER, maxts INTEGER NOT NULL, '
                        'PRIMARY KEY (tok, pk, ck)) WITHOUT ROWID' % table.data_table)
        self.db.execute("INSERT INTO cql_tables VALUES (?, ?, ?)",
                        (table.keyspace, table.name, json.dumps(table.to_json())))
        self.keyspaces[table.keyspace].tables[table.name] = table
        self.schema_version = uuid.uuid4()

    def drop_table(self, table: Table):
        self.db.execute('DROP TABLE IF EXISTS "%s"' % table.data_table)
        self.db.execute("DELETE FROM cql_tables WHERE keyspace = ? AND name = ?", (table.keyspace, table.name))
        self.keyspaces[table.keyspace].tables.pop(table.name, None)
        self.schema_version = uuid.uuid4()

    def truncate(self, table: Table):
        self.db.execute('DELETE FROM "%s"' % table.data_table)

    # --------------------------------------------------------------- rows
    def get_row(self, table: Table, tok: int, pk: bytes, ck: bytes):
        return self.db.execute('SELECT cells, wts, marker FROM "%s" WHERE tok = ? AND pk = ? AND ck = ?'
                               % table.data_table, (tok, pk, ck)).fetchone()

    def write_row(self, table: Table, tok, pk, ck, key_values, updates, ts, set_marker):
        """Apply cell updates with last-write-wins per cell.

        ``updates`` maps column index -> new value (bytes/None) or a callable old -> new.
        """
        n_key = table.n_key
        if set_marker and not any(callable(v) for v in updates.values()):
            # Fast path for INSERT: try to add a new row, merge only if it already exists.
            values = list(key_values) + [None] * table.n_regular
            wts = [NO_TS] * table.n_regular
            for idx, new in updates.items():
                values[idx] = new
                wts[idx - n_key] = ts
            try:
                self.db.execute('INSERT INTO "%s" VALUES (?, ?, ?, ?, ?, ?, ?)' % table.data_table,
                                (tok, pk, ck, join_cells(values), pack_wts(wts), ts, ts))
                return
            except sqlite3.IntegrityError:
                pass
        row = self.get_row(table, tok, pk, ck)
        if row is None:
            values = list(key_values) + [None] * table.n_regular
            wts = [NO_TS] * table.n_regular
            marker = None
        else:
            values = split_cells(row[0], len(table.columns))
            wts = unpack_wts(row[1], table.n_regular)
            marker = row[2]
        for idx, new in updates.items():
            r = idx - n_key
            if ts >= wts[r]:
                if callable(new):
                    new = new(values[idx])
                values[idx] = new
                wts[r] = ts
        if set_marker and (marker is None or ts >= marker):
            marker = ts
        self._store(table, tok, pk, ck, values, wts, marker, exists=row is not None)

    def _store(self, table, tok, pk, ck, values, wts, marker, exists):
        live = marker is not None or any(v is not None for v in values[table.n_key:])
        if not live:
            if exists:
                self.db.execute('DELETE FROM "%s" WHERE tok = ? AND pk = ? AND ck = ?' % table.data_table,
                                (tok, pk, ck))
            return
        maxts = max([w for w in wts if w != NO_TS] + ([marker] if marker is not None else []) or [NO_TS])
        self.db.execute('INSERT OR REPLACE INTO "%s" VALUES (?, ?, ?, ?, ?, ?, ?)' % table.data_table,
                        (tok, pk, ck, join_cells(values), pack_wts(wts), marker, maxts))

    def delete_rows(self, table: Table, where_sql: str, params: list, ts: int, columns=None):
        """Delete rows (or only ``columns``) matching ``where_sql`` at timestamp ``ts``."""
        dt = table.data_table
        if columns is None:
            self.db.execute('DELETE FROM "%s" WHERE %s AND maxts <= ?' % (dt, where_sql), params + [ts])
        rows = self.db.execute('SELECT tok, pk, ck, cells, wts, marker FROM "%s" WHERE %s' % (dt, where_sql),
                               params).fetchall()
        n_key = table.n_key
        for tok, pk, ck, cells, wts_blob, marker in rows:
            values = split_cells(cells, len(table.columns))
            wts = unpack_wts(wts_blob, table.n_regular)
            targets = range(n_key, len(table.columns)) if columns is None else columns
            for idx in targets:
                r = idx - n_key
                if ts >= wts[r]:
                    values[idx] = None
                    wts[r] = ts
            if columns is None and marker is not None and marker <= ts:
                marker = None
            self._store(table, tok, pk, ck, values, wts, marker, exists=True)
