"""Data sources (streams platform §4): a PostgreSQL table or read-only query, or a CDC catalog table,
whose snapshot a step can use as an input.

Credentials are references only: `{"env": NAME}` (an environment variable holding the connection URL)
or `{"secretArn": ...}` (a Secrets Manager secret holding a URL or the usual JSON fields). The
reference is stored and shown; the secret never is. Queries run inside READ ONLY transactions, so a
query that writes fails instead of writing.
"""
from __future__ import annotations

import json
import os
import re
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator
from psycopg.types.json import Jsonb

from chalicelib.problem_words import type_or_length
from chalicelib.streams.defs_db import fetch_all, fetch_one, tx
from chalicelib.streams.defs_errors import Conflict, Invalid, Issue, NotFound

_IDENT = r"^[A-Za-z_][A-Za-z0-9_$]{0,62}$"
CONNECT_TIMEOUT_S = 5
TEST_STATEMENT_TIMEOUT_MS = 15000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class EnvRef(_Strict):
    env: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$",
                     description="Name of an environment variable holding the connection URL")


class SecretRef(_Strict):
    secret_arn: str = Field(alias="secretArn", pattern=r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+$",
                            description="Secrets Manager secret: a URL, or JSON with host, port, username, password, dbname")


class PostgresConfig(_Strict):
    connection: Union[EnvRef, SecretRef, None] = Field(
        default=None, description="Credential reference; default: the service's CDC target database")
    schema_: str | None = Field(default=None, alias="schema", pattern=_IDENT)
    table: str | None = Field(default=None, pattern=_IDENT)
    query: str | None = Field(default=None, min_length=1, max_length=20000)

    @model_validator(mode="after")
    def _table_or_query(self):
        if (self.table is None) == (self.query is None):
            raise ValueError("give either table (with an optional schema) or query")
        if self.schema_ is not None and self.table is None:
            raise ValueError("schema goes with table")
        if self.query is not None:
            problem = read_only_problem(self.query)
            if problem:
                raise ValueError(f"query {problem}")
        return self


class CdcTableConfig(_Strict):
    table: str = Field(min_length=1, max_length=200, description="A table of the CDC catalog")


def read_only_problem(query: str) -> str | None:
    """A first, cheap check (the READ ONLY transaction is the real guard)."""
    # comments and string literals read in one left-to-right scan, so that a "--" inside a string or a "'"
    # inside a comment is not taken for the other; literals become '' (a ';' or a keyword in one is data)
    unquoted = re.sub(_COMMENT_OR_LITERAL, lambda m: " " if m.group(0)[0] in "-/" else "''", query,
                      flags=re.S).strip().rstrip(";").strip()
    if ";" in unquoted:
        return "must be a single statement"
    if not re.match(r"^(select|with|values|table)\b", unquoted, flags=re.I):
        return "must be a read-only SELECT (or WITH ... SELECT)"
    if re.search(r"\b(insert|update|delete|merge|truncate|drop|alter|create|grant|copy|call|lock)\b",
                 unquoted, flags=re.I):
        return "must not modify anything (INSERT, UPDATE, DELETE, DDL, COPY, CALL and LOCK are not allowed)"
    called = re.search(_UNSAFE_FUNCTIONS, unquoted, flags=re.I)
    if called:
        return (f"must not call {called.group(1).lower()} (functions that run other SQL, read the server's files "
                "or reach other databases are not allowed)")
    return None


_COMMENT_OR_LITERAL = r"--[^\n]*|/\*.*?\*/|'(?:[^']|'')*'"

# functions whose reads a plan does not show: they run SQL given as text (the *_to_xml family), read the
# database server's files or large objects, or open connections to other databases
_UNSAFE_FUNCTIONS = (r"\b((?:query|table|cursor|schema|database)_to_xml(?:schema|_and_xmlschema)?"
                     r'|pg_read_(?:binary_)?file|pg_ls_\w+|pg_stat_file|lo_\w+|dblink\w*)"?\s*\(')


TYPES = ("POSTGRES", "CDC_TABLE")


