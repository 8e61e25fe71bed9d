"""A test table written to both engines with known drift, independent of the demo generator.

`kv` covers the representation differences the engines really have (ms vs µs timestamps, decimal
scale, NULL vs empty collection, jsonb maps, char padding) that must NOT be reported, and injects
the three mismatch types that must be."""
from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import psycopg
from psycopg.types.json import Jsonb

KS = "engt"

CATALOG = """
tables:
  kv:
    cassandra: {keyspace: engt, table: kv}
    postgres: {schema: public, table: kv}
    partition_key: [id]
    updated_at_column: updated_at
    default_strategy: CHECKSUM
    columns:
      id: {type: text}
      n: {type: int}
      amount: {type: decimal}
      ratio: {type: double, tolerance: 0.000001}
      tags: {type: set<text>}
      attrs: {type: 'map<text,text>'}
      code: {type: text}
      ref: {type: uuid}
      updated_at: {type: timestamp}
  events:
    cassandra: {keyspace: engt, table: events}
    postgres: {schema: public, table: events}
    partition_key: [tenant, day]
    clustering_key: [seq]
    updated_at_column: updated_at
    default_strategy: ROW_COUNT
    columns:
      tenant: {type: uuid}
      day: {type: date}
      seq: {type: int}
      payload: {type: text}
      updated_at: {type: timestamp}
"""


def create(cql, pg_url: str) -> None:
    cql.execute(f"CREATE KEYSPACE IF NOT EXISTS {KS} WITH replication = {{'class': 'SimpleStrategy', 'replication_factor': 1}}")
    cql.execute(f"DROP TABLE IF EXISTS {KS}.kv")
    cql.execute(f"DROP TABLE IF EXISTS {KS}.events")
    cql.execute(f"CREATE TABLE {KS}.kv (id text PRIMARY KEY, n int, amount decimal, ratio double, tags set<text>,"
                f" attrs map<text,text>, code text, ref uuid, updated_at timestamp)")
    cql.execute(f"CREATE TABLE {KS}.events (tenant uuid, day date, seq int, payload text, updated_at timestamp,"
                f" PRIMARY KEY ((tenant, day), seq)) WITH CLUSTERING ORDER BY (seq DESC)")
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS public.kv, public.events")
        conn.execute("CREATE TABLE public.kv (id text PRIMARY KEY, n integer, amount numeric(12,2), ratio double precision,"
                     " tags text[], attrs jsonb, code char(4), ref uuid, updated_at timestamptz, recon_token bigint)")
        conn.execute("CREATE INDEX ON public.kv (recon_token)")
        conn.execute("CREATE TABLE public.events (tenant uuid, day date, seq integer, payload text, updated_at timestamptz,"
                     " recon_token bigint, PRIMARY KEY (tenant, day, seq))")
        conn.execute("CREATE INDEX ON public.events (recon_token)")


def kv_rows(n: int, seed: int, now: datetime) -> list[dict]:
    rnd = random.Random(seed)
    rows = []
    for i in range(n):
        ms = rnd.randrange(0, 48 * 3600 * 1000)
        rows.append({
            "id": f"user-{i:06d}",
            "n": rnd.randrange(-1000, 1000) if i % 13 else None,
            "amount": Decimal(rnd.randrange(0, 10_000_00)) / 100,
            "ratio": rnd.random(),
            "tags": {f"t{rnd.randrange(5)}" for _ in range(rnd.randrange(0, 3))},
            "attrs": {f"k{j}": f"v{rnd.randrange(9)}" for j in range(rnd.randrange(0, 3))},
            "code": rnd.choice(["AB", "ABC", "ABCD"]),
            "ref": uuid.UUID(int=rnd.getrandbits(128)),
            "updated_at": (now - timedelta(milliseconds=ms + 2 * 3600 * 1000)).replace(microsecond=(ms % 1000) * 1000),
        })
    return rows


