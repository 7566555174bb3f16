"""The dashboard's OpenAPI document, generated: each operation from its route's declaration
(:mod:`dashboard.routes`: who may use it, its parameters and answers), the report's schemas
from the typed report (:class:`analytics.report.model.Report`), the others from
:mod:`dashboard.schemas`. ``python -m dashboard.openapi`` writes ``web/openapi.json``;
``tests/unit/test_openapi.py`` fails while the committed one differs."""

from __future__ import annotations

import json
import sys
from typing import Any

from dashboard.routes import declared
from dashboard.routes.declare import WEB, error
from dashboard.schemas import PARAMETERS, RESPONSES, SCHEMAS, SECURITY_SCHEMES

DOCUMENT = WEB / "openapi.json"
INFO = {
    "title": "Smart-factory telemetry API",
    "version": "0.1.0",
    "description": "OEE (ISO 22400-2) with the six big losses, energy indicators, anomaly "
    "events and the Smart Factory 3.0-4.0 maturity, computed from stored telemetry. The "
    "report is the same as `factory report --format json`; see docs/analytics.md.",
}
DROPPED = ("title",)
"""JSON Schema keywords of pydantic's output that the document does without."""


def openapi30(schema: Any) -> Any:
    """A JSON Schema (pydantic's, 2020-12) as an OpenAPI 3.0 schema: ``null`` in ``anyOf``
    becomes ``nullable``; titles go."""
    if isinstance(schema, list):
        return [openapi30(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: openapi30(v) for k, v in schema.items() if k not in DROPPED}
    options = out.get("anyOf")
    if options is not None and {"type": "null"} in options:
        rest = [o for o in options if o != {"type": "null"}]
        del out["anyOf"]
        if len(rest) == 1 and "$ref" in rest[0]:
            out["allOf"] = rest
        elif len(rest) == 1:
            out.update(rest[0])
        else:
            out["anyOf"] = rest
        out["nullable"] = True
    return out


def report_schemas() -> dict[str, Any]:
    """The report and every model it holds, as component schemas."""
    from analytics.report.model import Report

    schema = Report.model_json_schema(ref_template="#/components/schemas/{model}",
                                      mode="serialization")  # fmt: skip
    defs = schema.pop("$defs", {})
    return {name: openapi30(s) for name, s in sorted({**defs, "Report": schema}.items())}


def _operation(access: str, operation: dict[str, Any]) -> dict[str, Any]:
    out = dict(operation)
    responses = dict(out.pop("responses"))
    if access == "public":
        out["security"] = []
    else:
        out["x-role"] = access
        responses.setdefault("401", error("Unauthorized"))
        responses.setdefault("403", error("Forbidden"))
    out["responses"] = dict(sorted(responses.items()))
    return out


def document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for d in declared():
        if d.operation is not None:
            paths.setdefault(d.path, {})[d.method.lower()] = _operation(d.access, d.operation)
    return {
        "openapi": "3.0.3",
        "info": INFO,
        "paths": paths,
        "components": {
            "parameters": PARAMETERS,
            "responses": RESPONSES,
            "schemas": {**SCHEMAS, **report_schemas()},
            "securitySchemes": SECURITY_SCHEMES,
        },
        "security": [{"bearer": []}, {"session": []}],
    }


def main() -> int:
    DOCUMENT.write_text(json.dumps(document(), indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {DOCUMENT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
