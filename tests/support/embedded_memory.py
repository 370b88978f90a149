"""The embedded local provider in memory: a `voicecli` command's local session without its loopback socket.

The local provider (`LocalRealtime`, voicecli/server/embedded.py) starts the local server in this
process and reaches it over WebSocket on 127.0.0.1. `embedded_in_memory()` keeps everything of that
client but its transport: each client it makes talks to a session of a server with the same brain,
pacing and session limit, bound in memory (`RealtimeSessionTransport`), so a command's rules (what
it writes, what it says, its exit code) are tested in milliseconds. A real session over the socket
stays tested where the connection is the point.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from support.session_transport import RealtimeSessionTransport
from voicecli.realtime.transport import Transport
from voicecli.server import embedded
from voicecli.server.config import ServerConfig
from voicecli.server.faults import Faults

__all__ = ["embedded_in_memory"]


class _EmbeddedSession(RealtimeSessionTransport):
    """Takes `EmbeddedServerTransport`'s place: the embedded server's session, in memory."""

    def __init__(self, _inner: Transport, _aim: Callable[[str], None], server: embedded.EmbeddedServer) -> None:
        config = ServerConfig(
            brain=server.brain, faults=Faults(), pacing=server.pacing, max_session_s=server.max_session_s
        )
        super().__init__(config, model=embedded.LOCAL_MODEL)
        self.server = None  # no LocalServer runs


@contextmanager
def embedded_in_memory() -> Iterator[None]:
    """While open, every local-provider client made is bound in memory to its server's session."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(embedded, "EmbeddedServerTransport", _EmbeddedSession)
        yield
