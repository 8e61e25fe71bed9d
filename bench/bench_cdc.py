"""CDC reconciliation benchmark: a users-like table with 100 rows of each mismatch type.

    python bench/bench_cdc.py --rows 1000000 --rows 100000

For each size, in one run: load the data (demo generator), then
  * baseline: a raw full scan of both sides — the Cassandra reader over all token ranges plus a
    PostgreSQL binary COPY of the same columns — in a child process;
  * a CHECKSUM job end to end through the real worker handlers (one worker: SQS wake-ups, planning,
    every segment, finalisation), in a child process whose peak RSS is reported;
  * a ROW_COUNT job the same way.
Prints the job time ÷ raw scan time ratio, rows/s, and checks that exactly the injected mismatches
were reported. Uses DATABASE_URL / CASSANDRA_HOSTS when set, otherwise starts a private PostgreSQL
and a CQL dev server (SQLite file) of its own. SQS is in-process (moto): queue latency is not what
is measured here.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CATALOG = """
tables:
  users:
    cassandra: {keyspace: demo, table: users}
    postgres: {schema: public, table: users, token_column: recon_token}
    partition_key: [user_id]
    updated_at_column: updated_at
    columns:
      user_id: {type: text}
      email: {type: text}
      name: {type: text}
      age: {type: int}
      balance: {type: decimal}
      tags: {type: "set<text>"}
      updated_at: {type: timestamp}
