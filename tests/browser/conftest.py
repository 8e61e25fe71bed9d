"""Fixtures of the console's tests: the running stack and its demo data (shared with tests/e2e)."""
from tests.e2e.conftest import api, demo, stack  # noqa: F401  (pytest fixtures)
