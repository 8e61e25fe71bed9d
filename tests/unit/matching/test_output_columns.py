"""The outputs' column types: MATCHED_COLUMNS names the MATCHED output's header and every value reads
as its type; an unmatched output keeps its input's columns and types, then the explanation (text)."""
import duckdb

from chalicelib.matching import EXPLANATION_COLUMNS, MATCHED_COLUMNS, inspect_file, unmatched_columns

from .helpers import eq, header_of, match, p, rule_set, sim, tol, window

S = ["order_id", "ref", "amount", "day", "customer", "payout"]
T = ["txn_id", "ref", "amount", "day", "payer", "payout_id"]


def _rule_set():
    return rule_set(
        p("exact", eq("ref"), eq("amount")),
        p("near", eq("ref"), tol("amount", absolute="0.05"), window("day", after=2)),
        p("named", eq("amount"), window("day"), sim("customer", "payer", threshold=0.8)),
        p("batches", eq("payout", "payout_id"), tol("amount", absolute="0.05", aggregate="SUM"),
          cardinality="ONE_TO_MANY", group_by={"target": ["payout_id"]}),
        source_key="order_id", target_key="txn_id")


SRC = [["O1", "A", "10.00", "2026-01-01", "Ann Lee", ""],
       ["O2", "B", "20.00", "2026-01-01", "Bob Stone", ""],
       ["O3", "", "30.00", "2026-01-02", "Carla Diaz", ""],
       ["O4", "", "90.00", "2026-01-03", "Dan Wu", "P1"],
       ["O5", "E", "-5.25", "2026-01-04", "Eve", ""],
       ["O6", "F", "7.00", "2026-01-09", "Fay", ""]]
TGT = [["T1", "A", "10.00", "2026-01-01", "Ann Lee", ""],
       ["T2", "B", "20.03", "2026-01-02", "Bob Stone", ""],
       ["T3", "", "30.00", "2026-01-02", "Carla Dias", ""],
       ["T4", "", "40.00", "2026-01-03", "x", "P1"],
       ["T5", "", "50.01", "2026-01-03", "y", "P1"],
       ["T6", "Z", "1.00", "2026-01-05", "Zed", ""]]


def _read_typed(path, columns):
    con = duckdb.connect()
    types = "{" + ", ".join(f"'{n}': '{t}'" for n, t in columns) + "}"
    # every value must cast to its column's type (a value that does not is an error, not a null)
    return con.execute(f"SELECT * FROM read_csv('{path}', header=true, columns={types}, auto_detect=false)").fetchall()


def test_matched_columns_name_the_header_and_every_value_reads_as_its_type(tmp_path):
    o = match(tmp_path, S, SRC, T, TGT, _rule_set())
    assert {m["pass"] for m in o.matched} == {"1", "2", "3", "4"}    # every kind of pass wrote a line
    assert header_of(o.result.matched_path) == [n for n, _ in MATCHED_COLUMNS]
    rows = _read_typed(o.result.matched_path, MATCHED_COLUMNS)
    assert len(rows) == len(o.matched)
    # the tolerated differences, the day distance and the similarity came through as numbers
    by_pass = {r[1]: r for r in rows}
    assert str(by_pass[2][8]) == "0.0300000000" and by_pass[2][9] == 1
    assert 0.8 <= float(by_pass[3][10]) < 1


def test_unmatched_columns_are_the_inputs_typed_columns_then_the_explanation(tmp_path):
    o = match(tmp_path, S, SRC, T, TGT, _rule_set())
    for side, rows in (("source", o.unmatched_source), ("target", o.unmatched_target)):
        assert rows, side
        path = o.result.unmatched_source_path if side == "source" else o.result.unmatched_target_path
        typed = [(c.name, c.type) for c in inspect_file(str(tmp_path / f"{side}.csv")).columns]
        assert {t for _, t in typed} != {"VARCHAR"}                     # the inputs have typed columns
        cols = unmatched_columns(typed)
        assert cols == typed + [(n, "VARCHAR") for n in EXPLANATION_COLUMNS]
        assert header_of(path) == [n for n, _ in cols]
        assert len(_read_typed(path, cols)) == len(rows)


def test_an_unmatched_output_read_as_an_input_gives_the_same_columns(tmp_path):
    o = match(tmp_path, S, SRC, T, TGT, _rule_set())
    typed = [(c.name, c.type) for c in inspect_file(str(tmp_path / "source.csv")).columns]
    again = [(c.name, c.type) for c in inspect_file(o.result.unmatched_source_path).columns]
    # a chained input's explanation columns are dropped and the explanation appended once
    assert unmatched_columns(unmatched_columns(typed)) == unmatched_columns(typed)
    assert [n for n, _ in unmatched_columns(again)] == [n for n, _ in unmatched_columns(typed)]


def test_nested_and_binary_types_are_text_in_an_output():
    cols = unmatched_columns([("a", "DECIMAL(18,2)"), ("b", "STRUCT(x INTEGER)"), ("c", "INTEGER[]"),
                              ("d", "BLOB"), ("e", "TIMESTAMP WITH TIME ZONE"), ("f", "DATE"), ("g", "")])
    assert cols[:7] == [("a", "DECIMAL(18,2)"), ("b", "VARCHAR"), ("c", "VARCHAR"), ("d", "VARCHAR"),
                        ("e", "TIMESTAMP WITH TIME ZONE"), ("f", "DATE"), ("g", "VARCHAR")]


def test_nested_values_are_written_as_json(tmp_path):
    """A struct was written as DuckDB's text {'a': 2, 'b': ['x']}, which is not JSON; a list or a map
    likewise. JSON reads back (chaining, the exceptions' rowData) as what the input held."""
    import json

    from .helpers import read_csv, run_files, write_csv
    src = str(tmp_path / "s.parquet")
    duckdb.connect().execute(
        f"COPY (SELECT 'B' AS ref, {{'a': 2, 'b': ['x', 'y\"q']}} AS nested, [1, 2] AS lst, MAP {{'k': 1}} AS m) "
        f"TO '{src}' (FORMAT parquet)")
    tgt = write_csv(tmp_path / "t.csv", ["ref"], [["A"]])
    o = run_files(src, tgt, rule_set(p("p", eq("ref")), source_key=None, target_key=None), tmp_path / "out")
    row = read_csv(o.result.unmatched_source_path)[0]
    assert json.loads(row["nested"]) == {"a": 2, "b": ["x", 'y"q']}
    assert json.loads(row["lst"]) == [1, 2] and json.loads(row["m"]) == {"k": 1}
