"""Sequences and interactions a demanding user meets, end to end over HTTP against the running stack:
requests that race each other, and actions taken while a run is in flight."""
from __future__ import annotations

import concurrent.futures as cf
import uuid

from tests.e2e.test_stream_runs import _data, _run, wait_run


def _file(api, name: str, text: str) -> int:
    f = _data(api.s.post(api.url + "/files", params={"filename": name}, data=text.encode(), timeout=60), 201)
    assert f["status"] == "READY", f
    return f["id"]


def _rule_set(api) -> int:
    return _data(api.post("/rule-sets", {"name": "by id", "sourceKey": "id", "targetKey": "id", "passes": [
        {"name": "id and amount", "cardinality": "ONE_TO_ONE", "conditions": [
            {"source": "id", "target": "id", "operator": "EQUALS"},
            {"source": "amount", "target": "amount", "operator": "EQUALS"}]}]}), 201)["id"]


def _one_step_stream(api, source: int, target: int, rule_set: int, name: str = "only", **extra) -> int:
    return _data(api.post("/streams", {
        "name": f"sequences {uuid.uuid4().hex[:6]}", "triggerType": "MANUAL", **extra,
        "steps": [{"stepOrder": 1, "name": name, "ruleSetId": rule_set,
                   "sourceInput": {"type": "FILE", "id": source}, "targetInput": {"type": "FILE", "id": target},
                   "config": {"continueOnFailure": False, "maxRetries": 0}}]}), 201)["id"]


def _an_exception(api) -> dict:
    rows = "id,amount\n" + "".join(f"{i},{i}.00\n" for i in range(1, 6))
    source = _file(api, "seq_src.csv", rows)
    target = _file(api, "seq_tgt.csv", rows.replace("5,5.00\n", ""))
    run = wait_run(api, _run(api, _one_step_stream(api, source, target, _rule_set(api))))
    assert run["status"] == "COMPLETED" and run["metrics"]["exceptionCount"] == 1, run
    (exc,) = _data(api.get("/exceptions", runId=run["id"]))["items"]
    return exc


def test_concurrent_patches_of_one_exception_are_listed_in_the_order_they_were_made(api):
    exc = _an_exception(api)
    made = 0
    for burst in range(3):   # a few bursts: one burst of PATCHes at once may happen to arrive in order
        notes = [f"burst {burst} note {i}" for i in range(8)]
        with cf.ThreadPoolExecutor(len(notes)) as pool:
            answers = list(pool.map(lambda n: api.s.patch(f"{api.url}/exceptions/{exc['id']}",
                                                          json={"note": n, "assignee": n}, timeout=60), notes))
        assert [a.status_code for a in answers] == [200] * len(notes), [a.text for a in answers]
        made += len(notes)
    history = _data(api.get(f"/exceptions/{exc['id']}/history", pageSize=100))
    entries = history["items"]
    assert history["totalItems"] == len(entries) == made, history
    current = _data(api.get(f"/exceptions/{exc['id']}"))
    # newest first: each entry changed the note from what the entry below it (older) set, and the
    # newest one set what the exception holds now
    assert entries[0]["changes"]["note"]["to"] == current["note"], (entries[0], current)
    for newer, older in zip(entries, entries[1:]):
        assert newer["changes"]["note"]["from"] == older["changes"]["note"]["to"], [
            e["changes"]["note"] for e in entries]
        assert newer["changedAt"] >= older["changedAt"], (newer, older)
    assert entries[-1]["changes"]["note"]["from"] is None


def test_an_unmatched_row_whose_key_is_empty_has_no_row_key(api):
    # the rule set names the key column; one unmatched row has it empty: its rowKey is null, not a
    # number that reads like another row's key (it was its position among the unmatched rows: "1")
    source = _file(api, "keys_src.csv", "id,amount\n1,10.00\n,20.00\n7,70.00\n")
    target = _file(api, "keys_tgt.csv", "id,amount\n1,10.00\n")
    run = wait_run(api, _run(api, _one_step_stream(api, source, target, _rule_set(api))))
    assert run["status"] == "COMPLETED", run
    found = {e["rowData"]["amount"]: e for e in _data(api.get("/exceptions", runId=run["id"]))["items"]}
    assert set(found) == {"20.00", "70.00"}, found
    assert found["20.00"]["rowKey"] is None and found["20.00"]["rowData"]["id"] == "", found["20.00"]
    assert found["70.00"]["rowKey"] == "7", found["70.00"]
    (step,) = _data(api.get(f"/stream-runs/{run['id']}/steps"))
    legacy = _data(api.get(f"/reconciliations/{step['reconciliationId']}/exceptions"))["items"]
    assert sorted((e["rowKey"] or "") for e in legacy) == ["", "7"], legacy


