"""Rule sets over HTTP: create (validated by the engine's model, every problem located), versions,
list, delete and its conflict."""
from __future__ import annotations

import json
from pathlib import Path

from tests.integration.streams.conftest import SOURCE_CSV, TARGET_CSV, assert_error, rule_set_body, step

ROOT = Path(__file__).resolve().parents[3]


def test_create_get_and_versions(api, uid):
    rs = api.rule_set(name=f"rs {uid}")
    assert rs["version"] == 1 and rs["latestVersion"] == 1 and rs["name"] == f"rs {uid}"
    assert rs["sourceKey"] == "order_id" and rs["passes"][0]["conditions"][0]["normalize"] == ["TRIM", "UPPER"]
    v2_body = rule_set_body(name=f"rs {uid} v2", passes=[
        {"name": "Tolerance", "cardinality": "ONE_TO_ONE",
         "conditions": [{"source": "order_id", "target": "order_ref", "operator": "EQUALS"},
                        {"source": "amount", "target": "gross", "operator": "AMOUNT_TOLERANCE", "absolute": 0.01}]}])
    r = api.put(f"/rule-sets/{rs['id']}", v2_body)
    assert r.status_code == 200, r.text
    v2 = r.json()["data"]
    assert (v2["id"], v2["version"], v2["latestVersion"], v2["name"]) == (rs["id"], 2, 2, f"rs {uid} v2")
    latest = api.get(f"/rule-sets/{rs['id']}").json()["data"]
    assert latest["version"] == 2 and latest["passes"][0]["name"] == "Tolerance"
    old = api.get(f"/rule-sets/{rs['id']}", version=1).json()["data"]
    assert (old["version"], old["latestVersion"], old["name"]) == (1, 2, f"rs {uid}")
    assert old["passes"][0]["name"] == "Exact reference and amount"
    body = assert_error(api.get(f"/rule-sets/{rs['id']}", version=3), 404, "NOT_FOUND")
    assert "version 3" in body["message"]
    assert_error(api.get(f"/rule-sets/{rs['id']}", version=0), 400, "VALIDATION_ERROR", ("version", "OUT_OF_RANGE"))


def test_every_problem_is_listed_with_its_path(api):
    bad = {"name": "", "bogus": 1, "passes": [
        {"name": "p1", "conditions": [
            {"source": "a", "target": "b", "operator": "SIMILARITY", "algorithm": "JARO_WINKLER", "threshold": 1.5}]},
        {"name": "p2", "cardinality": "SIDEWAYS", "conditions": []}]}
    body = assert_error(api.post("/rule-sets", bad), 400, "VALIDATION_ERROR",
                        ("name", "TOO_SHORT"), ("bogus", "UNKNOWN_FIELD"),
                        ("passes[0].conditions[0].threshold", "INVALID_VALUE"),
                        ("passes[1].cardinality", "INVALID_VALUE"))
    assert len(body["errors"]) >= 4


def test_similarity_alone_is_refused(api):
    body = rule_set_body(passes=[{"name": "fuzzy only", "conditions": [
        {"source": "customer", "target": "payer", "operator": "SIMILARITY", "algorithm": "JARO_WINKLER",
         "threshold": 0.9}]}])
    r = api.post("/rule-sets", body)
    assert_error(r, 400, "VALIDATION_ERROR")
    assert any(e["field"].startswith("passes[0]") for e in r.json()["errors"])


def test_a_pass_s_own_rules_are_listed_beside_problems_elsewhere(api):
    fuzzy_only = {"name": "fuzzy only", "conditions": [
        {"source": "customer", "target": "payer", "operator": "SIMILARITY", "algorithm": "JARO_WINKLER", "threshold": 0.9}]}
    bad = {"name": "r", "passes": [fuzzy_only, {"name": "p2", "colour": "red", "conditions": [
        {"source": "a", "target": "b", "operator": "EQUALS"}]}]}
    body = assert_error(api.post("/rule-sets", bad), 400, "VALIDATION_ERROR", ("passes[1].colour", "UNKNOWN_FIELD"),
                        ("passes[0].conditions[0]", "INVALID_VALUE"))
    assert any("EQUALS or DATE_WINDOW" in e["message"] for e in body["errors"]), body
    assert len(body["errors"]) == 2, body
    # the same on a PUT whose path id is not one
    assert_error(api.put("/rule-sets/x1", bad), 400, "VALIDATION_ERROR", ("id", "INVALID_TYPE"),
                 ("passes[1].colour", "UNKNOWN_FIELD"), ("passes[0].conditions[0]", "INVALID_VALUE"))


def test_malformed_json_and_unknown_ids(api):
    r = api.s.post(api.url + "/rule-sets", data=b"{not json", headers={"Content-Type": "application/json"}, timeout=30)
    assert_error(r, 400, "VALIDATION_ERROR", ("body", "MALFORMED_JSON"))
    assert_error(api.get("/rule-sets/888888888"), 404, "NOT_FOUND")
    assert_error(api.put("/rule-sets/888888888", rule_set_body()), 404, "NOT_FOUND")
    assert_error(api.delete("/rule-sets/888888888"), 404, "NOT_FOUND")


def test_list_newest_first(api, uid):
    a = api.rule_set(name=f"list {uid} a")
    b = api.rule_set(name=f"list {uid} b")
    page = api.get("/rule-sets", name=f"list {uid}").json()["data"]
    assert [i["id"] for i in page["items"]] == [b["id"], a["id"]]
    assert page["totalItems"] == 2 and page["items"][0]["passCount"] == 1


