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
