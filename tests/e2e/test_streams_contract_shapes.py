"""The streams contracts (reconciliation-streams-api.md, streams-platform-api.md) read to the letter, over
HTTP on the running stack: timestamp form, values returned as they were sent, error field paths, defaults
written out, and which requests count against the per-key limits."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid

import pytest
import requests

from tests.e2e.conftest import ROOT, poll as _poll

# platform §0: "ISO-8601 UTC timestamps with `Z`", written as the contracts' examples write them
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
OWNER = "e2e-streams-contract@recon.local"

CSV_SRC = "order_id,amount,order_date\n" + "".join(f"ORD-{i},{i}.25,2026-02-{1 + i % 27:02d}\n" for i in range(1, 31))
CSV_TGT = "txn_id,order_ref,gross,settled_on\n" + "".join(
    f"TX-{i},ORD-{i},{i}.25,2026-02-{1 + i % 27:02d}\n" for i in range(1, 26))
RULES = {"name": "contract shapes", "sourceKey": "order_id", "targetKey": "txn_id", "passes": [
    {"name": "Reference and amount", "cardinality": "ONE_TO_ONE", "conditions": [
        {"source": "order_id", "target": "order_ref", "operator": "EQUALS"},
        {"source": "amount", "target": "gross", "operator": "AMOUNT_TOLERANCE", "absolute": 0.01, "percent": 0.5},
        {"source": "order_date", "target": "settled_on", "operator": "DATE_WINDOW", "daysBefore": 0,
         "daysAfter": 2}]}]}


class Client:
    def __init__(self, url: str, key: str):
        self.url, self.s = url, requests.Session()
        self.s.headers["Authorization"] = f"Bearer {key}"

    def call(self, method: str, path: str, body=None, **kw) -> requests.Response:
        if body is not None:
            kw["json"] = body
        return self.s.request(method, self.url + path, timeout=60, allow_redirects=False, **kw)

    def data(self, method: str, path: str, body=None, status: int = 200, **kw):
        r = self.call(method, path, body, **kw)
        assert r.status_code == status, f"{method} {path}: {r.status_code} {r.text[:500]}"
        return r.json()["data"]


def _new_key(stack, owner: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "chalicelib.cli", "keys", "create", "--owner", owner, "--quiet"],
                          cwd=ROOT, env=stack["env"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


@pytest.fixture(scope="module")
def client(stack):
    return Client(stack["url"], _new_key(stack, OWNER))


@pytest.fixture(scope="module")
def world(client):
    """Two uploaded files, a rule set and a one-step stream that has run to completion."""
    tag = uuid.uuid4().hex[:8]
    src = client.data("POST", "/files", params={"filename": f"src_{tag}.csv"}, data=CSV_SRC.encode(), status=201)
    tgt = client.data("POST", "/files", params={"filename": f"tgt_{tag}.csv"}, data=CSV_TGT.encode(), status=201)
    assert src["status"] == tgt["status"] == "READY"
    rs = client.data("POST", "/rule-sets", RULES, status=201)
    stream = client.data("POST", "/streams", {
        "name": f"contract shapes {tag}", "domain": "ECOMMERCE", "triggerType": "MANUAL",
        "steps": [{"stepOrder": 1, "name": "one", "sourceInput": {"type": "FILE", "id": src["id"]},
                   "targetInput": {"type": "FILE", "id": tgt["id"]}, "ruleSetId": rs["id"],
                   "config": {"continueOnFailure": False, "maxRetries": 0}}]}, status=201)
    run = client.data("POST", f"/streams/{stream['id']}/runs", {"triggerType": "MANUAL"}, status=201)
    done = _poll(lambda: (lambda r: r if r["status"] not in ("PENDING", "RUNNING") else None)(
        client.data("GET", f"/stream-runs/{run['runId']}")), 180, "the run to finish")
    assert done["status"] == "COMPLETED", done
    return {"src": src, "tgt": tgt, "rule_set": rs, "stream": stream, "run": done}


def _timestamps(value, path="data"):
    """(path, value) of every field named like a timestamp (…At) in a JSON document."""
    if isinstance(value, dict):
        for k, v in value.items():
            if k.endswith("At") and v is not None:
                yield f"{path}.{k}", v
            yield from _timestamps(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _timestamps(v, f"{path}[{i}]")


def test_every_timestamp_is_utc_whole_seconds_with_z(client, world):
    run_id, stream_id = world["run"]["id"], world["stream"]["id"]
    steps = client.data("GET", f"/stream-runs/{run_id}/steps")
    rec_id = steps[0]["reconciliationId"]
    exceptions = client.data("GET", "/exceptions", params={"runId": run_id})["items"]
    assert exceptions, "the run leaves unmatched rows"
    client.data("PATCH", f"/exceptions/{exceptions[0]['id']}", {"note": "checked"})
    docs = {
        "stream": client.data("GET", f"/streams/{stream_id}"),
        "streams": client.data("GET", "/streams"),
        "run": client.data("GET", f"/stream-runs/{run_id}"),
        "runs": client.data("GET", f"/streams/{stream_id}/runs"),
        "steps": steps,
        "artifacts": client.data("GET", f"/step-runs/{steps[0]['id']}/artifacts"),
        "file": client.data("GET", f"/files/{world['src']['id']}"),
        "files": client.data("GET", "/files"),
        "rule set": client.data("GET", f"/rule-sets/{world['rule_set']['id']}"),
        "rule sets": client.data("GET", "/rule-sets"),
        "reconciliation": client.data("GET", f"/reconciliations/{rec_id}"),
        "reconciliations": client.data("GET", "/reconciliations"),
        "exceptions": client.data("GET", "/exceptions", params={"runId": run_id}),
        "history": client.data("GET", f"/exceptions/{exceptions[0]['id']}/history"),
        "upload session": client.data("POST", "/files/uploads", {"filename": "x.csv", "sizeBytes": 10}, status=201),
    }
    seen = [(name, p, v) for name, doc in docs.items() for p, v in _timestamps(doc)]
    assert len(seen) > 40
    bad = [(name, p, v) for name, p, v in seen if not isinstance(v, str) or not TIMESTAMP.match(v)]
    assert bad == []


def test_a_rule_set_reads_back_with_the_json_types_it_was_written_with(client, world):
    """platform §3: `absolute`/`percent` are numbers (0.01), `daysBefore` integers; a client that
    round-trips a rule set (GET, edit, PUT) must not meet strings in their place."""
    got = client.data("GET", f"/rule-sets/{world['rule_set']['id']}")
    cond = got["passes"][0]["conditions"][1]
    assert cond["absolute"] == 0.01 and isinstance(cond["absolute"], float)
    assert cond["percent"] == 0.5 and isinstance(cond["percent"], float)
    window = got["passes"][0]["conditions"][2]
    assert window["daysBefore"] == 0 and window["daysAfter"] == 2
    # the same document can be PUT back as it was read
    body = {k: got[k] for k in ("name", "sourceKey", "targetKey", "passes")}
    again = client.data("PUT", f"/rule-sets/{world['rule_set']['id']}", body)
    assert again["version"] == got["version"] + 1
    assert again["passes"] == got["passes"]


def test_data_source_credential_errors_name_the_config_field_not_internal_types(client):
    r = client.call("POST", "/data-sources", {"name": "bad ref", "type": "POSTGRES",
                                             "config": {"connection": {"url": "postgresql://u:hunter2pw@h/db"},
                                                        "table": "x"}})
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["errorCode"] == "VALIDATION_ERROR"
    fields = [e["field"] for e in body["errors"]]
    assert fields and all(f == "config.connection" or f.startswith("config.connection.") for f in fields), fields
    assert not any("EnvRef" in f or "SecretRef" in f for f in fields), fields
    assert "hunter2pw" not in r.text, "the rejected value is not echoed"
    r = client.call("POST", "/data-sources", {"name": "writes", "type": "POSTGRES",
                                             "config": {"query": "DELETE FROM streams_demo.oms_orders"}})
    assert r.status_code == 400 and [e["field"] for e in r.json()["errors"]] == ["config.query"], r.text


def test_a_scheduled_stream_shows_its_default_timezone(client, world):
    """platform §6: `timezone` is an IANA name (default `UTC`): a stream saved without one reads back with UTC."""
    s = world["stream"]
    full = client.data("GET", f"/streams/{s['id']}")
    body = {"name": full["name"] + " scheduled", "domain": "ECOMMERCE", "triggerType": "SCHEDULED",
            "triggerConfig": {"cron": "0 30 2 * * *"},
            "steps": [{k: st[k] for k in ("stepOrder", "name", "sourceInput", "targetInput", "ruleSetId", "config")}
                      for st in full["steps"]]}
    created = client.data("POST", "/streams", body, status=201)
    got = client.data("GET", f"/streams/{created['id']}")
    assert got["triggerConfig"] == {"cron": "0 30 2 * * *", "timezone": "UTC"}
    assert got["nextRunAt"].endswith("T02:30:00Z")
    client.data("DELETE", f"/streams/{created['id']}")


def _run_limit(stack) -> int:
    from chalicelib.config import Settings

    return int(stack["env"].get("RATE_LIMIT_RUNS_PER_MINUTE", Settings.model_fields["rate_limit_runs_per_minute"].default))


def test_rejected_run_requests_do_not_use_up_the_run_creation_limit(stack, world):
    """platform §1: run creation counts against the per-key limit; requests that create nothing (400, 404)
    do not, so a client's mistakes cannot lock it out of starting runs."""
    c = Client(stack["url"], _new_key(stack, "e2e-run-limit@recon.local"))
    limit = _run_limit(stack)
    for i in range(limit + 5):
        assert c.call("POST", "/streams/99999999/runs", {"triggerType": "MANUAL"}).status_code == 404
        assert c.call("POST", f"/streams/{world['stream']['id']}/runs", {"triggerType": "BOGUS"}).status_code == 400
    r = c.call("POST", f"/streams/{world['stream']['id']}/runs", {"triggerMetadata": {"reason": "after mistakes"}})
    assert r.status_code == 201, r.text
    run_id = r.json()["data"]["runId"]
    _poll(lambda: c.data("GET", f"/stream-runs/{run_id}")["status"] not in ("PENDING", "RUNNING"), 180,
          "the run to finish")


