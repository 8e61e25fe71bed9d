"""ONE_TO_ONE passes: exact keys, duplicates, mutual best, tie-breaks, carrying on, nulls, reasons."""
import pytest

from .helpers import eq, match, p, rule_set, run_files, sim, tol, window

S = ["id", "ref", "amount", "date", "name"]
T = ["id", "ref", "amount", "date", "name"]


def test_exact_pass_pairs_unique_keys(tmp_path):
    rs = rule_set(p("exact", eq("ref"), eq("amount")))
    o = match(tmp_path, S, [["s1", "A", "10.00", "2026-01-01", ""], ["s2", "B", "5", "2026-01-01", ""]],
              T, [["t1", "B", "5.00", "2026-01-01", ""], ["t2", "A", "10.0", "2026-01-01", ""],
                  ["t3", "C", "1", "2026-01-01", ""]], rs)
    assert o.pairs() == [("1", "s1", "t2"), ("1", "s2", "t1")]
    assert o.reasons("target") == {"t3": "NO_CANDIDATE"}
    assert o.result.matched_source_rows == 2 and o.result.unmatched_target_rows == 1
    assert o.result.summary["passes"][0]["matches"] == 2
    # the amount was compared (difference 0), no date was
    assert {(m["amount_difference"], m["date_difference_days"], m["score"]) for m in o.matched} == {("0", "", "1")}


def test_duplicate_keys_pair_in_key_order_and_leftovers_are_ambiguous(tmp_path):
    rs = rule_set(p("ref", eq("ref")))
    o = match(tmp_path, S, [["s3", "K", "1", "", ""], ["s1", "K", "1", "", ""], ["s2", "K", "1", "", ""]],
              T, [["t2", "K", "1", "", ""], ["t1", "K", "1", "", ""]], rs)
    assert o.pairs() == [("1", "s1", "t1"), ("1", "s2", "t2")]
    left = o.unmatched("source")["s3"]
    assert left["_reason"] == "AMBIGUOUS"
    assert left["_closest_key"] == "t1"
    assert left["_detail"] == "t1 meets every condition of this pass but was matched to s1 in pass 1"


def test_all_candidates_tied_in_a_tolerance_pass(tmp_path):
    rs = rule_set(p("tol", eq("ref"), tol("amount", absolute="1")))
    src = [["s2", "K", "10.00", "", ""], ["s1", "K", "10.00", "", ""]]
    tgt = [["t3", "K", "10.50", "", ""], ["t1", "K", "10.50", "", ""], ["t2", "K", "10.50", "", ""]]
    o = match(tmp_path, S, src, T, tgt, rs)
    assert o.pairs() == [("1", "s1", "t1"), ("1", "s2", "t2")]
    assert o.reasons("target") == {"t3": "AMBIGUOUS"}


@pytest.mark.parametrize("first", [[tol("amount", absolute="0.01")], []], ids=["tolerance", "equalities only"])
def test_rows_tied_after_the_key_carry_on_to_the_next_pass(tmp_path, first):
    """platform §3: ties are broken by amount, date, similarity, then the lowest key; "rows left ambiguous carry
    on to the next pass". Two source rows with the same key value and the same amount are equally good for
    either target row: pairing them by row number (as the engine did) put memo a against memo b and left the
    pairs to the order of the lines. They carry on, and the next pass pairs them by their memo."""
    rs = rule_set(p("reference", eq("ref"), *first), p("reference and memo", eq("ref"), eq("name")))
    src = [["X", "R", "10.00", "", "a"], ["X", "R", "10.00", "", "b"]]
    tgt = [["Y", "R", "10.00", "", "b"], ["Y", "R", "10.00", "", "a"]]
    o = match(tmp_path, S, src, T, tgt, rs)
    assert o.pairs() == [("2", "X", "Y"), ("2", "X", "Y")]
    # the pairs are the same whatever the order of the lines (each side's rows reversed)
    again = match(tmp_path, S, src[::-1], T, tgt[::-1], rs, out="o2")
    assert again.pairs() == o.pairs()
    # with one pass only they stay unmatched, each with its equally good candidates
    o = match(tmp_path, S, src, T, tgt, rule_set(p("reference", eq("ref"), *first)), out="o3")
    assert o.matched == []
    assert [r["_reason"] for r in o.unmatched_source + o.unmatched_target] == ["AMBIGUOUS"] * 4
    assert o.unmatched()["X"]["_detail"] == "several equally good candidates; none could be chosen"


