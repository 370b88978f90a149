"""Hosted MCP servers in memory: the local server's MCP calls reach the tests' MCP server without HTTP.

The local server calls a hosted MCP server through the `mcp` SDK's streamable HTTP client
(voicecli/server/session/hosted_mcp.py). `mcp_in_memory()` swaps only that connection: a URL it
serves gets the tests' MCP server (tests/support/mcp_test_server.py) in this process over the SDK's
own in-memory streams, so the listing, the calls, their errors and the session's rules around them
run as over HTTP; any other URL is refused as a port nobody listens on would refuse it. What only
HTTP shows (a real server, a real refused connection) stays tested over loopback.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import pytest
from mcp.client import streamable_http
from mcp.client._memory import InMemoryTransport

from support import mcp_test_server

__all__ = ["MEMORY_MCP_URL", "mcp_in_memory"]

MEMORY_MCP_URL = "http://127.0.0.1:9/mcp"
"""The tests' MCP server in memory (a loopback URL, as the local server accepts no other)."""


@contextmanager
def mcp_in_memory() -> Iterator[None]:
    """While open, the local server's hosted MCP connections go to the tests' MCP server in memory."""

    @asynccontextmanager
    async def connect(url: str, **_http: Any) -> AsyncIterator[Any]:
        if url != MEMORY_MCP_URL:
            raise ConnectionRefusedError(f"[Errno 111] Connect call failed ({url})")
        async with InMemoryTransport(mcp_test_server.server) as streams:
            yield streams

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(streamable_http, "streamable_http_client", connect)
        yield
