"""Domain errors of the definitions side (files, rule sets, data sources, streams, exceptions).

Free of HTTP: the route modules map them to the streams error shape (404 / 409 / 400).
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
        first = self.issues[0] if self.issues else Issue("body", "INVALID_VALUE", "is invalid")
        super().__init__(message or f"{first.field}: {first.message}")
