"""Who may use `factory serve`: users, their roles, sessions, API tokens and the audit log.

One SQLite file (``FACTORY_SERVE__USERS_DB``) beside the data, read and written only by the
server and `factory users`:

- **users**: name, role (``viewer`` < ``operator`` < ``admin``), password as an argon2id
  hash (argon2-cffi), disabled flag, failed sign-ins and a lock-out time;
- **sessions**: a random 256-bit id in an HttpOnly, SameSite=Strict cookie (Secure on TLS);
  only its SHA-256 is kept, with the user, a CSRF token and the expiry;
- **tokens**: API tokens for scripts and Grafana, ``fct_`` + 256 random bits, shown once,
  kept as SHA-256 (a token is random, so a fast hash suffices), scoped to a role no higher
  than their user's, revocable;
- **audit**: every sign-in (success and failure), token use, role change and write, with
  who, when, from where and what.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from core.errors import FactoryError

Role = Literal["viewer", "operator", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "operator", "admin")
TOKEN_PREFIX = "fct_"
NAME_RE = r"^[A-Za-z0-9_.@-]{1,64}$"
MIN_PASSWORD = 10

_DDL = (
    "CREATE TABLE IF NOT EXISTS users (name TEXT PRIMARY KEY, role TEXT NOT NULL, "
    "hash TEXT NOT NULL, disabled INTEGER NOT NULL DEFAULT 0, failures INTEGER NOT NULL "
    "DEFAULT 0, locked_until INTEGER NOT NULL DEFAULT 0, created_ms INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, user TEXT NOT NULL, "
    "csrf TEXT NOT NULL, expires_ms INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS tokens (id INTEGER PRIMARY KEY, hash TEXT UNIQUE NOT NULL, "
    "user TEXT NOT NULL, role TEXT NOT NULL, label TEXT NOT NULL, created_ms INTEGER NOT "
    "NULL, last_used_ms INTEGER, revoked INTEGER NOT NULL DEFAULT 0)",
    "CREATE TABLE IF NOT EXISTS audit (id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, "
    "user TEXT NOT NULL, action TEXT NOT NULL, ok INTEGER NOT NULL, source TEXT NOT NULL, "
    "detail TEXT NOT NULL)",
)


class UserError(FactoryError, ValueError):
    """A user-management request that cannot be done; the message says why."""


@dataclass(frozen=True, slots=True)
class Identity:
    """Who is asking: a user (by session or token), or anonymous (``user`` "-")."""

    user: str
    role: Role
    via: Literal["session", "token", "anonymous"]
    csrf: str | None = None
    """The session's CSRF token (cookie sign-ins only)."""

    def may(self, role: Role) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _now() -> int:
    return int(time.time() * 1000)


def _hasher() -> Any:
    from argon2 import PasswordHasher

    return PasswordHasher()  # argon2id, the library's (RFC 9106) defaults


