"""`scripts/stack.sh` and a private PostgreSQL still running on another port (the one an older version of
the script chose, 54320 / 54330): it is stopped and started again on the stack's port, with its data, rather
than left where nothing of the stack looks for it."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import psycopg
import pytest

from tests.stack import stack_ports

ROOT = Path(__file__).resolve().parents[2]
PG_BIN = os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin")


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _env(stack_dir: Path, offset: int) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "AWS_ENDPOINT_URL", "CASSANDRA_HOSTS", "RECON_STACK_SERVICES", "CONSOLE_PORT")}
    return env | {"STACK": "test", "STACK_DIR": str(stack_dir), "STACK_PORT_OFFSET": str(offset)}


def _stack(stack_dir: Path, offset: int, *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(["bash", "scripts/stack.sh", *args], cwd=ROOT, env=_env(stack_dir, offset),
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return proc


@pytest.fixture
def stack_dir():
    if not Path(PG_BIN, "initdb").exists():
        pytest.skip(f"PostgreSQL server binaries not in {PG_BIN}")
    d = Path(tempfile.mkdtemp(prefix="recon-stack-"))
    d.chmod(0o755)  # PostgreSQL runs as another user under root: it must reach its directories
    yield d
    if (d / "pg" / "postmaster.pid").exists():
        subprocess.run(["bash", "scripts/stack.sh", "down"], cwd=ROOT, env=_env(d, 0), capture_output=True, timeout=120)
    shutil.rmtree(d, ignore_errors=True)


def test_a_cluster_on_another_port_is_started_again_on_the_stack_s_port(stack_dir):
    base = stack_ports("test")["postgres"]
    offset = next(o for o in range(700, 1700, 2) if _free(base + o) and _free(base + o + 1))
    old, new = base + offset, base + offset + 1
    _stack(stack_dir, offset, "pg-restart")
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:{old}/recon", autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (v text)")
        conn.execute("INSERT INTO kept VALUES ('across the move')")

    moved = _stack(stack_dir, offset + 1, "pg-restart")
    assert f"running on port {old}: restarting it on {new}" in moved.stdout, moved.stdout
    assert (stack_dir / "pg" / "postmaster.pid").read_text().splitlines()[3] == str(new)
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:{new}/recon", autocommit=True) as conn:
        assert conn.execute("SELECT v FROM kept").fetchall() == [("across the move",)]
    assert _free(old), f"port {old} is still taken"

    # on its own port it is left running as it is
    again = _stack(stack_dir, offset + 1, "pg-restart")
    assert "restarting" not in again.stdout, again.stdout
