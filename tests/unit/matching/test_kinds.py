"""The kind of a condition (docs/matching.md "Semantics": amount, date or text): normalize steps that cannot
change what an amount or a date reads as keep the kind, and an EQUALS between a date column and a column of
text holding dates (or two such columns of text) compares dates."""
from __future__ import annotations

import pytest

from chalicelib.matching import InputError

from .helpers import eq, match, p, rule_set, run_files, tol, window, write_csv

DATE_SAMPLE_ROWS = 20480   # the rows whose values decide a column (docs/matching.md)


# ---- normalize on amounts (TRIM / UPPER / LOWER keep the kind)

def test_trim_on_an_amount_equals_compares_amounts(tmp_path):
    # amt is an amount (AMOUNT_TOLERANCE in pass 2): the exact pass, with TRIM, compares amounts
    rs = rule_set(p("exact", eq("ref"), eq("amt", normalize=["TRIM"])),
                  p("tolerance", eq("ref"), tol("amt", absolute=0.5)))
    o = match(tmp_path, ["id", "ref", "amt"], [["S1", "R1", "1.5"], ["S2", "R2", "1,234.50"], ["S3", "R3", "7.25"]],
              ["id", "ref", "amt"], [["T1", "R1", "1.50"], ["T2", "R2", "1234.5"], ["T3", "R3", " 7.25 "]], rs)
    assert o.pairs() == [("1", "S1", "T1"), ("1", "S2", "T2"), ("1", "S3", "T3")]
    assert {m["amount_difference"] for m in o.matched} == {"0"}


def test_trim_on_two_decimal_columns_compares_amounts(tmp_path):
    # two columns detected as numbers with decimals, no amount condition elsewhere
    rs = rule_set(p("exact", eq("amt", normalize=["TRIM", "UPPER"])))
    o = match(tmp_path, ["id", "amt"], [["S1", "1.5"], ["S2", "2.25"]],
              ["id", "amt"], [["T1", "1.50"], ["T2", "2.250"]], rs)
    assert o.pairs() == [("1", "S1", "T1"), ("1", "S2", "T2")]


def test_case_steps_on_dates_read_the_capitals(tmp_path):
    # the T and Z of an ISO timestamp read in capitals only: with LOWER (or UPPER) the value is read in capitals
    rs = rule_set(p("eq", eq("ref"), eq("d", normalize=["LOWER"])))
    o = match(tmp_path, ["id", "ref", "d"], [["S1", "R1", "2026-02-20"], ["S2", "R2", "2026-02-21"]],
              ["id", "ref", "d"], [["T1", "R1", "2026-02-20t10:00:00z"], ["T2", "R2", "feb 21, 2026"]], rs)
    assert o.pairs() == [("1", "S1", "T1"), ("1", "S2", "T2")]


def test_text_changing_steps_keep_text(tmp_path):
    # DIGITS_ONLY changes the text: 1.5 → 15 and 1.50 → 150 differ; 0012 and 12 are equal under STRIP_LEADING_ZEROS
    rs = rule_set(p("digits", eq("amt", normalize=["DIGITS_ONLY"])),
                  p("zeros", eq("ref"), eq("amt", normalize=["STRIP_LEADING_ZEROS"])))
    o = match(tmp_path, ["id", "ref", "amt"], [["S1", "R1", "1.5"], ["S2", "R2", "0012.5"]],
              ["id", "ref", "amt"], [["T1", "R9", "1.50"], ["T2", "R2", "12.5"]], rs)
    assert o.pairs() == [("2", "S2", "T2")]
    assert o.matched[0]["amount_difference"] == ""


# ---- EQUALS on dates written in other spellings

def test_equals_date_column_and_text_dates(tmp_path):
    # source sniffed DATE, target text in other spellings (month names): compared as dates, as DATE_WINDOW 0/0
    src = [["S1", "R1", "2026-02-20"], ["S2", "R2", "2026-02-21"]]
    tgt = [["T1", "R1", "Feb 20, 2026"], ["T2", "R2", "21 Feb 2026"]]
    o = match(tmp_path, ["id", "ref", "d"], src, ["id", "ref", "d"], tgt, rule_set(p("eq", eq("ref"), eq("d"))))
    assert o.pairs() == [("1", "S1", "T1"), ("1", "S2", "T2")]
    o = match(tmp_path, ["id", "ref", "d"], src, ["id", "ref", "d"], tgt,
              rule_set(p("w", eq("ref"), window("d"))), out="out2")
    assert o.pairs() == [("1", "S1", "T1"), ("1", "S2", "T2")]


