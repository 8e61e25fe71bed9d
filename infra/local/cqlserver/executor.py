"""Execution of parsed CQL statements against the store.

Every public method returns the body of a RESULT message (bytes) or raises a
:class:`CqlError` that the connection turns into an ERROR message.
"""

from __future__ import annotations

import decimal
import hashlib
import itertools
import operator
import re
import struct
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass

from . import cql
from . import protocol as P
from .cqltypes import CqlType, parse_type
from .errors import AlreadyExists, InvalidRequest, Unprepared
from .schema import MIN_TOKEN, Keyspace, Table, component_key, routing_key, token_of
from .storage import Store, split_cells, split_raw, unpack_exp, unpack_wts, NO_TS
from .system import SIMPLE, SYSTEM_KEYSPACES, SYSTEM_TABLES, SysTable

BIGINT = parse_type("bigint")
INT = parse_type("int")
BOOLEAN = parse_type("boolean")
_I64 = struct.Struct(">q")
_I32 = struct.Struct(">i")
_NAME_RE = re.compile(r"^\w{1,48}$")
_PAGING = struct.Struct(">Bqi")
_TOKEN_VALUE = struct.Struct(">iq")  # a bigint [bytes] value: length 8, then the token
MAX_TTL = 20 * 365 * 24 * 3600
FILTER_SCAN_BUDGET = 20000
FILTERING_MSG = ("Cannot execute this query as it might involve data filtering and thus may have unpredictable "
                 "performance. If you want to execute this query despite the performance unpredictability, "
                 "use ALLOW FILTERING")


class Session:
    """Per-connection state."""

    def __init__(self, local_address: str, port: int):
        self.keyspace: str | None = None
        self.local_address = local_address
        self.port = port


@dataclass
class Prepared:
    query_id: bytes
    query: str
    keyspace: str | None
    stmt: object


class Context:
    """What system table row functions need."""

    def __init__(self, store, tokens, session):
        self.store = store
        self.tokens = tokens
        self.local_address = session.local_address
        self.port = session.port


def now_micros() -> int:
    return time.time_ns() // 1000


def _int_term_value(data, name):
    if data is None or data is P.UNSET:
        raise InvalidRequest("Invalid null value of %s" % name)
    if len(data) == 8:
        return _I64.unpack(data)[0]
    if len(data) == 4:
        return _I32.unpack(data)[0]
    raise InvalidRequest("Invalid value for %s" % name)


def _succ(b: bytes):
    """Smallest byte string greater than every string having ``b`` as prefix (None: unbounded)."""
    b = b.rstrip(b"\xff")
    if not b:
        return None
    return b[:-1] + bytes([b[-1] + 1])


