"""The maintenance pass (EventBridge every minute → `recon-maintenance` → `run()`).

Each product registers a hook that fails work past its deadline (with the reason) and re-sends
wake-ups for work whose message was lost. Hooks run one after the other, each under the worker retry
policy (a database restart during a sweep is ridden out); one hook's failure is logged and reported
in the result without stopping the others. Hooks must be safe to run twice at once (SKIP LOCKED,
conditional updates): a tick can be delivered twice.

Register with `register(name, fn)` from code that the maintenance worker imports, or list the hook
as "module:function" in `HOOKS` (imported on the first sweep, so cold starts stay light).
"""
from __future__ import annotations

import importlib
from typing import Any, Callable

from chalicelib.observability import logger
from chalicelib.runs.retry import WORKER, RetryPolicy, describe, retry_call

#: hooks run by every sweep, in order: name -> "module:function" (a function taking no argument and
#: returning counts)
HOOKS: dict[str, str] = {
    "cdc-jobs": "chalicelib.cdc.jobs:sweep",
    "webhooks": "chalicelib.runs.webhooks:requeue_stalled",
    "stream-files": "chalicelib.streams.files:sweep",
    "stream-runs": "chalicelib.streams.runs:start_stalled",
    "stream-executions": "chalicelib.streams.runs:end_lost_executions",
}
_registered: dict[str, Callable[[], Any]] = {}


def register(name: str, fn: Callable[[], Any] | str) -> None:
    """Add (or replace) a hook: a callable or a "module:function" path."""
    if isinstance(fn, str):
        HOOKS[name] = fn
        _registered.pop(name, None)
    else:
        _registered[name] = fn
        HOOKS.pop(name, None)


def unregister(name: str) -> None:
    HOOKS.pop(name, None)
    _registered.pop(name, None)


def _resolve(path: str) -> Callable[[], Any]:
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


def hooks() -> dict[str, Callable[[], Any]]:
    out = {name: _resolve(path) for name, path in HOOKS.items()}
    out.update(_registered)
    return out


def run(policy: RetryPolicy = WORKER) -> dict[str, Any]:
    """One maintenance pass. Returns {hook name: its counts, or {"error": reason}}."""
    results: dict[str, Any] = {}
    for name, fn in hooks().items():
        try:
            results[name] = retry_call(fn, policy=policy, what=f"sweep {name}")
        except Exception as exc:
            logger.exception("sweep hook failed", extra={"hook": name})
            results[name] = {"error": describe(exc)}
    return results
