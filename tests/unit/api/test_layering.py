"""The domain vocabulary (chalicelib/domain) imports nothing from the API layer, AWS or the database,
and the CDC vocabulary is defined once: the API's names are the domain's objects."""
from __future__ import annotations

import ast
from pathlib import Path

import chalicelib.domain as domain

FORBIDDEN = ("chalicelib.api", "chalicelib.db", "chalicelib.aws", "boto3", "psycopg", "chalice", "cassandra")


def _imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


def test_domain_imports_no_outer_layer():
    files = sorted(Path(domain.__file__).parent.glob("*.py"))
    assert len(files) >= 4
    for f in files:
        for name in _imports(f):
            assert not name.startswith(FORBIDDEN), f"{f.name} imports {name}"


def test_the_api_uses_the_domain_definitions():
    from chalicelib.api import models, pagination
    from chalicelib.domain import cdc, paging, timeutil

    for name in ("ValidationStrategy", "Priority", "JobStatus", "JobType", "MismatchType", "ResolutionStatus",
                 "PRIORITY_FROM_DB"):
        assert getattr(models, name) is getattr(cdc, name), name
    assert models.DateBound is timeutil.DateBound and models.iso_z is timeutil.iso_z
    assert pagination.Page is paging.Page


def test_support_contact_is_written_once():
    from chalicelib.config import Settings
    from chalicelib.domain.support import SUPPORT_CONTACT

    assert Settings.model_fields["support_contact"].default == SUPPORT_CONTACT
    root = Path(domain.__file__).parents[1]
    holders = [p for p in root.rglob("*.py") if SUPPORT_CONTACT in p.read_text()]
    assert [p.relative_to(root).as_posix() for p in holders] == ["domain/support.py"]


# The operator CLI manages API keys, which live in the API layer; nothing else below it imports it.
MAY_IMPORT_THE_API = {"cli.py"}


def test_nothing_new_below_the_api_layer_imports_it():
    root = Path(domain.__file__).parents[1]
    offenders = set()
    for path in root.rglob("*.py"):
        rel = path.relative_to(root).as_posix()
        if rel.startswith("api/"):
            continue
        if any(name.startswith("chalicelib.api") for name in _imports(path)):
            offenders.add(rel)
    assert offenders - MAY_IMPORT_THE_API == set(), offenders
