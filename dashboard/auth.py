"""Sign-in, roles, CSRF and security headers for `factory serve` (the users database is
:mod:`users.database`).

- Every path except the public routes (the sign-in page and its files, the OpenAPI document,
  ``/api/health``, ``/api/i18n``, ``/api/login``) needs an identity: a session cookie, an
  ``Authorization: Bearer`` API token, or anonymous read-only access when
  ``FACTORY_SERVE__ANONYMOUS=viewer``. Without one, the API answers
  401 and a page redirects to ``/login``.
- Each route declares who may use it beside its handler (:mod:`dashboard.routes`): anyone,
  or a viewer, operator or admin; a path no route declares needs a viewer to read and an
  admin to write. A cookie-authenticated write must carry the session's CSRF token in
  ``X-CSRF-Token`` (SameSite=Strict cookies already keep other sites out; the token also
  refuses a write scripted from a page that did not load the session's token).
- Sign-ins are limited per address (:data:`ATTEMPTS_PER_MINUTE`) besides the per-user
  lock-out, and every answer carries the security headers (:func:`headers`).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import quote

from aiohttp import web

from core.errors import ConfigError
from dashboard.config import ServeConfig
from telemetry.urls import is_loopback_host
from users.database import AuthDb, Identity

Access = Literal["public", "viewer", "operator", "admin"]
"""Who may use a route (:mod:`dashboard.routes` declares it beside each): anyone, or a
signed-in user (or token) of at least this role."""

COOKIE = "factory_session"
PUBLIC_FILES = frozenset({"/static/login.js", "/static/style.css", "/static/favicon.svg",
                          "/static/i18n.js"})  # fmt: skip
"""What the sign-in page needs before anyone has signed in; every other file needs a viewer."""
ATTEMPTS_PER_MINUTE = 20
MAX_LOGIN_BYTES = 4096
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")  # fmt: skip


def headers(response: web.StreamResponse, *, tls: bool) -> None:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    if tls:
        response.headers["Strict-Transport-Security"] = "max-age=31536000"


def refusal(status: int, message: str) -> web.Response:
    """An error answer: ``{"error": message}`` with its status."""
    return web.json_response({"error": message}, status=status)


def source(request: web.Request) -> str:
    return request.remote or "-"


class Guard:
    """The middleware and the sign-in routes, for one users database."""

    def __init__(
        self,
        db: AuthDb,
        cfg: ServeConfig,
        access: Mapping[tuple[str, str], Access],
        *,
        tls: bool,
        lang: str = "en",
    ) -> None:
        self.access = dict(access)
        """Who may use each (method, path): what the routes declare."""
        self.lang = lang
        """The plant's language (setting ``lang``): for browsers that ask for neither."""
        self.db = db
        self.cfg = cfg
        self.tls = tls
        self._attempts: dict[str, deque[float]] = {}

    async def identify(self, request: web.Request) -> Identity | None:
        auth = request.headers.get("Authorization", "")
        if auth:
            kind, _, value = auth.partition(" ")
            if kind.lower() != "bearer" or not value.strip():
                return None
            return await asyncio.to_thread(self.db.token, value.strip(), source(request))
        cookie = request.cookies.get(COOKIE)
        if cookie:
            found = await asyncio.to_thread(self.db.session, cookie)
            if found is not None:
                return found
        if self.cfg.anonymous == "viewer":
            return Identity("-", "viewer", "anonymous")
        return None

    @web.middleware
    async def middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        response = await self._checked(request, handler)
        headers(response, tls=self.tls)
        return response

    async def _checked(self, request: web.Request, handler: Any) -> web.StreamResponse:
        path = request.path
        write = request.method not in ("GET", "HEAD", "OPTIONS")
        method = "GET" if request.method == "HEAD" else request.method
        need = self.access.get((method, path), "admin" if write else "viewer")
        if need == "public" or (not write and path in PUBLIC_FILES):
            return await handler(request)  # type: ignore[no-any-return]
        who = await self.identify(request)
        if who is None:
            if path.startswith("/api/") or request.method != "GET":
                why = ("the token is unknown, revoked or malformed"
                       if "Authorization" in request.headers else
                       "sign in first (POST /api/login, or an API token as "
                       "'Authorization: Bearer ...')")  # fmt: skip
                return refusal(401, why)
            return web.Response(
                status=303, headers={"Location": f"/login?next={quote(request.path_qs, safe='')}"}
            )
        if not who.may(need):
            return refusal(403, f"this needs the role {need}; {who.user} is a {who.role}")
        if write and who.via == "session" and request.headers.get("X-CSRF-Token") != who.csrf:
            return refusal(403, "the CSRF token is missing or wrong: reload the page")
        request[IDENTITY] = who
        return await handler(request)  # type: ignore[no-any-return]

    def limited(self, address: str) -> bool:
        """Record a sign-in from ``address``; True: more than allowed in a minute."""
        now = time.monotonic()
        seen = self._attempts.setdefault(address, deque())
        while seen and now - seen[0] > 60:
            seen.popleft()
        seen.append(now)
        if len(self._attempts) > 10_000:
            self._attempts = {address: seen}
        return len(seen) > ATTEMPTS_PER_MINUTE


GUARD = web.AppKey("guard", Guard)
IDENTITY = web.RequestKey("identity", Identity)


def record(request: web.Request, action: str, ok: bool, detail: str) -> None:
    """Audit a write by whoever made the request."""
    guard = request.app[GUARD]
    who: Identity = request[IDENTITY]
    guard.db.audit(who.user, action, ok, source(request), detail)


def listening(cfg: ServeConfig, host: str) -> ssl.SSLContext | None:
    """The TLS context (None: plain HTTP); refuses a non-loopback address without TLS or
    with anonymous access unless ``allow_insecure`` says so."""
    context = None
    if cfg.tls_cert and cfg.tls_key:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            context.load_cert_chain(cfg.tls_cert, cfg.tls_key)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"FACTORY_SERVE__TLS_CERT/TLS_KEY: cannot load: {exc}") from None
    if not is_loopback_host(host) and not cfg.allow_insecure:
        if context is None:
            raise ConfigError(
                f"refusing to serve {host} without TLS: set FACTORY_SERVE__TLS_CERT and "
                "FACTORY_SERVE__TLS_KEY (deploy/mosquitto/make-certs.sh makes a plant CA), "
                "listen on 127.0.0.1 behind a TLS proxy, or set "
                "FACTORY_SERVE__ALLOW_INSECURE=true"
            )
        if cfg.anonymous != "none":
            raise ConfigError(
                f"refusing anonymous access on {host}: anyone on the network could read; "
                "set FACTORY_SERVE__ANONYMOUS=none or FACTORY_SERVE__ALLOW_INSECURE=true"
            )
    return context
