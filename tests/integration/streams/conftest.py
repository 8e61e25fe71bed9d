"""Streams definitions over HTTP against the running stack (`make test`, or `scripts/stack.sh up` and
its env file): files, rule sets, data sources, streams, exceptions, legacy reconciliations.

Each test gets its own API key (rate limits are per key), unique names, and reads the control plane
directly only to set up what the API cannot create (exception rows come from runs).
"""
from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any, Callable

import psycopg
import pytest
import requests
from psycopg.rows import dict_row

from tests.stack import require_stack

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def stack_env() -> dict[str, str]:
    return require_stack("streams API tests")


@pytest.fixture(scope="session")
def db(stack_env):
    conn = psycopg.connect(stack_env["DATABASE_URL"], autocommit=True, row_factory=dict_row)
    yield conn
    conn.close()


class Api:
    def __init__(self, url: str, key: str, owner: str):
        self.url, self.owner = url, owner
        self.s = requests.Session()
        self.s.headers["Authorization"] = f"Bearer {key}"

    def get(self, path: str, **params) -> requests.Response:
        return self.s.get(self.url + path, params=params, timeout=60, allow_redirects=False)

    def post(self, path: str, body: Any = None, **kw) -> requests.Response:
        if body is not None:
            kw["json"] = body
        return self.s.post(self.url + path, timeout=60, **kw)

    def put(self, path: str, body: Any) -> requests.Response:
        return self.s.put(self.url + path, json=body, timeout=60)

    def patch(self, path: str, body: Any) -> requests.Response:
        return self.s.patch(self.url + path, json=body, timeout=60)

    def delete(self, path: str) -> requests.Response:
        return self.s.delete(self.url + path, timeout=60)

    # ---- helpers
    def upload(self, filename: str, data: bytes | str) -> dict:
        if isinstance(data, str):
            data = data.encode()
        r = self.post("/files", params={"filename": filename}, data=data)
        assert r.status_code == 201, r.text
        return r.json()["data"]

    def rule_set(self, **overrides) -> dict:
        body = rule_set_body(**overrides)
        r = self.post("/rule-sets", body)
        assert r.status_code == 201, r.text
        return r.json()["data"]

    def stream(self, body: dict) -> dict:
        r = self.post("/streams", body)
        assert r.status_code == 201, r.text
        return r.json()["data"]


def new_key(db, owner: str) -> str:
    """An API key made the way the CLI makes it (only the hash is stored)."""
    import hashlib
    import secrets

    prefix = secrets.token_hex(4)
    key = f"recon_{prefix}_{secrets.token_urlsafe(32)}"
    db.execute("INSERT INTO recon.api_keys (key_id, key_prefix, key_hash, owner_email) VALUES (%s, %s, %s, %s)",
               (uuid.uuid4(), prefix, hashlib.sha256(key.encode()).hexdigest(), owner))
    return key


@pytest.fixture
def api(stack_env, db) -> Api:
    owner = f"analyst-{uuid.uuid4().hex[:8]}@example.com"
    return Api(stack_env["API_URL"], new_key(db, owner), owner)


@pytest.fixture
def uid() -> str:
    return uuid.uuid4().hex[:10]


SOURCE_CSV = "order_id,amount,order_date,customer\nO1,10.50,2026-02-01,Ann\nO2,20.00,2026-02-02,Bob\nO3,5.00,2026-02-03,Cy\n"
TARGET_CSV = "txn_id,order_ref,gross,settled_on,payer\nT1,O1,10.50,2026-02-01,Ann\nT2,O2,20.01,2026-02-03,Bob\n"


def rule_set_body(**overrides) -> dict:
    body = {"name": "Orders vs Marketplace", "description": "exact reference and amount",
            "sourceKey": "order_id", "targetKey": "txn_id",
            "passes": [{"name": "Exact reference and amount", "cardinality": "ONE_TO_ONE",
                        "conditions": [{"source": "order_id", "target": "order_ref", "operator": "EQUALS",
                                        "normalize": ["TRIM", "UPPER"]},
                                       {"source": "amount", "target": "gross", "operator": "EQUALS"}]}]}
    body.update(overrides)
    return body


def step(order: int, source: tuple[str, int], target: tuple[str, int], rule_set_id: int, **config) -> dict:
    out = {"stepOrder": order, "name": f"Step {order}", "sourceInput": {"type": source[0], "id": source[1]},
           "targetInput": {"type": target[0], "id": target[1]}, "ruleSetId": rule_set_id}
    if config:
        out["config"] = config
    return out


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.3) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def assert_error(r: requests.Response, status: int, code: str, *fields: tuple[str, str]) -> dict:
    """The streams error shape with this status and errorCode; each (field, code) among `errors`."""
    assert r.status_code == status, r.text
    body = r.json()
    assert body["success"] is False and body["data"] is None, body
    assert body["errorCode"] == code, body
    assert isinstance(body["message"], str) and body["message"], body
    got = {(e["field"], e["code"]) for e in body["errors"]}
    for f in fields:
        assert f in got, f"{f} not in {sorted(got)}"
    return body