@pytest.mark.parametrize("first", [[tol("amount", absolute="1")], []], ids=["tolerance", "equalities only"])
def test_a_tie_pairs_in_key_order_up_to_the_first_repeated_key(tmp_path, first):
    """All rows equally good: the lowest keys pair (s1-t1, s2-t2); then two source rows share the key s3, so
    neither target row left has a single first choice and the rest of the tie is ambiguous."""
    rs = rule_set(p("tie", eq("ref"), *first))
    src = [["s3", "K", "10.00", "", ""], ["s1", "K", "10.00", "", ""], ["s3", "K", "10.00", "", ""],
           ["s2", "K", "10.00", "", ""], ["s4", "K", "10.00", "", ""]]
    tgt = [[f"t{i}", "K", "10.50", "", ""] for i in (4, 2, 1, 3)]
    o = match(tmp_path, S, src, T, tgt, rs)
    assert o.pairs() == [("1", "s1", "t1"), ("1", "s2", "t2")]
    assert sorted((r["_row_key"], r["_reason"]) for r in o.unmatched_source) == [
        ("s3", "AMBIGUOUS"), ("s3", "AMBIGUOUS"), ("s4", "AMBIGUOUS")]
    assert o.reasons("target") == {"t3": "AMBIGUOUS", "t4": "AMBIGUOUS"}
    # the same on the target side: two target rows share the lowest key left
    tgt = [["t1", "K", "10.50", "", ""], ["t2", "K", "10.50", "", ""], ["t2", "K", "10.50", "", ""]]
    o = match(tmp_path, S, src, T, tgt, rs, out="o2")
    assert o.pairs() == [("1", "s1", "t1")]


def test_many_tied_duplicates_pair_in_key_order(tmp_path):
    # 40 sources and 35 targets, all equally good for each other; plus a better pair inside the block
    rs = rule_set(p("tol", eq("ref"), tol("amount", absolute="1")))
    src = [[f"s{i:02d}", "K", "10.00", "", ""] for i in range(40)][::-1] + [["x", "K", "20.00", "", ""]]
    tgt = [[f"t{i:02d}", "K", "10.50", "", ""] for i in range(35)] + [["y", "K", "20.00", "", ""]]
    o = match(tmp_path, S, src, T, tgt, rs)
    assert o.pairs() == sorted([("1", f"s{i:02d}", f"t{i:02d}") for i in range(35)] + [("1", "x", "y")])
    assert set(o.reasons().values()) == {"AMBIGUOUS"} and len(o.reasons()) == 5


def test_mutual_best_prefers_smaller_amount_difference_then_date_then_key(tmp_path):
    rs = rule_set(p("tol", eq("ref"), tol("amount", absolute="1"), window("date", before=5, after=5)))
    src = [["s1", "K", "10.00", "2026-01-10", ""], ["s2", "K", "10.40", "2026-01-10", ""]]
    # t1 is closest to s2 (0.00 vs 0.40); t2 is then the only one left for s1
    tgt = [["t1", "K", "10.40", "2026-01-12", ""], ["t2", "K", "10.90", "2026-01-10", ""]]
    o = match(tmp_path, S, src, T, tgt, rs)
    assert o.pairs() == [("1", "s1", "t2"), ("1", "s2", "t1")]
    # equal amount differences: the smaller date difference wins
    tgt = [["t1", "K", "10.00", "2026-01-13", ""], ["t2", "K", "10.00", "2026-01-11", ""]]
    o = match(tmp_path, S, [["s1", "K", "10.00", "2026-01-10", ""]], T, tgt, rs, out="o2")
    assert o.pairs() == [("1", "s1", "t2")]
    assert o.matched[0]["date_difference_days"] == "1"


