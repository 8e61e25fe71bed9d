"""The catalog of replicated tables: which Cassandra table feeds which PostgreSQL table, how rows are
keyed and which columns are compared. An operator-edited YAML file (CATALOG_PATH, default
config/catalog.yml), validated at load with errors naming the table and the field.

Table names from requests are only ever looked up here; identifiers reach SQL/CQL quoted.
"""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from chalicelib.config import get_settings

Strategy = Literal["ROW_COUNT", "CHECKSUM", "TIMESTAMP_RANGE", "SAMPLE"]
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
def _check_type(t: str) -> str:
    """A supported CQL type string (the one type table: canonical.parse_cql_type), normalised."""
    from chalicelib.cdc.canonical import parse_cql_type

    parse_cql_type(t)  # raises UnsupportedTypeError (a ValueError) naming the type
    return t.strip().lower().replace(" ", "")


def _ident(v: str) -> str:
    if not _IDENT.match(v):
        raise ValueError(f"{v!r} is not a plain identifier (letters, digits, underscore)")
    return v


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CassandraRef(_Strict):
    keyspace: str
    table: str
    _v = field_validator("keyspace", "table")(classmethod(lambda cls, v: _ident(v)))


class PostgresRef(_Strict):
    schema_: str = Field(default="public", alias="schema")
    table: str
    token_column: str = "recon_token"
    _v = field_validator("schema_", "table", "token_column")(classmethod(lambda cls, v: _ident(v)))


class Column(_Strict):
    name: str = ""
    type: str
    postgres: str | None = None
    tolerance: float | None = Field(default=None, ge=0)

    _t = field_validator("type")(classmethod(lambda cls, v: _check_type(v)))
    _p = field_validator("postgres")(classmethod(lambda cls, v: v if v is None else _ident(v)))

    @property
    def pg_name(self) -> str:
        return self.postgres or self.name


class TableConfig(_Strict):
    name: str = ""
    cassandra: CassandraRef
    postgres: PostgresRef
    partition_key: list[str] = Field(min_length=1)
    clustering_key: list[str] = []
    updated_at_column: str | None = None
    default_strategy: Strategy = "CHECKSUM"
    segments: int | None = Field(default=None, ge=1, le=4096)
    columns: dict[str, Column] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _fill_names(cls, data):
        if isinstance(data, dict) and isinstance(data.get("columns"), dict):
            cols = {}
            for name, spec in data["columns"].items():
                _ident(str(name))
                spec = dict(spec or {}) if isinstance(spec, dict) else spec
                if isinstance(spec, dict):
                    spec["name"] = name
                cols[name] = spec
            data = {**data, "columns": cols}
        return data

    @model_validator(mode="after")
    def _keys_are_columns(self):
        for field in ("partition_key", "clustering_key"):
            for k in getattr(self, field):
                if k not in self.columns:
                    raise ValueError(f"{field} column {k!r} is not listed in columns")
        if self.updated_at_column and self.updated_at_column not in self.columns:
            raise ValueError(f"updated_at_column {self.updated_at_column!r} is not listed in columns")
        if self.updated_at_column and self.columns[self.updated_at_column].type != "timestamp":
            raise ValueError(f"updated_at_column {self.updated_at_column!r} must be a timestamp column")
        for k in self.primary_key:
            if self.columns[k].type.startswith(("set", "list", "map", "frozen")):
                raise ValueError(f"key column {k!r} cannot be a collection")
        return self

    @property
    def primary_key(self) -> list[str]:
        return [*self.partition_key, *self.clustering_key]

    @property
    def column_list(self) -> list[Column]:
        return list(self.columns.values())


class CatalogError(ValueError):
    pass


class Catalog(_Strict):
    tables: dict[str, TableConfig]

    def names(self) -> list[str]:
        """The table names in the order the catalog lists them (what `INVALID_TABLE` answers show in
        `valid_tables`, and the order a trigger of every table queues them)."""
        return list(self.tables)

    def get(self, name: str) -> TableConfig | None:
        return self.tables.get(name)


def parse_catalog(data: dict, source: str = "catalog") -> Catalog:
    if not isinstance(data, dict) or not isinstance(data.get("tables"), dict) or not data["tables"]:
        raise CatalogError(f"{source}: expected a mapping with a non-empty 'tables' mapping")
    tables = {}
    problems = []
    for name, spec in data["tables"].items():
        if not _IDENT.match(str(name)):
            problems.append(f"table {name!r}: name must be a plain identifier")
            continue
        try:
            tables[name] = TableConfig.model_validate({**(spec or {}), "name": name})
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                loc = ".".join(str(p) for p in err["loc"]) or "(table)"
                problems.append(f"table {name!r}, field {loc}: {err['msg']}")
    if problems:
        raise CatalogError(f"{source} is invalid:\n  " + "\n  ".join(problems))
    return Catalog(tables=tables)


def load_catalog(path: Path | str) -> Catalog:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise CatalogError(f"catalog file {path} not found (set CATALOG_PATH)") from None
    except yaml.YAMLError as exc:
        raise CatalogError(f"catalog file {path} is not valid YAML: {exc}") from None
    return parse_catalog(data, str(path))


@lru_cache(maxsize=1)
def get_catalog() -> Catalog:
    return load_catalog(get_settings().catalog_path)


def main() -> int:
    """`python -m chalicelib.cdc.catalog [PATH]`: validate a catalog file."""
    import sys

    path = sys.argv[1] if len(sys.argv) > 1 else get_settings().catalog_path
    try:
        cat = load_catalog(path)
    except CatalogError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"{path}: {len(cat.tables)} table(s): {', '.join(cat.names())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
