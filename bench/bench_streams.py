"""Stream runs benchmark: what the orchestration adds to the matching engine.

    STACK_DIR=.local python bench/bench_streams.py [--rows 1000000]      # against a running stack

In one run, on the same generated inputs:
  * baseline: the matching engine alone, in this process, step 1 then step 2 on step 1's unmatched
    source output (the same EngineLimits the step worker uses: STREAM_ENGINE_MEMORY / _THREADS),
    measured before and after the stack run (a shared machine moves it by tens of percent between
    runs); the ratio is against the mean of the two, and the overhead is the difference in seconds;
  * the stack: a two-step stream created through the API (files uploaded through upload sessions),
    wall time from `POST /streams/{id}/runs` to COMPLETED (Step Functions in LocalStack, SQS, the local
    Lambda runner, S3 down/uploads, artifact registration, exception loading), and the time from the
    POST to the first step IN_PROGRESS: the instants the control plane recorded (run startedAt /
    completedAt; with DATABASE_URL set, else as seen by polling the API every POLL_SECONDS);
  * CPU: seconds of CPU the engine alone used (this process), and each part of the stack (runner,
    PostgreSQL, LocalStack, API: the process trees of STACK_DIR/pids) and the rest of the machine used
    from the POST to COMPLETED, also per phase of each attempt (Linux /proc). The machine is shared: the
    "other" column says how much of the wall time someone else's work explains.
The baseline leaves out what the engine alone never does: reading the inputs from S3, registering
artifacts (sha256, uploads), loading exceptions, the state machine's transitions and the control plane;
it includes the engine's own reading of the CSV inputs and writing of its three outputs.
Counts of both are checked against each other and the generator's truth. Last line:
``ratio_end_to_end=<x> overhead_s=<s> first_step_in_progress_s=<y> correct=<true|false>``.

Inputs (rows = N): step 1 is N x N — orders N, marketplace N (90 % of the orders, 10 % strays); step 2
takes the 10 % of orders left (N/10) against gateway captures (N/10: 8 % of the orders, 2 % strays).
Exceptions (unmatched rows no later step consumes) are loaded into PostgreSQL as part of the run.
"""
from __future__ import annotations

import argparse
import csv
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def rule_set(ref: str, amount: str) -> dict:
    return {"name": f"bench {ref}", "sourceKey": "order_id", "targetKey": "txn_id",
            "passes": [{"name": "Reference and amount", "cardinality": "ONE_TO_ONE",
                        "conditions": [{"source": "order_id", "target": ref, "operator": "EQUALS"},
                                       {"source": "amount", "target": amount, "operator": "AMOUNT_TOLERANCE",
                                        "absolute": 0.01}]}]}


