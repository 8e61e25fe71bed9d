"""Runs: outputs, chaining, determinism, empty inputs, formats, errors, progress, cancellation."""
import hashlib
import json
import random

import duckdb
import pytest

from chalicelib.matching import (EXPLANATION_COLUMNS, EngineLimits, InputError, MatchCanceled, inspect_file,
                                 run_match)

from .helpers import eq, header_of, match, p, read_csv, rule_set, run_files, tol, window, write_csv

S = ["order_id", "ref", "amount", "date"]
T = ["txn_id", "ref", "amount", "date"]


def rs_two_passes():
    return rule_set(p("exact", eq("ref"), eq("amount")),
                    p("near", eq("ref"), tol("amount", absolute="0.01"), window("date", after=2)),
                    source_key="order_id", target_key="txn_id")


def sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def test_unmatched_outputs_keep_the_original_columns_and_append_the_explanation(tmp_path):
    src = [["O1", "A", "1.00", "2026-01-01"], ["O2", "B", "2.00", "2026-01-01"]]
    tgt = [["T1", "A", "1.00", "2026-01-01"], ["T2", "Z", "9.99", "2026-01-01"]]
    o = match(tmp_path, S, src, T, tgt, rs_two_passes())
    assert header_of(o.result.unmatched_source_path) == S + list(EXPLANATION_COLUMNS)
    assert header_of(o.result.unmatched_target_path) == T + list(EXPLANATION_COLUMNS)
    assert o.unmatched_source == [{"order_id": "O2", "ref": "B", "amount": "2.00", "date": "2026-01-01",
                                   "_row_key": "O2", "_reason": "NO_CANDIDATE", "_closest_key": "",
                                   "_closest_pass": "", "_failed_condition": "",
                                   "_detail": "no target row with the same ref = ref, amount = amount in any pass"}]
    assert header_of(o.result.matched_path) == [
        "match_id", "pass", "pass_name", "source_row", "target_row", "source_key", "target_key", "score",
        "amount_difference", "date_difference_days", "similarity"]
    assert o.result.summary["reasons"] == {"SOURCE": {"NO_CANDIDATE": 1}, "TARGET": {"NO_CANDIDATE": 1}}


def test_chaining_the_unmatched_output_into_a_later_run(tmp_path):
    src = [["O1", "A", "1.00", "2026-01-01"], ["O2", "B", "2.00", "2026-01-01"], ["O3", "C", "3.00", "2026-01-01"]]
    tgt = [["T1", "A", "1.00", "2026-01-01"], ["T2", "b", "2.00", "2026-01-01"], ["T3", "C", "3.50", "2026-01-01"]]
    first = match(tmp_path, S, src, T, tgt, rs_two_passes())
    assert first.pairs() == [("1", "O1", "T1")]
    info = inspect_file(first.result.unmatched_source_path)
    assert info.row_count == 2
    second_rs = rule_set(p("case-insensitive", eq("ref", normalize=["UPPER"]), tol("amount", absolute="1")),
                         source_key="order_id", target_key="txn_id")
    second = run_files(first.result.unmatched_source_path, first.result.unmatched_target_path, second_rs,
                       tmp_path / "second")
    assert second.pairs() == [("1", "O2", "T2"), ("1", "O3", "T3")]
    # the explanation columns of the first run were dropped on read, the new ones appended once
    assert second.result.unmatched_source_rows == 0
    assert header_of(second.result.unmatched_source_path) == S + list(EXPLANATION_COLUMNS)


def test_same_inputs_give_byte_identical_outputs_whatever_the_thread_count(tmp_path):
    rnd = random.Random(7)
    src, tgt = [], []
    for i in range(4000):
        ref = f"R{rnd.randrange(3000)}"
        src.append([f"O{i}", ref, f"{rnd.randrange(1, 500)}.{rnd.randrange(100):02d}", f"2026-01-{rnd.randrange(1, 28):02d}"])
        tgt.append([f"T{i}", ref, f"{rnd.randrange(1, 500)}.{rnd.randrange(100):02d}", f"2026-01-{rnd.randrange(1, 28):02d}"])
    s = write_csv(tmp_path / "s.csv", S, src)
    t = write_csv(tmp_path / "t.csv", T, tgt)
    rs = rule_set(p("ref", eq("ref"), tol("amount", absolute="200")), p("amount", window("date"),
                                                                          tol("amount", absolute="5")),
                  source_key="order_id", target_key="txn_id")
    digests = set()
    for threads in (1, 2, 4):
        r = run_match(s, t, rs, str(tmp_path / f"out{threads}"), limits=EngineLimits(threads=threads))
        digests.add((sha(r.matched_path), sha(r.unmatched_source_path), sha(r.unmatched_target_path)))
    assert len(digests) == 1
    assert r.matched_source_rows > 1000