def test_only_created_runs_use_up_the_run_creation_limit(stack, client, world):
    """platform §1: "run creation" counts against the per-key limit (docs/decisions.md). A request refused with
    409 (a paused stream) or 400 (a reconciliation naming a missing file) creates no run and counts nothing; a
    run created by either path (a stream run, a legacy reconciliation) counts. The request past the limit is a
    429 with Retry-After that creates nothing, and a refusal still says why (409) instead of 429."""
    limit = _run_limit(stack)
    assert 1 <= limit <= 200, f"a run-creation limit this test can exhaust: {limit}"
    c = Client(stack["url"], _new_key(stack, "e2e-run-limit-409@recon.local"))
    full = client.data("GET", f"/streams/{world['stream']['id']}")   # the world's stream, defined again twice
    body = {"name": "", "triggerType": "MANUAL", "steps": [
        {k: st[k] for k in ("stepOrder", "name", "sourceInput", "targetInput", "ruleSetId", "config")}
        for st in full["steps"]]}
    paused = client.data("POST", "/streams", dict(body, name=f"limit paused {uuid.uuid4().hex[:6]}"), status=201)
    fresh = client.data("POST", "/streams", dict(body, name=f"limit fresh {uuid.uuid4().hex[:6]}"), status=201)
    client.data("POST", f"/streams/{paused['id']}/pause")
    legacy = {"name": "limit", "sourceFileId": world["src"]["id"], "targetFileId": world["tgt"]["id"],
              "ruleSetId": world["rule_set"]["id"]}
    for _ in range(limit + 5):
        r = c.call("POST", f"/streams/{paused['id']}/runs", {"triggerMetadata": {"reason": "retry loop"}})
        assert r.status_code == 409 and r.json()["errorCode"] == "CONFLICT", r.text
    for _ in range(5):
        r = c.call("POST", "/reconciliations", dict(legacy, sourceFileId=987654321))
        assert r.status_code == 400, r.text
    # every created run counts: `limit` reconciliations, each a PENDING run of its own
    for i in range(limit):
        r = c.call("POST", "/reconciliations", dict(legacy, name=f"limit {i}"))
        assert r.status_code == 201, (i, r.text)
    over = c.call("POST", f"/streams/{fresh['id']}/runs", {"triggerMetadata": {"reason": "one too many"}})
    assert over.status_code == 429 and over.json()["errorCode"] == "RATE_LIMITED", over.text
    assert 1 <= int(over.headers["Retry-After"]) <= 60
    assert c.data("GET", f"/streams/{fresh['id']}/runs")["totalItems"] == 0   # the refused run was not kept
    assert c.call("POST", "/reconciliations", legacy).status_code == 429
    # at the limit, a request that cannot create a run is still told why
    assert c.call("POST", f"/streams/{paused['id']}/runs", {}).status_code == 409
    # reads are not limited by run creation
    assert c.call("GET", f"/streams/{fresh['id']}/runs").status_code == 200
    for stream in (paused, fresh):
        client.data("DELETE", f"/streams/{stream['id']}")