def test_similarity_breaks_ties_after_amount_and_date(tmp_path):
    rs = rule_set(p("sim", eq("amount"), window("date"), sim("name", threshold=0.5)))
    src = [["s1", "", "7.00", "2026-01-10", "Jonathan Smith"]]
    tgt = [["t1", "", "7.00", "2026-01-10", "Jon Smythe"], ["t2", "", "7.00", "2026-01-10", "Jonathan Smyth"]]
    o = match(tmp_path, S, src, T, tgt, rs)
    assert o.pairs() == [("1", "s1", "t2")]
    assert float(o.matched[0]["similarity"]) > 0.9 and o.matched[0]["score"] == o.matched[0]["similarity"]


def test_rows_left_by_one_pass_carry_on_to_the_next(tmp_path):
    rs = rule_set(p("exact", eq("ref"), eq("amount")),
                  p("amount and day", eq("amount"), window("date")))
    src = [["s1", "K", "5.00", "2026-01-01", ""], ["s2", "K", "5.00", "2026-01-02", ""]]
    tgt = [["t1", "K", "5.00", "2026-01-01", ""], ["t2", "X", "5.00", "2026-01-02", ""]]
    o = match(tmp_path, S, src, T, tgt, rs)
    assert o.pairs() == [("1", "s1", "t1"), ("2", "s2", "t2")]
    assert [x["sourceRows"] for x in o.result.summary["passes"]] == [1, 1]


def test_nulls_in_key_columns_never_match(tmp_path):
    rs = rule_set(p("ref", eq("ref")))
    o = match(tmp_path, S, [["s1", "", "1", "", ""], ["s2", None, "1", "", ""]],
              T, [["t1", "", "1", "", ""]], rs)
    assert o.matched == []
    assert o.reasons() == {"s1": "NO_CANDIDATE", "s2": "NO_CANDIDATE"}
    assert o.unmatched()["s1"]["_detail"] == "ref is empty; empty keys never match"


def test_ambiguous_sentence_without_key_columns_names_rows_and_groups(tmp_path):
    """Without sourceKey/targetKey the keys are row numbers: the sentence read '1 meets every condition
    of this pass but was matched to 1 in pass 1' (target row 1, source row 1)."""
    rs = rule_set(p("tol", eq("ref"), tol("amount", absolute="1")), source_key=None, target_key=None)
    o = match(tmp_path, S, [["s1", "A", "10.00", "", ""], ["s2", "A", "10.00", "", ""]],
              T, [["t1", "A", "10.50", "", ""]], rs)
    assert o.pairs() == [("1", "1", "1")]
    assert o.unmatched()["2"]["_detail"] == ("target row 1 meets every condition of this pass but was matched "
                                             "to source row 1 in pass 1")
    rs = rule_set(p("batches", eq("ref"), tol("amount", absolute="0", aggregate="SUM"), cardinality="ONE_TO_MANY",
                    group_by={"target": ["name"]}))
    o = match(tmp_path, S, [["s1", "A", "30.00", "", ""], ["s2", "A", "30.00", "", ""]],
              T, [["t1", "A", "10.00", "", "B1"], ["t2", "A", "20.00", "", "B1"]], rs, out="o2")
    assert o.unmatched()["s2"]["_detail"] == ("target group B1 meets every condition of this pass but was matched "
                                              "to s1 in pass 1")


def test_empty_value_sentences_name_the_side_and_the_normalize(tmp_path):
    """'amount or amount is empty' said neither which row's value was empty nor, for columns of the
    same name, which side; 'ref is empty' for INV-N/A under DIGITS_ONLY left out why."""
    rs = rule_set(p("ref and amount", eq("ref"), tol("amount", absolute="0.01")))
    o = match(tmp_path, S, [["s1", "A", "", "", ""], ["s2", "B", "5.00", "", ""]],
              T, [["t1", "A", "5.00", "", ""], ["t2", "B", "", "", ""]], rs)
    assert o.matched == []
    assert o.unmatched()["s1"]["_detail"] == "amount of the source row is empty"
    assert o.unmatched()["s2"]["_detail"] == "amount of the target row is empty"
    assert o.unmatched("target")["t1"]["_detail"] == "amount of the source row is empty"
    rs = rule_set(p("digits", eq("ref", normalize=["TRIM", "DIGITS_ONLY"])))
    o = match(tmp_path, S, [["s1", "INV-N/A", "1", "", ""]], T, [["t1", "7", "1", "", ""]], rs, out="o2")
    assert o.unmatched()["s1"]["_detail"] == "ref is empty after TRIM, DIGITS_ONLY; empty keys never match"