def write_kv(cql, pg_url: str, rows: list[dict], *, pg_variant=None) -> None:
    """Write rows to both sides; PostgreSQL gets engine-typical representation differences."""
    from chalicelib.cassandra.tokens import token_for

    ins = cql.prepare(f"INSERT INTO {KS}.kv (id, n, amount, ratio, tags, attrs, code, ref, updated_at) VALUES (?,?,?,?,?,?,?,?,?)")
    for r in rows:
        if r.get("_only") == "pg":
            continue
        cql.execute(ins, (r["id"], r["n"], r["amount"], r["ratio"], r["tags"] or None, r["attrs"] or None, r["code"], r["ref"],
                          r["updated_at"]))
    with psycopg.connect(pg_url, autocommit=True) as conn:
        with conn.cursor() as cur:
            with cur.copy("COPY public.kv (id, n, amount, ratio, tags, attrs, code, ref, updated_at, recon_token) FROM STDIN") as cp:
                for i, r in enumerate(rows):
                    if r.get("_only") == "cassandra":
                        continue
                    p = dict(r)
                    if pg_variant:
                        p = pg_variant(p)
                    # representation differences that are not drift:
                    ts = p["updated_at"].replace(microsecond=p["updated_at"].microsecond + (i % 997))  # µs noise below 1 ms
                    tags = sorted(p["tags"], reverse=True) if p["tags"] else ([] if i % 2 else None)
                    attrs = Jsonb(p["attrs"]) if p["attrs"] else (Jsonb({}) if i % 3 else None)
                    amount = p["amount"].quantize(Decimal("0.01"))
                    cp.write_row((p["id"], p["n"], amount, p["ratio"], tags, attrs, p["code"], p["ref"], ts,
                                  token_for([p["id"]], ["text"])))


def inject(rows: list[dict], seed: int, missing_pg: int, missing_cass: int, mismatch: int) -> tuple[list[dict], dict]:
    """Mark rows as present on one side only or differing; returns (rows, {pk: type})."""
    rnd = random.Random(seed)
    picked = rnd.sample(range(len(rows)), missing_pg + missing_cass + mismatch)
    expected = {}
    for j, i in enumerate(picked):
        r = rows[i]
        if j < missing_pg:
            r["_only"] = "cassandra"
            expected[r["id"]] = "MISSING_IN_POSTGRES"
        elif j < missing_pg + missing_cass:
            r["_only"] = "pg"
            expected[r["id"]] = "MISSING_IN_CASSANDRA"
        else:
            r["_differ"] = ("n", "amount", "tags", "attrs", "code", "updated_at")[j % 6]
            expected[r["id"]] = "DATA_MISMATCH"
    return rows, expected


def differ(p: dict) -> dict:
    """The PostgreSQL variant of a row marked `_differ`: one real difference."""
    col = p.get("_differ")
    if not col:
        return p
    p = dict(p)
    if col == "n":
        p["n"] = (p["n"] or 0) + 1
    elif col == "amount":
        p["amount"] = p["amount"] + Decimal("0.01")
    elif col == "tags":
        p["tags"] = set(p["tags"]) | {"extra"}
    elif col == "attrs":
        p["attrs"] = {**p["attrs"], "k9": "changed"}
    elif col == "code":
        p["code"] = "ZZ"
    elif col == "updated_at":
        p["updated_at"] = p["updated_at"] - timedelta(milliseconds=1)
    return p


def write_events(cql, pg_url: str, tenants: int, days: int, per_day: int, drop_pg: int = 0) -> int:
    from chalicelib.cassandra.tokens import token_for

    ins = cql.prepare(f"INSERT INTO {KS}.events (tenant, day, seq, payload, updated_at) VALUES (?,?,?,?,?)")
    base = datetime(2026, 11, 1, tzinfo=timezone.utc)
    rows = []
    for t in range(tenants):
        tenant = uuid.UUID(int=t + 1)
        for d in range(days):
            day = (base + timedelta(days=d)).date()
            for s in range(per_day):
                rows.append((tenant, day, s, f"p{t}-{d}-{s}", base))
    for r in rows:
        cql.execute(ins, r)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        with conn.cursor() as cur:
            with cur.copy("COPY public.events (tenant, day, seq, payload, updated_at, recon_token) FROM STDIN") as cp:
                for r in rows[drop_pg:]:
                    cp.write_row((*r, token_for([r[0], r[1]], ["uuid", "date"])))
    return len(rows)
