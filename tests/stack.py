"""The running local stack as the suites that need it find it: `make test` starts one and exports its
env file (API_URL, DATABASE_URL, ...); a suite run by hand reads $STACK_DIR/env (default .local/test)."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path
from urllib.parse import urlparse

import pytest
import requests

ROOT = Path(__file__).resolve().parents[1]


def stack_env() -> dict[str, str]:
    """The process environment, completed from the stack's env file when API_URL is not exported."""
    env = dict(os.environ)
    if "API_URL" not in env:
        envfile = Path(os.environ.get("STACK_DIR", ROOT / ".local" / "test")) / "env"
        if envfile.exists():
            for line in envfile.read_text().splitlines():
                if "=" in line and not line.startswith("#"):
                    k, v = line.split("=", 1)
                    env.setdefault(k, v)
    return env


def stack_ports(stack: str = "test", offset: int = 0) -> dict[str, int]:
    """`scripts/stack.sh ports`: {"api", "localstack", "postgres", "cql", "console"} -> port."""
    env = {k: v for k, v in os.environ.items() if k not in ("CONSOLE_PORT", "STACK_DIR")}
    env |= {"STACK": stack, "STACK_PORT_OFFSET": str(offset)}
    proc = subprocess.run(["bash", "scripts/stack.sh", "ports"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 0, proc.stderr
    return {name: int(port) for name, port in (line.split() for line in proc.stdout.splitlines())}


def stack_script_env(env: dict[str, str]) -> dict[str, str]:
    """`env` (a running test stack's) with what `scripts/stack.sh` needs to find that stack again: STACK=test
    and the STACK_PORT_OFFSET its PostgreSQL's port was shifted by."""
    offset = urlparse(env["DATABASE_URL"]).port - stack_ports("test")["postgres"]
    return dict(env) | {"STACK": "test", "STACK_PORT_OFFSET": str(offset)}


def require_stack(what: str, *, check_health: bool = True) -> dict[str, str]:
    """The stack's env, or a skip (a failure when RECON_TEST_STACK says the stack should be there)."""
    env = stack_env()
    if not env.get("API_URL"):
        if os.environ.get("RECON_TEST_STACK"):
            pytest.fail("RECON_TEST_STACK is set but API_URL is not: source the stack's env file")
        pytest.skip(f"{what} need the running stack: run them with `make test` or scripts/test.sh")
    if check_health:
        try:
            requests.get(env["API_URL"] + "/health", timeout=10)
        except requests.RequestException as exc:
            pytest.fail(f"the stack's API at {env['API_URL']} does not answer: {exc}")
    return env
