"""Data sources (streams platform §4): POSTGRES (table or read-only query) and CDC_TABLE, with credential
references only; create, list, get, update, delete, test."""
from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any, Optional

from chalice import Blueprint
from pydantic import Field, field_validator

from chalicelib.api.auth_middleware import caller_email
from chalicelib.api.core import (DeletedOut, Dialect, Routes, StreamsIn, StreamsOut, StreamsPageQuery,
                                 check_read_only, created, ok, page_of, paginated, read_only_fields)
from chalicelib.domain.keyorder import ordered_keys
from chalicelib.streams import data_sources
from chalicelib.streams.validation import Name

bp = Blueprint(__name__)
api = Routes(bp, dialect=Dialect.STREAMS, tag="data-sources")


class DataSourceType(str, Enum):
    POSTGRES = "POSTGRES"
    CDC_TABLE = "CDC_TABLE"


class DataSourceIn(StreamsIn):
    name: Name
    type: DataSourceType
    config: dict[str, Any] = Field(
        description="POSTGRES: {connection?: {env: NAME} | {secretArn: ARN}, schema?, table} or {connection?, query} "
                    "(a read-only SELECT, run in a READ ONLY transaction); CDC_TABLE: {table} of the CDC catalog. "
                    "Without connection, POSTGRES reads the service's CDC target database.",
        examples=[{"connection": {"env": "OMS_DATABASE_URL"}, "query": "SELECT order_id, amount FROM oms.orders"}])


class DataSourceView(StreamsOut):
    id: int
    name: str
    type: DataSourceType
    config: dict[str, Any] = Field(description="As stored: credential references, never secrets")
    version: int = Field(description="Counts the data source's edits: 1 when created, each PUT adds one")
    created_at: datetime
    updated_at: datetime

    @field_validator("config")
    @classmethod
    def _as_written(cls, v):   # platform §4's order: connection first, then what is read
        return ordered_keys(v, ("connection", "schema", "table", "query"))


class DataSourceColumnOut(StreamsOut):
    name: str
    type: str = Field(description="The type this column of a snapshot reads as, in the words of a file's columns "
                                  "(detected from the values: BIGINT, DECIMAL(18,2), DATE, TIMESTAMP WITH TIME ZONE, "
                                  "BOOLEAN, VARCHAR, ...; plain DECIMAL when the values decide precision and scale)",
                      examples=["DECIMAL(18,2)"])
    source_type: str = Field(description="The source's own type name, as declared", examples=["NUMERIC(12,2)"])


class DataSourceTestOut(StreamsOut):
    ok: bool
    row_estimate: Optional[int] = None
    columns: list[DataSourceColumnOut] = Field(default_factory=list)
    error_message: Optional[str] = None


class DataSourcesQuery(StreamsPageQuery):
    type: Optional[DataSourceType] = None


def _config(body: DataSourceIn) -> dict:
    return data_sources.validate_config(body.type.value, body.config)


@api.route("/data-sources", "POST", body=DataSourceIn, response=DataSourceView, status=201,
           summary="Create a data source")
def create_data_source(body: DataSourceIn):
    row = data_sources.create(body.name, body.type.value, _config(body), caller_email(bp))
    view = data_sources.view(row)
    return created(view, f"/data-sources/{view['id']}", message="Data source created")


@api.route("/data-sources", "GET", query=DataSourcesQuery, response=page_of(DataSourceView),
           summary="List data sources (newest first)")
def list_data_sources(query: DataSourcesQuery):
    rows, total = data_sources.list_data_sources(query.offset, query.limit, query.type.value if query.type else None)
    return ok(paginated([data_sources.view(r) for r in rows], total, query))


@api.route("/data-sources/{id}", "GET", response=DataSourceView, errors=[404], summary="One data source")
def get_data_source(id: int):
    return ok(data_sources.view(data_sources.require(id)))


@api.route("/data-sources/{id}", "PUT", body=DataSourceIn, response=DataSourceView, errors=[404, 409],
           summary="Replace a data source (the next snapshot uses it): version + 1",
           description="What GET answered can be PUT back: id must be the data source's and a version other than the "
                       "current one is a 409 (the body was read before a later change); the timestamps are ignored.",
           read_only=read_only_fields("id", "version", "createdAt", "updatedAt"))
def update_data_source(id: int, body: DataSourceIn, given: dict):
    config = _config(body)   # a 400 comes before a 404

    def check(row: dict) -> None:   # under the data source's lock: two PUTs of one version cannot both pass
        check_read_only(given, {"id": id, "version": row["version"]}, "Data source")

    row = data_sources.update(id, body.name, body.type.value, config, check_locked=check if given else None)
    return ok(data_sources.view(row), message=f"Data source {id} is now at version {row['version']}")


@api.route("/data-sources/{id}", "DELETE", response=DeletedOut, errors=[404, 409],
           summary="Delete a data source (409 while a non-archived stream uses it)")
def delete_data_source(id: int):
    data_sources.delete(id)
    return ok({"id": id, "deleted": True}, message=f"Data source {id} deleted")


@api.route("/data-sources/{id}/test", "POST", response=DataSourceTestOut, errors=[404],
           summary="Check that the source can be read: columns and a row estimate",
           description="Connects with the referenced credentials and runs the table or query inside a READ ONLY "
                       "transaction (LIMIT 0 plus EXPLAIN for the estimate). A failure is ok=false with the reason "
                       "(never the secret), not an HTTP error.")
def test_data_source(id: int):
    return ok(data_sources.test(data_sources.require(id)))
