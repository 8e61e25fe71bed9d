"""Matching engine benchmark: generated source/target files with a known truth.

    python bench/bench_matching.py                       # 1,000,000 and 100,000 rows
    python bench/bench_matching.py --rows 100000 --threads 2 --memory-limit 2GB --repeat 3

For each size, in one run (each measurement in its own child process, peak RSS of that child):
  * baseline: a bare DuckDB hash join of the two CSV files on the reference, written to CSV
    (read both files, join, write; same thread count as the engine; no ordering, no explanations);
  * the engine with one exact pass (the same reference equality);
  * the engine with the four-pass rule set of the streams platform contract §3.
Each measurement is repeated (``--repeat``, default 3) and the median wall and CPU times are
reported (the largest peak RSS). The repetitions are interleaved (baseline, exact, four
passes, baseline, ...), so a slower moment of the machine weighs on the baseline and the engine
alike. Each line: time, ratio to the baseline, peak RSS, and the matched/unmatched counts checked
against the generator's truth. The last line is
``ratio_exact=<x> ratio_four_pass=<y> correct=<true|false>`` (figures of the largest size).

Generated rows per 100 source rows: 80 exact, 5 off by a cent and settled 2 days later, 4 with an
unknown reference and a typo in the payer name, 3 payouts (one source row = SUM of 2–4 target rows),
1 payout whose parts sum 0.10 too much, 7 with no counterpart; plus 2 target rows per 100 with no
counterpart.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# the four-pass rule set of the streams platform contract §3, as POST /rule-sets takes it
FOUR_PASS = json.loads((ROOT / "docs" / "examples" / "rule-set-four-pass.json").read_text())

EXACT = {"name": "Exact reference", "sourceKey": "order_id", "targetKey": "txn_id",
         "passes": [{"name": "Reference", "cardinality": "ONE_TO_ONE",
                     "conditions": [{"source": "order_id", "target": "order_ref", "operator": "EQUALS"}]}]}


def generate(n: int, directory: str) -> dict:
    """Write source.csv and target.csv; return the truth (expected counts)."""
    import duckdb
    con = duckdb.connect(config={"threads": 2})
    src, tgt = os.path.join(directory, "source.csv"), os.path.join(directory, "target.csv")
    con.execute(f"""CREATE TABLE s AS
        SELECT i, i % 100 AS cat,
               'ORD-' || lpad(CAST(i AS VARCHAR), 8, '0') AS order_id,
               CAST((i + 1) * 100 + 10 + hash(i) % 80 AS BIGINT) AS cents,
               DATE '2025-01-01' + CAST(hash(i * 7) % 365 AS INTEGER) AS order_date,
               (['Alice','Bruno','Chiara','Dmitri','Elena','Farid','Greta','Hiroshi','Ingrid','Jamal',
                 'Katarina','Lorenzo','Mariam','Nikolai','Olivia','Pedro','Quentin','Rosalind'])[CAST(1 + hash(i * 3) % 18 AS BIGINT)]
               || ' ' ||
               (['Anderson','Baptiste','Castellano','Dubois','Eriksson','Fitzgerald','Gonzalez','Hoffmann',
                 'Ivanova','Johansson','Kowalski','Lindqvist','Montgomery','Nakamura','Oyelaran'])[CAST(1 + hash(i * 5) % 15 AS BIGINT)]
               AS customer
        FROM range({n}) r(i)""")
    # payouts: the source row carries the payout reference
    con.execute("""CREATE TABLE src AS SELECT order_id,
               printf('%d.%02d', cents // 100, cents % 100) AS amount, order_date, customer,
               CASE WHEN cat BETWEEN 89 AND 92 THEN 'P-' || i END AS payout_ref, i, cat, cents
        FROM s""")
    con.execute("""CREATE TABLE tgt AS
        SELECT 'T-' || i AS txn_id, order_id AS order_ref, printf('%d.%02d', cents // 100, cents % 100) AS gross,
               order_date + CAST(hash(i * 11) % 2 AS INTEGER) AS settled_on, customer AS payer,
               NULL AS payout_id FROM src WHERE cat < 80
        UNION ALL
        SELECT 'T-' || i, order_id, printf('%d.%02d', (cents + CASE WHEN i % 2 = 0 THEN 1 ELSE -1 END) // 100,
               (cents + CASE WHEN i % 2 = 0 THEN 1 ELSE -1 END) % 100),
               order_date + 2, customer, NULL FROM src WHERE cat BETWEEN 80 AND 84
        UNION ALL
        SELECT 'T-' || i, 'BANK-' || i, printf('%d.%02d', cents // 100, cents % 100), order_date,
               substr(customer, 1, 4) || 'x' || substr(customer, 6), NULL FROM src WHERE cat BETWEEN 85 AND 88
        UNION ALL
        SELECT 'T-' || i || '-' || j, NULL,
               printf('%d.%02d', part // 100, part % 100), order_date, NULL, 'P-' || i
        FROM (SELECT i, order_date, j,
                     CASE WHEN j < k THEN cents // k
                          ELSE cents - (k - 1) * (cents // k) + CASE WHEN cat = 92 THEN 10 ELSE 0 END END AS part
              FROM (SELECT *, 2 + i % 3 AS k FROM src WHERE cat BETWEEN 89 AND 92) p,
                   LATERAL (SELECT unnest(range(1, k + 1)) AS j))
        UNION ALL
        SELECT 'U-' || j, 'ZZ-' || j, printf('%d.%02d', 5000000000 + j, 0 ), DATE '2025-06-01', 'Zed Unknown', NULL
        FROM range({m}) r(j)""".replace("{m}", str(n * 2 // 100)))
    con.execute(f"COPY (SELECT order_id, amount, order_date, customer, payout_ref FROM src ORDER BY hash(i)) "
                f"TO '{src}' (HEADER)")
    con.execute(f"COPY (SELECT * FROM tgt ORDER BY hash(txn_id)) TO '{tgt}' (HEADER)")
    cats = dict(con.execute("SELECT CASE WHEN cat < 80 THEN 'exact' WHEN cat < 85 THEN 'cent' "
                            "WHEN cat < 89 THEN 'typo' WHEN cat < 92 THEN 'payout' WHEN cat = 92 THEN 'payout_off' "
                            "ELSE 'none' END, count(*) FROM src GROUP BY 1").fetchall())
    payout_parts = con.execute("SELECT count(*) FROM tgt t JOIN src s ON t.payout_id = 'P-' || s.i "
                               "WHERE s.cat BETWEEN 89 AND 91").fetchone()[0]
    off_parts = con.execute("SELECT count(*) FROM tgt t JOIN src s ON t.payout_id = 'P-' || s.i "
                            "WHERE s.cat = 92").fetchone()[0]
    target_rows = con.execute("SELECT count(*) FROM tgt").fetchone()[0]
    con.close()
    c = {k: cats.get(k, 0) for k in ("exact", "cent", "typo", "payout", "payout_off", "none")}
    exact_matched = c["exact"] + c["cent"]
    four_s = c["exact"] + c["cent"] + c["typo"] + c["payout"]
    four_t = c["exact"] + c["cent"] + c["typo"] + payout_parts
    return {"source_rows": n, "target_rows": target_rows, "off_parts": off_parts,
            "exact": {"matched_source_rows": exact_matched, "matched_target_rows": exact_matched,
                      "unmatched_source_rows": n - exact_matched, "unmatched_target_rows": target_rows - exact_matched},
            "four": {"matched_source_rows": four_s, "matched_target_rows": four_t,
                     "unmatched_source_rows": n - four_s, "unmatched_target_rows": target_rows - four_t,
                     "per_pass_sources": [c["exact"], c["cent"], c["typo"], c["payout"]]}}


# ---------------------------------------------------------------------------------------------
# child processes


def child(args) -> None:
    import duckdb
    out = args.out
    os.makedirs(out, exist_ok=True)
    from chalicelib.matching import EngineLimits, RuleSet, run_match   # imports are not timed
    t0, c0 = time.perf_counter(), time.process_time()
    if args.child == "baseline":
        con = duckdb.connect(config={"threads": args.threads, "memory_limit": args.memory_limit})
        n = con.execute(f"""COPY (SELECT * FROM read_csv('{args.src}') s JOIN read_csv('{args.tgt}') t
                            ON s.order_id = t.order_ref) TO '{out}/joined.csv' (HEADER)""").fetchone()[0]
        res = {"matched": n}
    else:
        rs = RuleSet.model_validate(EXACT if args.child == "exact" else FOUR_PASS)
        r = run_match(args.src, args.tgt, rs, out, limits=EngineLimits(
            memory_limit=args.memory_limit, threads=args.threads, temp_dir=os.path.join(out, "spill")))
        res = {k: getattr(r, k) for k in ("matched_source_rows", "matched_target_rows",
                                          "unmatched_source_rows", "unmatched_target_rows")}
        res["per_pass_sources"] = [p["sourceRows"] for p in r.summary["passes"]]
    res["seconds"] = time.perf_counter() - t0
    res["cpu_seconds"] = time.process_time() - c0      # all threads of the process
    res["peak_rss_mb"] = own_peak_rss_mb()
    print(json.dumps(res))


def own_peak_rss_mb() -> float:
    """This process's peak resident memory since it started its program. Not ``ru_maxrss``: on
    Linux a child's starts at its parent's resident size when it was forked (here the parent has
    generated the data with DuckDB: gigabytes at 5M rows), whatever the child uses itself."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def summarize(kind: str, runs: list[dict]) -> dict:
    """The repetitions of ``kind`` (each in a fresh process): median wall and CPU, largest RSS."""
    res = dict(runs[0])
    for k in ("seconds", "cpu_seconds"):
        res[k] = statistics.median(r[k] for r in runs)
    res["peak_rss_mb"] = max(r["peak_rss_mb"] for r in runs)
    for r in runs[1:]:      # the same inputs must give the same counts every time
        for k, v in r.items():
            if k not in ("seconds", "cpu_seconds", "peak_rss_mb") and v != res[k]:
                raise SystemExit(f"{kind}: {k} differs between repetitions ({v} != {res[k]})")
    return res


def _measure_once(kind: str, src: str, tgt: str, out: str, threads: int, memory_limit: str) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    p = subprocess.Popen([sys.executable, __file__, "--child", kind, "--src", src, "--tgt", tgt,
                          "--out", out, "--threads", str(threads), "--memory-limit", memory_limit],
                         stdout=subprocess.PIPE, cwd=str(ROOT))
    stdout = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise SystemExit(f"{kind} child failed ({p.returncode})")
    res = json.loads(stdout.decode().strip().splitlines()[-1])
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, action="append")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--memory-limit", default="2GB")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--child")
    ap.add_argument("--src")
    ap.add_argument("--tgt")
    ap.add_argument("--out")
    args = ap.parse_args()
    if args.child:
        return child(args)
    sizes = args.rows or [100_000, 1_000_000]
    last = None
    all_ok = True
    for n in sorted(sizes):
        with tempfile.TemporaryDirectory(prefix="bench-matching-") as d:
            t0 = time.perf_counter()
            truth = generate(n, d)
            src, tgt = os.path.join(d, "source.csv"), os.path.join(d, "target.csv")
            mb = (os.path.getsize(src) + os.path.getsize(tgt)) / 1e6
            print(f"== {n:,} source rows, {truth['target_rows']:,} target rows, {mb:.0f} MB of CSV "
                  f"(generated in {time.perf_counter() - t0:.1f}s); threads={args.threads}, "
                  f"memory_limit={args.memory_limit}; median of {args.repeat}")
            # the repetitions are interleaved (baseline, exact, four, baseline, ...) so that each
            # measurement meets the machine in the same state as the baseline it is divided by
            runs = {k: [] for k in ("baseline", "exact", "four")}
            for _ in range(max(1, args.repeat)):
                for kind in runs:
                    runs[kind].append(_measure_once(kind, src, tgt, os.path.join(d, kind), args.threads,
                                                    args.memory_limit))
            base = summarize("baseline", runs["baseline"])
            print(f"{'baseline (hash join on the reference → CSV)':45s} {base['seconds']:7.2f}s  1.00x  "
                  f"cpu {base['cpu_seconds']:6.2f}s  1.00x  rss {base['peak_rss_mb']:6.0f} MB  "
                  f"joined {base['matched']:,}")
            ratios, cpu_ratios = {}, {}
            for kind in ("exact", "four"):
                r = summarize(kind, runs[kind])
                want = truth[kind]
                ok = all(r[k] == want[k] for k in ("matched_source_rows", "matched_target_rows",
                                                   "unmatched_source_rows", "unmatched_target_rows"))
                if kind == "four":
                    ok = ok and r["per_pass_sources"] == want["per_pass_sources"]
                all_ok = all_ok and ok
                ratios[kind] = r["seconds"] / base["seconds"]
                cpu_ratios[kind] = r["cpu_seconds"] / base["cpu_seconds"]
                label = "engine, one exact pass " if kind == "exact" else "engine, four passes (§3)"
                print(f"{label:45s} {r['seconds']:7.2f}s {ratios[kind]:5.2f}x  cpu {r['cpu_seconds']:6.2f}s "
                      f"{r['cpu_seconds'] / base['cpu_seconds']:5.2f}x  rss {r['peak_rss_mb']:6.0f} MB  "
                      f"matched {r['matched_source_rows']:,}/{r['matched_target_rows']:,} "
                      f"unmatched {r['unmatched_source_rows']:,}/{r['unmatched_target_rows']:,} "
                      f"{'= truth' if ok else '!= truth ' + json.dumps(want)}"
                      + (f" per pass {r['per_pass_sources']}" if kind == "four" else ""))
            last = ratios
            print(f"cpu_ratio_exact={cpu_ratios['exact']:.2f} cpu_ratio_four_pass={cpu_ratios['four']:.2f}")
    print(f"ratio_exact={last['exact']:.2f} ratio_four_pass={last['four']:.2f} correct={'true' if all_ok else 'false'}")


if __name__ == "__main__":
    main()
