"""Command line: ``python -m chalicelib.demo load --rows N [drift options] [--manifest PATH]``, and
``python -m chalicelib.demo present`` (exit 0 when every demo table holds rows on both sides).

Reads DATABASE_URL (PostgreSQL) and CASSANDRA_HOSTS / CASSANDRA_PORT (and the other CASSANDRA_*
settings of the reader) from the environment.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m chalicelib.demo", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    load = sub.add_parser("load", help="create the demo tables on both sides and load them")
    load.add_argument("--rows", type=int, required=True, help="rows per table")
    load.add_argument("--drift-missing-pg", type=int, default=0, metavar="A",
                      help="rows written to Cassandra only (MISSING_IN_POSTGRES)")
    load.add_argument("--drift-missing-cass", type=int, default=0, metavar="B",
                      help="rows written to PostgreSQL only (MISSING_IN_CASSANDRA)")
    load.add_argument("--drift-mismatch", type=int, default=0, metavar="C",
                      help="rows whose PostgreSQL copy differs in one column (DATA_MISMATCH)")
    load.add_argument("--manifest", help="write the JSON manifest of injected drift here")
    load.add_argument("--seed", type=int, default=1)
    load.add_argument("--tables", default="users,orders,products", help="comma-separated subset")
    load.add_argument("--append", action="store_true", help="upsert instead of truncating first")
    load.add_argument("--now", help="ISO timestamp the generated times are relative to (default: now)")
    load.add_argument("--keyspace", default="demo", help="Cassandra keyspace (default demo)")
    load.add_argument("--pg-schema", default="public", help="PostgreSQL schema (default public)")
    load.add_argument("--concurrency", type=int, default=64, help="Cassandra requests in flight")
    load.add_argument("--batch-rows", type=int, default=1,
                      help="rows per unlogged batch across partitions (default 1: per partition only; "
                           "50 loads the CQL dev server several times faster)")
    present = sub.add_parser("present", help="exit 0 when the demo tables exist and hold rows on both sides")
    present.add_argument("--tables", default="users,orders,products", help="comma-separated subset")
    present.add_argument("--keyspace", default="demo", help="Cassandra keyspace (default demo)")
    present.add_argument("--pg-schema", default="public", help="PostgreSQL schema (default public)")
    return p


def _present(args, pg_url: str) -> int:
    """Whether demo data is loaded: every table exists and holds at least one row, on both sides."""
    import psycopg
    from psycopg import sql

    from chalicelib.cassandra.session import build_cluster
    from chalicelib.cassandra.settings import CassandraSettings

    from .tables import TABLES

    names = [t.strip() for t in args.tables.split(",") if t.strip()]
    missing: list[str] = []
    with psycopg.connect(pg_url, connect_timeout=10) as conn:
        for name in names:
            if conn.execute("SELECT to_regclass(%s)", (f"{args.pg_schema}.{name}",)).fetchone()[0] is None:
                missing.append(f"postgres {args.pg_schema}.{name} (no table)")
            elif conn.execute(sql.SQL("SELECT 1 FROM {} LIMIT 1").format(sql.Identifier(args.pg_schema, name))).fetchone() is None:
                missing.append(f"postgres {args.pg_schema}.{name} (empty)")
    cluster = build_cluster(CassandraSettings())
    try:
        session = cluster.connect()
        existing = {r[0] for r in session.execute(
            "SELECT table_name FROM system_schema.tables WHERE keyspace_name = %s", (args.keyspace,))}
        for name in names:
            if name not in TABLES or name not in existing:
                missing.append(f"cassandra {args.keyspace}.{name} (no table)")
            elif session.execute(f"SELECT * FROM {args.keyspace}.{name} LIMIT 1").one() is None:
                missing.append(f"cassandra {args.keyspace}.{name} (empty)")
    finally:
        cluster.shutdown()
    if missing:
        print("demo data absent: " + ", ".join(missing))
        return 1
    print(f"demo data present ({', '.join(names)})")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "present":
        if not os.environ.get("DATABASE_URL"):
            print("DATABASE_URL is not set", file=sys.stderr)
            return 2
        return _present(args, os.environ["DATABASE_URL"])
    from chalicelib.cassandra.session import build_cluster
    from chalicelib.cassandra.settings import CassandraSettings

    from .loader import LoadOptions, load, write_manifest

    pg_url = os.environ.get("DATABASE_URL")
    if not pg_url:
        print("DATABASE_URL is not set", file=sys.stderr)
        return 2
    try:
        opts = LoadOptions(
            rows=args.rows,
            drift_missing_pg=args.drift_missing_pg,
            drift_missing_cass=args.drift_missing_cass,
            drift_mismatch=args.drift_mismatch,
            seed=args.seed,
            tables=[t.strip() for t in args.tables.split(",") if t.strip()],
            keyspace=args.keyspace,
            pg_schema=args.pg_schema,
            append=args.append,
            now=dt.datetime.fromisoformat(args.now) if args.now else None,
            concurrency=args.concurrency,
            batch_rows=args.batch_rows,
        )
    except ValueError as exc:
        print(f"invalid arguments: {exc}", file=sys.stderr)
        return 2
    settings = CassandraSettings()
    t0 = time.perf_counter()
    cluster = build_cluster(settings)
    try:
        session = cluster.connect()
        result = load(session, pg_url, opts)
    finally:
        cluster.shutdown()
    elapsed = time.perf_counter() - t0
    for s in result.stats:
        print(f"{s.table:9s} cassandra {s.cassandra_rows:>9d} rows  postgres {s.postgres_rows:>9d} rows  "
              f"{s.seconds:7.2f} s  {s.rows_per_second:9.0f} rows/s (both sides; cassandra writes {s.cassandra_seconds:.2f} s, postgres copy {s.postgres_seconds:.2f} s)")
    total = sum(s.cassandra_rows + s.postgres_rows for s in result.stats)
    print(f"total     {total} rows written in {elapsed:.2f} s: {total / elapsed:.0f} rows/s")
    if args.manifest:
        write_manifest(result.manifest, args.manifest)
        print(f"manifest: {args.manifest} ({len(result.manifest['drift'])} injected differences)")
    else:
        print(json.dumps(result.manifest["tables"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