@pytest.mark.parametrize("algorithm", ["TOKEN_SET", "LEVENSHTEIN_RATIO", "JARO_WINKLER"])
def test_an_empty_text_is_similar_to_nothing_and_the_sentence_says_which_side_is_empty(tmp_path, algorithm):
    """Two empty names are no similar names: under TOKEN_SET the explanations read them as two empty word
    sets (similarity 1: 'several equally good candidates; none could be chosen') and a name against an
    empty one as 0.00 similar, while the matching itself (rightly) never paired them."""
    rs = rule_set(p("similar names", eq("ref"), sim("name", algorithm=algorithm, threshold=0.5)))
    o = match(tmp_path, S, [["s1", "A", "1", "", "ann lee"], ["s2", "A", "1", "", ""]],
              T, [["t1", "A", "1", "", ""]], rs)
    assert o.matched == []
    got = {(side, r["_row_key"]): (r["_reason"], r["_detail"])
           for side, rows in (("source", o.unmatched_source), ("target", o.unmatched_target)) for r in rows}
    assert got == {("source", "s1"): ("BELOW_SIMILARITY", "name of the target row is empty"),
                   ("source", "s2"): ("BELOW_SIMILARITY", "name of the source row is empty"),
                   ("target", "t1"): ("BELOW_SIMILARITY", "name of the target row is empty")}



def test_reason_sentences(tmp_path):
    rs = rule_set(p("exact", eq("ref"), eq("amount")),
                  p("Reference, amount within a cent, settled within 2 days", eq("ref"),
                    tol("amount", absolute="0.01"), window("date", before=0, after=2)),
                  p("names", eq("amount"), window("date"), sim("name", threshold=0.9)))
    src = [["ORD-88121", "R1", "120.37", "2026-02-20", "x"],
           ["ORD-2", "R2", "10.00", "2026-02-20", "x"],
           ["ORD-3", "R3", "9.00", "2026-02-20", "Alice Wonder"],
           ["ORD-4", "R4", "1.00", "2026-02-20", "x"]]
    tgt = [["TX-5531", "R1", "120.00", "2026-02-20", "y"],
           ["TX-2", "R2", "10.00", "2026-02-25", "y"],
           ["TX-3", "Q", "9.00", "2026-02-20", "Bob Builder"]]
    o = match(tmp_path, S, src, T, tgt, rs)
    u = o.unmatched()
    assert u["ORD-88121"]["_reason"] == "TOLERANCE_EXCEEDED"
    assert u["ORD-88121"]["_closest_key"] == "TX-5531"
    assert u["ORD-88121"]["_closest_pass"] == "Reference, amount within a cent, settled within 2 days"
    assert u["ORD-88121"]["_failed_condition"] == "amount"
    assert u["ORD-88121"]["_detail"] == "amount differs by 0.37; tolerance 0.01"
    # ORD-2 meets pass 1 (reference and amount; that pass has no date condition)
    assert "ORD-2" not in u
    assert u["ORD-3"]["_reason"] == "BELOW_SIMILARITY" and u["ORD-3"]["_closest_key"] == "TX-3"
    assert u["ORD-3"]["_detail"].startswith("target name is 0.") and u["ORD-3"]["_detail"].endswith("threshold 0.9")
    assert u["ORD-4"]["_reason"] == "NO_CANDIDATE" and u["ORD-4"]["_closest_key"] == ""