def test_start_of_a_canceled_reconciliation_says_it_was_canceled(client, world):
    rec = client.data("POST", "/reconciliations", {"name": "to cancel", "sourceFileId": world["src"]["id"],
                                                   "targetFileId": world["tgt"]["id"],
                                                   "ruleSetId": world["rule_set"]["id"]}, status=201)
    client.data("POST", f"/reconciliations/{rec['id']}/cancel")
    r = client.call("POST", f"/reconciliations/{rec['id']}/start")
    assert r.status_code == 409 and r.json()["errorCode"] == "CONFLICT"
    assert "CANCELED" in r.json()["message"] and "already started" not in r.json()["message"], r.json()["message"]


def test_json_body_problems_are_all_listed(client):
    """platform §1: malformed JSON is a 400 VALIDATION_ERROR in the envelope (never a 500)."""
    for raw in (b"{", b"[]", b"null", b'{"name": 1e999}', b"\xff\xfe"):
        r = client.call("POST", "/streams", data=raw, headers={"Content-Type": "application/json"})
        assert r.status_code == 400, (raw, r.text)
        body = r.json()
        assert body["success"] is False and body["data"] is None and body["errorCode"] == "VALIDATION_ERROR"
        assert body["errors"] and all({"field", "code", "message"} <= set(e) for e in body["errors"])
    assert json.loads(client.call("GET", "/streams").text)["success"] is True


def test_a_broken_reference_is_answered_as_the_platform_document_shows_it(client, world):
    """platform §1's example, to the letter: the message names the step, the problem its field."""
    missing = 987654321
    steps = [{"stepOrder": 1, "name": "one", "sourceInput": {"type": "FILE", "id": world["src"]["id"]},
              "targetInput": {"type": "FILE", "id": world["tgt"]["id"]}, "ruleSetId": world["rule_set"]["id"],
              "config": {"continueOnFailure": False, "maxRetries": 1}},
             {"stepOrder": 2, "name": "two", "sourceInput": {"type": "STEP_OUTPUT_UNMATCHED_SOURCE", "id": 1},
              "targetInput": {"type": "FILE", "id": world["tgt"]["id"]}, "ruleSetId": missing,
              "config": {"continueOnFailure": True, "maxRetries": 2}}]
    r = client.call("POST", "/streams", {"name": "broken reference", "triggerType": "MANUAL", "steps": steps})
    assert r.status_code == 400
    assert r.json() == {"success": False, "message": f"Step 2: rule set {missing} not found", "data": None,
                        "errorCode": "VALIDATION_ERROR",
                        "errors": [{"field": "steps[1].ruleSetId", "code": "RULE_SET_NOT_FOUND",
                                    "message": f"rule set {missing} not found"}]}
    # the same answer when a PUT brings the broken reference
    stream_id = world["stream"]["id"]
    r = client.call("PUT", f"/streams/{stream_id}", {"name": "broken reference", "steps": steps})
    assert r.status_code == 400 and r.json()["message"] == f"Step 2: rule set {missing} not found"
    assert r.json()["errors"][0]["message"] == f"rule set {missing} not found"
    # a problem outside the steps is named by its field
    r = client.call("POST", "/streams", {"name": "no cron", "triggerType": "SCHEDULED", "steps": steps[:1]})
    assert r.status_code == 400 and r.json()["message"] == "triggerConfig.cron: is required for a SCHEDULED stream"


def test_a_cdc_table_source_test_estimates_its_rows_from_the_latest_whole_table_job(stack, client, demo):
    """platform §4: test → {ok, rowEstimate, columns, errorMessage}; for a CDC table the estimate is the
    Cassandra row count of the latest ROW_COUNT/CHECKSUM job (the catalog's own count, no table scan)."""
    cdc = requests.Session()
    cdc.headers["Authorization"] = f"Bearer {_new_key(stack, 'e2e-cdc-estimate@recon.local')}"
    r = cdc.post(stack["url"] + "/reconciliation/trigger",
                 json={"tables": ["orders"], "validation_strategy": "ROW_COUNT"}, timeout=60)
    assert r.status_code in (200, 202), r.text
    job_id = r.json()["job_ids"][0]
    job = _poll(lambda: (lambda j: j if j["status"] != "RUNNING" else None)(
        cdc.get(f"{stack['url']}/reconciliation/jobs/{job_id}", timeout=30).json()), 180, "the CDC job")
    assert job["status"] == "COMPLETED", job
    source = client.data("POST", "/data-sources", {"name": "orders (CDC)", "type": "CDC_TABLE",
                                                   "config": {"table": "orders"}}, status=201)
    result = client.data("POST", f"/data-sources/{source['id']}/test")
    assert result["ok"] is True and result["errorMessage"] is None
    assert result["rowEstimate"] == job["cassandra_row_count"] and isinstance(result["rowEstimate"], int)
    assert {c["name"] for c in result["columns"]} >= {"order_id", "customer_id"}
    client.data("DELETE", f"/data-sources/{source['id']}")


