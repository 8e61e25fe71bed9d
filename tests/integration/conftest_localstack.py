"""LocalStack for integration tests (import the fixtures into a test module).

    from tests.integration.conftest_localstack import localstack, aws  # noqa: F401

* If AWS_ENDPOINT_URL is set, that endpoint is used as it is (nothing started or stopped).
* Otherwise LocalStack is started in host mode with infra/local/localstack.sh on
  LOCALSTACK_TEST_PORT (default 4599), state in a temporary STACK_DIR, and stopped
  at the end of the session. Its venv is installed on first use (about 1.5 min).
"""
from __future__ import annotations

import os
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import boto3
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCALSTACK_SH = REPO_ROOT / "infra" / "local" / "localstack.sh"
REGION = os.environ.get("AWS_REGION", "us-east-1")


def wait_for(predicate: Callable[[], Any], timeout: float, interval: float = 0.2, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns a truthy value; fail the test at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail("timed out after %.0fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def _healthy(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(endpoint.rstrip("/") + "/_localstack/health", timeout=3) as resp:
            return resp.status == 200
    except OSError:
        return False


@dataclass
class LocalStack:
    endpoint_url: str
    region: str
    started_here: bool
    stack_dir: Optional[Path] = None

    def client(self, service: str):
        return boto3.client(
            service,
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
            aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
        )


@pytest.fixture(scope="session")
def localstack(tmp_path_factory) -> LocalStack:
    given = os.environ.get("AWS_ENDPOINT_URL")
    if given:
        if not _healthy(given):
            pytest.fail("AWS_ENDPOINT_URL=%s is set but does not answer /_localstack/health" % given)
        yield LocalStack(given, REGION, started_here=False)
        return
    port = os.environ.get("LOCALSTACK_TEST_PORT", "4599")
    stack_dir = tmp_path_factory.mktemp("localstack")
    env = dict(os.environ, STACK_DIR=str(stack_dir), LOCALSTACK_PORT=port)
    started = subprocess.run(
        ["bash", str(LOCALSTACK_SH), "start"], env=env, capture_output=True, text=True, timeout=900
    )
    if started.returncode != 0:
        pytest.fail("localstack.sh start failed (rc=%d):\n%s\n%s" % (started.returncode, started.stdout, started.stderr))
    try:
        yield LocalStack("http://127.0.0.1:%s" % port, REGION, started_here=True, stack_dir=stack_dir)
    finally:
        subprocess.run(["bash", str(LOCALSTACK_SH), "stop"], env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="session")
def aws_env(localstack):
    """Point boto3 (the runner and the app's own clients) at the test LocalStack."""
    saved = {k: os.environ.get(k) for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")}
    os.environ["AWS_ENDPOINT_URL"] = localstack.endpoint_url
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
    os.environ.setdefault("AWS_DEFAULT_REGION", localstack.region)
    try:
        yield localstack
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
