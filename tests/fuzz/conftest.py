"""Fixtures of the API fuzz tests: the running stack (`make test` starts one and exports its env)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.stack import require_stack

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def stack_env() -> dict[str, str]:
    return require_stack("the API fuzz tests", check_health=False)


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
