"""Fixtures of the API fuzz tests: the running stack (`make test` starts one and exports its env)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _stack_env() -> dict[str, str]:
    env = dict(os.environ)
    if "API_URL" not in env:
        envfile = Path(os.environ.get("STACK_DIR", ROOT / ".local" / "test")) / "env"
        if envfile.exists():
            for line in envfile.read_text().splitlines():
                if "=" in line and not line.startswith("#"):
                    k, v = line.split("=", 1)
                    env.setdefault(k, v)
    return env


@pytest.fixture(scope="session")
def stack_env() -> dict[str, str]:
    env = _stack_env()
    if not env.get("API_URL"):
        if os.environ.get("RECON_TEST_STACK"):
            pytest.fail("RECON_TEST_STACK is set but API_URL is not: the stack's env was not loaded")
        pytest.skip("the API fuzz tests need the running stack: run them with `make test`")
    return env


def _cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "chalicelib.cli", "keys", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def _own_key(env: dict, owner: str):
    """An API key of the test's own (created, then revoked), so the requests it spends against per-key
    rate limits never slow down other tests using the stack's key, nor each other."""
    proc = _cli(env, "create", "--owner", owner, "--quiet")
    assert proc.returncode == 0, proc.stderr
    key = proc.stdout.strip().splitlines()[-1]
    yield env["API_URL"].rstrip("/"), key
    _cli(env, "revoke", key.split("_")[1])


@pytest.fixture(scope="session")
def api_target(stack_env):
    """(API url ending in /api/v1, API key) for the schemathesis run."""
    yield from _own_key(stack_env, "fuzz@recon.local")


@pytest.fixture(scope="module")
def hostile_target(stack_env):
    """(API url ending in /api/v1, API key) for the hostile-requests test."""
    yield from _own_key(stack_env, "hostile@recon.local")
