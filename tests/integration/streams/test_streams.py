"""Streams over HTTP: create, get, list with filters, update (new version), pause, resume, archive,
validation on save (400 listing every error) and POST /streams/{id}/validate with every error and
warning code, each naming the step and the field."""
from __future__ import annotations

from tests.integration.streams.conftest import SOURCE_CSV, TARGET_CSV, assert_error, rule_set_body, step

GATEWAY_CSV = "txn_id,order_ref,gross,settled_on,payer\nG1,O3,5.00,2026-02-03,Cy\n"


def _inputs(api, uid):
    src = api.upload(f"st_src_{uid}.csv", SOURCE_CSV)
    tgt = api.upload(f"st_tgt_{uid}.csv", TARGET_CSV)
    gw = api.upload(f"st_gw_{uid}.csv", GATEWAY_CSV)
    rs = api.rule_set()
    return src, tgt, gw, rs


def _definition(uid, src, tgt, gw, rs, **extra):
    body = {"name": f"Settlement {uid}", "description": "OMS to marketplace to gateway", "domain": f"D{uid}",
            "triggerType": "SCHEDULED", "triggerConfig": {"cron": "0 30 2 * * *", "timezone": "Europe/Berlin"},
            "steps": [step(1, ("FILE", src["id"]), ("FILE", tgt["id"]), rs["id"], continueOnFailure=False, maxRetries=1),
                      step(2, ("STEP_OUTPUT_UNMATCHED_SOURCE", 1), ("FILE", gw["id"]), rs["id"],
                           continueOnFailure=True, maxRetries=2)]}
    body.update(extra)
    return body


def test_create_get_update_lifecycle(api, uid):
    src, tgt, gw, rs = _inputs(api, uid)
    r = api.post("/streams", _definition(uid, src, tgt, gw, rs))
    assert r.status_code == 201, r.text
    created = r.json()["data"]
    assert set(created) >= {"id", "name", "status", "domain", "stepCount", "createdAt", "updatedAt"}
    assert (created["status"], created["stepCount"], created["domain"]) == ("ACTIVE", 2, f"D{uid}")
    sid = created["id"]

    s = api.get(f"/streams/{sid}").json()["data"]
    assert (s["triggerType"], s["triggerConfig"]) == ("SCHEDULED", {"cron": "0 30 2 * * *", "timezone": "Europe/Berlin"})
    assert s["description"] == "OMS to marketplace to gateway" and s["version"] == 1
    assert s["nextRunAt"] is not None and s["nextRunAt"].endswith("Z")
    st1, st2 = s["steps"]
    assert st1["stepOrder"] == 1 and st1["sourceInput"] == {"type": "FILE", "id": src["id"]}
    assert st1["config"] == {"continueOnFailure": False, "maxRetries": 1}
    assert st2["sourceInput"] == {"type": "STEP_OUTPUT_UNMATCHED_SOURCE", "id": 1}
    assert st2["config"] == {"continueOnFailure": True, "maxRetries": 2} and st2["ruleSetId"] == rs["id"]

    # PUT replaces name, trigger and steps: a new version with new step ids
    new = {"name": f"Settlement {uid} v2", "triggerType": "MANUAL",
           "steps": [step(1, ("FILE", src["id"]), ("FILE", tgt["id"]), rs["id"])]}
    r = api.put(f"/streams/{sid}", new)
    assert r.status_code == 200, r.text
    s2 = r.json()["data"]
    assert (s2["version"], s2["name"], s2["triggerType"], s2["triggerConfig"], s2["nextRunAt"]) == (
        2, f"Settlement {uid} v2", "MANUAL", None, None)
    assert len(s2["steps"]) == 1 and s2["steps"][0]["id"] not in (st1["id"], st2["id"])
    assert s2["steps"][0]["config"] == {"continueOnFailure": False, "maxRetries": 0}
    assert s2["description"] is None and s2["createdAt"] == s["createdAt"]
    assert s2["domain"] == f"D{uid}"       # not part of what a PUT replaces unless given
    s3 = api.put(f"/streams/{sid}", {**new, "domain": None}).json()["data"]
    assert (s3["domain"], s3["version"]) == (None, 3)


