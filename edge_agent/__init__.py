"""The edge agent: reads machines and meters, publishes their readings over MQTT."""

from edge_agent.agent import AgentStats, EdgeAgent
from edge_agent.config import EdgeConfig
from edge_agent.errors import EdgeError, PublishError
from edge_agent.publisher import MqttPublisher
from edge_agent.source import Group, Source

__all__ = [
    "AgentStats",
    "EdgeAgent",
    "EdgeConfig",
    "EdgeError",
    "Group",
    "MqttPublisher",
    "PublishError",
    "Source",
]
