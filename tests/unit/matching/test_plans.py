"""How the engine's statements are planned where that is the point of their SQL: work that
DuckDB would otherwise do for every input row."""
import duckdb
import pytest

import chalicelib.matching.engine as engine

from .helpers import eq, match, p, rule_set, tol, window

S = ["order_id", "ref", "amount", "date", "note"]
T = ["txn_id", "ref", "amount", "date", "memo"]
# the plans are read as DuckDB 1.3 and later print them; the engine suite also runs against the older
# DuckDB of the Lambda package (tests/unit/test_lambda_duckdb.py), which prints them otherwise
pytestmark = pytest.mark.skipif(tuple(int(x) for x in duckdb.__version__.split(".")[:2]) < (1, 3),
                                reason="plan text of DuckDB 1.3 and later")


def _plans_of(monkeypatch, needle):
    """EXPLAIN of every statement of a run that holds ``needle``, made just before it runs."""
    plans = []
    run_sql = engine._Runner.sql

    def sql(self, q, params=None):
        if needle in q:
            plans.append((q, "\n".join(r[1] for r in self.con.execute("EXPLAIN " + q).fetchall())))
        return run_sql(self, q, params)
    monkeypatch.setattr(engine._Runner, "sql", sql)
    return plans


def _rows(n, prefix, keep):
    return [[f"{prefix}{i}", f"R{i}", f"{i}.50", "2026-01-05", "x" * 20] for i in range(n) if keep(i)]


def test_rows_left_by_a_pass_are_told_apart_inside_the_table_scan(tmp_path, monkeypatch):
    """The rest tables and the unmatched outputs keep the rows whose bit is not set in the matched
    rows' bit string. Tested against a scalar subquery, that was a join after a scan of every
    column of every input row; as a session variable the test is a filter of the scan itself,
    which reads the other columns only for the rows it keeps."""
    plans = _plans_of(monkeypatch, "get_bit(")
    one_pass = rule_set(p("exact", eq("ref")), source_key="order_id", target_key="txn_id")
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    o = match(tmp_path / "one", S, _rows(3000, "O", lambda i: i % 7), T, _rows(3000, "T", lambda i: i % 5),
              one_pass)
    assert [r["order_id"] for r in o.unmatched_source] == [f"O{i}" for i in range(3000) if i % 7 and not i % 5]
    assert [r["txn_id"] for r in o.unmatched_target] == [f"T{i}" for i in range(3000) if i % 5 and not i % 7]
    two_passes = rule_set(p("exact", eq("ref"), eq("amount")),
                          p("near", eq("ref"), tol("amount", absolute="0.01"), window("date", after=2)),
                          source_key="order_id", target_key="txn_id")
    match(tmp_path / "two", S, _rows(3000, "O", lambda i: i % 7), T, _rows(3000, "T", lambda i: i % 5), two_passes)
    kinds = {("COPY" if q.lstrip().startswith("COPY") else "rest") for q, _ in plans}
    assert kinds == {"COPY", "rest"}
    for q, plan in plans:
        assert "NESTED_LOOP" not in plan.upper().replace(" ", "_") and "BLOCKWISE" not in plan.upper(), (q, plan)
        scan = plan[plan.index("Seq Scan"):]
        assert "Filters:" in scan and scan.index("Filters:") < scan.index("get_bit"), (q, plan)
