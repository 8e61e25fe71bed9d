"""The demo e-commerce settlement stream: OMS orders (a POSTGRES data source on a demo table) →
marketplace payouts → payment gateway → bank, with known unmatched rows at every step.

    python -m chalicelib.demo.streams_demo [--orders N] [--seed S] [--api URL --key-file PATH]

`generate(n, seed, out_dir)` writes the three settlement files and returns the orders and the truth
(per step: matched orders, unmatched orders carried on, unmatched target rows). Every order is paid
through exactly one channel — MARKETPLACE, GATEWAY (card) or BANK (transfer) — except the LOST ones
(never paid: exceptions of the last step). Known faults: some marketplace payouts differ by more
than a cent (the order goes on to later steps, the payout is an unmatched target row), and each
file has payouts for orders that do not exist.

`install(api)` loads the orders table, uploads the files, creates the rule sets, the data source and
the stream through the public API (idempotent: an existing demo stream is reused).
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import random
import sys
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

STREAM_NAME = "E-commerce settlement (demo)"
SCHEMA, TABLE = "streams_demo", "oms_orders"
CHANNELS = ("MARKETPLACE", "GATEWAY", "BANK", "LOST")
WEIGHTS = (0.5, 0.3, 0.15, 0.05)


@dataclass
class DemoData:
    orders: list[dict]
    files: dict[str, Path]
    truth: dict[int, dict[str, int]] = field(default_factory=dict)


def _amount(rng: random.Random) -> Decimal:
    return Decimal(rng.randint(500, 50000)) / 100


def generate(n: int, seed: int, out_dir: Path, *, bad_amounts: int | None = None, strays: int | None = None
             ) -> DemoData:
    rng = random.Random(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    bad_amounts = max(1, n // 200) if bad_amounts is None else bad_amounts
    strays = max(1, n // 300) if strays is None else strays
    base = dt.date(2026, 2, 1)
    orders = []
    for i in range(1, n + 1):
        orders.append({"order_id": f"ORD-{i:07d}", "amount": _amount(rng),
                       "order_date": base + dt.timedelta(days=rng.randint(0, 27)),
                       "customer": f"Customer {rng.randint(1, max(2, n // 3))}",
                       "channel": rng.choices(CHANNELS, WEIGHTS)[0]})
    market = [o for o in orders if o["channel"] == "MARKETPLACE"]
    wrong = set(o["order_id"] for o in rng.sample(market, min(bad_amounts, len(market))))
    rows = {"marketplace": [], "gateway": [], "bank": []}
    for o in orders:
        settled = o["order_date"] + dt.timedelta(days=rng.randint(0, 2))
        if o["channel"] == "MARKETPLACE":
            gross = o["amount"] + (Decimal("1.50") if o["order_id"] in wrong else Decimal(0))
            rows["marketplace"].append({"txn_id": f"MP-{len(rows['marketplace']) + 1:07d}", "order_ref": o["order_id"],
                                        "gross": gross, "settled_on": settled})
        elif o["channel"] == "GATEWAY":
            rows["gateway"].append({"payment_id": f"GW-{len(rows['gateway']) + 1:07d}", "merchant_ref": o["order_id"],
                                    "amount": o["amount"], "captured_on": settled})
        elif o["channel"] == "BANK":
            rows["bank"].append({"bank_txn": f"BK-{len(rows['bank']) + 1:07d}", "reference": o["order_id"],
                                 "credit": o["amount"], "booked_on": settled})
    # payouts for orders that do not exist (unmatched target rows at every step)
    for name, key, ref, amt, day in (("marketplace", "txn_id", "order_ref", "gross", "settled_on"),
                                     ("gateway", "payment_id", "merchant_ref", "amount", "captured_on"),
                                     ("bank", "bank_txn", "reference", "credit", "booked_on")):
        prefix = {"marketplace": "MP", "gateway": "GW", "bank": "BK"}[name]
        for j in range(strays):
            rows[name].append({key: f"{prefix}-X{j + 1:06d}", ref: f"ORD-9{j + 1:06d}", amt: _amount(rng),
                               day: base + dt.timedelta(days=rng.randint(0, 27))})
    files = {}
    for name, items in rows.items():
        path = out_dir / f"{name}_settlement.csv"
        with open(path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(items[0].keys()))
            w.writeheader()
            w.writerows(items)
        files[name] = path
    by = {c: sum(1 for o in orders if o["channel"] == c) for c in CHANNELS}
    wrong_n = len(wrong)
    s1_matched = by["MARKETPLACE"] - wrong_n
    s1_left = n - s1_matched
    s2_left = s1_left - by["GATEWAY"]
    truth = {
        1: {"matched": s1_matched, "unmatchedSource": s1_left, "unmatchedTarget": wrong_n + strays},
        2: {"matched": by["GATEWAY"], "unmatchedSource": s2_left, "unmatchedTarget": strays},
        3: {"matched": by["BANK"], "unmatchedSource": s2_left - by["BANK"], "unmatchedTarget": strays},
    }
    return DemoData(orders, files, truth)


def orders_csv(orders: list[dict], path: Path) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["order_id", "amount", "order_date", "customer", "channel"])
        w.writeheader()
        w.writerows(orders)
    return path


def load_orders(database_url: str, orders: list[dict], schema: str = SCHEMA, table: str = TABLE) -> None:
    """(Re)create the OMS demo table and load the orders with COPY."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(database_url) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}.{}").format(sql.Identifier(schema), sql.Identifier(table)))
        conn.execute(sql.SQL("CREATE TABLE {}.{} (order_id text PRIMARY KEY, amount numeric(12,2) NOT NULL,"
                             " order_date date NOT NULL, customer text NOT NULL, channel text NOT NULL)")
                     .format(sql.Identifier(schema), sql.Identifier(table)))
        with conn.cursor().copy(sql.SQL("COPY {}.{} (order_id, amount, order_date, customer, channel) FROM STDIN")
                                .format(sql.Identifier(schema), sql.Identifier(table))) as copy:
            for o in orders:
                copy.write_row((o["order_id"], o["amount"], o["order_date"], o["customer"], o["channel"]))