def test_pause_resume_archive(api, uid):
    src, tgt, gw, rs = _inputs(api, uid)
    sid = api.stream(_definition(uid, src, tgt, gw, rs))["id"]
    r = api.post(f"/streams/{sid}/pause")
    assert r.status_code == 200 and r.json()["data"]["status"] == "PAUSED"
    assert r.json()["data"]["nextRunAt"] is None
    assert api.post(f"/streams/{sid}/pause").json()["data"]["status"] == "PAUSED"   # repeat: no-op
    r = api.post(f"/streams/{sid}/resume")
    assert r.status_code == 200 and r.json()["data"]["status"] == "ACTIVE"
    r = api.delete(f"/streams/{sid}")
    assert r.status_code == 200 and r.json()["data"]["status"] == "ARCHIVED"
    assert api.get(f"/streams/{sid}").json()["data"]["status"] == "ARCHIVED"
    assert api.delete(f"/streams/{sid}").status_code == 200
    assert_error(api.post(f"/streams/{sid}/resume"), 409, "CONFLICT")
    assert_error(api.post(f"/streams/{sid}/pause"), 409, "CONFLICT")
    assert_error(api.put(f"/streams/{sid}", _definition(uid, src, tgt, gw, rs)), 409, "CONFLICT")


def test_unknown_streams(api):
    for r in (api.get("/streams/77777777"), api.put("/streams/77777777", {"name": "x", "steps": []}),
              api.post("/streams/77777777/pause"), api.post("/streams/77777777/resume"),
              api.delete("/streams/77777777"), api.post("/streams/77777777/validate")):
        if r.status_code == 400:          # the PUT body is checked first
            continue
        body = assert_error(r, 404, "NOT_FOUND")
        assert body["message"] == "Stream 77777777 not found"


def test_list_filters(api, uid):
    src, tgt, gw, rs = _inputs(api, uid)
    a = api.stream(_definition(uid, src, tgt, gw, rs, name="a"))
    b = api.stream(_definition(uid, src, tgt, gw, rs, name="b"))
    c = api.stream(_definition(uid, src, tgt, gw, rs, name="c", domain=f"E{uid}"))
    api.post(f"/streams/{b['id']}/pause")
    page = api.get("/streams", domain=f"D{uid}").json()["data"]
    assert [i["id"] for i in page["items"]] == [b["id"], a["id"]] and page["totalItems"] == 2
    assert page["items"][0]["stepCount"] == 2
    paused = api.get("/streams", domain=f"D{uid}", status="PAUSED").json()["data"]
    assert [i["id"] for i in paused["items"]] == [b["id"]]
    assert [i["id"] for i in api.get("/streams", domain=f"E{uid}").json()["data"]["items"]] == [c["id"]]
    p1 = api.get("/streams", domain=f"D{uid}", pageSize=1, page=2).json()["data"]
    assert [i["id"] for i in p1["items"]] == [a["id"]] and p1["totalPages"] == 2
    assert_error(api.get("/streams", status="RUNNING"), 400, "VALIDATION_ERROR", ("status", "INVALID_VALUE"))