def validate_config(type_: str, config: Any) -> dict:
    """The stored form of a data source's config, or Invalid naming every problem (`config.<field>`)."""
    from pydantic import ValidationError

    model = PostgresConfig if type_ == "POSTGRES" else CdcTableConfig
    try:
        parsed = model.model_validate(config)
    except ValidationError as exc:
        issues = _issues(exc, config)
        raise Invalid(issues) from None
    out = parsed.model_dump(mode="json", by_alias=True, exclude_none=True)
    if type_ == "CDC_TABLE":
        from chalicelib.cdc.catalog import get_catalog

        tables = list(get_catalog().tables)   # in the catalog's order, as the CDC API lists them
        if parsed.table not in tables:
            raise Invalid([Issue("config.table", "INVALID_VALUE",
                                 f"'{parsed.table}' is not a table of the CDC catalog (tables: {', '.join(tables)})")])
    return out


_REFS = {"EnvRef": "env", "SecretRef": "secretArn"}
_PATTERN_MESSAGES = {
    "env": "must be an environment variable name (letters, digits, _; not starting with a digit)",
    "secretArn": "must be a Secrets Manager secret ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME)",
}
_CONNECTION_SHAPE = 'must be a credential reference: {"env": NAME} or {"secretArn": ARN}'


def _issues(exc, config: Any) -> list[Issue]:
    """Every problem located at its config field: a credential reference's problems at
    config.connection(.field), never at the internal names of the alternatives."""
    connection = config.get("connection") if isinstance(config, dict) else None
    chosen = next((name for name, key in _REFS.items() if isinstance(connection, dict) and key in connection), None)
    issues: list[Issue] = []
    for err in exc.errors(include_url=False):
        loc = list(err.get("loc", ()))
        msg = str(err["msg"]).removeprefix("Value error, ")
        if loc[:1] == ["connection"] and len(loc) > 1 and loc[1] in _REFS:
            if chosen is None:
                if not any(i.field == "config.connection" for i in issues):
                    issues.append(Issue("config.connection", "INVALID_VALUE", _CONNECTION_SHAPE))
                continue
            if loc[1] != chosen:
                continue
            loc = ["connection", *loc[2:]]
        elif loc[:1] == ["connection"] and err["type"] in ("model_type", "dict_type", "union_tag_invalid"):
            issues.append(Issue("config.connection", "INVALID_VALUE", _CONNECTION_SHAPE))
            continue
        if not loc and msg.startswith(("query ", "schema ")):
            field, _, msg = msg.partition(" ")
            loc = [field] if field == "query" else ["schema"]
            msg = msg if field == "query" else "goes with table (give table too, or drop schema)"
        if err["type"] == "string_pattern_mismatch":
            msg = _PATTERN_MESSAGES.get(str(loc[-1]), "must be an identifier (letters, digits, _; not starting with "
                                                       "a digit; at most 63 characters)")
        code = "UNKNOWN_FIELD" if err["type"] == "extra_forbidden" else (
            "REQUIRED" if err["type"] == "missing" else "INVALID_VALUE")
        msg = "is not a known field" if code == "UNKNOWN_FIELD" else ("is required" if code == "REQUIRED" else msg)
        code, msg = _worded(err, code, msg)
        issues.append(Issue(".".join(str(p) for p in ("config", *loc)), code, msg))
    return issues


def _worded(err: dict, code: str, msg: str) -> tuple[str, str]:
    """The API's words for pydantic's type and length errors (as for every other body field)."""
    return type_or_length(err) or (code, msg)


# ---------------------------------------------------------------------------------- data access

_COLS = "data_source_id, name, type, config, version, created_by, created_at, updated_at"


def create(name: str, type_: str, config: dict, created_by: str | None = None) -> dict:
    with tx() as c:
        return fetch_one(c, f"INSERT INTO recon.data_sources (name, type, config, created_by) VALUES (%s, %s, %s, %s)"
                            f" RETURNING {_COLS}", (name, type_, Jsonb(config), created_by))


def update(data_source_id: int, name: str, type_: str, config: dict,
           check_locked: Callable[[dict], None] | None = None) -> dict:
    """Replaces it and adds one to its version. `check_locked(row)` sees the data source locked before it is
    written: a PUT's version compared there cannot be overtaken by a concurrent PUT."""
    with tx() as c:
        row = fetch_one(c, f"SELECT {_COLS} FROM recon.data_sources WHERE data_source_id = %s AND deleted_at IS NULL"
                           " FOR UPDATE", (data_source_id,))
        if row is None:
            raise NotFound("Data source", data_source_id)
        if check_locked is not None:
            check_locked(row)
        return fetch_one(c, f"UPDATE recon.data_sources SET name = %s, type = %s, config = %s, version = version + 1,"
                            f" updated_at = now() WHERE data_source_id = %s RETURNING {_COLS}",
                         (name, type_, Jsonb(config), data_source_id))