def test_equals_text_date_column_on_the_source_side_and_slash_dates(tmp_path):
    # text (two spellings), slash dates month-first (a second part over 12, none day-first)
    src = [["S1", "R1", "02/20/2026"], ["S2", "R2", "Feb 21, 2026"], ["S3", "R3", "03/04/2026"]]
    tgt = [["T1", "R1", "2026-02-20"], ["T2", "R2", "2026-02-22"], ["T3", "R3", "2026-03-04"]]
    o = match(tmp_path, ["id", "ref", "d"], src, ["id", "ref", "d"], tgt, rule_set(p("eq", eq("ref"), eq("d"))))
    assert o.pairs() == [("1", "S1", "T1"), ("1", "S3", "T3")]


def test_equals_date_column_and_digit_dates(tmp_path):
    # 20260220 is a whole number to DuckDB: against a date column it is read as a date
    o = match(tmp_path, ["id", "ref", "d"], [["S1", "R1", "2026-02-20"], ["S2", "R2", "2026-02-21"]],
              ["id", "ref", "d"], [["T1", "R1", "20260220"], ["T2", "R2", "20260221"]],
              rule_set(p("eq", eq("ref"), eq("d"))))
    assert o.pairs() == [("1", "S1", "T1"), ("1", "S2", "T2")]


def test_equals_two_text_columns_of_dates(tmp_path):
    # mixed spellings on both sides: neither column is typed as dates by the sniffer
    src = [["S1", "R1", "Feb 20, 2026"], ["S2", "R2", "2026-02-21"], ["S3", "R3", ""]]
    tgt = [["T1", "R1", "20.02.2026"], ["T2", "R2", "Sat, 21 Feb 2026"], ["T3", "R3", ""]]
    o = match(tmp_path, ["id", "ref", "d"], src, ["id", "ref", "d"], tgt, rule_set(p("eq", eq("ref"), eq("d"))))
    assert o.pairs() == [("1", "S1", "T1"), ("1", "S2", "T2")]      # empty dates are nulls: never match


def test_equals_dates_with_trim_read_after_the_step(tmp_path):
    # U+2028 (a line separator) is removed by TRIM, not by the date reading alone: read after TRIM
    o = match(tmp_path, ["id", "ref", "d"], [["S1", "R1", "2026-02-20"]],
              ["id", "ref", "d"], [["T1", "R1", "\u2028Feb 20, 2026\u2028"]],
              rule_set(p("eq", eq("ref"), eq("d", normalize=["TRIM"]))))
    assert o.pairs() == [("1", "S1", "T1")]


def test_ids_and_partial_dates_stay_text(tmp_path):
    # numeric ids (12345678: month 56) against a date column: text, no match and no failure
    o = match(tmp_path, ["id", "ref", "d"], [["S1", "R1", "2026-02-20"]],
              ["id", "ref", "d"], [["T1", "R1", "12345678"]], rule_set(p("eq", eq("ref"), eq("d"))))
    assert o.pairs() == []
    # a text column with one value that is no date stays text: N/A equals N/A, the run does not fail
    o = match(tmp_path, ["id", "d"], [["S1", "Feb 20, 2026"], ["S2", "N/A"]],
              ["id", "d"], [["T1", "20 Feb 2026"], ["T2", "N/A"]], rule_set(p("eq", eq("d"))), out="out2")
    assert o.pairs() == [("1", "S2", "T2")]
    # references stay text
    o = match(tmp_path, ["id", "ref"], [["S1", "INV-1"], ["S2", "0012"]],
              ["id", "ref"], [["T1", "INV-1"], ["T2", "12"]], rule_set(p("eq", eq("ref"))), out="out3")
    assert o.pairs() == [("1", "S1", "T1")]


