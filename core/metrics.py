"""Self-monitoring: ``/metrics`` (Prometheus) and ``/healthz`` on a local port (or, with a
token that scrapers send as ``Authorization: Bearer``, on another address).

Each component declares its metrics once, next to the counters it keeps (a
:class:`Sample` list built from its stats); ``prometheus_client`` writes the
exposition format (escaping included) and serves it from a small WSGI server
in a daemon thread, so the event loop is never held up by a scrape.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

Sample = tuple[str, str, str, float]
"""(name, type, help, value). A counter's name ends in ``_total``."""


class _StatsCollector(Collector):
    """Turns a component's current samples into metric families at each scrape."""

    def __init__(self, samples: Callable[[], Iterable[Sample]], labels: Mapping[str, str]):
        self._samples = samples
        self._labels = dict(labels)

    def collect(self) -> Iterator[Metric]:
        keys, values = list(self._labels), list(self._labels.values())
        for name, kind, help_text, value in self._samples():
            family: CounterMetricFamily | GaugeMetricFamily
            if kind == "counter":
                family = CounterMetricFamily(name, help_text, labels=keys)
            else:
                family = GaugeMetricFamily(name, help_text, labels=keys)
            family.add_metric(values, float(value))
            yield family


def registry(
    samples: Callable[[], Iterable[Sample]], labels: Mapping[str, str] | None = None
) -> CollectorRegistry:
    """A registry of its own (no global state) that reads ``samples`` at each scrape."""
    reg = CollectorRegistry(auto_describe=False)
    reg.register(_StatsCollector(samples, labels or {}))
    return reg


def render(samples: Callable[[], Iterable[Sample]], labels: Mapping[str, str] | None = None) -> str:
    """The samples in the Prometheus text format."""
    from prometheus_client import generate_latest

    return generate_latest(registry(samples, labels)).decode()


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class _ThreadingServer(WSGIServer):
    daemon_threads = True


class MetricsServer:
    """``GET /metrics`` (Prometheus) and ``GET /healthz`` (200 or 503) on ``host:port``."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        samples: Callable[[], Iterable[Sample]],
        labels: Mapping[str, str] | None = None,
        healthy: Callable[[], bool] = lambda: True,
        token: str | None = None,
    ) -> None:
        """``token``: when set, both paths need ``Authorization: Bearer <token>``."""
        self.host = host
        self._token = token
        self.port = port
        self._metrics_app = make_wsgi_app(registry(samples, labels))
        self._healthy = healthy
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    def _app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        if environ.get("REQUEST_METHOD") != "GET":
            start_response("405 Method Not Allowed", [("Content-Type", "text/plain")])
            return [b"use GET\n"]
        if self._token is not None:
            sent = environ.get("HTTP_AUTHORIZATION", "")
            if not hmac.compare_digest(sent.encode(), f"Bearer {self._token}".encode()):
                start_response("401 Unauthorized", [("Content-Type", "text/plain"),
                                                    ("WWW-Authenticate", "Bearer")])  # fmt: skip
                return [b"send Authorization: Bearer <metrics_token>\n"]
        if path == "/metrics":
            out: Iterable[bytes] = self._metrics_app(environ, start_response)
            return out
        if path == "/healthz":
            ok = self._healthy()
            start_response("200 OK" if ok else "503 Service Unavailable",
                           [("Content-Type", "text/plain")])  # fmt: skip
            return [b"ok\n" if ok else b"not ready\n"]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"try /metrics or /healthz\n"]

    async def start(self) -> None:
        self._server = make_server(
            self.host, self.port, self._app, _ThreadingServer, handler_class=_QuietHandler
        )
        self.port = self._server.server_port
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
            name="metrics http", daemon=True,
        )  # fmt: skip
        self._thread.start()
        log.info("metrics on http://%s:%d/metrics", self.host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            server, self._server = self._server, None
            await asyncio.to_thread(server.shutdown)
            server.server_close()
