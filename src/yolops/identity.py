"""Who is asking, and what may they do: roles, API keys, users and sessions.

Every surface (the prediction API, the labeling studio, pipelines, the CLI) asks the
same question, so the answer lives here, in the workspace database (:mod:`yolops.db`).

Roles: ``admin`` may do everything; ``predict`` calls the prediction API; the
labeling studio has ``viewer`` (reads), ``annotator`` (the first stage),
``reviewer`` (review stages; may also annotate) and ``manager`` (projects, imports,
exports; may review). What a role may do is :data:`PERMISSIONS`, asked through
:func:`allows`.

API keys read ``yk_<id>_<secret>``: ``id`` (8 hex digits) finds the row, the whole
key's SHA-256 must match (compared in constant time). Secrets carry 256 random bits,
so a fast hash is enough: there is nothing to brute-force. Every request reads the
row again, so a revoked key fails on its very next request, whichever process
revoked it.

Users are people who log in with a password (the labeling studio). Passwords are
stored as Argon2id hashes (argon2-cffi, at OWASP's recommended cost); hashes of an
earlier scheme (scrypt) still verify and are replaced at the next login. A login
returns a session token, stored only as its SHA-256, that expires and can be ended.
Disabling a user ends every session of theirs at once.

    keys = KeyStore(workspace.database_url)
    key, info = keys.create("ci-smoke", role="predict")   # key is shown this once
    keys.verify(key)                                      # KeyInfo, or None

    users = UserStore(workspace.database_url)
    users.add("alice", role="annotator", password="...")
    token, session = users.login("alice", "...")          # None when the password is wrong
    users.session_user(token)                             # User, or None once expired/ended
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Column, DateTime, String, Table, insert, select, update

from yolops.db import database_errors, ensure_tables, get_engine, metadata
from yolops.errors import AuthError, ConfigError

ROLES = ("admin", "manager", "reviewer", "annotator", "viewer", "predict")
# What each permission needs; ``admin`` has them all.
PERMISSIONS: dict[str, frozenset[str]] = {
    "predict": frozenset({"predict"}),
    "label.view": frozenset({"manager", "reviewer", "annotator", "viewer"}),
    "label.annotate": frozenset({"manager", "reviewer", "annotator"}),
    "label.review": frozenset({"manager", "reviewer"}),
    "label.manage": frozenset({"manager"}),
}
KEY_RE = re.compile(r"^yk_(?P<id>[0-9a-f]{8})_(?P<secret>[A-Za-z0-9_\-]{20,100})$")
USER_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@\-]{0,63}$")
MIN_PASSWORD = 8
SESSION_TTL = timedelta(hours=12)
# Argon2id at OWASP's recommended minimum (19 MiB, 2 passes, 1 lane): tens of
# milliseconds for a login, memory-hard for a guesser.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)

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

users = Table(
    "users",
    metadata,
    Column("id", String(8), primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("role", String(20), nullable=False),
    Column("password_hash", String(200), nullable=True),  # None: cannot log in yet
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("disabled_at", DateTime(timezone=True), nullable=True),
)

sessions = Table(
    "sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", String(8), nullable=False, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True), nullable=True),
)


def allows(role: str, needed: str) -> bool:
    """Whether a credential with ``role`` may do what needs ``needed`` (a permission
    of :data:`PERMISSIONS`, or a role name: ``admin`` needs admin)."""
    return role == "admin" or role == needed or role in PERMISSIONS.get(needed, ())


@dataclass(frozen=True)
class Actor:
    """Who does something: a person (``alice``), an API key (``key:ci-smoke``) or the
    command line (``cli:<os user>``), with the role that decides what they may do."""

    name: str
    role: str

    def may(self, permission: str) -> bool:
        return allows(self.role, permission)


def check_role(role: str) -> str:
    if role not in ROLES:
        raise ConfigError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    return role


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# -- API keys ---------------------------------------------------------------------------------


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
        """admin may do everything; other roles only what needs that role."""
        return self.active and allows(self.role, role)


class KeyStore:
    """API keys in the workspace database (any SQLAlchemy URL)."""

    def __init__(self, url: str):
        self.url = url
        self.engine = get_engine(url)
        ensure_tables(self.engine, api_keys)

    def create(self, name: str, role: str = "predict") -> tuple[str, KeyInfo]:
        """A new key and its record; the key itself is not stored and cannot be shown again."""
        check_role(role)
        name = name.strip()
        if not name or len(name) > 200:
            raise ConfigError("a key needs a name of 1 to 200 characters (who or what uses it)")
        with self._db("create a key"), self.engine.begin() as conn:
            key_id = _new_id(conn, api_keys.c.id)
            key = f"yk_{key_id}_{secrets.token_urlsafe(32)}"
            now = _now()
            conn.execute(
                insert(api_keys).values(
                    id=key_id, name=name, role=role, key_hash=sha256(key), created_at=now
                )
            )
        return key, KeyInfo(key_id, name, role, now, None)

    def list(self, include_revoked: bool = True) -> list[KeyInfo]:
        query = select(api_keys).order_by(api_keys.c.created_at)
        if not include_revoked:
            query = query.where(api_keys.c.revoked_at.is_(None))
        with self._db("list keys"), self.engine.connect() as conn:
            return [_key_info(row) for row in conn.execute(query)]

    def revoke(self, key_id: str) -> KeyInfo:
        """Revoke by id (the 8 hex digits after ``yk_``, as `yolops keys list` shows)."""
        key_id = key_id.strip()
        if key_id.startswith("yk_"):
            key_id = key_id[3:11]
        where = api_keys.c.id == key_id
        with self._db("revoke a key"), self.engine.begin() as conn:
            row = conn.execute(select(api_keys).where(where)).first()
            if row is None:
                raise AuthError(f"no API key with id {key_id!r}; `yolops keys list` shows the ids")
            if row.revoked_at is None:
                conn.execute(update(api_keys).where(where).values(revoked_at=_now()))
            row = conn.execute(select(api_keys).where(where)).first()
        return _key_info(row)

    def verify(self, key: str) -> KeyInfo | None:
        """The key's record when ``key`` is a well-formed, known, matching key (revoked
        ones included: check ``active``); None otherwise."""
        match = KEY_RE.match(key or "")
        if match is None:
            return None
        with self._db("check an API key"), self.engine.connect() as conn:
            row = conn.execute(select(api_keys).where(api_keys.c.id == match["id"])).first()
        if row is None or not hmac.compare_digest(row.key_hash, sha256(key)):
            return None
        return _key_info(row)

    def ping(self) -> None:
        with self._db("reach the database"), self.engine.connect() as conn:
            conn.execute(select(api_keys.c.id).limit(1)).first()

    def _db(self, what: str):
        return database_errors(self.engine, what)


# -- users and sessions -----------------------------------------------------------------------


@dataclass(frozen=True)
class User:
    id: str
    name: str
    role: str
    created_at: datetime
    disabled_at: datetime | None
    has_password: bool

    @property
    def active(self) -> bool:
        return self.disabled_at is None

    def allows(self, role: str) -> bool:
        return self.active and allows(self.role, role)


@dataclass(frozen=True)
class Session:
    user: User
    created_at: datetime
    expires_at: datetime


class UserStore:
    """People who log in (with a password) and their sessions, in the workspace database."""

    def __init__(self, url: str, session_ttl: timedelta = SESSION_TTL):
        self.url = url
        self.session_ttl = session_ttl
        self.engine = get_engine(url)
        ensure_tables(self.engine, users, sessions)

    def add(self, name: str, role: str, password: str | None = None) -> User:
        """A new user; without a password they cannot log in until one is set."""
        check_role(role)
        if not USER_NAME_RE.match(name or ""):
            raise ConfigError(
                f"user name {name!r}: 1 to 64 letters, digits, '_', '.', '@' or '-', "
                "starting with a letter or digit"
            )
        hashed = hash_password(password) if password is not None else None
        with self._db("add a user"), self.engine.begin() as conn:
            if conn.execute(select(users.c.id).where(users.c.name == name)).first() is not None:
                raise AuthError(f"user {name!r} exists already")
            user_id = _new_id(conn, users.c.id)
            conn.execute(
                insert(users).values(
                    id=user_id, name=name, role=role, password_hash=hashed, created_at=_now()
                )
            )
        return self.get(name)

    def get(self, name: str) -> User:
        with self._db("read a user"), self.engine.connect() as conn:
            row = conn.execute(select(users).where(users.c.name == name)).first()
        if row is None:
            raise AuthError(f"no user {name!r}; `yolops users list` shows them")
        return _user(row)

    def list(self) -> list[User]:
        with self._db("list users"), self.engine.connect() as conn:
            return [_user(r) for r in conn.execute(select(users).order_by(users.c.name))]

    def set_password(self, name: str, password: str) -> User:
        """A new password; the user's open sessions end (whoever knew the old one is out)."""
        user = self.get(name)
        hashed = hash_password(password)
        with self._db("set a password"), self.engine.begin() as conn:
            conn.execute(update(users).where(users.c.id == user.id).values(password_hash=hashed))
            _end_sessions(conn, user.id)
        return self.get(name)

    def set_role(self, name: str, role: str) -> User:
        check_role(role)
        user = self.get(name)
        with self._db("change a role"), self.engine.begin() as conn:
            conn.execute(update(users).where(users.c.id == user.id).values(role=role))
        return self.get(name)

    def disable(self, name: str) -> User:
        """The user can no longer log in, and every session of theirs ends now. Their
        record stays: what they did keeps naming them."""
        user = self.get(name)
        with self._db("disable a user"), self.engine.begin() as conn:
            if user.active:
                conn.execute(update(users).where(users.c.id == user.id).values(disabled_at=_now()))
            _end_sessions(conn, user.id)
        return self.get(name)

    def authenticate(self, name: str, password: str) -> User | None:
        """The active user whose password this is; None otherwise (unknown name, wrong
        password, no password set or disabled: the caller cannot tell which)."""
        with self._db("check a password"), self.engine.connect() as conn:
            row = conn.execute(select(users).where(users.c.name == name)).first()
        stored = row.password_hash if row is not None else None
        # An unknown name costs a hash too, so timing does not tell which names exist.
        ok = verify_password(password, stored or _DUMMY_HASH) and stored is not None
        if not ok or row.disabled_at is not None:
            return None
        if needs_rehash(stored):
            with self._db("update a password hash"), self.engine.begin() as conn:
                conn.execute(
                    update(users)
                    .where(users.c.id == row.id)
                    .values(password_hash=_HASHER.hash(password))
                )
        return _user(row)

    def login(self, name: str, password: str) -> tuple[str, Session] | None:
        """A new session token for ``name`` when the password is right; None otherwise."""
        user = self.authenticate(name, password)
        return None if user is None else self.start_session(user)

    def start_session(self, user: User) -> tuple[str, Session]:
        token = secrets.token_urlsafe(32)
        now = _now()
        expires = now + self.session_ttl
        with self._db("start a session"), self.engine.begin() as conn:
            conn.execute(
                insert(sessions).values(
                    token_hash=sha256(token), user_id=user.id, created_at=now, expires_at=expires
                )
            )
        return token, Session(user, now, expires)

    def session_user(self, token: str) -> User | None:
        """The active user of an open, unexpired session; None otherwise."""
        if not token:
            return None
        query = (
            select(users, sessions.c.expires_at, sessions.c.ended_at)
            .join(sessions, sessions.c.user_id == users.c.id)
            .where(sessions.c.token_hash == sha256(token))
        )
        with self._db("check a session"), self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None or row.ended_at is not None or _utc(row.expires_at) <= _now():
            return None
        user = _user(row)
        return user if user.active else None

    def logout(self, token: str) -> None:
        with self._db("end a session"), self.engine.begin() as conn:
            conn.execute(
                update(sessions)
                .where(sessions.c.token_hash == sha256(token), sessions.c.ended_at.is_(None))
                .values(ended_at=_now())
            )

    def _db(self, what: str):
        return database_errors(self.engine, what)


