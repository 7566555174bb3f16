"""The one error base of the product, and the meanings every package shares.

Each package subclasses :class:`FactoryError` in its own small tree (``telemetry.errors``,
``plant.model.PlantModelError``, ``store.errors``, ``edge_agent.errors``, ``ingest.errors``,
``analytics`` per domain, ``alerting.notifier.DeliveryError``, ``users.database.UserError``,
``dashboard.params.BadRequest``), so a caller can catch one package's errors, or all of ours.
The command line turns the shared meanings below into exit statuses.
"""

from __future__ import annotations


class FactoryError(Exception):
    """Base of every error this product raises on purpose (exit 1 when nothing catches it)."""


class ConfigError(FactoryError):
    """Settings that cannot be used; the message names each setting and what is wrong
    (exit 2)."""


class CredentialsError(FactoryError):
    """A server refused our credentials: retrying cannot help, so the service stops
    (exit 3)."""


class ClientIdConflict(ConfigError):
    """Another live MQTT connection uses our client id, and each takes the session from the
    other: a configuration error (exit 2) that no retry can fix."""
