"""`factory serve`: the live dashboard and its JSON API."""

from __future__ import annotations

import argparse
import sys
import time

from core.clock import HOUR_MS
from core.errors import ConfigError
from factory_cli.options import add_command, add_plant, iso_ms, load_plant_or_none, positive_float
from factory_cli.runtime import READER_STOP_DEADLINE_S, at_least_info, run_until_stopped
from factory_cli.settings import Settings

NAME = "serve"


def add_parser(sub: object) -> argparse.ArgumentParser:
    p = add_command(
        sub,
        NAME,
        help="the live dashboard and its JSON API (OpenAPI at /openapi.json)",
        description=(
            "Serve the dashboard (plant overview with OEE, A, P, Q per line and machine, a "
            "machine's state timeline, losses and their Pareto, energy, the maturity radar "
            "with its evidence) and the JSON API it draws from: /api/report, /api/timeline, "
            "/api/health, documented at /openapi.json. The report of the default window is "
            "computed at start and refreshed every --refresh seconds; the page updates "
            "itself. Address parameters ?from=&to=&by=&line= choose another view. Users "
            "sign in (`factory users add NAME --role viewer|operator|admin`; scripts use "
            "API tokens, `factory users token NAME`); FACTORY_SERVE__ANONYMOUS=viewer lets "
            "anyone read. On an address other than loopback it needs TLS "
            "(FACTORY_SERVE__TLS_CERT, FACTORY_SERVE__TLS_KEY). See docs/security.md."
        ),
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    add_plant(p)
    p.add_argument("--hours", type=positive_float, default=8.0,
                   help="default window: the last HOURS (default 8)")  # fmt: skip
    p.add_argument("--from", dest="start", type=iso_ms, help="a fixed default window: start")
    p.add_argument("--to", dest="end", type=iso_ms, help="a fixed default window: end")
    p.add_argument(
        "--refresh",
        type=positive_float,
        default=30.0,
        help="seconds between recomputations of the live report (default 30)",
    )
    return p


def run(args: argparse.Namespace, settings: Settings) -> int:
    from dashboard.app import serve
    from dashboard.cache import Dashboard

    fixed = None
    if args.start is not None or args.end is not None:
        end = args.end if args.end is not None else int(time.time() * 1000)
        start = args.start if args.start is not None else end - int(args.hours * HOUR_MS)
        if end <= start:
            raise ConfigError("--from/--to: the window must end after it starts")
        fixed = (start, end)
    dash = Dashboard(
        settings,
        plant=load_plant_or_none(args.plant or settings.plant),
        hours=args.hours,
        fixed=fixed,
        refresh_s=args.refresh,
    )
    from dashboard.auth import listening
    from users.database import AuthDb

    cfg = settings.serve
    tls = listening(cfg, args.host) is not None  # refuses an unsafe address before any work
    accounts = AuthDb(cfg.users_db, actor="serve")
    try:
        nobody = not accounts.users()
    finally:
        accounts.close()
    at_least_info()
    scheme = "https" if tls else "http"
    print(f"dashboard on {scheme}://{args.host}:{args.port}/ (computing the first report…)",
          file=sys.stderr)  # fmt: skip
    if nobody and cfg.anonymous == "none":
        print(f"no users in {cfg.users_db} yet: add one with `factory users add NAME --role "
              "admin` to sign in", file=sys.stderr)  # fmt: skip
    try:
        run_until_stopped(
            lambda stop: serve(dash, args.host, args.port, stop=stop),
            deadline_s=READER_STOP_DEADLINE_S,
        )
    except OSError as exc:
        raise ConfigError(f"cannot listen on {args.host}:{args.port}: {exc}") from None
    return 0
