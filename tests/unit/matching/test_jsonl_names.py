"""Column names of JSON-lines and Parquet inputs: unique ignoring case and never empty, as a CSV header's are.

DuckDB's names ignore case: its JSON reader took a key `A` beside `a` for a column `A_1` that no object holds
(the file READY, every value of `A` lost), and an empty key made the whole file "not JSON lines" without a line.
"""
import json
import struct

import duckdb
import pytest

from chalicelib.matching import Column, InputError, inspect_file

from .helpers import eq, p, rule_set, run_files

UNIQUE = "column names must be unique ignoring case"


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def refused(path):
    with pytest.raises(InputError) as exc:
        inspect_file(path)
    return str(exc.value)


@pytest.mark.parametrize("body, message", [
    # the audit's file: both keys on every line
    ('{"k":"S1","ref":"R1","a":1,"A":2}\n{"k":"S2","ref":"R2","a":3,"A":4}\n',
     f"line 1: key 'A' differs from key 'a' only in case; {UNIQUE}"),
    # on different lines: the later one is named, with the line of the first
    ('{"Amount":1}\n{"amount":2}\n', f"line 2: key 'amount' differs from key 'Amount' of line 1 only in case; {UNIQUE}"),
    # beside the key column
    ('{"k":"S1","ref":"R1"}\n\n{"k":"S2","ref":"R2","K":"x"}\n',
     f"line 3: key 'K' differs from key 'k' only in case; {UNIQUE}"),
    # a name with a quote, and a real key named like DuckDB's renaming
    ('{"it\'s":1,"it\'s_1":2}\n{"IT\'S":3}\n', f"line 2: key \"IT'S\" differs from key \"it's\" of line 1 only in case; {UNIQUE}"),
    # beyond ASCII, as a CSV header's names compare
    ('{"\u00c9t\u00e9":1}\n{"\u00e9t\u00e9":2}\n',
     f"line 2: key '\u00e9t\u00e9' differs from key '\u00c9t\u00e9' of line 1 only in case; {UNIQUE}"),
], ids=["same-line", "other-lines", "key-column", "quote", "unicode"])
def test_json_keys_that_differ_only_in_case_are_refused_naming_the_line(tmp_path, body, message):
    assert refused(write(tmp_path, "s.jsonl", body)) == message


def test_a_late_key_that_differs_only_in_case_is_named(tmp_path):
    rows = "".join(json.dumps({"id": f"S{i}", "memo": "x"}) + "\n" for i in range(30000))
    path = write(tmp_path, "s.jsonl", rows + '{"id": "S30000", "Memo": "y"}\n')
    assert refused(path) == f"line 30001: key 'Memo' differs from key 'memo' of line 1 only in case; {UNIQUE}"


def test_a_run_on_such_a_file_is_refused_too_not_read_with_empty_values(tmp_path):
    src = write(tmp_path, "s.jsonl", '{"id":"S1","ref":"R1"}\n{"id":"S2","Ref":"R2"}\n')
    tgt = write(tmp_path, "t.csv", "id,ref\nT1,R1\nT2,R2\n")
    with pytest.raises(InputError) as exc:
        run_files(src, tgt, rule_set(p("p", eq("ref"))), tmp_path / "out")
    assert str(exc.value) == f"source input: line 2: key 'Ref' differs from key 'ref' of line 1 only in case; {UNIQUE}"


def test_a_key_twice_in_one_object_is_refused_naming_its_line(tmp_path):
    # DuckDB reads the file's count without the key's column; its run failed when it read it
    path = write(tmp_path, "s.jsonl", '{"k":"S1","a":1}\n\n{"k":"S2","a":2,"a":3}\n')
    assert refused(path) == "line 3: key 'a' appears twice in the object"


