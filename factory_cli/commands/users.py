"""`factory users`: who may use `factory serve`: users, roles, API tokens, the audit log."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from core.errors import ConfigError
from factory_cli.options import add_command
from factory_cli.settings import Settings

if TYPE_CHECKING:
    from users.database import AuthDb

NAME = "users"
ROLES = ("viewer", "operator", "admin")


def add_parser(sub: object) -> argparse.ArgumentParser:
    p = add_command(
        sub,
        NAME,
        help="users, roles and API tokens of the dashboard; its audit log",
        description=(
            "Manage who may use `factory serve` (FACTORY_SERVE__USERS_DB, "
            "factory-data/users.db). Roles: viewer (reads), operator (also writes: stores "
            "forecasts, later downtime reasons and alert acknowledgements), admin (also the "
            "audit log). Passwords are read from the terminal, or from standard input with "
            "--password-stdin, and kept only as argon2id hashes; a token is shown once."
        ),
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="add a user")
    add.add_argument("name")
    add.add_argument("--role", choices=ROLES, default="viewer")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    pw = actions.add_parser("password", help="set a user's password (ends their sessions)")
    pw.add_argument("name")
    pw.add_argument("--password-stdin", action="store_true")
    role = actions.add_parser("role", help="change a user's role")
    role.add_argument("name")
    role.add_argument("role", choices=ROLES)
    for verb, text in (("disable", "disable a user (ends their sessions and tokens)"),
                       ("enable", "enable a user again (and lift a lock-out)")):  # fmt: skip
        actions.add_parser(verb, help=text).add_argument("name")
    actions.add_parser("list", help="the users")
    token = actions.add_parser("token", help="issue an API token (printed once)")
    token.add_argument("name", help="the user the token acts for")
    token.add_argument("--role", choices=ROLES, help="at most the user's role (default: it)")
    token.add_argument("--label", default="", help="what it is for (e.g. grafana)")
    actions.add_parser("tokens", help="the API tokens (not their secrets)")
    revoke = actions.add_parser("revoke", help="revoke an API token")
    revoke.add_argument("id", type=int)
    audit = actions.add_parser("audit", help="the audit log, newest first")
    audit.add_argument("--limit", type=int, default=50)
    for sp in actions.choices.values():
        sp.add_argument("--format", choices=("table", "json"), default="table")
    return p


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    if not sys.stdin.isatty():
        raise ConfigError("no terminal to ask the password on: use --password-stdin")
    first = getpass.getpass(f"password for {args.name}: ")
    if getpass.getpass("again: ") != first:
        raise ConfigError("the two passwords differ")
    return first


def _when(ms: object) -> str:
    if not isinstance(ms, int):
        return "-"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from users.database import AuthDb, UserError

    cfg = settings.serve
    db = AuthDb(cfg.users_db, actor=f"cli:{getpass.getuser()}")
    try:
        out = _act(db, args)
    except UserError as exc:
        raise ConfigError(str(exc)) from None
    finally:
        db.close()
    if out is not None:
        rows, columns = out
        if args.format == "json":
            print(json.dumps(rows, indent=2))
        else:
            print("  ".join(columns))
            for r in rows:
                print("  ".join(_when(r[c]) if c.endswith(("_ms", "ts")) else str(r[c])
                                for c in columns))  # fmt: skip
    return 0


def _act(db: AuthDb, args: argparse.Namespace) -> tuple[list[dict[str, Any]], list[str]] | None:
    a = args.action
    if a == "add":
        db.add_user(args.name, _password(args), args.role)
        print(f"user {args.name} added as {args.role}", file=sys.stderr)
    elif a == "password":
        db.set_password(args.name, _password(args))
        print(f"password of {args.name} changed; their sessions ended", file=sys.stderr)
    elif a == "role":
        db.set_role(args.name, args.role)
        print(f"{args.name} is now {args.role}", file=sys.stderr)
    elif a in ("disable", "enable"):
        db.set_disabled(args.name, a == "disable")
        print(f"{args.name} {a}d", file=sys.stderr)
    elif a == "list":
        return db.users(), ["name", "role", "disabled", "locked", "created_ms"]
    elif a == "token":
        print(db.issue_token(args.name, args.role, args.label))
        print("keep it now: it is not shown again (send it as 'Authorization: Bearer ...')",
              file=sys.stderr)  # fmt: skip
    elif a == "tokens":
        return db.tokens(), ["id", "user", "role", "label", "revoked", "created_ms",
                             "last_used_ms"]  # fmt: skip
    elif a == "revoke":
        db.revoke_token(args.id)
        print(f"token {args.id} revoked", file=sys.stderr)
    elif a == "audit":
        return db.audit_log(args.limit), ["ts", "user", "action", "ok", "source", "detail"]
    return None
