"""Property-based fuzzing of every operation with a path id, aimed at resources that exist.

tests/fuzz/test_api_fuzz.py draws path ids at random, so nearly every request with a path id stops at
a 404 and the operation's own logic (bodies checked against a real resource, state conflicts, stored
bytes read) is never reached. Here the module first makes real resources through the API — two READY
files, a file whose upload was refused and whose stored object is gone (what a storage reset leaves),
a rule set, a one-step stream and a completed run of it (step run, legacy reconciliation, exceptions),
a data source, and a CDC job — and every generated case whose path is valid is sent to one of them.
Queries and bodies are generated as in the other fuzz test (valid and invalid, NUL allowed), and the
same properties hold: no 5xx, and every answer is one the document declares for the operation.

DELETE operations keep their random ids (deleting the shared resources would turn the rest into 404s).
Bounded like the other fuzz test: FUZZ_MAX_EXAMPLES examples per operation and FUZZ_REAL_IDS_SECONDS
(default 60 s) overall, shared equally by the operations.
"""
from __future__ import annotations

import itertools
import os
import time

import boto3
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis import GenerationMode
from schemathesis.core.parameters import ParameterLocation

from tests.fuzz.test_api_fuzz import CHECKS, MAX_EXAMPLES, load_schema

BUDGET_SECONDS = float(os.environ.get("FUZZ_REAL_IDS_SECONDS", "60"))
_STARTED: dict[str, float] = {}
_SHARE: list[float] = []
_TURN = itertools.count()

SOURCE_CSV = "order_id,amount\n" + "".join(f"ORD-{i},{i}.50\n" for i in range(1, 41))
TARGET_CSV = "ref,gross\n" + "".join(f"ORD-{i},{i}.50\n" for i in range(1, 36)) + "X-1,9.99\n"
RULES = {"name": "Fuzz orders vs payouts", "sourceKey": "order_id", "targetKey": "ref", "passes": [
    {"name": "Reference", "cardinality": "ONE_TO_ONE", "conditions": [
        {"source": "order_id", "target": "ref", "operator": "EQUALS"}]}]}


class _Api:
    def __init__(self, url: str, key: str):
        self.url = url
        self.s = requests.Session()
        self.s.headers["Authorization"] = f"Bearer {key}"

    def call(self, method: str, path: str, expect: tuple[int, ...], **kw) -> dict:
        r = self.s.request(method, self.url + path, timeout=30, **kw)
        assert r.status_code in expect, f"{method} {path}: {r.status_code} {r.text[:300]}"
        return r.json()

    def poll(self, path: str, done, timeout: float, what: str):
        deadline = time.monotonic() + timeout
        while True:
            body = self.call("GET", path, (200,))
            if done(body):
                return body
            assert time.monotonic() < deadline, f"{what} within {timeout} s: {body}"
            time.sleep(0.25)


def _upload(api: _Api, name: str, data: bytes) -> dict:
    return api.call("POST", "/files", (201,), params={"filename": name}, data=data,
                    headers={"Content-Type": "application/octet-stream"})["data"]