class Executor:
    def __init__(self, store: Store, tokens: list[int]):
        self.store = store
        self.tokens = tokens
        self.prepared: dict[bytes, Prepared] = {}
        self._parse_cache: OrderedDict = OrderedDict()
        self._cache_lock = threading.Lock()

    # ------------------------------------------------------------ parsing
    def parse(self, text: str):
        with self._cache_lock:
            stmt = self._parse_cache.get(text)
            if stmt is not None:
                self._parse_cache.move_to_end(text)
                return stmt
        stmt = cql.parse(text)
        with self._cache_lock:
            self._parse_cache[text] = stmt
            if len(self._parse_cache) > 2000:
                self._parse_cache.popitem(last=False)
        return stmt

    # ----------------------------------------------------- entry points
    def query(self, text: str, params: P.QueryParams, session: Session) -> bytes:
        stmt = self.parse(text)
        bound = self._bind_values(stmt, params, session)
        return self._run(stmt, bound, params, session)

    def prepare(self, text: str, session: Session) -> bytes:
        stmt = self.parse(text)
        if isinstance(stmt, cql.Batch):
            raise InvalidRequest("Preparing BATCH statements is not supported by the CQL dev server; "
                                 "use a BatchStatement of prepared statements")
        ks_hint = session.keyspace or ""
        query_id = hashlib.md5((ks_hint + "\x00" + text).encode("utf-8")).digest()
        specs = self._marker_specs(stmt, session)
        pk_indexes = self._pk_indexes(stmt, session)
        result_columns = []
        if isinstance(stmt, cql.Select):
            target = self._resolve(stmt, session)
            result_columns = self._select_columns(target, stmt)
        ks, table = self._spec_names(stmt, session)
        with self._cache_lock:
            self.prepared[query_id] = Prepared(query_id, text, session.keyspace, stmt)
        return P.prepared_result(query_id, specs, pk_indexes, result_columns, ks, table)

    def execute(self, query_id: bytes, params: P.QueryParams, session: Session) -> bytes:
        prep = self.prepared.get(query_id)
        if prep is None:
            raise Unprepared(query_id)
        exec_session = session
        if prep.keyspace and prep.keyspace != session.keyspace:
            exec_session = Session(session.local_address, session.port)
            exec_session.keyspace = prep.keyspace
        bound = self._bind_values(prep.stmt, params, exec_session)
        return self._run(prep.stmt, bound, params, exec_session)

    def batch(self, items, params: P.QueryParams, session: Session) -> bytes:
        """items: [(kind, query_or_id, values)] from a BATCH message."""
        work = []
        for kind, ref, values in items:
            if kind == 0:
                stmt = self.parse(ref)
                stmt_session = session
            else:
                prep = self.prepared.get(ref)
                if prep is None:
                    raise Unprepared(ref)
                stmt = prep.stmt
                stmt_session = session
                if prep.keyspace and prep.keyspace != session.keyspace:
                    stmt_session = Session(session.local_address, session.port)
                    stmt_session.keyspace = prep.keyspace
            if not isinstance(stmt, (cql.Insert, cql.Update, cql.Delete)):
                raise InvalidRequest("Invalid statement in batch: only UPDATE, INSERT and DELETE statements "
                                     "are allowed.")
            sub = P.QueryParams()
            sub.values = values
            work.append((stmt, self._bind_values(stmt, sub, stmt_session), stmt_session))
        ts = params.timestamp if params.timestamp is not None else now_micros()
        self._run_batch(work, ts)
        return P.void_result()

    # ----------------------------------------------------------- dispatch
    def _run(self, stmt, bound, params, session) -> bytes:
        if isinstance(stmt, cql.Select):
            return self._select(stmt, bound, params, session)
        if isinstance(stmt, (cql.Insert, cql.Update, cql.Delete)):
            ts = params.timestamp if params.timestamp is not None else now_micros()
            with self.store.lock:
                self.store.begin()
                if isinstance(stmt, cql.Insert):
                    return self._write(stmt, bound, session, ts)  # one row: nothing partial on error
                with self.store.savepoint():
                    return self._write(stmt, bound, session, ts)
        if isinstance(stmt, cql.Batch):
            ts = params.timestamp if params.timestamp is not None else now_micros()
            if stmt.timestamp is not None:
                ts = _int_term_value(self._term_bytes(stmt.timestamp, BIGINT, bound, "[timestamp]"), "timestamp")
            work = [(s, bound, session) for s in stmt.statements]
            self._run_batch(work, ts)
            return P.void_result()
        if isinstance(stmt, cql.Use):
            if stmt.keyspace not in self.store.keyspaces and stmt.keyspace not in SYSTEM_KEYSPACES:
                raise InvalidRequest("Keyspace '%s' does not exist" % stmt.keyspace)
            session.keyspace = stmt.keyspace
            return P.set_keyspace_result(stmt.keyspace)
        with self.store.lock:
            self.store.commit()
            return self._ddl(stmt, session)

    def _run_batch(self, work, ts):
        for stmt, _, _ in work:
            if getattr(stmt, "if_not_exists", False) or getattr(stmt, "if_exists", False):
                raise InvalidRequest("Conditional statements in batches are not supported by the CQL dev server")
        with self.store.lock:
            self.store.begin()
            with self.store.savepoint():
                for stmt, bound, session in work:
                    self._write(stmt, bound, session, ts)

    # ---------------------------------------------------------- resolution
    def _table_ref(self, stmt, session):
        ks = stmt.keyspace or session.keyspace
        if ks is None:
            raise InvalidRequest("No keyspace has been specified. USE a keyspace, or explicitly specify "
                                 "keyspace.tablename")
        return ks, stmt.name

    def _resolve(self, stmt, session):
        ks, name = self._table_ref(stmt, session)
        sys_table = SYSTEM_TABLES.get((ks, name))
        if sys_table is not None:
            return sys_table
        keyspace = self.store.keyspaces.get(ks)
        if keyspace is None:
            if ks in SYSTEM_KEYSPACES:
                raise InvalidRequest("table %s does not exist" % name)
            raise InvalidRequest("Keyspace %s does not exist" % ks)
        table = keyspace.tables.get(name)
        if table is None:
            raise InvalidRequest("table %s does not exist" % name)
        return table

    def _resolve_user(self, stmt, session) -> Table:
        target = self._resolve(stmt, session)
        if isinstance(target, SysTable):
            raise InvalidRequest("Modification of system keyspace %s is not supported" % target.keyspace)
        return target

    def _spec_names(self, stmt, session):
        if isinstance(stmt, (cql.Select, cql.Insert, cql.Update, cql.Delete)):
            ks, name = self._table_ref(stmt, session)
            return ks, name
        return session.keyspace or "", ""

    @staticmethod
    def _types_of(target):
        if isinstance(target, SysTable):
            return target.types
        return {c.name: c.type for c in target.columns}

    # ------------------------------------------------------ bind markers
    def _marker_specs(self, stmt, session) -> list:
        """[(name, CqlType)] for every bind marker of the statement, in order."""
        markers = stmt.markers
        if not markers:
            return []
        if isinstance(stmt, cql.Batch):
            types = {}
            specs = [None] * len(markers)
            for sub in stmt.statements:
                self._fill_specs(sub, self._types_of(self._resolve(sub, session)), specs)
        else:
            if not hasattr(stmt, "name"):
                raise InvalidRequest("Bind markers are not allowed in this statement")
            types = self._types_of(self._resolve(stmt, session))
            specs = [None] * len(markers)
            self._fill_specs(stmt, types, specs)
        for m, spec in zip(markers, specs):
            if spec is None:
                raise InvalidRequest("Cannot infer the type of bind marker %d" % m.index)
        return specs

    def _fill_specs(self, stmt, types, specs):
        def column_type(name):
            t = types.get(name)
            if t is None:
                raise InvalidRequest("Undefined column name %s" % name)
            return t

        def walk(term, name, ctype):
            if isinstance(term, cql.Marker):
                specs[term.index] = (term.name or name, ctype)
            elif isinstance(term, (cql.ListLit, cql.SetLit)) and ctype.is_collection:
                for item in term.items:
                    walk(item, name, ctype.subtypes[0])
            elif isinstance(term, cql.MapLit) and ctype.name == "map":
                for k, v in term.items:
                    walk(k, name, ctype.subtypes[0])
                    walk(v, name, ctype.subtypes[1])

        def walk_using(s):
            if getattr(s, "ttl", None) is not None:
                walk(s.ttl, "[ttl]", INT)
            if getattr(s, "timestamp", None) is not None:
                walk(s.timestamp, "[timestamp]", BIGINT)

        def walk_where(rels):
            for rel in rels:
                if isinstance(rel.lhs, cql.TokenRef):
                    walk(rel.rhs, "partition key token", BIGINT)
                    continue
                ctype = column_type(rel.lhs.name)
                if rel.op == "IN":
                    if isinstance(rel.rhs, list):
                        for t in rel.rhs:
                            walk(t, rel.lhs.name, ctype)
                    else:
                        walk(rel.rhs, "in(%s)" % rel.lhs.name, CqlType("list", (ctype,), True))
                else:
                    walk(rel.rhs, rel.lhs.name, ctype)

        # Markers are numbered in textual order; walk in the same order the parser saw them.
        if isinstance(stmt, cql.Insert):
            for col, term in zip(stmt.columns, stmt.values):
                walk(term, col, column_type(col))
            walk_using(stmt)
        elif isinstance(stmt, cql.Update):
            walk_using(stmt)
            for col, op, term in stmt.assignments:
                ctype = column_type(col)
                if op == "setkey":
                    key, value = term
                    if ctype.name == "map":
                        walk(key, "key(%s)" % col, ctype.subtypes[0])
                        walk(value, "value(%s)" % col, ctype.subtypes[1])
                    elif ctype.name == "list":
                        walk(key, "idx(%s)" % col, INT)
                        walk(value, "value(%s)" % col, ctype.subtypes[0])
                    else:
                        raise InvalidRequest("Invalid operation (%s[?] = ?) for non collection column %s"
                                             % (col, col))
                elif op == "-" and ctype.name == "map":
                    walk(term, col, CqlType("set", (ctype.subtypes[0],), True))
                else:
                    walk(term, col, ctype)
            walk_where(stmt.where)
        elif isinstance(stmt, cql.Delete):
            walk_using(stmt)
            walk_where(stmt.where)
        elif isinstance(stmt, cql.Select):
            walk_where(stmt.where)
            if stmt.per_partition_limit is not None:
                walk(stmt.per_partition_limit, "[per_partition_limit]", INT)
            if stmt.limit is not None:
                walk(stmt.limit, "[limit]", INT)

    def _pk_indexes(self, stmt, session) -> list:
        if not isinstance(stmt, (cql.Insert, cql.Update, cql.Delete, cql.Select)):
            return []
        target = self._resolve(stmt, session)
        pk_names = [c.name for c in target.partition_key] if isinstance(target, Table) else target.partition_key
        found = {}
        if isinstance(stmt, cql.Insert):
            for col, term in zip(stmt.columns, stmt.values):
                if isinstance(term, cql.Marker):
                    found[col] = term.index
        else:
            for rel in stmt.where:
                if isinstance(rel.lhs, cql.ColumnRef) and rel.op == "=" and isinstance(rel.rhs, cql.Marker):
                    found[rel.lhs.name] = rel.rhs.index
        if all(n in found for n in pk_names):
            return [found[n] for n in pk_names]
        return []

    def _bind_values(self, stmt, params, session) -> list:
        markers = stmt.markers
        values = params.values or []
        if params.names is not None:
            by_name = dict(zip(params.names, values))
            specs = self._marker_specs(stmt, session)
            ordered = []
            for m, (spec_name, _) in zip(markers, specs):
                if spec_name not in by_name:
                    raise InvalidRequest("Bind variable %s was not given a value" % spec_name)
                ordered.append(by_name[spec_name])
            values = ordered
        if len(values) != len(markers):
            raise InvalidRequest("There were %d markers(?) in CQL but %d bound variables"
                                 % (len(markers), len(values)))
        return values

    # ------------------------------------------------------------- terms
    def _term_bytes(self, term, ctype: CqlType, bound, what: str):
        """Serialized value of a term: bytes, None (null) or protocol.UNSET."""
        if isinstance(term, cql.Marker):
            v = bound[term.index]
            if v is None or v is P.UNSET:
                return v
            return ctype.validate(v, what)
        if isinstance(term, cql.Literal) and term.value is None:
            return None
        return ctype.encode(self._term_py(term, ctype, bound, what))

    def _term_py(self, term, ctype: CqlType, bound, what: str):
        name = ctype.name
        if isinstance(term, cql.Marker):
            v = bound[term.index]
            if v is None or v is P.UNSET:
                raise InvalidRequest("null is not supported inside collections")
            return ctype.decode(ctype.validate(v, what))
        if isinstance(term, cql.Number):
            text = term.text
            if name in ("int", "bigint", "smallint", "tinyint", "varint", "timestamp", "time", "date", "counter"):
                if not re.fullmatch(r"-?\d+", text):
                    raise InvalidRequest("Invalid FLOAT constant (%s) for \"%s\" of type %s" % (text, what, name))
                return int(text)
            if name in ("float", "double"):
                return float(text)
            if name == "decimal":
                return decimal.Decimal(text)
            raise InvalidRequest("Invalid INTEGER constant (%s) for \"%s\" of type %s" % (text, what, ctype.cql()))
        if isinstance(term, cql.Literal):
            v = term.value
            if isinstance(v, str):
                if name in ("text", "ascii", "timestamp", "date", "time", "inet"):
                    return v
                if name in ("uuid", "timeuuid"):
                    try:
                        return uuid.UUID(v)
                    except ValueError:
                        raise InvalidRequest("Unable to make UUID from '%s'" % v) from None
                raise InvalidRequest("Invalid STRING constant (%s) for \"%s\" of type %s" % (v, what, ctype.cql()))
            if isinstance(v, bool):
                if name != "boolean":
                    raise InvalidRequest("Invalid BOOLEAN constant (%s) for \"%s\" of type %s"
                                         % (str(v).lower(), what, ctype.cql()))
                return v
            if isinstance(v, bytes):
                if name != "blob":
                    raise InvalidRequest("Invalid HEX constant (0x%s) for \"%s\" of type %s"
                                         % (v.hex(), what, ctype.cql()))
                return v
            if isinstance(v, float):
                if name not in ("float", "double"):
                    raise InvalidRequest("Invalid constant (%s) for \"%s\" of type %s" % (v, what, ctype.cql()))
                return v
            if v is None:
                raise InvalidRequest("null is not supported inside collections")
        if isinstance(term, cql.UuidLit):
            if name not in ("uuid", "timeuuid"):
                raise InvalidRequest("Invalid UUID constant (%s) for \"%s\" of type %s" % (term.text, what, ctype.cql()))
            return uuid.UUID(term.text)
        if isinstance(term, cql.ListLit):
            if name != "list":
                raise InvalidRequest("Invalid list literal for %s of type %s" % (what, ctype.cql()))
            return [self._term_py(i, ctype.subtypes[0], bound, what) for i in term.items]
        if isinstance(term, cql.SetLit):
            if name != "set":
                raise InvalidRequest("Invalid set literal for %s of type %s" % (what, ctype.cql()))
            return [self._term_py(i, ctype.subtypes[0], bound, what) for i in term.items]
        if isinstance(term, cql.MapLit):
            if not term.items and name in ("set", "list", "map"):
                return [] if name != "map" else {}
            if name != "map":
                raise InvalidRequest("Invalid map literal for %s of type %s" % (what, ctype.cql()))
            kt, vt = ctype.subtypes
            return [(self._term_py(k, kt, bound, what), self._term_py(v, vt, bound, what)) for k, v in term.items]
        raise InvalidRequest("Unsupported value for %s" % what)

    # -------------------------------------------------------------- where
    def _where(self, table: Table, rels, bound, for_select=True, filtering=False):
        """Compile restrictions to SQL: (sql, params, partitions, full_rows, full_eq).

        The SQL carries ``{L}``/``{H}`` placeholders before lower/upper range bounds: a paged
        query formats them as ``+`` (no index use) so SQLite seeks on the paging position
        instead of rescanning from the start of the range; other callers use :func:`plain_sql`.

        ``partitions``: list of (tok, pk, pk_values) when the partition key is restricted.
        ``full_rows``: list of (tok, pk, ck, key_values) when every key column is restricted by
        equality (used by UPDATE/DELETE and single-row lookups), else None.
        With ``filtering`` (ALLOW FILTERING), restrictions SQL cannot serve are returned in
        ``self.filters`` form: [(column index, op, values, CqlType)], applied row by row.
        """
        filters = []
        pk_vals = {}
        ck_rels = {}
        token_rels = []
        for rel in rels:
            if isinstance(rel.lhs, cql.TokenRef):
                names = rel.lhs.names
                if names != [c.name for c in table.partition_key]:
                    raise InvalidRequest("The token function arguments must be in the partition key order: %s"
                                         % ", ".join(c.name for c in table.partition_key))
                data = self._term_bytes(rel.rhs, BIGINT, bound, "partition key token")
                if data is None or data is P.UNSET:
                    raise InvalidRequest("Invalid null value for partition key token")
                token_rels.append((rel.op, _I64.unpack(data)[0]))
                continue
            col = table.column(rel.lhs.name)
            if col is None:
                raise InvalidRequest("Undefined column name %s" % rel.lhs.name)
            terms = rel.rhs if rel.op == "IN" else [rel.rhs]
            if not isinstance(terms, list):
                raise InvalidRequest("IN ? restriction on %s must be expanded first" % col.name)
            values = [t if isinstance(t, bytes) else self._term_bytes(t, col.type, bound, col.name)
                      for t in terms]
            for v in values:
                if v is None:
                    raise InvalidRequest("Invalid null value in condition for column %s" % col.name)
                if v is P.UNSET:
                    raise InvalidRequest("Invalid unset value for column %s" % col.name)
            if col.kind == "regular":
                if not filtering:
                    raise InvalidRequest(FILTERING_MSG)
                filters.append(self._filter(table, col, rel.op, values))
                continue
            if col.kind == "partition_key":
                if rel.op not in ("=", "IN"):
                    raise InvalidRequest("Only EQ and IN relation are supported on the partition key "
                                         "(unless you use the token() function)")
                if col.name in pk_vals:
                    raise InvalidRequest("%s cannot be restricted by more than one relation if it includes "
                                         "an Equal" % col.name)
                pk_vals[col.name] = values
            else:
                ck_rels.setdefault(col.name, []).append((rel.op, values))

        sql = []
        params = []
        partitions = None
        if pk_vals:
            missing = [c.name for c in table.partition_key if c.name not in pk_vals]
            if missing and filtering:
                for name, values in pk_vals.items():
                    filters.append(self._filter(table, table.column(name), "IN", values))
                pk_vals = {}
            elif missing:
                raise InvalidRequest("Cannot execute this query as it might involve data filtering and thus may "
                                     "have unpredictable performance (partition key parts %s are not restricted). "
                                     "Use ALLOW FILTERING." % ", ".join(missing))
        if pk_vals:
            if token_rels:
                raise InvalidRequest("Columns \"%s\" cannot be restricted by both a normal relation and a token "
                                     "relation" % ", ".join(pk_vals))
            partitions = []
            seen = set()
            for combo in itertools.product(*(pk_vals[c.name] for c in table.partition_key)):
                key = routing_key(list(combo))
                if not key:
                    raise InvalidRequest("Key may not be empty")
                if key in seen:
                    continue
                seen.add(key)
                partitions.append((token_of(key), key, list(combo)))
            if not partitions:
                sql.append("0")
            elif len(partitions) == 1:
                sql.append("tok = ? AND pk = ?")
                params += [partitions[0][0], partitions[0][1]]
            else:
                sql.append("tok IN (%s)" % ",".join("?" * len(partitions)))
                params += [p[0] for p in partitions]
                sql.append("pk IN (%s)" % ",".join("?" * len(partitions)))
                params += [p[1] for p in partitions]
        elif not pk_vals and not for_select:
            raise InvalidRequest("Some partition key parts are missing: %s"
                                 % ", ".join(c.name for c in table.partition_key))

        lo = hi = None  # (value, inclusive)
        for op, v in token_rels:
            if op == "=":
                lo = _tighter_lo(lo, (v, True))
                hi = _tighter_hi(hi, (v, True))
            elif op in (">", ">="):
                lo = _tighter_lo(lo, (v, op == ">="))
            else:
                if v == MIN_TOKEN:
                    continue  # the minimum token as an end bound means "end of the ring"
                hi = _tighter_hi(hi, (v, op == "<="))
        if lo is not None:
            sql.append("{L}tok >= ?" if lo[1] else "{L}tok > ?")
            params.append(lo[0])
        if hi is not None:
            sql.append("{H}tok <= ?" if hi[1] else "{H}tok < ?")
            params.append(hi[0])

        # Clustering: equality prefix, then at most one column with a range.
        prefixes = [(b"", [])]
        full_eq = True
        range_done = False
        ck_lo = ck_hi = None
        for col in table.clustering:
            rs = ck_rels.pop(col.name, None)
            if rs is None:
                full_eq = False
                if ck_rels and not filtering:
                    raise InvalidRequest("PRIMARY KEY column \"%s\" cannot be restricted as preceding column "
                                         "\"%s\" is not restricted" % (next(iter(ck_rels)), col.name))
                break
            if range_done or (len(prefixes) != 1 and not any(r[0] in ("=", "IN") for r in rs)):
                if not filtering:
                    raise InvalidRequest("Clustering column \"%s\" cannot be restricted (preceding column is "
                                         "restricted by a non-EQ relation)" % col.name)
                full_eq = False
                filters.extend(self._filter(table, col, op, values) for op, values in rs)
                continue
            eq = [r for r in rs if r[0] in ("=", "IN")]
            if eq:
                if len(rs) > 1:
                    raise InvalidRequest("%s cannot be restricted by more than one relation if it includes an "
                                         "Equal" % col.name)
                op, values = eq[0]
                keyed = sorted({component_key(col, v): v for v in values}.items())
                prefixes = [(p + k, pv + [v]) for p, pv in prefixes for k, v in keyed]
                continue
            full_eq = False
            range_done = True
            prefix = prefixes[0][0]
            ck_lo, ck_hi = prefix, _succ(prefix) if prefix else None
            for op, values in rs:
                e = prefix + component_key(col, values[0])
                if col.desc:
                    op = {">": "<", ">=": "<=", "<": ">", "<=": ">="}[op]
                if op == ">":
                    bound_lo, bound_hi = _succ(e), None
                    if bound_lo is None:
                        bound_lo = b"\xff" * (len(e) + 1)
                elif op == ">=":
                    bound_lo, bound_hi = e, None
                elif op == "<":
                    bound_lo, bound_hi = None, e
                else:
                    bound_lo, bound_hi = None, _succ(e)
                if bound_lo is not None and bound_lo > ck_lo:
                    ck_lo = bound_lo
                if bound_hi is not None and (ck_hi is None or bound_hi < ck_hi):
                    ck_hi = bound_hi
        for name, rs in ck_rels.items():  # left over after a gap in the clustering prefix
            filters.extend(self._filter(table, table.column(name), op, values) for op, values in rs)
        if range_done:
            if ck_lo:
                sql.append("{L}ck >= ?")
                params.append(ck_lo)
            if ck_hi is not None:
                sql.append("{H}ck < ?")
                params.append(ck_hi)
        elif prefixes != [(b"", [])]:
            if full_eq and len(prefixes) == 1:
                sql.append("ck = ?")
                params.append(prefixes[0][0])
            elif full_eq:
                sql.append("ck IN (%s)" % ",".join("?" * len(prefixes)))
                params += [p for p, _ in prefixes]
            else:
                ors = []
                for p, _ in prefixes:
                    s = _succ(p)
                    if s is None:
                        ors.append("{L}ck >= ?")
                        params.append(p)
                    else:
                        ors.append("({L}ck >= ? AND {H}ck < ?)")
                        params += [p, s]
                sql.append("(" + " OR ".join(ors) + ")")
        full_rows = None
        if partitions is not None and full_eq:
            full_rows = [(tok, pk, ck, pk_values + ck_values)
                         for tok, pk, pk_values in partitions for ck, ck_values in prefixes]
        return " AND ".join(sql) or "1", params, partitions, full_rows, full_eq, filters

    @staticmethod
    def _filter(table: Table, col, op, values):
        if op not in ("=", "IN") and not col.type.orderable:
            raise InvalidRequest("Range restrictions on %s of type %s are not supported by the CQL dev server"
                                 % (col.name, col.type.cql()))
        return (table.by_name[col.name], op, values, col.type)

    @staticmethod
    def _matches(values, filters) -> bool:
        for idx, op, wanted, ctype in filters:
            v = values[idx]
            if v is None:
                return False
            if op == "=":
                if v != wanted[0]:
                    return False
            elif op == "IN":
                if v not in wanted:
                    return False
            else:
                a = ctype.order_key(v)
                b = ctype.order_key(wanted[0])
                if not ((op == ">" and a > b) or (op == ">=" and a >= b) or (op == "<" and a < b)
                        or (op == "<=" and a <= b)):
                    return False
        return True

    @staticmethod
    def _plain(where_sql: str) -> str:
        return where_sql.replace("{L}", "").replace("{H}", "")

    # ------------------------------------------------------------- select
    def _select_columns(self, target, stmt):
        return [(name, ctype) for name, ctype, _ in self._selection(target, stmt)]

    def _selection(self, target, stmt):
        """[(output name, CqlType, (kind, arg))] for the statement's selectors."""
        out = []
        if isinstance(target, SysTable):
            names = [n for n, _ in target.columns]
            types = target.types
        else:
            names = [c.name for c in target.columns]
            types = {c.name: c.type for c in target.columns}
        for sel in stmt.selectors:
            if sel.kind == "star":
                out += [(n, types[n], ("col", i)) for i, n in enumerate(names)]
            elif sel.kind == "column":
                name = sel.args[0]
                if name not in types:
                    raise InvalidRequest("Undefined column name %s" % name)
                out.append((sel.alias or name, types[name], ("col", names.index(name))))
            elif sel.kind == "count":
                out.append((sel.alias or "count", BIGINT, ("count", None)))
            elif sel.kind == "token":
                pk = target.partition_key if isinstance(target, SysTable) else [c.name for c in target.partition_key]
                if sel.args != pk:
                    raise InvalidRequest("Invalid arguments for token(): expected the partition key columns "
                                         "(%s) in order" % ", ".join(pk))
                out.append((sel.alias or "system.token(%s)" % ", ".join(sel.args), BIGINT, ("token", None)))
            elif sel.kind == "writetime":
                if isinstance(target, SysTable):
                    raise InvalidRequest("WRITETIME is not supported on system tables")
                name = sel.args[0]
                col = target.column(name)
                if col is None:
                    raise InvalidRequest("Undefined column name %s" % name)
                if col.kind != "regular":
                    raise InvalidRequest("Cannot use selection function writeTime on PRIMARY KEY part %s" % name)
                if col.type.is_collection and not col.type.frozen:
                    raise InvalidRequest("Cannot use selection function writeTime on non-frozen collection %s"
                                         % name)
                out.append((sel.alias or "writetime(%s)" % name, BIGINT,
                            ("wt", target.by_name[name] - target.n_key)))
            elif sel.kind == "ttl":
                if isinstance(target, SysTable):
                    raise InvalidRequest("TTL is not supported on system tables")
                name = sel.args[0]
                col = target.column(name)
                if col is None:
                    raise InvalidRequest("Undefined column name %s" % name)
                if col.kind != "regular":
                    raise InvalidRequest("Cannot use selection function ttl on PRIMARY KEY part %s" % name)
                if col.type.is_collection and not col.type.frozen:
                    raise InvalidRequest("Cannot use selection function ttl on non-frozen collection %s" % name)
                out.append((sel.alias or "ttl(%s)" % name, INT, ("ttl", target.by_name[name] - target.n_key)))
        kinds = {k for _, _, (k, _) in out}
        if "count" in kinds and len(out) > 1:
            raise InvalidRequest("Mixing COUNT(*) with other selectors is not supported by the CQL dev server")
        return out

    def _limit(self, stmt, bound):
        if stmt.limit is None:
            return None
        data = self._term_bytes(stmt.limit, INT, bound, "[limit]")
        if data is None or data is P.UNSET:
            return None
        n = _I32.unpack(data)[0]
        if n <= 0:
            raise InvalidRequest("LIMIT must be strictly positive")
        return n

    def _select(self, stmt, bound, params, session) -> bytes:
        target = self._resolve(stmt, session)
        if isinstance(target, SysTable):
            return self._select_system(target, stmt, bound, params, session)
        table: Table = target
        if stmt.per_partition_limit is not None:
            raise InvalidRequest("PER PARTITION LIMIT is not supported by the CQL dev server")
        with self.store.lock:
            self.store.purge_expired(table)
        selection = self._selection(table, stmt)
        if stmt.distinct:
            pk_idx = set(range(len(table.partition_key)))
            for _, _, (kind, arg) in selection:
                if not (kind == "token" or (kind == "col" and arg in pk_idx)):
                    raise InvalidRequest("SELECT DISTINCT queries must only request partition key columns "
                                         "and/or static columns")
            for rel in stmt.where:
                if isinstance(rel.lhs, cql.ColumnRef) and table.column(rel.lhs.name) is not None \
                        and table.column(rel.lhs.name).kind != "partition_key":
                    raise InvalidRequest("SELECT DISTINCT with WHERE clause only supports restriction by "
                                         "partition key and/or static columns.")
        columns = [(n, t) for n, t, _ in selection]
        limit = self._limit(stmt, bound)
        rels = self._expand_in_markers(table, stmt.where, bound)
        where_sql, where_params, partitions, _, _, filters = self._where(table, rels, bound,
                                                                         filtering=stmt.allow_filtering)
        reverse = self._order(table, stmt, partitions)
        dt = table.data_table
        ks = table.keyspace
        no_meta = params.skip_metadata

        if selection[0][2][0] == "count":
            with self.store.lock:
                if filters:
                    n = len(table.columns)
                    cur = self.store.db.execute('SELECT cells FROM "%s" WHERE %s' % (dt, self._plain(where_sql)),
                                                where_params)
                    count = sum(1 for (cells,) in cur if self._matches(split_cells(cells, n), filters))
                else:
                    count = self.store.db.execute('SELECT count(*) FROM "%s" WHERE %s'
                                                  % (dt, self._plain(where_sql)), where_params).fetchone()[0]
            return P.rows_result(columns, ks, table.name, 1, P.pack_int(8) + _I64.pack(count), None, no_meta)

        served = 0
        after = None
        if params.paging_state:
            try:
                _, tok, served = _PAGING.unpack_from(params.paging_state)
                rest = params.paging_state[_PAGING.size:]
                n = struct.unpack_from(">H", rest)[0]
                pk = rest[2:2 + n]
                ck = rest[2 + n:]
                after = (tok, pk, ck)
            except struct.error:
                raise InvalidRequest("Invalid paging state") from None
        page_size = params.page_size if params.page_size and params.page_size > 0 else None
        want = page_size
        if limit is not None:
            remaining = limit - served
            if remaining <= 0:
                return P.rows_result(columns, ks, table.name, 0, b"", None, no_meta)
            want = remaining if want is None else min(want, remaining)
        need_wts = any(k in ("wt", "ttl") for _, _, (k, _) in selection)
        qparams = list(where_params)
        if after is None:
            where_sql = self._plain(where_sql)
        else:
            # Seek to the paging position: neutralise the bounds on the side we are moving
            # from so the index search starts at the position (no quadratic rescans).
            where_sql = where_sql.replace("{L}", "" if reverse else "+").replace("{H}", "+" if reverse else "")
            if stmt.distinct:
                where_sql += " AND (tok, pk) > (?, ?)"
                qparams += list(after[:2])
            elif partitions is not None and len(partitions) == 1:
                where_sql += " AND ck %s ?" % ("<" if reverse else ">")
                qparams.append(after[2])
            else:
                where_sql += " AND (tok, pk, ck) %s (?, ?, ?)" % ("<" if reverse else ">")
                qparams += list(after)
        if stmt.distinct:
            sql = 'SELECT tok, pk, min(ck), cells FROM "%s" WHERE %s GROUP BY tok, pk ORDER BY tok, pk' % (
                dt, where_sql)
        else:
            sql = 'SELECT tok, pk, ck, cells%s FROM "%s" WHERE %s' % (", wts, exp" if need_wts else "", dt, where_sql)
            sql += " ORDER BY tok DESC, pk DESC, ck DESC" if reverse else " ORDER BY tok, pk, ck"
        stopped_at = None
        if filters:
            # Scan at most FILTER_SCAN_BUDGET rows per page (keeps the store responsive to other
            # connections); a short page then carries the scan position as its paging state.
            rows = []
            n = len(table.columns)
            scanned = 0
            with self.store.lock:
                cur = self.store.db.execute(sql, qparams)
                try:
                    for row in cur:
                        scanned += 1
                        if self._matches(split_cells(row[3], n), filters):
                            rows.append(row)
                            if want is not None and len(rows) > want:
                                break
                        elif want is not None and scanned >= FILTER_SCAN_BUDGET:
                            stopped_at = row
                            break
                finally:
                    cur.close()
        else:
            if want is not None:
                sql += " LIMIT %d" % (want + 1)
            with self.store.lock:
                rows = self.store.db.execute(sql, qparams).fetchall()
        paging_state = None
        if want is not None and len(rows) > want:
            rows = rows[:want]
            if limit is None or served + want < limit:
                last = rows[-1]
                paging_state = (_PAGING.pack(1, last[0], served + want) + struct.pack(">H", len(last[1]))
                                + last[1] + last[2])
        elif stopped_at is not None:
            paging_state = (_PAGING.pack(1, stopped_at[0], served + len(rows)) + struct.pack(">H", len(stopped_at[1]))
                            + stopped_at[1] + stopped_at[2])
        body = self._project(table, selection, rows)
        return P.rows_result(columns, ks, table.name, len(rows), body, paging_state, no_meta)

    def _order(self, table, stmt, partitions) -> bool:
        """True when ORDER BY asks for the reverse of the clustering order."""
        if not stmt.order_by:
            return False
        if partitions is None or len(partitions) != 1:
            raise InvalidRequest("ORDER BY is only supported when the partition key is restricted by an EQ "
                                 "or an IN.")
        flags = []
        for i, (name, direction) in enumerate(stmt.order_by):
            if i >= len(table.clustering) or table.clustering[i].name != name:
                raise InvalidRequest("Order by currently only supports the ordering of columns following their "
                                     "declared order in the PRIMARY KEY")
            col = table.clustering[i]
            flags.append((direction == "desc") != col.desc)
        if len(set(flags)) != 1:
            raise InvalidRequest("Unsupported order by relation")
        return flags[0]

    def _project(self, table: Table, selection, rows) -> bytes:
        n = len(table.columns)
        specs = [s[2] for s in selection]
        if all(k in ("col", "token") for k, _ in specs):
            return self._project_columns(specs, n, rows)
        return self._project_general(table, specs, rows)

    @staticmethod
    def _project_columns(specs, n, rows) -> bytes:
        """Plain columns and token(): slices of the stored cells, mostly at C speed."""
        cols = [a for k, a in specs if k == "col"]
        n_tok = len(specs) - len(cols)
        tok_pack = _TOKEN_VALUE.pack
        if cols == list(range(n)) and all(k == "token" for k, _ in specs[:n_tok]):
            # token(...) columns first, then every column in table order: the stored blob as is
            if not n_tok:
                return b"".join([r[3] for r in rows])
            if n_tok == 1:
                return b"".join([tok_pack(8, r[0]) + r[3] for r in rows])
            return b"".join([tok_pack(8, r[0]) * n_tok + r[3] for r in rows])
        # Group consecutive column selections into one itemgetter each.
        steps = []
        for kind, arg in specs:
            if kind == "col":
                if steps and steps[-1][0] == "col":
                    steps[-1][1].append(arg)
                else:
                    steps.append(("col", [arg]))
            else:
                steps.append(("token", None))
        plan = []
        for kind, idxs in steps:
            if kind == "token":
                plan.append(None)
            elif len(idxs) == 1:
                plan.append(operator.itemgetter(idxs[0]))
            else:
                getter = operator.itemgetter(*idxs)
                plan.append(lambda raw, getter=getter: b"".join(getter(raw)))
        max_col = max(cols, default=-1) + 1
        parts = []
        append = parts.append
        for r in rows:
            raw = split_raw(r[3], max_col)
            for step in plan:
                append(tok_pack(8, r[0]) if step is None else step(raw))
        return b"".join(parts)

    def _project_general(self, table: Table, specs, rows) -> bytes:
        n = len(table.columns)
        now = int(self.store.clock())
        max_col = max([a for k, a in specs if k == "col"], default=-1) + 1
        parts = []
        append = parts.append
        for r in rows:
            raw = split_raw(r[3], max_col) if max_col else None
            wts = None
            for kind, arg in specs:
                if kind == "col":
                    append(raw[arg])
                elif kind == "token":
                    append(b"\x00\x00\x00\x08" + _I64.pack(r[0]))
                elif kind == "wt":
                    if wts is None:
                        wts = unpack_wts(r[4], table.n_regular)
                        values = split_cells(r[3], n)
                    if values[table.n_key + arg] is None or wts[arg] == NO_TS:
                        append(b"\xff\xff\xff\xff")
                    else:
                        append(b"\x00\x00\x00\x08" + _I64.pack(wts[arg]))
                elif kind == "ttl":
                    if wts is None:
                        wts = unpack_wts(r[4], table.n_regular)
                        values = split_cells(r[3], n)
                    expiry = unpack_exp(r[5], table.n_regular)[arg]
                    if values[table.n_key + arg] is None or not expiry:
                        append(b"\xff\xff\xff\xff")
                    else:
                        append(b"\x00\x00\x00\x04" + _I32.pack(max(1, expiry - now)))
        return b"".join(parts)

    def _expand_in_markers(self, table, rels, bound):
        """Turn ``col IN ?`` (a bound list) into ``col IN (v1, v2...)`` with serialized values."""
        out = []
        for rel in rels:
            if rel.op == "IN" and not isinstance(rel.rhs, list) and isinstance(rel.lhs, cql.ColumnRef):
                col = table.column(rel.lhs.name) if isinstance(table, Table) else None
                if col is None:
                    if isinstance(table, Table):
                        raise InvalidRequest("Undefined column name %s" % rel.lhs.name)
                    out.append(rel)
                    continue
                ltype = CqlType("list", (col.type,), True)
                data = self._term_bytes(rel.rhs, ltype, bound, "in(%s)" % col.name)
                if data is None or data is P.UNSET:
                    raise InvalidRequest("Invalid null value for IN restriction on %s" % col.name)
                items = [col.type.encode(v) for v in ltype.decode(data)]
                out.append(cql.Relation(rel.lhs, "IN", [_Raw(i) for i in items]))
            else:
                out.append(rel)
        return out

    def _select_system(self, target: SysTable, stmt, bound, params, session) -> bytes:
        selection = self._selection(target, stmt)
        columns = [(n, t) for n, t, _ in selection]
        rows = target.rows(Context(self.store, self.tokens, session))
        names = [n for n, _ in target.columns]
        for rel in stmt.where:
            if isinstance(rel.lhs, cql.TokenRef):
                raise InvalidRequest("token() restrictions are not supported on system tables")
            ctype = target.types.get(rel.lhs.name)
            if ctype is None:
                raise InvalidRequest("Undefined column name %s" % rel.lhs.name)
            if rel.op == "IN":
                if isinstance(rel.rhs, list):
                    wanted = [self._term_bytes(t, ctype, bound, rel.lhs.name) for t in rel.rhs]
                else:
                    ltype = CqlType("list", (ctype,), True)
                    wanted = [ctype.encode(v) for v in ltype.decode(
                        self._term_bytes(rel.rhs, ltype, bound, rel.lhs.name)) or []]
                rows = [r for r in rows if ctype.encode(r.get(rel.lhs.name)) in wanted]
            elif rel.op == "=":
                want = self._term_bytes(rel.rhs, ctype, bound, rel.lhs.name)
                rows = [r for r in rows if ctype.encode(r.get(rel.lhs.name)) == want]
            else:
                raise InvalidRequest("Only = and IN restrictions are supported on system tables")
        limit = self._limit(stmt, bound)
        if limit is not None:
            rows = rows[:limit]
        if selection and selection[0][2][0] == "count":
            return P.rows_result(columns, target.keyspace, target.name, 1,
                                 P.pack_int(8) + _I64.pack(len(rows)), None, params.skip_metadata)
        parts = []
        for r in rows:
            for _, ctype, (kind, arg) in selection:
                if kind == "col":
                    parts.append(_pack(ctype.encode(r.get(names[arg]))))
                else:
                    raise InvalidRequest("Only plain columns can be selected from system tables")
        return P.rows_result(columns, target.keyspace, target.name, len(rows), b"".join(parts), None,
                             params.skip_metadata)

    # -------------------------------------------------------------- writes
    def _timestamp(self, stmt, bound, default_ts):
        if stmt.timestamp is None:
            return default_ts
        return _int_term_value(self._term_bytes(stmt.timestamp, BIGINT, bound, "[timestamp]"), "timestamp")

    def _ttl(self, stmt, bound) -> int:
        if getattr(stmt, "ttl", None) is None:
            return 0
        data = self._term_bytes(stmt.ttl, INT, bound, "[ttl]")
        if data is None or data is P.UNSET:
            return 0
        ttl = _I32.unpack(data)[0]
        if ttl < 0:
            raise InvalidRequest("A TTL must be greater or equal to 0, but was %d" % ttl)
        if ttl > MAX_TTL:
            raise InvalidRequest("ttl is too large. requested (%d) maximum (%d)" % (ttl, MAX_TTL))
        return ttl

    def _write(self, stmt, bound, session, default_ts) -> bytes:
        table = self._resolve_user(stmt, session)
        ts = self._timestamp(stmt, bound, default_ts)
        ttl = self._ttl(stmt, bound)
        self.store.purge_expired(table)
        if isinstance(stmt, cql.Insert):
            return self._insert(table, stmt, bound, ts, ttl)
        if isinstance(stmt, cql.Update):
            return self._update(table, stmt, bound, ts, ttl)
        return self._delete(table, stmt, bound, ts)

    def _insert_plan(self, table: Table, stmt):
        """Per (statement, table) precomputed column slots, cached on the statement."""
        cached = getattr(stmt, "_plan", None)
        if cached is not None and cached[0] is table:
            return cached[1]
        seen = set()
        slots = []
        for name, term in zip(stmt.columns, stmt.values):
            col = table.column(name)
            if col is None:
                raise InvalidRequest("Undefined column name %s" % name)
            if name in seen:
                raise InvalidRequest("Multiple definitions found for column %s" % name)
            seen.add(name)
            marker = term.index if isinstance(term, cql.Marker) else None
            slots.append((table.by_name[name], marker, term, col, col.type.validate))
        missing_pk = [c.name for c in table.partition_key if c.name not in seen]
        if missing_pk:
            raise InvalidRequest("Some partition key parts are missing: %s" % ", ".join(missing_pk))
        missing_ck = [c.name for c in table.clustering if c.name not in seen]
        if missing_ck:
            raise InvalidRequest("Some clustering keys are missing: %s" % ", ".join(missing_ck))
        stmt._plan = (table, slots)
        return slots

    def _insert(self, table: Table, stmt, bound, ts, ttl=0) -> bytes:
        n_key = table.n_key
        key_values = [None] * n_key
        updates = {}
        term_bytes = self._term_bytes
        unset = P.UNSET
        for idx, marker, term, col, validate in self._insert_plan(table, stmt):
            if marker is not None:
                value = bound[marker]
                if value is not None and value is not unset:
                    value = validate(value, col.name)
            else:
                value = term_bytes(term, col.type, bound, col.name)
            if idx < n_key:
                if value is None or value is P.UNSET:
                    raise InvalidRequest("Invalid %s value for %s column %s"
                                         % ("null" if value is None else "unset",
                                            "partition key" if col.kind == "partition_key" else "clustering",
                                            col.name))
                key_values[idx] = value
            elif value is not P.UNSET:
                updates[idx] = value
        n_pk = len(table.partition_key)
        pk = key_values[0] if n_pk == 1 else routing_key(key_values[:n_pk])
        if not pk:
            raise InvalidRequest("Key may not be empty")
        tok = token_of(pk)
        ck = table.clustering_key(key_values[n_pk:]) if n_pk < n_key else b""
        if stmt.if_not_exists:
            existing = self.store.get_row(table, tok, pk, ck)
            if existing is not None:
                return self._applied(False, table, existing[0])
            self.store.write_row(table, tok, pk, ck, key_values, updates, ts, True, ttl)
            return self._applied(True)
        self.store.write_row(table, tok, pk, ck, key_values, updates, ts, True, ttl)
        return P.void_result()

    def _applied(self, applied: bool, table: Table | None = None, cells: bytes | None = None) -> bytes:
        columns = [("[applied]", BOOLEAN)]
        body = _pack(b"\x01" if applied else b"\x00")
        ks, name = "", ""
        if table is not None:
            ks, name = table.keyspace, table.name
            if cells is not None:
                columns += [(c.name, c.type) for c in table.columns]
                body += cells
        return P.rows_result(columns, ks, name, 1, body)

    def _target_rows(self, table: Table, where, bound, what):
        rels = self._expand_in_markers(table, where, bound)
        for rel in rels:
            if isinstance(rel.lhs, cql.TokenRef):
                raise InvalidRequest("The token function cannot be used in WHERE clauses for %s statements" % what)
            col = table.column(rel.lhs.name)
            if col is None:
                raise InvalidRequest("Undefined column name %s" % rel.lhs.name)
            if col.kind == "regular":
                raise InvalidRequest("Non PRIMARY KEY columns found in where clause: %s" % col.name)
        where_sql, params, partitions, full_rows, full_eq, _ = self._where(table, rels, bound, for_select=False)
        return self._plain(where_sql), params, partitions, full_rows, full_eq

    def _update(self, table: Table, stmt, bound, ts, ttl=0) -> bytes:
        where_sql, params, partitions, full_rows, _ = self._target_rows(table, stmt.where, bound, "UPDATE")
        if full_rows is None:
            restricted = {r.lhs.name for r in stmt.where if isinstance(r.lhs, cql.ColumnRef)}
            missing = [c.name for c in table.clustering if c.name not in restricted]
            raise InvalidRequest("Some clustering keys are missing: %s" % ", ".join(missing))
        updates = {}
        for name, op, term in stmt.assignments:
            col = table.column(name)
            if col is None:
                raise InvalidRequest("Undefined column name %s" % name)
            if col.kind != "regular":
                raise InvalidRequest("PRIMARY KEY part %s found in SET part" % name)
            idx = table.by_name[name]
            if idx in updates:
                raise InvalidRequest("Multiple incompatible setting of column %s" % name)
            fn = self._assignment(col, op, term, bound)
            if fn is not P.UNSET:
                updates[idx] = fn
        results = []
        for tok, pk, ck, key_values in full_rows:
            if stmt.if_exists and self.store.get_row(table, tok, pk, ck) is None:
                results.append(False)
                continue
            self.store.write_row(table, tok, pk, ck, key_values, updates, ts, False, ttl)
            results.append(True)
        if stmt.if_exists:
            return self._applied(all(results) if results else False)
        return P.void_result()

    def _assignment(self, col, op, term, bound):
        ctype = col.type
        name = col.name
        if op == "=":
            return self._term_bytes(term, ctype, bound, name)
        if not ctype.is_collection or ctype.frozen:
            raise InvalidRequest("Invalid operation (%s = %s %s ?) for non-collection column %s (counters are "
                                 "not supported by the CQL dev server)" % (name, name, op, name))
        if op == "setkey":
            key_term, value_term = term
            if ctype.name == "map":
                key = self._term_bytes(key_term, ctype.subtypes[0], bound, name)
                value = self._term_bytes(value_term, ctype.subtypes[1], bound, name)
                if key is None or key is P.UNSET:
                    raise InvalidRequest("Invalid null map key")

                def set_key(old, key=key, value=value):
                    pairs = [] if old is None else ctype.decode(old)
                    kt = ctype.subtypes[0]
                    merged = {kt.encode(k): v for k, v in pairs}
                    if value is None:
                        merged.pop(key, None)
                    elif value is not P.UNSET:
                        merged[key] = ctype.subtypes[1].decode(value)
                    return ctype.encode([(kt.decode(k), v) for k, v in merged.items()])
                return set_key
            idx_bytes = self._term_bytes(key_term, INT, bound, name)
            value = self._term_bytes(value_term, ctype.subtypes[0], bound, name)
            if idx_bytes is None or idx_bytes is P.UNSET:
                raise InvalidRequest("Invalid null list index")
            index = _I32.unpack(idx_bytes)[0]

            def set_index(old, index=index, value=value):
                items = [] if old is None else ctype.decode(old)
                if not 0 <= index < len(items):
                    raise InvalidRequest("List index %d out of bound, list has size %d" % (index, len(items)))
                if value is None:
                    del items[index]
                else:
                    items[index] = ctype.subtypes[0].decode(value)
                return ctype.encode(items)
            return set_index
        if op == "-" and ctype.name == "map":
            arg_type = CqlType("set", (ctype.subtypes[0],), True)
        else:
            arg_type = CqlType(ctype.name, ctype.subtypes, True)
        data = self._term_bytes(term, arg_type, bound, name)
        if data is P.UNSET:
            return P.UNSET
        arg = arg_type.decode(data) if data is not None else []
        sub = ctype.subtypes[0]
        enc = sub.encode

        def apply(old):
            current = [] if old is None else ctype.decode(old)
            if ctype.name == "list":
                if op == "+":
                    return ctype.encode(list(current) + list(arg))
                if op == "prepend":
                    return ctype.encode(list(arg) + list(current))
                drop = {enc(v) for v in arg}
                return ctype.encode([v for v in current if enc(v) not in drop])
            if ctype.name == "set":
                if op == "+":
                    return ctype.encode(list(current) + list(arg))
                if op == "-":
                    drop = {enc(v) for v in arg}
                    return ctype.encode([v for v in current if enc(v) not in drop])
            if ctype.name == "map":
                if op == "+":
                    merged = {enc(k): (k, v) for k, v in current}
                    for k, v in arg:
                        merged[enc(k)] = (k, v)
                    return ctype.encode(list(merged.values()))
                if op == "-":
                    drop = {enc(k) for k in arg}
                    return ctype.encode([(k, v) for k, v in current if enc(k) not in drop])
            raise InvalidRequest("Invalid operation %s for column %s of type %s" % (op, name, ctype.cql()))
        return apply

    def _delete(self, table: Table, stmt, bound, ts) -> bytes:
        where_sql, params, partitions, full_rows, _ = self._target_rows(table, stmt.where, bound, "DELETE")
        columns = None
        if stmt.columns:
            columns = []
            for name in stmt.columns:
                col = table.column(name)
                if col is None:
                    raise InvalidRequest("Undefined column name %s" % name)
                if col.kind != "regular":
                    raise InvalidRequest("Invalid identifier %s for deletion (should not be a PRIMARY KEY part)"
                                         % name)
                columns.append(table.by_name[name])
            if full_rows is None:
                raise InvalidRequest("Range deletions are not supported for specific columns")
        if stmt.if_exists:
            if full_rows is None or len(full_rows) != 1:
                raise InvalidRequest("DELETE ... IF EXISTS requires the full primary key of one row")
            tok, pk, ck, _ = full_rows[0]
            if self.store.get_row(table, tok, pk, ck) is None:
                return self._applied(False)
            self.store.delete_rows(table, where_sql, params, ts, columns)
            return self._applied(True)
        self.store.delete_rows(table, where_sql, params, ts, columns)
        return P.void_result()

    # ----------------------------------------------------------------- DDL
    def _ddl(self, stmt, session) -> bytes:
        store = self.store
        if isinstance(stmt, cql.CreateKeyspace):
            name = stmt.name
            if not _NAME_RE.match(name):
                raise InvalidRequest("Keyspace name must not be empty, more than 48 characters long, or contain "
                                     "non-alphanumeric-underscore characters (got \"%s\")" % name)
            if name in store.keyspaces or name in SYSTEM_KEYSPACES:
                if stmt.if_not_exists:
                    return P.void_result()
                raise AlreadyExists(name)
            replication = dict(stmt.replication) or {"class": SIMPLE, "replication_factor": "1"}
            cls = replication.get("class")
            if not cls:
                raise ConfigurationErrorMissingClass()
            if "." not in cls:
                replication["class"] = "org.apache.cassandra.locator." + cls
            store.begin()
            store.create_keyspace(Keyspace(name, replication, stmt.durable_writes))
            store.commit()
            return P.schema_change_result("CREATED", "KEYSPACE", name)
        if isinstance(stmt, cql.DropKeyspace):
            if stmt.name not in store.keyspaces:
                if stmt.if_exists:
                    return P.void_result()
                raise InvalidRequest("Keyspace '%s' doesn't exist" % stmt.name)
            store.begin()
            store.drop_keyspace(stmt.name)
            self._forget_prepared(stmt.name, None)
            store.commit()
            if session.keyspace == stmt.name:
                session.keyspace = None
            return P.schema_change_result("DROPPED", "KEYSPACE", stmt.name)
        if isinstance(stmt, cql.CreateTable):
            ks, name = self._table_ref(stmt, session)
            keyspace = store.keyspaces.get(ks)
            if keyspace is None:
                raise InvalidRequest("Keyspace '%s' doesn't exist" % ks)
            if not _NAME_RE.match(name):
                raise InvalidRequest("Table name must not be empty, more than 48 characters long, or contain "
                                     "non-alphanumeric-underscore characters (got \"%s\")" % name)
            if name in keyspace.tables:
                if stmt.if_not_exists:
                    return P.void_result()
                raise AlreadyExists(ks, name)
            table = self._build_table(ks, name, stmt)
            store.begin()
            store.create_table(table)
            store.commit()
            return P.schema_change_result("CREATED", "TABLE", ks, name)
        if isinstance(stmt, (cql.DropTable, cql.Truncate)):
            ks, name = self._table_ref(stmt, session)
            keyspace = store.keyspaces.get(ks)
            table = keyspace.tables.get(name) if keyspace else None
            if table is None:
                if isinstance(stmt, cql.DropTable) and stmt.if_exists:
                    return P.void_result()
                if keyspace is None:
                    raise InvalidRequest("Keyspace '%s' doesn't exist" % ks)
                raise InvalidRequest("Table '%s.%s' doesn't exist" % (ks, name))
            store.begin()
            if isinstance(stmt, cql.Truncate):
                store.truncate(table)
            else:
                store.drop_table(table)
                self._forget_prepared(ks, name)
            store.commit()
            if isinstance(stmt, cql.Truncate):
                return P.void_result()
            return P.schema_change_result("DROPPED", "TABLE", ks, name)
        raise InvalidRequest("Unsupported statement %s" % type(stmt).__name__)

    def _forget_prepared(self, keyspace: str, table: str | None):
        """Drop prepared statements on a dropped table/keyspace, as Cassandra does: the driver then
        gets UNPREPARED and re-prepares, picking up the metadata of a re-created table."""
        with self._cache_lock:
            for query_id, prep in list(self.prepared.items()):
                stmt = prep.stmt
                statements = stmt.statements if isinstance(stmt, cql.Batch) else [stmt]
                for sub in statements:
                    if not hasattr(sub, "name") or not isinstance(sub, (cql.Select, cql.Insert, cql.Update,
                                                                         cql.Delete)):
                        continue
                    ks = sub.keyspace or prep.keyspace
                    if ks == keyspace and (table is None or sub.name == table):
                        del self.prepared[query_id]
                        break

    @staticmethod
    def _build_table(ks, name, stmt) -> Table:
        types = {}
        column_types = []
        for col, type_text in stmt.columns:
            if col in types:
                raise InvalidRequest("Multiple definition of identifier %s" % col)
            ctype = parse_type(type_text)
            if ctype.name == "counter":
                raise InvalidRequest("counter columns are not supported by the CQL dev server")
            types[col] = ctype
            column_types.append((col, ctype))
        keys = stmt.partition_key + stmt.clustering
        for key in keys:
            if key not in types:
                raise InvalidRequest("Unknown definition %s referenced in PRIMARY KEY" % key)
            if keys.count(key) > 1:
                raise InvalidRequest("Column %s appears more than once in PRIMARY KEY" % key)
            if types[key].is_collection and not types[key].frozen:
                raise InvalidRequest("Invalid non-frozen collection type for PRIMARY KEY component %s" % key)
        for ck in stmt.clustering:
            if not types[ck].orderable:
                raise InvalidRequest("Clustering column %s of type %s is not supported by the CQL dev server"
                                     % (ck, types[ck].cql()))
        order = stmt.clustering_order
        for i, col in enumerate(order):
            if col not in stmt.clustering:
                raise InvalidRequest("Only clustering key columns can be defined in CLUSTERING ORDER directive")
            if i >= len(stmt.clustering) or stmt.clustering[i] != col:
                raise InvalidRequest("The order of columns in the CLUSTERING ORDER directive must be the one of "
                                     "the clustering key")
        return Table.build(ks, name, uuid.uuid4(), column_types, stmt.partition_key, stmt.clustering, order)


class _Raw(bytes):
    """An already serialized value standing in for a term."""


def ConfigurationErrorMissingClass():
    from .errors import ConfigurationError
    return ConfigurationError("Missing replication strategy class")


def _pack(data):
    if data is None:
        return b"\xff\xff\xff\xff"
    return _I32.pack(len(data)) + data


def _tighter_lo(cur, new):
    if cur is None:
        return new
    if new[0] > cur[0] or (new[0] == cur[0] and not new[1]):
        return new
    return cur


def _tighter_hi(cur, new):
    if cur is None:
        return new
    if new[0] < cur[0] or (new[0] == cur[0] and not new[1]):
        return new
    return cur
