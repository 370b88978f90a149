"""GPT-Live on the wire (`openai.types.live`): event names, the client events voicecli sends, and
the parse of server events into the same typed events the Realtime protocol yields.

GPT-Live has no conversation items, so events carry no item ids: `LiveProtocolSession` names each
stretch of the model's speech itself (for the audio callback's bookkeeping).
"""

from __future__ import annotations

import binascii
from enum import StrEnum
from typing import Any, Literal

import numpy as np
import orjson

from voicecli.realtime import events as ev
from voicecli.realtime.protocol import base64_to_pcm, pcm_to_base64
from voicecli.realtime.settings import AUDIO_FORMAT, RealtimeSettings

__all__ = [
    "LIVE_MODEL_PREFIX",
    "LiveEvents",
    "choose_protocol",
    "is_live_model",
    "parse_live_message",
    "session_start",
]

LIVE_MODEL_PREFIX = "gpt-live"
TYPED_TEXT_PREFIX = "The user typed: "
"""GPT-Live takes no user text: typed words go in as instructions that say so."""
GREETING_REQUEST = "Speak first: greet the user briefly."
"""What `create_response=True` appends: GPT-Live has no response.create, but instructions may ask."""
FATAL_CODES = frozenset({"invalid_api_key", "session_expired"})


class LiveEvents(StrEnum):
    """The GPT-Live event types voicecli sends or reacts to."""

    SESSION_START = "session.start"
    SESSION_STARTED = "session.started"
    SESSION_UPDATE = "session.update"
    SESSION_CLOSE = "session.close"
    SESSION_CLOSED = "session.closed"
    INPUT_AUDIO_APPEND = "session.input_audio.append"
    INPUT_AUDIO_MUTE = "session.input_audio.mute"
    INPUT_AUDIO_UNMUTE = "session.input_audio.unmute"
    INSTRUCTIONS_APPEND = "session.instructions.append"
    COMMENTARY_APPEND = "session.commentary.append"
    OUTPUT_AUDIO_DELTA = "session.output_audio.delta"
    OUTPUT_TRANSCRIPT_DELTA = "session.output_transcript.delta"
    INPUT_TRANSCRIPT_DELTA = "session.input_transcript.delta"
    DELEGATION_CREATED = "session.delegation.created"
    USAGE_UPDATED = "session.usage.updated"
    RESPONSE_EVENT = "response.event"
    ERROR = "error"


def is_live_model(model: str | None) -> bool:
    """Whether `model` names a GPT-Live model (`gpt-live-1`, `gpt-live-1.1`, …)."""
    return bool(model) and str(model).lower().startswith(LIVE_MODEL_PREFIX)


def choose_protocol(model: str | None, protocol: str | None = None) -> Literal["realtime", "live"]:
    """The protocol a session speaks: `protocol` when it says `realtime` or `live`, otherwise GPT-Live
    for a `gpt-live-*` model (or Azure deployment named so) and Realtime for anything else."""
    if protocol in ("realtime", "live"):
        return protocol  # type: ignore[return-value]
    return "live" if is_live_model(model) else "realtime"


