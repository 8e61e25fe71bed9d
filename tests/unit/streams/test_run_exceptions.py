"""Exceptions staged from an engine output by DuckDB, in the column order the COPY expects."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from chalicelib.streams import artifacts

HEADER = "order_id,amount,\"no\"\"te\",_row_key,_reason,_closest_key,_closest_pass,_failed_condition,_detail\n"


def test_rows_keep_data_order_reason_and_closest_candidate(tmp_path: Path):
    src = tmp_path / "u.csv"
    src.write_text(HEADER
                   + 'ORD-1,10.00,"a,b\nc",ORD-1,TOLERANCE_EXCEEDED,MP-9,Exact,amount,amount differs by 1.50\n'
                   + "ORD-2,5.00,,,SOMETHING_NEW,,,,\n"
                   + "ORD-3,7.25,x,ORD-3,AMBIGUOUS,MP-1,Exact,,two candidates\n")
    out = tmp_path / "staged.csv"
    assert artifacts.exceptions_csv(src, out, (9001, 9201, 9301, 12001, 1, "SOURCE")) == 3
    rows = list(csv.reader(out.open(newline="")))
    assert [r[:7] for r in rows] == [["9001", "9201", "9301", "12001", "1", "SOURCE", str(n)] for n in (1, 2, 3)]
    # the row key; NULL (unquoted empty) for a row whose key column is empty — its position among the
    # unmatched rows ("2") is no key of it, and reads like another row's
    assert [r[7] for r in rows] == ["ORD-1", "", "ORD-3"]
    assert json.loads(rows[0][8]) == {"order_id": "ORD-1", "amount": "10.00", 'no"te': "a,b\nc"}
    assert json.loads(rows[1][8])['no"te'] == ""                         # an empty value stays a string
    assert [r[9] for r in rows] == ["TOLERANCE_EXCEEDED", "NO_CANDIDATE", "AMBIGUOUS"]
    assert json.loads(rows[0][10]) == {"rowKey": "MP-9", "pass": "Exact", "failedCondition": "amount",
                                       "detail": "amount differs by 1.50"}
    assert rows[1][10] == ""                                             # NULL: no candidate
    assert json.loads(rows[2][10])["failedCondition"] is None


def test_an_output_without_explanation_columns_is_refused(tmp_path: Path):
    src = tmp_path / "plain.csv"
    src.write_text("order_id,amount\nORD-1,1.00\n")
    with pytest.raises(ValueError, match="explanation columns"):
        artifacts.exceptions_csv(src, tmp_path / "o.csv", (1, 1, 1, 1, 1, "TARGET"))


def test_header_only_output_stages_nothing(tmp_path: Path):
    src = tmp_path / "empty.csv"
    src.write_text(HEADER)
    assert artifacts.exceptions_csv(src, tmp_path / "o.csv", (1, 1, 1, 1, 1, "TARGET")) == 0


def _staged(src: Path, tmp_path: Path) -> list[list[str]]:
    out = tmp_path / "staged.csv"
    n = artifacts.exceptions_csv(src, out, (1, 1, 1, 1, 1, "SOURCE"))
    rows = list(csv.reader(out.open(newline="", encoding="utf-8")))
    assert len(rows) == n
    return rows


def test_a_closest_candidate_whose_key_value_is_empty_keeps_its_pass_condition_and_detail(tmp_path: Path):
    src = tmp_path / "u.csv"
    src.write_text("k,ref,amt,_row_key,_reason,_closest_key,_closest_pass,_failed_condition,_detail\n"
                   "S1,R1,1.00,S1,TOLERANCE_EXCEEDED,,p,amt,amt differs by 0.50; tolerance 0.01\n"
                   "S2,R2,2.00,S2,NO_CANDIDATE,,,,no target row with the same ref = ref in any pass\n")
    rows = _staged(src, tmp_path)
    assert json.loads(rows[0][10]) == {"rowKey": None, "pass": "p", "failedCondition": "amt",
                                       "detail": "amt differs by 0.50; tolerance 0.01"}
    assert rows[1][9:] == ["NO_CANDIDATE", ""]                       # NULL: no candidate
    # the Python reading of the same output agrees
    assert [r[4] for r in artifacts.exception_rows(src)] == [json.loads(rows[0][10]), None]


@pytest.mark.parametrize("name", ["row_no", "ROW_NO", "Row_No", "__d0", "__d1"])
def test_an_input_column_named_like_the_loaders_own_is_data(tmp_path: Path, name: str):
    src = tmp_path / "u.csv"
    src.write_text(f"k,{name},_row_key,_reason,_closest_key,_closest_pass,_failed_condition,_detail\n"
                   "S1,7,S1,NO_CANDIDATE,,,,\n"
                   "S2,,S2,NO_CANDIDATE,,,,\n")
    rows = _staged(src, tmp_path)
    assert [r[6] for r in rows] == ["1", "2"]                        # the row numbers
    assert [json.loads(r[8]) for r in rows] == [{"k": "S1", name: "7"}, {"k": "S2", name: ""}]


@pytest.mark.parametrize("memo", ['x,y "q"', 'say "hi"'])   # a comma: one field too many; none: escaping kept
def test_a_quoted_value_after_the_first_20480_unquoted_rows_is_read_in_the_engines_dialect(tmp_path: Path, memo):
    src = tmp_path / "u.csv"
    plain = 20_500
    quoted = '"' + memo.replace('"', '""') + '"'
    with src.open("w", newline="") as f:
        f.write("k,ref,memo,_row_key,_reason,_closest_key,_closest_pass,_failed_condition,_detail\n")
        f.writelines(f"S{i},R{i},plain,S{i},NO_CANDIDATE,,,,no target row\n" for i in range(plain))
        f.write(f"SLAST,RLAST,{quoted},SLAST,NO_CANDIDATE,,,,no target row\n")
    rows = _staged(src, tmp_path)
    assert len(rows) == plain + 1
    assert rows[-1][6:8] == [str(plain + 1), "SLAST"]
    assert json.loads(rows[-1][8]) == {"k": "SLAST", "ref": "RLAST", "memo": memo}
    assert json.loads(rows[0][8]) == {"k": "S0", "ref": "R0", "memo": "plain"}


def test_column_names_with_white_space_are_kept_as_the_input_has_them(tmp_path: Path):
    # written by DuckDB as the engine writes its outputs (names of JSON lines keys / Parquet columns)
    import duckdb

    src = tmp_path / "u.csv"
    duckdb.connect().execute(
        "COPY (SELECT 'S1' AS k, 'a' AS \"memo \", 'b' AS \" note\", 'c' AS \" \", 'd' AS \"tab\t\", 'S1' AS _row_key,"
        " 'TOLERANCE_EXCEEDED' AS _reason, '' AS _closest_key, 'p' AS _closest_pass, 'memo ' AS _failed_condition,"
        f" 'x' AS _detail) TO '{src}' (FORMAT csv, HEADER true)")
    rows = _staged(src, tmp_path)
    assert list(json.loads(rows[0][8]).items()) == [("k", "S1"), ("memo ", "a"), (" note", "b"), (" ", "c"),
                                                    ("tab\t", "d")]
    assert json.loads(rows[0][10])["failedCondition"] == "memo "


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_the_engines_unmatched_output_of_spaced_and_row_no_names_loads_with_them(tmp_path: Path, fmt: str):
    import duckdb

    from chalicelib.matching import RuleSet, run_match

    names = ["k", "ref", "memo ", " note", " ", "row_no"]
    values = [("S1", "R1", "x", "y", "z", "7"), ("S2", "R2", "", "b", "c", "8")]
    src = tmp_path / f"s.{fmt}"
    if fmt == "jsonl":
        src.write_text("".join(json.dumps(dict(zip(names, v))) + "\n" for v in values))
    else:
        select = " UNION ALL ".join("SELECT " + ", ".join(f"'{x}' AS \"{n}\"" for n, x in zip(names, v))
                                    for v in values)
        duckdb.connect().execute(f"COPY ({select}) TO '{src}' (FORMAT parquet)")
    tgt = tmp_path / "t.csv"
    tgt.write_text("k,ref\nT1,NOPE\n")
    rs = RuleSet.model_validate({"name": "r", "sourceKey": "k", "targetKey": "k", "passes": [
        {"name": "p", "cardinality": "ONE_TO_ONE",
         "conditions": [{"source": "ref", "target": "ref", "operator": "EQUALS"}]}]})
    result = run_match(str(src), str(tgt), rs, str(tmp_path / "out"))
    rows = _staged(Path(result.unmatched_source_path), tmp_path)
    assert [r[6:8] for r in rows] == [["1", "S1"], ["2", "S2"]]
    assert [list(json.loads(r[8]).items()) for r in rows] == [list(zip(names, v)) for v in values]
