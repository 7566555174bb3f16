"""The edge agent's exceptions."""


class EdgeError(Exception):
    """Base of the edge agent's errors."""


class PublishError(EdgeError):
    """The broker could not be reached or a publish failed; the agent retries."""


class AuthError(PublishError):
    """The broker refused our credentials; retrying cannot help, so the agent stops."""


class ClientIdConflict(EdgeError):
    """The broker keeps closing sessions it accepted: another agent with our client id
    takes it each time. A configuration error (exit 2)."""
