"""Migrations and API keys against a real PostgreSQL."""
from __future__ import annotations

import threading

import psycopg
import pytest

from chalicelib.config import reset_settings
from chalicelib.db import pool
from chalicelib.db.migrate import MIGRATIONS_DIR, MigrationError, migrate
from tests.pgcluster import fresh_database


@pytest.fixture
def empty_db(pg_server):
    with fresh_database(pg_server, "recon_cp") as url:
        yield url


def test_migrations_apply_once_and_in_order(empty_db):
    names = migrate(empty_db, log=lambda *_: None)
    assert names == sorted(p.name for p in MIGRATIONS_DIR.glob("*.sql"))
    assert migrate(empty_db, log=lambda *_: None) == []
    with psycopg.connect(empty_db) as conn:
        assert conn.execute("SELECT count(*) FROM recon.schema_migrations").fetchone()[0] == len(names)


def test_concurrent_runs_apply_each_migration_once(empty_db):
    results, errors = [], []

    def run():
        try:
            results.append(migrate(empty_db, log=lambda *_: None))
        except Exception as exc:  # pragma: no cover - shown by the assertion
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    applied = [n for r in results for n in r]
    assert sorted(applied) == sorted(p.name for p in MIGRATIONS_DIR.glob("*.sql"))


def test_an_edited_applied_migration_is_refused(empty_db, tmp_path):
    (tmp_path / "0001_first.sql").write_text("CREATE TABLE recon.t1 (id int);")
    migrate(empty_db, tmp_path, log=lambda *_: None)
    (tmp_path / "0001_first.sql").write_text("CREATE TABLE recon.t1 (id bigint);")
    with pytest.raises(MigrationError, match="changed after it was applied"):
        migrate(empty_db, tmp_path, log=lambda *_: None)
    (tmp_path / "bad-name.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="does not match"):
        migrate(empty_db, tmp_path, log=lambda *_: None)


def test_api_keys_hashed_checked_and_revoked(empty_db, monkeypatch):
    from chalicelib.api import auth
    from chalicelib.api.errors import ApiError

    migrate(empty_db, log=lambda *_: None)
    monkeypatch.setenv("DATABASE_URL", empty_db)
    reset_settings()
    pool.close_pool()
    key, key_id = auth.create_key("alice@company.com")
    with psycopg.connect(empty_db) as conn:
        stored = conn.execute("SELECT key_hash FROM recon.api_keys WHERE key_id = %s", (key_id,)).fetchone()[0]
    assert key not in stored and len(stored) == 64
    assert auth.authenticate(f"Bearer {key}").owner_email == "alice@company.com"
    for bad in (None, "", key, f"Basic {key}", f"Bearer {key}x", f"Bearer {key[:-1]}", "Bearer recon_x"):
        with pytest.raises(ApiError) as exc:
            auth.authenticate(bad)
        assert exc.value.status == 401
    assert auth.revoke_key(str(key_id)) is True
    with pytest.raises(ApiError):
        auth.authenticate(f"Bearer {key}")
    with pytest.raises(ValueError):
        auth.create_key("not-an-email")
    reset_settings()


def test_an_imported_key_such_as_the_contracts_sample_key_authenticates(empty_db, monkeypatch, capsys):
    from chalicelib import cli
    from chalicelib.api import auth
    from chalicelib.api.errors import ApiError

    migrate(empty_db, log=lambda *_: None)
    monkeypatch.setenv("DATABASE_URL", empty_db)
    reset_settings()
    pool.close_pool()
    assert cli.main(["keys", "create", "--owner", "test@recon.local", "--key", "test-api-key", "--quiet"]) == 0
    assert capsys.readouterr().out.strip() == "test-api-key"
    # importing it again for the same owner changes nothing; for another owner it is refused
    assert cli.main(["keys", "create", "--owner", "test@recon.local", "--key", "test-api-key", "--quiet"]) == 0
    assert cli.main(["keys", "create", "--owner", "eve@example.com", "--key", "test-api-key"]) == 1
    with psycopg.connect(empty_db) as conn:
        rows = conn.execute("SELECT key_prefix, key_hash, owner_email FROM recon.api_keys").fetchall()
    assert len(rows) == 1 and "test-api-key" not in rows[0][0] + rows[0][1] and rows[0][2] == "test@recon.local"
    assert auth.authenticate("Bearer test-api-key").owner_email == "test@recon.local"
    assert auth.authenticate("bearer  test-api-key ").owner_email == "test@recon.local"
    for bad in ("Bearer test-api-kez", "Bearer test-api-ke", "Bearer TEST-API-KEY", "Bearer test api key"):
        with pytest.raises(ApiError) as exc:
            auth.authenticate(bad)
        assert exc.value.status == 401
    # too short, spaces, or shaped like a generated key: not importable
    for key in ("short-key", "has a space in it", "recon_abcd_efghijklmnop"):
        with pytest.raises(ValueError):
            auth.create_key("ops@example.com", key)
    assert auth.revoke_key(rows[0][0]) is True
    with pytest.raises(ApiError):
        auth.authenticate("Bearer test-api-key")
    reset_settings()
