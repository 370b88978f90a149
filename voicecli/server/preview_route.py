"""The Azure preview route (`/openai/realtime?api-version=…`) speaks the beta shape.

Preview deployments speak the Realtime beta protocol, so the local server does too on that route,
and a client that sends GA-shaped events there is refused as it would be by such a deployment
(`unknown_parameter`, e.g. `session.type`). The session itself stays GA: incoming beta events are
checked against `openai.types.beta.realtime`, then rewritten to GA; outgoing GA events are rewritten
to beta (GA-only events dropped) and checked against the beta types before they are sent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from voicecli.realtime.events import SAMPLE_RATE
from voicecli.server.session.session import ServerSession
from voicecli.server.validation import ProtocolViolation, validate_client_event, validate_server_event

__all__ = ["PREVIEW_PATH", "beta_form", "handle_preview_frame", "to_beta_server_event", "to_ga_client_event"]

PREVIEW_PATH = "/openai/realtime"

_GA_FORMATS: dict[str, dict[str, Any]] = {
    "pcm16": {"type": "audio/pcm", "rate": SAMPLE_RATE},
    "g711_ulaw": {"type": "audio/pcmu"},
    "g711_alaw": {"type": "audio/pcma"},
}
_BETA_FORMATS = {"audio/pcm": "pcm16", "audio/pcmu": "g711_ulaw", "audio/pcma": "g711_alaw"}
_BETA_NAMES = {
    "conversation.item.added": "conversation.item.created",
    "response.output_audio.delta": "response.audio.delta",
    "response.output_audio.done": "response.audio.done",
    "response.output_audio_transcript.delta": "response.audio_transcript.delta",
    "response.output_audio_transcript.done": "response.audio_transcript.done",
    "response.output_text.delta": "response.text.delta",
    "response.output_text.done": "response.text.done",
}
_GA_ONLY_EVENTS = frozenset({"conversation.item.done"})
_GA_ONLY_FIELDS = {"response.function_call_arguments.done": ("name",)}  # beta: the name is on the item only
_BETA_CONTENT = {"output_text": "text", "output_audio": "audio"}
_GA_CONTENT = {value: key for key, value in _BETA_CONTENT.items()}


async def checked_frame(session: ServerSession, data: bytes | str, check: Callable[[Any], None]) -> Any:
    """The client event in `data` once `check` accepts it; None when the session refused it (not JSON,
    or `check` raised `ProtocolViolation`)."""
    try:
        event = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        await session.refuse(None, ProtocolViolation(f"The event is not valid JSON: {exc}.", code="invalid_json"))
        return None
    try:
        check(event)
    except ProtocolViolation as violation:
        await session.refuse(event, violation)
        return None
    return event


async def handle_preview_frame(session: ServerSession, data: bytes | str) -> None:
    """Check one beta-shaped client frame, then let the GA session apply it."""
    event = await checked_frame(session, data, lambda event: validate_client_event(event, "beta"))
    if event is not None:
        await session.handle(to_ga_client_event(event))


def to_beta_server_event(event: dict[str, Any]) -> dict[str, Any] | None:
    """The beta form of a GA server event, checked against the beta types; None for GA-only events."""
    beta = beta_form(event)
    if beta is not None:
        validate_server_event(beta, "beta")
    return beta


def beta_form(event: dict[str, Any]) -> dict[str, Any] | None:
    """The beta form of a GA server event, unchecked (Voice Live, a beta-shaped dialect, checks its own)."""
    kind = event["type"]
    if kind in _GA_ONLY_EVENTS:
        return None
    beta = {key: value for key, value in event.items() if key not in _GA_ONLY_FIELDS.get(kind, ())}
    beta["type"] = _BETA_NAMES.get(kind, kind)
    if isinstance(beta.get("session"), dict):
        beta["session"] = _beta_session(beta["session"])
    if isinstance(beta.get("response"), dict):
        beta["response"] = _beta_response(beta["response"])
    if isinstance(beta.get("item"), dict):
        beta["item"] = _renamed_content(beta["item"], _BETA_CONTENT)
    return beta


# --- client events: beta → GA ------------------------------------------------------------------------


def to_ga_client_event(event: dict[str, Any]) -> dict[str, Any]:
    """The GA form of a (valid) beta client event."""
    match event["type"]:
        case "session.update":
            return {**event, "session": _ga_session(event["session"])}
        case "response.create" if isinstance(event.get("response"), dict):
            return {**event, "response": _ga_response(event["response"])}
        case "conversation.item.create":
            return {**event, "item": _renamed_content(event["item"], _GA_CONTENT)}
    return event


def _ga_session(beta: dict[str, Any]) -> dict[str, Any]:
    session: dict[str, Any] = {"type": "realtime"}
    for name in ("instructions", "tools", "tool_choice", "model", "tracing"):
        if name in beta:
            session[name] = beta[name]
    _ga_common(beta, session)
    audio_input: dict[str, Any] = {}
    if "input_audio_format" in beta:
        audio_input["format"] = _ga_format(beta["input_audio_format"])
    if "turn_detection" in beta:
        turn_detection = beta["turn_detection"]
        audio_input["turn_detection"] = turn_detection and {"type": "server_vad", **turn_detection}
    for beta_name, ga_name in (
        ("input_audio_transcription", "transcription"),
        ("input_audio_noise_reduction", "noise_reduction"),
    ):
        if beta_name in beta:
            audio_input[ga_name] = beta[beta_name]
    audio = {"input": audio_input} if audio_input else {}
    audio_output = _ga_output_audio(beta)
    if "speed" in beta:
        audio_output["speed"] = beta["speed"]
    if audio_output:
        audio["output"] = audio_output
    if audio:
        session["audio"] = audio
    return session  # `temperature`, beta only, has no GA counterpart; the local brains ignore it


def _ga_response(beta: dict[str, Any]) -> dict[str, Any]:
    response: dict[str, Any] = {
        key: beta[key] for key in ("conversation", "instructions", "metadata", "tools", "tool_choice") if key in beta
    }
    _ga_common(beta, response)
    if "input" in beta:
        response["input"] = [_renamed_content(item, _GA_CONTENT) for item in beta["input"]]
    audio_output = _ga_output_audio(beta)
    if audio_output:
        response["audio"] = {"output": audio_output}
    return response


def _ga_common(beta: dict[str, Any], ga: dict[str, Any]) -> None:
    if "modalities" in beta:
        ga["output_modalities"] = ["audio"] if "audio" in (beta["modalities"] or ()) else ["text"]
    if "max_response_output_tokens" in beta:
        ga["max_output_tokens"] = beta["max_response_output_tokens"]


def _ga_output_audio(beta: dict[str, Any]) -> dict[str, Any]:
    audio_output: dict[str, Any] = {}
    if "output_audio_format" in beta:
        audio_output["format"] = _ga_format(beta["output_audio_format"])
    if "voice" in beta:
        audio_output["voice"] = beta["voice"]
    return audio_output


def _ga_format(beta_format: str) -> dict[str, Any]:
    return dict(_GA_FORMATS[beta_format])


# --- server events: GA → beta ------------------------------------------------------------------------


def _beta_session(ga: dict[str, Any]) -> dict[str, Any]:
    audio = ga.get("audio") or {}
    audio_input, audio_output = audio.get("input") or {}, audio.get("output") or {}
    turn_detection = audio_input.get("turn_detection")
    if turn_detection is not None:
        turn_detection = {key: value for key, value in turn_detection.items() if key != "idle_timeout_ms"}
    session: dict[str, Any] = {
        key: ga[key] for key in ("id", "model", "instructions", "tools", "tool_choice") if key in ga
    }
    session.update(
        modalities=_beta_modalities(ga.get("output_modalities")),
        max_response_output_tokens=ga.get("max_output_tokens", "inf"),
        input_audio_format=_beta_format(audio_input.get("format")),
        input_audio_transcription=audio_input.get("transcription"),
        input_audio_noise_reduction=audio_input.get("noise_reduction"),
        turn_detection=turn_detection,
        output_audio_format=_beta_format(audio_output.get("format")),
        voice=audio_output.get("voice"),
        speed=audio_output.get("speed"),
    )
    return session


def _beta_response(ga: dict[str, Any]) -> dict[str, Any]:
    response = {key: value for key, value in ga.items() if key not in ("output_modalities", "audio")}
    if "output_modalities" in ga:
        response["modalities"] = _beta_modalities(ga["output_modalities"])
    audio_output = (ga.get("audio") or {}).get("output") or {}
    if "format" in audio_output:
        response["output_audio_format"] = _beta_format(audio_output["format"])
    if "voice" in audio_output:
        response["voice"] = audio_output["voice"]
    if isinstance(response.get("output"), list):
        response["output"] = [_renamed_content(item, _BETA_CONTENT) for item in response["output"]]
    if isinstance(response.get("usage"), dict):
        response["usage"] = _beta_usage(response["usage"])
    return response


def _beta_usage(usage: dict[str, Any]) -> dict[str, Any]:
    """Beta usage counts audio, text and cached tokens only (no image tokens, no cache details)."""
    beta = dict(usage)
    for details, kept in (
        ("input_token_details", ("audio_tokens", "cached_tokens", "text_tokens")),
        ("output_token_details", ("audio_tokens", "text_tokens")),
    ):
        if isinstance(usage.get(details), dict):
            beta[details] = {key: value for key, value in usage[details].items() if key in kept}
    return beta


def _beta_modalities(output_modalities: list[str] | None) -> list[str]:
    return ["audio", "text"] if not output_modalities or "audio" in output_modalities else ["text"]


def _beta_format(ga_format: dict[str, Any] | None) -> str:
    return _BETA_FORMATS.get((ga_format or {}).get("type", "audio/pcm"), "pcm16")


def _renamed_content(item: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    content = item.get("content")
    if not isinstance(content, list):
        return item
    return {**item, "content": [{**part, "type": names.get(part.get("type"), part.get("type"))} for part in content]}