def test_delete_conflicts_while_used(api, uid):
    src = api.upload(f"rsdel_src_{uid}.csv", SOURCE_CSV)
    tgt = api.upload(f"rsdel_tgt_{uid}.csv", TARGET_CSV)
    rs = api.rule_set(name=f"used {uid}")
    stream = api.stream({"name": f"rs user {uid}", "steps": [step(1, ("FILE", src["id"]), ("FILE", tgt["id"]), rs["id"])]})
    body = assert_error(api.delete(f"/rule-sets/{rs['id']}"), 409, "CONFLICT")
    assert f"stream {stream['id']}" in body["message"]
    assert api.delete(f"/streams/{stream['id']}").status_code == 200
    r = api.delete(f"/rule-sets/{rs['id']}")
    assert r.status_code == 200 and r.json()["data"] == {"id": rs["id"], "deleted": True}
    assert_error(api.get(f"/rule-sets/{rs['id']}"), 404, "NOT_FOUND")
    assert rs["id"] not in [i["id"] for i in api.get("/rule-sets", name=f"used {uid}").json()["data"]["items"]]


def test_numbers_of_a_condition_are_not_taken_from_other_json_types(api):
    """Wrong types are a 400 (platform §1): a threshold "0.9" or true, days "1", 1.0 or true are not numbers.
    The OpenAPI document declares them number / integer, as the nested models are validated strictly."""
    def with_condition(extra: dict) -> dict:
        return rule_set_body(passes=[{"name": "p", "cardinality": "ONE_TO_ONE", "conditions": [
            {"source": "order_id", "target": "order_ref", "operator": "EQUALS"},
            {"source": "order_date", "target": "settled_on", "operator": "DATE_WINDOW", "daysBefore": 0, "daysAfter": 0},
            {"source": "customer", "target": "payer", "operator": "SIMILARITY", "algorithm": "JARO_WINKLER",
             "threshold": 0.9}, *([extra] if extra else [])]}])
    body = with_condition({})
    body["passes"][0]["conditions"][2]["threshold"] = "0.9"
    assert_error(api.post("/rule-sets", body), 400, "VALIDATION_ERROR",
                 ("passes[0].conditions[2].threshold", "INVALID_TYPE"))
    body["passes"][0]["conditions"][2]["threshold"] = True
    assert_error(api.post("/rule-sets", body), 400, "VALIDATION_ERROR",
                 ("passes[0].conditions[2].threshold", "INVALID_TYPE"))
    for days in ("1", 1.0, True):
        body = with_condition({})
        body["passes"][0]["conditions"][1]["daysAfter"] = days
        assert_error(api.post("/rule-sets", body), 400, "VALIDATION_ERROR",
                     ("passes[0].conditions[1].daysAfter", "INVALID_TYPE"))
    body = with_condition({})
    body["passes"][0]["conditions"][2]["threshold"] = 1   # an integer is a number
    assert api.post("/rule-sets", body).status_code == 201


def test_a_rule_set_reads_back_in_the_order_it_was_written(api):
    """platform §3's example, posted and read back: each pass and condition keeps the document's key order
    (name, cardinality, groupBy, conditions; source, target, operator, then the operator's options), not
    the stored jsonb order (daysAfter before daysBefore, cardinality last)."""
    sent = json.loads((ROOT / "docs" / "examples" / "rule-set-four-pass.json").read_text())
    r = api.post("/rule-sets", sent)
    assert r.status_code == 201, r.text
    for got in (r.json()["data"], api.get(f"/rule-sets/{r.json()['data']['id']}").json()["data"]):
        for sent_pass, got_pass in zip(sent["passes"], got["passes"], strict=True):
            assert [k for k in got_pass if k in sent_pass] == list(sent_pass), got_pass
            for sent_c, got_c in zip(sent_pass["conditions"], got_pass["conditions"], strict=True):
                assert [k for k in got_c if k in sent_c] == list(sent_c), got_c


def test_tolerances_are_finite_and_bounded(api):
    """A tolerance must read back as the number written: "NaN" is refused in words, and one beyond 10^15
    (1e999 read back as null) is OUT_OF_RANGE; 10^15 itself is kept."""
    def with_absolute(value) -> dict:
        return rule_set_body(passes=[{"name": "p", "cardinality": "ONE_TO_ONE", "conditions": [
            {"source": "order_id", "target": "order_ref", "operator": "EQUALS"},
            {"source": "amount", "target": "gross", "operator": "AMOUNT_TOLERANCE", "absolute": value}]}])
    body = assert_error(api.post("/rule-sets", with_absolute("NaN")), 400, "VALIDATION_ERROR",
                        ("passes[0].conditions[1].absolute", "INVALID_VALUE"))
    assert body["errors"][0]["message"] == 'must be a finite number (got "NaN")', body
    for value in ("1e999", 1e300):
        assert_error(api.post("/rule-sets", with_absolute(value)), 400, "VALIDATION_ERROR",
                     ("passes[0].conditions[1].absolute", "OUT_OF_RANGE"))
    r = api.post("/rule-sets", with_absolute(10 ** 15))
    assert r.status_code == 201, r.text
    assert api.get(f"/rule-sets/{r.json()['data']['id']}").json()["data"]["passes"][0]["conditions"][1]["absolute"] \
        == 10 ** 15
