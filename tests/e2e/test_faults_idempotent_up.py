"""`make up` on a running stack is idempotent: it must not truncate and reload the demo tables (the
user's data, and any job running over them); `make demo` is the command that reloads them."""
from __future__ import annotations

import json
import subprocess
import sys
import uuid

import psycopg

from tests.e2e.conftest import ROOT
from tests.stack import stack_script_env


def _env(stack) -> dict:
    return stack_script_env(stack["env"])


def _restore(stack, demo, tmp_path) -> None:
    """Put back the session's demo data (the other end-to-end tests compare against its manifest)."""
    manifest = tmp_path / "manifest.json"
    cmd = [sys.executable, "-m", "chalicelib.demo", "load", "--rows", "3000", "--drift-missing-pg", "6",
           "--drift-missing-cass", "5", "--drift-mismatch", "7", "--seed", "2026", "--manifest", str(manifest),
           "--batch-rows", "50", "--now", demo["now"]]
    proc = subprocess.run(cmd, cwd=ROOT, env=stack["env"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    def keys(m):
        return sorted((e["table"], json.dumps(e["key"], sort_keys=True), e["type"]) for e in m["drift"])

    assert keys(json.loads(manifest.read_text())) == keys(demo), "the restored demo data differs"


def test_up_again_keeps_the_data_and_demo_reloads_it(stack, demo, tmp_path):
    marker = f"kept-{uuid.uuid4().hex[:8]}"
    with psycopg.connect(stack["env"]["DATABASE_URL"], autocommit=True) as conn:
        before = conn.execute("SELECT count(*) FROM public.users").fetchone()[0]
        assert before > 0
        changed = conn.execute(
            "UPDATE public.users SET email = %s WHERE user_id = (SELECT user_id FROM public.users ORDER BY user_id LIMIT 1)",
            (marker,)).rowcount
        assert changed == 1

    up = subprocess.run(["bash", "scripts/stack.sh", "up"], cwd=ROOT, env=_env(stack), capture_output=True,
                        text=True, timeout=600)
    assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
    assert "already loaded" in up.stdout
    with psycopg.connect(stack["env"]["DATABASE_URL"], autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM public.users").fetchone()[0] == before
        assert conn.execute("SELECT count(*) FROM public.users WHERE email = %s", (marker,)).fetchone()[0] == 1

    try:
        reload = subprocess.run(["bash", "scripts/stack.sh", "demo"], cwd=ROOT, env=_env(stack), capture_output=True,
                                text=True, timeout=600)
        assert reload.returncode == 0, reload.stdout[-3000:] + reload.stderr[-3000:]
        with psycopg.connect(stack["env"]["DATABASE_URL"], autocommit=True) as conn:
            assert conn.execute("SELECT count(*) FROM public.users WHERE email = %s", (marker,)).fetchone()[0] == 0
    finally:
        _restore(stack, demo, tmp_path)