def test_structural_errors_are_all_listed(api, uid):
    src, tgt, gw, rs = _inputs(api, uid)
    bad = api.upload(f"st_bad_{uid}.csv", "a,b\n1\n")
    body = {"name": "broken", "triggerType": "SCHEDULED", "triggerConfig": {"cron": "*/5 * * * *", "timezone": "Mars/Olympus"},
            "steps": [step(1, ("FILE", bad["id"]), ("FILE", 98765432), 98765432),
                      step(3, ("STEP_OUTPUT_UNMATCHED_TARGET", 3), ("DATA_SOURCE_SNAPSHOT", 98765432), rs["id"])]}
    r = api.post("/streams", body)
    assert_error(r, 400, "VALIDATION_ERROR",
                 ("steps[1].stepOrder", "STEP_ORDER_INVALID"),
                 ("steps[1].sourceInput.id", "STEP_INPUT_FORWARD_REFERENCE"),
                 ("steps[0].sourceInput.id", "FILE_NOT_READY"),
                 ("steps[0].targetInput.id", "FILE_NOT_FOUND"),
                 ("steps[0].ruleSetId", "RULE_SET_NOT_FOUND"),
                 ("steps[1].targetInput.id", "DATA_SOURCE_NOT_FOUND"),
                 ("triggerConfig.cron", "CRON_INVALID"),
                 ("triggerConfig.timezone", "TIMEZONE_INVALID"))
    msgs = {e["code"]: e["message"] for e in r.json()["errors"]}
    assert msgs["RULE_SET_NOT_FOUND"] == "rule set 98765432 not found"   # the field names the step
    assert msgs["DATA_SOURCE_NOT_FOUND"].startswith("data source ")
    # nothing was stored
    assert api.get("/streams", domain="broken").json()["data"]["totalItems"] == 0


def test_a_malformed_body_lists_its_broken_references_and_the_request_s_other_problems_too(api, uid):
    src, tgt, _, rs = _inputs(api, uid)
    bad = api.upload(f"st_bad2_{uid}.csv", "a,b\n1\n")
    first = step(1, ("FILE", src["id"]), ("FILE", tgt["id"]), rs["id"])
    del first["name"]   # a shape problem in step 1 ...
    body = {"name": "", "steps": [first, step(2, ("FILE", bad["id"]), ("DATA_SOURCE_SNAPSHOT", 98765431), 98765432)]}
    r = api.post("/streams", body)
    # ... and the top-level one hide nothing of step 2, which is well formed
    errors = assert_error(r, 400, "VALIDATION_ERROR", ("name", "TOO_SHORT"), ("steps[0].name", "REQUIRED"),
                          ("steps[1].sourceInput.id", "FILE_NOT_READY"),
                          ("steps[1].targetInput.id", "DATA_SOURCE_NOT_FOUND"),
                          ("steps[1].ruleSetId", "RULE_SET_NOT_FOUND"))["errors"]
    assert len(errors) == 5, errors   # step 1's references exist: nothing said of them
    msgs = {e["field"]: e["message"] for e in errors}
    assert msgs["steps[1].ruleSetId"] == "Step 2: rule set 98765432 not found"
    # an unknown query parameter and an id that is not one hide nothing of the body either
    assert_error(api.post("/streams?dryRun=1", {"name": 5, "steps": [step(1, ("FILE", 98765433), ("FILE", tgt["id"]),
                                                                              rs["id"])]}),
                 400, "VALIDATION_ERROR", ("dryRun", "UNKNOWN_FIELD"), ("name", "INVALID_TYPE"),
                 ("steps[0].sourceInput.id", "FILE_NOT_FOUND"))
    assert_error(api.put("/streams/abc", {"name": 5}), 400, "VALIDATION_ERROR", ("id", "INVALID_TYPE"),
                 ("name", "INVALID_TYPE"), ("steps", "REQUIRED"))
    assert api.get("/streams", domain="broken").json()["data"]["totalItems"] == 0


def test_type_errors_and_unknown_fields(api):
    r = api.post("/streams", {"name": "x", "triggerType": "HOURLY", "color": "red", "steps": [
        {"stepOrder": "1", "name": "s", "sourceInput": {"type": "URL", "id": 1}, "targetInput": {"type": "FILE"},
         "ruleSetId": 1, "config": {"retries": 2}}]})
    assert_error(r, 400, "VALIDATION_ERROR", ("triggerType", "INVALID_VALUE"), ("color", "UNKNOWN_FIELD"),
                 ("steps[0].stepOrder", "INVALID_TYPE"), ("steps[0].sourceInput.type", "INVALID_VALUE"),
                 ("steps[0].targetInput.id", "REQUIRED"), ("steps[0].config.retries", "UNKNOWN_FIELD"))
    assert_error(api.post("/streams", {"name": "x", "steps": []}), 400, "VALIDATION_ERROR", ("steps", "TOO_SHORT"))


