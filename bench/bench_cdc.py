"""CDC reconciliation benchmark: a CHECKSUM job against a fair raw read of both sides.

    python bench/bench_cdc.py --rows 1000000 --rows 100000 --workers 1 --workers 2

For each table size and drift level (light: 100 rows of each mismatch type; heavy: 10 % of the
rows differ, a third of each type), in one run:
  * baseline, with P processes: the raw cassandra-driver over the 16 token ranges (prepared
    `SELECT token(pk), columns ... WHERE token(pk) > ? AND token(pk) <= ?`, rows decoded, paged)
    and a binary COPY of the PostgreSQL table over the same ranges (psycopg, rows decoded),
    both run concurrently (one thread each) in each process; the ranges are shared out among the
    P processes. It includes connecting and reading every row of both sides; it leaves out any
    comparison, canonical form, result recording and the control plane.
  * a CHECKSUM job with P worker processes, end to end: from the trigger (`create_jobs`, what
    `POST /reconciliation/trigger` does) through planning, every segment, the live-CDC
    classification (REPLICATION_LAG_SECONDS and RECHECK_GRACE_SECONDS at their defaults; the demo
    data is generated 10 minutes in the past, so no row is inside the lag window) and the
    finalisation, until the job reads COMPLETED. Worker processes are started and warmed (imports,
    sessions) before the clock starts, for the baseline alike: Lambdas that already ran.
  * with --compare-decoded, the same job with CHECKSUM_WIRE_COMPARISON=0 (every row decoded and
    canonicalized: the engine before the wire comparison).
Prints time, ratio to the baseline of the same P, worker peak RSS, and checks that exactly the
injected differences were reported. Uses DATABASE_URL / CASSANDRA_HOSTS when set (a running stack),
otherwise starts a private PostgreSQL and a CQL dev server of its own. SQS is in-process (moto) in
each worker: queue latency is not measured.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
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
SEGMENTS = 16
QUEUES = ["recon-jobs", "recon-segments", "recon-alerts"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ------------------------------------------------------------------------------ worker processes
_mock = None


def _warm(_: int) -> float:
    """Imports and sessions, as in a Lambda that already ran; the in-process SQS (moto) is set
    up here too, so that its start-up (not a cost of the product) stays out of the measurement."""
    global _mock
    from moto import mock_aws

    from chalicelib import aws
    from chalicelib.cassandra.session import get_session
    from chalicelib.cdc.catalog import get_catalog
    from chalicelib.db.pool import transaction
    from chalicelib.workers import cdc

    get_session()
    cdc.context_for(get_catalog().get("users")).wire()  # the table context a worker keeps
    if _mock is None:
        _mock = mock_aws()
        _mock.start()
        for q in QUEUES:
            aws.client("sqs").create_queue(QueueName=q)
    with transaction() as conn:
        conn.execute("SELECT 1")
    time.sleep(1)  # so that every process of the pool takes one warm-up task
    return peak_rss_mb()


def _baseline_part(args: tuple[int, int]) -> dict:
    """This process's share of the 16 ranges: raw driver and binary COPY, concurrently."""
    k, procs = args
    import psycopg

    from chalicelib.cassandra.session import get_session
    from chalicelib.cassandra.tokens import split_ring

    ranges = [r for i, r in enumerate(split_ring(SEGMENTS)) if i % procs == k]
    out: dict = {}

    def cassandra() -> None:
        session = get_session()
        stmt = session.prepare(f"SELECT token(user_id), {', '.join(COLUMNS)} FROM demo.users"
                               " WHERE token(user_id) > ? AND token(user_id) <= ?")
        n = 0
        for r in ranges:
            for _ in session.execute(stmt, (r.start, r.end)):
                n += 1
        out["cassandra_rows"] = n

    def postgres() -> None:
        n = 0
        with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
            with conn.cursor() as cur:
                for r in ranges:
                    with cur.copy(f"COPY (SELECT recon_token, {', '.join(COLUMNS)} FROM public.users"
                                  f" WHERE recon_token > {r.start} AND recon_token <= {r.end}) TO STDOUT (FORMAT BINARY)") as cp:
                        cp.set_types(["int8", "text", "text", "varchar", "int4", "numeric", "text[]", "timestamptz"])
                        for _ in cp.rows():
                            n += 1
        out["postgres_rows"] = n

    threads = [threading.Thread(target=cassandra), threading.Thread(target=postgres)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def _worker_loop(_: int) -> float:
    """One worker (a Lambda): take segments until none is left, then handle what it was sent
    (the job's finalisation, when this worker completed the last segment)."""
    from chalicelib import aws
    from chalicelib.cdc import jobs
    from chalicelib.workers import cdc as worker

    while (seg := jobs.claim_next_segment()) is not None:
        worker.run_segment(seg)
    sqs = aws.client("sqs")
    while msgs := sqs.receive_message(QueueUrl=aws.queue_url("recon-segments"), MaxNumberOfMessages=10).get("Messages", []):
        for m in msgs:
            if json.loads(m["Body"])["kind"] == "finalize":
                worker.handle_segment_message(m["Body"])
            sqs.delete_message(QueueUrl=aws.queue_url("recon-segments"), ReceiptHandle=m["ReceiptHandle"])
    return peak_rss_mb()


def _pool(procs: int, env_extra: dict[str, str] | None = None):
    os.environ.update(env_extra or {})
    pool = mp.get_context("spawn").Pool(procs)
    for k in (env_extra or {}):
        os.environ.pop(k, None)
    pool.map(_warm, range(procs), chunksize=1)
    return pool


def run_baseline(procs: int) -> dict:
    with _pool(procs) as pool:
        t0 = time.perf_counter()
        parts = pool.map(_baseline_part, [(k, procs) for k in range(procs)], chunksize=1)
        seconds = time.perf_counter() - t0
    return {"seconds": seconds, "cassandra_rows": sum(p["cassandra_rows"] for p in parts),
            "postgres_rows": sum(p["postgres_rows"] for p in parts), "peak_rss_mb": max(p["peak_rss_mb"] for p in parts)}


def run_job(procs: int, decoded: bool = False) -> dict:
    from moto import mock_aws

    from chalicelib import aws
    from chalicelib.cdc import jobs
    from chalicelib.db.pool import transaction
    from chalicelib.workers import cdc as worker

    with transaction() as conn:  # earlier bench runs' findings would be re-checked by this job's finalisation
        conn.execute("DELETE FROM recon.jobs WHERE requested_by = 'bench'")
    with _pool(procs, {"CHECKSUM_WIRE_COMPARISON": "0"} if decoded else None) as pool:
        with mock_aws():
            for q in QUEUES:
                aws.client("sqs").create_queue(QueueName=q)
            t0 = time.perf_counter()
            job_id = jobs.create_jobs(["users"], "CHECKSUM", "HIGH", "MANUAL_ONDEMAND", "bench")[0]["job_id"]
            worker.handle_job_message(json.dumps({"kind": "job"}))
        pending = pool.map_async(_worker_loop, range(procs), chunksize=1)
        deadline = time.monotonic() + 3600
        while True:
            with transaction() as conn:
                job = conn.execute("SELECT status FROM recon.jobs WHERE job_id = %s", (job_id,)).fetchone()
            if job["status"] in ("COMPLETED", "FAILED") or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        seconds = time.perf_counter() - t0
        rss = pending.get(timeout=600)
    with transaction() as conn:
        job = conn.execute("SELECT * FROM recon.jobs WHERE job_id = %s", (job_id,)).fetchone()
        found = conn.execute("SELECT primary_key_value, mismatch_type FROM recon.mismatches WHERE job_id = %s",
                             (job_id,)).fetchall()
    return {"seconds": seconds, "status": job["status"], "errors": job["validation_errors"],
            "cassandra_rows": job["cassandra_row_count"], "postgres_rows": job["postgres_row_count"],
            "found": {r["primary_key_value"]: r["mismatch_type"] for r in found}, "worker_peak_rss_mb": max(rss)}


# ------------------------------------------------------------------------------------ orchestration
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, action="append", help="table size(s); default 1000000 and 100000")
    ap.add_argument("--workers", type=int, action="append", help="worker / baseline processes; default 1 and 2")
    ap.add_argument("--drift", choices=["light", "heavy", "both"], default="both")
    ap.add_argument("--light", type=int, default=100, help="light drift: rows of each mismatch type")
    ap.add_argument("--repeat", type=int, default=1, help="measurements of each configuration (best is kept)")
    ap.add_argument("--compare-decoded", action="store_true", help="also run the job with every row decoded")
    ap.add_argument("--reuse", metavar="MANIFEST", help="skip loading: the data loaded with this manifest is in place"
                    " (one size, one drift level)")
    args = ap.parse_args()
    sizes = args.rows or [1_000_000, 100_000]
    procs_list = args.workers or [1, 2]
    drifts = ["light", "heavy"] if args.drift == "both" else [args.drift]

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
        env.update(CATALOG_PATH=str(work / "catalog.yml"), SEGMENTS_PER_JOB=str(SEGMENTS), WEBHOOK_URLS="",
                   AWS_REGION="us-east-1", AWS_DEFAULT_REGION="us-east-1", AWS_ACCESS_KEY_ID="bench",
                   AWS_SECRET_ACCESS_KEY="bench", POWERTOOLS_LOG_LEVEL="WARNING")
        for k in ("AWS_ENDPOINT_URL", "REPLICATION_LAG_SECONDS", "RECHECK_GRACE_SECONDS", "CHECKSUM_WIRE_COMPARISON"):
            env.pop(k, None)
        os.environ.clear()
        os.environ.update(env)
        from chalicelib.config import reset_settings
        from chalicelib.db.migrate import migrate

        reset_settings()
        migrate(env["DATABASE_URL"], log=lambda *_: None)

        lines = []
        ok = True
        for n in sizes:
            for drift in drifts:
                per_type = args.light if drift == "light" else n // 30
                manifest = work / f"manifest-{n}-{drift}.json"
                now = (datetime.now(timezone.utc) - timedelta(minutes=10)).replace(tzinfo=None).isoformat(timespec="seconds")
                t0 = time.perf_counter()
                if args.reuse:
                    manifest = Path(args.reuse)
                load = None if args.reuse else subprocess.run([sys.executable, "-m", "chalicelib.demo", "load", "--rows", str(n), "--tables", "users",
                                       "--drift-missing-pg", str(per_type), "--drift-missing-cass", str(per_type),
                                       "--drift-mismatch", str(per_type), "--seed", "7", "--batch-rows", "50", "--now", now,
                                       "--manifest", str(manifest)], env=env, cwd=ROOT, capture_output=True, text=True)
                if load is not None and load.returncode != 0:
                    raise SystemExit(load.stderr[-3000:])
                print(f"loaded {n:,} rows, {drift} drift ({3 * per_type:,} differences) in {time.perf_counter() - t0:.0f} s",
                      flush=True)
                with __import__("psycopg").connect(env["DATABASE_URL"], autocommit=True) as c:
                    c.execute("VACUUM ANALYZE public.users")
                expected = {e["key"]["user_id"]: e["type"] for e in json.loads(manifest.read_text())["drift"]}
                for procs in procs_list:
                    base = job = dec = None
                    for _ in range(args.repeat):
                        b = run_baseline(procs)
                        base = b if base is None or b["seconds"] < base["seconds"] else base
                        j = run_job(procs)
                        job = j if job is None or j["seconds"] < job["seconds"] else job
                        if args.compare_decoded:
                            d = run_job(procs, decoded=True)
                            dec = d if dec is None or d["seconds"] < dec["seconds"] else dec
                    exact = job["found"] == expected and job["status"] == "COMPLETED"
                    ok &= exact and (dec is None or dec["found"] == expected)
                    line = (f"{n:>9,} | {drift:5} | {3 * per_type:>7,} | {procs} | {base['seconds']:8.2f} | {job['seconds']:8.2f} |"
                            f" {job['seconds'] / base['seconds']:5.2f} |"
                            + (f" {dec['seconds']:8.2f} | {dec['seconds'] / base['seconds']:5.2f} |" if dec else "")
                            + f" {job['worker_peak_rss_mb']:6.0f} MB | {base['peak_rss_mb']:6.0f} MB |"
                            f" {len(job['found']):,} / {len(expected):,}{'' if exact else '  MISMATCH ' + job['status']}")
                    print(line, flush=True)
                    lines.append(line)
        print()
        print("     rows | drift | differ. | P | baseline | CHECKSUM | ratio |"
              + (" decoded  | ratio |" if args.compare_decoded else "") + " worker RSS | baseline RSS | found / injected")
        for line in lines:
            print(line)
        return 0 if ok else 1
    finally:
        for stop in reversed(stops):
            try:
                stop()
            except Exception:
                pass


if __name__ == "__main__":
    sys.exit(main())
