"""API keys and rate limits, kept in the control plane so they hold across Lambdas.

A key is `recon_<prefix>_<secret>`; only its SHA-256 is stored (keys are 256-bit random, so a
fast hash is enough), looked up by prefix and compared in constant time. Keys are never logged.

An operator may also import a key chosen elsewhere (`keys create --key ...`: a key handed out by
another auth service, or on a local stack the contract's sample key `test-api-key`). Such a key has
no prefix of its own: it is looked up by `~` + the first 16 hex digits of its SHA-256.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

from chalicelib.api.core import ApiError, RateLimited, unauthorized
from chalicelib.db.pool import transaction


@dataclass(frozen=True)
class Principal:
    key_id: uuid.UUID
    owner_email: str


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


#: an imported key: visible ASCII, no spaces, long enough not to be guessed in a few tries
IMPORTED_KEY_MIN_LENGTH = 12


def _prefix_of(key: str) -> str | None:
    """The lookup prefix of a presented key: its own for a generated key, derived for an imported one."""
    parts = key.split("_", 2)
    if len(parts) == 3 and parts[0] == "recon":
        return parts[1]
    if IMPORTED_KEY_MIN_LENGTH <= len(key) <= 512 and all("!" <= ch <= "~" for ch in key):
        return "~" + _hash(key)[:16]
    return None


def create_key(owner_email: str, key: str | None = None) -> tuple[str, uuid.UUID]:
    """Create a key for `owner_email` (or import `key`, chosen elsewhere); returns (the key, shown
    once; its id). Importing a key that is already active for the same owner changes nothing."""
    if "@" not in owner_email or len(owner_email) > 320:
        raise ValueError(f"owner must be an email address, got {owner_email!r}")
    imported = key is not None
    if key is None:
        prefix = secrets.token_hex(4)
        key = f"recon_{prefix}_{secrets.token_urlsafe(32)}"
    elif key.startswith("recon_") or (prefix := _prefix_of(key)) is None:
        raise ValueError(f"an imported key is {IMPORTED_KEY_MIN_LENGTH} to 512 visible ASCII characters, "
                         "not starting with recon_")
    key_id = uuid.uuid4()
    with transaction() as conn:
        row = conn.execute("SELECT key_id, owner_email, revoked_at FROM recon.api_keys WHERE key_prefix = %s",
                           (prefix,)).fetchone() if imported else None
        if row is not None:
            if row["revoked_at"] is None and row["owner_email"] == owner_email:
                return key, row["key_id"]
            raise ValueError("this key is already registered (or was revoked): choose another one")
        conn.execute(
            "INSERT INTO recon.api_keys (key_id, key_prefix, key_hash, owner_email) VALUES (%s, %s, %s, %s)",
            (key_id, prefix, _hash(key), owner_email),
        )
    return key, key_id


def list_keys() -> list[dict]:
    with transaction() as conn:
        return conn.execute(
            "SELECT key_id, key_prefix, owner_email, created_at, revoked_at FROM recon.api_keys ORDER BY created_at"
        ).fetchall()


def revoke_key(key_id_or_prefix: str) -> bool:
    with transaction() as conn:
        cur = conn.execute(
            "UPDATE recon.api_keys SET revoked_at = now() WHERE revoked_at IS NULL"
            " AND (key_prefix = %s OR key_id::text = %s)",
            (key_id_or_prefix, key_id_or_prefix),
        )
        return cur.rowcount > 0


def _unauthorized() -> ApiError:
    return unauthorized()


def authenticate(authorization: str | None) -> Principal:
    scheme, _, key = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer":   # the auth scheme is case-insensitive (RFC 9110 §11.1)
        raise _unauthorized()
    key = key.strip()
    prefix = _prefix_of(key)
    if prefix is None:
        raise _unauthorized()
    with transaction() as conn:
        row = conn.execute(
            "SELECT key_id, key_hash, owner_email FROM recon.api_keys WHERE key_prefix = %s AND revoked_at IS NULL",
            (prefix,),
        ).fetchone()
    if row is None or not hmac.compare_digest(row["key_hash"], _hash(key)):
        raise _unauthorized()
    return Principal(key_id=row["key_id"], owner_email=row["owner_email"])


def enforce_rate_limit(principal: Principal, bucket: str, limit: int, window_seconds: int = 60,
                       conn=None) -> None:
    """Sliding-window limit: at most `limit` accepted requests per key and bucket in any window.

    The key's row is locked for the check-and-insert, so concurrent requests are counted exactly. Given
    the caller's transaction (`conn`), the request is counted only if that transaction commits.
    """
    if conn is None:
        with transaction() as own:
            return enforce_rate_limit(principal, bucket, limit, window_seconds, own)
    conn.execute("SELECT 1 FROM recon.api_keys WHERE key_id = %s FOR UPDATE", (principal.key_id,))
    now: datetime = conn.execute("SELECT clock_timestamp() AS now").fetchone()["now"]
    conn.execute(
        "DELETE FROM recon.rate_limit_events WHERE key_id = %s AND bucket = %s"
        " AND at <= %s - make_interval(secs => %s)",
        (principal.key_id, bucket, now, window_seconds),
    )
    rows = conn.execute(
        "SELECT at FROM recon.rate_limit_events WHERE key_id = %s AND bucket = %s ORDER BY at",
        (principal.key_id, bucket),
    ).fetchall()
    if len(rows) >= limit:
        oldest = rows[len(rows) - limit]["at"]
        retry_after = max(1, int(window_seconds - (now - oldest).total_seconds() + 0.999))
        raise RateLimited(retry_after)
    conn.execute(
        "INSERT INTO recon.rate_limit_events (key_id, bucket, at) VALUES (%s, %s, %s)",
        (principal.key_id, bucket, now),
    )
