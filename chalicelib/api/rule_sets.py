"""Rule sets (streams platform §3): create, list, get (latest or ?version=N), update (new version), delete."""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Optional

from chalice import Blueprint
from pydantic import Field, ValidationError

from chalicelib.api.auth_middleware import caller_email
from chalicelib.api.core import (DeletedOut, Dialect, Problem, Routes, StreamsOut, StreamsPageQuery, StreamsQuery,
                                 check_read_only, created, ok, page_of, paginated, problems_from, read_only_fields)
from chalicelib.matching.rules import RuleSet
from chalicelib.streams import rule_sets

bp = Blueprint(__name__)
api = Routes(bp, dialect=Dialect.STREAMS, tag="rule-sets")


class RuleSetOut(StreamsOut):
    id: int
    name: str
    description: Optional[str] = None
    version: int = Field(description="The version shown")
    latest_version: int
    source_key: Optional[str] = None
    target_key: Optional[str] = None
    passes: list[dict[str, Any]] = Field(description="As in the request (see RuleSet)")
    created_at: datetime
    updated_at: datetime = Field(description="When this version was written")


class RuleSetSummary(StreamsOut):
    id: int
    name: str
    description: Optional[str] = None
    version: int
    pass_count: int
    created_at: datetime
    updated_at: datetime


class RuleSetsQuery(StreamsPageQuery):
    name: Optional[str] = Field(default=None, min_length=1, max_length=200, description="Name contains (any case)")


class VersionQuery(StreamsQuery):
    version: Optional[int] = Field(default=None, ge=1, le=2**31 - 1, description="An older version (default: latest)")


def passes_beyond_shape(raw: Any) -> list[Problem]:
    """On a body refused for other problems: the cross-field rules (platform §3) of each pass that is well
    formed on its own — "a pass with a SIMILARITY condition needs an EQUALS or DATE_WINDOW condition too" is
    listed beside an unknown field elsewhere. Each pass is checked as the only pass of a rule set."""
    passes = raw.get("passes") if isinstance(raw, dict) else None
    out: list[Problem] = []
    for pi, one in enumerate(passes if isinstance(passes, list) else []):
        try:
            RuleSet.model_validate_json(json.dumps({"name": "-", "passes": [one]}), strict=True)
        except ValidationError as exc:
            out += [Problem(f"passes[{pi}]{p.field[len('passes[0]'):]}", p.code, p.message)
                    for p in problems_from(exc) if p.field.startswith("passes[0]")]
    return out


@api.route("/rule-sets", "POST", body=RuleSet, beyond_shape=passes_beyond_shape, response=RuleSetOut, status=201, summary="Create a rule set (version 1)",
           description="Validated as a whole: every problem is listed with its path (passes[2].conditions[1].threshold). "
                       + rule_sets.BOUNDS)
def create_rule_set(body: RuleSet):
    view = rule_sets.view(rule_sets.create(body, caller_email(bp)))
    return created(view, f"/rule-sets/{view['id']}", message="Rule set created")


@api.route("/rule-sets", "GET", query=RuleSetsQuery, response=page_of(RuleSetSummary),
           summary="List rule sets (latest versions, newest first)")
def list_rule_sets(query: RuleSetsQuery):
    rows, total = rule_sets.list_rule_sets(query.offset, query.limit, query.name)
    items = [{"id": r["rule_set_id"], "name": r["name"], "description": r["description"], "version": r["version"],
              "pass_count": len(r["definition"].get("passes", [])), "created_at": r["created_at"],
              "updated_at": r["version_created_at"]} for r in rows]
    return ok(paginated(items, total, query))


@api.route("/rule-sets/{id}", "GET", query=VersionQuery, response=RuleSetOut, errors=[404],
           summary="One rule set: the latest version, or ?version=N")
def get_rule_set(id: int, query: VersionQuery):
    return ok(rule_sets.view(rule_sets.require(id, query.version)))


@api.route("/rule-sets/{id}", "PUT", body=RuleSet, beyond_shape=passes_beyond_shape, response=RuleSetOut, errors=[404, 409],
           summary="Replace a rule set: writes version + 1 (earlier versions stay readable)",
           description="What GET answered can be PUT back: id must be the rule set's and a version other than the "
                       "latest is a 409 (the body was read before a later change); latestVersion and the timestamps "
                       "are ignored. Validated as on create. " + rule_sets.BOUNDS,
           read_only=read_only_fields("id", "version", "latestVersion", "createdAt", "updatedAt"))
def update_rule_set(id: int, body: RuleSet, given: dict):
    def check(row: dict) -> None:   # under the rule set's lock: two PUTs of one version cannot both pass
        check_read_only(given, {"id": id, "version": row["latest_version"]}, "Rule set")

    row = rule_sets.update(id, body, caller_email(bp), check_locked=check if given else None)
    return ok(rule_sets.view(row), message=f"Rule set {id} is now at version {row['version']}")


@api.route("/rule-sets/{id}", "DELETE", response=DeletedOut, errors=[404, 409],
           summary="Delete a rule set (409 while a non-archived stream or a legacy reconciliation uses it)")
def delete_rule_set(id: int):
    rule_sets.delete(id)
    return ok({"id": id, "deleted": True}, message=f"Rule set {id} deleted")