def get(data_source_id: int, conn=None) -> dict | None:
    with tx(conn) as c:
        return fetch_one(c, f"SELECT {_COLS} FROM recon.data_sources WHERE data_source_id = %s AND deleted_at IS NULL",
                         (data_source_id,))


def require(data_source_id: int) -> dict:
    row = get(data_source_id)
    if row is None:
        raise NotFound("Data source", data_source_id)
    return row


def existing(ids: list[int], conn=None, *, share_lock: bool = False) -> dict[int, dict]:
    if not ids:
        return {}
    with tx(conn) as c:
        rows = fetch_all(c, f"SELECT {_COLS} FROM recon.data_sources WHERE data_source_id = ANY(%s)"
                            " AND deleted_at IS NULL ORDER BY data_source_id" + (" FOR SHARE" if share_lock else ""),
                         (list(set(ids)),))
    return {r["data_source_id"]: r for r in rows}


def list_data_sources(offset: int = 0, limit: int = 20, type_: str | None = None) -> tuple[list[dict], int]:
    where, params = "deleted_at IS NULL", []
    if type_:
        where += " AND type = %s"
        params.append(type_)
    with tx() as c:
        total = fetch_one(c, f"SELECT count(*) AS n FROM recon.data_sources WHERE {where}", params)["n"]
        rows = fetch_all(c, f"SELECT {_COLS} FROM recon.data_sources WHERE {where}"
                            " ORDER BY created_at DESC, data_source_id DESC OFFSET %s LIMIT %s", params + [offset, limit])
    return rows, total


def delete(data_source_id: int) -> None:
    with tx() as c:
        if fetch_one(c, "SELECT 1 AS x FROM recon.data_sources WHERE data_source_id = %s AND deleted_at IS NULL"
                        " FOR UPDATE", (data_source_id,)) is None:
            raise NotFound("Data source", data_source_id)
        users = fetch_all(
            c, "SELECT DISTINCT s.stream_id FROM recon.streams s JOIN recon.stream_steps st"
               " ON st.stream_id = s.stream_id AND st.version = s.current_version WHERE s.status <> 'ARCHIVED'"
               " AND ((st.source_type = 'DATA_SOURCE_SNAPSHOT' AND st.source_id = %s)"
               "   OR (st.target_type = 'DATA_SOURCE_SNAPSHOT' AND st.target_id = %s)) ORDER BY s.stream_id",
            (data_source_id, data_source_id))
        from chalicelib.streams.files import runs_in_flight_reading

        named = {u["stream_id"] for u in users}
        shown = [f"stream {u['stream_id']}" for u in users]
        shown += [f"stream run {r['run_id']} (in progress)"   # its snapshot is still to be taken
                  for r in runs_in_flight_reading("DATA_SOURCE_SNAPSHOT", data_source_id, c) if r["stream_id"] not in named]
        if shown:
            raise Conflict(f"Data source {data_source_id} is in use by " + ", ".join(shown[:5])
                           + (f" and {len(shown) - 5} more" if len(shown) > 5 else ""))
        c.execute("UPDATE recon.data_sources SET deleted_at = now() WHERE data_source_id = %s", (data_source_id,))


def view(row: dict) -> dict:
    return {"id": row["data_source_id"], "name": row["name"], "type": row["type"], "config": row["config"],
            "version": row["version"], "createdAt": row["created_at"], "updatedAt": row["updated_at"]}


# ------------------------------------------------------------------------------ connections


class SourceUnusable(Exception):
    """The data source cannot be read as configured (the message says why, never a secret)."""


class CredentialError(SourceUnusable):
    """A credential reference that cannot be resolved (the message never contains the secret)."""


class ColumnsUnusable(SourceUnusable):
    """The source's columns cannot be an input: two with one name, or one without a name."""


