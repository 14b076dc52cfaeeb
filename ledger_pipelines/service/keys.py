"""API keys: ``sl_<key_id>_<secret>``, shown once, stored as the SHA-256 of the whole key.

A key is 256 random bits, so a fast hash is the right one (there is nothing to guess, unlike a
password) and checking a request costs one index lookup plus a constant-time comparison.
Scopes nest: ``read`` < ``write`` < ``admin``. Keys are created and revoked by the database owner
(``subledger keys ...``); the API only reads them.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

import psycopg

from ledger_pipelines.paths import read_sql

SCOPES = ("read", "write", "admin")
_KEY = re.compile(r"^sl_(?P<key_id>[0-9a-f]{12})_(?P<secret>[A-Za-z0-9_-]{43})$")


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    name: str
    scope: str
    created_at: datetime
    revoked_at: datetime | None

    def allows(self, scope: str) -> bool:
        """Whether this key's scope includes ``scope`` (read < write < admin)."""
        return SCOPES.index(self.scope) >= SCOPES.index(scope)

    def as_json(self) -> dict[str, object]:
        return {"key_id": self.key_id, "name": self.name, "scope": self.scope, "created_at": self.created_at.isoformat(),
                "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None}


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def create_key(conn: psycopg.Connection, name: str, scope: str) -> tuple[str, ApiKey]:
    """A new key (its text, shown once, and what is stored); ``conn`` is the owner's."""
    if scope not in SCOPES:
        raise ValueError(f"scope {scope!r}: use one of {', '.join(SCOPES)}")
    key_id = secrets.token_hex(6)
    key = f"sl_{key_id}_{secrets.token_urlsafe(32)}"
    row = conn.execute(read_sql("service/keys/insert.sql"),
                       {"key_id": key_id, "name": name, "scope": scope, "key_sha256": digest(key)}).fetchone()
    return key, ApiKey(*row)


def list_keys(conn: psycopg.Connection) -> list[ApiKey]:
    return [ApiKey(*row) for row in conn.execute(read_sql("service/keys/list.sql")).fetchall()]


def revoke_key(conn: psycopg.Connection, key_id: str) -> bool:
    """Revoke ``key_id``; False if there is no such key that is not revoked already."""
    return conn.execute(read_sql("service/keys/revoke.sql"), {"key_id": key_id}).fetchone() is not None


def verify(conn: psycopg.Connection, presented: str) -> ApiKey | None:
    """The key ``presented`` is, if it is a valid key that is not revoked."""
    match = _KEY.match(presented)
    if match is None:
        return None
    row = conn.execute(read_sql("service/keys/find.sql"), {"key_id": match["key_id"]}).fetchone()
    if row is None or not hmac.compare_digest(bytes(row[5]), digest(presented)):
        return None
    return ApiKey(*row[:5])
