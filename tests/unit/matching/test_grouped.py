"""ONE_TO_MANY and MANY_TO_ONE: a row against the SUM of a group, under the amount tolerance."""
import pytest

from .helpers import eq, match, p, rule_set, tol, window

S = ["id", "payout_ref", "amount", "date"]
T = ["id", "payout_id", "gross", "date"]


def one_to_many(absolute="0.05", extra=()):
    return rule_set(p("Payout batches", eq("payout_ref", "payout_id"),
                      tol("amount", "gross", absolute=absolute, aggregate="SUM"), *extra,
                      cardinality="ONE_TO_MANY", group_by={"target": ["payout_id"]}))


def test_one_source_row_matches_a_group_whose_sum_is_within_tolerance(tmp_path):
    src = [["s1", "P1", "100.00", "2026-01-01"], ["s2", "P2", "10.00", "2026-01-01"]]
    tgt = [["t1", "P1", "60.00", "2026-01-01"], ["t2", "P1", "39.97", "2026-01-02"],
           ["t3", "P2", "10.00", "2026-01-01"], ["t4", "P3", "1.00", "2026-01-01"]]
    o = match(tmp_path, S, src, T, tgt, one_to_many())
    assert o.pairs() == [("1", "s1", "t1"), ("1", "s1", "t2"), ("1", "s2", "t3")]
    group = [m for m in o.matched if m["source_key"] == "s1"]
    assert {m["match_id"] for m in group} == {"p1-s1"}
    assert group[0]["amount_difference"] == "-0.03"
    assert o.result.summary["passes"][0] == {"pass": 1, "name": "Payout batches", "cardinality": "ONE_TO_MANY",
                                             "matches": 2, "sourceRows": 2, "targetRows": 3}
    assert o.reasons("target") == {"t4": "NO_CANDIDATE"}


def test_group_sum_off_by_more_than_the_tolerance(tmp_path):
    src = [["s1", "P1", "100.00", "2026-01-01"]]
    tgt = [["t1", "P1", "50.00", "2026-01-01"], ["t2", "P1", "30.00", "2026-01-01"],
           ["t3", "P1", "20.40", "2026-01-01"]]
    o = match(tmp_path, S, src, T, tgt, one_to_many())
    assert o.matched == []
    u = o.unmatched()["s1"]
    assert u["_reason"] == "TOLERANCE_EXCEEDED"
    assert u["_closest_key"] == "P1" and u["_closest_pass"] == "Payout batches"
    # 100.00 against 50.00 + 30.00 + 20.40 = 100.40: written like the amounts, with their two decimals
    assert u["_detail"] == "sum of 3 target rows differs by 0.40; tolerance 0.05"
    for key, row in o.unmatched("target").items():
        assert row["_reason"] == "TOLERANCE_EXCEEDED" and row["_closest_key"] == "s1", key


def test_group_members_must_all_fall_in_the_date_window(tmp_path):
    rs = one_to_many(extra=[window("date", before=0, after=1)])
    src = [["s1", "P1", "3.00", "2026-01-01"], ["s2", "P2", "3.00", "2026-01-01"]]
    tgt = [["t1", "P1", "1.00", "2026-01-01"], ["t2", "P1", "2.00", "2026-01-02"],
           ["t3", "P2", "1.00", "2026-01-01"], ["t4", "P2", "2.00", "2026-01-05"]]
    o = match(tmp_path, S, src, T, tgt, rs)
    assert o.pairs() == [("1", "s1", "t1"), ("1", "s1", "t2")]
    assert o.unmatched()["s2"]["_reason"] == "DATE_OUT_OF_WINDOW"


def test_many_to_one_is_the_mirror_image(tmp_path):
    rs = rule_set(p("Settlements", eq("batch", "ref"), tol("amount", absolute="0", aggregate="SUM"),
                    cardinality="MANY_TO_ONE", group_by={"source": ["batch"]}))
    src = [["s1", "B1", "0.10"], ["s2", "B1", "0.20"], ["s3", "B2", "5.00"], ["s4", "B2", "5.00"]]
    tgt = [["t1", "B1", "0.30"], ["t2", "B2", "10.01"]]
    o = match(tmp_path, ["id", "batch", "amount"], src, ["id", "ref", "amount"], tgt, rs)
    assert o.pairs() == [("1", "s1", "t1"), ("1", "s2", "t1")]
    assert {m["match_id"] for m in o.matched} == {"p1-t1"}
    assert o.reasons() == {"s3": "TOLERANCE_EXCEEDED", "s4": "TOLERANCE_EXCEEDED"}
    assert o.unmatched()["s3"]["_detail"] == "sum of 2 source rows differs by 0.01; tolerance 0.00"


