"""Notifications of alerts: an outbox kept in the store, delivered with retries.

When an alert fires or resolves, one notice per channel (``[[alerts.channels]]`` whose
``rules`` include the alert's) is written to :data:`NOTICE`, keyed by the
alert, the event and the channel: the same notification is never made twice. The
deliverer sends the due ones: a webhook POST (our JSON, or a Slack or Teams payload), an
e-mail over SMTP (STARTTLS and sign-in when configured), or a line on stdout. A failed
attempt is retried after ``retry_base_s``, doubling up to an hour; after ``retry_max``
attempts the notice is kept as ``failed`` with its last error (shown on the dashboard and
by `factory alerts notices`; `factory alerts retry` sends them again). More than
``rate_per_hour`` notices of one rule on one channel in an hour are kept as
``suppressed``, never silently dropped.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import sys
import time
from dataclasses import dataclass, replace
from typing import Any

from alerting.config import AlertsConfig, ChannelConfig
from alerting.state import Alert, read_alerts
from core.clock import DAY_MS, HOUR_MS
from core.errors import FactoryError
from core.i18n import ENGLISH, N_, Lang
from store import Reader, Store
from telemetry.layout import FieldDef, Point, Table

log = logging.getLogger("factory.alerts")

# Notifications of alerts (the outbox): one point per alert, event and channel, stamped
# with the alert's fired time, so the same notification is never made twice. ``status`` is
# pending (due at ``next_ms``), delivered, failed (every attempt failed: kept, shown, and
# retried by `factory alerts retry`) or suppressed (the rule's rate limit).
NOTICE = Table(
    "notice",
    (
        FieldDef("status", "str"),
        FieldDef("attempts", "int"),
        FieldDef("next_ms", "int"),
        FieldDef("error", "str"),
        FieldDef("done_ms", "int"),
        FieldDef("created_ms", "int"),
    ),
    tags=("channel", "rule", "subject", "event"),
    merge=True,
)

MAX_BACKOFF_S = 3600.0


class DeliveryError(FactoryError):
    """One attempt failed; the message says why (kept with the notice)."""


@dataclass(frozen=True, slots=True)
class Notice:
    channel: str
    rule: str
    subject: str
    event: str
    """``fired`` or ``resolved``."""
    fired_ms: int
    status: str = "pending"
    attempts: int = 0
    next_ms: int = 0
    error: str | None = None
    done_ms: int | None = None
    created_ms: int = 0

    @property
    def alert_key(self) -> tuple[str, str, int]:
        return (self.rule, self.subject, self.fired_ms)

    def point(self) -> Point:
        tags = {
            "channel": self.channel,
            "rule": self.rule,
            "subject": self.subject,
            "event": self.event,
        }
        return Point(NOTICE, tags, self.fired_ms, self._delivery())

    def _delivery(self) -> dict[str, int | float | str | bool | None]:
        return {f: getattr(self, f) for f in NOTICE.field_names}

    def as_dict(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "alert": f"{self.rule}|{self.subject}|{self.fired_ms}",
            "event": self.event,
            **self._delivery(),
        }


async def read_notices(reader: Reader, start_ms: int, end_ms: int) -> list[Notice]:
    """The notices of alerts fired in [start, end), oldest first."""
    return [
        Notice(
            channel=r.tags["channel"],
            rule=r.tags["rule"],
            subject=r.tags["subject"],
            event=r.tags["event"],
            fired_ms=r.ts_ms,
            status=str(r.fields.get("status", "pending")),
            attempts=int(r.fields.get("attempts", 0)),
            next_ms=int(r.fields.get("next_ms", 0)),
            error=r.fields.get("error"),
            done_ms=r.fields.get("done_ms"),
            created_ms=int(r.fields.get("created_ms", 0)),
        )
        for r in await reader.read_rows(NOTICE, start_ms, end_ms)
    ]


SEVERITIES = {"critical": N_("CRITICAL"), "warning": N_("WARNING")}


def summary(alert: Alert, event: str, now_ms: int, lang: Lang = ENGLISH) -> tuple[str, str]:
    """(subject line, text) of a notification, in ``lang``."""
    _ = lang.gettext

    def when(ms: int) -> str:
        return lang.when(ms) + " UTC"

    if event == "resolved":
        head = _("RESOLVED {rule}: {subject} after {minutes} min").format(
            rule=alert.rule, subject=alert.subject, minutes=lang.num(alert.minutes(now_ms), None)
        )
    else:
        severity = _(SEVERITIES.get(alert.severity, alert.severity))
        head = f"{severity} {alert.rule}: {alert.subject}"
    body = alert.message + "\n" + _("fired {when}").format(when=when(alert.fired_ms))
    if alert.resolved_ms is not None:
        body += ", " + _("resolved {when}").format(when=when(alert.resolved_ms))
    if alert.acked_by:
        body += ", " + _("acknowledged by {user}").format(user=alert.acked_by)
    return head, body + "\n" + _("alert id: {id}").format(id=alert.id)


def payload(
    channel: ChannelConfig, alert: Alert, event: str, now_ms: int, lang: Lang = ENGLISH
) -> dict[str, Any]:
    """The JSON body a webhook channel POSTs."""
    head, body = summary(alert, event, now_ms, lang)
    if channel.kind == "slack":  # an incoming webhook's message
        return {"text": f"*{head}*\n{body}"}
    if channel.kind == "teams":  # a Workflows webhook's Adaptive Card
        card = {
            "type": "AdaptiveCard",
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "version": "1.4",
            "body": [
                {"type": "TextBlock", "text": head, "weight": "Bolder", "wrap": True},
                {"type": "TextBlock", "text": body, "wrap": True},
            ],
        }
        return {
            "type": "message",
            "attachments": [
                {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}
            ],
        }
    return {"event": event, "summary": head, "text": body, "alert": alert.as_dict(now_ms)}


class Notifier:
    """Makes the notices of fired and resolved alerts and delivers them."""

    def __init__(
        self, store: Store, reader: Reader, config: AlertsConfig, lang: Lang = ENGLISH
    ) -> None:
        self.lang = lang
        self.store = store
        self.reader = reader
        self.config = config
        self.channels = {c.name: c for c in config.channels}
        self.wake = asyncio.Event()
        self.next_due_ms: int | None = None
        """When the earliest pending notice is due (after a delivery pass); None: none."""

    async def enqueue(self, fired: list[Alert], resolved: list[Alert], now_ms: int) -> list[Notice]:
        """The notices of these alerts, written (pending, or suppressed by the rate limit)."""
        if not self.channels or not (fired or resolved):
            return []
        recent = await read_notices(
            self.reader, now_ms - self.config.history_days * DAY_MS, now_ms + 1
        )
        count: dict[tuple[str, str], int] = {}
        for n in recent:
            if n.created_ms > now_ms - HOUR_MS:
                count[(n.channel, n.rule)] = count.get((n.channel, n.rule), 0) + 1
        out = []
        events = [(a, "fired") for a in fired] + [(a, "resolved") for a in resolved]
        for alert, event in events:
            for c in self.channels.values():
                if c.rules and alert.rule not in c.rules:
                    continue
                n = Notice(
                    c.name,
                    alert.rule,
                    alert.subject,
                    event,
                    alert.fired_ms,
                    next_ms=now_ms,
                    created_ms=now_ms,
                )
                seen = count.get((c.name, alert.rule), 0)
                if seen >= self.config.rate_per_hour:
                    n = replace(
                        n,
                        status="suppressed",
                        done_ms=now_ms,
                        error=f"rate limit: {self.config.rate_per_hour} notices of rule "
                        f"{alert.rule} an hour on {c.name}",
                    )
                count[(c.name, alert.rule)] = seen + 1
                out.append(n)
        await self.store.write_points([n.point() for n in out])
        self.wake.set()
        return out

    async def deliver_due(self, now_ms: int | None = None) -> tuple[int, int]:
        """Send every pending notice that is due; (delivered, failed for good)."""
        now = now_ms if now_ms is not None else int(time.time() * 1000)
        start = now - self.config.history_days * DAY_MS
        pending = [
            n for n in await read_notices(self.reader, start, now + 1) if n.status == "pending"
        ]
        due = [n for n in pending if n.next_ms <= now]
        later = [n.next_ms for n in pending if n.next_ms > now]
        self.next_due_ms = min(later, default=None)
        if not due:
            return 0, 0
        alerts = {
            (a.rule, a.subject, a.fired_ms): a
            for a in await read_alerts(self.reader, start, now + 1)
        }
        delivered = failed = 0
        for n in due:
            alert = alerts.get(n.alert_key)
            channel = self.channels.get(n.channel)
            try:
                if alert is None:
                    raise DeliveryError("its alert is no longer in the store")
                if channel is None:
                    raise DeliveryError(f"channel {n.channel} is no longer configured")
                await self.send(channel, alert, n.event, now)
            except DeliveryError as exc:
                attempts = n.attempts + 1
                final = attempts >= self.config.retry_max or channel is None or alert is None
                wait = min(self.config.retry_base_s * 2 ** (attempts - 1), MAX_BACKOFF_S)
                n = replace(
                    n,
                    attempts=attempts,
                    error=str(exc)[:500],
                    status="failed" if final else "pending",
                    next_ms=now + int(wait * 1000),
                    done_ms=now if final else None,
                )
                failed += final
                log.warning(
                    "notice %s of %s on %s: attempt %d failed: %s%s",
                    n.event,
                    alert.id if alert else n.alert_key,
                    n.channel,
                    attempts,
                    exc,
                    " (kept as failed)" if final else f" (again in {wait:.0f} s)",
                )
            else:
                n = replace(n, attempts=n.attempts + 1, status="delivered", done_ms=now)
                delivered += 1
            if n.status == "pending":
                self.next_due_ms = min(n.next_ms, self.next_due_ms or n.next_ms)
            await self.store.write_points([n.point()])
        return delivered, failed

    async def retry_failed(self, now_ms: int | None = None) -> int:
        """Make every failed notice pending again (`factory alerts retry`); how many."""
        now = now_ms if now_ms is not None else int(time.time() * 1000)
        start = now - self.config.history_days * DAY_MS
        failed = [
            n for n in await read_notices(self.reader, start, now + 1) if n.status == "failed"
        ]
        again = [replace(n, status="pending", attempts=0, next_ms=now) for n in failed]
        if again:
            await self.store.write_points([n.point() for n in again])
        return len(again)

    async def send(self, channel: ChannelConfig, alert: Alert, event: str, now_ms: int) -> None:
        if channel.kind == "stdout":
            head, body = summary(alert, event, now_ms, self.lang)
            print(f"{head} | {body.replace(chr(10), ' | ')}", file=sys.stdout, flush=True)
        elif channel.kind == "smtp":
            await asyncio.to_thread(_mail, channel, *summary(alert, event, now_ms, self.lang))
        else:
            await _post(channel, payload(channel, alert, event, now_ms, self.lang))

    async def run(self, stop: asyncio.Event, *, every_s: float = 60.0) -> None:
        """Deliver due notices until ``stop``: when woken by new ones, when a retry is due,
        and at least every ``every_s`` (notices another process made): the outbox is read
        when there may be work, not on a short poll."""
        from store.errors import ReaderError, StoreError

        while not stop.is_set():
            self.wake.clear()
            try:
                await self.deliver_due()
            except (ReaderError, StoreError) as exc:
                log.warning("notices: %s (tried again in %.0f s)", exc, every_s)
            wait = every_s
            if self.next_due_ms is not None:
                wait = min(wait, max(self.next_due_ms / 1000 - time.time(), 0.0))
            waits = [asyncio.ensure_future(e.wait()) for e in (stop, self.wake)]
            await asyncio.wait(waits, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
            for w in waits:
                w.cancel()


async def _post(channel: ChannelConfig, body: dict[str, Any]) -> None:
    import aiohttp

    assert channel.url is not None
    headers = {"Content-Type": "application/json"}
    if channel.token is not None:
        headers["Authorization"] = f"Bearer {channel.token.get_secret_value()}"
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=channel.timeout_s)) as s,
            s.post(channel.url, data=json.dumps(body), headers=headers) as resp,
        ):
            if not 200 <= resp.status < 300:
                text = (await resp.text())[:200]
                raise DeliveryError(f"{channel.url} answered {resp.status}: {text}")
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise DeliveryError(f"cannot reach {channel.url}: {exc or type(exc).__name__}") from exc


def _mail(channel: ChannelConfig, subject: str, text: str) -> None:
    import smtplib
    from email.message import EmailMessage

    assert channel.smtp_host is not None and channel.sender is not None
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = channel.sender
    msg["To"] = ", ".join(channel.to)
    msg.set_content(text)
    where = f"{channel.smtp_host}:{channel.smtp_port}"
    try:
        with smtplib.SMTP(channel.smtp_host, channel.smtp_port, timeout=channel.timeout_s) as smtp:
            if channel.starttls:
                ctx = ssl.create_default_context(cafile=channel.ca_file)
                smtp.starttls(context=ctx)
            if channel.username is not None and channel.password is not None:
                smtp.login(channel.username, channel.password.get_secret_value())
            smtp.send_message(msg)
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"SMTP {where}: {exc}") from exc
