"""Full-scan benchmark of the Cassandra reader.

    python bench/bench_reader.py [--rows 1000000] [--ranges 64] [--fetch-size 5000]

Without CASSANDRA_HOSTS it starts the CQL dev server as a separate process on a free port, with a
SQLite file in a temporary directory, and loads ``--rows`` demo ``users`` rows into ``demo.users``
(the demo generator, unlogged batches). With CASSANDRA_HOSTS it uses that cluster and loads only
when ``--load`` is given (``demo.users`` is truncated first).

It then scans the whole table through ``CassandraReader.scan_range`` over ``--ranges`` token
ranges and, as baselines in the same run, with the raw driver: the reader's own CQL over the same
ranges, and ``SELECT * FROM demo.users`` paged with the same fetch size. The three are interleaved
and run twice (the best of two counts), so a noisy neighbour affects them alike. Printed: data size, load time, rows/s of both scans and their
ratio, peak RSS of this process (overall and during the reader scan, sampled) and of the server.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psutil  # noqa: E402

from chalicelib.cassandra.reader import CassandraReader  # noqa: E402
from chalicelib.cassandra.session import get_session, shutdown  # noqa: E402
from chalicelib.cassandra.settings import CassandraSettings  # noqa: E402
from chalicelib.cassandra.tokens import split_ring  # noqa: E402

KEYSPACE, TABLE = "demo", "users"


def start_server(data_path: str) -> tuple[subprocess.Popen, int]:
    repo = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "infra.local.cqlserver", "--host", "127.0.0.1", "--port", "0",
         "--data", data_path, "--log-level", "WARNING"],
        stdout=subprocess.PIPE, text=True, cwd=repo, env={**os.environ, "PYTHONPATH": str(repo)},
    )
    line = proc.stdout.readline()
    if not line.startswith("cqlserver ready on"):
        proc.kill()
        raise SystemExit(f"CQL dev server did not start: {line!r}")
    return proc, int(line.strip().rsplit(":", 1)[1])


class RssSampler(threading.Thread):
    """Peak resident set size of this process while running (sampled every 20 ms)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.proc = psutil.Process()
        self.peak = self.proc.memory_info().rss
        self._halt = threading.Event()

    def run(self):
        while not self._halt.wait(0.02):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def stop(self) -> int:
        self._halt.set()
        self.join()
        return max(self.peak, self.proc.memory_info().rss)


def mib(n: float) -> str:
    return f"{n / 2**20:.1f} MiB"


