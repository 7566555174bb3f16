"""Operator downtime reasons end to end: an operator signs in, explains a stop that arrived
without a reason, and the Pareto, the line's losses and the stored accounts change; the
audit log says who did it; only an admin may change someone else's reason."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import aiohttp
import pytest

from analytics.oee.accounts import Window
from analytics.oee.reasons import REASON
from analytics.report.build import compute_report
from core.clock import iso
from plant.model import Plant
from simulators.fleet import Fleet
from store import parse_store_url
from store.sqlite import SQLiteStore
from telemetry.codec import Message
from tests.helpers.scenario import NOW1, NOW2, NOW3, PLANT, T0, H, write_until
from tests.helpers.web import (
    chromium_page,
    dashboard,
    form_sign_in,
    get,
    shot,
    token,
    until_true,
    users,
)

pytestmark = pytest.mark.integration

PRESS2 = "plant1/assembly/line1/press02"
STOP = T0 + 1 * H  # press02 IDLE without a reason until 09:15 (135 min)


async def post(base: str, body: dict[str, object], bearer: str) -> tuple[int, dict[str, object]]:
    async with (
        aiohttp.ClientSession() as s,
        s.post(
            base + "/api/stops/reason", json=body, headers={"Authorization": f"Bearer {bearer}"}
        ) as r,  # fmt: skip
    ):
        return r.status, await r.json()


def losses(doc: dict[str, object], key: str) -> dict[str, float]:
    figures = doc["oee"]["lines"][key]  # type: ignore[index]
    return figures["losses_min"]  # type: ignore[no-any-return]


async def test_an_operator_explains_a_stop_and_every_figure_follows(
    scenario_fleet: tuple[Plant, list[Message], Fleet],
    tmp_path: Path,
) -> None:
    plant, messages, fleet = scenario_fleet
    db = tmp_path / "t.db"
    store = SQLiteStore(db)
    await store.open()
    try:
        for lo, hi in ((T0, NOW1), (NOW1, NOW2), (NOW2, NOW3)):
            await write_until(store, messages, lo, hi)
    finally:
        await store.close()
    env = {**os.environ, "FACTORY_STORE_URL": f"sqlite:///{db}"}
    env.pop("FACTORY_PLANT", None)
    url = parse_store_url(f"sqlite:///{db}")
    window = Window(T0, NOW3)

    (db.parent / "plant.toml").write_text(PLANT)

    async def factory_kpi(*args: str) -> None:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "factory_cli.main", "aggregate", "--once", *args, "--plant",
            str(db.parent / "plant.toml"), env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)  # fmt: skip
        _, err = await asyncio.wait_for(proc.communicate(), 120)
        assert proc.returncode == 0, err.decode()

    # The stored accounts, as `factory aggregate` keeps them, before anyone explains anything.
    await factory_kpi("--from", iso(T0), "--to", iso(NOW3))
    before, _ = await compute_report(url, window, plant=plant)
    assert any(s.source == "accounts" for s in before.sources)
    line1 = before.oee.lines["plant1/assembly/line1"]
    assert line1.downtime_by_reason_min["unspecified"] == pytest.approx(135, abs=1)

    users(db).close()
    viewer, other = token(db, "viewer"), token(db, "operator")
    body = {"machine": PRESS2, "start_ms": STOP, "reason": "changeover", "comment": "die change"}
    async with dashboard(fleet, db, anonymous=False) as base:
        assert (await post(base, body, viewer))[0] == 403
        status, doc = await get(base + f"/api/stops?from={T0}&to={NOW3}", viewer)
        assert status == 200 and doc["unexplained"] == 1
        (stop,) = [s for s in doc["stops"] if s["unexplained"]]
        assert (stop["machine"], stop["start_ms"], stop["state"]) == (PRESS2, STOP, "IDLE")
        assert stop["minutes"] == pytest.approx(135, abs=0.6)
        for bad, words in (
            ({**body, "reason": "coffee"}, "not in the plant's reason catalogue"),
            ({**body, "start_ms": STOP + 1}, "has no stop that begins at"),
            ({**body, "machine": "a/b"}, "site/area/line/machine"),
            ({**body, "start_ms": 30541962529019087402003595264}, "epoch milliseconds"),
        ):
            status, answer = await post(base, bad, other)
            assert status in (400, 409) and words in str(answer["error"]), answer

        async with chromium_page(base) as (page, problems):
            await form_sign_in(page, base, "olga")
            row = f'#stops-table tr[data-stop="{PRESS2}@{STOP}"]'
            await page.wait_for_selector(row)
            assert "unspecified" in await page.inner_text("#pareto")
            await page.select_option(f"{row} select.reason", "changeover")
            await page.fill(f"{row} input.comment", "die change")
            await page.click(f"{row} button.explain")
            await until_true(
                page, "document.querySelector('#pareto').innerText.includes('changeover')"
            )
            await until_true(page, f"document.querySelector('{row}').innerText.includes('olga')")
            assert "unspecified" not in await page.inner_text("#pareto")
            await shot(page, tmp_path, "dashboard-stops.png", "#stop-reasons")
            assert problems == [], problems

        status, after = await get(base + f"/api/report?from={T0}&to={NOW3}", viewer)
        old, new = (
            losses(before.as_json_dict(), "plant1/assembly/line1"),
            losses(after, "plant1/assembly/line1"),
        )
        assert new["breakdowns"] == pytest.approx(old["breakdowns"] - 135, abs=1)
        assert new["setup"] == pytest.approx(old["setup"] + 135, abs=1)
        assert after["oee"]["lines"]["plant1/assembly/line1"]["downtime_by_reason_min"][
            "changeover"] == pytest.approx(135, abs=1)  # fmt: skip
        # Someone else's reason: another operator may not change it, an admin may.
        status, answer = await post(base, {**body, "reason": "no_material"}, other)
        assert status == 409 and "only an admin" in str(answer["error"])
        status, answer = await post(base, body, token(db, "admin"))
        assert status == 200 and answer["original"] == "unspecified"

    log = users(db)
    try:
        done = [e for e in log.audit_log() if e["action"] == "stop.reason" and e["ok"]]
    finally:
        log.close()
    assert {e["user"] for e in done} == {"olga", "test-admin"}
    assert any("unspecified -> changeover (die change)" in e["detail"] for e in done)

    # The stored accounts of those hours are stale now; `factory aggregate` recomputes them and
    # the report from the accounts says what the raw readings say.
    await factory_kpi()
    stored, _ = await compute_report(url, window, plant=plant)
    raw, _ = await compute_report(url, window, plant=plant, raw=True)
    assert any(s.source == "accounts" for s in stored.sources)
    for report in (stored, raw):
        line = report.oee.lines["plant1/assembly/line1"]
        assert "unspecified" not in line.downtime_by_reason_min
        assert line.losses_min["setup"] == pytest.approx(old["setup"] + 135, abs=1)
    for key, figures in raw.oee.lines.items():
        mine = stored.oee.lines[key]
        assert mine.oee == pytest.approx(figures.oee, abs=1e-9)
        assert mine.downtime_by_reason_min == pytest.approx(figures.downtime_by_reason_min)
        assert mine.losses_min == pytest.approx(figures.losses_min)
    assert len(await open_reader_rows(db)) == 1


async def open_reader_rows(db: Path) -> list[object]:
    from store.sqlite import SQLiteReader

    return list(await SQLiteReader(db).read_rows(REASON, 0, 2**62))
