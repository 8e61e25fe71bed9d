"""Connection settings of the Cassandra reader, from ``CASSANDRA_*`` environment variables."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

_CONSISTENCY_LEVELS = (
    "ANY",
    "ONE",
    "TWO",
    "THREE",
    "QUORUM",
    "ALL",
    "LOCAL_QUORUM",
    "EACH_QUORUM",
    "SERIAL",
    "LOCAL_SERIAL",
    "LOCAL_ONE",
)


class CassandraSettings(BaseSettings):
    """``CASSANDRA_HOSTS`` is a comma-separated list; everything else has a sensible default."""

    model_config = SettingsConfigDict(env_prefix="CASSANDRA_", frozen=True, extra="ignore")

    hosts: Annotated[tuple[str, ...], NoDecode] = ("127.0.0.1",)
    port: int = Field(9042, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    ssl: bool = False
    ssl_ca: str | None = None
    local_dc: str | None = None
    consistency: str = "LOCAL_QUORUM"
    connect_timeout: float = Field(5.0, gt=0)
    request_timeout: float = Field(30.0, gt=0)
    fetch_size: int = Field(5000, ge=1)
    protocol_version: int | None = Field(None, ge=1, le=66)
    # bounded retries of one request (a page, a count, a point read) on timeouts/unavailability
    max_retries: int = Field(3, ge=0, le=20)
    retry_backoff: float = Field(0.2, ge=0)

    @field_validator("hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            value = [h.strip() for h in value.split(",")]
        if isinstance(value, (list, tuple)):
            hosts = tuple(h.strip() for h in value if h and h.strip())
            if not hosts:
                raise ValueError("CASSANDRA_HOSTS names no host")
            return hosts
        return value

    @field_validator("consistency", mode="before")
    @classmethod
    def _check_consistency(cls, value: object) -> object:
        if isinstance(value, str):
            name = value.strip().upper()
            if name not in _CONSISTENCY_LEVELS:
                raise ValueError(
                    f"unknown consistency level {value!r}; one of {', '.join(_CONSISTENCY_LEVELS)}"
                )
            return name
        return value

    @field_validator("username", "password", "ssl_ca", "local_dc", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("protocol_version", mode="before")
    @classmethod
    def _empty_protocol(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @property
    def consistency_level(self) -> int:
        from cassandra import ConsistencyLevel

        return ConsistencyLevel.name_to_value[self.consistency]

    def describe(self) -> str:
        """Where we connect, without secrets (for logs and error messages)."""
        return f"{','.join(self.hosts)}:{self.port}"
