"""The web console (frontend/) in `make test`: its type check, its unit tests (vitest), the check that
its API types match the running API's OpenAPI document, and the browser tests (Playwright driving
Debian's Chromium) against the running stack, through the console server that `make up` starts.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FE = ROOT / "frontend"


def _run(cmd: list[str], env: dict[str, str] | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=FE, env=env, capture_output=True, text=True, timeout=timeout)


def _explain(proc: subprocess.CompletedProcess) -> str:
    return f"exit {proc.returncode}\n--- stdout\n{proc.stdout[-6000:]}\n--- stderr\n{proc.stderr[-3000:]}"


@pytest.fixture(scope="session")
def node_modules():
    if not shutil.which("npm"):
        pytest.fail("Node.js and npm are needed for the console (Node.js >= 20.19)")
    if not (FE / "node_modules" / ".bin" / "playwright").exists():
        proc = _run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], timeout=900)
        assert proc.returncode == 0, _explain(proc)
    return FE / "node_modules"


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's Chromium (Playwright's own browser download needs a network the machines do not have)."""
    path = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium")
    if not path:
        if os.geteuid() != 0 or not shutil.which("apt-get"):
            pytest.fail("Chromium is missing: install Debian's package (apt-get install -y chromium)")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
            assert proc.returncode == 0, _explain(proc)
        path = shutil.which("chromium")
    assert path, "apt-get installed chromium but it is not on PATH"
    return path


def test_typecheck(node_modules):
    proc = _run(["npx", "tsc", "-b", "--noEmit"], timeout=300)
    assert proc.returncode == 0, _explain(proc)


def test_unit_tests(node_modules):
    proc = _run(["npx", "vitest", "run", "--reporter=dot"], timeout=600)
    assert proc.returncode == 0, _explain(proc)
    assert " passed" in proc.stdout and " failed" not in proc.stdout.split("Tests")[-1], proc.stdout[-2000:]


def test_api_types_match_the_running_api(node_modules, stack):
    proc = _run(["node", "scripts/gen-api.mjs", "--check"], env=stack["env"] | {"API_URL": stack["url"]}, timeout=120)
    assert proc.returncode == 0, _explain(proc)


@pytest.fixture(scope="session")
def browser_env(stack, chromium, node_modules, demo, tmp_path_factory):
    console = stack["env"].get("CONSOLE_URL")
    if not console:
        pytest.fail("CONSOLE_URL is not in the stack's env file: scripts/console.sh up did not run (see scripts/stack.sh)")
    manifest = tmp_path_factory.mktemp("browser") / "manifest.json"
    import json

    manifest.write_text(json.dumps(demo))
    stack_dir = Path(stack["env"].get("STACK_DIR", ROOT / ".local" / "test"))
    return stack["env"] | {
        "CONSOLE_URL": console,
        "API_KEY_FILE": str(stack_dir / "api-key"),
        "DEMO_MANIFEST": str(manifest),
        "CHROMIUM_PATH": chromium,
        "NODE_PATH": str(node_modules),
        "CI": "1",
    }


@pytest.mark.parametrize("spec", ["cdc", "streams", "a11y"])
def test_browser(browser_env, spec):
    proc = _run(["npx", "playwright", "test", f"{spec}.spec.ts"], env=browser_env, timeout=900)
    assert proc.returncode == 0, _explain(proc)
    assert " passed" in proc.stdout and " failed" not in proc.stdout, proc.stdout[-3000:]
