"""The streams documents' examples sent as they are written, over HTTP on the running stack, and the answers
compared key by key: what comes back is what was sent (no defaults the client did not write), a response
carries the fields the contract lists for it, errors name the resource as its path does, and the OpenAPI
document describes the keys every answer carries."""
from __future__ import annotations

import copy
import json
import uuid

import pytest
import requests

from tests.e2e.conftest import ROOT, poll as _poll
from tests.e2e.test_streams_contract_shapes import Client, _new_key

OWNER = "e2e-streams-letter@recon.local"
# streams-platform-api.md §3, the four-pass example as printed (docs/examples keeps the same text)
PLATFORM_RULE_SET = json.loads((ROOT / "docs" / "examples" / "rule-set-four-pass.json").read_text())
# inputs with every column the example's rule set reads
CSV_SRC = "order_id,amount,order_date,customer,payout_ref\n" + "".join(
    f"ORD-{i},{i}.25,2026-02-{1 + i % 27:02d},Cust {i},P{i % 5}\n" for i in range(1, 21))
CSV_TGT = "txn_id,order_ref,gross,settled_on,payer,payout_id\n" + "".join(
    f"TX-{i},ORD-{i},{i}.25,2026-02-{1 + i % 27:02d},Cust {i},P{i % 5}\n" for i in range(1, 16))


@pytest.fixture(scope="module")
def client(stack):
    return Client(stack["url"], _new_key(stack, OWNER))


@pytest.fixture(scope="module")
def files(client):
    tag = uuid.uuid4().hex[:8]
    src = client.data("POST", "/files", params={"filename": f"letter_src_{tag}.csv"}, data=CSV_SRC.encode(), status=201)
    tgt = client.data("POST", "/files", params={"filename": f"letter_tgt_{tag}.csv"}, data=CSV_TGT.encode(), status=201)
    return src, tgt


def test_the_platform_rule_set_example_reads_back_as_it_was_written(client):
    """§3: the example has conditions without `normalize`; GET (and the POST's answer) must not add
    `"normalize": []` to them, so the document read back equals the document sent."""
    body = copy.deepcopy(PLATFORM_RULE_SET)
    created = client.data("POST", "/rule-sets", body, status=201)
    got = client.data("GET", f"/rule-sets/{created['id']}")
    for answer in (created, got):
        assert answer["passes"] == body["passes"]
        assert (answer["name"], answer["description"], answer["sourceKey"], answer["targetKey"], answer["version"]) == (
            body["name"], body["description"], body["sourceKey"], body["targetKey"], 1)
    # a normalization that was given is kept
    assert got["passes"][0]["conditions"][0]["normalize"] == ["TRIM", "UPPER"]
    # and what was read can be PUT back unchanged
    again = client.data("PUT", f"/rule-sets/{created['id']}", {k: got[k] for k in (
        "name", "description", "sourceKey", "targetKey", "passes")})
    assert again["version"] == 2 and again["passes"] == body["passes"]


def test_create_stream_answers_the_fields_of_the_contract_example(client, files):
    """streams §4.1: the response `data` is id, name, status, domain, stepCount, createdAt, updatedAt."""
    src, tgt = files
    rule_set = client.data("POST", "/rule-sets", PLATFORM_RULE_SET, status=201)
    body = {"name": f"E-commerce Settlement Stream {uuid.uuid4().hex[:6]}",
            "description": "OMS to marketplace to gateway to bank", "domain": "ECOMMERCE",
            "triggerType": "SCHEDULED", "triggerConfig": {"cron": "0 30 2 * * *", "timezone": "UTC"},
            "steps": [{"stepOrder": 1, "name": "Orders vs Marketplace",
                       "sourceInput": {"type": "FILE", "id": src["id"]}, "targetInput": {"type": "FILE", "id": tgt["id"]},
                       "ruleSetId": rule_set["id"], "config": {"continueOnFailure": False, "maxRetries": 1}}]}
    r = client.call("POST", "/streams", body)
    assert r.status_code == 201, r.text
    data = r.json()["data"]
    assert list(data) == ["id", "name", "status", "domain", "stepCount", "createdAt", "updatedAt"], data
    assert (data["name"], data["status"], data["domain"], data["stepCount"]) == (body["name"], "ACTIVE", "ECOMMERCE", 1)
    assert isinstance(data["id"], int) and data["createdAt"] == data["updatedAt"]
    client.data("DELETE", f"/streams/{data['id']}")


