"""`factory serve`: the app (its routes, the guard, the error middleware, the static files)
and the server. The report cache is :mod:`dashboard.cache`, the routes are
:mod:`dashboard.routes` (their OpenAPI document :mod:`dashboard.openapi`, committed as
``web/openapi.json``). Every asset is served from the package (``dashboard/web``); nothing
is loaded from elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from aiohttp import web

from dashboard.auth import refusal
from dashboard.cache import DASH, Dashboard
from dashboard.routes import declared, groups
from dashboard.routes.declare import WEB

log = logging.getLogger("factory.serve")


@web.middleware
async def errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """Errors as JSON with a reason: HTTP errors as they are, anything else (the store away)
    as 503; nothing is cached."""
    try:
        response: web.StreamResponse = await handler(request)
    except web.HTTPException as exc:
        if exc.status >= 400:
            return refusal(exc.status, exc.reason)
        raise
    except Exception as exc:
        log.exception("request failed")
        return refusal(503, f"the store could not be read: {exc}")
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def make_app(dash: Dashboard, *, tls: bool = False) -> web.Application:
    from dashboard.auth import GUARD, Guard
    from users.database import AuthDb

    cfg = dash.settings.serve
    users = AuthDb(cfg.users_db, max_failures=cfg.max_failures, lockout_s=cfg.lockout_minutes
                   * 60, session_s=cfg.session_minutes * 60, actor="serve")  # fmt: skip
    access = {(d.method, d.path): d.access for d in declared()}
    guard = Guard(users, cfg, access, tls=tls, lang=dash.settings.lang)
    app = web.Application(middlewares=[guard.middleware, errors], client_max_size=64 * 1024)
    app[GUARD] = guard
    app[DASH] = dash
    for group in groups():
        app.add_routes(group.table)
    app.router.add_static("/static/", WEB / "static")

    async def background(app: web.Application) -> Any:
        tasks = [asyncio.create_task(dash.refresher()), asyncio.create_task(dash.forecaster())]
        yield
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app.cleanup_ctx.append(background)

    async def close_users(_app: web.Application) -> None:
        users.close()

    app.on_cleanup.append(close_users)
    return app


async def serve(
    dash: Dashboard,
    host: str,
    port: int,
    *,
    stop: asyncio.Event | None = None,
    ready: asyncio.Event | None = None,
) -> None:
    """Serve until ``stop`` is set (or cancelled); the default report is computed before the
    port opens."""
    from dashboard.auth import listening

    context = listening(dash.settings.serve, host)
    started = time.monotonic()
    await dash.refresh_live()
    if dash.plant is not None:
        await dash.outlook(None, make=True)
    log.info("first report in %.1f s", time.monotonic() - started)
    runner = web.AppRunner(make_app(dash, tls=context is not None), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=context)
    await site.start()
    if ready is not None:
        ready.set()
    try:
        await (stop or asyncio.Event()).wait()
    finally:
        await runner.cleanup()