def test_one_to_many_after_a_one_to_one_pass_uses_only_the_rows_left(tmp_path):
    rs = rule_set(p("exact", eq("payout_ref", "payout_id"), eq("amount", "gross")),
                  p("batches", eq("payout_ref", "payout_id"), tol("amount", "gross", absolute="0", aggregate="SUM"),
                    cardinality="ONE_TO_MANY", group_by={"target": ["payout_id"]}))
    src = [["s1", "P1", "5.00", ""], ["s2", "P1", "7.00", ""]]
    tgt = [["t1", "P1", "5.00", ""], ["t2", "P1", "3.00", ""], ["t3", "P1", "4.00", ""]]
    o = match(tmp_path, S, src, T, tgt, rs)
    assert o.pairs() == [("1", "s1", "t1"), ("2", "s2", "t2"), ("2", "s2", "t3")]


def test_two_equal_sources_for_one_group_tie_break_by_key(tmp_path):
    src = [["s2", "P1", "3.00", ""], ["s1", "P1", "3.00", ""]]
    tgt = [["t1", "P1", "1.00", ""], ["t2", "P1", "2.00", ""]]
    o = match(tmp_path, S, src, T, tgt, one_to_many())
    assert o.pairs() == [("1", "s1", "t1"), ("1", "s1", "t2")]
    assert o.reasons() == {"s2": "AMBIGUOUS"}


def test_a_group_that_is_no_candidate_is_not_explained_as_ambiguous(tmp_path):
    """A group matches as a whole only when all its rows share the EQUALS values and have an amount and
    a date. Such a group was explained as a near miss on its sum ('several equally good candidates',
    AMBIGUOUS), or with the sum of the rows that had an amount ('sum of 2 target rows differs by 20.00'
    for a group of one 10.00 and one empty amount against 30.00)."""
    rs = rule_set(p("Batches", eq("ref"), tol("amount", absolute="0", aggregate="SUM"),
                    window("date", before=0, after=1), cardinality="ONE_TO_MANY", group_by={"target": ["batch"]}))
    h_s, h_t = ["id", "ref", "amount", "date"], ["id", "ref", "batch", "amount", "date"]
    src = [["s1", "A", "30.00", "2026-01-01"], ["s2", "B", "30.00", "2026-01-01"], ["s3", "C", "30.00", "2026-01-01"]]
    tgt = [["t1", "A", "B1", "10.00", "2026-01-01"], ["t2", "X", "B1", "20.00", "2026-01-01"],    # keys differ
           ["t3", "B", "B2", "10.00", "2026-01-01"], ["t4", "B", "B2", "", "2026-01-01"],         # an empty amount
           ["t5", "C", "B3", "10.00", "2026-01-01"], ["t6", "C", "B3", "20.00", ""]]               # an empty date
    o = match(tmp_path, h_s, src, h_t, tgt, rs)
    assert o.matched == []
    got = {k: (r["_reason"], r["_closest_key"], r["_failed_condition"], r["_detail"]) for k, r in o.unmatched().items()}
    assert got == {
        "s1": ("NO_CANDIDATE", "B1", "ref", "the target rows of B1 do not all have the same ref; a group matches as a whole"),
        "s2": ("TOLERANCE_EXCEEDED", "B2", "amount", "a target row of B2 has no amount"),
        "s3": ("DATE_OUT_OF_WINDOW", "B3", "date", "a target row of B3 has no date")}
    assert {k: r["_reason"] for k, r in o.unmatched("target").items()} == {
        "t1": "NO_CANDIDATE", "t2": "NO_CANDIDATE", "t3": "TOLERANCE_EXCEEDED", "t4": "TOLERANCE_EXCEEDED",
        "t5": "DATE_OUT_OF_WINDOW", "t6": "DATE_OUT_OF_WINDOW"}


def test_group_date_window_sentence_says_one_day(tmp_path):
    rs = one_to_many(extra=(window("date", before=0, after=1),))
    src = [["s1", "P1", "100.00", "2026-01-01"]]
    tgt = [["t1", "P1", "60.00", "2026-01-01"], ["t2", "P1", "40.00", "2026-01-03"]]
    o = match(tmp_path, S, src, T, tgt, rs)
    assert o.unmatched()["s1"]["_detail"] == ("target dates 2026-01-01..2026-01-03 fall outside the window "
                                              "(0 days before to 1 day after) around 2026-01-01")


