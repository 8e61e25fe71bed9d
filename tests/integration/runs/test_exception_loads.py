"""Exception loads into a real PostgreSQL (recon.stream_exceptions, all migrations): DuckDB writes the COPY's
CSV into a pipe while the loading thread feeds PostgreSQL. The same rows as the staged-file path, nothing
kept of a side whose conversion or COPY fails, no thread left blocked on the pipe, once per side."""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import duckdb
import psycopg
import pytest
from psycopg.rows import dict_row

from chalicelib.streams import artifacts
from tests.pgcluster import fresh_database

HEADER = "order_id,amount,_row_key,_reason,_closest_key,_closest_pass,_failed_condition,_detail\n"
IDS = dict(stream_id=9001, run_id=9201, step_run_id=9301, reconciliation_id=12001, step_order=1)


@pytest.fixture
def conn(pg_server):
    from chalicelib.db.migrate import migrate

    with fresh_database(pg_server, "recon_exc") as url:
        migrate(url, log=lambda *_: None)
        with psycopg.connect(url, row_factory=dict_row) as c:
            yield c


def _unmatched(path: Path, n: int) -> Path:
    with path.open("w") as f:
        f.write(HEADER)
        for i in range(1, n + 1):
            if i % 3:
                f.write(f'O{i:06d},"{i}.50",O{i:06d},NO_CANDIDATE,,,,no source row\n')
            else:
                f.write(f"O{i:06d},{i}.00,O{i:06d},TOLERANCE_EXCEEDED,M{i:06d},Exact,amount,differs by 0.02\n")
    return path


def _rows(conn, side: str) -> list[dict]:
    return conn.execute("SELECT row_no, row_key, row_data, reason, closest_candidate, stream_id, run_id,"
                        " reconciliation_id, step_order FROM recon.stream_exceptions"
                        " WHERE step_run_id = %s AND side = %s ORDER BY row_no", (IDS["step_run_id"], side)).fetchall()


def _load(conn, path: Path, side: str = "TARGET") -> int:
    with conn.transaction():
        return artifacts.load_exceptions(conn, path, side=side, **IDS)


def test_pipe_and_staged_file_load_the_same_rows(conn, tmp_path: Path, monkeypatch):
    src = _unmatched(tmp_path / "u.csv", 5000)
    assert artifacts.PIPE_DIR.is_dir()
    assert _load(conn, src, "TARGET") == 5000                       # through the pipe
    monkeypatch.setattr(artifacts, "PIPE_DIR", tmp_path / "no-pipes")
    assert _load(conn, src, "SOURCE") == 5000                       # through a staged file
    piped, staged = _rows(conn, "TARGET"), _rows(conn, "SOURCE")
    assert piped == staged
    assert [r["row_no"] for r in piped] == list(range(1, 5001))
    assert piped[1]["row_data"] == {"order_id": "O000002", "amount": "2.50"}
    assert piped[2]["reason"] == "TOLERANCE_EXCEEDED"
    assert piped[2]["closest_candidate"] == {"rowKey": "M000003", "pass": "Exact", "failedCondition": "amount",
                                             "detail": "differs by 0.02"}
    assert piped[0]["closest_candidate"] is None
    assert {(r["stream_id"], r["run_id"], r["reconciliation_id"], r["step_order"]) for r in piped} == {
        (9001, 9201, 12001, 1)}
    assert not list(tmp_path.glob("*.exceptions-*.csv"))            # nothing staged is left behind


def test_names_and_values_reach_postgresql_as_the_output_has_them(conn, tmp_path: Path, monkeypatch):
    # column names with white space and one named row_no; a closest candidate whose key value is empty; a
    # quoted value after more rows than a dialect sniffer samples
    src = tmp_path / "u.csv"
    plain = 20_500
    with src.open("w", newline="") as f:
        f.write('k,"memo ", note, ,row_no,_row_key,_reason,_closest_key,_closest_pass,_failed_condition,_detail\n')
        f.write("S0,a,b,c,7,S0,TOLERANCE_EXCEEDED,,p,amt,amt differs by 0.50; tolerance 0.01\n")
        f.writelines(f"S{i},a,b,c,{i},S{i},NO_CANDIDATE,,,,no target row\n" for i in range(1, plain))
        f.write('SLAST,"say ""hi""",b,c,x,SLAST,NO_CANDIDATE,,,,no target row\n')
    assert _load(conn, src, "TARGET") == plain + 1                   # through the pipe
    monkeypatch.setattr(artifacts, "PIPE_DIR", tmp_path / "no-pipes")
    assert _load(conn, src, "SOURCE") == plain + 1                   # through a staged file
    for side in ("TARGET", "SOURCE"):
        rows = _rows(conn, side)
        assert [r["row_no"] for r in rows[:2]] + [rows[-1]["row_no"]] == [1, 2, plain + 1]
        assert rows[0]["row_data"] == {"k": "S0", "memo ": "a", " note": "b", " ": "c", "row_no": "7"}
        assert rows[0]["closest_candidate"] == {"rowKey": None, "pass": "p", "failedCondition": "amt",
                                                "detail": "amt differs by 0.50; tolerance 0.01"}
        assert rows[1]["closest_candidate"] is None
        assert rows[-1]["row_key"] == "SLAST" and rows[-1]["row_data"]["memo "] == 'say "hi"'