def column_problem(names: list[str], config: dict) -> str | None:
    """Why these result columns cannot be a step's input, or None. An input's columns are named
    case-insensitively (the engine's reader, and an uploaded CSV, refuse a header with a name twice),
    and PostgreSQL names an expression without an alias `?column?`."""
    seen: dict[str, str] = {}
    for i, name in enumerate(names, 1):
        if config.get("query") and name == "?column?":
            return (f"column {i} of the query has no name (an expression without AS): "
                    "give every column a name of its own")
        if not name.strip():
            return f"column {i} has no name"
        if name.lower() in seen:
            twice = f"'{name}'" if seen[name.lower()] == name else f"'{seen[name.lower()]}' and '{name}'"
            return (f"the source returns column {twice} twice (names are compared without case): "
                    "give every column a name of its own (SELECT ... AS ...)")
        seen[name.lower()] = name
    return None


class ControlPlaneRead(SourceUnusable):
    """The data source would read recon's own control-plane tables."""


CONTROL_PLANE_SCHEMA = "recon"


def resolve_dsn(config: dict) -> str:
    """The connection URL a POSTGRES data source's reference points at (never log it)."""
    ref = config.get("connection")
    if not ref:
        from chalicelib.config import get_settings

        s = get_settings()
        return s.target_database_url or s.database_url
    if "env" in ref:
        value = os.environ.get(ref["env"])
        if not value:
            raise CredentialError(f"environment variable {ref['env']} is not set")
        return _checked_dsn(value, f"environment variable {ref['env']}")
    if "secretArn" in ref:
        from chalicelib import aws

        try:
            secret = aws.client("secretsmanager").get_secret_value(SecretId=ref["secretArn"])["SecretString"]
        except Exception as exc:
            raise CredentialError(f"secret {ref['secretArn']} cannot be read ({type(exc).__name__})") from None
        try:
            d = json.loads(secret)
        except ValueError:
            return _checked_dsn(secret, f"secret {ref['secretArn']}")
        from psycopg.conninfo import make_conninfo

        return make_conninfo(host=d.get("host"), port=d.get("port"), user=d.get("username") or d.get("user"),
                             password=d.get("password"), dbname=d.get("dbname") or d.get("database"))
    raise CredentialError("connection must be {\"env\": NAME} or {\"secretArn\": ARN}")


def _checked_dsn(value: str, where: str) -> str:
    """The value as a connection string, or CredentialError naming where it came from — never the value:
    libpq's own parse errors quote the whole string (a password, or any variable a reference names)."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        conninfo_to_dict(value)
    except Exception:
        raise CredentialError(f"{where} does not hold a PostgreSQL connection string "
                              "(postgresql://user:password@host:port/db or key=value pairs)") from None
    return value


def select_sql(config: dict):
    """The SELECT a snapshot reads (psycopg Composable), for COPY (...) TO STDOUT or a cursor."""
    from psycopg import sql

    if config.get("query"):
        return sql.SQL(_wrappable(config["query"]))
    if config.get("schema"):
        return sql.SQL("SELECT * FROM {}.{}").format(sql.Identifier(config["schema"]), sql.Identifier(config["table"]))
    return sql.SQL("SELECT * FROM {}").format(sql.Identifier(config["table"]))


def _wrappable(query: str) -> str:
    """A stored query as it goes inside the parentheses of `COPY (...)` or `SELECT * FROM (...) AS q`: without
    its closing `;` (and the comments after it), and ended by a new line, so that a `--` comment on its last
    line ends there instead of swallowing the parenthesis that closes it."""
    text = query.strip()
    end = re.search(r";(?:\s|--[^\n]*|/\*.*?\*/)*\Z", text, flags=re.S)
    return (text[:end.start()] if end else text) + "\n"


@contextmanager
def read_only(config: dict, statement_timeout_ms: int | None = None) -> Iterator[Any]:
    """A connection to the data source inside a READ ONLY, REPEATABLE READ transaction (one consistent
    snapshot; any write fails)."""
    import psycopg

    with psycopg.connect(resolve_dsn(config), connect_timeout=CONNECT_TIMEOUT_S, autocommit=False,
                         options="-c timezone=UTC") as conn:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        if statement_timeout_ms:
            conn.execute(f"SET LOCAL statement_timeout = {int(statement_timeout_ms)}")
        _refuse_control_plane(conn, config)
        try:
            yield conn
        finally:
            conn.rollback()


def _refuse_control_plane(conn, config: dict) -> None:
    """recon's own tables are never a data source. In the database that holds them (the default connection
    often does), the plan of what the source reads must not touch the control-plane schema — tables,
    views over them, functions. The API keys, webhooks and every stream's data are the service's, not a
    source's. (Functions that run SQL given as text are refused with the query, read_only_problem.)"""
    from psycopg import sql

    if not conn.execute(sql.SQL("SELECT to_regclass({}) IS NOT NULL").format(
            sql.Literal(f"{CONTROL_PLANE_SCHEMA}.api_keys"))).fetchone()[0]:
        return
    problem = read_only_problem(config["query"]) if config.get("query") else None
    if problem:   # a source stored before the query check knew this
        raise ControlPlaneRead(f"query {problem}")
    plan = conn.execute(sql.SQL("EXPLAIN (VERBOSE, FORMAT JSON) {}").format(select_sql(config))).fetchone()[0]
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("Schema") == CONTROL_PLANE_SCHEMA:
                found.add(f"{CONTROL_PLANE_SCHEMA}.{node.get('Relation Name') or node.get('Function Name') or '?'}")
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(plan)
    if found:
        raise ControlPlaneRead(f"the source reads recon's own control-plane data ({', '.join(sorted(found)[:5])}); "
                               "a data source cannot read the service's tables")


