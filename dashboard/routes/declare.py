"""How a route is declared: its handler with who may use it and its OpenAPI operation, and
the pieces operations are made of."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from dashboard.auth import Access

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
JSON = "application/json"
WEB = Path(__file__).resolve().parent.parent / "web"
"""The pages, the script, the style sheet and the OpenAPI document."""
ERROR = {"$ref": "#/components/schemas/Error"}


@dataclass(frozen=True, slots=True)
class Declared:
    method: str
    path: str
    access: Access
    operation: dict[str, Any] | None
    """The OpenAPI operation (None: a page, not part of the API document)."""


class Routes:
    """One group of routes: aiohttp handlers, each with its access and its operation."""

    def __init__(self) -> None:
        self.table = web.RouteTableDef()
        self.declared: list[Declared] = []

    def get(self, path: str, *, access: Access, **operation: Any) -> Callable[[Handler], Handler]:
        return self._route("GET", path, access, operation)

    def post(self, path: str, *, access: Access, **operation: Any) -> Callable[[Handler], Handler]:
        return self._route("POST", path, access, operation)

    def page(self, path: str, *, access: Access) -> Callable[[Handler], Handler]:
        """A page (HTML or a file): guarded like the API, not in its document."""
        return self._route("GET", path, access, None)

    def _route(
        self, method: str, path: str, access: Access, operation: dict[str, Any] | None
    ) -> Callable[[Handler], Handler]:
        def add(handler: Handler) -> Handler:
            self.declared.append(Declared(method, path, access, operation))
            self.table.route(method, path)(handler)
            return handler

        return add


def schema(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def answer(description: str, body: dict[str, Any]) -> dict[str, Any]:
    """A JSON response of the given schema."""
    return {"description": description, "content": {JSON: {"schema": body}}}


def refused(description: str) -> dict[str, Any]:
    """An error response with its own description (the body is an ``Error``)."""
    return answer(description, ERROR)


def obj(required: tuple[str, ...] = (), **properties: Any) -> dict[str, Any]:
    """An object schema (``from_`` stands for the key ``from``)."""
    props = {k.rstrip("_"): v for k, v in properties.items()}
    return {"type": "object", "required": list(required), "properties": props}


def query(name: str, body: dict[str, Any], description: str | None = None, *,
          required: bool = False) -> dict[str, Any]:  # fmt: skip
    out = {"name": name, "in": "query", "required": required, "schema": body}
    if description is not None:
        out["description"] = description
    return out


def json_body(body: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {JSON: {"schema": body}}}


STRING = {"type": "string"}
INTEGER = {"type": "integer"}
NUMBER = {"type": "number"}
BOOLEAN = {"type": "boolean"}
WINDOW = ({"$ref": "#/components/parameters/from"}, {"$ref": "#/components/parameters/to"})
LEVELS = tuple(query(level, schema("Name")) for level in ("site", "area", "line", "machine"))


def error(response: str) -> dict[str, str]:
    """A shared error response (``BadRequest``, ``NotFound``, ``Unavailable``)."""
    return {"$ref": f"#/components/responses/{response}"}


MAX_BODY = 4096


async def read_json(request: web.Request) -> dict[str, Any]:
    """A small JSON object body, or 400."""
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise web.HTTPBadRequest(reason=f"the body may be {MAX_BODY} bytes at most")
    try:
        body = json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise web.HTTPBadRequest(reason="the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(reason="the body must be a JSON object")
    return body
