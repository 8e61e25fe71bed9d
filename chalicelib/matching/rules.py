"""Rule sets (streams platform §3): the pydantic model, its semantic checks and the column check.

A rule set is ordered passes; each pass has a cardinality and conditions. ``RuleSet.model_validate``
accepts the camelCase JSON of the API, rejects unknown fields, and reports every problem with a
location such as ``passes[2].conditions[1].threshold`` (see :func:`error_list`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from typing import Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError


class Cardinality(str, Enum):
    ONE_TO_ONE = "ONE_TO_ONE"
    ONE_TO_MANY = "ONE_TO_MANY"
    MANY_TO_ONE = "MANY_TO_ONE"


class Operator(str, Enum):
    EQUALS = "EQUALS"
    AMOUNT_TOLERANCE = "AMOUNT_TOLERANCE"
    DATE_WINDOW = "DATE_WINDOW"
    SIMILARITY = "SIMILARITY"


class Algorithm(str, Enum):
    JARO_WINKLER = "JARO_WINKLER"
    LEVENSHTEIN_RATIO = "LEVENSHTEIN_RATIO"
    TOKEN_SET = "TOKEN_SET"


class Normalize(str, Enum):
    TRIM = "TRIM"
    UPPER = "UPPER"
    LOWER = "LOWER"
    REMOVE_PUNCTUATION = "REMOVE_PUNCTUATION"
    DIGITS_ONLY = "DIGITS_ONLY"
    STRIP_LEADING_ZEROS = "STRIP_LEADING_ZEROS"


class Aggregate(str, Enum):
    SUM = "SUM"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True,
                              use_enum_values=False)


def _column_name(value: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PydanticCustomError("column_empty", "must name a column")
    return value


# the bounds the validators below check, stated in the JSON schema too (the validators keep their own messages)
_COLUMN = {"minLength": 1, "pattern": "^[^\\x00]*[^\\s\\x00][^\\x00]*$"}   # a visible character, no NUL
_AMOUNT_BOUND = {"minimum": 0, "exclusiveMaximum": 1e28}
_DAYS = {"minimum": 0, "maximum": 36600}


class Condition(_Model):
    source: str = Field(json_schema_extra=_COLUMN)
    target: str = Field(json_schema_extra=_COLUMN)
    operator: Operator
    normalize: list[Normalize] = Field(default_factory=list)
    absolute: Optional[Decimal] = Field(default=None, json_schema_extra=_AMOUNT_BOUND)
    percent: Optional[Decimal] = Field(default=None, json_schema_extra=_AMOUNT_BOUND)
    days_before: Optional[int] = Field(default=None, alias="daysBefore", json_schema_extra=_DAYS)
    days_after: Optional[int] = Field(default=None, alias="daysAfter", json_schema_extra=_DAYS)
    algorithm: Optional[Algorithm] = None
    threshold: Optional[float] = Field(default=None, json_schema_extra={"minimum": 0, "maximum": 1})
    aggregate: Optional[Aggregate] = None

    _name_check = field_validator("source", "target")(classmethod(lambda cls, v: _column_name(v)))

    @field_validator("threshold")
    @classmethod
    def _threshold_range(cls, v):
        if v is not None and not (0 <= v <= 1):
            raise PydanticCustomError("range", "must be between 0 and 1")
        return v

    @field_validator("absolute", "percent")
    @classmethod
    def _non_negative_decimal(cls, v, info):
        if v is None:
            return v
        if not v.is_finite() or v < 0:
            raise PydanticCustomError("range", "must be a number >= 0")
        # what the engine computes exactly (amounts are DECIMAL(38,10), a percent's rate keeps its
        # product with an amount within 38 digits); beyond it every run failed with DuckDB's
        # conversion error, or a tolerance of 0.000000000001 was rounded to 0
        if v >= Decimal(10) ** 28:
            raise PydanticCustomError("OUT_OF_RANGE", "must be < 10^28")
        most = 10 if info.field_name == "absolute" else 6
        if -v.normalize().as_tuple().exponent > most:
            raise PydanticCustomError("INVALID_VALUE", f"must have at most {most} decimals")
        return v

    @field_validator("days_before", "days_after")
    @classmethod
    def _non_negative_days(cls, v):
        if v is not None and not (0 <= v <= 36600):
            raise PydanticCustomError("range", "must be between 0 and 36600")
        return v

    def days(self) -> tuple[int, int]:
        return (self.days_before or 0, self.days_after or 0)


class GroupBy(_Model):
    source: Optional[list[str]] = None
    target: Optional[list[str]] = None


class Pass(_Model):
    name: str = Field(min_length=1, max_length=200)
    cardinality: Cardinality = Cardinality.ONE_TO_ONE
    conditions: list[Condition] = Field(json_schema_extra={"minItems": 1})   # checked below, own message
    group_by: Optional[GroupBy] = Field(default=None, alias="groupBy")

    @field_validator("conditions")
    @classmethod
    def _at_least_one(cls, v):
        if not v:
            raise PydanticCustomError("conditions_empty", "a pass needs at least one condition")
        return v


class RuleSet(_Model):
    name: str = Field(min_length=1, max_length=200)
    description: Optional[str] = None
    source_key: Optional[str] = Field(default=None, alias="sourceKey")
    target_key: Optional[str] = Field(default=None, alias="targetKey")
    passes: list[Pass] = Field(json_schema_extra={"minItems": 1, "maxItems": 50})   # checked below, own messages

    @field_validator("passes")
    @classmethod
    def _passes_present(cls, v):
        if not v:
            raise PydanticCustomError("passes_empty", "a rule set needs at least one pass")
        if len(v) > 50:
            raise PydanticCustomError("passes_too_many", "at most 50 passes")
        return v

    @model_validator(mode="after")
    def _semantics(self):
        problems = semantic_problems(self)
        if problems:
            raise ValidationError.from_exception_data(
                "RuleSet",
                [InitErrorDetails(type=PydanticCustomError(code, msg), loc=loc, input=None)
                 for loc, code, msg in problems])
        return self

    def to_json(self) -> dict:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


# ---------------------------------------------------------------------------------------------
# Semantic checks (cross-field), each located at the field that is wrong.

_OPERATOR_FIELDS = {
    "absolute": (Operator.AMOUNT_TOLERANCE,),
    "percent": (Operator.AMOUNT_TOLERANCE,),
    "days_before": (Operator.DATE_WINDOW,),
    "days_after": (Operator.DATE_WINDOW,),
    "algorithm": (Operator.SIMILARITY,),
    "threshold": (Operator.SIMILARITY,),
    "aggregate": (Operator.AMOUNT_TOLERANCE, Operator.EQUALS),
}
_ALIASES = {"days_before": "daysBefore", "days_after": "daysAfter", "group_by": "groupBy"}


def semantic_problems(rs: RuleSet) -> list[tuple[tuple, str, str]]:
    out: list[tuple[tuple, str, str]] = []
    first_named: dict[str, int] = {}
    for pi, p in enumerate(rs.passes):
        ploc = ("passes", pi)
        # outputs and exceptions name a pass (pass_name, closestCandidate.pass): two of one name are one to a reader
        if p.name in first_named:
            out.append((ploc + ("name",), "INVALID_VALUE",
                        f"is also the name of passes[{first_named[p.name]}] ({p.name!r}); pass names must differ"))
        first_named.setdefault(p.name, pi)
        ops = [c.operator for c in p.conditions]
        for ci, c in enumerate(p.conditions):
            cloc = ploc + ("conditions", ci)
            for fname, allowed in _OPERATOR_FIELDS.items():
                if getattr(c, fname) is not None and c.operator not in allowed:
                    out.append((cloc + (_ALIASES.get(fname, fname),), "field_not_allowed",
                                f"not allowed with operator {c.operator.value}"))
            if c.operator is Operator.AMOUNT_TOLERANCE and c.absolute is None and c.percent is None:
                out.append((cloc + ("absolute",), "option_missing",
                            "AMOUNT_TOLERANCE needs absolute and/or percent"))
            if c.operator is Operator.SIMILARITY:
                if c.algorithm is None:
                    out.append((cloc + ("algorithm",), "option_missing",
                                "SIMILARITY needs an algorithm (JARO_WINKLER, LEVENSHTEIN_RATIO or TOKEN_SET)"))
                if c.threshold is None:
                    out.append((cloc + ("threshold",), "option_missing",
                                "SIMILARITY needs a threshold between 0 and 1"))
            if c.normalize and c.operator not in (Operator.EQUALS, Operator.SIMILARITY):
                out.append((cloc + ("normalize",), "field_not_allowed",
                            f"normalize applies to text conditions (EQUALS, SIMILARITY), not {c.operator.value}"))
            if c.aggregate is not None and p.cardinality is Cardinality.ONE_TO_ONE:
                out.append((cloc + ("aggregate",), "field_not_allowed",
                            "aggregate is only allowed in ONE_TO_MANY and MANY_TO_ONE passes"))
        if Operator.SIMILARITY in ops and not ({Operator.EQUALS, Operator.DATE_WINDOW} & set(ops)):
            si = ops.index(Operator.SIMILARITY)
            out.append((ploc + ("conditions", si), "similarity_unblocked",
                        "a pass with a SIMILARITY condition needs an EQUALS or DATE_WINDOW condition too"))
        if p.cardinality is Cardinality.ONE_TO_ONE:
            if p.group_by is not None:
                out.append((ploc + ("groupBy",), "field_not_allowed",
                            "groupBy is only allowed in ONE_TO_MANY and MANY_TO_ONE passes"))
        else:
            side = "target" if p.cardinality is Cardinality.ONE_TO_MANY else "source"
            other = "source" if side == "target" else "target"
            cols = getattr(p.group_by, side) if p.group_by else None
            if not cols:
                out.append((ploc + ("groupBy", side), "option_missing",
                            f"{p.cardinality.value} needs groupBy.{side} (the {side} columns that form a group)"))
            elif any(not isinstance(x, str) or not x.strip() for x in cols):
                out.append((ploc + ("groupBy", side), "column_empty", "must name columns"))
            if p.group_by is not None and getattr(p.group_by, other):
                out.append((ploc + ("groupBy", other), "field_not_allowed",
                            f"{p.cardinality.value} groups the {side} side only"))
            aggs = [ci for ci, c in enumerate(p.conditions) if c.aggregate is not None]
            if len(aggs) != 1:
                out.append((ploc + ("conditions",), "aggregate_count",
                            f"{p.cardinality.value} needs exactly one condition with aggregate SUM "
                            f"(found {len(aggs)})"))
            for ci, c in enumerate(p.conditions):
                if c.operator is Operator.SIMILARITY:
                    out.append((ploc + ("conditions", ci, "operator"), "operator_not_allowed",
                                f"SIMILARITY is not supported in {p.cardinality.value} passes"))
                elif c.operator is Operator.AMOUNT_TOLERANCE and c.aggregate is None:
                    out.append((ploc + ("conditions", ci, "aggregate"), "option_missing",
                                f"in a {p.cardinality.value} pass the amount condition compares the "
                                f"group's SUM: set aggregate to SUM"))
            if not any(c.operator is Operator.EQUALS and c.aggregate is None for c in p.conditions):
                out.append((ploc + ("conditions",), "equals_missing",
                            f"{p.cardinality.value} needs an EQUALS condition that links a row to its group"))
    return out


# ---------------------------------------------------------------------------------------------
# Error formatting and the column check.

def field_path(loc: tuple) -> str:
    """('passes', 2, 'conditions', 1, 'threshold') -> 'passes[2].conditions[1].threshold'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def error_list(exc: ValidationError) -> list[dict]:
    """Every problem of a failed ``RuleSet.model_validate`` as ``{field, code, message}``."""
    out = []
    for e in exc.errors(include_url=False):
        loc = tuple(x for x in e["loc"] if not (isinstance(x, str) and x.startswith("function-")))
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown field"
        elif e["type"] == "missing":
            msg = "required"
        elif e["type"] in ("enum", "literal_error"):
            msg = msg.replace("Input should be", "must be")
        elif msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        out.append({"field": field_path(loc), "code": e["type"], "message": msg})
    return out


