"""The dashboard's routes, a module per group, each route declared with who may use it and
its OpenAPI operation beside its handler (:class:`Routes`). The guard
(:mod:`dashboard.auth`) takes each route's access from here, and the OpenAPI document
(:mod:`dashboard.openapi`) is generated from the same declarations.

Groups: ``pages`` (the pages, health, languages), ``report`` (the report, a machine, the
windows), ``forecast``, ``alerts``, ``stops`` (and their reasons), ``session`` (sign-in,
who, the audit log).
"""

from __future__ import annotations

from dashboard.routes.declare import Declared, Routes


def groups() -> list[Routes]:
    """Every group of routes, in the order the document lists them."""
    from dashboard.routes import alerts, forecast, pages, report, session, stops

    return [pages.routes, report.routes, forecast.routes, session.routes, alerts.routes,
            stops.routes]  # fmt: skip


def declared() -> list[Declared]:
    return [d for g in groups() for d in g.declared]
