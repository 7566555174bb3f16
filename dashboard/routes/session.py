"""Sign-in and sign-out, who is asking, and the audit log (admins)."""

from __future__ import annotations

import asyncio
import json

from aiohttp import web

from dashboard.auth import (
    ATTEMPTS_PER_MINUTE,
    COOKIE,
    GUARD,
    IDENTITY,
    MAX_LOGIN_BYTES,
    refusal,
    source,
)
from dashboard.routes.declare import (
    BOOLEAN,
    INTEGER,
    STRING,
    Routes,
    answer,
    error,
    json_body,
    obj,
    query,
    refused,
    schema,
)
from users.database import Identity

routes = Routes()


@routes.post(
    "/api/login",
    access="public",
    operationId="login",
    summary="Sign in: sets the session cookie (HttpOnly, SameSite=Strict, Secure on TLS) and "
    "returns the CSRF token for writes",
    requestBody=json_body(obj(("user", "password"), user={"type": "string", "maxLength": 64},
                              password={"type": "string", "maxLength": 1024})),
    responses={
        "200": answer("Signed in", obj(("user", "role", "csrf"), user=STRING, role=STRING,
                                       csrf=STRING)),
        "400": error("BadRequest"),
        "401": refused("Wrong user name or password, a disabled user, or a lock-out after "
                       "repeated failures"),
        "413": refused("More than 4 KiB"),
        "429": refused("Too many sign-ins from this address in a minute"),
    },
)  # fmt: skip
async def login(request: web.Request) -> web.Response:
    guard = request.app[GUARD]
    if guard.limited(source(request)):
        return refusal(429, f"more than {ATTEMPTS_PER_MINUTE} sign-ins a minute from "
                           "this address: wait a minute")  # fmt: skip
    if (request.content_length or 0) > MAX_LOGIN_BYTES:
        return refusal(413, f"a sign-in is at most {MAX_LOGIN_BYTES} bytes")
    try:
        body = json.loads(await request.content.read(MAX_LOGIN_BYTES + 1))
        user, password = body["user"], body["password"]
        if not isinstance(user, str) or not isinstance(password, str):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        return refusal(400, 'send JSON {"user": "...", "password": "..."}')
    result = await asyncio.to_thread(guard.db.sign_in, user[:64], password[:1024],
                                     source(request))  # fmt: skip
    if isinstance(result, str):
        return refusal(401, result)
    cookie, who = result
    response = web.json_response({"user": who.user, "role": who.role, "csrf": who.csrf})
    response.set_cookie(COOKIE, cookie, max_age=int(guard.cfg.session_minutes * 60),
                        httponly=True, samesite="Strict", secure=guard.tls,
                        path="/")  # fmt: skip
    return response


@routes.post(
    "/api/logout",
    access="viewer",
    operationId="logout",
    summary="End the session (cookie sign-ins need X-CSRF-Token)",
    responses={"200": answer("Signed out", obj(("signed_out",), signed_out=BOOLEAN))},
)
async def logout(request: web.Request) -> web.Response:
    cookie = request.cookies.get(COOKIE)
    if cookie:
        await asyncio.to_thread(request.app[GUARD].db.sign_out, cookie, source(request))
    response = web.json_response({"signed_out": True})
    response.del_cookie(COOKIE, path="/")
    return response


@routes.get(
    "/api/me",
    access="viewer",
    operationId="me",
    summary="Who is asking: user, role, how (session, token, anonymous) and the session's CSRF "
    "token",
    responses={"200": answer("The identity", schema("Me"))},
)
async def me(request: web.Request) -> web.Response:
    who: Identity = request[IDENTITY]
    return web.json_response({"user": who.user, "role": who.role, "via": who.via,
                              "csrf": who.csrf})  # fmt: skip


EVENT = obj(("ts", "user", "action", "ok", "source", "detail"), ts=INTEGER, user=STRING,
            action=STRING, ok=BOOLEAN, source=STRING, detail=STRING)  # fmt: skip


@routes.get(
    "/api/audit",
    access="admin",
    operationId="audit",
    summary="The audit log, newest first (admins): sign-ins, token use, role changes, writes",
    parameters=[query("limit", STRING, "1 to 10000 (default 200)")],
    responses={"200": answer("Events", obj(("events",), events={"type": "array", "items": EVENT})),
               "400": error("BadRequest")},
)  # fmt: skip
async def audit(request: web.Request) -> web.Response:
    limit = request.query.get("limit", "200")
    if not limit.isascii() or not limit.isdigit() or not 1 <= int(limit) <= 10_000:
        return refusal(400, "limit: a whole number from 1 to 10000")
    events = await asyncio.to_thread(request.app[GUARD].db.audit_log, int(limit))
    return web.json_response({"events": events})