def test(row: dict) -> dict:
    """`{ok, rowEstimate, columns, errorMessage}`: can the source be read, what would it give."""
    try:
        if row["type"] == "CDC_TABLE":
            return _test_cdc(row["config"])
        return _test_postgres(row["config"])
    except SourceUnusable as exc:
        return {"ok": False, "rowEstimate": None, "columns": [], "errorMessage": str(exc)}


def _test_postgres(config: dict) -> dict:
    import psycopg
    from psycopg import sql

    try:
        with read_only(config, TEST_STATEMENT_TIMEOUT_MS) as conn:
            inner = select_sql(config)
            cur = conn.execute(sql.SQL("SELECT * FROM ({}) AS q LIMIT 0").format(inner))
            described = list(cur.description or [])
            # the server names every column's type as declared (numeric(12,2), text[], an enum's name): never INT4
            # nor an OID number
            declared = [r[0] for r in conn.execute(
                "SELECT format_type(t.oid, t.mod) FROM unnest(%s::oid[], %s::int[]) WITH ORDINALITY AS t(oid, mod, i)"
                " ORDER BY t.i", ([d.type_code for d in described],
                                  [cur.pgresult.fmod(i) for i in range(len(described))])).fetchall()]
            columns = [{"name": d.name, "type": _pg_snapshot_type(conn.adapters.types.get(d.type_code), d),
                        "sourceType": source_type.upper()} for d, source_type in zip(described, declared)]
            problem = column_problem([c["name"] for c in columns], config)
            if problem:   # a snapshot of it would fail the step: the test says so now
                return {"ok": False, "rowEstimate": None, "columns": columns, "errorMessage": problem}
            plan = conn.execute(sql.SQL("EXPLAIN (FORMAT JSON) {}").format(inner)).fetchone()[0]
            estimate = int(plan[0]["Plan"]["Plan Rows"]) if plan else None
            # a write hidden in a function or CTE still fails inside the READ ONLY transaction
            conn.execute(sql.SQL("SELECT count(*) FROM (SELECT * FROM ({}) AS q LIMIT 1) AS one").format(inner))
        return {"ok": True, "rowEstimate": estimate, "columns": columns, "errorMessage": None}
    except psycopg.errors.QueryCanceled:
        return {"ok": False, "rowEstimate": None, "columns": [],
                "errorMessage": f"the query did not answer within {TEST_STATEMENT_TIMEOUT_MS // 1000} s (the test's limit)"}
    except psycopg.OperationalError as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return {"ok": False, "rowEstimate": None, "columns": [], "errorMessage": f"cannot connect: {_scrub(msg)}"}
    except psycopg.Error as exc:
        msg = (getattr(exc.diag, "message_primary", None) or str(exc)).strip()
        return {"ok": False, "rowEstimate": None, "columns": [], "errorMessage": _scrub(msg)}


