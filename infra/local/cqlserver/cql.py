"""A tokenizer and recursive-descent parser for the subset of CQL the dev server supports.

Anything outside the subset raises :class:`SyntaxError_` (unparsable text) or
:class:`InvalidRequest` (valid CQL the server does not implement), always with a message
that names the unsupported construct.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .errors import InvalidRequest, SyntaxError_

_TOKEN_RE = re.compile(r"""
    (?P<ws>\s+|--[^\n]*|//[^\n]*|/\*.*?\*/)
  | (?P<uuid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}(?![0-9A-Za-z_]))
  | (?P<blob>0[xX][0-9a-fA-F]*(?![0-9A-Za-z_]))
  | (?P<number>(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?(?![A-Za-z_]))
  | (?P<string>'(?:[^']|'')*')
  | (?P<dollar>\$\$.*?\$\$)
  | (?P<qident>"(?:[^"]|"")+")
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op><=|>=|!=|[=<>(),;.*?:\[\]{}+\-])
""", re.VERBOSE | re.DOTALL)


@dataclass
class Tok:
    kind: str
    text: str
    pos: int

    @property
    def upper(self):
        return self.text.upper() if self.kind == "ident" else None


def tokenize(text: str) -> list[Tok]:
    out = []
    pos = 0
    n = len(text)
    while pos < n:
        m = _TOKEN_RE.match(text, pos)
        if not m:
            raise SyntaxError_("line 1:%d no viable alternative at character '%s'" % (pos, text[pos]))
        kind = m.lastgroup
        if kind != "ws":
            out.append(Tok(kind, m.group(), pos))
        pos = m.end()
    out.append(Tok("eof", "", n))
    return out


# ---------------------------------------------------------------- AST
@dataclass
class Marker:
    index: int
    name: str | None = None


@dataclass
class Number:
    text: str


@dataclass
class SetLit:
    items: list


@dataclass
class MapLit:
    items: list  # list of (key term, value term)


@dataclass
class ListLit:
    items: list


@dataclass
class Literal:
    value: object  # str, bool, None, bytes, uuid text (UuidLit), float for NaN/Infinity


@dataclass
class UuidLit:
    text: str


@dataclass
class ColumnRef:
    name: str


@dataclass
class TokenRef:
    names: list


@dataclass
class Relation:
    lhs: object          # ColumnRef | TokenRef
    op: str              # = < > <= >= IN
    rhs: object          # term | list of terms (IN (...)) | Marker (IN ?)


@dataclass
class Selector:
    kind: str            # star | column | token | writetime | count
    args: list = field(default_factory=list)
    alias: str | None = None


@dataclass
class Statement:
    markers: list = field(default_factory=list, init=False)


@dataclass
class Use(Statement):
    keyspace: str = ""


@dataclass
class CreateKeyspace(Statement):
    name: str = ""
    if_not_exists: bool = False
    replication: dict = field(default_factory=dict)
    durable_writes: bool = True


@dataclass
class DropKeyspace(Statement):
    name: str = ""
    if_exists: bool = False


@dataclass
class CreateTable(Statement):
    keyspace: str | None = None
    name: str = ""
    if_not_exists: bool = False
    columns: list = field(default_factory=list)       # [(name, type text)]
    partition_key: list = field(default_factory=list)
    clustering: list = field(default_factory=list)
    clustering_order: dict = field(default_factory=dict)  # name -> "asc"/"desc"


@dataclass
class DropTable(Statement):
    keyspace: str | None = None
    name: str = ""
    if_exists: bool = False


@dataclass
class Truncate(Statement):
    keyspace: str | None = None
    name: str = ""


@dataclass
class Insert(Statement):
    keyspace: str | None = None
    name: str = ""
    columns: list = field(default_factory=list)
    values: list = field(default_factory=list)
    if_not_exists: bool = False
    ttl: object = None
    timestamp: object = None


@dataclass
class Update(Statement):
    keyspace: str | None = None
    name: str = ""
    assignments: list = field(default_factory=list)   # [(column, op, term)] op: "=" | "+" | "-" | "prepend"
    where: list = field(default_factory=list)
    ttl: object = None
    timestamp: object = None
    if_exists: bool = False


@dataclass
class Delete(Statement):
    keyspace: str | None = None
    name: str = ""
    columns: list = field(default_factory=list)
    where: list = field(default_factory=list)
    timestamp: object = None
    if_exists: bool = False


@dataclass
class Select(Statement):
    keyspace: str | None = None
    name: str = ""
    selectors: list = field(default_factory=list)
    where: list = field(default_factory=list)
    limit: object = None
    allow_filtering: bool = False
    distinct: bool = False
    order_by: list = field(default_factory=list)     # [(column, "asc"/"desc")]
    per_partition_limit: object = None


@dataclass
class Batch(Statement):
    kind: str = "LOGGED"
    statements: list = field(default_factory=list)
    timestamp: object = None


# ------------------------------------------------------------- parser
class Parser:
    def __init__(self, text: str):
        self.text = text
        self.toks = tokenize(text)
        self.pos = 0
        self.markers: list[Marker] = []

    # token helpers
    @property
    def tok(self) -> Tok:
        return self.toks[self.pos]

    def peek(self, offset=1) -> Tok:
        return self.toks[min(self.pos + offset, len(self.toks) - 1)]

    def error(self, what=None):
        tok = self.tok
        found = tok.text or "<EOF>"
        msg = what or "mismatched input '%s'" % found
        raise SyntaxError_("line 1:%d %s (%s)" % (tok.pos, msg, self.text[max(0, tok.pos - 30):tok.pos + 30]))

    def is_kw(self, *words) -> bool:
        return self.tok.kind == "ident" and self.tok.text.upper() in words

    def accept_kw(self, *words) -> str | None:
        if self.is_kw(*words):
            word = self.tok.text.upper()
            self.pos += 1
            return word
        return None

    def expect_kw(self, *words) -> str:
        word = self.accept_kw(*words)
        if word is None:
            self.error("expecting %s but found '%s'" % ("/".join(words), self.tok.text or "<EOF>"))
        return word

    def accept_op(self, op) -> bool:
        if self.tok.kind == "op" and self.tok.text == op:
            self.pos += 1
            return True
        return False

    def expect_op(self, op):
        if not self.accept_op(op):
            self.error("expecting '%s' but found '%s'" % (op, self.tok.text or "<EOF>"))

    def ident(self) -> str:
        tok = self.tok
        if tok.kind == "ident":
            self.pos += 1
            return tok.text.lower()
        if tok.kind == "qident":
            self.pos += 1
            return tok.text[1:-1].replace('""', '"')
        self.error("expecting an identifier but found '%s'" % (tok.text or "<EOF>"))

    def table_name(self):
        first = self.ident()
        if self.accept_op("."):
            return first, self.ident()
        return None, first

    # entry point
    def parse_statement(self):
        stmt = self.statement()
        self.accept_op(";")
        if self.tok.kind != "eof":
            self.error("extraneous input '%s'" % self.tok.text)
        stmt.markers = self.markers
        return stmt

    def statement(self):
        word = self.tok.upper
        if word == "SELECT":
            return self.select()
        if word == "INSERT":
            return self.insert()
        if word == "UPDATE":
            return self.update()
        if word == "DELETE":
            return self.delete()
        if word == "BEGIN":
            return self.batch()
        if word == "USE":
            self.pos += 1
            return Use(keyspace=self.ident())
        if word == "TRUNCATE":
            self.pos += 1
            self.accept_kw("TABLE", "COLUMNFAMILY")
            ks, name = self.table_name()
            return Truncate(keyspace=ks, name=name)
        if word == "CREATE":
            return self.create()
        if word == "DROP":
            return self.drop()
        if word in ("ALTER", "GRANT", "REVOKE", "LIST"):
            raise InvalidRequest("%s statements are not supported by the CQL dev server" % word)
        if self.tok.kind == "eof":
            self.error("no viable alternative at input '<EOF>'")
        self.error("no viable alternative at input '%s'" % self.tok.text)

    # ---------------------------------------------------------------- DDL
    def if_not_exists(self) -> bool:
        if self.accept_kw("IF"):
            self.expect_kw("NOT")
            self.expect_kw("EXISTS")
            return True
        return False

    def if_exists(self) -> bool:
        if self.accept_kw("IF"):
            self.expect_kw("EXISTS")
            return True
        return False

    def create(self):
        self.expect_kw("CREATE")
        what = self.accept_kw("KEYSPACE", "SCHEMA", "TABLE", "COLUMNFAMILY")
        if what in ("KEYSPACE", "SCHEMA"):
            stmt = CreateKeyspace(if_not_exists=self.if_not_exists())
            stmt.name = self.ident()
            if self.accept_kw("WITH"):
                while True:
                    key = self.ident()
                    self.expect_op("=")
                    value = self.term()
                    if key == "replication":
                        if not isinstance(value, MapLit):
                            raise InvalidRequest("replication must be a map")
                        stmt.replication = {plain(k): str(plain(v)) for k, v in value.items}
                    elif key == "durable_writes":
                        stmt.durable_writes = bool(plain(value))
                    if not self.accept_kw("AND"):
                        break
            return stmt
        if what in ("TABLE", "COLUMNFAMILY"):
            return self.create_table()
        word = self.tok.text or "<EOF>"
        raise InvalidRequest("CREATE %s is not supported by the CQL dev server" % word.upper())

    def create_table(self):
        stmt = CreateTable(if_not_exists=self.if_not_exists())
        stmt.keyspace, stmt.name = self.table_name()
        self.expect_op("(")
        while True:
            if self.is_kw("PRIMARY") and self.peek().upper == "KEY":
                self.pos += 2
                self.expect_op("(")
                if self.accept_op("("):
                    stmt.partition_key = [self.ident()]
                    while self.accept_op(","):
                        stmt.partition_key.append(self.ident())
                    self.expect_op(")")
                else:
                    stmt.partition_key = [self.ident()]
                while self.accept_op(","):
                    stmt.clustering.append(self.ident())
                self.expect_op(")")
            else:
                name = self.ident()
                type_text = self.type_text()
                stmt.columns.append((name, type_text))
                if self.accept_kw("STATIC"):
                    raise InvalidRequest("static columns are not supported by the CQL dev server")
                if self.is_kw("PRIMARY"):
                    self.pos += 1
                    self.expect_kw("KEY")
                    if stmt.partition_key:
                        raise InvalidRequest("Multiple PRIMARY KEYs specified (exactly one required)")
                    stmt.partition_key = [name]
            if not self.accept_op(","):
                break
            if self.tok.kind == "op" and self.tok.text == ")":
                break
        self.expect_op(")")
        if not stmt.partition_key:
            raise InvalidRequest("No PRIMARY KEY specifed for table '%s' (exactly one required)" % stmt.name)
        if self.accept_kw("WITH"):
            while True:
                if self.accept_kw("CLUSTERING"):
                    self.expect_kw("ORDER")
                    self.expect_kw("BY")
                    self.expect_op("(")
                    while True:
                        col = self.ident()
                        order = self.accept_kw("ASC", "DESC") or "ASC"
                        stmt.clustering_order[col] = order.lower()
                        if not self.accept_op(","):
                            break
                    self.expect_op(")")
                elif self.accept_kw("COMPACT"):
                    self.expect_kw("STORAGE")
                    raise InvalidRequest("COMPACT STORAGE is not supported by the CQL dev server")
                else:
                    self.ident()
                    self.expect_op("=")
                    self.term()
                if not self.accept_kw("AND"):
                    break
        return stmt

    def type_text(self) -> str:
        parts = [self.ident()]
        if self.tok.kind == "op" and self.tok.text == "<":
            depth = 0
            while True:
                tok = self.tok
                if tok.kind == "eof":
                    self.error()
                self.pos += 1
                if tok.kind == "op" and tok.text == "<":
                    depth += 1
                elif tok.kind == "op" and tok.text == ">":
                    depth -= 1
                parts.append(tok.text)
                if depth == 0:
                    break
        return "".join(parts)

    def drop(self):
        self.expect_kw("DROP")
        what = self.accept_kw("KEYSPACE", "SCHEMA", "TABLE", "COLUMNFAMILY")
        if what in ("KEYSPACE", "SCHEMA"):
            stmt = DropKeyspace(if_exists=self.if_exists())
            stmt.name = self.ident()
            return stmt
        if what in ("TABLE", "COLUMNFAMILY"):
            stmt = DropTable(if_exists=self.if_exists())
            stmt.keyspace, stmt.name = self.table_name()
            return stmt
        raise InvalidRequest("DROP %s is not supported by the CQL dev server" % (self.tok.text or "<EOF>").upper())

    # ---------------------------------------------------------------- DML
    def using(self, stmt, allow_ttl=True):
        if self.accept_kw("USING"):
            while True:
                word = self.expect_kw("TTL", "TIMESTAMP")
                if word == "TTL":
                    if not allow_ttl:
                        raise InvalidRequest("TTL is not supported on DELETE statements")
                    stmt.ttl = self.term(spec=("[ttl]", "int"))
                else:
                    stmt.timestamp = self.term(spec=("[timestamp]", "bigint"))
                if not self.accept_kw("AND"):
                    break

    def insert(self):
        self.expect_kw("INSERT")
        self.expect_kw("INTO")
        stmt = Insert()
        stmt.keyspace, stmt.name = self.table_name()
        if self.is_kw("JSON"):
            raise InvalidRequest("INSERT JSON is not supported by the CQL dev server")
        self.expect_op("(")
        stmt.columns = [self.ident()]
        while self.accept_op(","):
            stmt.columns.append(self.ident())
        self.expect_op(")")
        self.expect_kw("VALUES")
        self.expect_op("(")
        stmt.values = [self.term(spec=("col", c)) for c in self._column_list_iter(stmt.columns)]
        self.expect_op(")")
        if len(stmt.values) != len(stmt.columns):
            raise InvalidRequest("Unmatched column names/values")
        stmt.if_not_exists = self.if_not_exists()
        self.using(stmt)
        if not stmt.if_not_exists:
            stmt.if_not_exists = self.if_not_exists()
        return stmt

    def _column_list_iter(self, columns):
        for i, col in enumerate(columns):
            if i:
                self.expect_op(",")
            yield col

    def update(self):
        self.expect_kw("UPDATE")
        stmt = Update()
        stmt.keyspace, stmt.name = self.table_name()
        self.using(stmt)
        self.expect_kw("SET")
        while True:
            col = self.ident()
            if self.accept_op("["):
                key = self.term(spec=("key", col))
                self.expect_op("]")
                self.expect_op("=")
                stmt.assignments.append((col, "setkey", (key, self.term(spec=("value", col)))))
            else:
                self.expect_op("=")
                # col = col + x | col = col - x | col = x + col (prepend) | col = x
                if (self.tok.kind in ("ident", "qident") and self.peek().kind == "op"
                        and self.peek().text in ("+", "-") and self._peek_ident_is(col)):
                    self.ident()
                    op = "+" if self.accept_op("+") else (self.expect_op("-") or "-")
                    stmt.assignments.append((col, op, self.term(spec=("col", col))))
                else:
                    value = self.term(spec=("col", col))
                    if self.accept_op("+"):
                        other = self.ident()
                        if other != col:
                            raise InvalidRequest("Only expressions of the form X = <value> + X are supported.")
                        stmt.assignments.append((col, "prepend", value))
                    else:
                        stmt.assignments.append((col, "=", value))
            if not self.accept_op(","):
                break
        self.expect_kw("WHERE")
        stmt.where = self.where()
        if self.accept_kw("IF"):
            if self.accept_kw("EXISTS"):
                stmt.if_exists = True
            else:
                raise InvalidRequest("Conditional updates (IF <condition>) are not supported by the CQL dev server")
        return stmt

    def _peek_ident_is(self, col):
        tok = self.tok
        name = tok.text.lower() if tok.kind == "ident" else tok.text[1:-1].replace('""', '"')
        return name == col

    def delete(self):
        self.expect_kw("DELETE")
        stmt = Delete()
        if not self.is_kw("FROM"):
            while True:
                stmt.columns.append(self.ident())
                if self.tok.kind == "op" and self.tok.text == "[":
                    raise InvalidRequest("Deleting collection elements is not supported by the CQL dev server")
                if not self.accept_op(","):
                    break
        self.expect_kw("FROM")
        stmt.keyspace, stmt.name = self.table_name()
        self.using(stmt, allow_ttl=False)
        self.expect_kw("WHERE")
        stmt.where = self.where()
        if self.accept_kw("IF"):
            if self.accept_kw("EXISTS"):
                stmt.if_exists = True
            else:
                raise InvalidRequest("Conditional deletes (IF <condition>) are not supported by the CQL dev server")
        return stmt

    def batch(self):
        self.expect_kw("BEGIN")
        kind = self.accept_kw("UNLOGGED", "COUNTER") or "LOGGED"
        if kind == "COUNTER":
            raise InvalidRequest("Counter batches are not supported by the CQL dev server")
        self.expect_kw("BATCH")
        stmt = Batch(kind=kind)
        self.using(stmt, allow_ttl=False)
        while not self.is_kw("APPLY"):
            word = self.tok.upper
            if word == "INSERT":
                sub = self.insert()
            elif word == "UPDATE":
                sub = self.update()
            elif word == "DELETE":
                sub = self.delete()
            else:
                self.error("expecting INSERT, UPDATE, DELETE or APPLY BATCH")
            stmt.statements.append(sub)
            self.accept_op(";")
        self.expect_kw("APPLY")
        self.expect_kw("BATCH")
        return stmt

    # ------------------------------------------------------------- SELECT
    def select(self):
        self.expect_kw("SELECT")
        stmt = Select()
        if self.is_kw("JSON"):
            raise InvalidRequest("SELECT JSON is not supported by the CQL dev server")
        if self.is_kw("DISTINCT") and not (self.peek().kind == "op" and self.peek().text in (",",)) \
                and not self.peek().upper == "FROM":
            self.pos += 1
            stmt.distinct = True
        if self.accept_op("*"):
            stmt.selectors.append(Selector("star"))
        else:
            while True:
                stmt.selectors.append(self.selector())
                if not self.accept_op(","):
                    break
        self.expect_kw("FROM")
        stmt.keyspace, stmt.name = self.table_name()
        if self.accept_kw("WHERE"):
            stmt.where = self.where()
        if self.accept_kw("GROUP"):
            raise InvalidRequest("GROUP BY is not supported by the CQL dev server")
        if self.accept_kw("ORDER"):
            self.expect_kw("BY")
            while True:
                col = self.ident()
                stmt.order_by.append((col, (self.accept_kw("ASC", "DESC") or "ASC").lower()))
                if not self.accept_op(","):
                    break
        if self.accept_kw("PER"):
            self.expect_kw("PARTITION")
            self.expect_kw("LIMIT")
            stmt.per_partition_limit = self.term(spec=("[per_partition_limit]", "int"))
        if self.accept_kw("LIMIT"):
            stmt.limit = self.term(spec=("[limit]", "int"))
        if self.accept_kw("ALLOW"):
            self.expect_kw("FILTERING")
            stmt.allow_filtering = True
        return stmt

    def selector(self) -> Selector:
        tok = self.tok
        if tok.kind == "ident" and self.peek().kind == "op" and self.peek().text == "(":
            fname = tok.text.lower()
            self.pos += 2
            if fname == "count":
                if not (self.accept_op("*") or (self.tok.kind == "number" and self.tok.text == "1"
                                                 and self._advance())):
                    raise InvalidRequest("Only COUNT(*) and COUNT(1) are supported by the CQL dev server")
                self.expect_op(")")
                sel = Selector("count")
            elif fname in ("token", "writetime", "ttl"):
                args = [self.ident()]
                while self.accept_op(","):
                    args.append(self.ident())
                self.expect_op(")")
                sel = Selector(fname, args)
            else:
                raise InvalidRequest("Function %s is not supported by the CQL dev server "
                                     "(supported: COUNT(*), token(), WRITETIME())" % fname)
        else:
            sel = Selector("column", [self.ident()])
            if self.tok.kind == "op" and self.tok.text in ("[", "."):
                raise InvalidRequest("Element and field selection is not supported by the CQL dev server")
        if self.accept_kw("AS"):
            sel.alias = self.ident()
        return sel

    def _advance(self):
        self.pos += 1
        return True

    def where(self) -> list[Relation]:
        rels = []
        while True:
            rels.append(self.relation())
            if not self.accept_kw("AND"):
                break
        return rels

    def relation(self) -> Relation:
        if self.is_kw("TOKEN") and self.peek().kind == "op" and self.peek().text == "(":
            self.pos += 2
            names = [self.ident()]
            while self.accept_op(","):
                names.append(self.ident())
            self.expect_op(")")
            lhs = TokenRef(names)
            op = self.rel_op()
            if op == "IN":
                raise InvalidRequest("IN is not supported on token() restrictions")
            if self.is_kw("TOKEN") and self.peek().kind == "op" and self.peek().text == "(":
                raise InvalidRequest("token(...) on the right-hand side is not supported by the CQL dev server")
            return Relation(lhs, op, self.term(spec=("token", None)))
        if self.tok.kind == "op" and self.tok.text == "(":
            raise InvalidRequest("Multi-column relations are not supported by the CQL dev server")
        name = self.ident()
        lhs = ColumnRef(name)
        op = self.rel_op()
        if op == "IN":
            if self.accept_op("("):
                items = []
                if not self.accept_op(")"):
                    while True:
                        items.append(self.term(spec=("col", name)))
                        if not self.accept_op(","):
                            break
                    self.expect_op(")")
                return Relation(lhs, op, items)
            return Relation(lhs, op, self.term(spec=("in", name)))
        return Relation(lhs, op, self.term(spec=("col", name)))

    def rel_op(self) -> str:
        tok = self.tok
        if tok.kind == "op" and tok.text in ("=", "<", ">", "<=", ">="):
            self.pos += 1
            return tok.text
        if tok.kind == "op" and tok.text == "!=":
            raise InvalidRequest("Unsupported \"!=\" relation")
        if self.accept_kw("IN"):
            return "IN"
        if self.is_kw("CONTAINS", "LIKE", "IS"):
            raise InvalidRequest("%s relations are not supported by the CQL dev server" % tok.text.upper())
        self.error()

    # -------------------------------------------------------------- terms
    def term(self, spec=None):
        tok = self.tok
        if tok.kind == "op":
            if tok.text == "?":
                self.pos += 1
                marker = Marker(len(self.markers))
                marker.spec = spec
                self.markers.append(marker)
                return marker
            if tok.text == ":":
                self.pos += 1
                marker = Marker(len(self.markers), self.ident())
                marker.spec = spec
                self.markers.append(marker)
                return marker
            if tok.text == "-":
                self.pos += 1
                nxt = self.tok
                if nxt.kind == "number":
                    self.pos += 1
                    return Number("-" + nxt.text)
                if nxt.kind == "ident" and nxt.text.lower() in ("nan", "infinity"):
                    self.pos += 1
                    return Literal(-float(nxt.text))
                self.error()
            if tok.text == "[":
                self.pos += 1
                items = []
                if not self.accept_op("]"):
                    while True:
                        items.append(self.term())
                        if not self.accept_op(","):
                            break
                    self.expect_op("]")
                return ListLit(items)
            if tok.text == "{":
                self.pos += 1
                if self.accept_op("}"):
                    return MapLit([])  # empty set or map, typed later
                first = self.term()
                if self.accept_op(":"):
                    items = [(first, self.term())]
                    while self.accept_op(","):
                        k = self.term()
                        self.expect_op(":")
                        items.append((k, self.term()))
                    self.expect_op("}")
                    return MapLit(items)
                items = [first]
                while self.accept_op(","):
                    items.append(self.term())
                self.expect_op("}")
                return SetLit(items)
            if tok.text == "(":
                raise InvalidRequest("Tuple literals are not supported by the CQL dev server")
            self.error()
        self.pos += 1
        if tok.kind == "number":
            return Number(tok.text)
        if tok.kind == "string":
            return Literal(tok.text[1:-1].replace("''", "'"))
        if tok.kind == "dollar":
            return Literal(tok.text[2:-2])
        if tok.kind == "uuid":
            return UuidLit(tok.text)
        if tok.kind == "blob":
            return Literal(bytes.fromhex(tok.text[2:]) if len(tok.text) % 2 == 0 else self.error("invalid blob"))
        if tok.kind == "ident":
            word = tok.text.lower()
            if word in ("true", "false"):
                return Literal(word == "true")
            if word == "null":
                return Literal(None)
            if word == "nan":
                return Literal(float("nan"))
            if word == "infinity":
                return Literal(float("inf"))
            if self.tok.kind == "op" and self.tok.text == "(":
                raise InvalidRequest("Function calls in values (%s(...)) are not supported by the CQL dev server"
                                     % word)
        self.pos -= 1
        self.error()


def plain(term):
    """Python value of a literal term (used for DDL options)."""
    if isinstance(term, Literal):
        return term.value
    if isinstance(term, Number):
        text = term.text
        return int(text) if re.fullmatch(r"-?\d+", text) else float(text)
    if isinstance(term, UuidLit):
        return term.text
    if isinstance(term, MapLit):
        return {plain(k): plain(v) for k, v in term.items}
    if isinstance(term, (SetLit, ListLit)):
        return [plain(i) for i in term.items]
    raise InvalidRequest("Bind markers are not allowed here")


def parse(text: str):
    return Parser(text).parse_statement()
