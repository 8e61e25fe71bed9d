"""Rule-set model (§3): accepted shapes, located validation errors, the column check."""
import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from chalicelib.matching import RuleSet, check_columns, describe_errors, error_list

from .helpers import eq, p, sim, tol, window

# the streams platform contract's §3 example, as POST /rule-sets takes it
CONTRACT_EXAMPLE = json.loads(
    (Path(__file__).resolve().parents[3] / "docs" / "examples" / "rule-set-four-pass.json").read_text())


def errors_of(d):
    with pytest.raises(ValidationError) as exc:
        RuleSet.model_validate(d)
    return {e["field"]: e["message"] for e in error_list(exc.value)}


def test_contract_example_round_trips():
    rs = RuleSet.model_validate(CONTRACT_EXAMPLE)
    assert rs.passes[3].group_by.target == ["payout_id"]
    again = RuleSet.model_validate(rs.to_json())
    assert again == rs
    assert rs.to_json()["passes"][1]["conditions"][2]["daysAfter"] == 2


def test_threshold_out_of_range_is_located():
    d = {"name": "x", "passes": [p("a", eq("k")), p("b", eq("k")),
                                 p("c", eq("k"), sim("n", threshold=1.5))]}
    errs = errors_of(d)
    assert errs == {"passes[2].conditions[1].threshold": "must be between 0 and 1"}


def test_tolerances_the_engine_cannot_compute_exactly_are_located():
    """An absolute of 1e40 or with 12 decimals, a percent of 1e28 or of 7 decimals passed and every
    run of the rule set failed with DuckDB's conversion error (or rounded the tolerance to 0)."""
    d = {"name": "x", "passes": [p("a", eq("k"), tol("v", absolute="1e40")),
                                 p("b", eq("k"), tol("v", absolute="0.000000000001")),
                                 p("c", eq("k"), tol("v", percent="1e28")),
                                 p("d", eq("k"), tol("v", percent="0.0000001")),
                                 p("e", eq("k"), tol("v", absolute="9999999999999999999999999999.9999999999",
                                                     percent="1000000000000000.000001"))]}
    with pytest.raises(ValidationError) as exc:
        RuleSet.model_validate(d)
    assert {e["field"]: (e["code"], e["message"]) for e in error_list(exc.value)} == {
        "passes[0].conditions[1].absolute": ("OUT_OF_RANGE", "must be < 10^28"),
        "passes[1].conditions[1].absolute": ("INVALID_VALUE", "must have at most 10 decimals"),
        "passes[2].conditions[1].percent": ("OUT_OF_RANGE", "must be < 10^28"),
        "passes[3].conditions[1].percent": ("INVALID_VALUE", "must have at most 6 decimals")}


def test_pass_names_must_differ():
    """The MATCHED output (pass_name) and the exceptions (closestCandidate.pass) name passes: two passes of one
    name could not be told apart there."""
    d = {"name": "x", "passes": [p("exact", eq("k")), p("near", eq("k")), p("exact", eq("k")), p("near", eq("k"))]}
    with pytest.raises(ValidationError) as exc:
        RuleSet.model_validate(d)
    assert {e["field"]: (e["code"], e["message"]) for e in error_list(exc.value)} == {
        "passes[2].name": ("INVALID_VALUE", "is also the name of passes[0] ('exact'); pass names must differ"),
        "passes[3].name": ("INVALID_VALUE", "is also the name of passes[1] ('near'); pass names must differ")}
    RuleSet.model_validate({"name": "x", "passes": [p("exact", eq("k")), p("Exact", eq("k"))]})


def test_describe_errors_reads_like_the_issue():
    d = {"name": "x", "passes": [p("a", eq("k"), sim("n", threshold=-0.1))]}
    with pytest.raises(ValidationError) as exc:
        RuleSet.model_validate(d)
    assert describe_errors(exc.value) == "passes[0].conditions[1].threshold: must be between 0 and 1"


def test_similarity_alone_is_rejected():
    errs = errors_of({"name": "x", "passes": [p("a", sim("name"), tol("amount", absolute=1))]})
    assert errs == {"passes[0].conditions[0]":
                    "a pass with a SIMILARITY condition needs an EQUALS or DATE_WINDOW condition too"}
    RuleSet.model_validate({"name": "x", "passes": [p("a", window("d"), sim("name"))]})


def test_unknown_fields_wrong_enums_and_missing_parts_are_all_listed():
    d = {"name": "x", "colour": "red", "passes": [
        {"name": "a", "cardinality": "ONE_TO_ONE", "conditions": [
            {"source": "a", "target": "b", "operator": "LIKE"},
            {"source": "a", "target": "b", "operator": "EQUALS", "normalize": ["SHOUT"]},
            {"source": "a", "target": "b", "operator": "EQUALS", "tolerance": 1}]}]}
    errs = errors_of(d)
    assert errs["colour"] == "unknown field"
    assert "passes[0].conditions[0].operator" in errs
    assert "passes[0].conditions[1].normalize[0]" in errs
    assert errs["passes[0].conditions[2].tolerance"] == "unknown field"