def test_cron_rules(api, uid):
    src, tgt, gw, rs = _inputs(api, uid)
    one = [step(1, ("FILE", src["id"]), ("FILE", tgt["id"]), rs["id"])]
    for cron in ("0 30 2 ? * MON-FRI", "15 0 */2 1,15 JAN-JUN *", "0 0 0 * * SUN"):
        r = api.post("/streams", {"name": "c", "triggerType": "SCHEDULED", "triggerConfig": {"cron": cron}, "steps": one})
        assert r.status_code == 201, (cron, r.text)
    for cron in ("*/10 * * * * *", "0 61 * * * *", "0 0 0 * *", "0-5 * * * * *", 5):
        r = api.post("/streams", {"name": "c", "triggerType": "SCHEDULED", "triggerConfig": {"cron": cron}, "steps": one})
        assert_error(r, 400, "VALIDATION_ERROR", ("triggerConfig.cron", "CRON_INVALID"))
    r = api.post("/streams", {"name": "c", "triggerType": "SCHEDULED", "triggerConfig": {}, "steps": one})
    assert_error(r, 400, "VALIDATION_ERROR", ("triggerConfig.cron", "CRON_INVALID"))
    r = api.post("/streams", {"name": "c", "triggerType": "MANUAL", "triggerConfig": {"cron": "0 0 0 * * *"},
                              "steps": one})
    assert_error(r, 400, "VALIDATION_ERROR", ("triggerConfig", "INVALID_VALUE"))


def test_event_trigger_config(api, uid):
    src, tgt, gw, rs = _inputs(api, uid)
    one = [step(1, ("FILE", src["id"]), ("FILE", tgt["id"]), rs["id"])]
    ok_cfg = {"event": "FILE_UPLOADED", "filenamePattern": "bank_*.csv", "bind": {"stepOrder": 1, "input": "TARGET"}}
    r = api.post("/streams", {"name": "e", "triggerType": "EVENT", "triggerConfig": ok_cfg, "steps": one})
    assert r.status_code == 201, r.text
    follower = {"event": "STREAM_RUN_COMPLETED", "streamId": r.json()["data"]["id"]}
    assert api.post("/streams", {"name": "f", "triggerType": "EVENT", "triggerConfig": follower, "steps": one}).status_code == 201
    bad = {"event": "FILE_UPLOADED", "bind": {"stepOrder": 4, "input": "LEFT"}}
    assert_error(api.post("/streams", {"name": "e", "triggerType": "EVENT", "triggerConfig": bad, "steps": one}),
                 400, "VALIDATION_ERROR", ("triggerConfig.filenamePattern", "REQUIRED"),
                 ("triggerConfig.bind.stepOrder", "INVALID_VALUE"), ("triggerConfig.bind.input", "INVALID_VALUE"))
    assert_error(api.post("/streams", {"name": "e", "triggerType": "EVENT",
                                       "triggerConfig": {"event": "STREAM_RUN_COMPLETED", "streamId": 99999999},
                                       "steps": one}),
                 400, "VALIDATION_ERROR", ("triggerConfig.streamId", "STREAM_NOT_FOUND"))


