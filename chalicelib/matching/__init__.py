"""The matching engine: rule sets (streams platform §3) applied to two input files on DuckDB.

Pure domain code — local files in, CSV outputs and a summary out; no AWS, HTTP or database.
See docs/matching.md for the semantics, the output columns and the exception reasons.

Importing the package is light (pydantic only): DuckDB is loaded when a file is inspected or a
match runs, so API handlers can validate rule sets without paying for it.
"""
from .inputs import (EXPLANATION_COLUMNS, MATCHED_COLUMNS, Column, FileInfo, InputError, inspect_file,
                     unmatched_columns)
from .rules import (Algorithm, Cardinality, ColumnProblem, Condition, Normalize, Operator, Pass,
                    RuleSet, check_columns, describe_errors, error_list)

_ENGINE = ("EngineLimits", "MatchCanceled", "MatchResult", "run_match")


def __getattr__(name):
    if name in _ENGINE:
        from . import engine
        return getattr(engine, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "RuleSet", "Pass", "Condition", "Cardinality", "Operator", "Algorithm", "Normalize",
    "inspect_file", "check_columns", "run_match", "EngineLimits", "MatchResult", "InputError",
    "MatchCanceled", "FileInfo", "Column", "ColumnProblem", "EXPLANATION_COLUMNS", "MATCHED_COLUMNS",
    "unmatched_columns",
    "error_list", "describe_errors",
]