class AuthDb:
    """The users database. Safe to share between the server's threads (one lock)."""

    def __init__(self, path: str | Path, *, max_failures: int = 5, lockout_s: float = 900.0,
                 session_s: float = 8 * 3600.0, actor: str = "cli") -> None:  # fmt: skip
        self.path = Path(path)
        self.actor = actor
        """Who user-management calls are audited as (`factory users`: cli:<login>)."""
        self.max_failures = max_failures
        self.lockout_ms = int(lockout_s * 1000)
        self.session_ms = int(session_s * 1000)
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA busy_timeout=5000")
        for statement in _DDL:
            self._conn.execute(statement)
        self.path.chmod(0o600)

    def close(self) -> None:
        self._conn.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _rows(self, q: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._conn.execute(q, params).fetchall()

    # -- users

    def add_user(self, name: str, password: str, role: Role) -> None:
        if not re.fullmatch(NAME_RE, name):
            raise UserError(f"user name {name!r}: use 1 to 64 of A-Z a-z 0-9 _ . @ -")
        if role not in ROLES:
            raise UserError(f"role {role!r}: one of {', '.join(ROLES)}")
        if len(password) < MIN_PASSWORD:
            raise UserError(f"the password needs at least {MIN_PASSWORD} characters")
        digest = _hasher().hash(password)
        try:
            with self._tx() as c:
                c.execute("INSERT INTO users (name, role, hash, created_ms) VALUES (?, ?, ?, ?)",
                          (name, role, digest, _now()))  # fmt: skip
        except sqlite3.IntegrityError:
            raise UserError(f"user {name!r} exists; `factory users password` changes it") from None
        self.audit(self.actor, "user.add", True, "cli", f"{name} as {role}")

    def _user(self, name: str) -> tuple[Any, ...]:
        rows = self._rows("SELECT name, role, hash, disabled, failures, locked_until FROM users "
                          "WHERE name = ?", (name,))  # fmt: skip
        if not rows:
            raise UserError(f"no user {name!r}; `factory users list` shows them")
        return rows[0]

    def set_password(self, name: str, password: str) -> None:
        self._user(name)
        if len(password) < MIN_PASSWORD:
            raise UserError(f"the password needs at least {MIN_PASSWORD} characters")
        with self._tx() as c:
            c.execute("UPDATE users SET hash = ?, failures = 0, locked_until = 0 WHERE name = ?",
                      (_hasher().hash(password), name))  # fmt: skip
            c.execute("DELETE FROM sessions WHERE user = ?", (name,))
        self.audit(self.actor, "user.password", True, "cli", name)

    def set_role(self, name: str, role: Role) -> None:
        if role not in ROLES:
            raise UserError(f"role {role!r}: one of {', '.join(ROLES)}")
        old = self._user(name)[1]
        with self._tx() as c:
            c.execute("UPDATE users SET role = ? WHERE name = ?", (role, name))
        self.audit(self.actor, "user.role", True, "cli", f"{name}: {old} -> {role}")

    def set_disabled(self, name: str, disabled: bool) -> None:
        self._user(name)
        with self._tx() as c:
            c.execute("UPDATE users SET disabled = ?, failures = 0, locked_until = 0 "
                      "WHERE name = ?", (int(disabled), name))  # fmt: skip
            if disabled:
                c.execute("DELETE FROM sessions WHERE user = ?", (name,))
        self.audit(self.actor, "user.disable" if disabled else "user.enable", True, "cli", name)

    def users(self) -> list[dict[str, Any]]:
        now = _now()
        return [
            {"name": n, "role": r, "disabled": bool(d), "locked": lu > now, "created_ms": c}
            for n, r, d, lu, c in self._rows(
                "SELECT name, role, disabled, locked_until, created_ms FROM users ORDER BY name"
            )
        ]

    # -- sign-in and sessions

    def sign_in(self, name: str, password: str, source: str) -> tuple[str, Identity] | str:
        """A new session (its cookie value and who), or why not (the same words whether the
        user exists or not, so that names cannot be probed)."""
        refused = "wrong user name or password"
        rows = self._rows("SELECT role, hash, disabled, failures, locked_until FROM users "
                          "WHERE name = ?", (name,))  # fmt: skip
        now = _now()
        if not rows:
            _hasher().hash(password)  # the same time as a real check
            self.audit(name[:64], "sign_in", False, source, "no such user")
            return refused
        role, digest, disabled, failures, locked_until = rows[0]
        if locked_until > now:
            self.audit(name, "sign_in", False, source, "locked out")
            minutes = -(-(locked_until - now) // 60_000)
            return f"too many failed sign-ins: try again in {minutes} min, or ask an admin"
        from argon2.exceptions import VerifyMismatchError

        try:
            _hasher().verify(digest, password)
        except (VerifyMismatchError, ValueError):
            failures += 1
            lock = now + self.lockout_ms if failures >= self.max_failures else 0
            with self._tx() as c:
                c.execute("UPDATE users SET failures = ?, locked_until = ? WHERE name = ?",
                          (0 if lock else failures, lock, name))  # fmt: skip
            self.audit(name, "sign_in", False, source,
                       "wrong password" + (", locked out" if lock else ""))  # fmt: skip
            return refused
        if disabled:
            self.audit(name, "sign_in", False, source, "disabled")
            return "this user is disabled; ask an admin"
        session, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        with self._tx() as c:
            c.execute("UPDATE users SET failures = 0 WHERE name = ?", (name,))
            c.execute("DELETE FROM sessions WHERE expires_ms < ?", (now,))
            c.execute("INSERT INTO sessions VALUES (?, ?, ?, ?)",
                      (_sha(session), name, csrf, now + self.session_ms))  # fmt: skip
        self.audit(name, "sign_in", True, source, "")
        return session, Identity(name, role, "session", csrf)

    def session(self, cookie: str) -> Identity | None:
        rows = self._rows(
            "SELECT s.user, u.role, s.csrf, s.expires_ms, u.disabled FROM sessions s "
            "JOIN users u ON u.name = s.user WHERE s.id = ?", (_sha(cookie),)
        )  # fmt: skip
        if not rows or rows[0][3] <= _now() or rows[0][4]:
            return None
        user, role, csrf, _, _ = rows[0]
        return Identity(user, role, "session", csrf)

    def sign_out(self, cookie: str, source: str) -> None:
        who = self.session(cookie)
        with self._tx() as c:
            c.execute("DELETE FROM sessions WHERE id = ?", (_sha(cookie),))
        if who is not None:
            self.audit(who.user, "sign_out", True, source, "")

    # -- API tokens

    def issue_token(self, user: str, role: Role | None = None, label: str = "") -> str:
        user_role = self._user(user)[1]
        role = role or user_role
        if role not in ROLES or ROLES.index(role) > ROLES.index(user_role):
            raise UserError(f"a token of {user} (a {user_role}) may be at most {user_role}")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self._tx() as c:
            c.execute(
                "INSERT INTO tokens (hash, user, role, label, created_ms) VALUES (?, ?, ?, ?, ?)",
                (_sha(token), user, role, label[:200], _now()),
            )
        self.audit(self.actor, "token.issue", True, "cli", f"{user} as {role} {label!r}")
        return token

    def revoke_token(self, token_id: int) -> None:
        with self._tx() as c:
            if c.execute("UPDATE tokens SET revoked = 1 WHERE id = ?", (token_id,)).rowcount == 0:
                raise UserError(f"no token {token_id}; `factory users tokens` lists them")
        self.audit(self.actor, "token.revoke", True, "cli", str(token_id))

    def tokens(self) -> list[dict[str, Any]]:
        return [
            {"id": i, "user": u, "role": r, "label": lb, "created_ms": c, "last_used_ms": lu,
             "revoked": bool(rv)}
            for i, u, r, lb, c, lu, rv in self._rows(
                "SELECT id, user, role, label, created_ms, last_used_ms, revoked FROM tokens "
                "ORDER BY id")
        ]  # fmt: skip

    def token(self, token: str, source: str) -> Identity | None:
        """Who a bearer token speaks for: the lower of its role and its user's current one."""
        rows = self._rows(
            "SELECT t.id, t.user, t.role, u.role, t.revoked, u.disabled, t.last_used_ms "
            "FROM tokens t JOIN users u ON u.name = t.user WHERE t.hash = ?", (_sha(token),)
        )  # fmt: skip
        if not rows:
            self.audit("-", "token", False, source, "unknown token")
            return None
        tid, user, role, user_role, revoked, disabled, last = rows[0]
        if revoked or disabled:
            why = "revoked" if revoked else "of a disabled user"
            self.audit(user, "token", False, source, f"token {tid} {why}")
            return None
        now = _now()
        if last is None or now - last > 60_000:  # token use, audited once a minute at most
            with self._tx() as c:
                c.execute("UPDATE tokens SET last_used_ms = ? WHERE id = ?", (now, tid))
            self.audit(user, "token", True, source, f"token {tid}")
        lower = min(ROLES.index(role), ROLES.index(user_role))
        return Identity(user, ROLES[lower], "token")

    # -- audit

    def audit(self, user: str, action: str, ok: bool, source: str, detail: str) -> None:
        with self._tx() as c:
            c.execute("INSERT INTO audit (ts, user, action, ok, source, detail) VALUES "
                      "(?, ?, ?, ?, ?, ?)", (_now(), user, action, int(ok), source[:100],
                                             detail[:500]))  # fmt: skip

    def audit_log(self, limit: int = 200) -> list[dict[str, Any]]:
        return [
            {"ts": ts, "user": u, "action": a, "ok": bool(ok), "source": s, "detail": d}
            for ts, u, a, ok, s, d in self._rows(
                "SELECT ts, user, action, ok, source, detail FROM audit ORDER BY id DESC "
                "LIMIT ?", (limit,))
        ]  # fmt: skip
