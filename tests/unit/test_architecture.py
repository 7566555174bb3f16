"""The package layout holds: no import cycles, the contract stays a leaf, each package
imports only from the floors below it (docs/architecture.md), and no module grows past its size."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = (
    "core",
    "telemetry",
    "plant",
    "store",
    "edge_agent",
    "simulators",
    "ingest",
    "analytics",
    "alerting",
    "users",
    "dashboard",
    "factory_cli",
)
# The floors of docs/architecture.md: a package imports only from the floors below it.
MAY_IMPORT = {
    "core": set(),
    "telemetry": {"core"},
    "plant": {"core", "telemetry"},
    "store": {"core", "telemetry", "plant"},
    "edge_agent": {"core", "telemetry"},
    "simulators": {"core", "telemetry", "plant"},
    "ingest": {"core", "telemetry", "store"},
    "analytics": {"core", "telemetry", "plant", "store"},
    "alerting": {"core", "telemetry", "plant", "store", "analytics"},
    "users": {"core"},
    "dashboard": {"core", "telemetry", "plant", "store", "analytics", "alerting", "users"},
    "factory_cli": set(PACKAGES),
}
# Inside analytics, the domains are floors too: a domain imports only those before it.
ANALYTICS_FLOORS = ("config", "oee", "energy", "forecast", "report", "aggregation")
MAX_LINES = 450
MAX_MODULES = 15


def _modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            out[name] = path
    return out


def _imports(path: Path, name: str, known: set[str]) -> set[str]:
    """Our modules that ``path`` imports anywhere in it (module level, in functions, and
    under TYPE_CHECKING alike)."""
    found: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))  # fmt: skip
            targets = [f"{base}.{a.name}" for a in node.names] + [base]
        for t in targets:
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t != name:
                found.add(t)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(path, name, known) for name, path in modules.items()}


def test_no_module_imports_one_that_imports_it_back() -> None:
    graph = _graph()
    # Tarjan's strongly connected components: any with two or more modules is a cycle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert cycles == []


def test_packages_import_only_what_the_architecture_allows() -> None:
    wrong = []
    for name, targets in _graph().items():
        package = name.split(".")[0]
        for t in targets:
            other = t.split(".")[0]
            if other != package and other not in MAY_IMPORT[package]:
                wrong.append(f"{name} imports {t}")
    assert wrong == []


def test_analytics_domains_import_only_the_domains_below_them() -> None:
    wrong = []
    for name, targets in _graph().items():
        parts = name.split(".")
        if parts[0] != "analytics" or len(parts) < 2:
            continue
        floor = ANALYTICS_FLOORS.index(parts[1])
        for t in targets:
            other = t.split(".")
            inside = other[0] == "analytics" and len(other) > 1
            if inside and ANALYTICS_FLOORS.index(other[1]) > floor:
                wrong.append(f"{name} imports {t}")
    assert wrong == []


def test_no_package_folder_holds_more_modules_than_a_reader_can_place() -> None:
    crowded = {}
    for package in PACKAGES:
        for folder in [
            ROOT / package,
            *(p.parent for p in (ROOT / package).rglob("*/__init__.py")),
        ]:
            n = len([p for p in folder.glob("*.py") if p.name != "__init__.py"])
            if n > MAX_MODULES:
                crowded[str(folder.relative_to(ROOT))] = n
    assert crowded == {}


def test_no_module_is_larger_than_one_concept_needs() -> None:
    long = {
        name: n
        for name, path in _modules().items()
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def test_every_store_backend_provides_the_whole_backend_interface() -> None:
    import importlib

    from store import BACKENDS, parse_store_url

    kinds = set()
    for name in BACKENDS:
        module = importlib.import_module(name)
        for attr in ("KIND", "SCHEMES", "PREFIX", "parse_url", "open_store", "open_reader"):
            assert hasattr(module, attr), f"{name} lacks {attr}"
        kinds.add(module.KIND)
        url = {"sqlite": "sqlite:///x.db", "influxdb": "influxdb://h/db",
               "influxdb2": "influxdb2://h/b?org=o"}[module.KIND]  # fmt: skip
        assert parse_store_url(url).kind == module.KIND
    assert len(kinds) == len(BACKENDS)


def test_metrics_escape_what_the_exposition_format_needs() -> None:
    from core.metrics import render

    text = render(lambda: [("x_total", "counter", "help", 3.0)], {"id": 'a"b\\c\nd'})
    assert 'x_total{id="a\\"b\\\\c\\nd"} 3.0' in text
    assert "\nd" not in text.replace("\\nd", "")


def test_tests_share_helpers_through_conftest_and_helpers_never_each_other() -> None:
    """A test module imports from ``tests/helpers/`` (and gets fixtures from conftest.py),
    never from another test module."""
    wrong = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            wrong += [f"{path.relative_to(ROOT)} imports {n}" for n in names
                      if n.split(".")[-1].startswith("test_")]  # fmt: skip
    assert wrong == []
