"""Self-monitoring: counters in the Prometheus text format, served on a local HTTP port.

Standard library only, so that every component (edge agent, ingest) can serve
``/metrics`` without a web framework.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)

Sample = tuple[str, str, str, float]
"""(name, type, help, value); type is ``counter`` or ``gauge``."""


def render(samples: list[Sample], labels: Mapping[str, str] | None = None) -> str:
    """Prometheus text exposition format 0.0.4."""
    label_text = ""
    if labels:
        inner = ",".join(
            f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
            for k, v in sorted(labels.items())
        )
        label_text = "{" + inner + "}"
    lines = []
    for name, kind, help_text, value in samples:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        lines.append(f"{name}{label_text} {float(value)!r}")
    return "\n".join(lines) + "\n"


class MetricsServer:
    """``GET /metrics`` (Prometheus) and ``GET /healthz`` on ``host:port``."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        metrics: Callable[[], str],
        healthy: Callable[[], bool] = lambda: True,
    ) -> None:
        self.host = host
        self.port = port
        self._metrics = metrics
        self._healthy = healthy
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        sockets = self._server.sockets
        if sockets:
            self.port = sockets[0].getsockname()[1]
        log.info("metrics on http://%s:%d/metrics", self.host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), 5)
            while (await asyncio.wait_for(reader.readline(), 5)) not in (b"\r\n", b"\n", b""):
                pass
            parts = request.decode("latin-1").split()
            path = parts[1] if len(parts) > 1 else "/"
            if parts and parts[0] != "GET":
                status, body, ctype = "405 Method Not Allowed", "use GET\n", "text/plain"
            elif path == "/metrics":
                status, body = "200 OK", self._metrics()
                ctype = "text/plain; version=0.0.4; charset=utf-8"
            elif path == "/healthz":
                ok = self._healthy()
                status = "200 OK" if ok else "503 Service Unavailable"
                body, ctype = ("ok\n" if ok else "not ready\n"), "text/plain"
            else:
                status, body, ctype = "404 Not Found", "try /metrics or /healthz\n", "text/plain"
            data = body.encode()
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\n"
                f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode()
                + data
            )
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
