"""The edge agent's exceptions."""


class EdgeError(Exception):
    """Base of the edge agent's errors."""


class PublishError(EdgeError):
    """The broker could not be reached or refused a message; the message says what to do."""
