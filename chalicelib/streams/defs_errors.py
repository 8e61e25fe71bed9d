"""Domain errors of the definitions side (files, rule sets, data sources, streams, exceptions).

Free of HTTP: the shared API layer answers them in the streams error shape, once for every route
(chalicelib/api/core.py `domain_error`: NotFound 404, Conflict 409, Invalid 400).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Issue:
    """One problem found in a definition: where (`steps[1].ruleSetId`), a code, and words."""

    field: str
    code: str
    message: str


class DefinitionError(Exception):
    pass


class NotFound(DefinitionError):
    def __init__(self, kind: str, id):
        super().__init__(f"{kind} {id} not found")
        self.kind, self.id = kind, id


class Conflict(DefinitionError):
    pass


class Invalid(DefinitionError):
    """A definition with problems (400 listing all of them)."""

    def __init__(self, issues: list[Issue], message: str | None = None):
        self.issues = list(issues)
        self.message = message   # None: the answer names the first issue (and counts the others)
        first = self.issues[0] if self.issues else Issue("body", "INVALID_VALUE", "is invalid")
        super().__init__(message or f"{first.field}: {first.message}")