# -- passwords --------------------------------------------------------------------------------


def hash_password(password: str) -> str:
    """The Argon2id hash of ``password`` (PHC string, salt and parameters included)."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise ConfigError(f"a password needs at least {MIN_PASSWORD} characters")
    return _HASHER.hash(password)


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored`` (Argon2id, or an older scrypt hash)."""
    if stored.startswith("scrypt$"):
        return _verify_scrypt(password, stored)
    try:
        return _HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """Whether ``stored`` is of an older scheme or cost than new hashes."""
    return stored.startswith("scrypt$") or _HASHER.check_needs_rehash(stored)


def _verify_scrypt(password: str, stored: str) -> bool:
    """Hashes written before Argon2id: ``scrypt$n$r$p$salt$hash`` (base64)."""
    try:
        _, n, r, p, salt, digest = stored.split("$")
        expected = base64.b64decode(digest)
        got = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


_DUMMY_HASH = _HASHER.hash("not a password of anyone")


# -- rows -------------------------------------------------------------------------------------


def _new_id(conn, column) -> str:
    """A random 8-hex-digit id not yet in ``column`` (collisions are rare; retry them)."""
    while True:
        new = secrets.token_hex(4)
        if conn.execute(select(column).where(column == new)).first() is None:
            return new


def _end_sessions(conn, user_id: str) -> None:
    conn.execute(
        update(sessions)
        .where(sessions.c.user_id == user_id, sessions.c.ended_at.is_(None))
        .values(ended_at=_now())
    )


def _key_info(row) -> KeyInfo:
    return KeyInfo(row.id, row.name, row.role, _utc(row.created_at), _utc(row.revoked_at))


def _user(row) -> User:
    return User(
        row.id,
        row.name,
        row.role,
        _utc(row.created_at),
        _utc(row.disabled_at),
        row.password_hash is not None,
    )


def _now() -> datetime:
    return datetime.now(UTC)


def _utc(value: datetime | None) -> datetime | None:
    # SQLite hands datetimes back naive; they were written in UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value