def test_an_unknown_stream_run_is_named_as_its_path_names_it(client):
    """platform §1: a 404 names the kind and the id; /stream-runs/{id} is a stream run (as /step-runs/{id}
    is a step run and /streams/{id} a stream)."""
    for method, path in (("GET", "/stream-runs/987654321"), ("GET", "/stream-runs/987654321/steps"),
                         ("POST", "/stream-runs/987654321/cancel")):
        r = client.call(method, path)
        assert r.status_code == 404, r.text
        assert r.json()["message"] == "Stream run 987654321 not found", r.text
    r = client.call("GET", "/step-runs/987654321/artifacts")
    assert r.json()["message"] == "Step run 987654321 not found"


def test_the_openapi_document_requires_every_key_the_answers_always_carry(stack, client, files):
    """A field the API writes in every answer (null included, like the contract's `"startedAt": null`) is
    `required` in /api/v1/openapi.json; a client generated from the document must not treat it as optional."""
    doc = requests.get(stack["url"] + "/openapi.json", timeout=30).json()
    schemas = doc["components"]["schemas"]
    src, _ = files
    fresh = client.data("POST", "/files/uploads", {"filename": f"letter_{uuid.uuid4().hex[:6]}.csv", "sizeBytes": 10},
                        status=201)
    answers = {"FileOut": [src, client.data("GET", f"/files/{fresh['fileId']}")]}
    for name, items in answers.items():
        required = set(schemas[name]["required"])
        for item in items:
            assert required == set(item), (name, set(item) ^ required)
    for name in ("RunCreatedOut", "RunOut", "StepRunOut", "StreamOut", "ReconciliationOut", "ExceptionOut",
                 "ArtifactOut"):
        schema = schemas[name]
        assert set(schema["required"]) == set(schema["properties"]), (name, set(schema["properties"]) - set(
            schema["required"]))
    assert "startedAt" in schemas["RunCreatedOut"]["required"]
    # a download's headers are documented as they are sent
    import re

    headers = doc["paths"]["/api/v1/files/{id}/download"]["get"]["responses"]["200"]["headers"]
    got = client.call("GET", f"/files/{src['id']}/download")
    assert got.status_code == 200
    assert re.fullmatch(headers["X-Checksum-Sha256"]["schema"]["pattern"], got.headers["X-Checksum-Sha256"])
    assert "sha256:" + got.headers["X-Checksum-Sha256"] == src["checksum"]
    assert got.headers["Content-Disposition"].startswith("attachment;") and "Content-Disposition" in headers


def test_run_trigger_metadata_names_are_strings(client, files):
    """streams §4.4: `requestedBy` and `reason` are text (an email, a sentence); a number or a list there is
    a 400 at its field, not a run recorded as requested by 5. Other keys are kept as sent."""
    src, tgt = files
    rule_set = client.data("POST", "/rule-sets", PLATFORM_RULE_SET, status=201)
    stream = client.data("POST", "/streams", {"name": f"metadata {uuid.uuid4().hex[:6]}", "steps": [
        {"stepOrder": 1, "name": "one", "sourceInput": {"type": "FILE", "id": src["id"]},
         "targetInput": {"type": "FILE", "id": tgt["id"]}, "ruleSetId": rule_set["id"]}]}, status=201)
    for metadata, field, code in (({"requestedBy": 5}, "triggerMetadata.requestedBy", "INVALID_TYPE"),
                                  ({"reason": ["x"]}, "triggerMetadata.reason", "INVALID_TYPE"),
                                  ({"requestedBy": ""}, "triggerMetadata.requestedBy", "TOO_SHORT")):
        r = client.call("POST", f"/streams/{stream['id']}/runs", {"triggerType": "MANUAL", "triggerMetadata": metadata})
        assert r.status_code == 400, r.text
        assert [(e["field"], e["code"]) for e in r.json()["errors"]] == [(field, code)], r.text
    sent = {"requestedBy": "amit@company.com", "reason": "Month-end close run", "ticket": "FIN-1"}
    run = client.data("POST", f"/streams/{stream['id']}/runs", {"triggerType": "MANUAL", "triggerMetadata": sent},
                      status=201)
    assert client.data("GET", f"/stream-runs/{run['runId']}")["triggerMetadata"] == sent
    client.call("POST", f"/stream-runs/{run['runId']}/cancel")


