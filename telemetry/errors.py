"""The wire's errors: one base, so a caller can catch whatever a message or a name did wrong."""

from __future__ import annotations

from core.errors import FactoryError


class WireError(FactoryError, ValueError):
    """Base of the wire's errors: a message, topic, URL or payload that breaks the contract;
    the message says what is wrong and where."""
