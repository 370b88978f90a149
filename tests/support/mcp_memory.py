"""MCP servers in memory: MCP connections over streamable HTTP reach the tests' MCP server without HTTP.

The local server calls a hosted MCP server, and the client an `[[tools.mcp]]` server by URL, through
the `mcp` SDK's streamable HTTP client. `mcp_in_memory()` swaps only that connection: a URL it serves
gets the tests' MCP server (tests/support/mcp_test_server.py, a new instance for each `with`, as each
test's server process is) in this process over the SDK's own in-memory streams, so the listing, the
calls, their errors, list changes and the session's rules around them run as over HTTP; any other URL
is refused as a port nobody listens on would refuse it. What only HTTP shows (a real server, a real
refused connection) stays tested over loopback.
"""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
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
    """While open, MCP connections over streamable HTTP (the local server's and the client's) go to a
    new instance of the tests' MCP server in memory."""
    server = _new_test_server()

    @asynccontextmanager
    async def connect(url: str, **_http: Any) -> AsyncIterator[Any]:
        if url != MEMORY_MCP_URL:
            raise ConnectionRefusedError(f"[Errno 111] Connect call failed ({url})")
        async with InMemoryTransport(server) as streams:
            yield streams

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(streamable_http, "streamable_http_client", connect)
        yield


def _new_test_server() -> Any:
    """The tests' MCP server as a new module: a tool it learns stays with this instance."""
    spec = importlib.util.spec_from_file_location("mcp_test_server_in_memory", Path(mcp_test_server.__file__))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.server
