"""Streams definitions end to end on the running stack: files uploaded through a session, a rule set,
a legacy reconciliation run by the real runtime (Step Functions in LocalStack -> step worker -> engine),
its counts equal to the generator's truth, its exceptions reviewed with history; and the same inputs as
a one-step stream give the same numbers through the stream API."""
from __future__ import annotations

import hashlib
import random
import subprocess
import sys

import pytest
import requests

from tests.e2e.conftest import ROOT, Api, poll as _poll

OWNER = "e2e-streams@recon.local"


@pytest.fixture
def api(stack):
    """Its own key (rate limits are per key; other suites share the stack's key), made with the CLI."""
    proc = subprocess.run([sys.executable, "-m", "chalicelib.cli", "keys", "create", "--owner", OWNER, "--quiet"],
                          cwd=ROOT, env=stack["env"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return Api(stack["url"], proc.stdout.strip())


def _dataset(seed: int = 7):
    rng = random.Random(seed)
    src = ["order_id,amount,order_date,customer"]
    tgt = ["txn_id,order_ref,gross,settled_on,payer"]
    truth = {"matched": set(), "off": set(), "missing": set(), "extra": set()}
    for i in range(1, 401):
        oid, amount = f"ORD-{i:05d}", round(rng.uniform(5, 500), 2)
        src.append(f"{oid},{amount:.2f},2026-02-{1 + i % 27:02d},Customer {i}")
        kind = "matched" if i <= 300 else ("off" if i <= 340 else "missing")
        truth[kind].add(oid)
        if kind == "matched":
            tgt.append(f"TX-{i:05d},{oid.lower() if i % 7 == 0 else oid},{amount:.2f},2026-02-{1 + i % 27:02d},C {i}")
        elif kind == "off":
            tgt.append(f"TX-{i:05d},{oid},{amount + 0.37:.2f},2026-02-{1 + i % 27:02d},C {i}")
    for j in range(1, 21):
        tgt.append(f"TX-X{j:04d},ORD-X{j:04d},{j}.00,2026-02-01,Stranger")
        truth["extra"].add(f"TX-X{j:04d}")
    rng.shuffle(body := tgt[1:])
    return "\n".join(src) + "\n", "\n".join([tgt[0], *body]) + "\n", truth


def _session_upload(api, filename: str, text: str) -> dict:
    data = text.encode()
    r = api.post("/files/uploads", {"filename": filename, "sizeBytes": len(data)})
    assert r.status_code == 201, r.text
    s = r.json()["data"]
    assert requests.put(s["uploadUrl"], data=data, timeout=60).status_code == 200
    assert api.post(f"/files/{s['fileId']}/complete").status_code == 202

    def ready():
        f = api.get(f"/files/{s['fileId']}").json()["data"]
        return f if f["status"] != "PROCESSING" else None
    f = _poll(ready, 120, f"file {s['fileId']} to be inspected")
    assert f["status"] == "READY", f
    return f


RULES = {"name": "Orders vs marketplace (e2e)", "sourceKey": "order_id", "targetKey": "txn_id", "passes": [
    {"name": "Reference and amount within a cent", "cardinality": "ONE_TO_ONE", "conditions": [
        {"source": "order_id", "target": "order_ref", "operator": "EQUALS", "normalize": ["TRIM", "UPPER"]},
        {"source": "amount", "target": "gross", "operator": "AMOUNT_TOLERANCE", "absolute": 0.01}]}]}


def test_legacy_reconciliation_and_stream_on_the_same_data(api):
    src_text, tgt_text, truth = _dataset()
    src = _session_upload(api, "e2e_orders.csv", src_text)
    tgt = _session_upload(api, "e2e_marketplace.csv", tgt_text)
    assert (src["rowCount"], tgt["rowCount"]) == (400, 360)
    r = api.post("/rule-sets", RULES)
    assert r.status_code == 201, r.text
    rs = r.json()["data"]

    r = api.post("/reconciliations", {"name": "Feb close (e2e)", "sourceFileId": src["id"], "targetFileId": tgt["id"],
                                      "ruleSetId": rs["id"]})
    assert r.status_code == 201, r.text
    rid = r.json()["data"]["id"]
    assert api.post(f"/reconciliations/{rid}/start").json()["data"]["status"] == "IN_PROGRESS"
    status = _poll(lambda: (lambda d: d if d["status"] in ("COMPLETED", "FAILED", "CANCELED") else None)(
        api.get(f"/reconciliations/{rid}/status").json()["data"]), 180, "the reconciliation to finish")
    assert status == {"id": rid, "status": "COMPLETED", "progress": 100}
    rec = api.get(f"/reconciliations/{rid}").json()["data"]
    assert (rec["totalSourceRecords"], rec["totalTargetRecords"]) == (400, 360)
    assert rec["matchedRecords"] == len(truth["matched"]) == 300
    assert rec["unmatchedSourceRecords"] == len(truth["off"]) + len(truth["missing"])
    assert rec["unmatchedTargetRecords"] == len(truth["off"]) + len(truth["extra"])
    assert rec["matchRate"] == 75.0 and rec["completedAt"] >= rec["startedAt"]

    # exceptions: exactly the unmatched rows, explained
    items, page = [], 1
    while True:
        body = api.get(f"/reconciliations/{rid}/exceptions", pageSize=100, page=page).json()["data"]
        items += body["items"]
        if page >= body["totalPages"]:
            break
        page += 1
    assert rec["exceptionCount"] == len(items)
    src_keys = {e["rowKey"] for e in items if e["side"] == "SOURCE"}
    tgt_keys = {e["rowKey"] for e in items if e["side"] == "TARGET"}
    assert src_keys == truth["off"] | truth["missing"]
    assert tgt_keys == {f"TX-{k[4:]}" for k in truth["off"]} | truth["extra"]
    off = [e for e in items if e["side"] == "SOURCE" and e["rowKey"] in truth["off"]]
    assert {e["reason"] for e in off} == {"TOLERANCE_EXCEEDED"}
    missing = [e for e in items if e["side"] == "SOURCE" and e["rowKey"] in truth["missing"]]
    assert {e["reason"] for e in missing} == {"NO_CANDIDATE"}
    tolerance = api.get("/exceptions", runId=rec["runId"], reason="TOLERANCE_EXCEEDED", side="SOURCE",
                        pageSize=100).json()["data"]
    assert tolerance["totalItems"] == len(truth["off"])

    # review one with history
    one = off[0]["id"]
    r = api.s.patch(api.url + f"/exceptions/{one}", timeout=30,
                    json={"status": "RESOLVED", "note": "marketplace fee", "assignee": "ops@example.com"})
    assert r.status_code == 200 and r.json()["data"]["resolvedBy"] == OWNER
    hist = api.get(f"/exceptions/{one}/history").json()["data"]["items"]
    assert len(hist) == 1 and hist[0]["changedBy"] == OWNER
    assert hist[0]["changes"]["status"] == {"from": "OPEN", "to": "RESOLVED"}
    assert_409 = api.s.delete(api.url + f"/files/{src['id']}", timeout=30)
    assert assert_409.status_code == 409 and assert_409.json()["errorCode"] == "CONFLICT"

    # the same inputs as a one-step stream: the same numbers through the stream API
    r = api.post("/streams", {"name": "Same data as a stream (e2e)", "steps": [
        {"stepOrder": 1, "name": "Orders vs marketplace", "sourceInput": {"type": "FILE", "id": src["id"]},
         "targetInput": {"type": "FILE", "id": tgt["id"]}, "ruleSetId": rs["id"]}]})
    assert r.status_code == 201, r.text
    sid = r.json()["data"]["id"]
    v = api.post(f"/streams/{sid}/validate").json()["data"]
    assert v == {"valid": True, "errors": [], "warnings": []}
    run = api.post(f"/streams/{sid}/runs", {"triggerType": "MANUAL", "triggerMetadata": {"reason": "e2e"}})
    assert run.status_code == 201, run.text
    run_id = run.json()["data"]["runId"]
    done = _poll(lambda: (lambda d: d if d["status"] not in ("PENDING", "RUNNING") else None)(
        api.get(f"/stream-runs/{run_id}").json()["data"]), 180, "the stream run")
    assert done["status"] == "COMPLETED", done
    step_run = api.get(f"/stream-runs/{run_id}/steps").json()["data"][0]
    legacy_view = api.get(f"/reconciliations/{step_run['reconciliationId']}").json()["data"]
    for k in ("totalSourceRecords", "totalTargetRecords", "matchedRecords", "unmatchedSourceRecords",
              "unmatchedTargetRecords", "exceptionCount", "matchRate", "status"):
        assert legacy_view[k] == rec[k], k
    assert done["metrics"]["matchedRecords"] == rec["matchedRecords"]

    # artifacts are files: downloadable through the file endpoints, exact bytes, kept with their run
    artifacts = api.get(f"/step-runs/{step_run['id']}/artifacts").json()["data"]
    by_type = {a["artifactType"]: a for a in artifacts}
    unmatched = by_type["UNMATCHED_SOURCE"]
    assert unmatched["downloadUrl"] == f"/api/v1/files/{unmatched['fileId']}/download"
    f = api.get(f"/files/{unmatched['fileId']}").json()["data"]
    assert (f["origin"], f["status"], f["rowCount"]) == ("ARTIFACT", "READY", rec["unmatchedSourceRecords"])
    body = api.s.get(api.url + f"/files/{unmatched['fileId']}/download", timeout=60).content
    assert "sha256:" + hashlib.sha256(body).hexdigest() == f["checksum"] == unmatched["checksum"]
    r = api.s.delete(api.url + f"/files/{unmatched['fileId']}", timeout=30)
    assert r.status_code == 409 and r.json()["errorCode"] == "CONFLICT"
    assert api.get("/files", origin="ARTIFACT", pageSize=100).json()["data"]["totalItems"] >= len(artifacts)
