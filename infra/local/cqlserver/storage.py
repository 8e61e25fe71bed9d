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
    exp    BLOB     per regular column and row marker expiry (unix seconds, 0: none), NULL if none
    minexp INTEGER  earliest live expiry of the row (indexed, NULL if none)

PRIMARY KEY (tok, pk, ck), WITHOUT ROWID: rows are clustered in CQL order.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import struct
import threading
import time
import uuid

from .schema import Keyspace, Table

log = logging.getLogger("cqlserver")
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


def unpack_exp(blob: bytes | None, n_regular: int) -> list:
    """Expiry seconds per regular column plus the row marker (0: none)."""
    if not blob:
        return [0] * (n_regular + 1)
    return list(struct.unpack(">%dq" % (n_regular + 1), blob))


class Store:
    """Schema and rows in one SQLite database; every call is made under ``self.lock``."""

    def __init__(self, path: str | None):
        self.path = path
        self.clock = time.time  # seconds; replaceable in tests to make TTLs expire
        self.lock = threading.RLock()
        self.db = sqlite3.connect(path or ":memory:", check_same_thread=False, isolation_level=None)
        if path:
            # WAL, no fsync: survives a killed server process (the OS keeps the writes), not a
            # power loss -- the right trade for a dev server that must load millions of rows.
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=OFF")
            self.db.execute("PRAGMA wal_autocheckpoint=20000")
        self.db.execute("PRAGMA cache_size=-262144")
        self.db.execute("PRAGMA mmap_size=4294967296")
        self.db.execute("PRAGMA temp_store=MEMORY")
        self.db.execute("CREATE TABLE IF NOT EXISTS cql_keyspaces (name TEXT PRIMARY KEY, definition TEXT NOT NULL)")
        self.db.execute("CREATE TABLE IF NOT EXISTS cql_tables (keyspace TEXT NOT NULL, name TEXT NOT NULL, "
                        "definition TEXT NOT NULL, PRIMARY KEY (keyspace, name))")
        self.keyspaces: dict[str, Keyspace] = {}
        for name, definition in self.db.execute("SELECT name, definition FROM cql_keyspaces"):
            d = json.loads(definition)
            self.keyspaces[name] = Keyspace(name, d["replication"], d.get("durable_writes", True))
        for ks, name, definition in self.db.execute("SELECT keyspace, name, definition FROM cql_tables").fetchall():
            if ks in self.keyspaces:
                table = Table.from_json(ks, name, json.loads(definition))
                self.keyspaces[ks].tables[name] = table
                self._upgrade_table(table)
        self.schema_version = uuid.uuid4()
        self._last_write = self._txn_start = time.monotonic()
        self._closed = threading.Event()
        self._committer = threading.Thread(target=self._commit_loop, name="cqlserver-commit", daemon=True)
        self._committer.start()

    # -------------------------------------------------------- transactions
    # Writes are group-committed: a transaction stays open while write requests keep coming and
    # is committed once writes pause for COMMIT_IDLE seconds, or at the latest COMMIT_MAX seconds
    # after it began (one WAL append per group instead of one per row; bulk loads touch each
    # B-tree page once per group).  Reads use the same connection and always see the latest writes.
    COMMIT_IDLE = 0.05
    COMMIT_MAX = 1.0

    def begin(self):
        now = time.monotonic()
        self._last_write = now
        if not self.db.in_transaction:
            self.db.execute("BEGIN")
            self._txn_start = now

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
        while not self._closed.wait(self.COMMIT_IDLE / 2):
            with self.lock:
                if self._closed.is_set() or not self.db.in_transaction:
                    continue
                now = time.monotonic()
                if now - self._last_write >= self.COMMIT_IDLE or now - self._txn_start >= self.COMMIT_MAX:
                    try:
                        self.commit()
                    except sqlite3.Error:
                        log.exception("commit failed")

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
                        'exp BLOB, minexp INTEGER, PRIMARY KEY (tok, pk, ck)) WITHOUT ROWID' % table.data_table)
        self._expiry_index(table)
        self.db.execute("INSERT INTO cql_tables VALUES (?, ?, ?)",
                        (table.keyspace, table.name, json.dumps(table.to_json())))
        self.keyspaces[table.keyspace].tables[table.name] = table
        self.schema_version = uuid.uuid4()

    def _expiry_index(self, table: Table):
        self.db.execute('CREATE INDEX IF NOT EXISTS "%s_exp" ON "%s" (minexp) WHERE minexp IS NOT NULL'
                        % (table.data_table, table.data_table))

    def _upgrade_table(self, table: Table):
        """Tables written before TTL support lack the expiry columns."""
        cols = {r[1] for r in self.db.execute('PRAGMA table_info("%s")' % table.data_table)}
        if "exp" not in cols:
            self.db.execute('ALTER TABLE "%s" ADD COLUMN exp BLOB' % table.data_table)
            self.db.execute('ALTER TABLE "%s" ADD COLUMN minexp INTEGER' % table.data_table)
            self._expiry_index(table)
        table.next_expiry = self.db.execute('SELECT min(minexp) FROM "%s"' % table.data_table).fetchone()[0]

    def drop_table(self, table: Table):
        self.db.execute('DROP TABLE IF EXISTS "%s"' % table.data_table)
        self.db.execute("DELETE FROM cql_tables WHERE keyspace = ? AND name = ?", (table.keyspace, table.name))
        self.keyspaces[table.keyspace].tables.pop(table.name, None)
        self.schema_version = uuid.uuid4()

    def truncate(self, table: Table):
        self.db.execute('DELETE FROM "%s"' % table.data_table)

    # --------------------------------------------------------------- rows
    # Expiry (TTL): ``exp`` holds, per regular column and then for the row marker, the unix second
    # at which the cell expires (0: never); ``minexp`` the earliest of them, indexed.  Expired
    # cells are purged (turned into tombstones, as Cassandra does) before any read or write of
    # the table reaches its rows, so no expired value is ever served.

    def purge_expired(self, table: Table, now: int | None = None):
        if table.next_expiry is None:
            return
        now = int(self.clock()) if now is None else now
        if table.next_expiry > now:
            return
        dt = table.data_table
        self.begin()
        rows = self.db.execute('SELECT tok, pk, ck, cells, wts, marker, exp FROM "%s" WHERE minexp <= ?' % dt,
                               (now,)).fetchall()
        n_key = table.n_key
        n_reg = table.n_regular
        for tok, pk, ck, cells, wts_blob, marker, exp_blob in rows:
            values = split_cells(cells, len(table.columns))
            wts = unpack_wts(wts_blob, n_reg)
            exp = unpack_exp(exp_blob, n_reg)
            for r in range(n_reg):
                if exp[r] and exp[r] <= now:
                    values[n_key + r] = None
                    exp[r] = 0
            if exp[n_reg] and exp[n_reg] <= now:
                marker = None
                exp[n_reg] = 0
            self._store(table, tok, pk, ck, values, wts, marker, exp, exists=True)
        table.next_expiry = self.db.execute('SELECT min(minexp) FROM "%s"' % dt).fetchone()[0]

    def get_row(self, table: Table, tok: int, pk: bytes, ck: bytes):
        return self.db.execute('SELECT cells, wts, marker, exp FROM "%s" WHERE tok = ? AND pk = ? AND ck = ?'
                               % table.data_table, (tok, pk, ck)).fetchone()

    def write_row(self, table: Table, tok, pk, ck, key_values, updates, ts, set_marker, ttl=0):
        """Apply cell updates with last-write-wins per cell.

        ``updates`` maps column index -> new value (bytes/None) or a callable old -> new.
        ``ttl`` (seconds, 0 = none) applies to the written cells and, for INSERT, the row marker.
        """
        n_key = table.n_key
        n_reg = table.n_regular
        expiry = int(self.clock()) + ttl if ttl else 0
        if set_marker and not any(callable(v) for v in updates.values()):
            # Fast path for INSERT: try to add a new row, merge only if it already exists.
            values = list(key_values) + [None] * n_reg
            wts = [NO_TS] * n_reg
            exp = None
            if expiry:
                exp = [0] * (n_reg + 1)
                exp[n_reg] = expiry
            for idx, new in updates.items():
                values[idx] = new
                wts[idx - n_key] = ts
                if expiry and new is not None:
                    exp[idx - n_key] = expiry
            try:
                self.db.execute('INSERT INTO "%s" VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)' % table.data_table,
                                (tok, pk, ck, join_cells(values), pack_wts(wts), ts, ts,
                                 pack_wts(exp) if expiry else None, expiry or None))
                if expiry:
                    self._note_expiry(table, expiry)
                return
            except sqlite3.IntegrityError:
                pass
        row = self.get_row(table, tok, pk, ck)
        if row is None:
            values = list(key_values) + [None] * n_reg
            wts = [NO_TS] * n_reg
            marker = None
            exp = [0] * (n_reg + 1)
        else:
            values = split_cells(row[0], len(table.columns))
            wts = unpack_wts(row[1], n_reg)
            marker = row[2]
            exp = unpack_exp(row[3], n_reg)
        for idx, new in updates.items():
            r = idx - n_key
            if ts >= wts[r]:
                if callable(new):
                    new = new(values[idx])
                values[idx] = new
                wts[r] = ts
                exp[r] = expiry if new is not None else 0
        if set_marker and (marker is None or ts >= marker):
            marker = ts
            exp[n_reg] = expiry
        self._store(table, tok, pk, ck, values, wts, marker, exp, exists=row is not None)

    def _note_expiry(self, table, expiry):
        if table.next_expiry is None or expiry < table.next_expiry:
            table.next_expiry = expiry

    def _store(self, table, tok, pk, ck, values, wts, marker, exp, exists):
        n_key = table.n_key
        live = marker is not None or any(v is not None for v in values[n_key:])
        if not live:
            if exists:
                self.db.execute('DELETE FROM "%s" WHERE tok = ? AND pk = ? AND ck = ?' % table.data_table,
                                (tok, pk, ck))
            return
        maxts = max([w for w in wts if w != NO_TS] + ([marker] if marker is not None else []) or [NO_TS])
        live_exp = [e for r, e in enumerate(exp[:-1]) if e and values[n_key + r] is not None]
        if exp[-1] and marker is not None:
            live_exp.append(exp[-1])
        minexp = min(live_exp) if live_exp else None
        self.db.execute('INSERT OR REPLACE INTO "%s" VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)' % table.data_table,
                        (tok, pk, ck, join_cells(values), pack_wts(wts), marker, maxts,
                         pack_wts(exp) if minexp else None, minexp))
        if minexp:
            self._note_expiry(table, minexp)

    def delete_rows(self, table: Table, where_sql: str, params: list, ts: int, columns=None):
        """Delete rows (or only ``columns``) matching ``where_sql`` at timestamp ``ts``."""
        dt = table.data_table
        if columns is None:
            self.db.execute('DELETE FROM "%s" WHERE %s AND maxts <= ?' % (dt, where_sql), params + [ts])
        rows = self.db.execute('SELECT tok, pk, ck, cells, wts, marker, exp FROM "%s" WHERE %s' % (dt, where_sql),
                               params).fetchall()
        n_key = table.n_key
        for tok, pk, ck, cells, wts_blob, marker, exp_blob in rows:
            values = split_cells(cells, len(table.columns))
            wts = unpack_wts(wts_blob, table.n_regular)
            exp = unpack_exp(exp_blob, table.n_regular)
            targets = range(n_key, len(table.columns)) if columns is None else columns
            for idx in targets:
                r = idx - n_key
                if ts >= wts[r]:
                    values[idx] = None
                    wts[r] = ts
                    exp[r] = 0
            if columns is None and marker is not None and marker <= ts:
                marker = None
                exp[-1] = 0
            self._store(table, tok, pk, ck, values, wts, marker, exp, exists=True)