def rule_sets() -> dict[str, dict]:
    def exact(ref: str, amt: str, name: str) -> dict:
        return {"name": name, "sourceKey": "order_id", "targetKey": None,
                "passes": [{"name": "Reference and amount", "cardinality": "ONE_TO_ONE",
                            "conditions": [{"source": "order_id", "target": ref, "operator": "EQUALS",
                                            "normalize": ["TRIM", "UPPER"]},
                                           {"source": "amount", "target": amt, "operator": "AMOUNT_TOLERANCE",
                                            "absolute": 0.01}]}]}

    out = {"marketplace": exact("order_ref", "gross", "Orders vs marketplace payouts"),
           "gateway": exact("merchant_ref", "amount", "Orders vs gateway captures"),
           "bank": exact("reference", "credit", "Orders vs bank credits")}
    out["marketplace"]["targetKey"] = "txn_id"
    out["gateway"]["targetKey"] = "payment_id"
    out["bank"]["targetKey"] = "bank_txn"
    return out


def stream_body(name: str, source: dict, file_ids: dict[str, int], rule_set_ids: dict[str, int],
                step_names: dict[int, str] | None = None, configs: dict[int, dict] | None = None) -> dict:
    step_names = step_names or {}
    configs = configs or {}

    def step(order: int, name_: str, src: dict, target: str) -> dict:
        return {"stepOrder": order, "name": step_names.get(order, name_), "sourceInput": src,
                "targetInput": {"type": "FILE", "id": file_ids[target]}, "ruleSetId": rule_set_ids[target],
                "config": configs.get(order, {"continueOnFailure": False, "maxRetries": 1})}

    return {"name": name, "description": "OMS orders to marketplace, gateway and bank", "domain": "ECOMMERCE",
            "triggerType": "MANUAL",
            "steps": [step(1, "Orders vs marketplace", source, "marketplace"),
                      step(2, "Remaining orders vs gateway", {"type": "STEP_OUTPUT_UNMATCHED_SOURCE", "id": 1}, "gateway"),
                      step(3, "Remaining orders vs bank", {"type": "STEP_OUTPUT_UNMATCHED_SOURCE", "id": 2}, "bank")]}


# ------------------------------------------------------------------------------------------ install


class Client:
    def __init__(self, url: str, key: str):
        import requests

        self.url, self.s = url.rstrip("/"), requests.Session()
        self.s.headers["Authorization"] = f"Bearer {key}"

    def call(self, method: str, path: str, **kw) -> Any:
        r = self.s.request(method, self.url + path, timeout=60, **kw)
        if r.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {r.status_code} {r.text[:500]}")
        return r.json()["data"]

    def upload(self, path: Path) -> dict:
        f = self.call("POST", "/files", params={"filename": path.name}, data=path.read_bytes())
        deadline = time.monotonic() + 60
        while f["status"] == "PROCESSING" and time.monotonic() < deadline:
            time.sleep(0.3)
            f = self.call("GET", f"/files/{f['id']}")
        if f["status"] != "READY":
            raise RuntimeError(f"{path.name}: {f['status']} {f.get('errorMessage')}")
        return f


