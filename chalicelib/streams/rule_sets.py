"""Rule sets (streams platform §3): versioned documents validated by the matching engine's RuleSet.

Editing creates a new version; versions never change. A deleted rule set keeps its versions (a step run
records the version it used) but is no longer listed or usable.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Callable

from psycopg.types.json import Jsonb

from chalicelib.domain.keyorder import ordered_keys
from chalicelib.streams.defs_db import fetch_all, fetch_one, tx
from chalicelib.streams.defs_errors import Conflict, Invalid, Issue, NotFound

_SELECT = ("SELECT r.rule_set_id, v.version, r.latest_version, v.name, v.description, v.definition,"
           " r.created_at, v.created_at AS version_created_at, r.updated_at, v.created_by"
           " FROM recon.rule_sets r JOIN recon.rule_set_versions v ON v.rule_set_id = r.rule_set_id")


def model():
    from chalicelib.matching.rules import RuleSet

    return RuleSet


def _doc(rule_set) -> dict:
    return rule_set.to_json() if hasattr(rule_set, "to_json") else rule_set.model_dump(mode="json", by_alias=True,
                                                                                         exclude_none=True)


def definition_problems(rule_set) -> list[Issue]:
    """What the engine's model lets through but a stored rule set must not have: a blank name or pass
    name, a blank sourceKey / targetKey (it would key every output row by nothing), a tolerance beyond
    MAX_TOLERANCE, a description or a column name beyond MAX_DESCRIPTION / MAX_COLUMN characters, more than
    MAX_CONDITIONS conditions or group-by columns in a pass, more normalize steps than there are."""
    from chalicelib.matching.rules import Normalize

    out = [Issue("name", "INVALID_VALUE", "must not be blank")] if not rule_set.name.strip() else []
    out += _too_long("description", rule_set.description, MAX_DESCRIPTION)
    for field, attr in (("sourceKey", "source_key"), ("targetKey", "target_key")):
        value = getattr(rule_set, attr, None)
        if value is not None and not value.strip():
            out.append(Issue(field, "INVALID_VALUE", "must name a column (or be left out: the row number)"))
        out += _too_long(field, value, MAX_COLUMN)
    for i, p in enumerate(rule_set.passes):
        if not p.name.strip():
            out.append(Issue(f"passes[{i}].name", "INVALID_VALUE", "must not be blank"))
        out += _too_many(f"passes[{i}].conditions", p.conditions, MAX_CONDITIONS)
        for side in ("source", "target"):
            columns = getattr(p.group_by, side, None) or []
            out += _too_many(f"passes[{i}].groupBy.{side}", columns, MAX_CONDITIONS)
            for k, column in enumerate(columns[:MAX_CONDITIONS]):
                out += _too_long(f"passes[{i}].groupBy.{side}[{k}]", column, MAX_COLUMN)
        for j, c in enumerate(p.conditions[:MAX_CONDITIONS]):
            out += _too_long(f"passes[{i}].conditions[{j}].source", c.source, MAX_COLUMN)
            out += _too_long(f"passes[{i}].conditions[{j}].target", c.target, MAX_COLUMN)
            out += _too_many(f"passes[{i}].conditions[{j}].normalize", c.normalize, len(Normalize))
            for key in _AMOUNTS:
                value = getattr(c, key, None)
                if value is not None and value > MAX_TOLERANCE:
                    out.append(Issue(f"passes[{i}].conditions[{j}].{key}", "OUT_OF_RANGE",
                                     f"must be <= {MAX_TOLERANCE} (got {value})"))
    return out


# a rule set's texts are bounded like every other text of the API (a stream's description is 2000): the
# engine's model leaves them open, and a 3 MB description came back in every page of GET /rule-sets
MAX_DESCRIPTION = 2000
MAX_COLUMN = 1024   # a file's header name longer than this cannot be referenced (none real is)
# and so are its lists, as a stream's steps and a rule set's passes (50): 30,000 conditions in a pass or
# 100,000 normalize steps were stored; a normalize list names each of its steps at most once in effect
MAX_CONDITIONS = 50
BOUNDS = (f"Bounds (400 TOO_LONG): description {MAX_DESCRIPTION} characters, a column name {MAX_COLUMN}, "
          f"{MAX_CONDITIONS} conditions and {MAX_CONDITIONS} group-by columns a side in a pass, a condition's "
          "normalize steps 6.")


def _too_long(field: str, value: str | None, most: int) -> list[Issue]:
    return [Issue(field, "TOO_LONG", f"must be at most {most} characters")] if value and len(value) > most else []


def _too_many(field: str, items: list, most: int) -> list[Issue]:
    return [Issue(field, "TOO_LONG", f"must have at most {most} items")] if len(items) > most else []


def _check(rule_set) -> None:
    if hasattr(rule_set, "passes") and (issues := definition_problems(rule_set)):
        raise Invalid(issues)


def create(rule_set, created_by: str | None = None) -> dict:
    _check(rule_set)
    doc = _doc(rule_set)
    with tx() as c:
        rid = fetch_one(c, "INSERT INTO recon.rule_sets DEFAULT VALUES RETURNING rule_set_id")["rule_set_id"]
        c.execute("INSERT INTO recon.rule_set_versions (rule_set_id, version, name, description, definition, created_by)"
                  " VALUES (%s, 1, %s, %s, %s, %s)", (rid, doc["name"], doc.get("description"), Jsonb(doc), created_by))
        return fetch_one(c, _SELECT + " WHERE r.rule_set_id = %s AND v.version = 1", (rid,))


def update(rule_set_id: int, rule_set, created_by: str | None = None,
           check_locked: Callable[[dict], None] | None = None) -> dict:
    """Writes version + 1. `check_locked(row)` sees the rule set locked (its `latest_version`) before anything is
    written: a PUT's version compared there cannot be overtaken by a concurrent PUT."""
    _check(rule_set)
    doc = _doc(rule_set)
    with tx() as c:
        row = fetch_one(c, "SELECT latest_version FROM recon.rule_sets WHERE rule_set_id = %s AND deleted_at IS NULL"
                           " FOR UPDATE", (rule_set_id,))
        if row is None:
            raise NotFound("Rule set", rule_set_id)
        if check_locked is not None:
            check_locked(row)
        version = row["latest_version"] + 1
        c.execute("INSERT INTO recon.rule_set_versions (rule_set_id, version, name, description, definition, created_by)"
                  " VALUES (%s, %s, %s, %s, %s, %s)",
                  (rule_set_id, version, doc["name"], doc.get("description"), Jsonb(doc), created_by))
        c.execute("UPDATE recon.rule_sets SET latest_version = %s, updated_at = now() WHERE rule_set_id = %s",
                  (version, rule_set_id))
        return fetch_one(c, _SELECT + " WHERE r.rule_set_id = %s AND v.version = %s", (rule_set_id, version))


