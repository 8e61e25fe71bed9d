"""A run's artifacts list their columns with types, as uploads and snapshots do: an unmatched output
has its input's columns and types (for a chained input, the earlier output's) then the explanation
columns as text; MATCHED has the documented fixed columns. Every value of every artifact reads as the
type its file lists."""
from __future__ import annotations

import duckdb

from chalicelib.matching import EXPLANATION_COLUMNS, MATCHED_COLUMNS
from tests.e2e.test_stream_runs import _data, _run, _stream, setup, steps_of, wait_run  # noqa: F401 (fixture)

EXPLANATION = [{"name": n, "type": "VARCHAR"} for n in EXPLANATION_COLUMNS]


def _columns(api, file_id: int) -> list[dict]:
    return _data(api.get(f"/files/{file_id}"))["columns"]


def _reads_as_listed(api, artifact: dict, columns: list[dict], tmp_path) -> None:
    body = api.s.get(api.url.removesuffix("/api/v1") + artifact["downloadUrl"], allow_redirects=True, timeout=30)
    path = tmp_path / f"{artifact['fileId']}.csv"
    path.write_bytes(body.content)
    types = "{" + ", ".join(f"'{c['name']}': '{c['type']}'" for c in columns) + "}"
    n = duckdb.connect().execute(f"SELECT count(*) FROM read_csv('{path}', header=true, columns={types}, "
                                 f"auto_detect=false)").fetchone()[0]
    assert n == artifact["rowCount"], artifact


def test_artifacts_list_typed_columns(api, setup, tmp_path):
    run_id = _run(api, _stream(api, setup, steps=2))
    assert wait_run(api, run_id)["status"] == "COMPLETED"
    steps = steps_of(api, run_id)
    # a step run's inputs, as its legacy reconciliation shows them
    for s in steps:
        rec = _data(api.get(f"/reconciliations/{s['reconciliationId']}"))
        s["sourceFileId"], s["targetFileId"] = rec["sourceFileId"], rec["targetFileId"]
    arts = [{a["artifactType"]: a for a in _data(api.get(f"/step-runs/{s['id']}/artifacts"))} for s in steps]
    inputs = {"SOURCE": _columns(api, steps[0]["sourceFileId"]), "TARGET": _columns(api, steps[0]["targetFileId"])}
    assert {c["type"] for c in inputs["SOURCE"]} != {"VARCHAR"} and {c["type"] for c in inputs["TARGET"]} != {"VARCHAR"}
    matched = [{"name": n, "type": t} for n, t in MATCHED_COLUMNS]
    for side in ("SOURCE", "TARGET"):
        assert _columns(api, arts[0][f"UNMATCHED_{side}"]["fileId"]) == inputs[side] + EXPLANATION
    assert _columns(api, arts[0]["MATCHED"]["fileId"]) == matched
    # step 2 reads step 1's unmatched output: its own unmatched output has the same typed columns
    assert steps[1]["sourceFileId"] == arts[0]["UNMATCHED_SOURCE"]["fileId"], steps[1]
    assert _columns(api, arts[1]["UNMATCHED_SOURCE"]["fileId"]) == inputs["SOURCE"] + EXPLANATION
    assert _columns(api, arts[1]["UNMATCHED_TARGET"]["fileId"]) == \
        _columns(api, steps[1]["targetFileId"]) + EXPLANATION
    for per_step in arts:
        for kind, art in per_step.items():
            _reads_as_listed(api, art, _columns(api, art["fileId"]), tmp_path)