def install(client: Client, database_url: str, work_dir: Path, *, orders: int = 1000, seed: int = 7) -> dict:
    """Create (or find) the demo stream; returns {"streamId", "truth", "created"}."""
    page = client.call("GET", "/streams", params={"pageSize": 100})
    for s in page["items"]:
        if s["name"] == STREAM_NAME and s["status"] != "ARCHIVED":
            _reupload_gone_files(client, s["id"], work_dir, orders=orders, seed=seed)
            return {"streamId": s["id"], "created": False}
    data = generate(orders, seed, work_dir)
    load_orders(database_url, data.orders)
    file_ids = {name: client.upload(path)["id"] for name, path in data.files.items()}
    rs_ids = {name: client.call("POST", "/rule-sets", json=body)["id"] for name, body in rule_sets().items()}
    ds = client.call("POST", "/data-sources", json={
        "name": "OMS orders (demo)", "type": "POSTGRES",
        "config": {"schema": SCHEMA, "table": TABLE}})
    body = stream_body(STREAM_NAME, {"type": "DATA_SOURCE_SNAPSHOT", "id": ds["id"]}, file_ids, rs_ids)
    stream = client.call("POST", "/streams", json=body)
    (work_dir / "truth.json").write_text(json.dumps(data.truth, indent=2))
    return {"streamId": stream["id"], "truth": data.truth, "created": True}


def _reupload_gone_files(client: Client, stream_id: int, work_dir: Path, *, orders: int, seed: int) -> None:
    """The local S3 does not survive a restart of the stack while the control plane does: the demo
    stream's files then read INVALID (their bytes are gone). Upload the same generated files again and
    point the stream at them (a new version); nothing happens while they are READY."""
    stream = client.call("GET", f"/streams/{stream_id}")
    gone = {}
    for st in stream["steps"]:
        for side in ("sourceInput", "targetInput"):
            if st[side]["type"] == "FILE":
                f = client.call("GET", f"/files/{st[side]['id']}")
                if f["status"] != "READY":
                    gone[f["id"]] = f["filename"]
    if not gone:
        return
    by_name = {path.name: path for path in generate(orders, seed, work_dir).files.values()}
    new_ids = {old: client.upload(by_name[name])["id"] for old, name in gone.items() if name in by_name}
    steps = [{"stepOrder": st["stepOrder"], "name": st["name"], "ruleSetId": st["ruleSetId"],
              "config": {"continueOnFailure": st["config"]["continueOnFailure"],
                         "maxRetries": st["config"]["maxRetries"]},
              **{side: {"type": st[side]["type"],
                        "id": new_ids.get(st[side]["id"], st[side]["id"]) if st[side]["type"] == "FILE"
                        else st[side]["id"]} for side in ("sourceInput", "targetInput")}}
             for st in stream["steps"]]
    body = {"name": stream["name"], "description": stream.get("description"), "triggerType": stream["triggerType"],
            "triggerConfig": stream.get("triggerConfig"), "steps": steps}
    if stream.get("domain"):
        body["domain"] = stream["domain"]
    client.call("PUT", f"/streams/{stream_id}", json=body)
    print(f"demo stream {stream_id}: {len(new_ids)} file(s) whose stored bytes were gone uploaded again")


def main(argv: list[str] | None = None) -> int:
    import os

    p = argparse.ArgumentParser(prog="python -m chalicelib.demo.streams_demo", description=__doc__.splitlines()[0])
    p.add_argument("--orders", type=int, default=1000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--api", default=os.environ.get("API_URL", "http://127.0.0.1:8080/api/v1"))
    p.add_argument("--key-file", required=True)
    p.add_argument("--work-dir", default=None)
    args = p.parse_args(argv)
    work = Path(args.work_dir or (Path(args.key_file).parent / "streams-demo"))
    client = Client(args.api, Path(args.key_file).read_text().strip())
    result = install(client, os.environ["DATABASE_URL"], work, orders=args.orders, seed=args.seed)
    verb = "created" if result["created"] else "already there"
    print(f"demo stream {result['streamId']} {verb}: POST {args.api}/streams/{result['streamId']}/runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
