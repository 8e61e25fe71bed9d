"""400 bodies name the field and say what is wrong in words a caller can act on."""
import pytest
from pydantic import ValidationError

from chalicelib.api.models import JobsQuery, ResolveRequest, TriggerRequest
from chalicelib.api.core import Dialect, RequestInvalid, problems_from


def problem_of(model, raw=None, data=None, where="request body"):
    with pytest.raises(ValidationError) as exc:
        model.model_validate_json(raw) if raw is not None else model.model_validate(data)
    err = RequestInvalid(problems_from(exc.value), where=where)
    assert err.status == 400 and err.error == "VALIDATION_ERROR"
    return err


@pytest.mark.parametrize(
    "raw, field, problem",
    [
        ('{"tables": []}', "validation_strategy", "is required"),
        ('{"tables": [], "validation_strategy": "FAST"}', "validation_strategy",
         'must be one of ROW_COUNT, CHECKSUM, TIMESTAMP_RANGE or SAMPLE (got "FAST")'),
        ('{"tables": "users", "validation_strategy": "SAMPLE"}', "tables", "must be an array (got string)"),
        ('{"tables": [null], "validation_strategy": "SAMPLE"}', "tables[0]", "must be a string (got null)"),
        ('{"tables": [], "validation_strategy": "SAMPLE", "when": "now"}', "when", "is not a known field"),
    ],
)
def test_trigger_problems(raw, field, problem):
    err = problem_of(TriggerRequest, raw)
    assert err.body(Dialect.CDC)["details"][0] == {"field": field, "problem": problem}
    assert err.message == f"Invalid request body '{field}': {problem}"


def test_several_problems_are_all_listed():
    err = problem_of(TriggerRequest, '{"tables": 1, "validation_strategy": 2, "x": 3}')
    assert [d["field"] for d in err.body(Dialect.CDC)["details"]] == ["tables", "validation_strategy", "x"]
    assert err.message.endswith("(and 2 more problem(s), see details)")


def test_notes_too_long():
    err = problem_of(ResolveRequest, '{"resolution_status": "IGNORED", "resolution_notes": "%s"}' % ("n" * 1001))
    assert err.body(Dialect.CDC)["details"] == [{"field": "resolution_notes", "problem": "must be at most 1000 characters"}]


def test_query_range_problem():
    err = problem_of(JobsQuery, data={"page_size": "500"}, where="query parameter")
    assert err.message == "Invalid query parameter 'page_size': must be <= 100 (got 500)"