def test_many_to_one_date_window_sentence_is_seen_from_the_target_date(tmp_path):
    """§3: the target date lies within [source − daysBefore, source + daysAfter], so the source dates of a group
    lie within [target − daysAfter, target + daysBefore]. The sentence printed the window of the rule set around
    the target date: '0 days before to 2 days after around 2026-03-01' for source dates 03-02..03-03 that lie
    inside it, contradicting its own reason."""
    rs = rule_set(p("batches", eq("ref"), tol("amount", absolute="0", aggregate="SUM"), window("date", before=0, after=2),
                    cardinality="MANY_TO_ONE", group_by={"source": ["batch"]}))
    H = ["id", "ref", "batch", "amount", "date"]
    src = [["s1", "R1", "B1", "60", "2026-03-01"], ["s2", "R1", "B1", "40", "2026-03-02"],
           ["s3", "R2", "B2", "60", "2026-03-02"], ["s4", "R2", "B2", "40", "2026-03-03"]]
    tgt = [["t1", "R1", "", "100", "2026-03-03"], ["t2", "R2", "", "100", "2026-03-01"]]
    o = match(tmp_path, H, src, H, tgt, rs)
    assert sorted((m["source_key"], m["target_key"]) for m in o.matched) == [("s1", "t1"), ("s2", "t1")]
    want = "source dates 2026-03-02..2026-03-03 fall outside the window (2 days before to 0 days after) around 2026-03-01"
    assert o.unmatched("target")["t2"]["_detail"] == want
    assert {o.unmatched()[k]["_detail"] for k in ("s3", "s4")} == {want}


@pytest.mark.parametrize("cardinality", ["ONE_TO_MANY", "MANY_TO_ONE"])
def test_a_row_taken_by_a_group_is_named_with_its_group(tmp_path, cardinality):
    """A candidate that went to a group is named with the group: 's1 ... was matched to t1 in pass 1'
    named one row of the group B1 as if it were the whole match, and a candidate that went as a member
    of B1 read like a row matched on its own."""
    one_to_many = cardinality == "ONE_TO_MANY"
    many, one = ("target", "source") if one_to_many else ("source", "target")
    rs = rule_set(p("batches", eq("ref"), tol("amount", absolute="0", aggregate="SUM"), cardinality=cardinality,
                    group_by={many: ["name"]}),
                  p("ref", eq("ref"), tol("amount", absolute="100")))
    ones = [["o1", "A", "30.00", "", ""]]
    members = [["m1", "A", "10.00", "", "B1"], ["m2", "A", "20.00", "", "B1"]]

    h = ["id", "ref", "amount", "date", "name"]

    def run(one_rows, many_rows, out):
        if one_to_many:
            return match(tmp_path, h, one_rows, h, many_rows, rs, out=out)
        return match(tmp_path, h, many_rows, h, one_rows, rs, out=out)

    # a row of the many side outside any group: its candidate o1 went to the group B1
    o = run(ones, members + [["m3", "A", "30.00", "", ""]], "o1")
    assert [m[f"{one}_key"] for m in o.matched] == ["o1", "o1"]
    left = o.unmatched(many)["m3"]
    assert left["_reason"] == "AMBIGUOUS" and left["_closest_key"] == "o1"
    assert left["_detail"] == f"o1 meets every condition of this pass but was matched to {many} group B1 in pass 1"
    # a second row of the one side: its closest candidate m2 went to o1 as a member of B1
    o = run(ones + [["o2", "A", "30.00", "", ""]], members, "o2")
    left = o.unmatched(one)["o2"]
    assert left["_reason"] == "AMBIGUOUS" and left["_closest_key"] == "m2" and left["_closest_pass"] == "ref"
    assert left["_detail"] == (f"m2 meets every condition of this pass but was matched, in {many} group B1, "
                               "to o1 in pass 1")


def test_the_result_counts_the_rows_of_the_matched_output(tmp_path):
    # a group is one row per member; a key holding a line break is one row on two lines of the file
    src = [["s1", "P1", "100.00", "2026-01-01"], ["s\n2", "P2", "10.00", "2026-01-01"], ["s3", "P9", "5", "2026-01-01"]]
    tgt = [["t1", "P1", "60.00", "2026-01-01"], ["t2", "P1", "40.00", "2026-01-02"],
           ["t\n3", "P2", "10.00", "2026-01-01"]]
    o = match(tmp_path, S, src, T, tgt, one_to_many())
    assert len(o.matched) == 3
    assert o.result.matched_rows == 3
    with open(o.result.matched_path, "rb") as f:
        assert f.read().count(b"\n") == 1 + 3 + 2   # header, three rows, two breaks inside keys