def session_start(
    settings: RealtimeSettings,
    model: str,
    *,
    delegation: dict[str, Any] | None = None,
    history: list[tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """The `session.start` for `settings`: what GPT-Live fixes at startup (model, instructions, voice,
    format, delegation), and the conversation so far as its text-only `input` (a new session after a
    drop). Turn detection, modalities and tools do not exist there: the model decides turns and
    speaks; tools run on the client's side of a delegation."""
    audio: dict[str, Any] = {"format": dict(AUDIO_FORMAT)}
    if settings.voice:
        audio["output"] = {"voice": settings.voice}
    session: dict[str, Any] = {"model": model, "audio": audio, "delegation": delegation or {"type": "client"}}
    if settings.instructions:
        session["instructions"] = settings.instructions
    if history:
        session["input"] = carried_input(history)
    return {"type": LiveEvents.SESSION_START.value, "session": session}


MAX_INPUT_MESSAGES = 128
MAX_INPUT_CHARS = 24_000
"""GPT-Live takes at most 128 startup messages and 8,192 rendered tokens by default: about this much text."""
CONTINUATION_NOTE = (
    "The conversation above continues from an earlier session that ended for technical reasons. "
    "Carry on from where it stopped: do not greet the user again."
)


def carried_input(history: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """The conversation so far as startup `input`, within the protocol's caps: the newest turns are
    kept (the oldest left out first), each one text part, and a note that the conversation goes on."""
    budget = MAX_INPUT_CHARS - len(CONTINUATION_NOTE)
    kept: list[dict[str, Any]] = []
    for role, words in reversed(history):
        text = words.strip()
        if not text or role not in ("user", "assistant"):
            continue
        if len(kept) == MAX_INPUT_MESSAGES - 1 or len(text) > budget:
            break
        budget -= len(text)
        part = "output_text" if role == "assistant" else "input_text"
        kept.append({"type": "message", "role": role, "content": [{"type": part, "text": text}]})
    kept.reverse()
    note = {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": CONTINUATION_NOTE}]}
    return [*kept, note]


def append_audio(pcm: np.ndarray) -> dict[str, Any]:
    return {"type": LiveEvents.INPUT_AUDIO_APPEND.value, "audio": pcm_to_base64(pcm)}


def simple(kind: LiveEvents) -> dict[str, Any]:
    return {"type": kind.value}


def context_append(kind: LiveEvents, content: str, delegation_id: str | None = None) -> dict[str, Any]:
    """An append-only context event (`delegation_id` is required by the protocol, null when general)."""
    return {"type": kind.value, "content": content, "delegation_id": delegation_id}


def typed_text(text: str) -> dict[str, Any]:
    return context_append(LiveEvents.INSTRUCTIONS_APPEND, TYPED_TEXT_PREFIX + text)


def parse_live_message(raw: bytes | str) -> ev.RealtimeEvent:
    """One wire message as a typed event; malformed input becomes an error event, never an exception."""
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _malformed("the service sent a frame that is not JSON")
    if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
        return _malformed("the service sent an event without a type")
    kind = payload["type"]
    try:
        match kind:
            case LiveEvents.OUTPUT_AUDIO_DELTA:
                rest = {key: value for key, value in payload.items() if key != "delta"}
                audio = ev.AudioContent(data=base64_to_pcm(_text(payload, "delta")))
                return ev.RealtimeAudioEvent(service_type=kind, service_event=rest, audio=audio)
            case LiveEvents.OUTPUT_TRANSCRIPT_DELTA | LiveEvents.INPUT_TRANSCRIPT_DELTA:
                user = kind == LiveEvents.INPUT_TRANSCRIPT_DELTA
                text = ev.TextContent(
                    text=_text(payload, "delta"),
                    source="user_transcript" if user else "assistant_transcript",
                    final=user,  # GPT-Live has no transcript-done event: each user fragment stands alone
                )
                return ev.RealtimeTextEvent(service_type=kind, service_event=payload, text=text)
            case LiveEvents.ERROR:
                error = payload["error"]
                code = error.get("code")
                content = ev.ErrorContent(
                    message=str(error.get("message") or "the service reported an error"),
                    code=code,
                    type=error.get("type"),
                    fatal=code in FATAL_CODES,
                )
                return ev.RealtimeErrorEvent(service_type=kind, service_event=payload, error=content)
    except (KeyError, TypeError, ValueError, AttributeError, binascii.Error) as exc:
        return _malformed(f"the service sent a malformed {kind} event ({type(exc).__name__}: {exc})", payload)
    return ev.RealtimeEvent(service_type=kind, service_event=payload)


def _text(payload: dict[str, Any], key: str) -> str:
    value = payload[key]
    if not isinstance(value, str):
        raise TypeError(f"{key} is {type(value).__name__}, not text")
    return value


def _malformed(message: str, payload: dict[str, Any] | None = None) -> ev.RealtimeErrorEvent:
    return ev.RealtimeErrorEvent(
        service_type="malformed", service_event=payload, error=ev.ErrorContent(message=message, code="malformed_event")
    )
