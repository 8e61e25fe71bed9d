"""Operator commands: `python -m chalicelib.cli keys create|list|revoke|check`."""
from __future__ import annotations

import argparse
import sys


def _keys(args) -> int:
    from chalicelib.api import auth
    from chalicelib.api.errors import ApiError

    if args.action == "create":
        key, key_id = auth.create_key(args.owner)
        if args.quiet:
            print(key)
        else:
            print(f"created key {key_id} for {args.owner}; it is shown once, store it now:\n{key}")
        return 0
    if args.action == "list":
        for row in auth.list_keys():
            state = f"revoked {row['revoked_at']:%Y-%m-%d}" if row["revoked_at"] else "active"
            print(f"{row['key_id']}  recon_{row['key_prefix']}_…  {row['owner_email']:<30} {state}")
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="recon", description="recon operator commands")
    sub = parser.add_subparsers(dest="command", required=True)
    keys = sub.add_parser("keys", help="API keys")
    ksub = keys.add_subparsers(dest="action", required=True)
    c = ksub.add_parser("create", help="create a key for an owner email")
    c.add_argument("--owner", required=True, help="owner email (becomes resolved_by)")
    c.add_argument("--quiet", action="store_true", help="print only the key")
    ksub.add_parser("list", help="list keys (never the secrets)")
    r = ksub.add_parser("revoke", help="revoke a key by id or prefix")
    r.add_argument("key")
    ck = ksub.add_parser("check", help="check that a key is valid")
    ck.add_argument("key")
    args = parser.parse_args(argv)
    if args.command == "keys":
        return _keys(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
