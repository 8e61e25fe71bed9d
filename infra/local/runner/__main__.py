"""python -m infra.local.runner: run the app's SQS and schedule handlers locally.

Runs in the foreground until SIGTERM/SIGINT; one JSON line per invocation on stdout,
diagnostics on stderr. The caller owns PID files and log redirection.
"""
from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any, List, Optional

REPO_ROOT = Path(__file__).resolve().parents[3]


def load_stage_environment(project_dir: Path, stage: str) -> List[str]:
    """Export the Chalice config's environment_variables (top level, then stage).

    Variables already set in the environment win, so a caller can override any.
    Returns the names that were set.
    """
    path = project_dir / ".chalice" / "config.json"
    if not path.is_file():
        return []
    config = json.loads(path.read_text())
    merged = dict(config.get("environment_variables", {}))
    merged.update(config.get("stages", {}).get(stage, {}).get("environment_variables", {}))
    applied = []
    for key, value in merged.items():
        if key not in os.environ:
            os.environ[key] = str(value)
            applied.append(key)
    return applied


def import_app(spec: str, project_dir: Path) -> Any:
    module_name, _, attr = spec.partition(":")
    attr = attr or "app"
    if str(project_dir) not in sys.path:
        sys.path.insert(0, str(project_dir))
    module = importlib.import_module(module_name)
    try:
        return getattr(module, attr)
    except AttributeError:
        raise SystemExit("%s has no attribute %r" % (module_name, attr)) from None


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m infra.local.runner", description=__doc__.splitlines()[0])
    ap.add_argument("--app", default="app:app", help="module:attribute of the Chalice app (default app:app)")
    ap.add_argument("--project-dir", default=str(REPO_ROOT), help="directory holding app.py and .chalice/")
    ap.add_argument("--stage", default="local", help="Chalice stage whose environment_variables are exported")
    ap.add_argument("--concurrency", type=int, default=2, help="concurrent invocations per SQS source (default 2)")
    ap.add_argument("--wait-time", type=int, default=5, help="SQS long-poll seconds (0-20, default 5; also the worst-case stop delay)")
    ap.add_argument("--function-timeout", type=float, default=60.0, help="context deadline seconds (default 60)")
    ap.add_argument("--only", action="append", default=[], metavar="HANDLER", help="run only these handlers")
    ap.add_argument("--endpoint-url", default=None, help="default: $AWS_ENDPOINT_URL")
    ap.add_argument("--region", default=None, help="default: $AWS_REGION or us-east-1")
    ap.add_argument("--queue-prefix", default=None, help="prefix added to every queue name (default: $QUEUE_PREFIX)")
    ap.add_argument("--list", action="store_true", help="print the discovered sources as JSON and exit")
    ap.add_argument("--log-level", default=os.environ.get("RUNNER_LOG_LEVEL", "INFO"))
    args = ap.parse_args(argv)

    logging.basicConfig(
        level=args.log_level.upper(), stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    project_dir = Path(args.project_dir).resolve()
    load_stage_environment(project_dir, args.stage)
    if args.endpoint_url:
        os.environ["AWS_ENDPOINT_URL"] = args.endpoint_url  # the app's own clients too
    if os.environ.get("AWS_ENDPOINT_URL"):
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
    os.environ.setdefault("AWS_DEFAULT_REGION", args.region or os.environ.get("AWS_REGION", "us-east-1"))

    app = import_app(args.app, project_dir)

    from .engine import Runner
    from .sources import discover

    if args.list:
        sqs, schedules = discover(app)
        print(json.dumps({
            "sqs": [{"handler": s.name, "queue": s.queue, "batch_size": s.batch_size,
                     "maximum_batching_window": s.maximum_batching_window,
                     "maximum_concurrency": s.maximum_concurrency} for s in sqs],
            "schedules": [{"handler": s.name, "expression": s.expression} for s in schedules],
        }, indent=2))
        return 0

    runner = Runner(
        app,
        endpoint_url=args.endpoint_url,
        region=args.region,
        concurrency=args.concurrency,
        wait_time_seconds=args.wait_time,
        function_timeout=args.function_timeout,
        stage=args.stage,
        only=args.only or None,
        queue_prefix=args.queue_prefix,
    )
    if not runner.sqs_sources and not runner.schedules:
        logging.getLogger("infra.local.runner").warning("the app declares no SQS or schedule handlers; nothing to run")
    stop_requested = threading.Event()

    def on_signal(signum, _frame):
        logging.getLogger("infra.local.runner").info("signal %d: finishing in-flight batches", signum)
        stop_requested.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        runner.start()
    except RuntimeError as exc:
        print("runner: %s" % exc, file=sys.stderr)
        return 1
    while not stop_requested.wait(1.0):
        pass
    clean = runner.stop()
    logging.getLogger("infra.local.runner").info("runner stopped%s", "" if clean else " (some threads did not finish)")
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
