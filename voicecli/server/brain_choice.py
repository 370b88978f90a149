"""`brain = "auto"`: a chat model the user already runs on this machine, else the echo brain.

Local chat servers speak the OpenAI chat completions API on well-known loopback ports. At start the
server asks each for its models (`GET /v1/models`, a short timeout, all at once) and uses the first
that answers, in the order of `LOCAL_CHAT_SERVERS`, with the first model it lists (unless one is
configured). Nothing off this machine is ever asked.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

__all__ = ["LOCAL_CHAT_SERVERS", "FoundChat", "api_key_from", "find_local_chat"]

_log = logging.getLogger(__name__)

LOCAL_CHAT_SERVERS = (("Ollama", 11434), ("llama.cpp's server", 8080), ("LM Studio", 1234))
"""Name and usual port of the local OpenAI-compatible chat servers, in the order they are preferred."""
PROBE_TIMEOUT_S = 0.5


@dataclass(frozen=True, slots=True)
class FoundChat:
    """A chat server that answered: what it is, its API base and the model to ask for."""

    name: str
    url: str
    model: str


def api_key_from(variable: str | None) -> str | None:
    """The chat endpoint's key from the environment variable named in the configuration (never the
    key itself in a file); `ValueError` when the variable is named but not set."""
    if not variable:
        return None
    key = os.environ.get(variable, "").strip()
    if not key:
        raise ValueError(f"local.chat_api_key_env names {variable}, which is not set in the environment")
    return key


def find_local_chat(api_key: str | None = None) -> FoundChat | None:
    """The first local chat server of `LOCAL_CHAT_SERVERS` that lists a model, or None."""
    servers = LOCAL_CHAT_SERVERS
    with ThreadPoolExecutor(max_workers=len(servers)) as pool:
        answers = list(pool.map(lambda server: _probe(server[0], server[1], api_key), servers))
    return next((found for found in answers if found is not None), None)


def _probe(name: str, port: int, api_key: str | None) -> FoundChat | None:
    url = f"http://127.0.0.1:{port}/v1"
    request = urllib.request.Request(f"{url}/models", headers={"Accept": "application/json"})
    if api_key:
        request.add_header("Authorization", f"Bearer {api_key}")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never through a proxy
    try:
        with opener.open(request, timeout=PROBE_TIMEOUT_S) as answer:
            listing = json.loads(answer.read(1_000_000))
    except (OSError, ValueError, urllib.error.URLError):
        return None
    entries = listing.get("data") if isinstance(listing, dict) else None
    ids = [entry.get("id") for entry in entries or () if isinstance(entry, dict)]
    models = [model for model in ids if isinstance(model, str) and model]
    if not models:
        _log.info("%s answers on port %d but lists no model", name, port)
        return None
    return FoundChat(name, url, models[0])
