"""The local realtime server: the OpenAI Realtime GA protocol on loopback, for tests and offline use."""

from .app import LocalServer, serve_forever
from .faults import Faults

__all__ = ["Faults", "LocalServer", "serve_forever"]