"""
COLUMNS = ["user_id", "email", "name", "age", "balance", "tags", "updated_at"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ------------------------------------------------------------------------------------ child phases
def phase_scan(segments: int) -> dict:
    import psycopg

    from chalicelib.cassandra.reader import CassandraReader
    from chalicelib.cassandra.tokens import split_ring

    t0 = time.perf_counter()
    reader = CassandraReader("demo", "users", ["user_id"], [], COLUMNS)
    c_rows = 0
    for rng in split_ring(segments):
        for _ in reader.scan_range(rng):
            c_rows += 1
    t1 = time.perf_counter()
    p_rows = 0
    with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
        with conn.cursor() as cur:
            with cur.copy("COPY (SELECT recon_token, user_id, email, name, age, balance, tags, updated_at FROM public.users)"
                          " TO STDOUT (FORMAT BINARY)") as cp:
                cp.set_types(["int8", "text", "text", "varchar", "int4", "numeric", "text[]", "timestamptz"])
                for _ in cp.rows():
                    p_rows += 1
    t2 = time.perf_counter()
    return {"cassandra_rows": c_rows, "postgres_rows": p_rows, "cassandra_s": t1 - t0, "postgres_s": t2 - t1,
            "seconds": t2 - t0, "peak_rss_mb": peak_rss_mb()}


def _worker_loop(_: int) -> float:
    """One worker process (a Lambda): take segments until none is left, then handle what it was sent
    (the job's finalisation, when this worker completed the last segment). Returns its peak RSS."""
    from moto import mock_aws

    from chalicelib import aws
    from chalicelib.cdc import jobs
    from chalicelib.workers import cdc as worker

    with mock_aws():
        for q in ["recon-jobs", "recon-segments", "recon-alerts"]:
            aws.client("sqs").create_queue(QueueName=q)
        while (seg := jobs.claim_next_segment()) is not None:
            worker.run_segment(seg)
        sqs = aws.client("sqs")
        while msgs := sqs.receive_message(QueueUrl=aws.queue_url("recon-segments"), MaxNumberOfMessages=10).get("Messages", []):
            for m in msgs:
                body = json.loads(m["Body"])
                if body["kind"] == "finalize":
                    worker.handle_segment_message(m["Body"])
                sqs.delete_message(QueueUrl=aws.queue_url("recon-segments"), ReceiptHandle=m["ReceiptHandle"])
    return peak_rss_mb()


def phase_job_parallel(strategy: str, workers: int) -> dict:
    """The job with its segments run by `workers` concurrent worker processes."""
    import multiprocessing as mp

    from moto import mock_aws

    from chalicelib import aws
    from chalicelib.cdc import jobs
    from chalicelib.db.pool import close_pool, transaction
    from chalicelib.workers import cdc as worker

    with mock_aws():
        for q in ["recon-jobs", "recon-segments", "recon-alerts"]:
            aws.client("sqs").create_queue(QueueName=q)
        t0 = time.perf_counter()
        job_id = jobs.create_jobs(["users"], strategy, "HIGH", "MANUAL_ONDEMAND", "bench")[0]["job_id"]
        worker.handle_job_message(json.dumps({"kind": "job"}))
    close_pool()
    with mp.get_context("spawn").Pool(workers) as pool:
        rss = pool.map(_worker_loop, range(workers))
    seconds = time.perf_counter() - t0
    with transaction() as conn:
        job = conn.execute("SELECT * FROM recon.jobs WHERE job_id = %s", (job_id,)).fetchone()
        n = conn.execute("SELECT count(*) AS n FROM recon.mismatches WHERE job_id = %s", (job_id,)).fetchone()["n"]
    return {"seconds": seconds, "status": job["status"], "mismatches": n, "workers": workers,
            "worker_peak_rss_mb": max(rss)}


def phase_job(strategy: str) -> dict:
    from moto import mock_aws

    from chalicelib import aws
    from chalicelib.cdc import jobs
    from chalicelib.db.pool import transaction
    from chalicelib.workers import cdc as worker

    handlers = {"recon-jobs": worker.handle_job_message, "recon-segments": worker.handle_segment_message}
    with mock_aws():
        for q in ["recon-jobs", "recon-segments", "recon-alerts"]:
            aws.client("sqs").create_queue(QueueName=q)
        sqs = aws.client("sqs")
        t0 = time.perf_counter()
        job_id = jobs.create_jobs(["users"], strategy, "HIGH", "MANUAL_ONDEMAND", "bench")[0]["job_id"]
        while True:
            got = False
            for q, fn in handlers.items():
                for m in sqs.receive_message(QueueUrl=aws.queue_url(q), MaxNumberOfMessages=1).get("Messages", []):
                    got = True
                    fn(m["Body"])
                    sqs.delete_message(QueueUrl=aws.queue_url(q), ReceiptHandle=m["ReceiptHandle"])
            if not got:
                break
        seconds = time.perf_counter() - t0
    with transaction() as conn:
        job = conn.execute("SELECT * FROM recon.jobs WHERE job_id = %s", (job_id,)).fetchone()
        found = conn.execute("SELECT primary_key_value, mismatch_type FROM recon.mismatches WHERE job_id = %s",
                             (job_id,)).fetchall()
    return {"seconds": seconds, "status": job["status"], "errors": job["validation_errors"],
            "cassandra_rows": job["cassandra_row_count"], "postgres_rows": job["postgres_row_count"],
            "mismatch_count": job["mismatch_count"], "segments": job["segment_count"],
            "found": {r["primary_key_value"]: r["mismatch_type"] for r in found}, "peak_rss_mb": peak_rss_mb()}


def run_child(env: dict, *args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", *args], env=env, capture_output=True, text=True,
                         cwd=ROOT, timeout=7200)
    if out.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------ orchestration
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, action="append", help="table size(s); default 1000000 and 100000")
    ap.add_argument("--drift", type=int, default=100, help="rows of each mismatch type")
    ap.add_argument("--segments", type=int, default=16)
    ap.add_argument("--workers", type=int, default=2, help="concurrent workers for the fan-out figure")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind = args.child[0]
        if kind == "scan":
            result = phase_scan(int(args.child[1]))
        elif kind == "parallel":
            result = phase_job_parallel(args.child[1], int(args.child[2]))
        else:
            result = phase_job(args.child[1])
        print(json.dumps(result, default=str))
        return 0

    sizes = args.rows or [1_000_000, 100_000]
    work = Path(tempfile.mkdtemp(prefix="recon-bench-"))
    stops = []
    env = dict(os.environ)
    try:
        if not env.get("DATABASE_URL"):
            from tests.pgcluster import start_cluster

            url, stop = start_cluster(work / "pg")
            stops.append(stop)
            env["DATABASE_URL"] = url
        if not env.get("CASSANDRA_HOSTS"):
            port = free_port()
            srv = subprocess.Popen([sys.executable, "-m", "infra.local.cqlserver", "--host", "127.0.0.1", "--port", str(port),
                                    "--data", str(work / "cql.sqlite")], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            stops.append(lambda: (srv.terminate(), srv.wait(30)))
            line = srv.stdout.readline()
            if "ready" not in line:
                raise SystemExit(f"CQL dev server did not start: {line!r}")
            env.update(CASSANDRA_HOSTS="127.0.0.1", CASSANDRA_PORT=str(port))
        (work / "catalog.yml").write_text(CATALOG)
        env.update(CATALOG_PATH=str(work / "catalog.yml"), SEGMENTS_PER_JOB=str(args.segments),
                   REPLICATION_LAG_SECONDS="0", WEBHOOK_URLS="", AWS_REGION="us-east-1", AWS_DEFAULT_REGION="us-east-1",
                   AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", POWERTOOLS_LOG_LEVEL="WARNING")
        env.pop("AWS_ENDPOINT_URL", None)
        from chalicelib.db.migrate import migrate

        migrate(env["DATABASE_URL"], log=lambda *_: None)

        results = []
        for n in sizes:
            manifest = work / f"manifest-{n}.json"
            t0 = time.perf_counter()
            load = subprocess.run([sys.executable, "-m", "chalicelib.demo", "load", "--rows", str(n), "--tables", "users",
                                   "--drift-missing-pg", str(args.drift), "--drift-missing-cass", str(args.drift),
                                   "--drift-mismatch", str(args.drift), "--seed", "7", "--batch-rows", "50",
                                   "--manifest", str(manifest)], env=env, cwd=ROOT, capture_output=True, text=True)
            if load.returncode != 0:
                raise SystemExit(load.stderr[-3000:])
            load_s = time.perf_counter() - t0
            expected = {e["key"]["user_id"]: e["type"] for e in json.loads(manifest.read_text())["drift"]}
            scan = run_child(env, "scan", str(args.segments))
            checksum = run_child(env, "job", "CHECKSUM")
            rowcount = run_child(env, "job", "ROW_COUNT")
            parallel = run_child(env, "parallel", "CHECKSUM", str(args.workers))
            exact = checksum["found"] == expected
            extra = len(set(checksum["found"]) - set(expected))
            missed = len(set(expected) - set(checksum["found"]))
            results.append((n, load_s, scan, checksum, rowcount, exact and parallel["mismatches"] == len(expected),
                            extra, missed, len(expected), parallel))

        print()
        print(f"{'rows':>9} | {'load s':>7} | {'raw scan s':>10} | {'CHECKSUM s':>10} | {'ratio':>5} | {'rows/s (both sides)':>19} |"
              f" {'worker peak RSS':>15} | {'ROW_COUNT s':>11} | mismatches found / injected")
        for n, load_s, scan, ck, rc, exact, extra, missed, injected, par in results:
            both = ck["cassandra_rows"] + ck["postgres_rows"]
            print(f"{n:>9,} | {load_s:7.1f} | {scan['seconds']:10.2f} | {ck['seconds']:10.2f} | {ck['seconds'] / scan['seconds']:5.2f} |"
                  f" {both / ck['seconds']:19,.0f} | {ck['peak_rss_mb']:12.0f} MB | {rc['seconds']:11.2f} |"
                  f" {len(ck['found'])} / {injected}{'' if exact else f'  (MISMATCH: {extra} extra, {missed} missed)'}")
            print(f"{'':>9}   raw scan: Cassandra reader {scan['cassandra_s']:.2f} s ({scan['cassandra_rows']:,} rows),"
                  f" PostgreSQL COPY {scan['postgres_s']:.2f} s ({scan['postgres_rows']:,} rows); status {ck['status']}")
            print(f"{'':>9}   CHECKSUM with {par['workers']} concurrent workers: {par['seconds']:.2f} s"
                  f" (ratio {par['seconds'] / scan['seconds']:.2f}), peak RSS per worker {par['worker_peak_rss_mb']:.0f} MB,"
                  f" {par['mismatches']} mismatches, status {par['status']}")
        return 0 if all(r[5] for r in results) else 1
    finally:
        for stop in reversed(stops):
            try:
                stop()
            except Exception:
                pass


if __name__ == "__main__":
    sys.exit(main())