def _follower(api, name: str, upstream: int, source: int, rule_set: int) -> dict:
    return {"name": name, "triggerType": "EVENT",
            "triggerConfig": {"event": "STREAM_RUN_COMPLETED", "streamId": upstream},
            "steps": [{"stepOrder": 1, "name": "only", "ruleSetId": rule_set,
                       "sourceInput": {"type": "FILE", "id": source}, "targetInput": {"type": "FILE", "id": source},
                       "config": {"continueOnFailure": False, "maxRetries": 0}}]}


def test_streams_cannot_be_chained_in_a_loop(api):
    # A <- B <- C (C follows B, B follows A); A made to follow C would start B, C, A, B, ... forever
    source = _file(api, "loop.csv", "id,amount\n1,1.00\n")
    rs = _rule_set(api)
    a = _one_step_stream(api, source, source, rs)
    b = _data(api.post("/streams", _follower(api, "loop B", a, source, rs)), 201)["id"]
    c = _data(api.post("/streams", _follower(api, "loop C", b, source, rs)), 201)["id"]

    for upstream, words in ((c, f"stream {c} follows stream {b}, which follows this stream"),
                            (b, f"stream {b} follows this stream")):
        r = api.s.put(f"{api.url}/streams/{a}", json=_follower(api, "loop A", upstream, source, rs), timeout=30)
        assert r.status_code == 400, r.text
        body = r.json()
        assert body["errorCode"] == "VALIDATION_ERROR", body
        assert {"field": "triggerConfig.streamId", "code": "INVALID_VALUE",
                "message": f"a chain of streams must not loop: {words}"} in body["errors"], body
    assert _data(api.get(f"/streams/{a}"))["triggerType"] == "MANUAL"   # nothing saved

    # an archived stream never runs: it breaks the chain, and following C is then no loop
    _data(api.s.delete(f"{api.url}/streams/{b}", timeout=30))
    saved = _data(api.s.put(f"{api.url}/streams/{a}", json=_follower(api, "loop A", c, source, rs), timeout=30))
    assert saved["triggerConfig"]["streamId"] == c


def test_a_loop_of_chained_streams_saved_before_saves_refused_it_runs_each_stream_once(api, stack):
    # saves refuse a loop now; one stored before (written here in the control plane, as the API no
    # longer can) must not start runs without end: A's run starts B's, B's completion does not start A again
    import psycopg
    from psycopg.types.json import Jsonb

    from tests.e2e.conftest import poll

    source = _file(api, "loop_old.csv", "id,amount\n1,1.00\n")
    rs = _rule_set(api)
    a = _one_step_stream(api, source, source, rs)
    b = _data(api.post("/streams", _follower(api, "old loop B", a, source, rs)), 201)["id"]
    with psycopg.connect(stack["env"]["DATABASE_URL"], autocommit=True) as conn:
        conn.execute("UPDATE recon.streams SET trigger_type = 'EVENT', trigger_config = %s WHERE stream_id = %s",
                     (Jsonb({"event": "STREAM_RUN_COMPLETED", "streamId": b}), a))
    first = wait_run(api, _run(api, a))
    assert first["status"] == "COMPLETED", first

    def refused():
        occurrences = _data(api.get(f"/streams/{a}"))["recentOccurrences"]
        return [o for o in occurrences if "loop" in (o["detail"] or "")]

    (occurrence,) = poll(refused, 90, "A's refusal of the completion of B's run")
    assert occurrence["status"] == "FAILED" and occurrence["runId"] is None, occurrence
    b_runs = _data(api.get(f"/streams/{b}/runs"))["items"]
    assert len(b_runs) == 1 and b_runs[0]["triggerMetadata"]["sourceRunId"] == first["id"], b_runs
    assert b_runs[0]["status"] == "COMPLETED", b_runs
    assert occurrence["detail"].startswith(f"StreamRunCompleted of run {b_runs[0]['id']}: not started"), occurrence
    assert _data(api.get(f"/streams/{a}/runs"))["totalItems"] == 1