# A test's column `type` is the type the column of a snapshot reads as: a snapshot is a CSV file whose types the
# engine detects from its values, as for every file (chalicelib.matching.inputs): whole numbers BIGINT, decimals
# DECIMAL(p,s) (p at least 18), DATE, TIMESTAMP, TIMESTAMP WITH TIME ZONE, TIME, BOOLEAN, the rest VARCHAR (text,
# uuid, json, arrays, collections). Plain DECIMAL: a decimal whose precision and scale its values decide (a
# numeric without a declared scale, a float). `sourceType` is the source's own type name.
_PG_SNAPSHOT_TYPES = {"int2": "BIGINT", "int4": "BIGINT", "int8": "BIGINT", "oid": "BIGINT", "numeric": "DECIMAL",
                      "float4": "DECIMAL", "float8": "DECIMAL", "bool": "BOOLEAN", "date": "DATE",
                      "timestamp": "TIMESTAMP", "timestamptz": "TIMESTAMP WITH TIME ZONE", "time": "TIME"}
_CQL_SNAPSHOT_TYPES = {"int": "BIGINT", "bigint": "BIGINT", "smallint": "BIGINT", "tinyint": "BIGINT",
                       "counter": "BIGINT", "varint": "DECIMAL", "decimal": "DECIMAL", "float": "DECIMAL",
                       "double": "DECIMAL", "boolean": "BOOLEAN", "date": "DATE",
                       "timestamp": "TIMESTAMP WITH TIME ZONE", "time": "TIME"}


def _pg_snapshot_type(info, column) -> str:
    """The snapshot type of a PostgreSQL result column (psycopg's type info, None for a type it does not know)."""
    if info is None or column.type_code != info.oid:   # an array, or an enum, domain or extension's type
        return "VARCHAR"
    if info.name == "numeric" and column.precision is not None and column.precision <= 38:
        scale = column.scale or 0   # COPY writes every declared decimal place: the values are that wide at most
        if scale == 0:
            return "BIGINT" if column.precision <= 18 else "DECIMAL(38,0)"
        return f"DECIMAL({max(18, column.precision)},{scale})"
    return _PG_SNAPSHOT_TYPES.get(info.name, "VARCHAR")


def _scrub(message: str) -> str:
    """Connection errors may echo the URL: never show a password."""
    return re.sub(r"(://[^:/@\s]+:)[^@\s]+@", r"\1***@", message)[:500]


def _test_cdc(config: dict) -> dict:
    from chalicelib.cdc.catalog import get_catalog

    table = get_catalog().tables.get(config["table"])
    if table is None:
        return {"ok": False, "rowEstimate": None, "columns": [],
                "errorMessage": f"'{config['table']}' is not in the CDC catalog"}
    columns = [{"name": name, "type": _CQL_SNAPSHOT_TYPES.get(col.type.strip().lower(), "VARCHAR"),
                "sourceType": col.type.upper()} for name, col in table.columns.items()]
    estimate = _cdc_row_estimate(config["table"])
    try:
        from chalicelib.cassandra.session import get_session

        session = get_session()
        session.execute(f'SELECT * FROM "{table.cassandra.keyspace}"."{table.cassandra.table}" LIMIT 1')
    except Exception as exc:
        return {"ok": False, "rowEstimate": None, "columns": columns,
                "errorMessage": f"Cassandra table {table.cassandra.keyspace}.{table.cassandra.table} cannot be read "
                                f"({type(exc).__name__}: {str(exc)[:200]})"}
    return {"ok": True, "rowEstimate": estimate, "columns": columns, "errorMessage": None}


def _cdc_row_estimate(table: str) -> int | None:
    """The Cassandra row count of the table's latest whole-table CDC job (ROW_COUNT or CHECKSUM), the
    figure /metrics shows as cdc_reconciliation_cassandra_rows; None before the first such job."""
    with tx() as c:
        row = fetch_one(c, "SELECT cassandra_row_count FROM recon.jobs WHERE table_name = %s AND status = 'COMPLETED'"
                           " AND validation_strategy IN ('ROW_COUNT', 'CHECKSUM') AND cassandra_row_count IS NOT NULL"
                           " ORDER BY completed_at DESC, job_id DESC LIMIT 1", (table,))
    return None if row is None else row["cassandra_row_count"]