def test_the_stream_behind_a_legacy_reconciliation_takes_no_second_run(client, world):
    """platform §7: a reconciliation is one one-step run behind the adapter; its implicit stream refuses
    runs of its own (as it refuses pause, edit and archive), so the reconciliation keeps one run."""
    rec = client.data("POST", "/reconciliations", {"name": "one run", "sourceFileId": world["src"]["id"],
                                                   "targetFileId": world["tgt"]["id"],
                                                   "ruleSetId": world["rule_set"]["id"]}, status=201)
    stream_id = client.data("GET", f"/reconciliations/{rec['id']}")["streamId"]
    before = client.data("GET", f"/streams/{stream_id}/runs")["totalItems"]
    for method, path in (("POST", f"/streams/{stream_id}/runs"), ("POST", f"/streams/{stream_id}/pause"),
                         ("DELETE", f"/streams/{stream_id}")):
        r = client.call(method, path, {} if path.endswith("/runs") else None)
        assert r.status_code == 409 and r.json()["errorCode"] == "CONFLICT", (path, r.text)
        assert "reconciliation" in r.json()["message"]
    assert client.data("GET", f"/streams/{stream_id}/runs")["totalItems"] == before == 1
    client.data("POST", f"/reconciliations/{rec['id']}/cancel")


def test_an_uploaded_file_is_immutable_after_its_session_completes(client):
    """platform §2: "An uploaded file is immutable": a second PUT to the (still valid) presigned URL after
    the session completed must not change what the file's download serves or what its checksum says."""
    import hashlib

    first = b"a,b\n1,2\n"
    s = client.data("POST", "/files/uploads", {"filename": "immutable.csv", "sizeBytes": len(first)}, status=201)
    assert requests.put(s["uploadUrl"], data=first, timeout=60).status_code == 200
    client.data("POST", f"/files/{s['fileId']}/complete", status=202)
    f = _poll(lambda: (lambda x: x if x["status"] != "PROCESSING" else None)(
        client.data("GET", f"/files/{s['fileId']}")), 120, "the upload to be inspected")
    assert f["status"] == "READY" and f["checksum"] == "sha256:" + hashlib.sha256(first).hexdigest()
    requests.put(s["uploadUrl"], data=b"a,b\n9,9\n", timeout=60)   # accepted or refused: either way, no change
    r = client.call("GET", f"/files/{s['fileId']}/download")
    assert r.status_code == 200 and r.content == first
    assert client.data("GET", f"/files/{s['fileId']}")["checksum"] == f["checksum"]


def test_a_csv_with_mixed_line_endings_is_read_or_invalid_naming_the_line(client):
    """A CSV whose lines end in CRLF and then a bare LF (a file joined from two exports, a line added with another
    editor, a blank last line) read only "The CSV Parser state machine reached an invalid state.": it is read, as
    spreadsheets and Python's csv read it, directly and through an upload session. A bare CR among LF line ends
    is still INVALID, and (platform §2) "with `errorMessage` naming the line and the problem"."""
    crlf = "order_id,amount\r\n" + "".join(f"ORD-{i},{i}.25\r\n" for i in range(1, 40))
    for body, rows in ((crlf + "ORD-40,40.25\n", 40), (crlf + "\n", 39), (crlf + "\r\n", 39)):
        f = client.data("POST", "/files", params={"filename": "mixed.csv"}, data=body.encode(), status=201)
        assert (f["status"], f["rowCount"], f["errorMessage"]) == ("READY", rows, None), f
        assert [c["name"] for c in f["columns"]] == ["order_id", "amount"], f
    raw = (crlf + "ORD-40,40.25\n").encode()
    s = client.data("POST", "/files/uploads", {"filename": "mixed.csv", "sizeBytes": len(raw)}, status=201)
    assert requests.put(s["uploadUrl"], data=raw, timeout=60).status_code == 200
    client.data("POST", f"/files/{s['fileId']}/complete", status=202)
    f = _poll(lambda: (lambda x: x if x["status"] != "PROCESSING" else None)(
        client.data("GET", f"/files/{s['fileId']}")), 120, "the upload to be inspected")
    assert (f["status"], f["rowCount"]) == ("READY", 40), f
    # one CRLF inside an LF file ends a record there: ORD-7 alone on line 8 is one field
    lf = crlf.replace("\r\n", "\n")
    f = client.data("POST", "/files", params={"filename": "mixed.csv"},
                    data=lf.replace("ORD-7,", "ORD-7\r\n,", 1).encode(), status=201)
    assert f["status"] == "INVALID" and f["errorMessage"].startswith("line 8: 1 field, header has 2"), f
    # a bare CR is no line end the reader takes: named with the line
    f = client.data("POST", "/files", params={"filename": "mixed.csv"},
                    data=lf.replace("ORD-7,7.25\n", "ORD-7,7.25\r", 1).encode(), status=201)
    assert f["status"] == "INVALID" and f["errorMessage"].startswith(
        "line 8: ends with CR where the lines before it end with LF"), f
    assert "mixed line endings" in f["errorMessage"], f


