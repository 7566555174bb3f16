"""The dashboard in Vietnamese and in English, in Chromium: the language comes from the
browser, the page's picker or the setting; no message shows untranslated; numbers and money
are written the locale's way."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from core.i18n import NAMES, messages
from simulators.fleet import Fleet
from tests.helpers.web import chromium_page, dashboard, get, settled, shot

pytestmark = pytest.mark.integration

# Every text a person sees: visible text nodes, and the labels of inputs and charts.
SHOWN = """() => {
  const out = [];
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walk.nextNode()) {
    const node = walk.currentNode, parent = node.parentElement;
    const text = node.nodeValue.replace(/\\s+/g, " ").trim();
    if (!text || !parent || parent.closest("[hidden], script, style")) continue;
    out.push(text);
  }
  for (const e of document.querySelectorAll("[placeholder], [aria-label], [title]")) {
    for (const a of ["placeholder", "aria-label", "title"]) {
      if (e.getAttribute(a)) out.push(e.getAttribute(a));
    }
  }
  out.push(document.title);
  return out;
}"""


def untranslated(shown: list[str], catalogue: dict[str, str]) -> list[str]:
    """Texts that are an English message with a different Vietnamese translation."""
    return sorted({s for s in shown if s in catalogue and catalogue[s] != s})


async def look(page: Any, url: str) -> tuple[list[str], list[str]]:
    """(texts shown, messages the page asked for without a translation) at ``url``."""
    await page.goto(url)
    if "/login" not in url:
        await settled(page)
    else:
        await page.wait_for_selector("html[lang]", state="attached")
        await page.wait_for_function("document.title !== 'Sign in: Factory OEE and energy'")
    return await page.evaluate(SHOWN), await page.evaluate("[...window.i18nMissing]")


async def test_the_dashboard_in_vietnamese_and_english(
    small_store: tuple[Fleet, Path],
    tmp_path: Path,
) -> None:
    fleet, db = small_store
    vi = messages("vi")
    machine = "plant1/assembly/line1/press01"
    async with dashboard(fleet, db) as base:
        _, report = await get(f"{base}/api/report")
        oee = report["oee"]["plant"]["oee"]
        async with chromium_page(base, locale="vi-VN") as (page, problems):
            shown, missing = await look(page, base + "/")
            assert await page.evaluate("document.documentElement.lang") == "vi"
            tiles = dict(await page.eval_on_selector_all(
                "#kpis .tile, #energy-kpis .tile",
                "ts => ts.map(t => [t.children[0].textContent, t.children[1].textContent])",
            ))  # fmt: skip
            await shot(page, tmp_path, "dashboard-vi.png")
            on_machine, missing_machine = await look(page, f"{base}/?path={machine}")
            stops = await page.eval_on_selector_all("#stops tbody tr", "rs => rs.length")
            on_login, missing_login = await look(page, base + "/login")
        assert problems == [], problems
        assert missing == [] and missing_machine == [] and missing_login == [], (
            missing, missing_machine, missing_login)  # fmt: skip
        for texts in (shown, on_machine, on_login):
            assert untranslated(texts, vi) == []
        assert "OEE và năng lượng nhà máy" in shown and "Cảnh báo" in shown
        assert "Dòng thời gian" in " ".join(on_machine) and stops > 0
        assert "Đăng nhập" in on_login
        # 81,6 % (decimal comma); the bill in dong with dots between thousands.
        assert tiles["OEE"] == f"{oee * 100:.1f} %".replace(".", ",")
        cost = report["energy"]["cost"]["plant"]["cost"]
        assert tiles["Chi phí năng lượng"] == f"{cost:,.0f}\xa0₫".replace(",", ".")

        # An English browser: English throughout, nothing Vietnamese; the picker switches.
        async with chromium_page(base, locale="en-GB") as (page, problems):
            shown, missing = await look(page, base + "/")
            assert await page.evaluate("document.documentElement.lang") == "en"
            english_tile = await page.text_content("#kpis .tile b")
            await page.select_option("#lang", "vi")
            await page.wait_for_load_state("load")
            await settled(page)
            picked = await page.text_content("h1")
            # The choice stays for the next visit; ?lang= chooses too.
            await page.goto(base + "/")
            await settled(page)
            kept = await page.text_content("h1")
            back, _ = await look(page, base + "/?lang=en")
        assert problems == [], problems
        assert missing == []
        assert "Factory OEE and energy" in shown and "Alerts" in shown
        letters = re.compile("[ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệịỉĩọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ]")
        vietnamese = [s for s in shown if s != NAMES["vi"] and letters.search(s)]
        assert vietnamese == [], "Vietnamese on the English page"
        assert english_tile == f"{oee * 100:.1f} %"
        assert picked == kept == "OEE và năng lượng nhà máy"
        assert "Factory OEE and energy" in back

        # The API: ?lang= first, then Accept-Language, then the setting (en here).
        async with aiohttp.ClientSession() as s:
            asks = (({"Accept-Language": "vi-VN,vi;q=0.9"}, "", "vi"),
                    ({"Accept-Language": "fr-FR"}, "", "en"),
                    ({"Accept-Language": "vi"}, "?lang=en", "en"))  # fmt: skip
            for headers, query, expected in asks:
                async with s.get(f"{base}/api/i18n{query}", headers=headers) as r:
                    body = await r.json()
                    assert r.status == 200 and body["lang"] == expected, (headers, body)
            async with s.get(f"{base}/api/i18n?lang=xx") as r:
                assert r.status == 400 and "en, vi" in (await r.json())["error"]
