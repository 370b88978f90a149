"""The session configuration: what a connection starts with, and how `session.update` and
`response.create` change it. Pure functions over the wire-shaped `session` object, no I/O."""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping
from typing import Any

from voicecli.realtime.events import SAMPLE_RATE
from voicecli.server.ids import new_id
from voicecli.server.validation import ProtocolViolation

__all__ = ["DEFAULT_MODEL", "PCM", "SESSION_SECONDS", "default_session_config", "response_config", "updated_config"]

DEFAULT_MODEL = "gpt-realtime"
SESSION_SECONDS = 3600
PCM = {"type": "audio/pcm", "rate": SAMPLE_RATE}
"""The only audio format the local server speaks, in and out."""
_TURN_DETECTION_DEFAULTS: dict[str, dict[str, Any]] = {
    "server_vad": {
        "threshold": 0.5,
        "prefix_padding_ms": 300,
        "silence_duration_ms": 500,
        "idle_timeout_ms": None,
        "create_response": True,
        "interrupt_response": True,
    },
    "semantic_vad": {"eagerness": "auto", "create_response": True, "interrupt_response": True},
}
_CONTAINERS = frozenset({"audio", "input", "output"})


def default_session_config(model: str = DEFAULT_MODEL, lifetime_s: float = SESSION_SECONDS) -> dict[str, Any]:
    """The session a new connection starts with, as `session.created` shows it (`expires_at` is
    when the server will end it, whole seconds, rounded down like the service's)."""
    return {
        "type": "realtime",
        "object": "realtime.session",
        "id": new_id("sess"),
        "model": model,
        "output_modalities": ["audio"],
        "instructions": "You are the voicecli local test assistant. Replies come from a local brain.",
        "tools": [],
        "tool_choice": "auto",
        "max_output_tokens": "inf",
        "tracing": None,
        "truncation": "auto",
        "prompt": None,
        "expires_at": int(time.time() + lifetime_s),
        "include": None,
        "audio": {
            "input": {
                "format": dict(PCM),
                "transcription": None,
                "noise_reduction": None,
                "turn_detection": {"type": "server_vad", **_TURN_DETECTION_DEFAULTS["server_vad"]},
            },
            "output": {"format": dict(PCM), "voice": "alloy", "speed": 1.0},
        },
    }


def updated_config(config: dict[str, Any], update: Mapping[str, Any], *, voice_used: bool) -> dict[str, Any]:
    """The session after a `session.update`; `ProtocolViolation` for what the local server cannot
    do, or for a new voice once the assistant has spoken (`voice_used`), as the service refuses it."""
    if update.get("type") != "realtime":
        raise ProtocolViolation("The local server supports only sessions of type 'realtime'.", param="session.type")
    audio = update.get("audio") or {}
    for direction in ("input", "output"):
        audio_format = (audio.get(direction) or {}).get("format") or {}
        for key, supported in PCM.items():
            if audio_format.get(key, supported) != supported:
                raise ProtocolViolation(
                    f"Invalid value: {audio_format[key]!r}. The local server supports only 'audio/pcm' at 24000 Hz.",
                    param=f"session.audio.{direction}.format.{key}",
                )
    voice = (audio.get("output") or {}).get("voice")
    if voice is not None and voice_used and voice != config["audio"]["output"]["voice"]:
        raise ProtocolViolation(
            "Cannot update a conversation's voice if assistant audio is present.",
            code="cannot_update_voice",
            param="session.audio.output.voice",
        )
    merged = _merge(config, update)
    for direction in ("input", "output"):
        merged["audio"][direction]["format"] = {**PCM, **(merged["audio"][direction]["format"] or {})}
    turn_detection = merged["audio"]["input"].get("turn_detection")
    if turn_detection is not None:
        given = {key: value for key, value in turn_detection.items() if value is not None}
        merged["audio"]["input"]["turn_detection"] = {**_TURN_DETECTION_DEFAULTS[given["type"]], **given}
    return merged


def response_config(session: dict[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """The session configuration with the overrides of one `response.create`."""
    config = copy.deepcopy(session)
    for key in ("instructions", "tools", "tool_choice", "output_modalities", "max_output_tokens"):
        if params.get(key) is not None:
            config[key] = copy.deepcopy(params[key])
    output = ((params.get("audio") or {}).get("output")) or {}
    for key in ("voice", "format"):
        if output.get(key) is not None:
            config["audio"]["output"][key] = copy.deepcopy(output[key])
    config["audio"]["output"]["format"] = {**PCM, **config["audio"]["output"]["format"]}
    return config


def _merge(base: dict[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """Apply a `session.update`: `audio`, `audio.input` and `audio.output` merge (null keeps them);
    every other field is replaced as a whole."""
    merged = copy.deepcopy(base)
    for key, value in update.items():
        if key in _CONTAINERS:
            if value is not None:
                merged[key] = _merge(merged.get(key) or {}, value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged
