"""Operator commands: `python -m chalicelib.cli keys create|list|revoke|check`."""
from __future__ import annotations

import argparse
import sys


def _keys(args) -> int:
    from chalicelib.api import auth
    from chalicelib.api.errors import ApiError

    if args.action == "create":
        try:
            key, key_id = auth.create_key(args.owner, args.key)
        except ValueError as e:
            print(str(e), file=sys.stderr)
            return 1
        if args.quiet:
            print(key)
        else:
            print(f"created key {key_id} for {args.owner}; it is shown once, store it now:\n{key}")
        return 0
    if args.action == "list":
        for row in auth.list_keys():
            state = f"revoked {row['revoked_at']:%Y-%m-%d}" if row["revoked_at"] else "active"
            shown = (f"imported ({row['key_prefix']})" if row["key_prefix"].startswith("~")
                     else f"recon_{row['key_prefix']}_…")
            print(f"{row['key_id']}  {shown}  {row['owner_email']:<30} {state}")
        return 0
    if args.action == "revoke":
        if auth.revoke_key(args.key):
            print(f"revoked {args.key}")
            return 0
        print(f"no active key with id or prefix {args.key!r}", file=sys.stderr)
        return 1
    if args.action == "check":
        try:
            p = auth.authenticate(f"Bearer {args.key}")
        except ApiError:
            print("invalid key", file=sys.stderr)
            return 1
        print(f"valid key of {p.owner_email}")
        return 0
    return 2


def _tokens(args) -> int:
    from chalicelib.cdc.catalog import get_catalog
    from chalicelib.cdc.pg_source import PostgresSource
    from chalicelib.cassandra.tokens import token_function

    catalog = get_catalog()
    names = catalog.names() if args.table == "all" else [args.table]
    for name in names:
        table = catalog.get(name)
        if table is None:
            print(f"unknown table {name!r}; catalog tables: {', '.join(catalog.names())}", file=sys.stderr)
            return 1
        src = PostgresSource(table)
        if args.action == "prepare":
            src.prepare_token_column()
        fn = token_function([table.columns[k].type for k in table.partition_key])
        filled = src.backfill_tokens(fn)
        print(f"{name}: token column {table.postgres.token_column} ready, {filled} row(s) back-filled")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="recon", description="recon operator commands")
    sub = parser.add_subparsers(dest="command", required=True)
    keys = sub.add_parser("keys", help="API keys")
    ksub = keys.add_subparsers(dest="action", required=True)
    c = ksub.add_parser("create", help="create a key for an owner email")
    c.add_argument("--owner", required=True, help="owner email (becomes resolved_by)")
    c.add_argument("--quiet", action="store_true", help="print only the key")
    c.add_argument("--key", help="import this key (chosen elsewhere) instead of generating one")
    ksub.add_parser("list", help="list keys (never the secrets)")
    r = ksub.add_parser("revoke", help="revoke a key by id or prefix")
    r.add_argument("key")
    ck = ksub.add_parser("check", help="check that a key is valid")
    ck.add_argument("key")
    tok = sub.add_parser("tokens", help="the PostgreSQL token column (Cassandra Murmur3 token per row)")
    tsub = tok.add_subparsers(dest="action", required=True)
    tp = tsub.add_parser("prepare", help="add the token column and its index if missing, then back-fill")
    tp.add_argument("table", help="catalog table name, or 'all'")
    tb = tsub.add_parser("backfill", help="compute the token of rows that have none")
    tb.add_argument("table", help="catalog table name, or 'all'")
    args = parser.parse_args(argv)
    if args.command == "keys":
        return _keys(args)
    if args.command == "tokens":
        return _tokens(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
