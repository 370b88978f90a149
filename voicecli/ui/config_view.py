"""`voicecli config show`: the effective configuration as TOML, with every secret masked.

The output is itself a valid configuration file: the provider keys, which must never be written to
a file, appear only as comments saying whether their environment variable is set, and so does the
Azure route the configuration leads to (GA, or preview with an API version) with its URL. Every
value passes `redact`, so a password in a URL shows as `[redacted]`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.syntax import Syntax

from voicecli.config import AppConfig, default_config_path, to_display_dict
from voicecli.realtime.endpoints import AzureRoute, azure_webrtc_route, azure_websocket_route, websocket_url_for
from voicecli.realtime.live_protocol import choose_protocol
from voicecli.realtime.live_ws import azure_live_route
from voicecli.realtime.safe_text import redact

COMMENT_KEYS = frozenset({"api_key", "route"})
"""Shown as comments: secrets (whether set, never the value) and what is derived, not configured."""


def config_toml(config: AppConfig) -> str:
    """TOML text of the configuration: top-level values first, then one table per section."""
    shown = to_display_dict(config)
    shown["azure"]["route"] = str(azure_route(config))
    lines = _table_lines(shown)
    for name, value in shown.items():
        if isinstance(value, dict):
            lines += ["", f"[{name}]", *_table_lines(value)]
            for sub, table in value.items():  # [prices."gpt-realtime"]
                if isinstance(table, dict):
                    lines += ["", f"[{name}.{json.dumps(sub)}]", *_table_lines(table)]
    return "\n".join(lines) + "\n"


def _table_lines(table: dict[str, Any]) -> list[str]:
    lines = []
    for key, value in table.items():
        if key in COMMENT_KEYS:
            lines.append(f"# {key}: {redact(str(value))}")
        elif not isinstance(value, dict):
            lines.append(f"{key} = {_toml_value(value)}")
    return lines


def azure_route(config: AppConfig) -> AzureRoute:
    """The Azure route and URL the configured transport takes (preview only with an API version)."""
    azure = config.azure
    if azure.service == "voice-live":
        base = websocket_url_for(azure.endpoint or "https://<endpoint>")
        url = f"{base}/voice-live/realtime?api-version={azure.voice_live_api_version}"
        if config.transport == "webrtc":  # the call is signalled on this socket (a preview)
            from voicecli.realtime.voice_live_calls import webrtc_api_version

            url = f"{base}/voice-live/realtime/calls?api-version={webrtc_api_version(azure.voice_live_api_version)}"
            return AzureRoute("Voice Live (WebRTC)", f"{url}&model={azure.deployment or '<model>'}")
        return AzureRoute("Voice Live", f"{url}&model={azure.deployment or '<model>'}")
    if choose_protocol(azure.deployment, config.protocol) == "live":
        if config.transport == "webrtc":  # the call is set up with POST on the same path, over https
            return AzureRoute(
                "GPT-Live over WebRTC",
                f"{(azure.endpoint or 'https://<endpoint>').rstrip('/')}/openai/v1/live/sessions",
            )
        return azure_live_route(azure.endpoint)
    if config.transport == "webrtc":
        return azure_webrtc_route(azure.endpoint)
    return azure_websocket_route(azure.endpoint, azure.deployment or None, azure.api_version or None)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(redact(str(value)), ensure_ascii=False)  # JSON string escapes are valid TOML


def sources(path: Path | None, profile: str | None) -> str:
    """Which layers made this configuration, lowest first."""
    file = path or default_config_path()
    layers = ["defaults", str(file) if file.is_file() else f"(no file at {file})"]
    if profile:
        layers.append(f"[profiles.{profile}]")
    return " < ".join([*layers, "environment"])


def show_config(config: AppConfig, path: Path | None, profile: str | None, console: Console | None = None) -> None:
    console = console or Console()
    text = f"# effective configuration: {sources(path, profile)}\n\n{config_toml(config)}"
    if console.is_terminal:
        console.print(Syntax(text, "toml", theme="ansi_dark", background_color="default"))
    else:
        console.out(text, end="", highlight=False)
