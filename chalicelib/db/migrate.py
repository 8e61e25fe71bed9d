"""Versioned SQL migrations, applied idempotently: `python -m chalicelib.db.migrate`.

A deliberately small runner (see docs/decisions.md): files `migrations/NNNN_name.sql` are applied in
order, each in its own transaction, recorded in `recon.schema_migrations` with a checksum; a
session-level advisory lock makes concurrent runs safe; an applied file whose content changed is an
error (write a new migration instead).
"""
from __future__ import annotations

import argparse
import hashlib
import re
import sys
from pathlib import Path

import psycopg

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_LOCK_ID = 0x7265636F6E  # "recon"
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class MigrationError(RuntimeError):
    pass


def discover(directory: Path = MIGRATIONS_DIR) -> list[tuple[int, str, str]]:
    found = []
    for path in sorted(directory.glob("*.sql")):
        m = _NAME.match(path.name)
        if not m:
            raise MigrationError(f"migration file name {path.name!r} does not match NNNN_name.sql")
        found.append((int(m.group(1)), path.name, path.read_text()))
    versions = [v for v, _, _ in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"duplicate migration versions in {directory}")
    return found


def migrate(database_url: str, directory: Path = MIGRATIONS_DIR, log=print) -> list[str]:
    """Apply pending migrations; return the names applied."""
    applied_now: list[str] = []
    with psycopg.connect(database_url, autocommit=True) as conn:
        # one runner at a time, bootstrap included (CREATE ... IF NOT EXISTS races otherwise)
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_ID,))
        try:
            return _apply(conn, directory, log, applied_now)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_ID,))


def _apply(conn, directory: Path, log, applied_now: list[str]) -> list[str]:
    conn.execute("CREATE SCHEMA IF NOT EXISTS recon")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS recon.schema_migrations ("
        " version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now())"
    )
    for version, name, sql in discover(directory):
        checksum = hashlib.sha256(sql.encode()).hexdigest()
        with conn.transaction():
            row = conn.execute(
                "SELECT name, checksum FROM recon.schema_migrations WHERE version = %s", (version,)
            ).fetchone()
            if row:
                if row[1] != checksum:
                    raise MigrationError(
                        f"migration {name} was changed after it was applied (as {row[0]}); "
                        "add a new migration instead"
                    )
                continue
            conn.execute(sql)
            conn.execute(
                "INSERT INTO recon.schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                (version, name, checksum),
            )
            applied_now.append(name)
            log(f"applied {name}")
    return applied_now


def main(argv: list[str] | None = None) -> int:
    from chalicelib.config import get_settings

    parser = argparse.ArgumentParser(description="Apply recon's control-plane migrations.")
    parser.add_argument("--database-url", default=None, help="defaults to DATABASE_URL")
    args = parser.parse_args(argv)
    url = args.database_url or get_settings().database_url
    try:
        names = migrate(url)
    except (MigrationError, psycopg.Error) as exc:
        print(f"migration failed: {exc}", file=sys.stderr)
        return 1
    print(f"{len(names)} migration(s) applied" if names else "database is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