def test_a_retried_steps_reconciliation_started_with_its_first_attempt(client, files):
    """platform §7: every step run is a reconciliation (one id across its attempts, §5 retries); its
    `startedAt` is when the reconciliation started, the first attempt, and `completedAt` when the last ended."""
    _, tgt = files
    failing = client.data("POST", "/data-sources", {"name": f"fails {uuid.uuid4().hex[:6]}", "type": "POSTGRES", "config": {
        "connection": {"env": "DATABASE_URL"},
        "query": "SELECT (1 / (extract(epoch FROM now())::int - extract(epoch FROM now())::int))::text AS order_id"}},
        status=201)
    rule_set = client.data("POST", "/rule-sets", {"name": "by reference", "passes": [{"name": "ref", "conditions": [
        {"source": "order_id", "target": "order_ref", "operator": "EQUALS"}]}]}, status=201)
    stream = client.data("POST", "/streams", {"name": f"retried {uuid.uuid4().hex[:6]}", "steps": [
        {"stepOrder": 1, "name": "snapshot", "sourceInput": {"type": "DATA_SOURCE_SNAPSHOT", "id": failing["id"]},
         "targetInput": {"type": "FILE", "id": tgt["id"]}, "ruleSetId": rule_set["id"],
         "config": {"continueOnFailure": False, "maxRetries": 1}}]}, status=201)
    run = client.data("POST", f"/streams/{stream['id']}/runs", status=201)
    done = _poll(lambda: (lambda r: r if r["status"] not in ("PENDING", "RUNNING") else None)(
        client.data("GET", f"/stream-runs/{run['runId']}")), 120, "the run to fail")
    assert done["status"] == "FAILED", done
    attempts = client.data("GET", f"/stream-runs/{run['runId']}/steps", params={"attempts": "all"})
    assert [a["attemptNo"] for a in attempts] == [1, 2] and len({a["reconciliationId"] for a in attempts}) == 1
    assert attempts[0]["startedAt"] < attempts[1]["startedAt"], attempts
    rec = client.data("GET", f"/reconciliations/{attempts[0]['reconciliationId']}")
    assert (rec["status"], rec["startedAt"], rec["completedAt"]) == (
        "FAILED", attempts[0]["startedAt"], attempts[1]["completedAt"]), rec


@pytest.mark.parametrize("orders", [[0], [0, 1], [1, 3], [1, 1], [-1], [51]])
def test_step_orders_outside_one_to_n_are_step_order_invalid(client, files, orders):
    """platform §5: `STEP_ORDER_INVALID` (orders must be 1..n without gaps) — a 0 or a negative order misses
    1..n as a gap does, and gets the same code at the same field."""
    src, tgt = files
    rule_set = client.data("POST", "/rule-sets", {"name": "orders", "passes": [{"name": "ref", "conditions": [
        {"source": "order_id", "target": "order_ref", "operator": "EQUALS"}]}]}, status=201)
    steps = [{"stepOrder": o, "name": f"s{i}", "sourceInput": {"type": "FILE", "id": src["id"]},
              "targetInput": {"type": "FILE", "id": tgt["id"]}, "ruleSetId": rule_set["id"]} for i, o in enumerate(orders)]
    r = client.call("POST", "/streams", {"name": "orders", "steps": steps})
    assert r.status_code == 400, r.text
    codes = {(e["field"], e["code"]) for e in r.json()["errors"]}
    assert codes and all(code == "STEP_ORDER_INVALID" for _, code in codes), codes
    assert any(field.endswith(".stepOrder") for field, _ in codes), codes


