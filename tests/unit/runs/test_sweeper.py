"""The sweeper runs every product's hook; a transient fault is retried, a broken hook does not stop the others."""
from __future__ import annotations

import pytest
from psycopg import errors as pg_errors

from chalicelib.runs import sweeper
from chalicelib.runs.retry import RetryPolicy

FAST = RetryPolicy("test", budget_s=2.0, max_attempts=3, initial_s=0.001, max_wait_s=0.001, jitter_s=0.0)


@pytest.fixture
def only_test_hooks(monkeypatch):
    monkeypatch.setattr(sweeper, "HOOKS", {})
    monkeypatch.setattr(sweeper, "_registered", {})


def test_every_hook_runs_and_reports(only_test_hooks):
    calls = []
    sweeper.register("a", lambda: calls.append("a") or {"failed": 1})
    sweeper.register("b", lambda: calls.append("b") or 3)
    assert sweeper.run(FAST) == {"a": {"failed": 1}, "b": 3}
    assert calls == ["a", "b"]


def test_transient_fault_in_a_hook_is_retried(only_test_hooks):
    state = {"n": 0}

    def flaky():
        state["n"] += 1
        if state["n"] == 1:
            raise pg_errors.AdminShutdown("terminating connection due to administrator command")
        return {"rewoken": 2}

    sweeper.register("flaky", flaky)
    assert sweeper.run(FAST) == {"flaky": {"rewoken": 2}}
    assert state["n"] == 2


def test_a_failing_hook_does_not_stop_the_others(only_test_hooks):
    def broken():
        raise pg_errors.UndefinedTable('relation "recon.nothing" does not exist')

    sweeper.register("broken", broken)
    sweeper.register("fine", lambda: 0)
    result = sweeper.run(FAST)
    assert result["fine"] == 0
    assert "UndefinedTable" in result["broken"]["error"]


def test_hooks_by_path_are_imported_on_use(only_test_hooks):
    sweeper.register("path", "tests.unit.runs.test_sweeper:_answer")
    assert sweeper.run(FAST) == {"path": 42}
    sweeper.unregister("path")
    assert sweeper.run(FAST) == {}


def test_default_hooks_resolve():
    hooks = sweeper.hooks()
    assert {"cdc-jobs", "webhooks"} <= set(hooks)
    assert all(callable(fn) for fn in hooks.values())


def _answer():
    return 42