def test_following_an_archived_stream_is_an_error(api, uid):
    # an archived stream never runs again: a stream started by its completions would never start
    src, tgt, gw, rs = _inputs(api, uid)
    one = [step(1, ("FILE", src["id"]), ("FILE", tgt["id"]), rs["id"])]
    upstream = api.stream({"name": f"up {uid}", "triggerType": "MANUAL", "steps": one})["id"]
    follows = {"name": f"f {uid}", "triggerType": "EVENT", "steps": one,
               "triggerConfig": {"event": "STREAM_RUN_COMPLETED", "streamId": upstream}}
    follower = api.stream(follows)["id"]
    assert api.post(f"/streams/{follower}/validate").json()["data"]["valid"] is True
    assert api.delete(f"/streams/{upstream}").json()["data"]["status"] == "ARCHIVED"
    checked = api.post(f"/streams/{follower}/validate").json()["data"]
    assert checked["valid"] is False
    assert checked["errors"] == [{"field": "triggerConfig.streamId", "code": "STREAM_ARCHIVED",
                                  "message": f"stream {upstream} is ARCHIVED: it never runs again, so its completions "
                                             "never start this stream"}]
    assert_error(api.post("/streams", follows), 400, "VALIDATION_ERROR", ("triggerConfig.streamId", "STREAM_ARCHIVED"))
    # a paused stream may be resumed: following it is fine
    paused = api.stream({"name": f"paused {uid}", "triggerType": "MANUAL", "steps": one})["id"]
    api.post(f"/streams/{paused}/pause")
    r = api.put(f"/streams/{follower}", {**follows, "triggerConfig": {"event": "STREAM_RUN_COMPLETED", "streamId": paused}})
    assert r.status_code == 200, r.text


def test_rule_fields_checked_against_each_steps_input(api, uid):
    src, tgt, gw, rs = _inputs(api, uid)
    # step 2 reads step 1's unmatched *target* rows (marketplace columns) as its source: order_id is absent
    body = _definition(uid, src, tgt, gw, rs)
    body["steps"][1]["sourceInput"] = {"type": "STEP_OUTPUT_UNMATCHED_TARGET", "id": 1}
    r = api.post("/streams", body)
    err = assert_error(r, 400, "VALIDATION_ERROR", ("steps[1].ruleSetId", "RULE_FIELD_MISSING"))
    msg = next(e["message"] for e in err["errors"] if e["code"] == "RULE_FIELD_MISSING")
    assert msg.startswith("rule set ") and "'order_id'" in msg and "source input" in msg


def test_validate_reports_todays_state(api, db, uid):
    src, tgt, gw, rs = _inputs(api, uid)
    s = api.stream({"name": f"v {uid}", "steps": [
        step(1, ("FILE", src["id"]), ("FILE", tgt["id"]), rs["id"]),
        step(2, ("FILE", src["id"]), ("FILE", gw["id"]), rs["id"])]})
    r = api.post(f"/streams/{s['id']}/validate")
    assert r.status_code == 200
    v = r.json()["data"]
    assert v["valid"] is True and v["errors"] == []
    # step 1's unmatched rows feed nothing: a warning naming step 1
    assert [(w["field"], w["code"]) for w in v["warnings"]] == [("steps[0]", "STEP_OUTPUT_UNUSED")]
    assert v["warnings"][0]["message"].startswith("Step 1")

    # today: the gateway file has more than a million rows, the rule set is gone, a file is back to processing
    db.execute("UPDATE recon.files SET row_count = 1200000 WHERE file_id = %s", (gw["id"],))
    db.execute("UPDATE recon.files SET status = 'PROCESSING' WHERE file_id = %s", (tgt["id"],))
    db.execute("UPDATE recon.rule_sets SET deleted_at = now() WHERE rule_set_id = %s", (rs["id"],))
    v = api.post(f"/streams/{s['id']}/validate").json()["data"]
    assert v["valid"] is False
    codes = {(e["field"], e["code"]) for e in v["errors"]}
    assert ("steps[0].targetInput.id", "FILE_NOT_READY") in codes
    assert ("steps[0].ruleSetId", "RULE_SET_NOT_FOUND") in codes and ("steps[1].ruleSetId", "RULE_SET_NOT_FOUND") in codes
    large = [w for w in v["warnings"] if w["code"] == "STEP_TARGET_FILE_LARGE"]
    assert [(w["field"], w["message"]) for w in large] == [
        ("steps[1].targetInput.id", "Step 2 target file has 1.2M rows; consider schedule window.")]


