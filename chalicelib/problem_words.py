"""The API's words for pydantic's type and length errors, shared by the request parsing (api/core.py) and the
domain validations that check JSON documents themselves (a data source's config)."""
from __future__ import annotations

from typing import Any, Optional

TYPE_WORDS = {"string_type": "a string", "list_type": "an array", "int_type": "an integer", "int_parsing": "an integer",
              "bool_type": "a boolean", "bool_parsing": "a boolean", "model_type": "an object",
              "model_attributes_type": "an object", "dict_type": "an object", "float_type": "a number",
              "float_parsing": "a number", "int_from_float": "an integer", "decimal_type": "a number",
              "decimal_parsing": "a number", "none_required": "null"}


def json_type(value: Any) -> str:
    """The JSON type of a parsed value, as the error messages name it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    return "object"


def type_or_length(err: dict) -> Optional[tuple[str, str]]:
    """(code, words) for a wrong JSON type or a string of the wrong length; None for any other error."""
    kind, ctx = err.get("type", ""), err.get("ctx") or {}
    if kind in TYPE_WORDS:
        return "INVALID_TYPE", f"must be {TYPE_WORDS[kind]} (got {json_type(err.get('input'))})"
    if kind == "string_too_long":
        return "TOO_LONG", f"must be at most {ctx.get('max_length')} characters"
    if kind == "string_too_short":
        return "TOO_SHORT", f"must be at least {ctx.get('min_length')} character(s)"
    return None