def test_the_sample_decides(tmp_path):
    # a value beyond the sampled rows that is no date: the column was decided from the sample (dates), so
    # the value fails the run naming its line, as under DATE_WINDOW
    n = DATE_SAMPLE_ROWS + 5
    src = [[f"S{i}", f"R{i}", "2026-02-20"] for i in range(n)]
    tgt = [[f"T{i}", f"R{i}", "Feb 20, 2026" if i < n - 1 else "later"] for i in range(n)]
    s = write_csv(tmp_path / "s.csv", ["id", "ref", "d"], src)
    t = write_csv(tmp_path / "t.csv", ["id", "ref", "d"], tgt)
    with pytest.raises(InputError, match=f"target input: line {n + 1}: d 'later' is not a date"):
        run_files(s, t, rule_set(p("eq", eq("ref"), eq("d"))), tmp_path / "o")
    # the same value within the sample (among the first values, or further): the column is text
    tgt[-1][2] = "Feb 20, 2026"
    for k, row in enumerate((3, 5000)):
        tgt[row][2] = "later"
        t = write_csv(tmp_path / f"t{k}.csv", ["id", "ref", "d"], tgt)
        o = run_files(s, t, rule_set(p("eq", eq("ref"), eq("d"))), tmp_path / f"o{k}")
        assert o.pairs() == []
        tgt[row][2] = "Feb 20, 2026"


def test_parquet_date_column_and_json_lines_text_dates(tmp_path):
    import duckdb
    s = str(tmp_path / "s.parquet")
    duckdb.sql(f"COPY (SELECT * FROM (VALUES ('S1', 'R1', DATE '2026-02-20'), ('S2', 'R2', DATE '2026-02-21')) "
               f"v(id, ref, d)) TO '{s}' (FORMAT parquet)")
    t = tmp_path / "t.jsonl"
    t.write_text('{"id": "T1", "ref": "R1", "d": "Feb 20, 2026"}\n{"id": "T2", "ref": "R2", "d": "21.02.2026"}\n')
    o = run_files(s, t, rule_set(p("eq", eq("ref"), eq("d"))), tmp_path / "o")
    assert o.pairs() == [("1", "S1", "T1"), ("1", "S2", "T2")]


# ---- several tolerances / windows in one pass (MATCHED records what was tolerated)

def test_matched_records_the_largest_tolerated_difference(tmp_path):
    rs = rule_set(p("p", eq("ref"), tol("gross", absolute=1), tol("net", absolute=1), window("d1"),
                    window("d2", before=0, after=5)))
    h = ["id", "ref", "net", "gross", "d1", "d2"]
    # net differs by 0.30 (the second tolerance), d2 by 2 days (the second window)
    o = match(tmp_path, h, [["S1", "R1", "10.00", "12.00", "2026-03-01", "2026-03-01"]],
              h, [["T1", "R1", "10.30", "12.00", "2026-03-01", "2026-03-03"]], rs)
    assert o.pairs() == [("1", "S1", "T1")]
    assert (o.matched[0]["amount_difference"], o.matched[0]["date_difference_days"]) == ("0.30", "2")


def test_the_tie_break_does_not_depend_on_the_order_of_the_conditions(tmp_path):
    src = [["S1", "R1", "10.00", "12.00"]]
    tgt = [["T1", "R1", "10.00", "12.90"], ["T2", "R1", "10.90", "12.00"]]
    h = ["id", "ref", "net", "gross"]
    got = []
    for k, conds in enumerate(([eq("ref"), tol("gross", absolute=1), tol("net", absolute=1)],
                               [eq("ref"), tol("net", absolute=1), tol("gross", absolute=1)])):
        o = match(tmp_path, h, src, h, tgt, rule_set(p("p", *conds)), out=f"o{k}")
        got.append((o.pairs(), [m["amount_difference"] for m in o.matched]))
    # both candidates are 0.90 away on one amount: the lowest key wins either way
    assert got[0] == got[1] == ([("1", "S1", "T1")], ["0.90"])


def test_grouped_date_difference_over_every_window(tmp_path):
    # T1 is 3 days after on d2 (the second window): the group's largest distance is 3, not d1's 1
    rs = rule_set(p("g", eq("ref"), tol("amt", absolute=0, aggregate="SUM"), window("d1", after=5),
                    window("d2", after=5), cardinality="ONE_TO_MANY", group_by={"target": ["batch"]}))
    o = match(tmp_path, ["id", "ref", "amt", "d1", "d2"], [["S1", "R1", "10.00", "2026-03-01", "2026-03-01"]],
              ["id", "ref", "amt", "d1", "d2", "batch"],
              [["T1", "R1", "4.00", "2026-03-01", "2026-03-04", "B1"],
               ["T2", "R1", "6.00", "2026-03-02", "2026-03-01", "B1"]], rs)
    assert len(o.matched) == 2
    assert {m["date_difference_days"] for m in o.matched} == {"3"}
