"""Languages: English and Vietnamese, from a gettext catalogue, with the locale's formats.

English is the source language: a message's id is its English text. Code marks what a person
reads with ``_("...")`` (``_ = lang.gettext``, translated where it is said) or ``N_("...")``
(marked only: fixed texts translated where they are shown, e.g. the maturity advice that the
dashboard shows). The dashboard's JavaScript marks with ``t("...")`` and its HTML is translated
text node by text node; all of them are in the one catalogue
``core/locale/vi/LC_MESSAGES/factory.po``, compiled in memory at first use (no build
step, no binary in the repository). ``python -m tools.messages`` (a tool of the repository,
not installed) extracts every marked message and brings the catalogue up to date (new
messages with an empty translation, gone ones dropped); ``tests/unit/test_i18n.py`` fails
while one has no Vietnamese translation.

Numbers, percentages, money and dates are formatted by babel with the locale's conventions:
``vi`` writes 1.234,5 and 85,1% and VND without decimals (12.345.678 ₫); ``en`` writes
1,234.5. The language is chosen by ``--lang``, then the setting ``lang`` (``FACTORY_LANG``);
the dashboard also follows the browser's language (``Accept-Language``) or the page's picker.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Literal

# babel is imported where it is used: modules that only mark messages (N_) import this one,
# and a process that never translates or formats should not pay for babel at start-up.
if TYPE_CHECKING:
    from babel.messages.catalog import Catalog
    from babel.support import Translations

Language = Literal["en", "vi"]
LANGUAGES: dict[str, str] = {"en": "en_US", "vi": "vi_VN"}
"""Our language codes and the babel locale whose formats each uses."""
NAMES = {"en": "English", "vi": "Tiếng Việt"}
DATETIME = {"en": "yyyy-MM-dd HH:mm", "vi": "HH:mm dd/MM/yyyy"}
CATALOGUE = Path(__file__).resolve().parent / "locale" / "vi" / "LC_MESSAGES" / "factory.po"
DOMAIN = "factory"


def N_(message: str) -> str:
    """Mark ``message`` for the catalogue without translating it here."""
    return message


@functools.cache
def _catalogue(code: str) -> Catalog | None:
    from babel.messages.pofile import read_po

    if code == "en":
        return None
    with CATALOGUE.open("rb") as fh:
        return read_po(fh, locale=LANGUAGES[code], domain=DOMAIN)


@functools.cache
def messages(code: str) -> dict[str, str]:
    """The translations of ``code`` as {English: translation} (empty for English)."""
    cat = _catalogue(code)
    if cat is None:
        return {}
    return {str(m.id): str(m.string) for m in cat if m.id and m.string and not m.fuzzy}


@functools.cache
def _translations(code: str) -> Translations:
    from babel.messages.catalog import Catalog
    from babel.messages.mofile import write_mo
    from babel.support import Translations

    cat = _catalogue(code)
    buf = io.BytesIO()
    if cat is None:
        cat = Catalog(locale="en_US", domain=DOMAIN)
    write_mo(buf, cat)
    buf.seek(0)
    return Translations(buf, domain=DOMAIN)


def pick(*wanted: str | None) -> Language:
    """The first of ``wanted`` that we speak (``vi-VN``, ``vi_VN``, ``vi`` all are ``vi``),
    English when none is."""
    for w in wanted:
        if not w:
            continue
        base = w.strip().lower().replace("_", "-").split("-", 1)[0]
        if base == "vi":
            return "vi"
        if base == "en":
            return "en"
    return "en"


def accept_language(header: str | None) -> str | None:
    """The first language of an ``Accept-Language`` header that we speak, by its q-values."""
    if not header:
        return None
    ranked = []
    for i, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        ranked.append((-q, i, tag.strip()))
    for _q, _i, tag in sorted(ranked):
        base = tag.lower().split("-", 1)[0]
        if base in LANGUAGES:
            return base
    return None


@dataclass(frozen=True)
class Lang:
    """One language: its messages and its formats of numbers, money and dates."""

    code: Language = "en"

    @property
    def locale(self) -> str:
        return LANGUAGES[self.code]

    def gettext(self, message: str) -> str:
        return _translations(self.code).gettext(message)

    def num(self, value: float | int | None, digits: int | None = 0, none: str = "-") -> str:
        """``value`` with ``digits`` decimals (None: up to three, as needed) and the locale's
        separators."""
        from babel.numbers import format_decimal

        if value is None:
            return none
        if digits is None:
            return format_decimal(value, locale=self.locale)
        pattern = "#,##0" + ("." + "0" * digits if digits > 0 else "")
        return format_decimal(value, format=pattern, locale=self.locale)

    def pct(self, ratio: float | None, digits: int = 1, none: str | None = None) -> str:
        from babel.numbers import format_percent

        if ratio is None:
            return self.gettext("no data") if none is None else none
        pattern = "#,##0" + ("." + "0" * digits if digits > 0 else "") + "%"
        return format_percent(ratio, format=pattern, locale=self.locale)

    def money(self, value: float | None, currency: str, digits: int | None = None) -> str:
        """Money in ``currency``: its own decimals (VND none, USD two) unless ``digits``."""
        from babel.numbers import format_currency

        if value is None:
            return "-"
        if digits is None:
            return format_currency(value, currency, locale=self.locale)
        pattern = "#,##0" + ("." + "0" * digits if digits > 0 else "") + "\xa0¤"
        return format_currency(
            value, currency, format=pattern, locale=self.locale, currency_digits=False
        )

    def when(self, ms: int | float, tz: tzinfo = UTC) -> str:
        """A moment, to the minute, in the locale's order."""
        from babel.dates import format_datetime

        moment = datetime.fromtimestamp(ms / 1000, tz)
        return format_datetime(moment, DATETIME[self.code], tzinfo=tz, locale=self.locale)


ENGLISH = Lang("en")


def lang(code: str | None) -> Lang:
    return Lang(pick(code))