@pytest.fixture(scope="module")
def real_ids(api_target, stack_env) -> dict:
    url, key = api_target
    api = _Api(url, key)
    source = _upload(api, "fuzz_source.csv", SOURCE_CSV.encode())
    target = _upload(api, "fuzz_target.csv", TARGET_CSV.encode())
    assert (source["status"], target["status"]) == ("READY", "READY"), (source, target)
    # 0x81: neither UTF-8 nor Windows-1252 (both are read), so the file is INVALID
    refused = _upload(api, "fuzz_refused.csv", b"a,b\n\x81,1\n")
    assert refused["status"] == "INVALID", refused
    # its stored object goes away, as after an object-storage reset
    s3 = boto3.client("s3", endpoint_url=stack_env.get("AWS_ENDPOINT_URL"), region_name=stack_env.get("AWS_REGION"),
                      aws_access_key_id=stack_env.get("AWS_ACCESS_KEY_ID", "test"),
                      aws_secret_access_key=stack_env.get("AWS_SECRET_ACCESS_KEY", "test"))
    bucket = stack_env["ARTIFACTS_BUCKET"]
    gone = s3.list_objects_v2(Bucket=bucket, Prefix=f"files/{refused['id']}/").get("Contents", [])
    assert gone, "the refused upload's object was not found in the bucket"
    for obj in gone:
        s3.delete_object(Bucket=bucket, Key=obj["Key"])

    rule_set = api.call("POST", "/rule-sets", (201,), json=RULES)["data"]
    stream = api.call("POST", "/streams", (201,), json={"name": "Fuzz stream", "steps": [
        {"stepOrder": 1, "name": "Orders vs payouts", "sourceInput": {"type": "FILE", "id": source["id"]},
         "targetInput": {"type": "FILE", "id": target["id"]}, "ruleSetId": rule_set["id"]}]})["data"]
    run_id = api.call("POST", f"/streams/{stream['id']}/runs", (201,))["data"]["runId"]
    run = api.poll(f"/stream-runs/{run_id}", lambda b: b["data"]["status"] not in ("PENDING", "RUNNING"), 120,
                   "the fuzz stream's run to finish")["data"]
    assert run["status"] == "COMPLETED", run
    step = api.call("GET", f"/stream-runs/{run_id}/steps", (200,))["data"][0]
    exception = api.call("GET", "/exceptions", (200,), params={"runId": run_id, "pageSize": 1})["data"]["items"][0]
    source_id = api.call("POST", "/data-sources", (201,), json={
        "name": "Fuzz source", "type": "POSTGRES", "config": {"table": "orders"}})["data"]["id"]

    jobs = api.call("GET", "/reconciliation/jobs", (200,), params={"page_size": 1})["jobs"]
    job_id = jobs[0]["job_id"] if jobs else api.call(
        "POST", "/reconciliation/trigger", (202,), json={"tables": ["users"], "validation_strategy": "ROW_COUNT",
                                                        "priority": "LOW"})["job_ids"][0]
    mismatches = api.call("GET", "/reconciliation/mismatches", (200,), params={"page_size": 1})["mismatches"]
    return {
        "files": [source["id"], refused["id"]], "rule-sets": [rule_set["id"]], "streams": [stream["id"]],
        "stream-runs": [run_id], "step-runs": [step["id"]], "reconciliations": [step["reconciliationId"]],
        "exceptions": [exception["id"]], "data-sources": [source_id],
        "reconciliation/jobs": [job_id],
        "reconciliation/mismatches": [m["mismatch_id"] for m in mismatches],
    }


@pytest.fixture(scope="module")
def real_ids_schema(api_target, real_ids):
    schema = load_schema(api_target)
    operations = [op for op in schema.get_all_operations()
                  if "{" in op.ok().path and op.ok().method.upper() != "DELETE"]
    assert len(operations) >= 20, "the OpenAPI document lists too few operations with a path id"
    _SHARE.append(BUDGET_SECONDS / len(operations))
    return schema


def _resource(path: str) -> str:
    """'/api/v1/reconciliation/jobs/{job_id}' -> 'reconciliation/jobs'; '/api/v1/files/{id}/download' -> 'files'."""
    return path.removeprefix("/api/v1/").split("/{", 1)[0]


schema = schemathesis.pytest.from_fixture("real_ids_schema").include(path_regex=r"\{").exclude(method="DELETE")


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=list(HealthCheck))
def test_every_operation_on_real_resources_answers_as_documented(case, real_ids):
    started = _STARTED.setdefault(case.operation.label, time.monotonic())
    if time.monotonic() - started > _SHARE[0]:
        return  # this operation's share of the time budget is used up
    ids = real_ids.get(_resource(case.operation.path))
    path = case.meta.components.get(ParameterLocation.PATH) if case.meta else None
    if ids and path is not None and path.mode == GenerationMode.POSITIVE:
        (name,) = case.path_parameters   # every path of the document has one id
        case.path_parameters[name] = ids[next(_TURN) % len(ids)]
    case.call_and_validate(checks=CHECKS)
