"""API keys: created once, shown once, stored only as a SHA-256 hash.

A key reads ``yk_<id>_<secret>``: ``id`` (8 hex digits) finds the row, the whole
key's hash must match (compared in constant time). Secrets carry 256 random bits,
so a fast hash is enough: there is nothing to brute-force. Roles: ``predict``
(call /v1/predict and read /v1/models) and ``admin`` (everything). Every request
reads the row again, so a revoked key fails on its very next request, whichever
process revoked it.

    store = KeyStore("sqlite:///yolops-workspace/yolops.db")
    key, info = store.create("ci-smoke", role="predict")   # key is shown this once
    store.verify(key)                                      # KeyInfo, or None
    store.revoke(info.id)
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Column, DateTime, String, Table, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from yolops.errors import ConfigError, YolopsError
from yolops.serve.database import DatabaseError, ensure_tables, first_line, get_engine, metadata

ROLES = ("predict", "admin")
KEY_RE = re.compile(r"^yk_(?P<id>[0-9a-f]{8})_(?P<secret>[A-Za-z0-9_\-]{20,100})$")

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(8), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("role", String(20), nullable=False),
    Column("key_hash", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)


@dataclass(frozen=True)
class KeyInfo:
    id: str
    name: str
    role: str
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def allows(self, role: str) -> bool:
        """admin may do everything; predict only what needs predict."""
        return self.active and (self.role == "admin" or self.role == role)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class KeyStore:
    """API keys in the workspace database (any SQLAlchemy URL)."""

    def __init__(self, url: str):
        self.url = url
        self.engine = get_engine(url)
        ensure_tables(self.engine, api_keys)

    def create(self, name: str, role: str = "predict") -> tuple[str, KeyInfo]:
        """A new key and its record; the key itself is not stored and cannot be shown again."""
        if role not in ROLES:
            raise ConfigError(f"unknown role {role!r}; choose {' or '.join(ROLES)}")
        name = name.strip()
        if not name or len(name) > 200:
            raise ConfigError("a key needs a name of 1 to 200 characters (who or what uses it)")
        with self._db("create a key"):
            with self.engine.begin() as conn:
                while True:  # ids are random; retry the rare collision
                    key_id = secrets.token_hex(4)
                    if (
                        conn.execute(select(api_keys.c.id).where(api_keys.c.id == key_id)).first()
                        is None
                    ):
                        break
                key = f"yk_{key_id}_{secrets.token_urlsafe(32)}"
                now = datetime.now(UTC)
                conn.execute(
                    insert(api_keys).values(
                        id=key_id,
                        name=name,
                        role=role,
                        key_hash=hash_key(key),
                        created_at=now,
                        revoked_at=None,
                    )
                )
        return key, KeyInfo(key_id, name, role, now, None)

    def list(self, include_revoked: bool = True) -> list[KeyInfo]:
        query = select(api_keys).order_by(api_keys.c.created_at)
        if not include_revoked:
            query = query.where(api_keys.c.revoked_at.is_(None))
        with self._db("list keys"):
            with self.engine.connect() as conn:
                return [_info(row) for row in conn.execute(query)]

    def revoke(self, key_id: str) -> KeyInfo:
        """Revoke by id (the 8 hex digits after ``yk_``, as `yolops keys list` shows)."""
        key_id = key_id.strip()
        if key_id.startswith("yk_"):
            key_id = key_id[3:11]
        with self._db("revoke a key"):
            with self.engine.begin() as conn:
                row = conn.execute(select(api_keys).where(api_keys.c.id == key_id)).first()
                if row is None:
                    raise YolopsError(
                        f"no API key with id {key_id!r}; `yolops keys list` shows the ids"
                    )
                if row.revoked_at is None:
                    conn.execute(
                        update(api_keys)
                        .where(api_keys.c.id == key_id)
                        .values(revoked_at=datetime.now(UTC))
                    )
                row = conn.execute(select(api_keys).where(api_keys.c.id == key_id)).first()
        return _info(row)

    def verify(self, key: str) -> KeyInfo | None:
        """The key's record when ``key`` is a well-formed, known, matching key (revoked
        ones included: check ``active``); None otherwise."""
        match = KEY_RE.match(key or "")
        if match is None:
            return None
        with self._db("check an API key"):
            with self.engine.connect() as conn:
                row = conn.execute(select(api_keys).where(api_keys.c.id == match["id"])).first()
        if row is None or not hmac.compare_digest(row.key_hash, hash_key(key)):
            return None
        return _info(row)

    def ping(self) -> None:
        with self._db("reach the database"):
            with self.engine.connect() as conn:
                conn.execute(select(api_keys.c.id).limit(1)).first()

    def _db(self, what: str):
        return _database_errors(self.engine.url.render_as_string(), what)


class _database_errors:
    """Turn SQLAlchemy's errors into a :class:`DatabaseError` naming the database."""

    def __init__(self, where: str, what: str):
        self.where, self.what = where, what

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, error, _tb) -> bool:
        if error is not None and isinstance(error, SQLAlchemyError):
            raise DatabaseError(
                f"cannot {self.what} in {self.where}: {first_line(error)}"
            ) from None
        return False


def _info(row) -> KeyInfo:
    return KeyInfo(row.id, row.name, row.role, _utc(row.created_at), _utc(row.revoked_at))


def _utc(value: datetime | None) -> datetime | None:
    # SQLite hands datetimes back naive; they were written in UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value
