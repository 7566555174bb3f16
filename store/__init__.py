"""The store: one module per backend, each with its writer, its reader and its URL rules.

- :mod:`store.base`: the contract (:class:`Store` writes, :class:`Reader` reads, a
  :class:`StoreEndpoint` says where).
- :mod:`store.series`: what readers return (numpy arrays per machine).
- :mod:`store.errors`: :class:`StoreError` (retry or drop), :class:`ReaderError`.
- :mod:`store.sqlite`, :mod:`store.influx_v1`, :mod:`store.influx_v2`: the backends.

A store URL is parsed by the backend that owns its scheme:
``sqlite:///relative/path.db`` / ``sqlite:////absolute/path.db``,
``influxdb://[user:pass@]host:port/database`` (``influxdbs://``: HTTPS; v1 API),
``influxdb2://host:port/bucket?org=ORG`` (``influxdb2s://``; v2 API, token from
``FACTORY_INFLUX_TOKEN``). Passwords are :class:`pydantic.SecretStr`, masked everywhere.

Ingest, the analytics and the KPI write-back all open the store through
:func:`open_store` and :func:`open_reader`. Importing this package costs only the
standard library and pydantic; each backend imports its client library when first used.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import AsyncIterator
from typing import Annotated, Protocol
from urllib.parse import SplitResult, urlsplit

from pydantic import BeforeValidator, PlainSerializer, SecretStr

from store.base import Reader, Store, StoreEndpoint
from store.errors import ReaderError, StoreError
from telemetry.urls import UrlError, masked

BACKENDS: tuple[str, ...] = ("store.sqlite", "store.influx_v1", "store.influx_v2")
"""The backend modules. A backend is one module with ``KIND``, ``SCHEMES``, ``PREFIX``,
``parse_url``, ``open_store`` and ``open_reader`` (:class:`Backend`); adding a backend
means adding its module and naming it here."""


class Backend(Protocol):
    """What a backend module provides."""

    KIND: str
    SCHEMES: tuple[str, ...]
    PREFIX: str
    """How its URLs start, for messages: ``sqlite:///``."""

    def parse_url(self, raw: str, parts: SplitResult) -> StoreEndpoint: ...

    def open_store(self, endpoint: StoreEndpoint, *, token: SecretStr | None) -> Store: ...

    def open_reader(self, endpoint: StoreEndpoint, *, token: SecretStr | None) -> Reader: ...


def _backends() -> list[Backend]:
    return [importlib.import_module(name) for name in BACKENDS]


def backend(kind: str) -> Backend:
    """The module of a backend, by its ``KIND``."""
    for module in _backends():
        if kind == module.KIND:
            return module
    raise UrlError(f"no store backend {kind!r}")


def parse_store_url(value: object) -> StoreEndpoint:
    """Parse and check a store URL; :class:`UrlError` says what is wrong (never the password)."""
    if isinstance(value, StoreEndpoint):
        return value
    if not isinstance(value, str):
        raise UrlError("expected a URL such as sqlite:///factory-data/telemetry.db")
    raw = value.strip()
    parts = urlsplit(raw)
    modules = _backends()
    for module in modules:
        if parts.scheme in module.SCHEMES:
            return module.parse_url(raw, parts)
    prefixes = [m.PREFIX for m in modules]
    starts = ", ".join(prefixes[:-1]) + " or " + prefixes[-1]
    raise UrlError(f"{masked(raw)!r}: the store URL must start with {starts}")


def open_store(endpoint: StoreEndpoint, *, token: SecretStr | None = None) -> Store:
    """The writer for a store URL (not yet opened); ``token`` is for ``influxdb2://``."""
    return backend(endpoint.kind).open_store(endpoint, token=token)


def open_reader(endpoint: StoreEndpoint, *, token: SecretStr | None = None) -> Reader:
    """The reader for a store URL."""
    return backend(endpoint.kind).open_reader(endpoint, token=token)


@contextlib.asynccontextmanager
async def opened(
    endpoint: StoreEndpoint, *, token: SecretStr | None = None
) -> AsyncIterator[Store]:
    """The writer for a store URL, open while in the block and closed after it."""
    store = open_store(endpoint, token=token)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


def _validate(value: object) -> object:
    try:
        return parse_store_url(value)
    except UrlError as exc:
        raise ValueError(str(exc)) from None


StoreUrl = Annotated[StoreEndpoint, BeforeValidator(_validate), PlainSerializer(str)]


class StoreSettings(Protocol):
    """Where a service finds the store (``factory_cli.settings.Settings`` is one); each
    service's settings protocol adds the sections it reads."""

    @property
    def store_url(self) -> StoreUrl: ...

    @property
    def influx_token(self) -> SecretStr | None: ...


"""A settings field holding a store URL."""

__all__ = [
    "BACKENDS",
    "Backend",
    "Reader",
    "ReaderError",
    "Store",
    "StoreEndpoint",
    "StoreError",
    "StoreSettings",
    "StoreUrl",
    "backend",
    "open_reader",
    "open_store",
    "opened",
    "parse_store_url",
]