def test_date_out_of_window_sentence(tmp_path):
    rs = rule_set(p("window", eq("ref"), window("date", before=0, after=2)))
    o = match(tmp_path, S, [["s1", "R", "1", "2026-02-20", ""]], T, [["t1", "R", "1", "2026-02-25", ""]], rs)
    u = o.unmatched()["s1"]
    assert u["_reason"] == "DATE_OUT_OF_WINDOW" and u["_failed_condition"] == "date"
    assert u["_detail"] == "target date is 5 days after source date; window 0 days before to 2 days after"


def test_default_row_key_is_the_row_number(tmp_path):
    rs = rule_set(p("ref", eq("ref")), source_key=None, target_key=None)
    o = match(tmp_path, S, [["a", "X", "1", "", ""], ["b", "K", "1", "", ""]], T, [["c", "K", "1", "", ""]], rs)
    assert o.pairs() == [("1", "2", "1")]
    assert o.matched[0]["source_row"] == "2" and o.matched[0]["match_id"] == "p1-s2"
    assert o.reasons() == {"1": "NO_CANDIDATE"}


@pytest.mark.parametrize("grouped", [False, True])
def test_without_key_columns_the_closest_of_equal_candidates_is_the_lowest_row_number(tmp_path, grouped):
    """Rows 2 and 10 of the target miss the source row by the same amount: the closest is row 2 (the row
    numbers were compared as text, and row 10 came first)."""
    tgt = [["t", "A" if n in (2, 10) else "Z", "6.00", "", ""] for n in range(1, 11)]
    if grouped:     # MANY_TO_ONE: the unmatched source groups are explained by their closest target row
        rs = rule_set(p("sum", eq("ref"), tol("amount", absolute="0.01", aggregate="SUM"),
                        cardinality="MANY_TO_ONE", group_by={"source": ["ref"]}), source_key=None, target_key=None)
        o = match(tmp_path, S, [["s", "A", "2.00", "", ""], ["s", "A", "3.00", "", ""]], T, tgt, rs)
        assert [(r["_reason"], r["_closest_key"]) for r in o.unmatched_source] == [("TOLERANCE_EXCEEDED", "2")] * 2
    else:
        rs = rule_set(p("ref", eq("ref"), tol("amount", absolute="0.01")), source_key=None, target_key=None)
        o = match(tmp_path, S, [["s", "A", "5.00", "", ""]], T, tgt, rs)
        assert [(r["_reason"], r["_closest_key"]) for r in o.unmatched_source] == [("TOLERANCE_EXCEEDED", "2")]
    assert o.matched == []


def test_amount_only_block_explains_near_misses_rows_without_a_date_and_rows_beyond_the_month(tmp_path):
    """A block of equal amounts is bounded by a month around the date window (thousands of rows may share
    100.00), but a row that shares its amount with some row is never NO_CANDIDATE (§8: that is a row no row
    shares the equality keys with): a row without a date, or whose amount only rows without a date share, is
    explained by the closest of those; a row with no candidate within the month by the row of the nearest date
    beyond it (before or after) or the one with the lowest key."""
    rs = rule_set(p("amount and day", eq("amount"), window("date", after=2)))
    src = [["s1", "", "10.00", "2026-01-01", ""], ["s2", "", "20.00", "2026-01-01", ""], ["s3", "", "20.00", "", ""],
           ["s4", "", "30.00", "2026-01-01", ""], ["s5", "", "40.00", "2026-01-01", ""]]
    tgt = [["t1", "", "10.00", "2026-01-10", ""], ["t2", "", "20.00", "2026-09-01", ""], ["t3", "", "20.00", "2026-03-01", ""],
           ["t4", "", "30.00", "", ""], ["t5", "", "20.00", "2025-01-01", ""]]
    o = match(tmp_path, S, src, T, tgt, rs)
    assert o.matched == []
    u = o.unmatched()
    assert u["s1"]["_reason"] == "DATE_OUT_OF_WINDOW"
    assert u["s1"]["_detail"] == "target date is 9 days after source date; window 0 days before to 2 days after"
    assert (u["s2"]["_reason"], u["s2"]["_closest_key"], u["s2"]["_detail"]) == (
        "DATE_OUT_OF_WINDOW", "t3", "target date is 59 days after source date; window 0 days before to 2 days after")
    assert (u["s3"]["_reason"], u["s3"]["_closest_key"], u["s3"]["_detail"]) == (
        "DATE_OUT_OF_WINDOW", "t2", "date of the source row is empty")
    assert (u["s4"]["_reason"], u["s4"]["_closest_key"], u["s4"]["_detail"]) == (
        "DATE_OUT_OF_WINDOW", "t4", "date of the target row is empty")
    assert (u["s5"]["_reason"], u["s5"]["_detail"]) == ("NO_CANDIDATE", "no target row with the same amount = amount in any pass")
    t = o.unmatched("target")
    assert (t["t3"]["_reason"], t["t3"]["_closest_key"], t["t3"]["_detail"]) == (
        "DATE_OUT_OF_WINDOW", "s3", "date of the source row is empty")
    # t5 (a year before s2) has s3 (no date) as a candidate: the rows beyond the month are not looked at then
    assert (t["t5"]["_reason"], t["t5"]["_closest_key"]) == ("DATE_OUT_OF_WINDOW", "s3")