def test_an_unmatched_row_holding_a_nul_character_is_an_exception(client):
    """platform §8: every unmatched row is an exception with its rowData. A CSV value holding a NUL byte (exports
    from C programs, binary junk in a free-text column) is read by the engine, but PostgreSQL's text and jsonb
    cannot hold U+0000: writing the step's exceptions failed, the worker's message with it, and the step stayed
    IN_PROGRESS, then failed "heartbeat timed out" with no word of why. The NUL now reads as U+FFFD in the
    exception (the artifact keeps the file's bytes)."""
    src = client.data("POST", "/files", params={"filename": "nul_src.csv"}, status=201,
                      data=b"order_id,amount,note\nA1,1.00,ok\nA2\x00x,2.00,bad\x00byte\n")
    tgt = client.data("POST", "/files", params={"filename": "nul_tgt.csv"}, status=201,
                      data=b"order_id,amount\nA1,1.00\n")
    assert src["status"] == tgt["status"] == "READY", (src, tgt)
    rs = client.data("POST", "/rule-sets", {"name": "nul", "sourceKey": "order_id", "targetKey": "order_id", "passes": [
        {"name": "id", "conditions": [{"source": "order_id", "target": "order_id", "operator": "EQUALS"}]}]},
        status=201)
    rec = client.data("POST", "/reconciliations", {"name": "nul", "sourceFileId": src["id"], "targetFileId": tgt["id"],
                                                   "ruleSetId": rs["id"]}, status=201)
    client.data("POST", f"/reconciliations/{rec['id']}/start")
    done = _poll(lambda: (lambda x: x if x["status"] not in ("PENDING", "IN_PROGRESS") else None)(
        client.data("GET", f"/reconciliations/{rec['id']}")), 60, "the reconciliation to end")
    assert (done["status"], done["matchedRecords"], done["exceptionCount"]) == ("COMPLETED", 1, 1), done
    (exc,) = client.data("GET", f"/reconciliations/{rec['id']}/exceptions")["items"]
    assert exc["rowKey"] == "A2\ufffdx" and exc["rowData"] == {"order_id": "A2\ufffdx", "amount": "2.00",
                                                               "note": "bad\ufffdbyte"}, exc


def test_exception_fields_read_in_the_order_of_the_file_and_the_contract(client, world):
    """platform §8: rowData keeps the input's column order (as the example: order_id, amount, order_date),
    closestCandidate reads rowKey, pass, failedCondition, detail; history changes read from, then to."""
    items = client.data("GET", "/exceptions", params={"runId": world["run"]["id"], "pageSize": 100})["items"]
    assert items and {e["side"] for e in items} <= {"SOURCE", "TARGET"}, items
    header = {"SOURCE": CSV_SRC.split("\n", 1)[0].split(","), "TARGET": CSV_TGT.split("\n", 1)[0].split(",")}
    for e in items:
        assert list(e["rowData"]) == header[e["side"]], e
    one = client.data("GET", f"/exceptions/{items[0]['id']}")
    assert list(one["rowData"]) == header[one["side"]], one
    rec = client.data("GET", f"/reconciliations/{items[0]['reconciliationId']}/exceptions")["items"]
    assert all(list(e["rowData"]) == header[e["side"]] for e in rec), rec
    client.data("PATCH", f"/exceptions/{one['id']}", {"status": "IGNORED", "note": "order check"})
    history = client.data("GET", f"/exceptions/{one['id']}/history")["items"]   # newest first
    assert [list(change) for change in history[0]["changes"].values()] == [["from", "to"], ["from", "to"]], history

    tag = uuid.uuid4().hex[:8]
    near = [client.data("POST", "/files", params={"filename": f"near_{side}_{tag}.csv"}, data=body.encode(),
                        status=201)
            for side, body in (("src", "order_id,amount\nORD-1,120.37\n"),
                               ("tgt", "txn_id,order_ref,gross\nTX-1,ORD-1,120.00\n"))]
    rs = client.data("POST", "/rule-sets", {"name": f"near {tag}", "sourceKey": "order_id", "targetKey": "txn_id",
                                            "passes": [{"name": "Reference, amount within a cent", "conditions": [
                                                {"source": "order_id", "target": "order_ref", "operator": "EQUALS"},
                                                {"source": "amount", "target": "gross", "operator": "AMOUNT_TOLERANCE",
                                                 "absolute": 0.01}]}]}, status=201)
    stream = client.data("POST", "/streams", {"name": f"near {tag}", "steps": [
        {"stepOrder": 1, "name": "one", "sourceInput": {"type": "FILE", "id": near[0]["id"]},
         "targetInput": {"type": "FILE", "id": near[1]["id"]}, "ruleSetId": rs["id"]}]}, status=201)
    run = client.data("POST", f"/streams/{stream['id']}/runs", status=201)
    _poll(lambda: client.data("GET", f"/stream-runs/{run['runId']}")["status"] == "COMPLETED", 180, "the run")
    found = client.data("GET", "/exceptions", params={"runId": run["runId"], "side": "SOURCE"})["items"]
    assert [e["reason"] for e in found] == ["TOLERANCE_EXCEEDED"], found
    assert list(found[0]["closestCandidate"]) == ["rowKey", "pass", "failedCondition", "detail"], found
    assert found[0]["closestCandidate"]["rowKey"] == "TX-1" and list(found[0]["rowData"]) == ["order_id", "amount"]


def test_stored_objects_read_back_in_the_order_the_contracts_write_them(client, world):
    """triggerConfig (platform §6), a data source's config (§4) and a run's triggerMetadata (streams §4.4) are
    stored as jsonb, which sorts keys by length; they read back as the documents write them."""
    step = {"stepOrder": 1, "name": "one", "sourceInput": {"type": "FILE", "id": world["src"]["id"]},
            "targetInput": {"type": "FILE", "id": world["tgt"]["id"]}, "ruleSetId": world["rule_set"]["id"]}
    tag = uuid.uuid4().hex[:8]
    config = {"event": "FILE_UPLOADED", "filenamePattern": f"bank_{tag}_*.csv",
              "bind": {"stepOrder": 1, "input": "TARGET"}}
    created = client.data("POST", "/streams", {"name": f"order {tag}", "triggerType": "EVENT", "triggerConfig": config,
                                               "steps": [step]}, status=201)
    got = client.data("GET", f"/streams/{created['id']}")["triggerConfig"]
    assert list(got) == ["event", "filenamePattern", "bind"] and list(got["bind"]) == ["stepOrder", "input"], got
    client.data("DELETE", f"/streams/{created['id']}")
    source = client.data("POST", "/data-sources", {"name": f"order {tag}", "type": "POSTGRES", "config": {
        "connection": {"env": "DATABASE_URL"}, "query": "SELECT 1 AS one"}}, status=201)
    assert list(source["config"]) == ["connection", "query"], source
    assert list(client.data("GET", f"/data-sources/{source['id']}")["config"]) == ["connection", "query"]
    run = client.data("GET", f"/stream-runs/{world['run']['id']}")
    assert list(run["triggerMetadata"])[0] == "requestedBy", run


