"""``python -m infra.local.cqlserver --port 9042 (--data PATH.sqlite | --memory)``"""

from __future__ import annotations

import argparse
import logging
import signal
import sqlite3
import sys
import threading

from .server import CqlServer


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.local.cqlserver",
                                     description="CQL native protocol v4 dev server (local runs and tests only)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9042)
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--data", metavar="PATH.sqlite", help="persist schema and rows in this SQLite file")
    where.add_argument("--memory", action="store_true", help="keep everything in memory (the default)")
    parser.add_argument("--num-tokens", type=int, default=16, help="tokens the single node reports (default 16)")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)

    logging.basicConfig(stream=sys.stderr, level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    server = CqlServer(host=args.host, port=args.port, data_path=None if args.memory else args.data,
                       num_tokens=args.num_tokens)
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        server.start()
    except (OSError, sqlite3.Error) as exc:
        logging.getLogger("cqlserver").error("cannot start on %s:%d with %s: %s", args.host, args.port,
                                             args.data or "memory", exc)
        return 1
    print("cqlserver ready on %s:%d" % (args.host, server.port), flush=True)
    while not stop.wait(0.5):
        pass
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