def get_version(rule_set_id: int, version: int | None = None, conn=None, *, include_deleted: bool = False
                ) -> dict | None:
    """{"rule_set_id", "version", "name", "definition", ...} of the latest (or given) version."""
    deleted = "" if include_deleted else " AND r.deleted_at IS NULL"
    with tx(conn) as c:
        if version is None:
            return fetch_one(c, _SELECT + " WHERE r.rule_set_id = %s AND v.version = r.latest_version" + deleted,
                             (rule_set_id,))
        return fetch_one(c, _SELECT + " WHERE r.rule_set_id = %s AND v.version = %s" + deleted, (rule_set_id, version))


def require(rule_set_id: int, version: int | None = None) -> dict:
    row = get_version(rule_set_id, version)
    if row is None:
        if version is not None and get_version(rule_set_id) is not None:
            raise NotFound(f"Rule set {rule_set_id} version", version)
        raise NotFound("Rule set", rule_set_id)
    return row


def load(rule_set_id: int, version: int | None = None, conn=None):
    """(RuleSet, version) for the engine; version None = latest. Deleted rule sets still load by version."""
    row = get_version(rule_set_id, version, conn, include_deleted=version is not None)
    if row is None:
        raise NotFound("Rule set", rule_set_id)
    return model().model_validate(row["definition"]), row["version"]


def existing(ids: list[int], conn=None, *, share_lock: bool = False) -> dict[int, dict]:
    """The latest versions of those rule sets that exist (not deleted); share_lock as files.get_files."""
    if not ids:
        return {}
    with tx(conn) as c:
        rows = fetch_all(c, _SELECT + " WHERE r.rule_set_id = ANY(%s) AND v.version = r.latest_version"
                                      " AND r.deleted_at IS NULL ORDER BY r.rule_set_id"
                                      + (" FOR SHARE OF r" if share_lock else ""), (list(set(ids)),))
    return {r["rule_set_id"]: r for r in rows}