def test_validate_file_not_found_and_stale_columns(api, db, uid):
    src, tgt, gw, rs = _inputs(api, uid)
    s = api.stream({"name": f"v2 {uid}", "steps": [step(1, ("FILE", src["id"]), ("FILE", tgt["id"]), rs["id"])]})
    # the rule set moves on to columns the input does not have
    r = api.put(f"/rule-sets/{rs['id']}", {"name": "renamed", "passes": [{"name": "p", "conditions": [
        {"source": "order_no", "target": "order_ref", "operator": "EQUALS"}]}]})
    assert r.status_code == 200
    v = api.post(f"/streams/{s['id']}/validate").json()["data"]
    assert ("steps[0].ruleSetId", "RULE_FIELD_MISSING") in {(e["field"], e["code"]) for e in v["errors"]}
    db.execute("UPDATE recon.stream_steps SET target_id = 99999991 WHERE stream_id = %s", (s["id"],))
    v = api.post(f"/streams/{s['id']}/validate").json()["data"]
    assert ("steps[0].targetInput.id", "FILE_NOT_FOUND") in {(e["field"], e["code"]) for e in v["errors"]}


def test_validate_reads_a_postgres_data_sources_columns(api, db, uid):
    """POST /validate reads a POSTGRES data source as its test does: a rule-set column its query lacks is
    RULE_FIELD_MISSING, a source that cannot be read now a DATA_SOURCE_UNREADABLE warning (the run would fail
    on it). Saving does not connect to sources."""
    tgt = api.upload(f"vds_tgt_{uid}.csv", TARGET_CSV)
    rs = api.rule_set()
    table = f"vds_orders_{uid}"
    db.execute(f"CREATE TABLE public.{table} (order_id text, amount numeric(18,2))")
    ds = api.post("/data-sources", {"name": f"vds {uid}", "type": "POSTGRES",
                                    "config": {"query": f"SELECT order_id FROM public.{table}"}}).json()["data"]
    s = api.stream({"name": f"vds {uid}", "steps": [step(1, ("DATA_SOURCE_SNAPSHOT", ds["id"]), ("FILE", tgt["id"]),
                                                          rs["id"])]})
    v = api.post(f"/streams/{s['id']}/validate").json()["data"]
    assert v["valid"] is False, v
    missing = [e for e in v["errors"] if e["code"] == "RULE_FIELD_MISSING"]
    assert [e["field"] for e in missing] == ["steps[0].ruleSetId"], v
    assert "'amount', absent from the source input (columns: order_id)" in missing[0]["message"], missing
    r = api.put(f"/data-sources/{ds['id']}", {"name": f"vds {uid}", "type": "POSTGRES", "version": ds["version"],
                                              "config": {"query": f"SELECT order_id, amount FROM public.{table}_gone"}})
    assert r.status_code == 200, r.text
    v = api.post(f"/streams/{s['id']}/validate").json()["data"]
    assert v["valid"] is True and v["errors"] == [], v
    unreadable = [w for w in v["warnings"] if w["code"] == "DATA_SOURCE_UNREADABLE"]
    assert [w["field"] for w in unreadable] == ["steps[0].sourceInput.id"], v
    assert unreadable[0]["message"].startswith(f"Step 1: source data source {ds['id']} cannot be read now: ")
    assert "does not exist" in unreadable[0]["message"], unreadable