def load_users(session, rows: int, batch_rows: int, seed: int) -> float:
    from chalicelib.demo.loader import CHUNK, _CassandraWriter, ensure_cassandra_schema
    from chalicelib.demo.tables import USERS
    import datetime as dt

    ensure_cassandra_schema(session, KEYSPACE, [USERS], truncate=True)
    writer = _CassandraWriter(session, KEYSPACE, USERS, concurrency=16, batch_rows=batch_rows)
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)
    t0 = time.perf_counter()
    chunk = []
    for row in USERS.generate(random.Random(f"{seed}:users:rows"), now, rows):
        chunk.append(USERS.to_cassandra(row))
        if len(chunk) >= CHUNK:
            writer.write(chunk)
            chunk = []
    writer.write(chunk)
    return time.perf_counter() - t0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--ranges", type=int, default=64)
    p.add_argument("--fetch-size", type=int, default=5000)
    p.add_argument("--batch-rows", type=int, default=50, help="rows per unlogged batch when loading")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--data", help="SQLite file for the dev server (default: in a temporary directory)")
    p.add_argument("--load", action="store_true", help="with CASSANDRA_HOSTS: load demo.users first")
    args = p.parse_args(argv)

    proc = None
    tmp = None
    data_path = None
    if os.environ.get("CASSANDRA_HOSTS"):
        settings = CassandraSettings(fetch_size=args.fetch_size, request_timeout=120)
        where = f"Cassandra at {settings.describe()}"
        do_load = args.load
    else:
        if args.data:
            data_path = args.data
            if os.path.exists(data_path):
                os.remove(data_path)
        else:
            tmp = tempfile.mkdtemp(prefix="bench-reader-")
            data_path = os.path.join(tmp, "cql.sqlite")
        proc, port = start_server(data_path)
        settings = CassandraSettings(hosts="127.0.0.1", port=port, fetch_size=args.fetch_size,
                                     request_timeout=120)
        where = f"CQL dev server (pid {proc.pid}, {data_path})"
        do_load = True
    print(f"target: {where}", flush=True)
    try:
        session = get_session(settings)
        if do_load:
            load_s = load_users(session, args.rows, args.batch_rows, args.seed)
            print(f"load: {args.rows} rows in {load_s:.1f} s ({args.rows / load_s:,.0f} rows/s, "
                  f"unlogged batches of {args.batch_rows})", flush=True)
        if data_path:
            files = {f.name: f.stat().st_size for f in Path(data_path).parent.glob(Path(data_path).name + "*")}
            size = sum(files.values())
            detail = ", ".join(f"{name} {mib(n)}" for name, n in sorted(files.items()))
            print(f"data size: {mib(size)} on disk ({detail}; {size / max(args.rows, 1):.0f} bytes/row)")
        rss_before = psutil.Process().memory_info().rss

        columns = ["user_id", "email", "name", "age", "balance", "tags", "updated_at"]
        reader = CassandraReader(KEYSPACE, TABLE, ["user_id"], [], columns, settings=settings,
                                 fetch_size=args.fetch_size)
        ranges = split_ring(args.ranges)

        def reader_scan() -> int:
            n = 0
            for rng in ranges:
                for _row in reader.scan_range(rng):
                    n += 1
            return n

        from cassandra.query import SimpleStatement

        same_cql = session.prepare(reader._cql_scan)

        def raw_same_query() -> int:
            n = 0
            for rng in ranges:
                bound = same_cql.bind((rng.start, rng.end))
                bound.fetch_size = args.fetch_size
                for _row in session.execute(bound):
                    n += 1
            return n

        def raw_select_star() -> int:
            stmt = SimpleStatement(f"SELECT * FROM {KEYSPACE}.{TABLE}", fetch_size=args.fetch_size)
            return sum(1 for _row in session.execute(stmt))

        def measure(label: str, fn, sample_rss: bool = False) -> float:
            sampler = RssSampler() if sample_rss else None
            if sampler:
                sampler.start()
            cpu0, t0 = time.process_time(), time.perf_counter()
            n = fn()
            wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
            rate = n / wall
            print(f"{label}: {n:,} rows in {wall:.1f} s: {rate:,.0f} rows/s; client CPU {cpu:.1f} s "
                  f"({cpu / max(n, 1) * 1e6:.1f} us/row)", flush=True)
            if sampler:
                peak = sampler.stop()
                print(f"  RSS before scan {mib(rss_before)}, peak during scan {mib(peak)} "
                      f"(+{mib(peak - rss_before)})", flush=True)
            counts.append(n)
            return rate

        counts: list[int] = []
        # interleaved, twice, so that a noisy neighbour affects all three alike
        rates: dict[str, list[float]] = {"reader": [], "same": [], "star": []}
        for rnd in (1, 2):
            rates["reader"].append(measure(f"[{rnd}] reader scan_range over {args.ranges} ranges", reader_scan,
                                           sample_rss=rnd == 1))
            rates["same"].append(measure(f"[{rnd}] raw driver, the reader's CQL over the same ranges", raw_same_query))
            rates["star"].append(measure(f"[{rnd}] raw driver SELECT * paged", raw_select_star))
        best = {k: max(v) for k, v in rates.items()}
        print(f"best rows/s: reader {best['reader']:,.0f}, raw same CQL {best['same']:,.0f}, "
              f"raw SELECT * {best['star']:,.0f}")
        print(f"ratio reader/raw SELECT *: {best['reader'] / best['star']:.2f}; "
              f"reader/raw same CQL: {best['reader'] / best['same']:.2f}")
        expected = args.rows if do_load else counts[0]
        if any(c != expected for c in counts):
            print(f"ROW COUNT MISMATCH: {counts} (expected {expected})")
            return 1
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        print(f"peak RSS of this process (whole run, incl. load): {mib(peak)}")
        if proc is not None:
            print(f"RSS of the dev server at the end: {mib(psutil.Process(proc.pid).memory_info().rss)}")
    finally:
        shutdown()
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
