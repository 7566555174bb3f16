"""What the edge agent counts, and its ``/metrics`` declared next to the counters."""

from __future__ import annotations

from dataclasses import dataclass

from core.metrics import Sample


@dataclass(slots=True)
class AgentStats:
    """What the agent has done since it started (the buffer's drops are kept across restarts)."""

    read: int = 0
    buffered_messages: int = 0
    buffered_readings: int = 0
    buffer_bytes: int = 0
    oldest_age_s: float = 0.0
    published_messages: int = 0
    republished_messages: int = 0
    acknowledged: int = 0
    """Readings whose message the broker acknowledged (PUBACK)."""
    status_messages: int = 0
    dropped_readings: int = 0
    unencodable_readings: int = 0
    """Readings a source gave with values the wire format cannot carry (NaN, infinity)."""
    reconnects: int = 0
    connected: bool = False

    def samples(self) -> list[Sample]:
        c, g = "counter", "gauge"
        return [
            ("factory_edge_readings_read_total", c, "Readings taken from the source", self.read),
            ("factory_edge_messages_published_total", c, "Messages sent", self.published_messages),
            (
                "factory_edge_messages_republished_total",
                c,
                "Messages sent again after a lost connection (possible duplicates)",
                self.republished_messages,
            ),
            (
                "factory_edge_readings_acknowledged_total",
                c,
                "Readings in messages the broker acknowledged",
                self.acknowledged,
            ),
            (
                "factory_edge_readings_dropped_total",
                c,
                "Readings the full or expired buffer dropped, since the buffer was created",
                self.dropped_readings,
            ),
            (
                "factory_edge_readings_unencodable_total",
                c,
                "Readings a source gave with NaN or infinity, not sent (logged)",
                self.unencodable_readings,
            ),
            ("factory_edge_reconnects_total", c, "Broker reconnections", self.reconnects),
            (
                "factory_edge_buffer_readings",
                g,
                "Readings waiting in the buffer",
                self.buffered_readings,
            ),
            (
                "factory_edge_buffer_messages",
                g,
                "Messages waiting in the buffer",
                self.buffered_messages,
            ),
            ("factory_edge_buffer_bytes", g, "Payload bytes in the buffer", self.buffer_bytes),
            (
                "factory_edge_buffer_oldest_age_seconds",
                g,
                "Age of the oldest buffered reading",
                self.oldest_age_s,
            ),
            ("factory_edge_connected", g, "1 while connected to the broker", float(self.connected)),
        ]