def list_rule_sets(offset: int = 0, limit: int = 20, name: str | None = None) -> tuple[list[dict], int]:
    where, params = "r.deleted_at IS NULL AND v.version = r.latest_version", []
    if name:
        where += " AND v.name ILIKE %s"
        params.append("%" + name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
    with tx() as c:
        total = fetch_one(c, "SELECT count(*) AS n FROM recon.rule_sets r JOIN recon.rule_set_versions v"
                             " ON v.rule_set_id = r.rule_set_id WHERE " + where, params)["n"]
        rows = fetch_all(c, _SELECT + " WHERE " + where + " ORDER BY r.created_at DESC, r.rule_set_id DESC"
                                                         " OFFSET %s LIMIT %s", params + [offset, limit])
    return rows, total


def users_of(rule_set_id: int, conn=None) -> list[str]:
    with tx(conn) as c:
        rows = fetch_all(
            c, "SELECT DISTINCT s.stream_id, s.kind FROM recon.streams s JOIN recon.stream_steps st"
               " ON st.stream_id = s.stream_id AND st.version = s.current_version"
               " WHERE s.status <> 'ARCHIVED' AND st.rule_set_id = %s ORDER BY s.stream_id", (rule_set_id,))
        legacy = fetch_all(c, "SELECT reconciliation_id FROM recon.legacy_reconciliations WHERE rule_set_id = %s"
                              " ORDER BY reconciliation_id", (rule_set_id,))
    return ([f"reconciliation {r['reconciliation_id']}" for r in legacy]
            + [f"stream {r['stream_id']}" for r in rows if r["kind"] == "STREAM"])


def delete(rule_set_id: int) -> None:
    with tx() as c:
        row = fetch_one(c, "SELECT rule_set_id FROM recon.rule_sets WHERE rule_set_id = %s AND deleted_at IS NULL"
                           " FOR UPDATE", (rule_set_id,))
        if row is None:
            raise NotFound("Rule set", rule_set_id)
        users = users_of(rule_set_id, c)
        if users:
            shown = ", ".join(users[:5]) + (f" and {len(users) - 5} more" if len(users) > 5 else "")
            raise Conflict(f"Rule set {rule_set_id} is in use by {shown}")
        c.execute("UPDATE recon.rule_sets SET deleted_at = now(), updated_at = now() WHERE rule_set_id = %s",
                  (rule_set_id,))


_AMOUNTS = ("absolute", "percent")
# a tolerance beyond any amount a DECIMAL(18,2) column holds tolerates everything; a larger one (1e999)
# would not even read back as a JSON number
MAX_TOLERANCE = 10 ** 15


def _number(value: Any) -> Any:
    """A tolerance stored as a decimal string ("0.01") as the JSON number it was written as (0.01)."""
    if isinstance(value, str):
        try:
            number = Decimal(value)
        except ArithmeticError:
            return value
        if number.is_finite():
            return float(number)
    return value


# platform §3's order (jsonb stores keys sorted by length: daysAfter came before daysBefore)
_PASS_KEYS = ("name", "cardinality", "groupBy", "conditions")
_CONDITION_KEYS = ("source", "target", "operator", "normalize", "absolute", "percent", "daysBefore", "daysAfter",
                   "algorithm", "threshold", "aggregate")


def _passes_view(passes: list) -> list:
    """The passes as they were written: tolerances as numbers, keys in §3's order, and no `"normalize": []`
    on a condition that gave none (the model's default, stored with the definition, is not the client's)."""
    return [ordered_keys({**p, "conditions": [ordered_keys({k: _number(v) if k in _AMOUNTS else v for k, v in c.items()
                                                            if not (k == "normalize" and v == [])},
                                                           _CONDITION_KEYS) for c in p.get("conditions", [])]},
                         _PASS_KEYS)
            for p in passes]


def view(row: dict) -> dict[str, Any]:
    d = row["definition"]
    return {"id": row["rule_set_id"], "name": row["name"], "description": row["description"],
            "version": row["version"], "latestVersion": row["latest_version"],
            "sourceKey": d.get("sourceKey"), "targetKey": d.get("targetKey"),
            "passes": _passes_view(d.get("passes", [])),
            "createdAt": row["created_at"], "updatedAt": row["version_created_at"]}