def test_operator_specific_fields():
    errs = errors_of({"name": "x", "passes": [p("a", eq("k"), tol("amount"), {
        "source": "a", "target": "b", "operator": "EQUALS", "threshold": 0.5})]})
    assert errs == {"passes[0].conditions[1].absolute": "AMOUNT_TOLERANCE needs absolute and/or percent",
                    "passes[0].conditions[2].threshold": "not allowed with operator EQUALS"}


def test_grouped_pass_rules():
    errs = errors_of({"name": "x", "passes": [
        p("a", eq("ref"), tol("amount", absolute=1), cardinality="ONE_TO_MANY")]})
    assert errs["passes[0].groupBy.target"].startswith("ONE_TO_MANY needs groupBy.target")
    assert errs["passes[0].conditions"].startswith("ONE_TO_MANY needs exactly one condition with aggregate SUM")
    errs = errors_of({"name": "x", "passes": [
        p("a", eq("ref"), tol("amount", absolute=1, aggregate="SUM"), group_by={"target": ["p"]})]})
    assert errs["passes[0].conditions[1].aggregate"] == \
        "aggregate is only allowed in ONE_TO_MANY and MANY_TO_ONE passes"
    assert "passes[0].groupBy" in errs
    RuleSet.model_validate({"name": "x", "passes": [
        p("a", eq("ref"), tol("amount", absolute=1, aggregate="SUM"), cardinality="MANY_TO_ONE",
          group_by={"source": ["batch"]})]})


def test_empty_passes_and_conditions():
    assert errors_of({"name": "x", "passes": []}) == {"passes": "a rule set needs at least one pass"}
    assert errors_of({"name": "x", "passes": [p("a")]}) == \
        {"passes[0].conditions": "a pass needs at least one condition"}
    assert "name" in errors_of({"passes": [p("a", eq("k"))]})


def test_check_columns_names_field_and_available_columns():
    rs = RuleSet.model_validate(CONTRACT_EXAMPLE)
    src = ["order_id", "amount", "order_date", "customer", "payout_ref"]
    tgt = ["txn_id", "order_ref", "gross", "settled_on", "payer", "payout_id"]
    assert check_columns(rs, src, tgt) == []
    problems = check_columns(rs, [c for c in src if c != "customer"], [c for c in tgt if c != "payout_id"])
    got = {(x.side, x.field, x.column) for x in problems}
    assert got == {("source", "passes[2].conditions[2].source", "customer"),
                   ("target", "passes[3].conditions[0].target", "payout_id"),
                   ("target", "passes[3].groupBy.target[0]", "payout_id")}
    cust = next(x for x in problems if x.column == "customer")
    assert cust.code == "RULE_FIELD_MISSING"
    assert cust.available == ["order_id", "amount", "order_date", "payout_ref"]
    assert "order_id, amount, order_date, payout_ref" in cust.message


def test_the_json_schema_states_the_pass_and_condition_counts_the_validation_enforces():
    schema = RuleSet.model_json_schema(by_alias=True)
    assert (schema["properties"]["passes"]["minItems"], schema["properties"]["passes"]["maxItems"]) == (1, 50)
    assert schema["$defs"]["Pass"]["properties"]["conditions"]["minItems"] == 1


def test_the_condition_schema_states_the_bounds_the_validators_check():
    """The OpenAPI document (built from these models) says what a condition takes: a value the schema allows
    is accepted, one it forbids is refused — outside fuzzers generate from the document, and a valid-looking
    threshold of 3 or a column name of spaces that the API refuses read as the API refusing valid input."""
    import jsonschema

    from chalicelib.matching.rules import Condition

    schema = Condition.model_json_schema(by_alias=True)
    base = {"source": "a", "target": "b", "operator": "AMOUNT_TOLERANCE"}
    cases = [("threshold", 0), ("threshold", 1), ("threshold", 1.5), ("threshold", -0.1),
             ("daysBefore", 0), ("daysBefore", 36600), ("daysBefore", 36601), ("daysAfter", -1),
             ("absolute", 0), ("absolute", 2.5), ("absolute", -0.01), ("percent", -1), ("percent", 1e28),
             ("source", "order id"), ("source", "   "), ("source", ""), ("target", " b ")]
    for field, value in cases:
        body = dict(base, **{field: value})
        by_schema = jsonschema.Draft202012Validator(schema).is_valid(body)
        try:
            Condition.model_validate(body)
            by_model = True
        except ValueError:
            by_model = False
        assert by_schema == by_model, (field, value, by_schema, by_model)
