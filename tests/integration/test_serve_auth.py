"""`factory serve` answers no stranger: sign-in, roles, CSRF, tokens, lock-out, security
headers, hostile requests, HTTPS with the plant CA, and all of it in Chromium."""

from __future__ import annotations

import asyncio
import ssl
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from simulators.fleet import Fleet
from tests.helpers.web import (
    PASSWORD,
    chromium_page,
    dashboard,
    form_sign_in,
    settled,
    until_true,
    users,
)

pytestmark = pytest.mark.integration

DEPLOY = Path(__file__).parents[2] / "deploy"


def session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def sign_in(s: aiohttp.ClientSession, base: str, user: str, password: str = PASSWORD
                  ) -> tuple[int, Any, aiohttp.ClientResponse]:  # fmt: skip
    async with s.post(f"{base}/api/login", json={"user": user, "password": password}) as r:
        return r.status, await r.json(), r


async def post(s: aiohttp.ClientSession, url: str, **headers: str) -> tuple[int, Any]:
    async with s.post(url, headers=headers) as r:
        return r.status, await r.json()


async def test_sign_in_roles_csrf_headers_and_hostile_requests(
    week_store: tuple[Fleet, Path],
) -> None:
    fleet, db = week_store
    admin = users(db).issue_token("ada", "admin", "test")
    async with dashboard(fleet, db, anonymous=False) as base, session() as s:
        async with s.get(f"{base}/", allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"] == "/login?next=%2F"
            assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
        async with s.get(f"{base}/login") as r:
            assert r.status == 200
            assert r.headers["X-Content-Type-Options"] == "nosniff"
            assert "script-src 'self'" in r.headers["Content-Security-Policy"]
            assert "Strict-Transport-Security" not in r.headers  # plain HTTP on loopback
        async with s.get(f"{base}/api/health") as r:
            assert r.status == 200
        for body, code, words in [
            (b"{", 400, "send JSON"), (b'{"user": 1, "password": 2}', 400, "send JSON"),
            (b"x" * 5000, 413, "at most 4096"),
        ]:  # fmt: skip
            async with s.post(f"{base}/api/login", data=body) as r:
                assert r.status == code and words in (await r.json())["error"], body[:20]
        status, body, _ = await sign_in(s, base, "vic", "not it at all")
        assert status == 401 and body["error"] == "wrong user name or password"

        status, body, r = await sign_in(s, base, "vic")
        assert status == 200 and body["role"] == "viewer"
        cookie = r.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie
        status, denied = await post(s, f"{base}/api/forecast", **{"X-CSRF-Token": body["csrf"]})
        assert status == 403 and "needs the role operator; vic is a viewer" in denied["error"]

        status, body, _ = await sign_in(s, base, "olga")
        assert status == 200 and body["role"] == "operator"
        status, denied = await post(s, f"{base}/api/forecast")
        assert status == 403 and "CSRF" in denied["error"]
        status, denied = await post(s, f"{base}/api/forecast", **{"X-CSRF-Token": "guess"})
        assert status == 403 and "CSRF" in denied["error"]
        status, stored = await post(s, f"{base}/api/forecast", **{"X-CSRF-Token": body["csrf"]})
        assert status == 200 and stored["stored"] > 0
        async with s.get(f"{base}/api/audit") as r:
            assert r.status == 403
        status, _ = await post(s, f"{base}/api/logout", **{"X-CSRF-Token": body["csrf"]})
        assert status == 200
        async with s.get(f"{base}/api/me") as r:
            assert r.status == 401

        bearer = {"Authorization": f"Bearer {admin}"}
        async with s.get(f"{base}/api/audit?limit=50", headers=bearer) as r:
            events = (await r.json())["events"]
        seen = [(e["user"], e["action"], e["ok"]) for e in events]
        assert ("olga", "forecast.save", True) in seen
        assert ("vic", "sign_in", False) in seen and ("olga", "sign_out", True) in seen
        assert all(e["source"] == "127.0.0.1" for e in events if e["action"] == "sign_in")
        for path in ("/api/audit?limit=0", "/api/audit?limit=%C2%B9"):
            async with s.get(base + path, headers=bearer) as r:
                assert r.status == 400

        # Hostile requests: a redirect target cannot carry a header, no file outside static.
        async with s.get(f"{base}/?x=%0d%0aSet-Cookie:%20a=b", allow_redirects=False) as r:
            assert r.status == 303 and "\n" not in r.headers["Location"]
            assert "Set-Cookie" not in r.headers
        for path in ("/static/../auth.py", "/static/%2e%2e/auth.py", "/static/..%2fauth.py",
                     "/static/%2e%2e/%2e%2e/users.db"):  # fmt: skip
            async with s.get(base + path, headers=bearer, allow_redirects=False) as r:
                assert r.status in (403, 404), (path, r.status)
        async with s.get(f"{base}/api/report", headers={"Authorization": "Basic eDp5"}) as r:
            assert r.status == 401 and "token" in (await r.json())["error"]


async def test_tokens_scope_revocation_lockout_and_rate_limit(
    week_store: tuple[Fleet, Path],
) -> None:
    fleet, db = week_store
    accounts = users(db)
    viewer_scope = accounts.issue_token("olga", "viewer", "grafana")
    operator = accounts.issue_token("olga", "operator", "script")
    async with dashboard(fleet, db, anonymous=False) as base, session() as s:
        as_viewer = {"Authorization": f"Bearer {viewer_scope}"}
        async with s.get(f"{base}/api/windows", headers=as_viewer) as r:
            assert r.status == 200
        async with s.post(f"{base}/api/forecast", headers=as_viewer) as r:
            assert r.status == 403
        async with s.post(f"{base}/api/forecast", headers={"Authorization": f"Bearer {operator}"}
                          ) as r:  # fmt: skip
            assert r.status == 200  # a token needs no CSRF token: no cookie is involved
        (tid,) = [t["id"] for t in accounts.tokens() if t["label"] == "grafana"
                  and not t["revoked"]]  # fmt: skip
        accounts.revoke_token(tid)
        async with s.get(f"{base}/api/windows", headers=as_viewer) as r:
            assert r.status == 401

        for _ in range(5):
            assert (await sign_in(s, base, "vic", "wrong password!"))[0] == 401
        status, body, _ = await sign_in(s, base, "vic")
        assert status == 401 and "too many failed sign-ins" in body["error"]
        codes = [(await sign_in(s, base, "nobody", "x" * 12))[0] for _ in range(20)]
        assert codes[-1] == 429 and set(codes) == {401, 429}
    accounts.close()


@pytest.mark.slow  # measured above 20 s
async def test_in_chromium_sign_in_write_csrf_and_expiry(
    week_store: tuple[Fleet, Path],
) -> None:
    fleet, db = week_store
    users(db).close()
    async with dashboard(fleet, db, anonymous=False, session_minutes=0.25) as base:
        async with chromium_page(base) as (page, problems):
            await page.goto(base + "/?win=default")
            assert "/login?next=" in page.url
            await page.fill("#user", "olga")
            await page.fill("#password", PASSWORD)
            signed_at = time.monotonic()
            await page.click("#submit")
            await page.wait_for_url(f"{base}/?win=default")
            await settled(page)
            assert await page.text_content("#who-name") == "olga (operator)"
            assert await page.is_visible("#forecast-save")
            await page.click("#forecast-save")
            await until_true(page, "document.getElementById('forecast-saved').textContent !== ''")
            assert (await page.text_content("#forecast-saved") or "").startswith("stored ")
            # The same write without the session's CSRF token is refused.
            status = await page.evaluate(
                "fetch('/api/forecast', {method: 'POST'}).then(r => r.status)"
            )
            assert status == 403
            # The session expires: the page sends its user back to the sign-in form.
            await asyncio.sleep(max(0.0, 15.5 - (time.monotonic() - signed_at)))
            await page.reload()
            assert "/login?next=" in page.url
        refused = [p for p in problems if "403" in p or "401" in p]
        assert [p for p in problems if p not in refused] == [], problems
        async with chromium_page(base) as (page, problems):
            await form_sign_in(page, base, "vic")
            assert await page.text_content("#who-name") == "vic (viewer)"
            assert not await page.is_visible("#forecast-save")
            assert not await page.is_visible("#audit")
            status = await page.evaluate(
                "fetch('/api/me').then(r => r.json()).then(me => fetch('/api/forecast', "
                "{method: 'POST', headers: {'X-CSRF-Token': me.csrf}})).then(r => r.status)"
            )
            assert status == 403
            # A wrong password shows the reason on the form.
            await page.goto(base + "/login")
            await page.fill("#user", "vic")
            await page.fill("#password", "not the password")
            await page.click("#submit")
            await until_true(page, "document.getElementById('message').textContent !== ''")
            assert await page.text_content("#message") == "wrong user name or password"
        async with chromium_page(base) as (page, problems):
            await form_sign_in(page, base, "ada")
            rows = await page.eval_on_selector_all(
                "#audit tbody tr", "rs => rs.map(r => [...r.cells].map(c => c.textContent))"
            )
            # Newest first: ada's sign-in, vic's wrong password before it.
            assert rows[0][1:4] == ["ada", "sign_in", "yes"], rows[:3]
            assert ["vic", "sign_in", "no", "127.0.0.1", "wrong password"] in [r[1:] for r in rows]
            assert problems == [], problems


async def test_https_with_a_certificate_from_the_plant_ca(
    week_store: tuple[Fleet, Path],
    certs: Path,
) -> None:
    fleet, db = week_store
    users(db).close()
    trust = ssl.create_default_context(cafile=str(certs / "ca.crt"))
    async with dashboard(fleet, db, anonymous=False, tls_cert=str(certs / "server.crt"),
                         tls_key=str(certs / "server.key")) as base:  # fmt: skip
        secure = base.replace("http://", "https://")
        async with session() as s:
            async with s.get(f"{secure}/api/health", ssl=trust) as r:
                assert r.status == 200
                assert r.headers["Strict-Transport-Security"] == "max-age=31536000"
            async with s.post(f"{secure}/api/login", json={"user": "vic", "password": PASSWORD},
                              ssl=trust) as r:  # fmt: skip
                assert r.status == 200 and "Secure" in r.headers["Set-Cookie"]
            with pytest.raises(aiohttp.ClientConnectorCertificateError):
                async with s.get(f"{secure}/api/health"):  # not the system's CAs
                    pass
            with pytest.raises(aiohttp.ClientError):
                async with s.get(f"{base}/api/health"):  # plain HTTP on the TLS port
                    pass
