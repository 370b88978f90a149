"""The library's one error tree: a caller catches `RealtimeError` (or one of its two kinds) instead of
any transport's own exceptions. Problems inside a session that do not end it are events, not errors
(`RealtimeErrorEvent`)."""


class RealtimeError(Exception):
    """Base of the errors a caller can catch instead of a transport's own exceptions."""


class RealtimeConfigurationError(RealtimeError):
    """Something the caller must set is missing or wrong (key, endpoint, deployment)."""


class RealtimeConnectionError(RealtimeError):
    """The service could not be reached, or refused the connection."""