@pytest.mark.parametrize("keys", [("id", "id"), (None, None)])
def test_one_exact_pass_with_unique_keys_writes_what_the_full_explanation_writes(tmp_path, keys):
    """One pass of equalities whose keys are unique on both sides writes its unmatched rows straight
    from the inputs: the same bytes as the general path, which runs when a second pass follows (an
    identical second pass matches nothing more and explains the same rows the same way)."""
    src = [["s1", "A", "1", "", ""], ["s2", "", "2", "", ""], ["s3", "Ç", "3", "", ""], ["s4", "D", "4", "", ""],
           ["s5", None, "5", "", ""], ["s6", "F", "6", "", ""]]
    tgt = [["t1", "D", "1", "", ""], ["t2", "A", "2", "", ""], ["t3", "", "3", "", ""], ["t4", "Z", "4", "", ""],
           ["t5", "C\u0327", "5", "", ""]]
    one = rule_set(p("ref", eq("ref")), source_key=keys[0], target_key=keys[1])
    two = rule_set(p("ref", eq("ref")), p("ref again", eq("ref")), source_key=keys[0], target_key=keys[1])
    a = match(tmp_path, S, src, T, tgt, one, out="one")
    b = match(tmp_path, S, src, T, tgt, two, out="two")
    for path in ("unmatched_source_path", "unmatched_target_path", "matched_path"):
        assert open(getattr(a.result, path), "rb").read() == open(getattr(b.result, path), "rb").read(), path
    assert a.result.summary["reasons"] == b.result.summary["reasons"] == {
        "SOURCE": {"NO_CANDIDATE": 3}, "TARGET": {"NO_CANDIDATE": 2}}
    assert [r["id"] for r in a.unmatched_source] == ["s2", "s5", "s6"]
    details = {r["id"]: r["_detail"] for r in a.unmatched_source}
    assert details == {"s2": "ref is empty; empty keys never match", "s5": "ref is empty; empty keys never match",
                       "s6": "no target row with the same ref = ref in any pass"}


def test_scores_in_a_rule_set_with_similarity_are_six_decimal_numbers(tmp_path):
    # a pass without similarity scores 1 written like the similarity scores of other passes
    rs = rule_set(p("exact", eq("ref")), p("sim", eq("amount"), sim("name", threshold=0.5)))
    src = [["s1", "K", "1.00", "", "Ann Lee"], ["s2", "", "7.00", "", "Jonathan Smith"]]
    tgt = [["t1", "K", "9.00", "", "Zed"], ["t2", "", "7.00", "", "Jonathan Smyth"]]
    o = match(tmp_path, S, src, T, tgt, rs)
    assert o.pairs() == [("1", "s1", "t1"), ("2", "s2", "t2")]
    first, second = sorted(o.matched, key=lambda m: m["pass"])
    assert (first["score"], first["similarity"]) == ("1.000000", "")
    assert len(second["score"].split(".")[1]) == 6 and 0.5 <= float(second["score"]) < 1
    assert second["score"] == second["similarity"]
    assert [m["match_id"] for m in (first, second)] == ["p1-s1", "p2-s2"]