def test_a_step_runs_artifacts_come_in_one_fixed_order(client, world):
    """platform §1 wants lists in a stable order: a step run's artifacts are listed outputs first (MATCHED,
    UNMATCHED_SOURCE, UNMATCHED_TARGET), then snapshots, whatever order the worker registered them in."""
    step = client.data("GET", f"/stream-runs/{world['run']['id']}/steps")[0]
    types = [a["artifactType"] for a in client.data("GET", f"/step-runs/{step['id']}/artifacts")]
    assert types == ["MATCHED", "UNMATCHED_SOURCE", "UNMATCHED_TARGET"], types


def test_a_download_is_served_as_its_format(client, world, tmp_path):
    """platform §2: a download is the file's exact bytes, served with its format's media type (docs/decisions.md),
    not application/octet-stream: text/csv with its charset (so a client decodes 'Überweisung' right), Parquet's
    application/vnd.apache.parquet, JSON Lines' application/jsonl. Uploads and a run's artifacts alike."""
    import duckdb

    tag = uuid.uuid4().hex[:8]

    def served(file_id: int, data: bytes | None = None) -> requests.Response:
        r = client.call("GET", f"/files/{file_id}/download")
        assert r.status_code == 200, r.text
        assert data is None or r.content == data
        return r

    r = served(world["src"]["id"], CSV_SRC.encode())
    assert r.headers["Content-Type"] == "text/csv; charset=utf-8"
    step = client.data("GET", f"/stream-runs/{world['run']['id']}/steps")[0]
    for artifact in client.data("GET", f"/step-runs/{step['id']}/artifacts"):
        assert served(artifact["fileId"]).headers["Content-Type"] == "text/csv; charset=utf-8", artifact
    text = "name,amount\nÜberweisung,1.50\n"
    for raw, media in ((text.encode(), "text/csv; charset=utf-8"),
                       (b"\xff\xfe" + text.replace(",", "\t").encode("utf-16-le"), "text/csv; charset=utf-16")):
        f = client.data("POST", "/files", params={"filename": f"umlaut_{tag}.csv"}, data=raw, status=201)
        assert f["status"] == "READY", f
        r = served(f["id"], raw)
        assert r.headers["Content-Type"] == media and "Überweisung" in r.text
    # a Windows-1252 CSV (read since the engine reads that code page) names it; an INVALID CSV that is not
    # UTF-8 names no charset it does not have
    latin = "name,amount\nÜberweisung,1.50\n".encode("cp1252")
    f = client.data("POST", "/files", params={"filename": f"latin_{tag}.csv"}, data=latin, status=201)
    assert f["status"] == "READY", f
    r = served(f["id"], latin)
    assert r.headers["Content-Type"] == "text/csv; charset=windows-1252" and "Überweisung" in r.text
    broken = "name,amount\nÜberweisung,1.50\n".encode() + b"caf\x81,2\n"
    f = client.data("POST", "/files", params={"filename": f"broken_{tag}.csv"}, data=broken, status=201)
    assert (f["status"], f["errorMessage"]) == ("INVALID", "line 3: not valid UTF-8"), f
    assert served(f["id"], broken).headers["Content-Type"] == "text/csv"
    lines = b'{"id": 1, "amount": 1.5}\n{"id": 2, "amount": 2.5}\n'
    f = client.data("POST", "/files", params={"filename": f"events_{tag}.jsonl"}, data=lines, status=201)
    assert served(f["id"], lines).headers["Content-Type"] == "application/jsonl"
    path = tmp_path / "rows.parquet"
    duckdb.connect().execute(f"COPY (SELECT 1 AS id, 1.5 AS amount) TO '{path}' (FORMAT PARQUET)")
    f = client.data("POST", "/files", params={"filename": f"rows_{tag}.parquet"}, data=path.read_bytes(), status=201)
    assert (f["format"], f["status"]) == ("PARQUET", "READY"), f
    assert served(f["id"], path.read_bytes()).headers["Content-Type"] == "application/vnd.apache.parquet"


def test_every_create_names_what_it_created_in_location(stack, client, world):
    """RFC 9110 §15.3.2: a 201 names the resource it created in Location (a 202 the resource to watch), so a
    client follows it instead of building the URL: every create of the platform answers one, and a GET of it
    answers that resource."""
    origin = stack["url"].removesuffix("/api/v1")
    tag = uuid.uuid4().hex[:8]
    step = {"stepOrder": 1, "name": "one", "sourceInput": {"type": "FILE", "id": world["src"]["id"]},
            "targetInput": {"type": "FILE", "id": world["tgt"]["id"]}, "ruleSetId": world["rule_set"]["id"]}
    stream = client.call("POST", "/streams", {"name": f"location {tag}", "steps": [step]})
    session = client.call("POST", "/files/uploads", {"filename": f"location_{tag}.csv", "sizeBytes": 4})
    answers = {
        "file": (client.call("POST", "/files", params={"filename": f"location_{tag}.csv"}, data=b"a\n1\n"), "id",
                 "/files/{}"),
        "session": (session, "fileId", "/files/{}"),
        "rule set": (client.call("POST", "/rule-sets", dict(RULES, name=f"location {tag}")), "id", "/rule-sets/{}"),
        "data source": (client.call("POST", "/data-sources", {"name": f"location {tag}", "type": "POSTGRES", "config": {
            "connection": {"env": "DATABASE_URL"}, "query": "SELECT 1 AS one"}}), "id", "/data-sources/{}"),
        "stream": (stream, "id", "/streams/{}"),
        "run": (client.call("POST", f"/streams/{stream.json()['data']['id']}/runs"), "runId", "/stream-runs/{}"),
        "reconciliation": (client.call("POST", "/reconciliations", {
            "name": f"location {tag}", "sourceFileId": world["src"]["id"], "targetFileId": world["tgt"]["id"],
            "ruleSetId": world["rule_set"]["id"]}), "id", "/reconciliations/{}"),
    }
    requests.put(session.json()["data"]["uploadUrl"], data=b"a\n1\n", timeout=60).raise_for_status()
    answers["completed session"] = (client.call("POST", f"/files/{session.json()['data']['fileId']}/complete"),
                                    "id", "/files/{}")
    for what, (r, key, path) in answers.items():
        assert r.status_code in (201, 202), (what, r.status_code, r.text)
        created_id = r.json()["data"][key]
        assert r.headers.get("Location") == "/api/v1" + path.format(created_id), (what, dict(r.headers))
        got = client.s.get(origin + r.headers["Location"], timeout=60)
        assert got.status_code == 200 and got.json()["data"]["id"] == created_id, (what, got.text[:300])
    _poll(lambda: client.data("GET", answers["run"][0].headers["Location"].removeprefix("/api/v1"))["status"]
          not in ("PENDING", "RUNNING"), 180, "the run to finish")
    client.data("DELETE", f"/streams/{stream.json()['data']['id']}")