@pytest.mark.timeout(120)
def test_row_numbers_and_outputs_stable_across_threads_on_several_row_groups(tmp_path):
    """150,000 shuffled rows: the CSV is read by several threads, yet row numbers follow the file."""
    n = 150_000
    s, t = str(tmp_path / "s.csv"), str(tmp_path / "t.csv")
    con = duckdb.connect()
    con.execute(f"COPY (SELECT 'O' || i AS order_id, 'R' || (i % 140000) AS ref, '1.00' AS amount, "
                f"'2026-01-01' AS date FROM range({n}) r(i) ORDER BY hash(i)) TO '{s}' (HEADER)")
    con.execute(f"COPY (SELECT 'T' || i AS txn_id, 'R' || (i % 145000) AS ref, '1.00' AS amount, "
                f"'2026-01-01' AS date FROM range({n}) r(i) ORDER BY hash(i + 1)) TO '{t}' (HEADER)")
    rs = rule_set(p("ref", eq("ref")), source_key="order_id", target_key="txn_id")
    digests = []
    for threads in (1, 3):
        r = run_match(s, t, rs, str(tmp_path / f"o{threads}"), limits=EngineLimits(threads=threads))
        digests.append((sha(r.matched_path), sha(r.unmatched_source_path), sha(r.unmatched_target_path)))
    assert digests[0] == digests[1]
    first = read_csv(r.matched_path)[0]
    file_rows = open(s).read().splitlines()
    assert file_rows[int(first["source_row"])].split(",")[0] == first["source_key"]


def test_empty_inputs_and_one_side_empty(tmp_path):
    rs = rs_two_passes()
    o = match(tmp_path, S, [], T, [], rs)
    assert o.result.source_rows == 0 and o.matched == [] and o.unmatched_source == []
    o = match(tmp_path, S, [["O1", "A", "1", "2026-01-01"]], T, [], rs, out="o2")
    assert o.reasons() == {"O1": "NO_CANDIDATE"} and o.result.target_rows == 0
    assert header_of(o.result.unmatched_target_path) == T + list(EXPLANATION_COLUMNS)


def test_parquet_and_jsonl_inputs(tmp_path):
    pq, jl = str(tmp_path / "s.parquet"), tmp_path / "t.jsonl"
    duckdb.connect().execute(
        f"COPY (SELECT 'O' || i AS order_id, 'R' || i AS ref, CAST(i + 0.5 AS DECIMAL(10,2)) AS amount, "
        f"DATE '2026-01-01' + CAST(i AS INTEGER) AS date FROM range(3) r(i)) TO '{pq}' (FORMAT parquet)")
    jl.write_text("\n".join(json.dumps({"txn_id": f"T{i}", "ref": f"R{i}", "amount": f"{i}.50",
                                        "date": f"2026-01-0{i + 1}T10:00:00Z"}) for i in range(3)) + "\n")
    o = run_files(pq, str(jl), rs_two_passes(), tmp_path / "out")
    assert o.pairs() == [("1", "O0", "T0"), ("1", "O1", "T1"), ("1", "O2", "T2")]


def test_malformed_csv_line_fails_the_run_naming_the_line(tmp_path):
    s = tmp_path / "s.csv"
    s.write_text("order_id,ref,amount,date\nO1,A,1,2026-01-01\nO2,B,2\n")
    t = write_csv(tmp_path / "t.csv", T, [])
    with pytest.raises(InputError, match=r"^source input: line 3: 3 fields, header has 4$"):
        run_match(str(s), t, rs_two_passes(), str(tmp_path / "out"))


def test_header_problems_name_their_side_and_the_source_is_reported_first(tmp_path):
    """Both inputs' headers are read at the same time: each side's problem is named, and when both are
    bad the source's is the one reported, as if they had been read one after the other."""
    good_s = write_csv(tmp_path / "s.csv", S, [["O1", "A", "1", "2026-01-01"]])
    good_t = write_csv(tmp_path / "t.csv", T, [["T1", "A", "1", "2026-01-01"]])
    bad_s, bad_t = tmp_path / "bad_s.csv", tmp_path / "bad_t.csv"
    bad_s.write_text("order_id,ref,REF,amount,date\n")
    bad_t.write_text("")
    with pytest.raises(InputError, match=r"^target input: line 1: the file is empty"):
        run_match(good_s, str(bad_t), rs_two_passes(), str(tmp_path / "o1"))
    with pytest.raises(InputError, match=r"^source input: line 1: column name 'REF' appears twice"):
        run_match(str(bad_s), good_t, rs_two_passes(), str(tmp_path / "o2"))
    for _ in range(5):
        with pytest.raises(InputError, match=r"^source input: "):
            run_match(str(bad_s), str(bad_t), rs_two_passes(), str(tmp_path / "o3"))
    with pytest.raises(InputError, match=r"^target input: the file does not exist"):
        run_match(good_s, str(tmp_path / "nowhere.csv"), rs_two_passes(), str(tmp_path / "o4"))


def test_rule_column_missing_from_an_input(tmp_path):
    s = write_csv(tmp_path / "s.csv", ["order_id", "ref", "amount"], [])
    t = write_csv(tmp_path / "t.csv", T, [])
    with pytest.raises(InputError, match=r"passes\[1\]\.conditions\[2\]\.source: column 'date' is not in the "
                                         r"source input \(columns: order_id, ref, amount\)"):
        run_match(s, t, rs_two_passes(), str(tmp_path / "out"))


