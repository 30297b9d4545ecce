"""Users, roles, passwords and sessions in the workspace database: what the labeling
studio and every other surface will ask "who is this, what may they do" of."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from yolops.errors import AuthError, ConfigError
from yolops.identity import (
    ROLES,
    KeyStore,
    UserStore,
    allows,
    hash_password,
    verify_password,
)


@pytest.fixture
def url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'yolops.db'}"


def test_roles_allow_their_own_work_and_admin_allows_everything():
    for role in ROLES:
        assert allows("admin", role)
        assert allows(role, role)
    assert not allows("annotator", "reviewer")
    assert not allows("predict", "admin")


@pytest.mark.parametrize(
    "permission, allowed",
    [
        ("label.view", {"admin", "manager", "reviewer", "annotator", "viewer"}),
        ("label.annotate", {"admin", "manager", "reviewer", "annotator"}),
        ("label.review", {"admin", "manager", "reviewer"}),
        ("label.manage", {"admin", "manager"}),
        ("predict", {"admin", "predict"}),
    ],
)
def test_each_permission_is_held_by_exactly_its_roles(permission, allowed):
    assert {role for role in ROLES if allows(role, permission)} == allowed


def test_password_hashes_are_salted_and_verify_only_the_password():
    a, b = hash_password("correct horse"), hash_password("correct horse")
    assert a != b and a.startswith("$argon2id$")
    assert "correct horse" not in a
    assert verify_password("correct horse", a) and verify_password("correct horse", b)
    assert not verify_password("correct horsE", a)
    assert not verify_password("correct horse", "not-a-hash")
    with pytest.raises(ConfigError, match="at least 8"):
        hash_password("short")


def test_an_older_scrypt_hash_still_logs_in_and_is_replaced_by_argon2id(url):
    import base64
    import hashlib

    from sqlalchemy import select, update

    from yolops.identity import users as users_table

    salt = b"0123456789abcdef"
    digest = hashlib.scrypt(b"old-password", salt=salt, n=2**14, r=8, p=1, dklen=32)
    old = "scrypt$16384$8$1${}${}".format(*(base64.b64encode(x).decode() for x in (salt, digest)))
    store = UserStore(url)
    store.add("carol", role="reviewer", password="placeholder-pass")
    with store.engine.begin() as conn:
        conn.execute(update(users_table).values(password_hash=old))
    assert store.authenticate("carol", "wrong-password") is None
    assert store.authenticate("carol", "old-password").name == "carol"
    with store.engine.connect() as conn:
        stored = conn.execute(select(users_table.c.password_hash)).scalar_one()
    assert stored.startswith("$argon2id$") and verify_password("old-password", stored)


def test_login_gives_a_session_that_names_the_user(url):
    users = UserStore(url)
    alice = users.add("alice", role="annotator", password="s3cret-pass")
    assert alice.role == "annotator" and alice.active and alice.has_password
    assert users.login("alice", "wrong-password") is None
    assert users.login("nobody", "s3cret-pass") is None
    token, session = users.login("alice", "s3cret-pass")
    assert session.user.name == "alice" and session.expires_at > session.created_at
    assert users.session_user(token).name == "alice"
    assert users.session_user("not-a-token") is None
    users.logout(token)
    assert users.session_user(token) is None


def test_a_user_without_a_password_cannot_log_in_until_one_is_set(url):
    users = UserStore(url)
    assert not users.add("bob", role="reviewer").has_password
    assert users.login("bob", "anything-at-all") is None
    users.set_password("bob", "a-new-password")
    assert users.login("bob", "a-new-password") is not None


def test_a_new_password_or_disabling_ends_every_session(url):
    users = UserStore(url)
    users.add("carol", role="reviewer", password="first-password")
    token, _ = users.login("carol", "first-password")
    users.set_password("carol", "second-password")
    assert users.session_user(token) is None
    assert users.login("carol", "first-password") is None
    token, _ = users.login("carol", "second-password")
    disabled = users.disable("carol")
    assert not disabled.active and users.session_user(token) is None
    assert users.login("carol", "second-password") is None
    assert [u.name for u in users.list()] == ["carol"]  # the record stays


def test_sessions_expire(url):
    users = UserStore(url, session_ttl=timedelta(seconds=-1))
    users.add("dave", role="annotator", password="dave-password")
    token, _ = users.login("dave", "dave-password")
    assert users.session_user(token) is None


def test_bad_names_roles_and_duplicates_are_clear_errors(url):
    users = UserStore(url)
    with pytest.raises(ConfigError, match="unknown role 'boss'"):
        users.add("erin", role="boss")
    with pytest.raises(ConfigError, match="user name"):
        users.add("../erin", role="annotator")
    users.add("erin", role="annotator")
    with pytest.raises(AuthError, match="exists already"):
        users.add("erin", role="reviewer")
    with pytest.raises(AuthError, match="no user 'frank'"):
        users.set_role("frank", "reviewer")
    assert users.set_role("erin", "reviewer").role == "reviewer"


def test_keys_and_users_share_one_database(url):
    keys, users = KeyStore(url), UserStore(url)
    key, info = keys.create("labeling-script", role="annotator")
    users.add("grace", role="admin", password="grace-password")
    assert keys.verify(key).allows("annotator") and not keys.verify(key).allows("admin")
    assert users.get("grace").allows("reviewer")
    assert [k.id for k in KeyStore(url).list()] == [info.id]
    with pytest.raises(AuthError, match="no API key"):
        keys.revoke("00000000")


def test_users_through_the_command_line(tmp_path, capsys, monkeypatch):
    """Add with a password from stdin, list, change the role, disable: each a clear
    line, bad input an error naming it, never a traceback."""
    import io

    from cli_support import run_cli

    ws = ["--workspace", str(tmp_path / "ws")]
    monkeypatch.setattr("sys.stdin", io.StringIO("hunter2-hunter2\n"))
    code, out = run_cli(
        capsys, "users", "add", "alice", "--role", "annotator", "--password-stdin", *ws
    )
    assert code == 0 and "Added alice (annotator); can log in" in out
    code, out = run_cli(capsys, "users", "add", "bob", "--role", "reviewer", "--no-password", *ws)
    assert code == 0 and "no password yet" in out
    code, out = run_cli(capsys, "users", "role", "bob", "admin", *ws)
    assert code == 0 and "bob is now admin" in out
    code, out = run_cli(capsys, "users", "disable", "alice", *ws)
    assert code == 0 and "Disabled alice" in out
    code, out = run_cli(capsys, "users", "list", "--json", *ws)
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows["alice"]["active"] is False and rows["bob"] == {
        **rows["bob"],
        "role": "admin",
        "has_password": False,
    }
    code, out = run_cli(capsys, "users", "add", "carol", "--role", "boss", "--no-password", *ws)
    assert code == 1 and "unknown role 'boss'" in out and "Traceback" not in out
    users = UserStore(f"sqlite:///{tmp_path / 'ws' / 'yolops.db'}")
    assert users.login("alice", "hunter2-hunter2") is None  # disabled
