"""/metrics and /healthz stay on loopback, or need a bearer token when exposed."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest
from pydantic import ValidationError

from analytics.config import AnalyticsConfig
from core.metrics import MetricsServer
from edge_agent.config import EdgeConfig
from ingest.config import IngestConfig


@pytest.mark.parametrize("config", [EdgeConfig, IngestConfig, AnalyticsConfig])
def test_exposed_metrics_need_a_token(config: type) -> None:
    config(metrics_host="127.0.0.1")
    config(metrics_host="::1")
    with pytest.raises(ValidationError, match="set metrics_token too"):
        config(metrics_host="0.0.0.0")
    exposed = config(metrics_host="0.0.0.0", metrics_token="s3cret-for-prometheus")
    assert "s3cret" not in repr(exposed)


def _get(url: str, token: str | None = None) -> int:
    request = urllib.request.Request(url)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return exc.code


async def test_the_token_is_checked_on_both_paths() -> None:
    server = MetricsServer(host="127.0.0.1", port=0, token="right-token",
                           samples=lambda: [("x_total", "counter", "x", 1.0)])  # fmt: skip
    await server.start()
    try:
        base = f"http://127.0.0.1:{server.port}"
        for path in ("/metrics", "/healthz"):
            assert _get(base + path) == 401
            assert _get(base + path, "wrong-token") == 401
            assert _get(base + path, "right-token") == 200
    finally:
        await server.stop()
