"""The users database: hashes at rest, lock-out, sessions that expire, tokens scoped and
revocable, the audit log."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from core.errors import ConfigError
from dashboard.auth import listening
from dashboard.config import ServeConfig
from users.database import AuthDb, Identity, UserError

PASSWORD = "a long enough password"


@pytest.fixture
def db(tmp_path: Path) -> AuthDb:
    out = AuthDb(tmp_path / "users.db", max_failures=3, lockout_s=0.5, session_s=0.5,
                 actor="cli:test")  # fmt: skip
    out.add_user("olga", PASSWORD, "operator")
    out.add_user("vic", PASSWORD, "viewer")
    return out


def test_nothing_secret_is_kept_in_clear(db: AuthDb, tmp_path: Path) -> None:
    signed = db.sign_in("olga", PASSWORD, "10.0.0.1")
    assert not isinstance(signed, str)
    cookie, who = signed
    token = db.issue_token("olga", "viewer", "grafana")
    raw = sqlite3.connect(tmp_path / "users.db")
    dump = "\n".join(raw.iterdump())
    for secret in (PASSWORD, cookie, token, token[4:]):
        assert secret not in dump
    (digest,) = raw.execute("SELECT hash FROM users WHERE name = 'olga'").fetchone()
    assert digest.startswith("$argon2id$")
    assert (tmp_path / "users.db").stat().st_mode & 0o077 == 0
    assert who == Identity("olga", "operator", "session", who.csrf) and who.csrf


def test_wrong_passwords_lock_out_then_the_lock_lifts(db: AuthDb) -> None:
    assert db.sign_in("olga", "wrong", "a") == "wrong user name or password"
    assert db.sign_in("nobody", "wrong", "a") == "wrong user name or password"  # same words
    db.sign_in("olga", "wrong", "a")
    db.sign_in("olga", "wrong", "a")  # the third: locked out
    refused = db.sign_in("olga", PASSWORD, "a")
    assert isinstance(refused, str) and refused.startswith("too many failed sign-ins")
    assert [u["locked"] for u in db.users() if u["name"] == "olga"] == [True]
    time.sleep(0.6)
    assert not isinstance(db.sign_in("olga", PASSWORD, "a"), str)
    actions = [(e["action"], e["ok"], e["detail"]) for e in db.audit_log()]
    assert ("sign_in", False, "wrong password, locked out") in actions
    assert ("sign_in", False, "locked out") in actions
    assert ("sign_in", False, "no such user") in actions
    assert actions[0] == ("sign_in", True, "")


def test_sessions_expire_and_end(db: AuthDb) -> None:
    signed = db.sign_in("vic", PASSWORD, "a")
    assert not isinstance(signed, str)
    cookie, _ = signed
    assert db.session(cookie) is not None
    assert db.session("forged") is None
    time.sleep(0.6)
    assert db.session(cookie) is None
    signed = db.sign_in("vic", PASSWORD, "a")
    assert not isinstance(signed, str)
    db.sign_out(signed[0], "a")
    assert db.session(signed[0]) is None


def test_tokens_are_scoped_revocable_and_follow_their_user(db: AuthDb) -> None:
    with pytest.raises(UserError, match="at most viewer"):
        db.issue_token("vic", "operator")
    token = db.issue_token("olga", "viewer", "grafana")
    who = db.token(token, "a")
    assert who is not None and who.role == "viewer" and who.via == "token"
    full = db.issue_token("olga")
    assert db.token(full, "a") == Identity("olga", "operator", "token")
    db.set_role("olga", "viewer")  # a demoted user's tokens are demoted with them
    assert db.token(full, "a") == Identity("olga", "viewer", "token")
    (first,) = [t["id"] for t in db.tokens() if t["label"] == "grafana"]
    db.revoke_token(first)
    assert db.token(token, "a") is None
    db.set_disabled("olga", True)
    assert db.token(full, "a") is None
    assert db.token("fct_made-up", "a") is None
    with pytest.raises(UserError, match="no token 99"):
        db.revoke_token(99)
    details = [e["detail"] for e in db.audit_log()]
    assert "olga: operator -> viewer" in details and f"token {first} revoked" in details


@pytest.mark.parametrize(
    ("name", "password", "role", "words"),
    [("bad name!", PASSWORD, "viewer", "user name"), ("x" * 65, PASSWORD, "viewer", "user name"),
     ("ok", "short", "viewer", "at least 10"), ("ok", PASSWORD, "root", "role 'root'"),
     ("olga", PASSWORD, "viewer", "exists")],
)  # fmt: skip
def test_bad_users_are_refused(db: AuthDb, name: str, password: str, role: str,
                               words: str) -> None:  # fmt: skip
    with pytest.raises(UserError, match=words):
        db.add_user(name, password, role)  # type: ignore[arg-type]


def test_a_disabled_user_cannot_sign_in(db: AuthDb) -> None:
    db.set_disabled("vic", True)
    assert db.sign_in("vic", PASSWORD, "a") == "this user is disabled; ask an admin"
    db.set_disabled("vic", False)
    assert not isinstance(db.sign_in("vic", PASSWORD, "a"), str)


def test_serving_beyond_loopback_needs_tls_and_no_anonymous(tmp_path: Path) -> None:
    assert listening(ServeConfig(), "127.0.0.1") is None
    assert listening(ServeConfig(anonymous="viewer"), "localhost") is None
    with pytest.raises(ConfigError, match="without TLS"):
        listening(ServeConfig(), "0.0.0.0")
    with pytest.raises(ConfigError, match="cannot load"):
        listening(ServeConfig(tls_cert=str(tmp_path / "x.crt"), tls_key=str(tmp_path / "x.key")),
                  "0.0.0.0")  # fmt: skip
    assert listening(ServeConfig(allow_insecure=True), "0.0.0.0") is None
    with pytest.raises(ValueError, match="go together"):
        ServeConfig(tls_cert="a.crt")