def test_keys_whose_names_only_look_renamed_are_read(tmp_path):
    path = write(tmp_path, "s.jsonl", '{"id":"S1","phone":"1","phone_1":"2"}\n{"id":"S2","Amount":5,"amount_2":6}\n')
    info = inspect_file(path)
    assert info.row_count == 2
    assert info.column_names == ["id", "phone", "phone_1", "Amount", "amount_2"]
    tgt = write(tmp_path, "t.csv", "id,phone_1,amount_2\nT1,2,\nT2,,6\n")
    out = run_files(path, tgt, rule_set(p("p", eq("phone_1")), p("q", eq("amount_2"))), tmp_path / "out")
    assert sorted((r["source_key"], r["target_key"]) for r in out.matched) == [("S1", "T1"), ("S2", "T2")]
    # a column named so that holds no value: every line's keys are looked at, and they are the file's
    info = inspect_file(write(tmp_path, "n.jsonl", '{"id":"S1","phone":"1","phone_1":null}\n{"id":"S2"}\n'))
    assert info.row_count == 2 and info.column_names == ["id", "phone", "phone_1"]


@pytest.mark.parametrize("body, message", [
    # the audit's file (was "not JSON lines: each line is one row: ...", naming no line)
    ('{"k":"S1"}\n{"k":"S2"}\n{"k":"S3","":1}\n', 'line 3: key 2 of the object has no name ("")'),
    ('\n{"":1,"k":"S1"}\n', 'line 2: key 1 of the object has no name ("")'),
    # the first problem of the file is named: a line that is no object before it, or after it
    ('{"k":"S1"}\n[1]\n{"":1}\n', 'line 2: not a JSON object (an array); each line is one row: {"column": value, ...}'),
    ('{"k":"S1","":1}\n[1]\n', 'line 1: key 2 of the object has no name ("")'),
])
def test_an_empty_json_key_is_refused_naming_the_line(tmp_path, body, message):
    assert refused(write(tmp_path, "s.jsonl", body)) == message


def test_a_key_of_white_space_is_a_name_as_in_a_csv_header(tmp_path):
    jl = inspect_file(write(tmp_path, "s.jsonl", '{"k":"S1"," ":1,"v":2}\n'))
    csv = inspect_file(write(tmp_path, "s.csv", "k, ,v\nS1,1,2\n"))
    assert [c.name for c in jl.columns] == [c.name for c in csv.columns] == ["k", " ", "v"]


def _parquet(tmp_path, name, select, rename=None):
    """A Parquet file written by DuckDB, then a column name changed in its footer (DuckDB, whose names ignore
    case, writes no file with two names that differ only in case, nor one without a name)."""
    path = tmp_path / name
    duckdb.connect().execute(f"COPY ({select}) TO '{path}' (FORMAT parquet)")
    if rename:
        old, new = rename
        data = path.read_bytes()
        footer = struct.unpack("<I", data[-8:-4])[0]
        count = data.count(bytes([len(old)]) + old)   # a Thrift string: its length, then its bytes
        body = data[:-8].replace(bytes([len(old)]) + old, bytes([len(new)]) + new)
        path.write_bytes(body + struct.pack("<I", footer + count * (len(new) - len(old))) + b"PAR1")
    return str(path)


@pytest.mark.parametrize("rename, message", [
    ((b"XCASF", b"XCASE"), f"schema: column 3 'XCASE' differs from column 2 'xcase' only in case; {UNIQUE}"),
    ((b"XCASF", b"xcase"), "schema: column name 'xcase' appears twice (columns 2 and 3)"),
    ((b"XCASF", b""), "schema: column 3 has no name"),
])
def test_parquet_columns_named_alike_ignoring_case_or_without_a_name_are_refused(tmp_path, rename, message):
    path = _parquet(tmp_path, "x.parquet", "SELECT 'K1' AS k, 1 AS xcase, 2 AS XCASF", rename)
    with duckdb.connect() as con:   # DuckDB reads the file, under a name it does not have: xcase_1, XCASE_1, C2
        assert len(con.execute(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()) == 3
    assert refused(path) == message


def test_parquet_nested_fields_are_not_columns(tmp_path):
    path = _parquet(tmp_path, "n.parquet", "SELECT {'x': 1, 'y': [{'X': 2}]} AS s, 3 AS X, MAP {'k': 1} AS m")
    info = inspect_file(path)
    assert [c.name for c in info.columns] == ["s", "X", "m"] and info.row_count == 1
    assert inspect_file(_parquet(tmp_path, "p.parquet", "SELECT 'K1' AS k, 1 AS xcase")).columns == [
        Column("k", "VARCHAR"), Column("xcase", "INTEGER")]