def test_names_must_not_be_blank(api, uid):
    """A name of only white space names nothing: 400 at its field, for every named thing the API stores."""
    src = api.upload(f"blank_src_{uid}.csv", SOURCE_CSV)
    tgt = api.upload(f"blank_tgt_{uid}.csv", TARGET_CSV)
    rs = api.rule_set()
    one = step(1, ("FILE", src["id"]), ("FILE", tgt["id"]), rs["id"])
    assert_error(api.post("/streams", {"name": "   ", "steps": [{**one, "name": "\t"}]}), 400, "VALIDATION_ERROR",
                 ("name", "INVALID_VALUE"), ("steps[0].name", "INVALID_VALUE"))
    created = api.stream({"name": f"blank {uid}", "steps": [one]})
    assert_error(api.put(f"/streams/{created['id']}", {"name": " ", "steps": [one]}), 400, "VALIDATION_ERROR",
                 ("name", "INVALID_VALUE"))
    body = rule_set_body(name="  ")
    body["passes"][0]["name"] = " "
    assert_error(api.post("/rule-sets", body), 400, "VALIDATION_ERROR", ("name", "INVALID_VALUE"),
                 ("passes[0].name", "INVALID_VALUE"))
    assert_error(api.put(f"/rule-sets/{rs['id']}", rule_set_body(name="\n")), 400, "VALIDATION_ERROR",
                 ("name", "INVALID_VALUE"))
    assert_error(api.post("/rule-sets", rule_set_body(sourceKey="", targetKey=" ")), 400, "VALIDATION_ERROR",
                 ("sourceKey", "INVALID_VALUE"), ("targetKey", "INVALID_VALUE"))
    assert_error(api.post("/data-sources", {"name": " ", "type": "CDC_TABLE", "config": {"table": "orders"}}),
                 400, "VALIDATION_ERROR", ("name", "INVALID_VALUE"))
    assert_error(api.post("/reconciliations", {"name": " ", "sourceFileId": src["id"], "targetFileId": tgt["id"],
                                               "ruleSetId": rs["id"]}), 400, "VALIDATION_ERROR",
                 ("name", "INVALID_VALUE"))
    assert api.get(f"/rule-sets/{rs['id']}").json()["data"]["version"] == 1   # nothing was written


def test_resuming_a_stream_does_not_catch_up_the_occurrences_of_its_pause(api, db, uid):
    """platform §6: occurrences missed while the *service* was down are run once when it is back. A
    paused stream is not down: on resume its schedule counts from the resume, so the occurrences that
    fell in the pause do not start a (late) run."""
    from datetime import datetime, timezone

    from chalicelib.streams import definitions, schedules

    src, tgt = api.upload(f"s_{uid}.csv", SOURCE_CSV), api.upload(f"t_{uid}.csv", TARGET_CSV)
    rs = api.rule_set(name=f"rs {uid}")
    second = (datetime.now(timezone.utc).second + 30) % 60   # never due in the instants this test spans
    s = api.stream({"name": f"paused {uid}", "triggerType": "SCHEDULED",
                    "triggerConfig": {"cron": f"{second} * * * * *", "timezone": "UTC"},
                    "steps": [step(1, ("FILE", src["id"]), ("FILE", tgt["id"]), rs["id"])]})
    assert api.post(f"/streams/{s['id']}/pause").status_code == 200
    # the last tick saw the stream ten minutes ago, before the pause: ten occurrences fell in it
    db.execute("INSERT INTO recon.stream_schedule_cursors (stream_id, checked_until) VALUES (%s, now() - interval"
               " '10 minutes') ON CONFLICT (stream_id) DO UPDATE SET checked_until = excluded.checked_until", (s["id"],))
    assert api.post(f"/streams/{s['id']}/resume").status_code == 200
    stream = next(x for x in definitions.active_streams("SCHEDULED") if x["stream_id"] == s["id"])
    assert schedules._dispatch_stream(stream, datetime.now(timezone.utc)) == []
    assert db.execute("SELECT count(*) AS n FROM recon.stream_schedule_claims WHERE stream_id = %s",
                      (s["id"],)).fetchone()["n"] == 0
    assert api.get(f"/streams/{s['id']}/runs").json()["data"]["totalItems"] == 0
    api.delete(f"/streams/{s['id']}")