def generate(n: int, out: Path, seed: int = 5) -> dict:
    rng = random.Random(seed)
    amounts = [rng.randint(100, 99999) for _ in range(n)]
    first = int(n * 0.9)
    second = int(n * 0.08)
    gateway_rows = n // 10
    with open(out / "orders.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["order_id", "amount", "order_date"])
        for i in range(n):
            w.writerow([f"O{i:08d}", f"{amounts[i] / 100:.2f}", "2026-02-01"])
    with open(out / "market.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["txn_id", "order_ref", "gross"])
        for i in range(first):
            w.writerow([f"M{i:08d}", f"O{i:08d}", f"{amounts[i] / 100:.2f}"])
        for j in range(n - first):
            w.writerow([f"MX{j:08d}", f"Z{j:08d}", "1.00"])
    with open(out / "gateway.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["txn_id", "merchant_ref", "amount"])
        for i in range(first, first + second):
            w.writerow([f"G{i:08d}", f"O{i:08d}", f"{amounts[i] / 100:.2f}"])
        for j in range(gateway_rows - second):
            w.writerow([f"GX{j:08d}", f"Y{j:08d}", "1.00"])
    return {1: {"matched": first, "unmatchedSource": n - first, "unmatchedTarget": n - first},
            2: {"matched": second, "unmatchedSource": n - first - second, "unmatchedTarget": gateway_rows - second}}


def process_cpu() -> float:
    """CPU seconds (user + system) of this process so far (the engine's DuckDB threads run in it)."""
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


STACK_PARTS = ("runner", "postgres", "localstack", "api")


def stack_cpu(stack_dir: Path) -> dict[str, float]:
    """CPU seconds used so far by each part of the local stack (its PID file's process and every
    descendant, plus the children it has reaped, e.g. PostgreSQL backends that exited). Linux /proc only;
    {} elsewhere."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    procs = {}
    for d in Path("/proc").glob("[0-9]*"):
        try:
            fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # after the command: state ppid ... utime(12) stime(13) cutime(14) cstime(15), 1-based from state = 1
        procs[int(d.name)] = (int(fields[1]), sum(int(x) for x in fields[11:15]))
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    out = {}
    for part in STACK_PARTS:
        try:
            root = int((stack_dir / "pids" / f"{part}.pid").read_text().strip())
        except (OSError, ValueError):
            continue
        total, todo = 0, [root]
        while todo:
            pid = todo.pop()
            if pid in procs:
                total += procs[pid][1]
                todo.extend(children.get(pid, []))
        out[part] = total / tick
    return out


def machine_busy() -> float:
    """CPU seconds the whole machine has been busy (every process: /proc/stat), 0.0 where unknown."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0.0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)   # idle + iowait
    return (sum(fields[:8]) - idle) / (os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100)


class CpuSampler:
    """Samples the stack's parts and the whole machine every `every` seconds while a run goes, so that the
    CPU each part used can be told per phase of the run (and what else the machine was doing)."""

    def __init__(self, stack_dir: Path, every: float = 0.25):
        import threading

        self.stack_dir, self.every, self.samples = stack_dir, every, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _sample(self) -> None:
        parts = stack_cpu(self.stack_dir)
        parts["machine"] = machine_busy()
        parts["bench"] = process_cpu()
        self.samples.append((time.time(), parts))

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self._sample()

    def __enter__(self):
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._sample()

    def between(self, t0: float, t1: float) -> dict[str, float]:
        """CPU seconds per part between the samples nearest to t0 and t1 (epoch seconds); 'other' is the
        machine's busy time that is neither the stack nor this process."""
        if len(self.samples) < 2:
            return {}
        a = min(self.samples, key=lambda s: abs(s[0] - t0))[1]
        b = min(self.samples, key=lambda s: abs(s[0] - t1))[1]
        out = {k: b[k] - a.get(k, 0.0) for k in b}
        out["other"] = out.pop("machine") - sum(v for k, v in out.items() if k != "machine")
        return out


def engine_alone(work: Path, tag: str = "", times: dict | None = None) -> tuple[float, dict]:
    from chalicelib.matching import EngineLimits, RuleSet, run_match

    limits = lambda d: EngineLimits(memory_limit=os.environ.get("STREAM_ENGINE_MEMORY", "1GB"),  # noqa: E731
                                    threads=int(os.environ.get("STREAM_ENGINE_THREADS", "2")), temp_dir=str(d))
    t0, cpu0 = time.perf_counter(), process_cpu()
    (work / f"e1{tag}").mkdir()
    r1 = run_match(str(work / "orders.csv"), str(work / "market.csv"),
                   RuleSet.model_validate(rule_set("order_ref", "gross")), str(work / f"e1{tag}"),
                   limits=limits(work / f"t1{tag}"))
    t1 = time.perf_counter()
    (work / f"e2{tag}").mkdir()
    r2 = run_match(r1.unmatched_source_path, str(work / "gateway.csv"),
                   RuleSet.model_validate(rule_set("merchant_ref", "amount")), str(work / f"e2{tag}"),
                   limits=limits(work / f"t2{tag}"))
    seconds = time.perf_counter() - t0
    if times is not None:
        times.update(step1=t1 - t0, step2=t0 + seconds - t1, cpu=process_cpu() - cpu0)
    counts = {1: {"matched": r1.matched_source_rows, "unmatchedSource": r1.unmatched_source_rows,
                  "unmatchedTarget": r1.unmatched_target_rows},
              2: {"matched": r2.matched_source_rows, "unmatchedSource": r2.unmatched_source_rows,
                  "unmatchedTarget": r2.unmatched_target_rows}}
    return seconds, counts


class Api:
    def __init__(self, url: str, key: str):
        self.url, self.s = url.rstrip("/"), requests.Session()
        self.s.headers["Authorization"] = f"Bearer {key}"

    def call(self, method: str, path: str, **kw):
        r = self.s.request(method, self.url + path, timeout=120, **kw)
        if r.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {r.status_code} {r.text[:400]}")
        return r.json()["data"]

    def upload(self, path: Path) -> int:
        sess = self.call("POST", "/files/uploads", json={"filename": path.name, "sizeBytes": path.stat().st_size})
        with open(path, "rb") as f:
            r = requests.put(sess["uploadUrl"], data=f, timeout=600)
        r.raise_for_status()
        self.call("POST", f"/files/{sess['fileId']}/complete")
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            f = self.call("GET", f"/files/{sess['fileId']}")
            if f["status"] in ("READY", "INVALID"):
                if f["status"] != "READY":
                    raise RuntimeError(f"{path.name}: {f['errorMessage']}")
                return f["id"]
            time.sleep(0.5)
        raise RuntimeError(f"{path.name} not READY in time")


def through_the_stack(api: Api, work: Path, cpu: dict | None = None) -> tuple[float, float, dict]:
    ids = {name: api.upload(work / f"{name}.csv") for name in ("orders", "market", "gateway")}
    rs1 = api.call("POST", "/rule-sets", json=rule_set("order_ref", "gross"))["id"]
    rs2 = api.call("POST", "/rule-sets", json=rule_set("merchant_ref", "amount"))["id"]
    stream = api.call("POST", "/streams", json={
        "name": f"bench {int(time.time())}", "domain": "BENCH", "triggerType": "MANUAL",
        "steps": [
            {"stepOrder": 1, "name": "orders vs market", "sourceInput": {"type": "FILE", "id": ids["orders"]},
             "targetInput": {"type": "FILE", "id": ids["market"]}, "ruleSetId": rs1,
             "config": {"continueOnFailure": False, "maxRetries": 0}},
            {"stepOrder": 2, "name": "rest vs gateway", "sourceInput": {"type": "STEP_OUTPUT_UNMATCHED_SOURCE", "id": 1},
             "targetInput": {"type": "FILE", "id": ids["gateway"]}, "ruleSetId": rs2,
             "config": {"continueOnFailure": False, "maxRetries": 0}}]})
    stack_dir = Path(os.environ.get("STACK_DIR", ROOT / ".local"))
    cpu_before = stack_cpu(stack_dir)
    sampler = CpuSampler(stack_dir).__enter__()
    t0, posted_at = time.perf_counter(), time.time()
    run = api.call("POST", f"/streams/{stream['id']}/runs", json={"triggerMetadata": {"reason": "bench"}})
    first_in_progress = None
    while True:
        if first_in_progress is None:   # the steps only until the first one is seen working
            steps = api.call("GET", f"/stream-runs/{run['runId']}/steps")
            if steps[0]["status"] != "PENDING":
                first_in_progress = time.perf_counter() - t0
        status = api.call("GET", f"/stream-runs/{run['runId']}")["status"]
        if status not in ("PENDING", "RUNNING"):
            break
        time.sleep(POLL_SECONDS)
    total = time.perf_counter() - t0
    sampler.__exit__(None, None, None)
    if cpu is not None:
        after = stack_cpu(stack_dir)
        cpu.update({k: after[k] - cpu_before.get(k, 0.0) for k in after})
    if status != "COMPLETED":
        raise RuntimeError(f"run {run['runId']} ended {status}")
    steps = api.call("GET", f"/stream-runs/{run['runId']}/steps")
    counts = {s["stepOrder"]: {"matched": s["matchedSourceRows"], "unmatchedSource": s["unmatchedSourceRows"],
                               "unmatchedTarget": s["unmatchedTargetRows"]} for s in steps}
    recorded = print_timeline(run["runId"], posted_at, sampler)
    if recorded is not None:
        # the instants the control plane recorded (same machine, same clock): exact, where polling the API
        # adds up to POLL_SECONDS
        print(f"  seen through the API: first step IN_PROGRESS {first_in_progress or total:.2f} s,"
              f" COMPLETED {total:.2f} s (polled every {POLL_SECONDS} s)")
        return recorded[1], recorded[0], counts
    return total, first_in_progress or total, counts


# The bench polls the API like a client would; faster polling costs the API's CPU on the same two cores as
# the run (every 50 ms: ~0.4 s of CPU per 1M run). The figures are the control plane's recorded instants.
POLL_SECONDS = 0.2


def print_timeline(run_id: int, posted_at: float, sampler: CpuSampler | None = None) -> tuple[float, float] | None:
    """Where the time went: each attempt's phase ends (kept in its summary by the step worker) and the run's
    own timestamps, in seconds after the POST (same machine, same clock). Needs DATABASE_URL. Returns the
    run's (started, completed) in seconds after the POST."""
    url = os.environ.get("DATABASE_URL")
    if not url:
        return None
    import psycopg

    with psycopg.connect(url) as c:
        run = c.execute("SELECT extract(epoch FROM started_at), extract(epoch FROM completed_at)"
                        " FROM recon.stream_runs WHERE run_id = %s", (run_id,)).fetchone()
        steps = c.execute("SELECT step_order, summary, extract(epoch FROM completed_at) FROM recon.stream_step_runs"
                          " WHERE run_id = %s ORDER BY step_order, attempt_no", (run_id,)).fetchall()
    at = lambda t: f"{float(t) - posted_at:6.2f}"  # noqa: E731
    print(f"timeline (s after POST): run started {at(run[0])}, COMPLETED {at(run[1])}")
    recorded = (float(run[0]) - posted_at, float(run[1]) - posted_at)
    for order, summary, completed in steps:
        summary = summary or {}
        marks = sorted((summary.get("timeline") or {}).items(), key=lambda kv: kv[1])
        print(f"  step {order}: " + ", ".join(f"{k} {at(v)}" for k, v in marks) + f", completed {at(completed)}"
              f"  | inputs {summary.get('inputsFrom')} timings {summary.get('timings')}")
        if sampler is not None and len(marks) > 1:
            # CPU seconds per part of the stack (and the rest of the machine) between this attempt's marks
            for (_, a), (k, b) in zip(marks, marks[1:]):
                used = sampler.between(float(a), float(b))
                if used:
                    print(f"    CPU up to {k:10s} ({float(b) - float(a):5.2f} s): " + ", ".join(
                        f"{part} {v:.2f}" for part, v in used.items()))
    return recorded


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    args = p.parse_args(argv)
    stack_dir = Path(os.environ.get("STACK_DIR", ROOT / ".local"))
    url = os.environ.get("API_URL")
    if not url:
        for line in (stack_dir / "env").read_text().splitlines():
            if line.startswith("API_URL="):
                url = line.split("=", 1)[1]
    api = Api(url, (stack_dir / "api-key").read_text().strip())
    with tempfile.TemporaryDirectory(prefix="bench-streams-") as tmp:
        work = Path(tmp)
        t = time.perf_counter()
        truth = generate(args.rows, work)
        print(f"generated {args.rows:,} x {args.rows:,} rows in {time.perf_counter() - t:.1f} s")
        t_before, t_after, cpu = {}, {}, {}
        before, base_counts = engine_alone(work, times=t_before)
        print(f"engine alone (2 steps):          {before:7.2f} s   (step 1 {t_before['step1']:.2f} s, step 2"
              f" {t_before['step2']:.2f} s; {t_before['cpu']:.2f} s CPU)")
        e2e, first, counts = through_the_stack(api, work, cpu)
        after, again = engine_alone(work, "-after", times=t_after)
        base = (before + after) / 2
        print(f"engine alone, after the stack:   {after:7.2f} s   (step 1 {t_after['step1']:.2f} s, step 2"
              f" {t_after['step2']:.2f} s; {t_after['cpu']:.2f} s CPU; mean {base:.2f} s)")
        print(f"POST -> COMPLETED through stack: {e2e:7.2f} s   ratio {e2e / base:.2f}, overhead {e2e - base:.2f} s")
        print(f"POST -> first step IN_PROGRESS:  {first:7.2f} s")
        if cpu:
            engine_cpu = (t_before["cpu"] + t_after["cpu"]) / 2
            print(f"CPU during the stack run:        {sum(cpu.values()):7.2f} s   ("
                  + ", ".join(f"{k} {v:.2f}" for k, v in cpu.items())
                  + f"; the engine alone {engine_cpu:.2f} s: CPU ratio {sum(cpu.values()) / engine_cpu:.2f})")
    correct = counts == base_counts == again == truth
    if not correct:
        print(f"counts differ: stack {counts} engine {base_counts} / {again} truth {truth}")
    print(f"ratio_end_to_end={e2e / base:.2f} overhead_s={e2e - base:.2f} first_step_in_progress_s={first:.2f}"
          f" correct={str(correct).lower()}")
    return 0 if correct else 1


if __name__ == "__main__":
    sys.exit(main())
