"""platform §4: a run in flight keeps the definition it started with — its steps' rule sets included.
A rule set edited while step 1 runs does not change what step 2 matches with: every step run uses, and
records, the version its rule set had when the run was created."""
from __future__ import annotations

from chalicelib.demo import streams_demo
from tests.e2e.test_stream_runs import _data, _run, _stream, setup, steps_of, wait_run  # noqa: F401 — setup is a fixture


def test_a_rule_set_edited_during_a_run_is_used_by_the_next_run_only(api, setup):  # noqa: F811
    gateway = setup["rule_sets"]["gateway"]
    before = _data(api.get(f"/rule-sets/{gateway}"))
    stream_id = _stream(api, setup, steps=2, names={1: "Orders vs marketplace [hold=6]"})
    run_id = _run(api, stream_id)
    wait_run(api, run_id, until=lambda r: r["status"] == "RUNNING", deadline_s=60)
    # every step run shows the version it uses from the start on: the held step's and the pending one's
    # (they read null until the worker had loaded the rule set, and failed or canceled attempts kept null)
    held = {s["stepOrder"]: s for s in steps_of(api, run_id)}
    assert held[1]["status"] == "IN_PROGRESS", held
    assert held[1]["ruleSetVersion"] == _data(api.get(f"/rule-sets/{held[1]['ruleSetId']}"))["version"], held
    assert (held[2]["status"], held[2]["ruleSetVersion"]) == ("PENDING", before["version"]), held
    # while step 1 is held: step 2's rule set gets a new version whose only pass has another name
    body = dict(streams_demo.rule_sets()["gateway"])
    body["name"] = before["name"] + " (edited)"
    body["passes"] = [dict(p, name="Edited " + p["name"]) for p in body["passes"]]
    edited = _data(api.s.put(f"{api.url}/rule-sets/{gateway}", json=body, timeout=30))
    assert edited["version"] == before["version"] + 1
    assert wait_run(api, run_id)["status"] == "COMPLETED"
    step2 = next(s for s in steps_of(api, run_id) if s["stepOrder"] == 2)
    assert step2["ruleSetVersion"] == before["version"], step2
    # the next run takes the new version
    again = _run(api, stream_id)
    assert wait_run(api, again)["status"] == "COMPLETED"
    assert {s["stepOrder"]: s["ruleSetVersion"] for s in steps_of(api, again)}[2] == edited["version"]
