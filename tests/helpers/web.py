"""The dashboard under test: `factory serve` in-process on a free port, API calls, tokens and
users, and headless Chromium (pages, waits, screenshots for the docs)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

from dashboard.app import serve
from dashboard.cache import Dashboard
from dashboard.config import ServeConfig
from factory_cli.settings import Settings
from simulators.fleet import Fleet
from tests.helpers.servers import free_port, require_binary
from users.database import AuthDb, Role

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"]  # fmt: skip


@contextlib.asynccontextmanager
async def dashboard(
    fleet: Fleet, db: Path, *, anonymous: bool = True, **serve_settings: Any
) -> AsyncIterator[str]:
    """`factory serve` of ``db``; ``anonymous``: anyone may read (the drawing tests), else
    sign-in or a token (:func:`token`) is needed. Users live in ``users.db`` beside ``db``."""
    cfg = ServeConfig(users_db=str(db.parent / "users.db"),
                      anonymous="viewer" if anonymous else "none", **serve_settings)  # fmt: skip
    settings = Settings(store_url=f"sqlite:///{db}", serve=cfg)  # type: ignore[arg-type]
    dash = Dashboard(settings, plant=fleet.plant, fixed=(fleet.start_ms, fleet.end_ms))
    port = free_port()
    ready = asyncio.Event()
    task = asyncio.create_task(serve(dash, "127.0.0.1", port, ready=ready))
    await asyncio.wait_for(ready.wait(), 120)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def get(url: str, token: str | None = None) -> tuple[int, Any]:
    auth = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as s, s.get(url, headers=auth) as r:
        return r.status, await r.json()


def token(db: Path, role: Role = "admin") -> str:
    """An API token of a user with ``role`` in the users database beside ``db``."""
    users = AuthDb(db.parent / "users.db", actor="test")
    try:
        if not any(u["name"] == f"test-{role}" for u in users.users()):
            users.add_user(f"test-{role}", "a long test password", role)
        return users.issue_token(f"test-{role}", role, "test")
    finally:
        users.close()


@contextlib.asynccontextmanager
async def chromium_page(base: str, locale: str = "en-US") -> AsyncIterator[tuple[Any, list[str]]]:
    """A page in Debian's headless Chromium whose language is ``locale``; the list collects
    console errors and page errors."""
    from playwright.async_api import async_playwright

    chromium = require_binary("chromium", "chromium", "/usr/bin")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        page = await browser.new_page(viewport={"width": 1400, "height": 1000}, locale=locale)
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.set_default_timeout(30_000)
        try:
            yield page, problems
        finally:
            await browser.close()


async def settled(page: Any) -> None:
    """Wait until the view is fully drawn (overview, heatmap, comparison)."""
    await page.wait_for_selector("body[data-complete=true]", state="attached", timeout=60_000)


async def until_true(page: Any, expression: str, timeout_s: float = 30.0) -> None:
    """Wait until ``expression`` is true in the page (Playwright's wait_for_function compiles
    its predicate with eval, which the page's Content-Security-Policy rightly refuses)."""
    deadline = time.monotonic() + timeout_s
    while not await page.evaluate(expression):
        assert time.monotonic() < deadline, f"still false after {timeout_s} s: {expression}"
        await asyncio.sleep(0.05)


async def shot(page: Any, tmp_path: Path, name: str, selector: str | None = None) -> None:
    """A screenshot of the page (or of one element of it)."""
    target = page if selector is None else await page.query_selector(selector)
    full = {"full_page": True} if selector is None else {}
    await target.screenshot(path=str(tmp_path / name), **full)
    assert (tmp_path / name).stat().st_size > 10_000
    if SHOTS is not None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        await target.screenshot(path=str(SHOTS / name))


PASSWORD = "a long test password"


def users(db: Path) -> AuthDb:
    out = AuthDb(db.parent / "users.db", actor="test")
    have = {u["name"] for u in out.users()}
    for name, role in (("olga", "operator"), ("vic", "viewer"), ("ada", "admin")):
        if name not in have:
            out.add_user(name, PASSWORD, role)  # type: ignore[arg-type]
        out.set_disabled(name, False)  # also lifts a lock-out of an earlier test
    return out


async def form_sign_in(page: Any, base: str, user: str) -> None:
    """Sign in through the /login form and wait for the dashboard to be drawn."""
    await page.goto(base + "/login")
    await page.fill("#user", user)
    await page.fill("#password", PASSWORD)
    await page.click("#submit")
    await page.wait_for_url(f"{base}/")
    await settled(page)


SHOTS = (
    Path(os.environ.get("FACTORY_SCREENSHOTS", ""))
    if os.environ.get("FACTORY_SCREENSHOTS")
    else None
)
"""Where the browser tests leave their screenshots for docs/views.md (``make screenshots``)."""