def test_what_a_get_answered_can_be_put_back(client, world):
    """platform §3/§5: PUT replaces a rule set, a stream, a data source. The edit a client makes is GET, change a
    field, PUT the document back: the read-only fields it read (id, version, status, timestamps, computed
    fields, the steps' ids) are not unknown fields of the resource. They are checked, not written: a version
    older than the current one is a 409 (reapplied, the body would undo a change made since it was read), an id
    or a status other than the resource's is a 400 naming the field."""
    tag = uuid.uuid4().hex[:8]
    step = {"stepOrder": 1, "name": "one", "sourceInput": {"type": "FILE", "id": world["src"]["id"]},
            "targetInput": {"type": "FILE", "id": world["tgt"]["id"]}, "ruleSetId": world["rule_set"]["id"]}
    rule_set = client.data("POST", "/rule-sets", dict(RULES, name=f"put back {tag}"), status=201)
    stream = client.data("POST", "/streams", {"name": f"put back {tag}", "triggerType": "SCHEDULED",
                                              "triggerConfig": {"cron": "0 30 2 * * *"}, "steps": [step]}, status=201)
    source = client.data("POST", "/data-sources", {"name": f"put back {tag}", "type": "POSTGRES", "config": {
        "connection": {"env": "DATABASE_URL"}, "query": "SELECT 1 AS one"}}, status=201)
    for path, renamed in ((f"/rule-sets/{rule_set['id']}", "version"), (f"/streams/{stream['id']}", "version"),
                          (f"/data-sources/{source['id']}", "version")):
        read = client.data("GET", path)
        edited = dict(read, name=read["name"] + " (edited)")
        saved = client.data("PUT", path, edited)
        assert saved["name"] == edited["name"] and saved["id"] == read["id"], saved
        if renamed:
            assert saved["version"] == read["version"] + 1
            # the same body again was read before that change: it would undo it
            r = client.call("PUT", path, dict(edited, name="stale"))
            assert r.status_code == 409 and r.json()["errorCode"] == "CONFLICT", r.text
            assert f"at version {read['version'] + 1}" in r.json()["message"], r.text
            assert client.data("GET", path)["name"] == edited["name"]
            read = saved
        r = client.call("PUT", path, dict(read, id=read["id"] + 1))
        assert r.status_code == 400 and [(e["field"], e["code"]) for e in r.json()["errors"]] == [
            ("id", "INVALID_VALUE")], r.text
    r = client.call("PUT", f"/streams/{stream['id']}", dict(client.data("GET", f"/streams/{stream['id']}"),
                                                           status="PAUSED"))
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "status", r.text
    assert f"/streams/{stream['id']}/pause" in r.json()["errors"][0]["message"]
    assert client.data("GET", f"/streams/{stream['id']}")["status"] == "ACTIVE"
    # a field the resource does not have is still refused
    r = client.call("PUT", f"/rule-sets/{rule_set['id']}", dict(RULES, colour="blue"))
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "colour", r.text
    client.data("DELETE", f"/streams/{stream['id']}")


def test_a_read_only_field_of_the_wrong_type_is_a_400_naming_it(client, world):
    """platform §1: wrong types are a 400 VALIDATION_ERROR naming the field. A PUT's read-only `id` and `version`
    are integers as GET answers them: `"version": "2"` (a string) is a wrong type, listed with the body's other
    problems, not a stale version (409) nor a foreign id."""
    tag = uuid.uuid4().hex[:8]
    source = client.data("POST", "/data-sources", {"name": f"types {tag}", "type": "POSTGRES", "config": {
        "query": "SELECT 1 AS one"}}, status=201)
    for path in (f"/rule-sets/{world['rule_set']['id']}", f"/streams/{world['stream']['id']}",
                 f"/data-sources/{source['id']}"):
        read = client.data("GET", path)
        for field, wrong, got in (("version", str(read["version"]), "string"), ("version", True, "boolean"),
                                  ("version", float(read["version"]), "number"), ("version", None, "null"),
                                  ("id", str(read["id"]), "string")):
            r = client.call("PUT", path, dict(read, **{field: wrong}))
            assert r.status_code == 400 and r.json()["errorCode"] == "VALIDATION_ERROR", (path, field, wrong, r.text)
            assert [(e["field"], e["code"], e["message"]) for e in r.json()["errors"]] == [
                (field, "INVALID_TYPE", f"must be an integer (got {got})")], (path, r.text)
        # with the body's own problems, all of them
        r = client.call("PUT", path, dict(read, version=str(read["version"]), name=""))
        assert r.status_code == 400 and {e["field"] for e in r.json()["errors"]} == {"version", "name"}, r.text
        assert client.data("GET", path)["version"] == read["version"]
    client.data("DELETE", f"/data-sources/{source['id']}")


