"""The errors a caller of the realtime library can catch instead of a transport's own exceptions."""


class RealtimeError(Exception):
    """Base of the errors a caller can catch instead of a transport's own exceptions."""


class RealtimeConfigurationError(RealtimeError):
    """Something the caller must set is missing or wrong (key, endpoint, deployment)."""


class RealtimeConnectionError(RealtimeError):
    """The service could not be reached, or refused the connection."""
