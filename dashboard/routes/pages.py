"""The pages, the OpenAPI document, health and the page's language."""

from __future__ import annotations

import json

from aiohttp import web

from dashboard.auth import GUARD
from dashboard.routes.declare import STRING, WEB, Routes, answer, obj, query, refused

routes = Routes()


@routes.page("/", access="viewer")
async def index(_request: web.Request) -> web.FileResponse:
    return web.FileResponse(WEB / "index.html")


@routes.page("/login", access="public")
async def login_page(_request: web.Request) -> web.FileResponse:
    return web.FileResponse(WEB / "login.html")


@routes.page("/openapi.json", access="public")
async def openapi(_request: web.Request) -> web.Response:
    return web.json_response(json.loads((WEB / "openapi.json").read_text()))


@routes.get(
    "/api/health",
    access="public",
    operationId="health",
    summary="The server is up",
    responses={"200": answer("up", obj(("status",), status={"type": "string", "enum": ["ok"]}))},
)
async def health(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


LANG = {"type": "string", "enum": ["en", "vi"]}


@routes.get(
    "/api/i18n",
    access="public",
    operationId="i18n",
    summary="The page's language and its catalogue: ?lang= (en or vi), else the browser's "
    "Accept-Language, else the setting lang",
    parameters=[query("lang", LANG)],
    responses={
        "200": answer("the language", obj(
            ("lang", "locale", "languages", "messages"),
            lang=LANG,
            locale=STRING,
            languages={"type": "object", "additionalProperties": STRING},
            messages={"type": "object", "additionalProperties": STRING,
                      "description": "English text: its translation (empty for English)"},
        )),
        "400": refused("an unknown lang"),
    },
)  # fmt: skip
async def i18n(request: web.Request) -> web.Response:
    """The page's language: ``?lang=`` (the picker), else the browser's
    (``Accept-Language``), else the setting; with its catalogue."""
    from core.i18n import LANGUAGES, NAMES, accept_language, messages, pick

    asked = request.query.get("lang")
    if asked is not None and asked not in LANGUAGES:
        return web.json_response({"error": f"lang: one of {', '.join(LANGUAGES)}"}, status=400)
    fallback = request.app[GUARD].lang
    code = pick(asked or accept_language(request.headers.get("Accept-Language")), fallback)
    return web.json_response({"lang": code, "locale": LANGUAGES[code].replace("_", "-"),
                              "languages": NAMES, "messages": messages(code)})  # fmt: skip
