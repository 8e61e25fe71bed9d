"""Service configuration, read from the environment (pydantic-settings).

Every setting has an environment variable of the same name in upper case. `.chalice/config.json`
sets them per stage; the local stack writes them to `.local/env`.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from chalicelib.domain.support import SUPPORT_CONTACT

REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    # control plane
    database_url: str = "postgresql://postgres@127.0.0.1:15432/recon"
    db_pool_min: int = 1
    db_pool_max: int = 4
    db_pool_timeout: float = 10.0
    # the PostgreSQL database fed by CDC (defaults to the control-plane database)
    target_database_url: str | None = None

    # AWS (LocalStack locally: AWS_ENDPOINT_URL=http://127.0.0.1:4566)
    aws_endpoint_url: str | None = None
    aws_region: str = "us-east-1"
    queue_prefix: str = ""
    artifacts_bucket: str = "recon-artifacts-local"

    # product switches
    reconciliation_enabled: bool = True
    catalog_path: Path = REPO_ROOT / "config" / "catalog.yml"

    # API
    rate_limit_trigger_per_minute: int = 10
    # streams (their values are not in the contracts): generous, a client's automation or test suite
    # must not meet them in normal use; they stop a runaway loop
    rate_limit_uploads_per_minute: int = 120   # streams: direct uploads and upload sessions, per API key
    rate_limit_runs_per_minute: int = Field(default=120, ge=1)   # streams: POST /streams/{id}/runs, per API key
    support_contact: str = SUPPORT_CONTACT

    # CDC engine
    segments_per_job: int = Field(default=16, ge=1, le=4096)
    job_deadline_seconds: int = 3600
    segment_lease_seconds: int = 110
    replication_lag_seconds: int = 60
    recheck_grace_seconds: int = 30
    timestamp_range_window_seconds: int = 3600
    sample_size: int = 1000
    sample_mismatches_in_job: int = 20

    # alerts
    drift_alert_threshold_percentage: float = 1.0
    # a scheduled job does not repeat the drift alert of its table still open at the same or a lower
    # severity within this many seconds (docs/alerts.md); 0 repeats it every hour
    drift_alert_repeat_seconds: int = Field(default=14400, ge=0)
    # the schedule's open drift alert is resolved only by a drift at or below threshold x (1 - margin), so a
    # drift hovering at the threshold does not alternate alert and resolution (docs/alerts.md); 0: at the threshold
    drift_alert_resolve_margin: float = Field(default=0.2, ge=0, lt=1)
    webhook_urls: str = ""
    webhook_secret: str = ""


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reset_settings() -> None:
    """Forget the cached settings (tests change the environment)."""
    get_settings.cache_clear()
