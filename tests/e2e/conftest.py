"""End-to-end fixtures: the running local stack (`make test` starts one and exports its .local/test/env).

These tests speak HTTP to the API and let the real local Lambda runner do the work through the
LocalStack queues; data is loaded into the stack's Cassandra side and PostgreSQL by the demo generator.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.stack import require_stack

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def stack():
    env = require_stack("end-to-end tests")
    keyfile = Path(env.get("STACK_DIR", ROOT / ".local" / "test")) / "api-key"
    api_key = keyfile.read_text().strip()
    return {"env": env, "url": env["API_URL"], "key": api_key}


class Api:
    def __init__(self, url: str, key: str):
        self.url, self.s = url, requests.Session()
        self.s.headers["Authorization"] = f"Bearer {key}"

    def get(self, path, **params):
        return self.s.get(self.url + path, params=params, timeout=30)

    def post(self, path, body=None, **kw):
        return self.s.post(self.url + path, json=body, timeout=30, **kw)

    def wait_job(self, job_id: str, deadline_s: float = 300) -> dict:
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            job = self.get(f"/reconciliation/jobs/{job_id}").json()
            if job["status"] != "RUNNING":
                return job
            time.sleep(0.5)
        raise AssertionError(f"job {job_id} still RUNNING after {deadline_s} s: {job}")

    def mismatches(self, **filters) -> list[dict]:
        out, page = [], 1
        while True:
            body = self.get("/reconciliation/mismatches", page=page, page_size=100, **filters).json()
            out += body["mismatches"]
            if page >= body["pagination"]["total_pages"]:
                return out
            page += 1


@pytest.fixture(scope="session")
def api(stack):
    return Api(stack["url"], stack["key"])


@pytest.fixture(scope="session")
def demo(stack, tmp_path_factory):
    """Demo data with drift on both sides; returns the generator's manifest."""
    manifest = tmp_path_factory.mktemp("demo") / "manifest.json"
    cmd = [sys.executable, "-m", "chalicelib.demo", "load", "--rows", "3000", "--drift-missing-pg", "6",
           "--drift-missing-cass", "5", "--drift-mismatch", "7", "--seed", "2026", "--manifest", str(manifest),
           "--batch-rows", "50"]
    proc = subprocess.run(cmd, cwd=ROOT, env=stack["env"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(manifest.read_text())


def poll(fn, timeout: float, what: str):
    """fn() until it answers something truthy (returned), every 0.5 s, failing after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.5)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")


def expected_drift(manifest: dict, table: str) -> dict[str, str]:
    """{primary_key_value: mismatch_type} as recon displays keys (composite keys joined by '|')."""
    pk = manifest["tables"][table]["primary_key"]
    return {"|".join(e["key"][c] for c in pk): e["type"] for e in manifest["drift"] if e["table"] == table}
