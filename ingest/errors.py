"""The ingest service's exceptions (the store's own are in :mod:`store.errors`)."""

from core.errors import CredentialsError, FactoryError


class IngestError(FactoryError):
    """Base of the ingest service's errors."""


class BrokerAuthError(IngestError, CredentialsError):
    """The broker refused our credentials: retrying cannot help, so the service stops."""


class BrokerError(IngestError):
    """The broker could not be reached or refused us."""
