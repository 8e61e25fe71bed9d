"""Throughput measurement of the CQL dev server through the real driver.

    python -m infra.local.cqlserver.bench --rows 1000000 [--data /tmp/bench.sqlite]

Starts the server as a separate process (as in local runs), loads a users-like table with
prepared INSERTs (unlogged batches and execute_concurrent), then scans it fully by paging and
by token ranges, and counts per token range.  Prints one line per measurement.
"""

from __future__ import annotations

import argparse
import datetime
import decimal
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid

from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
from cassandra.concurrent import execute_concurrent, execute_concurrent_with_args
from cassandra.policies import RoundRobinPolicy
from cassandra.query import BatchStatement, BatchType, SimpleStatement

MIN = -(1 << 63)


def start_server(data_path):
    args = [sys.executable, "-m", "infra.local.cqlserver", "--port", "0", "--log-level", "WARNING"]
    args += ["--data", data_path] if data_path else ["--memory"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line.startswith("cqlserver ready on"):
        proc.kill()
        raise SystemExit("server did not start: %r" % line)
    return proc, int(line.strip().rsplit(":", 1)[1])


class Meter:
    """Wall clock plus CPU seconds of the server process and of this (client) process."""

    def __init__(self, server_pid):
        self.server_pid = server_pid

    def __enter__(self):
        self.t0 = time.perf_counter()
        self.s0 = _cpu(self.server_pid)
        self.c0 = _cpu(os.getpid())
        return self

    def done(self, what, rows):
        wall = time.perf_counter() - self.t0
        server = _cpu(self.server_pid) - self.s0
        client = _cpu(os.getpid()) - self.c0
        print("%-46s %8d rows %7.2f s %9.0f rows/s | cpu server %6.2f s (%5.1f us/row) client %6.2f s"
              % (what, rows, wall, rows / wall, server, server / rows * 1e6, client), flush=True)

    def __exit__(self, *exc):
        return False


def _cpu(pid):
    """User+system CPU seconds of a process (Linux /proc)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--data", help="SQLite file (default: a temporary file)")
    parser.add_argument("--memory", action="store_true")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--ranges", type=int, default=64)
    args = parser.parse_args(argv)

    tmp = None
    data_path = None
    if not args.memory:
        if args.data:
            data_path = args.data
        else:
            tmp = tempfile.mkdtemp()
            data_path = os.path.join(tmp, "bench.sqlite")
    proc, port = start_server(data_path)
    profile = ExecutionProfile(load_balancing_policy=RoundRobinPolicy(), request_timeout=120)
    cluster = Cluster(["127.0.0.1"], port=port, protocol_version=4,
                      execution_profiles={EXEC_PROFILE_DEFAULT: profile})
    try:
        s = cluster.connect()
        s.execute("CREATE KEYSPACE bench WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}")
        s.execute("CREATE TABLE bench.users (id uuid PRIMARY KEY, name text, email text, amount decimal, "
                  "score double, active boolean, updated_at timestamp, tags set<text>)")
        ins = s.prepare("INSERT INTO bench.users (id, name, email, amount, score, active, updated_at, tags) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
        now = datetime.datetime(2026, 11, 1)

        def row(i):
            return (uuid.UUID(int=(i * 0x9E3779B97F4A7C15) % (1 << 128)), "user %d" % i, "user%d@example.com" % i,
                    decimal.Decimal(i) / 100, i * 0.5, i % 3 == 0, now + datetime.timedelta(seconds=i),
                    {"a", "t%d" % (i % 7)})

        n = args.rows
        n_conc = min(n, max(10_000, n // 10))
        m = Meter(proc.pid).__enter__()
        execute_concurrent_with_args(s, ins, (row(i) for i in range(n_conc)), concurrency=64)
        m.done("insert: prepared, execute_concurrent(64)", n_conc)

        m = Meter(proc.pid).__enter__()

        def batches():
            for start in range(n_conc, n, args.batch):
                b = BatchStatement(batch_type=BatchType.UNLOGGED)
                for i in range(start, min(n, start + args.batch)):
                    b.add(ins, row(i))
                yield b, None
        execute_concurrent(s, batches(), concurrency=8)
        m.done("insert: unlogged batches of %d, concurrency 8" % args.batch, n - n_conc)

        m = Meter(proc.pid).__enter__()
        total = s.execute("SELECT COUNT(*) FROM bench.users").one()[0]
        m.done("count(*) whole table", total)
        assert total == n, total

        m = Meter(proc.pid).__enter__()
        seen = 0
        for _ in s.execute(SimpleStatement("SELECT * FROM bench.users", fetch_size=5000)):
            seen += 1
        m.done("scan: SELECT * paged (fetch_size 5000)", seen)
        assert seen == n

        m = Meter(proc.pid).__enter__()
        sel = s.prepare("SELECT id, name, email, amount, updated_at FROM bench.users "
                        "WHERE token(id) > ? AND token(id) <= ?")
        sel.fetch_size = 5000
        step = (1 << 64) // args.ranges
        bounds = [MIN + i * step for i in range(args.ranges)] + [(1 << 63) - 1]
        seen = 0
        for lo, hi in zip(bounds, bounds[1:]):
            for _ in s.execute(sel, (lo, hi)):
                seen += 1
        m.done("scan: 5 columns by %d token ranges" % args.ranges, seen)

        m = Meter(proc.pid).__enter__()
        cnt = s.prepare("SELECT COUNT(*) FROM bench.users WHERE token(id) > ? AND token(id) <= ?")
        counted = sum(s.execute(cnt, (lo, hi)).one()[0] for lo, hi in zip(bounds, bounds[1:]))
        m.done("count(*) by %d token ranges" % args.ranges, counted)

        if data_path:
            size = sum(os.path.getsize(data_path + sfx) for sfx in ("", "-wal") if os.path.exists(data_path + sfx))
            print("data file: %.1f MB for %d rows (%.0f bytes/row)" % (size / 1e6, n, size / n))
    finally:
        cluster.shutdown()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        if tmp:
            for f in os.listdir(tmp):
                os.remove(os.path.join(tmp, f))
            os.rmdir(tmp)


if __name__ == "__main__":
    main()