def test_a_key_of_more_than_18_digits_compares_as_text_on_every_duckdb(tmp_path):
    """DuckDB before 1.3 sniffed such a column as DOUBLE: the key was an amount, and a row whose date is far off was
    NO_CANDIDATE ('no target row with the same ref'), equal amounts alone being no identity; on 2.0 it was text."""
    from .helpers import eq, match, p, rule_set, window
    src = [["112345678901234567890", "2026-02-01"], ["212345678901234567890", "2026-02-01"]]
    tgt = [["112345678901234567890", "2026-02-02"], ["212345678901234567890", "2026-06-01"]]
    o = match(tmp_path, ["ref", "d"], src, ["ref", "d"], tgt,
              rule_set(p("Reference", eq("ref"), window("d", before=0, after=2)), source_key="ref", target_key="ref"))
    assert o.pairs() == [("1", "112345678901234567890", "112345678901234567890")]
    assert o.reasons() == {"212345678901234567890": "DATE_OUT_OF_WINDOW"}


def test_rows_with_an_empty_key_are_named_by_their_row_and_lose_ties(tmp_path):
    """A row whose key value is empty: a sentence naming it says 'source row 1' (the whole sentence was empty,
    the key concatenated as NULL), and it comes after rows with a key in the lowest-key tie-break (it came first)."""
    src = tmp_path / "s.csv"
    src.write_text("id,ref,amt\n,K,10\ns2,K,10\n")
    tgt = tmp_path / "t.csv"
    tgt.write_text("id,ref,amt\nt1,K,10\n,K,10\nt3,Q,1\n")
    o = run_files(src, tgt, rule_set(p("p", eq("ref"), tol("amt", absolute="1")), source_key="id", target_key="id"),
                  tmp_path / "out", threads=2)
    assert sorted((m["source_row"], m["target_row"]) for m in o.matched) == [("1", "2"), ("2", "1")]
    src.write_text("id,ref,amt\ns1,K,10\ns2,K,10\n")
    tgt.write_text("id,ref,amt\n,K,10\n")
    o = run_files(src, tgt, rule_set(p("p", eq("ref"), tol("amt", absolute="1")), source_key="id", target_key="id"),
                  tmp_path / "out2")
    assert [(m["source_key"], m["target_row"]) for m in o.matched] == [("s1", "1")]
    assert [(r["id"], r["_reason"], r["_detail"]) for r in o.unmatched_source] == [
        ("s2", "AMBIGUOUS", "target row 1 meets every condition of this pass but was matched to s1 in pass 1")]


@pytest.mark.parametrize("first", ["gross", "net"])
def test_the_closest_candidate_of_a_pass_with_two_tolerances_does_not_depend_on_their_order(tmp_path, first):
    """Two AMOUNT_TOLERANCE conditions: a candidate's amount difference is the one farthest from 0 (as the
    matching ranks pairs), so t1 (0.10 off on gross) is closer than t2 (0.30 off on net) whichever condition
    is listed first; ranked by the first listed only, the net-first rule set named t1 and the gross-first t2."""
    conditions = {"gross": tol("gross", absolute="0.01"), "net": tol("net", absolute="0.01")}
    second = "net" if first == "gross" else "gross"
    rs = rule_set(p("two amounts", eq("ref"), conditions[first], conditions[second]))
    H = ["id", "ref", "gross", "net"]
    o = match(tmp_path, H, [["s1", "R", "10.00", "9.00"]], H,
              [["t1", "R", "10.10", "9.00"], ["t2", "R", "10.00", "9.30"]], rs)
    u = o.unmatched()["s1"]
    assert (u["_reason"], u["_closest_key"], u["_failed_condition"]) == ("TOLERANCE_EXCEEDED", "t1", "gross")
    assert u["_detail"] == "gross differs by 0.10; tolerance 0.01"
