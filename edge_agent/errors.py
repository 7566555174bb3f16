"""The edge agent's exceptions."""

from core.errors import CredentialsError, FactoryError


class EdgeError(FactoryError):
    """Base of the edge agent's errors."""


class PublishError(EdgeError):
    """The broker could not be reached or a publish failed; the agent retries."""


class BrokerAuthError(PublishError, CredentialsError):
    """The broker refused our credentials; retrying cannot help, so the agent stops."""