def test_concurrent_starts_of_a_reconciliation_start_it_once(client, files):
    """platform §7: start → 200, "409 if started". Six starts at once: one starts it, five meet a started
    reconciliation (each used to see it not yet started and answer 200)."""
    from concurrent.futures import ThreadPoolExecutor

    src, tgt = files
    rule_set = client.data("POST", "/rule-sets", {"name": "race", "passes": [{"name": "ref", "conditions": [
        {"source": "order_id", "target": "order_ref", "operator": "EQUALS"}]}]}, status=201)
    rec = client.data("POST", "/reconciliations", {"name": "race", "sourceFileId": src["id"], "targetFileId": tgt["id"],
                                                   "ruleSetId": rule_set["id"]}, status=201)

    def start(_):
        s = requests.Session()
        s.headers.update(client.s.headers)
        return s.post(f"{client.url}/reconciliations/{rec['id']}/start", timeout=60).status_code

    with ThreadPoolExecutor(6) as pool:
        codes = sorted(pool.map(start, range(6)))
    assert codes == [200, 409, 409, 409, 409, 409], codes
    done = _poll(lambda: (lambda r: r if r["status"] not in ("PENDING", "IN_PROGRESS") else None)(
        client.data("GET", f"/reconciliations/{rec['id']}")), 120, "the reconciliation to finish")
    assert done["status"] == "COMPLETED" and done["matchedRecords"] == 15, done


