"""An output registered twice at once — a worker slower than the minute of grace uploads it while another worker,
which made the step's outputs again, registers the same bytes — stays one artifact and one file: the second
registration finds the first (the artifact's unique type per step run) and keeps no file row of its own."""
from __future__ import annotations

from tests.integration.streams.test_cancel_outcome import _created_run


def test_an_output_registered_twice_at_once_is_one_artifact_and_one_file(api, db, uid, tmp_path, monkeypatch):
    from chalicelib.streams import runtime, step_worker

    run_id = _created_run(api, uid, continue_on_failure=False)
    step_run_id = db.execute("SELECT step_run_id FROM recon.stream_step_runs WHERE run_id = %s AND step_order = 1",
                             (run_id,)).fetchone()["step_run_id"]
    a = step_worker.Attempt(run_id, 1, 1, "", {}, {}, step_run_id=step_run_id)
    out = tmp_path / "matched.csv"
    out.write_text("match_id,pass\np1-s1,1\n", encoding="utf-8")
    name = f"stream_{run_id}_step_1_matched.csv"
    first = step_worker._register(a, out, name, "ARTIFACT", 1, "MATCHED")
    # the other worker looked before the first registration committed: it saw none, and registers too
    real, calls = runtime.artifact_file_id, []

    def not_yet(*args):
        calls.append(args)
        return None if len(calls) == 1 else real(*args)
    monkeypatch.setattr(runtime, "artifact_file_id", not_yet)
    second = step_worker._register(a, out, name, "ARTIFACT", 1, "MATCHED")
    assert second["file_id"] == first["file_id"]
    artifacts = db.execute("SELECT file_id FROM recon.stream_artifacts WHERE step_run_id = %s AND artifact_type = 'MATCHED'",
                           (step_run_id,)).fetchall()
    assert [r["file_id"] for r in artifacts] == [first["file_id"]]
    files = db.execute("SELECT file_id FROM recon.files WHERE filename = %s", (name,)).fetchall()
    assert [r["file_id"] for r in files] == [first["file_id"]]
