"""Property test: for random small inputs, every row ends in exactly one output, no double match in
ONE_TO_ONE, every reported match satisfies its pass's conditions, and the result does not depend on
the order of the input rows."""
import random
import tempfile
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .helpers import eq, p, rule_set, run_files, tol, window, write_csv

H = ["id", "ref", "amount", "date", "batch"]
RS = rule_set(
    p("exact", eq("ref", normalize=["TRIM", "UPPER"]), eq("amount")),
    p("near", eq("ref", normalize=["TRIM", "UPPER"]), tol("amount", absolute="0.05"),
      window("date", before=1, after=2)),
    p("batches", eq("batch"), tol("amount", absolute="0.02", aggregate="SUM"),
      cardinality="ONE_TO_MANY", group_by={"target": ["batch"]}),
    p("amount and day", window("date", before=0, after=1), tol("amount", percent="10")),
)
D0 = date(2026, 1, 10)

row = st.tuples(
    st.sampled_from(["A", "a ", "B", "C", "", None]),
    st.sampled_from(["1.00", "1.02", "1.05", "1.06", "2.00", "-1.00", "0.10", "0.20", "0.30"]),
    st.integers(min_value=-2, max_value=3),
    st.sampled_from(["X", "Y", "", None]),
)


def rows(prefix, data):
    return [[f"{prefix}{i:02d}", r, a, (D0 + timedelta(days=d)).isoformat(), b]
            for i, (r, a, d, b) in enumerate(data)]


def run(tmp, src, tgt, name):
    s = write_csv(Path(tmp) / f"{name}_s.csv", H, src)
    t = write_csv(Path(tmp) / f"{name}_t.csv", H, tgt)
    return run_files(s, t, RS, Path(tmp) / name)


def norm(v):
    return (v or "").strip().upper() or None


def check_pass(pass_no, src, tgts):
    """The conditions of pass `pass_no` between one source row and its target row(s)."""
    amt = Decimal(src["amount"])
    sd = date.fromisoformat(src["date"])
    if pass_no == 1:
        (t,) = tgts
        assert norm(src["ref"]) is not None and norm(src["ref"]) == norm(t["ref"])
        assert amt == Decimal(t["amount"])
    elif pass_no == 2:
        (t,) = tgts
        assert norm(src["ref"]) is not None and norm(src["ref"]) == norm(t["ref"])
        assert abs(Decimal(t["amount"]) - amt) <= Decimal("0.05")
        assert sd - timedelta(days=1) <= date.fromisoformat(t["date"]) <= sd + timedelta(days=2)
    elif pass_no == 3:
        assert src["batch"] and all(t["batch"] == src["batch"] for t in tgts)
        assert abs(sum(Decimal(t["amount"]) for t in tgts) - amt) <= Decimal("0.02")
    else:
        (t,) = tgts
        assert sd <= date.fromisoformat(t["date"]) <= sd + timedelta(days=1)
        assert abs(Decimal(t["amount"]) - amt) <= abs(amt) * Decimal("0.10")


def outcome_key(o):
    matched = sorted((m["pass"], m["source_key"], m["target_key"]) for m in o.matched)
    us = sorted((r["_row_key"], r["_reason"], r["_closest_key"]) for r in o.unmatched_source)
    ut = sorted((r["_row_key"], r["_reason"], r["_closest_key"]) for r in o.unmatched_target)
    return matched, us, ut


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(row, max_size=12), st.lists(row, max_size=12), st.randoms(use_true_random=False))
def test_matching_properties(src_data, tgt_data, rnd):
    src, tgt = rows("s", src_data), rows("t", tgt_data)
    with tempfile.TemporaryDirectory() as tmp:
        o = run(tmp, src, tgt, "a")
        by_s = {r[0]: dict(zip(H, r)) for r in src}
        by_t = {r[0]: dict(zip(H, r)) for r in tgt}
        # every row in exactly one of matched / unmatched
        ms = {m["source_key"] for m in o.matched}
        mt = [m["target_key"] for m in o.matched]
        us = [r["_row_key"] for r in o.unmatched_source]
        ut = [r["_row_key"] for r in o.unmatched_target]
        assert sorted(ms) + [] == sorted(set(ms))
        assert len(mt) == len(set(mt)), "a target row matched twice"
        assert sorted(list(ms) + us) == sorted(by_s)
        assert sorted(mt + ut) == sorted(by_t)
        # ONE_TO_ONE: one line per source row; groups: one match id per source row
        per_source = defaultdict(set)
        groups = defaultdict(list)
        for m in o.matched:
            per_source[m["source_key"]].add(m["match_id"])
            groups[(m["pass"], m["match_id"])].append(m)
        assert all(len(v) == 1 for v in per_source.values())
        for (pass_no, _), lines in groups.items():
            if pass_no != "3":
                assert len(lines) == 1
            (skey,) = {m["source_key"] for m in lines}
            check_pass(int(pass_no), by_s[skey], [by_t[m["target_key"]] for m in lines])
        assert o.result.matched_source_rows == len(ms) and o.result.unmatched_target_rows == len(ut)
        # the order of the input rows does not matter
        src2, tgt2 = src[:], tgt[:]
        rnd.shuffle(src2)
        rnd.shuffle(tgt2)
        assert outcome_key(run(tmp, src2, tgt2, "b")) == outcome_key(o)


def test_property_example_with_every_pass(tmp_path):
    """A fixed example that reaches all four passes (guards the property test's own checks)."""
    src = rows("s", [("A", "1.00", 0, None), ("B", "1.02", 0, None), ("", "0.30", 0, "X"),
                     (None, "2.00", 1, None)])
    tgt = rows("t", [("a ", "1.00", 0, None), ("B", "1.06", 1, None), ("", "0.10", 0, "X"),
                     ("", "0.20", 0, "X"), ("C", "2.00", 2, None)])
    o = run(tmp_path, src, tgt, "x")
    assert sorted((m["pass"], m["source_key"], m["target_key"]) for m in o.matched) == [
        ("1", "s00", "t00"), ("2", "s01", "t01"), ("3", "s02", "t02"), ("3", "s02", "t03"), ("4", "s03", "t04")]
    random.Random(1).shuffle(src)
    assert outcome_key(run(tmp_path, src, tgt, "y")) == outcome_key(o)