def test_a_row_of_the_one_side_without_a_value_is_explained_in_words(tmp_path):
    """A source row without an amount or a date against a group: the detail was empty (the sentence
    around the missing value came out NULL); it names the empty value, as for pairs."""
    rs = one_to_many(extra=[window("date", "date", before=0, after=1)])
    src = [["s1", "P1", "", "2026-01-01"], ["s2", "P2", "10.00", ""]]
    tgt = [["t1", "P1", "5.00", "2026-01-01"], ["t2", "P2", "10.00", "2026-01-01"]]
    o = match(tmp_path, S, src, T, tgt, rs)
    assert o.matched == []
    got = {k: (r["_reason"], r["_detail"]) for k, r in o.unmatched().items()}
    assert got == {"s1": ("TOLERANCE_EXCEEDED", "amount of the source row is empty"),
                   "s2": ("DATE_OUT_OF_WINDOW", "date of the source row is empty")}


def test_a_group_is_explained_by_the_row_nearest_its_dates(tmp_path):
    """Two source rows miss group P1 by its dates alone: one has no date, the other is a day out. The
    group's rows are explained by the one a day out (the smallest date difference, as for pairs), not by
    the lower key without a date."""
    rs = one_to_many(extra=[window("date", "date", before=0, after=0)])
    src = [["s1", "P1", "10.00", ""], ["s2", "P1", "10.00", "2026-01-02"]]
    tgt = [["t1", "P1", "4.00", "2026-01-01"], ["t2", "P1", "6.00", "2026-01-01"]]
    o = match(tmp_path, S, src, T, tgt, rs)
    assert o.matched == []
    assert {k: (r["_reason"], r["_closest_key"]) for k, r in o.unmatched("target").items()} == {
        "t1": ("DATE_OUT_OF_WINDOW", "s2"), "t2": ("DATE_OUT_OF_WINDOW", "s2")}


@pytest.mark.parametrize("cardinality", ["ONE_TO_MANY", "MANY_TO_ONE"])
def test_a_group_is_explained_without_its_rows_an_earlier_pass_consumed(tmp_path, cardinality):
    """§3: a row matched in a pass is consumed. Pass 1 pairs one row of batch B1; in pass 2 the group B1 is the
    row left (15.00 against 25.00: off by 10.00). The explanations built B1 from all its rows (25.00): the
    group 'met every condition' and 'was matched' in pass 1 (AMBIGUOUS), which never happened; with a sum off
    they counted the consumed row ('sum of 2 rows differs by')."""
    grouped_side, many, one = ("target", "target", "source") if cardinality == "ONE_TO_MANY" else ("source", "source", "target")
    rs = rule_set(p("pair", eq("ref"), eq("amount")),
                  p("groups", eq("batch"), tol("amount", absolute="0.01", aggregate="SUM"),
                    cardinality=cardinality, group_by={grouped_side: ["batch"]}))
    H = ["id", "ref", "batch", "amount"]
    many_rows = [["m1", "Q1", "B1", "10.00"], ["m2", "Q2", "B1", "15.00"]]
    for total, want in (("25.00", "sum of 1 %s row differs by 10.00; tolerance 0.01" % many),
                        ("65.00", "sum of 1 %s row differs by 50.00; tolerance 0.01" % many)):
        one_rows = [["o0", "Q1", "", "10.00"], ["o1", "", "B1", total]]
        src, tgt = (one_rows, many_rows) if cardinality == "ONE_TO_MANY" else (many_rows, one_rows)
        (tmp_path / total).mkdir()
        o = match(tmp_path / total, H, src, H, tgt, rs)
        assert [(m["source_key"], m["target_key"]) for m in o.matched] == (
            [("o0", "m1")] if cardinality == "ONE_TO_MANY" else [("m1", "o0")])
        u1 = o.unmatched(one)["o1"]
        assert (u1["_reason"], u1["_closest_pass"], u1["_closest_key"], u1["_detail"]) == (
            "TOLERANCE_EXCEEDED", "groups", "B1", want)
        u2 = o.unmatched(many)["m2"]
        assert (u2["_reason"], u2["_closest_key"], u2["_detail"]) == ("TOLERANCE_EXCEEDED", "o1", want)
