"""Keeping the Vietnamese catalogue complete: ``python -m tools.messages`` extracts every
message marked in the code (``_``, ``N_``), the dashboard's script (``t``, ``N``) and its static
pages, and brings ``core/locale/vi/LC_MESSAGES/factory.po`` up to date (new messages with an
empty translation, gone ones dropped). A tool of the repository, not of the installed product:
it reads the source tree by path."""

from __future__ import annotations

import html.parser
import sys
from collections.abc import Iterable
from pathlib import Path

from core import i18n
from core.i18n import CATALOGUE, DOMAIN, LANGUAGES, messages

ROOT = Path(__file__).resolve().parent.parent
# Where messages are marked (relative to the repository): every package that is installed.
SOURCES = ("core", "telemetry", "plant", "store", "edge_agent", "simulators", "ingest",
           "analytics", "alerting", "users", "dashboard", "factory_cli")  # fmt: skip

KEYWORDS = {"_": None, "N_": None, "gettext": None}
JS_KEYWORDS = {"t": None, "N": None}
ATTRIBUTES = ("placeholder", "title", "aria-label")


class _HtmlTexts(html.parser.HTMLParser):
    """Every text a person reads in a static page: text nodes and a few attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, int]] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "code"):
            self._skip += 1
        for name, value in attrs:
            if name in ATTRIBUTES and value and value.strip():
                self.found.append((value.strip(), self.getpos()[0]))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "code"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        text = " ".join(data.split())
        if any(c.isalpha() for c in text) and not self._skip:
            self.found.append((text, self.getpos()[0]))


def extract(root: Path = ROOT) -> dict[str, list[tuple[str, int]]]:
    """Every marked message: {English: [(file, line), ...]}."""
    from babel.messages.extract import extract_from_file

    found: dict[str, list[tuple[str, int]]] = {}

    def add(msg: str | Iterable[str], where: str, line: int) -> None:
        ids = [msg] if isinstance(msg, str) else list(msg)
        for m in ids[:1]:
            if m:
                found.setdefault(m, []).append((where, line))

    for package in SOURCES:
        for path in sorted((root / package).rglob("*.py")):
            rel = str(path.relative_to(root))
            for line, msg, _comments, _ctx in extract_from_file("python", path, KEYWORDS):
                add(msg, rel, line)
    for path in sorted((root / "dashboard" / "web" / "static").glob("*.js")):
        rel = str(path.relative_to(root))
        for line, msg, _comments, _ctx in extract_from_file("javascript", path, JS_KEYWORDS):
            add(msg, rel, line)
    for path in sorted((root / "dashboard" / "web").glob("*.html")):
        parser = _HtmlTexts()
        parser.feed(path.read_text())
        for text, line in parser.found:
            add(text, str(path.relative_to(root)), line)
    return found


def untranslated(code: str = "vi", root: Path = ROOT) -> list[str]:
    """Marked messages without a translation in ``code``'s catalogue."""
    have = messages(code)
    return sorted(m for m in extract(root) if m not in have)


def update(root: Path = ROOT) -> tuple[int, int]:
    """Bring the catalogue up to date with the code: (messages added, messages dropped)."""
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import read_po, write_po

    with CATALOGUE.open("rb") as fh:
        old = read_po(fh, locale=LANGUAGES["vi"], domain=DOMAIN)
    have = {str(m.id): m for m in old if m.id}
    found = extract(root)
    new = Catalog(locale=LANGUAGES["vi"], domain=DOMAIN, project="smart-factory-telemetry")
    new.header_comment = old.header_comment
    new.creation_date = old.creation_date
    new.revision_date = old.revision_date
    new.fuzzy = False
    for msgid, where in sorted(found.items(), key=lambda kv: kv[1][0]):
        before = have.get(msgid)
        new.add(msgid, before.string if before else "", locations=where[:3])
    with CATALOGUE.open("wb") as fh:
        write_po(fh, new, width=100, include_lineno=False)
    i18n._catalogue.cache_clear()
    i18n._translations.cache_clear()
    messages.cache_clear()
    return len(set(found) - set(have)), len(set(have) - set(found))


def main() -> int:
    added, dropped = update()
    missing = untranslated()
    print(f"{CATALOGUE.relative_to(ROOT)}: {added} new, {dropped} dropped; "
          f"{len(missing)} without a translation")  # fmt: skip
    for m in missing:
        print(f"  {m!r}")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