def test_a_scheduled_run_starts_at_its_occurrence_not_on_the_next_tick(client, files):
    """platform §6: the cron has six fields, seconds first: a stream due at hh:mm:ss runs then. The dispatcher
    ticks once a minute; the occurrences between two ticks are woken at their instant (it started them up
    to a minute late)."""
    from datetime import datetime, timedelta, timezone

    src, tgt = files
    rule_set = client.data("POST", "/rule-sets", {"name": "on time", "passes": [{"name": "ref", "conditions": [
        {"source": "order_id", "target": "order_ref", "operator": "EQUALS"}]}]}, status=201)
    due = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=20)
    stream = client.data("POST", "/streams", {
        "name": f"on time {uuid.uuid4().hex[:6]}", "triggerType": "SCHEDULED",
        "triggerConfig": {"cron": f"{due.second} {due.minute} {due.hour} * * *", "timezone": "UTC"},
        "steps": [{"stepOrder": 1, "name": "one", "sourceInput": {"type": "FILE", "id": src["id"]},
                   "targetInput": {"type": "FILE", "id": tgt["id"]}, "ruleSetId": rule_set["id"]}]}, status=201)
    try:
        runs = _poll(lambda: client.data("GET", f"/streams/{stream['id']}/runs")["items"], 90, "the scheduled run")
        run = client.data("GET", f"/stream-runs/{runs[0]['id']}")
        assert run["triggerMetadata"]["schedule"] == {"occurrence": due.strftime("%Y-%m-%dT%H:%M:%SZ"), "late": False}
        created = datetime.strptime(run["createdAt"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
        assert timedelta(0) <= created - due <= timedelta(seconds=15), (run["createdAt"], due)   # the tick: up to 60 s
    finally:
        client.call("DELETE", f"/streams/{stream['id']}")


def test_a_malformed_stream_lists_its_trigger_problems_with_the_others(client, files):
    """platform §1: a 400 `errors` lists every problem with its field path; an invalid cron or time zone
    is one of them (§6) even when a step is missing a field or the name is blank — on create and on PUT."""
    src, tgt = files
    body = {"name": " ", "triggerType": "SCHEDULED", "triggerConfig": {"cron": "0 30 2 * *", "timezone": "Mars/Olympus"},
            "steps": [{"stepOrder": 1, "name": "one", "sourceInput": {"type": "FILE", "id": src["id"]},
                       "targetInput": {"type": "FILE", "id": tgt["id"]}},
                      {"stepOrder": 3, "name": "two", "sourceInput": {"type": "FILE", "id": src["id"]},
                       "targetInput": {"type": "FILE", "id": tgt["id"]}, "ruleSetId": 1}]}
    expected = {("name", "INVALID_VALUE"), ("steps[0].ruleSetId", "REQUIRED"), ("steps[1].stepOrder", "STEP_ORDER_INVALID"),
                ("triggerConfig.cron", "CRON_INVALID"), ("triggerConfig.timezone", "TIMEZONE_INVALID")}
    rule_set = client.data("POST", "/rule-sets", {"name": "listed", "passes": [{"name": "ref", "conditions": [
        {"source": "order_id", "target": "order_ref", "operator": "EQUALS"}]}]}, status=201)
    stream = client.data("POST", "/streams", {"name": "listed", "steps": [
        {"stepOrder": 1, "name": "one", "sourceInput": {"type": "FILE", "id": src["id"]},
         "targetInput": {"type": "FILE", "id": tgt["id"]}, "ruleSetId": rule_set["id"]}]}, status=201)
    for method, path in (("POST", "/streams"), ("PUT", f"/streams/{stream['id']}")):
        r = client.call(method, path, body)
        assert r.status_code == 400, r.text
        got = [(e["field"], e["code"]) for e in r.json()["errors"]]
        assert expected <= set(got), got
        assert len(got) == len(set(got)), got
        assert r.json()["errorCode"] == "VALIDATION_ERROR" and "more problem" in r.json()["message"]


@pytest.mark.parametrize("zone", ["localtime", "posixrules", "posix/Europe/Berlin", "right/UTC"])
def test_time_zone_files_that_are_not_iana_names_are_refused(client, files, zone):
    """platform §6: `timezone` is an IANA name. `localtime` (the machine's own zone) and the posix/ and right/
    copies of the zone database are files of the system's database, not names: TIMEZONE_INVALID."""
    src, tgt = files
    rule_set = client.data("POST", "/rule-sets", {"name": "zones", "passes": [{"name": "ref", "conditions": [
        {"source": "order_id", "target": "order_ref", "operator": "EQUALS"}]}]}, status=201)
    r = client.call("POST", "/streams", {
        "name": "zones", "triggerType": "SCHEDULED", "triggerConfig": {"cron": "0 30 2 * * *", "timezone": zone},
        "steps": [{"stepOrder": 1, "name": "one", "sourceInput": {"type": "FILE", "id": src["id"]},
                   "targetInput": {"type": "FILE", "id": tgt["id"]}, "ruleSetId": rule_set["id"]}]})
    assert r.status_code == 400, r.text
    assert [(e["field"], e["code"]) for e in r.json()["errors"]] == [("triggerConfig.timezone", "TIMEZONE_INVALID")]


def test_a_leap_day_schedule_shows_its_next_run(client, files):
    """platform §5: GET /streams/{id} carries nextRunAt for a SCHEDULED stream — also when the next
    occurrence (29 February) is more than a year away."""
    from datetime import datetime, timezone

    src, tgt = files
    rule_set = client.data("POST", "/rule-sets", {"name": "leap", "passes": [{"name": "ref", "conditions": [
        {"source": "order_id", "target": "order_ref", "operator": "EQUALS"}]}]}, status=201)
    stream = client.data("POST", "/streams", {
        "name": "leap day", "triggerType": "SCHEDULED", "triggerConfig": {"cron": "0 0 12 29 2 *", "timezone": "UTC"},
        "steps": [{"stepOrder": 1, "name": "one", "sourceInput": {"type": "FILE", "id": src["id"]},
                   "targetInput": {"type": "FILE", "id": tgt["id"]}, "ruleSetId": rule_set["id"]}]}, status=201)
    try:
        got = client.data("GET", f"/streams/{stream['id']}")["nextRunAt"]
        now = datetime.now(timezone.utc)
        year = next(y for y in range(now.year, now.year + 9)
                    if y % 4 == 0 and (y % 100 or y % 400 == 0) and datetime(y, 2, 29, 12, tzinfo=timezone.utc) > now)
        assert got == f"{year}-02-29T12:00:00Z", got
    finally:
        client.call("DELETE", f"/streams/{stream['id']}")


def test_an_upload_that_meets_a_run_in_flight_waits_for_it_and_then_runs(client, files):
    """platform §6: "when an uploaded file whose name matches becomes READY, a run starts with that file as the
    bound input"; §5: one active run per stream (only a scheduled occurrence that meets one is skipped). Two
    matching uploads while the first run works: the second waits (QUEUED on the stream, naming the file) and
    starts its own run, with its own file bound, when the first ends — it was dropped (SKIPPED_RUN_ACTIVE) and
    never reconciled."""
    src, tgt = files
    rule_set = client.data("POST", "/rule-sets", {"name": "events", "passes": [{"name": "ref", "conditions": [
        {"source": "order_id", "target": "order_ref", "operator": "EQUALS"}]}]}, status=201)
    tag = uuid.uuid4().hex[:8]
    stream = client.data("POST", "/streams", {
        "name": f"bank files {tag}", "triggerType": "EVENT",
        "triggerConfig": {"event": "FILE_UPLOADED", "filenamePattern": f"bank_{tag}_*.csv",
                          "bind": {"stepOrder": 1, "input": "TARGET"}},
        "steps": [{"stepOrder": 1, "name": "held [hold=8]", "sourceInput": {"type": "FILE", "id": src["id"]},
                   "targetInput": {"type": "FILE", "id": tgt["id"]}, "ruleSetId": rule_set["id"]}]}, status=201)
    try:
        first = client.data("POST", "/files", params={"filename": f"bank_{tag}_1.csv"}, data=CSV_TGT.encode(), status=201)
        runs = _poll(lambda: client.data("GET", f"/streams/{stream['id']}/runs")["items"], 60, "the first run")
        second = client.data("POST", "/files", params={"filename": f"bank_{tag}_2.csv"}, data=CSV_TGT.encode(), status=201)
        recent = _poll(lambda: (lambda r: r if len(r) == 2 else None)(
            client.data("GET", f"/streams/{stream['id']}")["recentOccurrences"]), 60, "both events recorded")
        assert [(o["status"], o["runId"]) for o in recent] == [("QUEUED", None), ("STARTED", runs[0]["id"])]
        assert str(second["id"]) in recent[0]["detail"] and str(first["id"]) in recent[1]["detail"], recent
        assert all(o["occurrenceAt"].endswith("Z") and o["late"] is False for o in recent)
        assert client.data("GET", f"/stream-runs/{runs[0]['id']}")["status"] in ("PENDING", "RUNNING")
        # the first run ends: the queued upload starts the second, with its own file bound
        both = _poll(lambda: (lambda r: r if len(r) == 2 else None)(
            client.data("GET", f"/streams/{stream['id']}/runs")["items"]), 90, "the queued upload's run")
        later = both[0]
        assert later["id"] != runs[0]["id"] and later["triggerType"] == "EVENT", later
        assert later["triggerMetadata"]["fileId"] == second["id"] and later["triggerMetadata"]["queuedAt"], later
        assert client.data("GET", f"/stream-runs/{runs[0]['id']}")["status"] == "COMPLETED"
        done = _poll(lambda: (lambda r: r if r["status"] not in ("PENDING", "RUNNING") else None)(
            client.data("GET", f"/stream-runs/{later['id']}")), 90, "the second run's end")
        assert done["status"] == "COMPLETED", done
        # its step reconciled the second file (every step run is a reconciliation, §7)
        steps = client.data("GET", f"/stream-runs/{later['id']}/steps")
        steps = steps["items"] if isinstance(steps, dict) else steps
        reconciliation = client.data("GET", f"/reconciliations/{steps[0]['reconciliationId']}")
        assert reconciliation["targetFileId"] == second["id"], reconciliation
        first_steps = client.data("GET", f"/stream-runs/{runs[0]['id']}/steps")
        first_steps = first_steps["items"] if isinstance(first_steps, dict) else first_steps
        assert client.data("GET", f"/reconciliations/{first_steps[0]['reconciliationId']}")["targetFileId"] == first["id"]
        recent = client.data("GET", f"/streams/{stream['id']}")["recentOccurrences"]
        assert [(o["status"], o["runId"]) for o in recent] == [("STARTED", later["id"]), ("STARTED", runs[0]["id"])]
    finally:
        client.call("DELETE", f"/streams/{stream['id']}")


def _scheduled(client, files, trigger_config: dict) -> requests.Response:
    """POST /streams of a one-step SCHEDULED stream with this triggerConfig."""
    src, tgt = files
    rule_set = client.data("POST", "/rule-sets", {"name": "schedules", "passes": [{"name": "ref", "conditions": [
        {"source": "order_id", "target": "order_ref", "operator": "EQUALS"}]}]}, status=201)
    return client.call("POST", "/streams", {
        "name": "schedules", "triggerType": "SCHEDULED", "triggerConfig": trigger_config,
        "steps": [{"stepOrder": 1, "name": "one", "sourceInput": {"type": "FILE", "id": src["id"]},
                   "targetInput": {"type": "FILE", "id": tgt["id"]}, "ruleSetId": rule_set["id"]}]})


def test_a_time_zone_spelled_in_another_case_is_refused_naming_the_zone_meant(client, files):
    """platform §6: `timezone` is an IANA name, and those are written exactly ("Europe/Berlin"): "europe/berlin",
    "utc" or "UTC " are TIMEZONE_INVALID. The message only said "(e.g. Europe/Berlin)" — for "europe/berlin"
    itself; it now names the zone the client meant."""
    for zone, meant in (("europe/berlin", "Europe/Berlin"), ("utc", "UTC"), ("UTC ", "UTC"),
                        ("AMERICA/NEW_YORK", "America/New_York"), ("Mars/Base", None)):
        r = _scheduled(client, files, {"cron": "0 30 2 * * *", "timezone": zone})
        assert r.status_code == 400, r.text
        (err,) = r.json()["errors"]
        assert (err["field"], err["code"]) == ("triggerConfig.timezone", "TIMEZONE_INVALID"), err
        assert err["message"].endswith(f'did you mean "{meant}"?' if meant else "(e.g. Europe/Berlin)"), (zone, err)


def test_an_invalid_cron_names_its_field_and_what_it_takes(client, files):
    """platform §1/§6: CRON_INVALID names the problem. The scheduler's parser answered "Bad day-of-month" for a
    day of 32, for February 30th and for April 31st alike, and "Bad minute" without the value; the message now
    says which field, its value, and what it takes — or that the day never occurs in those months."""
    for cron, words in (("0 0 0 30 2 *", "day-of-month '30' never occurs in month '2'"),
                        ("0 0 0 31 4,6 *", "day-of-month '31' never occurs in month '4,6'"),
                        ("0 0 0 32 * *", "the day-of-month field '32' is not valid (1-31 or L, "),
                        ("0 61 0 * * *", "the minute field '61' is not valid (0-59, "),
                        ("0 0 0 * * 8", "the day-of-week field '8' is not valid (0-7 or SUN-SAT, ")):
        r = _scheduled(client, files, {"cron": cron})
        assert r.status_code == 400, r.text
        (err,) = r.json()["errors"]
        assert (err["field"], err["code"]) == ("triggerConfig.cron", "CRON_INVALID"), err
        assert err["message"].startswith(f"invalid cron '{cron}': {words}"), err
