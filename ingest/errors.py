"""The ingest service's exceptions (the store's own are in :mod:`store.errors`)."""


class IngestError(Exception):
    """Base of the ingest service's errors."""


class BrokerAuthError(IngestError):
    """The broker refused our credentials: retrying cannot help, so the service stops."""


class BrokerError(IngestError):
    """The broker could not be reached or refused us."""


class ClientIdConflict(IngestError):
    """Another live connection uses our client id: each takes the session from the other.
    A configuration error (exit 2), not something a retry can fix."""
