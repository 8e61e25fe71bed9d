"""Fixtures of the API fuzz test: the running stack (`make test` starts one and exports its env)."""
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
def api_target() -> tuple[str, str]:
    """(API url ending in /api/v1, an API key of its own) of the running stack.

    The fuzz test uses a key created for it (and revoked afterwards), so the requests it spends
    against per-key rate limits never slow down other tests using the stack's key."""
    env = _stack_env()
    if not env.get("API_URL"):
        if os.environ.get("RECON_TEST_STACK"):
            pytest.fail("RECON_TEST_STACK is set but API_URL is not: the stack's env was not loaded")
        pytest.skip("the API fuzz test needs the running stack: run it with `make test`")
    proc = subprocess.run([sys.executable, "-m", "chalicelib.cli", "keys", "create", "--owner", "fuzz@recon.local", "--quiet"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    key = proc.stdout.strip().splitlines()[-1]
    yield env["API_URL"].rstrip("/"), key
    subprocess.run([sys.executable, "-m", "chalicelib.cli", "keys", "revoke", key.split("_")[1]],
                   cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
