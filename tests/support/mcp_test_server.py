"""A small MCP server for the tests, written with the `mcp` SDK, on stdio or streamable HTTP.

`python mcp_test_server.py [--http PORT] [--mode ok|crash|hang]`: in `crash` mode a call to
`get_weather` kills the process, in `hang` mode it never answers; `learn_forecast` adds a tool and
sends `notifications/tools/list_changed`; `broken_tool` always fails.
"""

from __future__ import annotations

import argparse
import os
import time

from mcp.server.mcpserver import Context, MCPServer

server = MCPServer("voicecli-test")
mode = "ok"


@server.tool()
def get_weather(city: str) -> str:
    """Get the current weather for a city."""
    if mode == "crash":
        os._exit(3)
    if mode == "hang":
        time.sleep(3600)
    return f"sunny and 21 degrees in {city} (from MCP)"


@server.tool()
def broken_tool() -> str:
    """A tool that always fails (its result is an MCP error)."""
    raise ValueError("the tool broke")


@server.tool(name="odd.name")
def odd_name() -> str:
    """A name the Realtime API would refuse."""
    return "odd"


def get_forecast(city: str, days: int) -> str:
    """The forecast for a city, some days ahead."""
    return f"{days} more sunny days in {city}"


@server.tool()
async def learn_forecast(ctx: Context) -> str:
    """Offer one more tool, and tell the client its tool list changed."""
    server.add_tool(get_forecast)
    await ctx.session.send_tool_list_changed()
    return "get_forecast is offered now"


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--http", type=int, default=0)
    parser.add_argument("--mode", default="ok")
    options = parser.parse_args()
    mode = options.mode
    if options.http:
        server.run(transport="streamable-http", host="127.0.0.1", port=options.http)
    else:
        server.run()