def test_the_openapi_put_bodies_take_what_a_get_answered(client, world):
    """/api/v1/openapi.json says what PUT /streams/{id}, /rule-sets/{id} and /data-sources/{id} accept: the
    document a GET answered validates against the PUT's body schema, whose read-only fields (id, version,
    status, timestamps, the steps' ids) are marked readOnly and say what the PUT does with them (id checked,
    a stale version 409). The create bodies keep refusing them."""
    import jsonschema

    doc = client.s.get(client.url + "/openapi.json", timeout=30).json()
    tag = uuid.uuid4().hex[:8]
    source = client.data("POST", "/data-sources", {"name": f"doc {tag}", "type": "POSTGRES", "config": {
        "query": "SELECT 1 AS one"}}, status=201)
    reads = {"/api/v1/streams/{id}": client.data("GET", f"/streams/{world['stream']['id']}"),
             "/api/v1/rule-sets/{id}": client.data("GET", f"/rule-sets/{world['rule_set']['id']}"),
             "/api/v1/data-sources/{id}": client.data("GET", f"/data-sources/{source['id']}")}
    for path, read in reads.items():
        schema = doc["paths"][path]["put"]["requestBody"]["content"]["application/json"]["schema"]
        validator = jsonschema.Draft202012Validator({**schema, "components": doc["components"]})
        assert [e.message for e in validator.iter_errors(read)] == [], path
        body = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        assert {n for n, p in body["properties"].items() if p.get("readOnly")} >= {"id", "createdAt", "updatedAt",
                                                                                 "version"}, path
        assert "must be the path's id" in body["properties"]["id"]["description"], path
        assert "409 CONFLICT" in body["properties"]["version"]["description"], path
        create = doc["paths"][path.removesuffix("/{id}")]["post"]["requestBody"]["content"]["application/json"]
        assert list(jsonschema.Draft202012Validator({**create["schema"], "components": doc["components"]})
                    .iter_errors(read)), f"the create body of {path} takes no id"
    step = doc["components"]["schemas"]["StreamUpdate"]["properties"]["steps"]["items"]["$ref"]
    assert doc["components"]["schemas"][step.rsplit("/", 1)[1]]["properties"]["id"]["readOnly"] is True
    # a create's stepCount, taken back too, is an integer like the ids (a string is a 400 INVALID_TYPE)
    assert doc["components"]["schemas"]["StreamUpdate"]["properties"]["stepCount"]["type"] == "integer"
    client.data("DELETE", f"/data-sources/{source['id']}")


def _held_row_lock(stack, table: str, id_column: str, id_: int):
    """A transaction of the test's own holding `table`'s row `id_` FOR UPDATE: the PUTs sent meanwhile queue
    behind it, so they are concurrent for certain (the connection; roll it back to let them through)."""
    import psycopg

    conn = psycopg.connect(stack["env"]["DATABASE_URL"])
    conn.execute(f"SELECT 1 FROM recon.{table} WHERE {id_column} = %s FOR UPDATE", (id_,))
    return conn


def test_two_puts_of_the_same_version_one_wins_the_other_is_a_conflict(stack, client, world):
    """platform §3/§4/§5 (PUT with the version a GET answered): two clients read version n and PUT their edit at
    the same moment. Exactly one writes version n + 1; the other is the 409 CONFLICT a stale version gets, not
    a second version silently built on a body that never saw the first (a lost update). The PUTs are held
    behind a row lock of the test's own until both wait on it, then released together."""
    from concurrent.futures import ThreadPoolExecutor

    import psycopg

    tag = uuid.uuid4().hex[:8]
    step = {"stepOrder": 1, "name": "one", "sourceInput": {"type": "FILE", "id": world["src"]["id"]},
            "targetInput": {"type": "FILE", "id": world["tgt"]["id"]}, "ruleSetId": world["rule_set"]["id"]}
    rule_set = client.data("POST", "/rule-sets", dict(RULES, name=f"race {tag}"), status=201)
    stream = client.data("POST", "/streams", {"name": f"race {tag}", "triggerType": "MANUAL", "steps": [step]},
                         status=201)
    source = client.data("POST", "/data-sources", {"name": f"race {tag}", "type": "POSTGRES", "config": {
        "connection": {"env": "DATABASE_URL"}, "query": "SELECT 1 AS one"}}, status=201)
    assert source["version"] == 1, source
    cases = [(f"/rule-sets/{rule_set['id']}", "rule_sets", "rule_set_id", rule_set["id"]),
             (f"/streams/{stream['id']}", "streams", "stream_id", stream["id"]),
             (f"/data-sources/{source['id']}", "data_sources", "data_source_id", source["id"])]
    with ThreadPoolExecutor(2) as pool, psycopg.connect(stack["env"]["DATABASE_URL"], autocommit=True) as watch:
        for path, table, id_column, id_ in cases:
            read = client.data("GET", path)
            lock = _held_row_lock(stack, table, id_column, id_)
            try:
                edits = [dict(read, name=f"{read['name']} by {who}") for who in ("alice", "bob")]
                answers = [pool.submit(client.call, "PUT", path, body) for body in edits]
                _poll(lambda: watch.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE %s",
                    (f"%recon.{table} %",)).fetchone()[0] >= 2, 30, f"both PUTs of {path} to wait on the row")
            finally:
                lock.rollback()
                lock.close()
            answers = [a.result(timeout=60) for a in answers]
            assert sorted(a.status_code for a in answers) == [200, 409], [(a.status_code, a.text[:300]) for a in answers]
            won, lost = sorted(answers, key=lambda a: a.status_code)
            assert lost.json()["errorCode"] == "CONFLICT" and lost.json()["data"] is None, lost.text
            assert f"at version {read['version'] + 1}" in lost.json()["message"], lost.text
            now = client.data("GET", path)
            assert now["version"] == read["version"] + 1 and now["name"] == won.json()["data"]["name"], now
    client.data("DELETE", f"/streams/{stream['id']}")