def test_a_side_is_loaded_once(conn, tmp_path: Path):
    src = _unmatched(tmp_path / "u.csv", 300)
    assert _load(conn, src) == 300
    assert _load(conn, src) == 300                                  # counted, not loaded again
    assert len(_rows(conn, "TARGET")) == 300


def test_a_conversion_that_fails_midway_keeps_nothing_of_the_side(conn, tmp_path: Path):
    # a last row with too many fields: DuckDB fails on it after it has written the rows before it into the pipe
    src = _unmatched(tmp_path / "u.csv", 100000)
    with src.open("a") as f:
        f.write("O999999,1.00,O999999,NO_CANDIDATE,,,,detail,one,field,too,many\n")
    before = threading.active_count()
    with pytest.raises(duckdb.InvalidInputException, match="Line: 100002"):
        _load(conn, src)
    assert _rows(conn, "TARGET") == []
    assert threading.active_count() == before                       # the converting thread is gone
    assert _load(conn, _unmatched(tmp_path / "ok.csv", 10)) == 10  # the connection is usable again


def test_an_output_without_explanation_columns_loads_nothing(conn, tmp_path: Path):
    src = tmp_path / "plain.csv"
    src.write_text("order_id,amount\nO1,1.00\n")
    with pytest.raises(ValueError, match="explanation columns"):
        _load(conn, src)
    assert _rows(conn, "TARGET") == []


def test_a_copy_refused_by_postgresql_keeps_nothing(conn, tmp_path: Path):
    # rows the table's CHECK refuses (an unknown side): PostgreSQL answers the COPY with an error
    src = _unmatched(tmp_path / "u.csv", 50000)
    before = threading.active_count()
    with pytest.raises(psycopg.errors.CheckViolation):
        _load(conn, src, side="NEITHER")
    assert threading.active_count() == before
    assert conn.execute("SELECT count(*) AS n FROM recon.stream_exceptions").fetchone()["n"] == 0


def test_a_copy_that_breaks_midway_stops_the_conversion(conn, tmp_path: Path, monkeypatch):
    # the connection fails after the first block: the pipe's reading end is closed while DuckDB still has
    # most of 100k rows to write, and the converting thread ends (EPIPE) instead of waiting on a full pipe
    src = _unmatched(tmp_path / "u.csv", 100000)
    real_write, calls = psycopg.Copy.write, []

    def failing_write(self, buffer):
        calls.append(len(buffer))
        if len(calls) > 1:
            raise psycopg.OperationalError("connection lost (test)")
        return real_write(self, buffer)

    monkeypatch.setattr(psycopg.Copy, "write", failing_write)
    before = threading.active_count()
    with pytest.raises(psycopg.OperationalError, match="connection lost"):
        _load(conn, src)
    assert len(calls) == 2
    assert threading.active_count() == before
    monkeypatch.setattr(psycopg.Copy, "write", real_write)
    assert _rows(conn, "TARGET") == []


def test_a_header_only_output_loads_nothing(conn, tmp_path: Path):
    src = tmp_path / "empty.csv"
    src.write_text(HEADER)
    assert _load(conn, src) == 0
    assert _rows(conn, "TARGET") == []
    (tmp_path / "blank.csv").write_text("")
    assert _load(conn, tmp_path / "blank.csv") == 0
    assert json.dumps(_rows(conn, "TARGET")) == "[]"


def _waiting_for_a_load_slot(conn) -> int:
    return conn.execute("SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                        " AND classid = %s AND database = (SELECT oid FROM pg_database"
                        " WHERE datname = current_database())", (artifacts._LOCK_SPACE,)).fetchone()["n"]


def test_loads_take_turns_on_the_table(conn, tmp_path: Path):
    # one worker's COPY is running (it holds the slot); another worker's load waits for it, then runs
    src = _unmatched(tmp_path / "u.csv", 2000)
    other = psycopg.connect(conn.info.dsn, row_factory=dict_row)
    done = threading.Event()
    outcome = {}

    def second_worker():
        try:
            with other.transaction():
                outcome["rows"] = artifacts.load_exceptions(other, src, side="SOURCE", **IDS)
        except Exception as exc:  # noqa: BLE001 — reported by the assertions below
            outcome["error"] = exc
        finally:
            done.set()

    with conn.transaction(), artifacts._load_slot(conn, IDS["step_run_id"]):
        t = threading.Thread(target=second_worker)
        t.start()
        deadline = time.monotonic() + 20
        while _waiting_for_a_load_slot(conn) == 0:
            assert time.monotonic() < deadline, "the second load never waited for the slot"
            assert not done.is_set(), f"the second load ran while the slot was held: {outcome}"
            time.sleep(0.02)
        assert _rows(conn, "SOURCE") == []
    assert done.wait(20), "the second load did not run once the slot was free"
    t.join(5)
    other.close()
    assert outcome == {"rows": 2000}
    assert len(_rows(conn, "SOURCE")) == 2000


def test_a_failed_load_gives_its_slot_back(conn, tmp_path: Path):
    src = _unmatched(tmp_path / "u.csv", 1000)
    with pytest.raises(psycopg.errors.CheckViolation):
        _load(conn, src, side="NEITHER")
    with psycopg.connect(conn.info.dsn) as other:
        assert other.execute("SELECT pg_try_advisory_lock(%s, %s)",
                             (artifacts._LOCK_SPACE, IDS["step_run_id"] % artifacts.LOADS_AT_ONCE)).fetchone()[0]
    assert _load(conn, src) == 1000      # and the same connection loads again
