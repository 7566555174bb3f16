"""The dashboard's OpenAPI document is generated from the route declarations and the typed
report, and the committed one is current; every route says who may use it."""

from __future__ import annotations

import json

from dashboard.openapi import DOCUMENT, document
from dashboard.routes import declared


def test_committed_openapi_is_current() -> None:
    assert json.loads(DOCUMENT.read_text()) == document(), "regenerate: python -m dashboard.openapi"


def test_every_route_is_declared_once_with_its_access() -> None:
    routes = [(d.method, d.path) for d in declared()]
    assert len(routes) == len(set(routes))
    access = {(d.method, d.path): d.access for d in declared()}
    assert access[("POST", "/api/login")] == "public"
    assert access[("GET", "/api/audit")] == "admin"
    assert access[("POST", "/api/stops/reason")] == "operator"
    assert {a for (m, _), a in access.items() if m == "POST"} >= {"operator", "viewer"}


def test_the_report_schema_is_the_typed_reports() -> None:
    from analytics.report.model import Report

    schemas = document()["components"]["schemas"]
    report = schemas["Report"]
    assert set(report["properties"]) == {f.alias or n for n, f in Report.model_fields.items()}
    assert report["additionalProperties"] is False
    assert schemas["Figures"]["properties"]["availability"] == {"type": "number",
                                                                 "nullable": True}  # fmt: skip