def test_progress_moves_forward_to_100(tmp_path):
    seen = []
    match(tmp_path, S, [["O1", "A", "1", "2026-01-01"]], T, [["T1", "A", "1", "2026-01-01"]],
          rs_two_passes(), progress=seen.append)
    assert seen[0] == 0 and seen[-1] == 100
    assert seen == sorted(seen) and len(seen) >= 5


def test_progress_marks_each_side_s_explanations(tmp_path):
    seen = []
    match(tmp_path, S, [["O1", "A", "1", "2026-01-01"], ["O2", "B", "7", "2026-01-01"]], T,
          [["T1", "A", "1", "2026-01-01"], ["T2", "C", "9", "2026-01-03"]], rs_two_passes(), progress=seen.append)
    # the source's explanations start at 75, the target's at 85: a long explanation no longer holds one figure
    assert 75 in seen and 85 in seen and seen.index(75) < seen.index(85) < seen.index(100), seen


def test_cancel_between_passes(tmp_path):
    calls = []

    def should_cancel():
        calls.append(1)
        return len(calls) > 4

    with pytest.raises(MatchCanceled):
        match(tmp_path, S, [["O1", "A", "1", "2026-01-01"]], T, [["T1", "A", "1", "2026-01-01"]],
              rs_two_passes(), should_cancel=should_cancel)


@pytest.mark.timeout(120)
def test_cancel_interrupts_a_long_statement(tmp_path):
    import threading
    import time
    n = 300_000
    s, t = str(tmp_path / "s.csv"), str(tmp_path / "t.csv")
    con = duckdb.connect()
    con.execute(f"COPY (SELECT 'O' || i AS order_id, 'R' || (i % 7) AS ref, '1.00' AS amount, "
                f"'2026-01-01' AS date FROM range({n}) r(i)) TO '{s}' (HEADER)")
    con.execute(f"COPY (SELECT 'T' || i AS txn_id, 'R' || (i % 7) AS ref, '1.00' AS amount, "
                f"'2026-01-01' AS date FROM range({n}) r(i)) TO '{t}' (HEADER)")
    # a tolerance pass on a 7-value key: billions of candidate pairs — only a cancel ends it quickly
    rs = rule_set(p("huge", eq("ref"), tol("amount", absolute="1")), source_key="order_id", target_key="txn_id")
    flag = threading.Event()
    threading.Timer(1.0, flag.set).start()
    t0 = time.monotonic()
    with pytest.raises(MatchCanceled):
        run_match(s, t, rs, str(tmp_path / "out"), limits=EngineLimits(threads=2, temp_dir=str(tmp_path / "spill")),
                  should_cancel=flag.is_set)
    assert time.monotonic() - t0 < 15     # the full join would take minutes


def test_memory_limit_and_spill_directory_are_applied(tmp_path):
    spill = tmp_path / "spill"
    o = match(tmp_path, S, [["O1", "A", "1", "2026-01-01"]], T, [["T1", "A", "1", "2026-01-01"]], rs_two_passes(),
              limits=EngineLimits(memory_limit="64MB", threads=1, temp_dir=str(spill)))
    assert o.pairs() == [("1", "O1", "T1")]
    assert spill.is_dir()


def test_columns_named_like_the_engines_own_are_ordinary_columns(tmp_path):
    """A column named ROWID hid the table's row numbers (DuckDB: 'Out of Range Error' from the row bit
    strings), and columns named __rid, __m_key or __m_f0 were read in place of the engine's own: the
    rows matched nothing. Outputs keep the file's names."""
    from .helpers import eq, match, p, rule_set, tol
    hs = ["ROWID", "__rid", "__m_key", "ref", "amount", "__g0"]
    ht = ["rowid", "__m_f0", "ref", "amount"]
    rs = rule_set(p("exact", eq("ref"), tol("amount", absolute="0")),
                  p("batches", eq("ref"), tol("amount", absolute="0", aggregate="SUM"), cardinality="MANY_TO_ONE",
                    group_by={"source": ["__g0"]}), source_key="ROWID", target_key="rowid")
    o = match(tmp_path, hs, [["77", "1", "k", "A", "10", "G1"], ["55", "2", "j", "B", "20", "G2"],
                             ["44", "3", "i", "C", "5", "G3"], ["33", "4", "h", "C", "6", "G3"]],
              ht, [["9", "x", "A", "10"], ["8", "y", "D", "20"], ["7", "z", "C", "11"]], rs)
    assert o.pairs() == [("1", "77", "9"), ("2", "33", "7"), ("2", "44", "7")]
    assert [(r["ROWID"], r["__rid"], r["__m_key"], r["_row_key"]) for r in o.unmatched_source] == [("55", "2", "j", "55")]
    assert list(o.unmatched_target[0])[:4] == ["rowid", "__m_f0", "ref", "amount"]
