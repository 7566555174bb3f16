"""What the ingest service counts, and its ``/metrics`` declared next to the counters."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from core.metrics import Sample


@dataclass(slots=True)
class IngestStats:
    """Counters of the service since it started."""

    received_messages: int = 0
    received_readings: int = 0
    written_readings: int = 0
    rejected_messages: int = 0
    write_retries: int = 0
    batches: int = 0
    reconnects: int = 0
    paused: int = 0
    batch_seconds_sum: float = 0.0
    reasons: dict[str, int] = field(default_factory=dict)
    lags_s: deque[float] = field(default_factory=lambda: deque(maxlen=100_000))
    """Recent lags from a reading's ``ts`` to the moment it was stored."""

    def lag_quantiles(self) -> dict[str, float]:
        if not self.lags_s:
            return {}
        values = sorted(self.lags_s)
        last = len(values) - 1
        return {q: values[min(round(float(q) * last), last)] for q in ("0.5", "0.9", "0.99")}

    def samples(self) -> list[Sample]:
        c, g = "counter", "gauge"
        out: list[Sample] = [
            (
                "factory_ingest_messages_received_total",
                c,
                "MQTT messages received",
                self.received_messages,
            ),
            (
                "factory_ingest_readings_received_total",
                c,
                "Valid readings received",
                self.received_readings,
            ),
            (
                "factory_ingest_readings_written_total",
                c,
                "Readings written to the store",
                self.written_readings,
            ),
            (
                "factory_ingest_messages_rejected_total",
                c,
                "Messages kept as dead letters",
                self.rejected_messages,
            ),
            ("factory_ingest_write_retries_total", c, "Store writes retried", self.write_retries),
            ("factory_ingest_batches_total", c, "Batches written and acknowledged", self.batches),
            ("factory_ingest_reconnects_total", c, "Broker reconnections", self.reconnects),
            (
                "factory_ingest_backpressure_pauses_total",
                c,
                "Times reading from the broker paused because too much was pending",
                self.paused,
            ),
            (
                "factory_ingest_batch_seconds_sum",
                c,
                "Time spent writing batches (divide by batches_total for the mean)",
                self.batch_seconds_sum,
            ),
        ]
        for q, v in self.lag_quantiles().items():
            out.append(
                (f"factory_ingest_lag_seconds_q{q.replace('0.', '')}", g,
                 f"Quantile {q} of the lag from a reading's ts to stored, recent readings", v)
            )  # fmt: skip
        return out