def describe_errors(exc: ValidationError) -> str:
    """One line per problem: ``passes[2].conditions[1].threshold: must be between 0 and 1``."""
    return "; ".join(f"{e['field']}: {e['message']}" for e in error_list(exc))


@dataclass(frozen=True)
class ColumnProblem:
    side: str                 # "source" | "target"
    field: str                # e.g. passes[0].conditions[1].source
    column: str
    available: list[str] = field(default_factory=list)

    @property
    def code(self) -> str:
        return "RULE_FIELD_MISSING"

    @property
    def message(self) -> str:
        return (f"column '{self.column}' is not in the {self.side} input "
                f"(columns: {', '.join(self.available)})")


def columns_used(rule_set: RuleSet) -> list[tuple[str, str, str]]:
    """(side, field path, column) for every column a rule set reads."""
    out = []
    if rule_set.source_key:
        out.append(("source", "sourceKey", rule_set.source_key))
    if rule_set.target_key:
        out.append(("target", "targetKey", rule_set.target_key))
    for pi, p in enumerate(rule_set.passes):
        for ci, c in enumerate(p.conditions):
            out.append(("source", f"passes[{pi}].conditions[{ci}].source", c.source))
            out.append(("target", f"passes[{pi}].conditions[{ci}].target", c.target))
        if p.group_by:
            for side in ("source", "target"):
                for gi, col in enumerate(getattr(p.group_by, side) or []):
                    out.append((side, f"passes[{pi}].groupBy.{side}[{gi}]", col))
    return out


def check_columns(rule_set: RuleSet, source_columns: list[str],
                  target_columns: list[str]) -> list[ColumnProblem]:
    """Every column the rule set names that its input lacks (``RULE_FIELD_MISSING``)."""
    have = {"source": list(source_columns), "target": list(target_columns)}
    return [ColumnProblem(side, path, col, have[side])
            for side, path, col in columns_used(rule_set) if col not in have[side]]
