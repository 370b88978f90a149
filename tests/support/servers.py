"""Clients of every transport pointed at a local realtime server on loopback."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from voicecli.realtime import AzureRealtimeWebsocket, OpenAIRealtimeWebsocket, RealtimeClient
from voicecli.server import LocalRealtime, LocalServer
from voicecli.server.validation import Shape

WEATHER_SCRIPT = Path(__file__).resolve().parents[2] / "voicecli" / "server" / "scripts" / "weather.toml"
TRANSPORTS = ["openai_ws", "azure_ga", "azure_preview", "local"]

ClientFactory = Callable[..., RealtimeClient]


def wire_shape(transport: str) -> Shape:
    """The protocol shape a transport speaks: beta on Azure's preview route, GA everywhere else."""
    return "beta" if transport == "azure_preview" else "ga"


def client_factory(transport: str, server: LocalServer) -> ClientFactory:
    """A constructor of the given transport pointed at `server` (for `local`, its own server)."""
    match transport:
        case "openai_ws":
            return lambda **kw: OpenAIRealtimeWebsocket(api_key="sk-test", websocket_base_url=server.ws_base_url, **kw)
        case "azure_ga":
            return lambda **kw: AzureRealtimeWebsocket(
                endpoint=server.http_url, api_key="azure-test", deployment_name="gpt-realtime", **kw
            )
        case "azure_preview":
            return lambda **kw: AzureRealtimeWebsocket(
                endpoint=server.http_url,
                api_key="azure-test",
                deployment_name="gpt-realtime",
                api_version="2025-04-01-preview",
                websocket_base_url=server.http_url.replace("http://", "ws://") + "/openai",
                **kw,
            )
        case "local":
            brain = "scripted" if server.brain_name == "scripted" else "echo"
            script = WEATHER_SCRIPT if brain == "scripted" else None
            return lambda **kw: LocalRealtime(brain=brain, script=script, pacing=server.config.pacing, **kw)
    raise ValueError(transport)
