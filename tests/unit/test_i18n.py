"""Languages: the Vietnamese catalogue covers every marked message of the code, the dashboard's
script and its pages; numbers, money and dates follow each locale; the language asked for is
the one answered."""

from __future__ import annotations

import re

import pytest
from babel.messages.pofile import read_po

from alerting.notifier import summary
from core.i18n import CATALOGUE, ENGLISH, Lang, accept_language, messages, pick
from tools.messages import extract, untranslated

VI = Lang("vi")
PLACEHOLDER = re.compile(r"\{(\w*)\}")


def test_every_marked_message_has_a_vietnamese_translation() -> None:
    assert untranslated("vi") == [], "run `python -m tools.messages` and translate these"


def test_the_catalogue_holds_only_messages_of_the_code() -> None:
    found = extract()
    with CATALOGUE.open("rb") as fh:
        ids = {str(m.id) for m in read_po(fh) if m.id}
    assert ids - set(found) == set(), "gone from the code: run `python -m tools.messages`"
    # Where the messages come from: Python, the dashboard's script and both static pages.
    places = {where for spots in found.values() for where, _line in spots}
    assert {"factory_cli/render.py", "dashboard/web/static/app.js",
            "dashboard/web/index.html", "dashboard/web/login.html",
            "alerting/rules.py", "alerting/notifier.py"} <= places  # fmt: skip


def test_translations_keep_their_placeholders() -> None:
    for english, vietnamese in messages("vi").items():
        assert sorted(PLACEHOLDER.findall(english)) == sorted(PLACEHOLDER.findall(vietnamese)), (
            english
        )
    assert messages("en") == {}


def test_numbers_money_and_dates_follow_the_locale() -> None:
    assert VI.num(1234.5, 1) == "1.234,5"
    assert ENGLISH.num(1234.5, 1) == "1,234.5"
    assert VI.pct(0.8512) == "85,1%"
    assert ENGLISH.pct(0.8512) == "85.1%"
    assert VI.pct(None) == "không có dữ liệu"
    # VND has no minor unit: no decimals unless asked for (a unit's cost of 1.2 dong).
    assert VI.money(12_345_678.4, "VND") == "12.345.678\xa0₫"
    assert ENGLISH.money(12_345_678.4, "VND") == "₫12,345,678"
    assert VI.money(1.234, "VND", 1) == "1,2\xa0₫"
    assert ENGLISH.money(1234.5, "USD") == "$1,234.50"
    ms = 1_795_960_800_000  # 2026-11-29 14:00 UTC
    assert ENGLISH.when(ms) == "2026-11-29 14:00"
    assert VI.when(ms) == "14:00 29/11/2026"
    assert VI.gettext("{h} h {m} min").format(h=1, m="05") == "1 giờ 05 phút"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("vi-VN,vi;q=0.9,en-US;q=0.8,en;q=0.7", "vi"),
        ("en-GB,en;q=0.9,vi;q=0.8", "en"),
        ("fr-FR,fr;q=0.9,vi;q=0.5", "vi"),
        ("en;q=0.2,vi;q=0.9", "vi"),
        ("fr-FR", None),
        ("", None),
        ("vi;q=abc", "vi"),
    ],
)
def test_the_browsers_language(header: str, expected: str | None) -> None:
    assert accept_language(header) == expected


def test_the_language_asked_for() -> None:
    assert pick("vi_VN") == "vi"
    assert pick(None, "vi") == "vi"
    assert pick("de", "fr") == "en"
    assert pick("EN-us", "vi") == "en"


def test_a_notification_in_vietnamese() -> None:
    from alerting.state import Alert

    alert = Alert(rule="breakdown", subject="s/a/l/m", severity="critical",
                  message="m down", fired_ms=0, value=50.0, threshold=30.0)  # fmt: skip
    head, body = summary(alert, "fired", 60_000, VI)
    assert head == "NGHIÊM TRỌNG breakdown: s/a/l/m"
    assert "phát sinh lúc 00:00 01/01/1970 UTC" in body
    assert "mã cảnh báo: " in body
    english = summary(alert, "fired", 60_000)
    assert english[0] == "CRITICAL breakdown: s/a/l/m"
    assert "fired 1970-01-01 00:00 UTC" in english[1]
