"""The four-pass rule set of the streams platform contract §3 is written once, as a request body
(docs/examples/rule-set-four-pass.json): POST /rule-sets accepts it, and it is the contract's example.
The matching benchmark and the rule-set model tests read the same file."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "docs" / "examples" / "rule-set-four-pass.json"
CONTRACT = ROOT.parent / "shared" / "contracts" / "streams-platform-api.md"


def contract_example() -> dict:
    """The first JSON block of the contract's section 3."""
    text = CONTRACT.read_text()
    section = re.search(r"^## 3\. Rule sets\n(.*?)(?=^## )", text, re.S | re.M)
    assert section, "the contract has no '## 3. Rule sets' section"
    block = re.search(r"^```json\n(.*?)^```", section.group(1), re.S | re.M)
    assert block, "section 3 of the contract has no JSON example"
    return json.loads(block.group(1))


def test_the_example_is_a_valid_rule_set_request():
    from chalicelib.api import rule_sets
    from chalicelib.api.core import REGISTRY
    from chalicelib.matching import RuleSet

    op = REGISTRY.find(rule_sets.api.prefix + "/rule-sets", "POST")   # the body POST /rule-sets validates
    assert op is not None and op.body is RuleSet
    rs = RuleSet.model_validate_json(EXAMPLE.read_bytes())
    assert [p.name for p in rs.passes] == ["Exact reference and amount",
                                           "Reference, amount within a cent, settled within 2 days",
                                           "Same amount and day, similar customer name", "Payout batches"]
    assert rs.passes[3].group_by.target == ["payout_id"]


@pytest.mark.skipif(not CONTRACT.exists(), reason="the contracts are not checked out beside the repository")
def test_the_example_is_the_contracts():
    assert json.loads(EXAMPLE.read_text()) == contract_example()


def test_the_benchmark_and_the_model_tests_use_the_example():
    import importlib.util

    from tests.unit.matching import test_rules

    spec = importlib.util.spec_from_file_location("bench_matching", ROOT / "bench" / "bench_matching.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    expected = json.loads(EXAMPLE.read_text())
    assert bench.FOUR_PASS == expected
    assert test_rules.CONTRACT_EXAMPLE == expected
