"""`ServerSession`: the state machine of one Realtime connection, independent of the transport.

The transport feeds it client events (`handle_raw` for frames, `handle` for parsed dicts) and gives
it a `send` coroutine for server events. Every event in either direction is checked against the
`openai` types; a client mistake becomes the service's `error` event, a server mistake raises.
Response audio goes through an `AudioOut` strategy: base64 `response.output_audio.delta` events by
default (WebSocket); a WebRTC transport passes one that writes to its RTP track instead.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import copy
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import orjson

from . import synth
from .brains import Brain, ToolCall
from .conversation import BYTES_PER_MS, Conversation, Item
from .ids import new_id
from .vad import EnergyVad, SpeechStarted, VadConfig
from .validation import ProtocolViolation, validate_client_event, validate_server_event

__all__ = [
    "AudioOut",
    "AudioRef",
    "DeltaAudioOut",
    "Send",
    "ServerSession",
    "default_session_config",
    "error_event",
]

Send = Callable[[dict[str, Any]], Awaitable[None]]

DEFAULT_MODEL = "gpt-realtime"
SESSION_SECONDS = 3600
_SAMPLES_PER_MS = BYTES_PER_MS // 2
_CHUNK_BYTES = 100 * BYTES_PER_MS  # ~100 ms of audio per delta, like the service
_MIN_COMMIT_MS = 100
_MAX_APPEND_BYTES = 15 * 1024 * 1024
_MAX_UNCOMMITTED_MS = 15 * 60 * 1000  # at most 15 minutes of uncommitted audio (about 43 MB)
_ARGUMENT_DELTA_CHARS = 8
_IDLE_BUFFER_MS = 1000  # audio kept before the prefix padding while server VAD hears silence
_PCM = {"type": "audio/pcm", "rate": 24000}
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
_log = logging.getLogger(__name__)


def default_session_config(model: str = DEFAULT_MODEL) -> dict[str, Any]:
    """The session a new connection starts with, as `session.created` shows it."""
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
        "expires_at": int(time.time()) + SESSION_SECONDS,
        "include": None,
        "audio": {
            "input": {
                "format": dict(_PCM),
                "transcription": None,
                "noise_reduction": None,
                "turn_detection": {"type": "server_vad", **_TURN_DETECTION_DEFAULTS["server_vad"]},
            },
            "output": {"format": dict(_PCM), "voice": "alloy", "speed": 1.0},
        },
    }


def error_event(
    code: str | None,
    message: str,
    *,
    param: str | None = None,
    event_id: str | None = None,
    error_type: str = "invalid_request_error",
) -> dict[str, Any]:
    """An `error` server event in the service's shape (`event_id` names the client event at fault)."""
    return {
        "type": "error",
        "error": {"type": error_type, "code": code, "message": message, "param": param, "event_id": event_id},
    }


# --- the audio seam --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AudioRef:
    """Which content part a piece of response audio belongs to."""

    response_id: str
    item_id: str
    output_index: int
    content_index: int

    def fields(self) -> dict[str, Any]:
        """The location fields shared by the events of this content part."""
        return {
            "response_id": self.response_id,
            "item_id": self.item_id,
            "output_index": self.output_index,
            "content_index": self.content_index,
        }


class AudioOut(Protocol):
    """Where response audio goes. The session paces and records it; the strategy delivers it."""

    async def send(self, ref: AudioRef, pcm: bytes) -> None:
        """Deliver ~100 ms of 24 kHz pcm16 of the given content part."""
        ...

    async def clear(self, response_id: str | None) -> None:
        """Handle the client's `output_audio_buffer.clear` (raise `ProtocolViolation` to refuse)."""
        ...


class DeltaAudioOut:
    """WebSocket delivery: base64 `response.output_audio.delta` events."""

    def __init__(self, emit: Send) -> None:
        self._emit = emit

    async def send(self, ref: AudioRef, pcm: bytes) -> None:
        delta = base64.b64encode(pcm).decode("ascii")
        await self._emit({"type": "response.output_audio.delta", **ref.fields(), "delta": delta})

    async def clear(self, response_id: str | None) -> None:
        raise ProtocolViolation(
            "output_audio_buffer.clear is only supported for WebRTC and SIP connections.", param="type"
        )


# --- responses -------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Response:
    id: str
    config: dict[str, Any]  # the session configuration with this response's overrides
    items: list[Item]  # what the brain sees
    in_conversation: bool
    metadata: Any
    output: list[Item] = field(default_factory=list)
    cancel_reason: str | None = None

    @property
    def audio(self) -> bool:
        return "audio" in self.config["output_modalities"]


@dataclass(slots=True)
class _OutputItem:
    item: Item
    index: int  # output_index within the response
    previous_item_id: str | None = None


class ServerSession:
    """One client's session: configuration, conversation, input buffer, VAD and responses."""

    def __init__(
        self,
        send: Send,
        *,
        brain: Brain,
        model: str = DEFAULT_MODEL,
        audio_out: AudioOut | None = None,
        audio_chunk_delay: float = 0.0,
        on_crash: Callable[[BaseException], None] | None = None,
    ) -> None:
        """`send` delivers a validated server event; `on_crash` hears of a failed response task
        (a server bug), so the transport can close the connection loudly."""
        self._send = send
        self.brain = brain
        self.audio_out: AudioOut = audio_out or DeltaAudioOut(self.emit)
        self.audio_chunk_delay = audio_chunk_delay
        self._on_crash = on_crash
        self.config = default_session_config(model)
        self.conversation = Conversation()
        self._conversation_id = new_id("conv")
        self._buffer = bytearray()  # input audio since the last commit or clear
        self._buffer_start = 0  # stream position (samples) of the buffer's first sample
        self._stream_samples = 0  # samples appended during the session
        self._vad: EnergyVad | None = None
        self._speech_item_id: str | None = None
        self._response: _Response | None = None  # the active response
        self._response_task: asyncio.Task[None] | None = None  # the latest response's; may be finishing
        self._voice_used = False
        self._handlers: dict[str, Callable[[dict[str, Any]], Awaitable[None]]] = {
            "session.update": self._session_update,
            "input_audio_buffer.append": self._buffer_append,
            "input_audio_buffer.commit": self._buffer_commit,
            "input_audio_buffer.clear": self._buffer_clear,
            "conversation.item.create": self._item_create,
            "conversation.item.retrieve": self._item_retrieve,
            "conversation.item.truncate": self._item_truncate,
            "conversation.item.delete": self._item_delete,
            "response.create": self._response_create,
            "response.cancel": self._response_cancel,
            "output_audio_buffer.clear": self._output_buffer_clear,
        }
        self._reset_vad()

    @property
    def id(self) -> str:
        return str(self.config["id"])

    async def start(self) -> None:
        """Send `session.created`, always the first event of a connection."""
        await self.emit({"type": "session.created", "session": copy.deepcopy(self.config)})

    async def close(self) -> None:
        """Stop the response in flight (the transport is gone)."""
        task = self._response_task
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task})

    async def emit(self, event: dict[str, Any]) -> None:
        """Stamp an `event_id`, check the event against the `openai` types, send it.

        Raises `ProtocolViolation` for an invalid event: that is a bug in the server.
        """
        event["event_id"] = new_id("event")
        validate_server_event(event)
        await self._send(event)

    async def handle_raw(self, data: bytes | str) -> None:
        """Handle one frame of JSON text; unparsable text gets the service's `error` event."""
        try:
            event = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            await self.emit(error_event("invalid_json", f"The event is not valid JSON: {exc}."))
            return
        await self.handle(event)

    async def handle(self, event: Any) -> None:
        """Validate and apply one client event; mistakes are answered with an `error` event."""
        client_event_id = event.get("event_id") if isinstance(event, dict) else None
        try:
            validate_client_event(event)
            await self._handlers[event["type"]](event)
        except ProtocolViolation as violation:
            await self.emit(
                error_event(
                    violation.code,
                    violation.message,
                    param=violation.param,
                    event_id=client_event_id if isinstance(client_event_id, str) else None,
                )
            )

    # --- session --------------------------------------------------------------------------------

    async def _session_update(self, event: dict[str, Any]) -> None:
        update = event["session"]
        if update.get("type") != "realtime":
            raise ProtocolViolation("The local server supports only sessions of type 'realtime'.", param="session.type")
        audio = update.get("audio") or {}
        for direction in ("input", "output"):
            audio_format = (audio.get(direction) or {}).get("format") or {}
            for key, supported in _PCM.items():
                if audio_format.get(key, supported) != supported:
                    raise ProtocolViolation(
                        f"Invalid value: {audio_format[key]!r}. The local server supports only "
                        "'audio/pcm' at 24000 Hz.",
                        param=f"session.audio.{direction}.format.{key}",
                    )
        voice = (audio.get("output") or {}).get("voice")
        if voice is not None and self._voice_used and voice != self.config["audio"]["output"]["voice"]:
            raise ProtocolViolation(
                "Cannot update a conversation's voice if assistant audio is present.",
                code="cannot_update_voice",
                param="session.audio.output.voice",
            )
        config = _merge(self.config, update)
        for direction in ("input", "output"):
            config["audio"][direction]["format"] = {**_PCM, **(config["audio"][direction]["format"] or {})}
        turn_detection = config["audio"]["input"].get("turn_detection")
        if turn_detection is not None:
            given = {key: value for key, value in turn_detection.items() if value is not None}
            config["audio"]["input"]["turn_detection"] = {**_TURN_DETECTION_DEFAULTS[given["type"]], **given}
        changed_vad = config["audio"]["input"]["turn_detection"] != self.config["audio"]["input"]["turn_detection"]
        self.config = config
        if changed_vad:
            self._reset_vad()
        await self.emit({"type": "session.updated", "session": copy.deepcopy(self.config)})

    def _reset_vad(self) -> None:
        turn_detection = self.config["audio"]["input"]["turn_detection"]
        config = VadConfig.from_turn_detection(turn_detection) if turn_detection else None
        self._vad = EnergyVad(config, self._stream_samples) if config else None
        self._speech_item_id = None

    # --- input audio buffer -----------------------------------------------------------------------

    async def _buffer_append(self, event: dict[str, Any]) -> None:
        pcm = _decode_audio(event["audio"], "audio")
        if len(pcm) > _MAX_APPEND_BYTES:
            raise ProtocolViolation("Invalid 'audio': at most 15 MiB of audio per event.", param="audio")
        await self.append_audio(pcm)

    async def append_audio(self, pcm: bytes) -> None:
        """Add 24 kHz pcm16 to the input audio buffer and run turn detection on it: what an
        `input_audio_buffer.append` carries, or a WebRTC microphone frame."""
        self._buffer += pcm
        self._stream_samples += len(pcm) // 2
        if self._vad is None:
            # push-to-talk: keep a bounded window, so a WebRTC microphone left open cannot grow it forever
            self._drop_buffer_before(self._stream_samples - _MAX_UNCOMMITTED_MS * _SAMPLES_PER_MS)
            return
        for change in self._vad.process(np.frombuffer(pcm, dtype="<i2")):
            if isinstance(change, SpeechStarted):
                await self._speech_started(change.sample)
            else:
                await self._speech_stopped(change.sample)
        if not self._vad.in_speech:
            keep = (self._vad.config.prefix_padding_ms + _IDLE_BUFFER_MS) * _SAMPLES_PER_MS
            self._drop_buffer_before(self._stream_samples - keep)

    def _drop_buffer_before(self, sample: int) -> None:
        cut = max(0, min(sample - self._buffer_start, len(self._buffer) // 2))
        del self._buffer[: cut * 2]
        self._buffer_start += cut

    def _take_buffer_until(self, sample: int) -> bytes:
        cut = max(0, min(sample - self._buffer_start, len(self._buffer) // 2))
        audio = bytes(self._buffer[: cut * 2])
        self._drop_buffer_before(self._buffer_start + cut)
        return audio

    async def _speech_started(self, sample: int) -> None:
        self._drop_buffer_before(sample)
        self._speech_item_id = new_id("item")
        await self.emit(
            {
                "type": "input_audio_buffer.speech_started",
                "audio_start_ms": max(sample, self._buffer_start) // _SAMPLES_PER_MS,
                "item_id": self._speech_item_id,
            }
        )
        turn_detection = self.config["audio"]["input"]["turn_detection"]
        if turn_detection["interrupt_response"] and self._response and self._response.in_conversation:
            await self._cancel_response("turn_detected")

    async def _speech_stopped(self, sample: int) -> None:
        item_id = self._speech_item_id or new_id("item")
        self._speech_item_id = None
        await self.emit(
            {"type": "input_audio_buffer.speech_stopped", "audio_end_ms": sample // _SAMPLES_PER_MS, "item_id": item_id}
        )
        await self._commit(self._take_buffer_until(sample), item_id)
        if self.config["audio"]["input"]["turn_detection"]["create_response"] and self._response is None:
            await self._start_response({})

    async def _buffer_commit(self, event: dict[str, Any]) -> None:
        buffered_ms = len(self._buffer) / BYTES_PER_MS
        if buffered_ms < _MIN_COMMIT_MS:
            raise ProtocolViolation(
                "Error committing input audio buffer: buffer too small. Expected at least 100ms of audio, "
                f"but buffer only has {buffered_ms:.2f}ms of audio.",
                code="input_audio_buffer_commit_empty",
            )
        item_id = self._speech_item_id or new_id("item")
        audio = self._take_buffer_until(self._stream_samples)
        self._reset_vad()
        await self._commit(audio, item_id)

    async def _commit(self, audio: bytes, item_id: str) -> None:
        item = Item(
            {
                "id": item_id,
                "object": "realtime.item",
                "type": "message",
                "role": "user",
                "status": "completed",
                "content": [{"type": "input_audio", "transcript": None}],
            },
            {0: audio},
        )
        previous = self.conversation.insert(item)
        await self.emit({"type": "input_audio_buffer.committed", "item_id": item_id, "previous_item_id": previous})
        await self._announce_item(item, previous)
        if self.config["audio"]["input"]["transcription"] is not None:
            # No speech recogniser runs offline: say what was heard, not what might have been said.
            seconds = len(audio) / (BYTES_PER_MS * 1000)
            await self.emit(
                {
                    "type": "conversation.item.input_audio_transcription.completed",
                    "item_id": item_id,
                    "content_index": 0,
                    "transcript": f"[{seconds:.1f} s of audio]",
                    "usage": {"type": "duration", "seconds": seconds},
                }
            )

    async def _buffer_clear(self, event: dict[str, Any]) -> None:
        self._drop_buffer_before(self._stream_samples)
        self._reset_vad()
        await self.emit({"type": "input_audio_buffer.cleared"})

    async def _output_buffer_clear(self, event: dict[str, Any]) -> None:
        await self.audio_out.clear(self._response.id if self._response else None)

    # --- conversation ---------------------------------------------------------------------------

    async def _item_create(self, event: dict[str, Any]) -> None:
        item = self._client_item(event["item"], "item")
        if item.data["type"] == "function_call_output" and not any(
            other.data.get("call_id") == item.data["call_id"] and other.data["type"] == "function_call"
            for other in self.conversation
        ):
            raise ProtocolViolation(
                f"No function call with call_id '{item.data['call_id']}' found in the conversation.",
                param="item.call_id",
            )
        try:
            previous = self.conversation.insert(item, event.get("previous_item_id"))
        except KeyError:
            raise ProtocolViolation(
                f"Previous item with id '{event['previous_item_id']}' not found.", param="previous_item_id"
            ) from None
        await self._announce_item(item, previous)

    def _client_item(self, data: dict[str, Any], param: str) -> Item:
        """A client-supplied item in the server's shape: id, object and status set, audio decoded."""
        if data["type"] not in ("message", "function_call", "function_call_output"):
            raise ProtocolViolation(
                f"The local server does not support items of type '{data['type']}'.", param=f"{param}.type"
            )
        data = copy.deepcopy(data)
        data["id"] = data.get("id") or new_id("item")
        if data["id"] in self.conversation:
            raise ProtocolViolation(f"Item with id '{data['id']}' already exists.", param=f"{param}.id")
        data.update(object="realtime.item", status="completed")
        if data["type"] == "function_call":
            data["call_id"] = data.get("call_id") or new_id("call")
        audio = {}
        for index, part in enumerate(data.get("content", [])):
            encoded = part.pop("audio", None)
            if encoded is not None:
                audio[index] = _decode_audio(encoded, f"{param}.content[{index}].audio")
        return Item(data, audio)

    async def _announce_item(self, item: Item, previous: str | None) -> None:
        for kind in ("conversation.item.added", "conversation.item.done"):
            await self.emit({"type": kind, "item": item.wire(), "previous_item_id": previous})

    def _existing_item(self, item_id: str, operation: str) -> Item:
        item = self.conversation.get(item_id)
        if item is None:
            raise ProtocolViolation(
                f"Item with item_id '{item_id}' not found.",
                code=f"item_{operation}_invalid_item_id",
                param="item_id",
            )
        return item

    async def _item_retrieve(self, event: dict[str, Any]) -> None:
        item = self._existing_item(event["item_id"], "retrieve")
        await self.emit({"type": "conversation.item.retrieved", "item": item.wire_with_audio()})

    async def _item_truncate(self, event: dict[str, Any]) -> None:
        item = self._existing_item(event["item_id"], "truncate")
        index, end_ms = event["content_index"], event["audio_end_ms"]
        content = item.data.get("content", [])
        if (
            item.data.get("role") != "assistant"
            or not 0 <= index < len(content)
            or content[index].get("type") != "output_audio"
        ):
            raise ProtocolViolation(
                "Only model output audio messages can be truncated",
                code="unsupported_content_type",
                param="content_index",
            )
        if not 0 <= end_ms <= item.audio_ms(index):
            raise ProtocolViolation(
                f"Audio content of {item.audio_ms(index)}ms is already shorter than {end_ms}ms",
                param="audio_end_ms",
            )
        item.audio[index] = item.audio.get(index, b"")[: end_ms * BYTES_PER_MS]
        content[index]["transcript"] = None  # the service drops text the listener never heard
        await self.emit(
            {
                "type": "conversation.item.truncated",
                "item_id": item.id,
                "content_index": index,
                "audio_end_ms": end_ms,
            }
        )

    async def _item_delete(self, event: dict[str, Any]) -> None:
        self._existing_item(event["item_id"], "delete")
        self.conversation.remove(event["item_id"])
        await self.emit({"type": "conversation.item.deleted", "item_id": event["item_id"]})

    # --- responses ------------------------------------------------------------------------------

    async def _response_create(self, event: dict[str, Any]) -> None:
        if self._response is not None:
            raise ProtocolViolation(
                f"Conversation already has an active response in progress: {self._response.id}. "
                "Wait until the response is finished before creating a new one.",
                code="conversation_already_has_active_response",
            )
        await self._start_response(event.get("response") or {})

    async def _response_cancel(self, event: dict[str, Any]) -> None:
        wanted = event.get("response_id")
        if self._response is None or wanted not in (None, self._response.id):
            raise ProtocolViolation("Cancellation failed: no active response found", code="response_cancel_not_active")
        await self._cancel_response("client_cancelled")

    async def _cancel_response(self, reason: str) -> None:
        """Stop streaming at the next chunk; the response ends with `response.done` `cancelled`."""
        if self._response is None or self._response_task is None:
            return
        self._response.cancel_reason = reason
        await asyncio.wait({self._response_task})

    async def _start_response(self, params: dict[str, Any]) -> None:
        config = _response_config(self.config, params)
        if params.get("input") is not None:
            items = [self._input_item(entry, index) for index, entry in enumerate(params["input"])]
        else:
            items = list(self.conversation)
        response = _Response(
            id=new_id("resp"),
            config=config,
            items=items,
            in_conversation=params.get("conversation") != "none",
            metadata=params.get("metadata"),
        )
        self._response = response
        await self.emit({"type": "response.created", "response": self._response_object(response, "in_progress")})
        self._response_task = asyncio.create_task(self._run_response(response), name=f"response {response.id}")
        self._response_task.add_done_callback(self._response_finished)

    def _input_item(self, entry: dict[str, Any], index: int) -> Item:
        if entry["type"] != "item_reference":
            return self._client_item(entry, f"response.input[{index}]")
        item = self.conversation.get(entry["id"])
        if item is None:
            raise ProtocolViolation(f"Item with id '{entry['id']}' not found.", param=f"response.input[{index}].id")
        return item

    def _response_finished(self, task: asyncio.Task[None]) -> None:
        error = None if task.cancelled() else task.exception()
        if error is None:
            return
        _log.error("response task failed", exc_info=error)
        if self._on_crash is not None:
            self._on_crash(error)

    async def _run_response(self, response: _Response) -> None:
        try:
            reply = await self.brain.reply(response.items, response.config)
            text = reply.text.strip()
            if text and not response.cancel_reason:
                await self._stream_message(response, text)
            for call in reply.calls:
                if response.cancel_reason:
                    break
                await self._stream_call(response, call)
        finally:
            # Inactive from here on: a client answering `response.done` at once must not collide.
            if self._response is response:
                self._response = None
        status = "cancelled" if response.cancel_reason else "completed"
        await self.emit({"type": "response.done", "response": self._response_object(response, status)})

    async def _open_item(self, response: _Response, data: dict[str, Any]) -> _OutputItem:
        output = _OutputItem(Item(data), len(response.output))
        response.output.append(output.item)
        await self.emit(
            {
                "type": "response.output_item.added",
                "response_id": response.id,
                "output_index": output.index,
                "item": output.item.wire(),
            }
        )
        if response.in_conversation:
            output.previous_item_id = self.conversation.insert(output.item)
            await self.emit(
                {
                    "type": "conversation.item.added",
                    "item": output.item.wire(),
                    "previous_item_id": output.previous_item_id,
                }
            )
        return output

    async def _close_item(self, response: _Response, output: _OutputItem) -> None:
        output.item.data["status"] = "incomplete" if response.cancel_reason else "completed"
        await self.emit(
            {
                "type": "response.output_item.done",
                "response_id": response.id,
                "output_index": output.index,
                "item": output.item.wire(),
            }
        )
        if response.in_conversation:
            await self.emit(
                {
                    "type": "conversation.item.done",
                    "item": output.item.wire(),
                    "previous_item_id": output.previous_item_id,
                }
            )

    async def _stream_message(self, response: _Response, text: str) -> None:
        output = await self._open_item(
            response,
            {
                "id": new_id("item"),
                "object": "realtime.item",
                "type": "message",
                "role": "assistant",
                "status": "in_progress",
                "content": [],
            },
        )
        item = output.item
        ref = AudioRef(response.id, item.id, output.index, 0)
        where = ref.fields()
        if response.audio:
            part: dict[str, Any] = {"type": "audio", "transcript": ""}
            item.data["content"].append({"type": "output_audio", "transcript": ""})
            await self.emit({"type": "response.content_part.added", **where, "part": dict(part)})
            sent = await self._stream_audio(response, item, ref, text)
            await self.emit({"type": "response.output_audio.done", **where})
            await self.emit({"type": "response.output_audio_transcript.done", **where, "transcript": sent})
            part["transcript"] = item.data["content"][0]["transcript"] = sent
        else:
            part = {"type": "text", "text": ""}
            item.data["content"].append({"type": "output_text", "text": ""})
            await self.emit({"type": "response.content_part.added", **where, "part": dict(part)})
            sent = ""
            for piece in _split_words(text, len(text.split())):
                if response.cancel_reason:
                    break
                await self.emit({"type": "response.output_text.delta", **where, "delta": piece})
                sent += piece
                await asyncio.sleep(self.audio_chunk_delay)
            await self.emit({"type": "response.output_text.done", **where, "text": sent})
            part["text"] = item.data["content"][0]["text"] = sent
        await self.emit({"type": "response.content_part.done", **where, "part": part})
        await self._close_item(response, output)

    async def _stream_audio(self, response: _Response, item: Item, ref: AudioRef, text: str) -> str:
        """Stream speech in ~100 ms deltas with the transcript alongside; return the words sent."""
        pcm = (await asyncio.to_thread(synth.speak, text)).tobytes()
        self._voice_used = True
        chunks = [pcm[start : start + _CHUNK_BYTES] for start in range(0, len(pcm), _CHUNK_BYTES)]
        where = ref.fields()
        sent_text, sent_audio = "", bytearray()
        for chunk, piece in zip(chunks, _split_words(text, len(chunks)), strict=True):
            if response.cancel_reason:
                break
            if piece:
                await self.emit({"type": "response.output_audio_transcript.delta", **where, "delta": piece})
                sent_text += piece
            await self.audio_out.send(ref, chunk)
            sent_audio += chunk
            await asyncio.sleep(self.audio_chunk_delay)
        item.audio[ref.content_index] = bytes(sent_audio)
        return sent_text

    async def _stream_call(self, response: _Response, call: ToolCall) -> None:
        output = await self._open_item(
            response,
            {
                "id": new_id("item"),
                "object": "realtime.item",
                "type": "function_call",
                "status": "in_progress",
                "name": call.name,
                "call_id": new_id("call"),
                "arguments": "",
            },
        )
        item = output.item
        where = {
            "response_id": response.id,
            "item_id": item.id,
            "output_index": output.index,
            "call_id": item.data["call_id"],
        }
        for start in range(0, len(call.arguments), _ARGUMENT_DELTA_CHARS):
            delta = call.arguments[start : start + _ARGUMENT_DELTA_CHARS]
            await self.emit({"type": "response.function_call_arguments.delta", **where, "delta": delta})
        await self.emit(
            {"type": "response.function_call_arguments.done", **where, "name": call.name, "arguments": call.arguments}
        )
        item.data["arguments"] = call.arguments
        await self._close_item(response, output)

    def _response_object(self, response: _Response, status: str) -> dict[str, Any]:
        config = response.config
        done = status != "in_progress"
        return {
            "object": "realtime.response",
            "id": response.id,
            "status": status,
            "status_details": (
                {"type": "cancelled", "reason": response.cancel_reason} if status == "cancelled" else None
            ),
            "output": [item.wire() for item in response.output],
            "conversation_id": self._conversation_id if response.in_conversation else None,
            "output_modalities": list(config["output_modalities"]),
            "max_output_tokens": config["max_output_tokens"],
            "audio": {
                "output": {
                    "format": dict(config["audio"]["output"]["format"]),
                    "voice": config["audio"]["output"]["voice"],
                }
            },
            "usage": _usage(response) if done else None,
            "metadata": response.metadata,
        }


# --- helpers ---------------------------------------------------------------------------------------

_CONTAINERS = frozenset({"audio", "input", "output"})


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


def _response_config(session: dict[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """The session configuration with the overrides of one `response.create`."""
    config = copy.deepcopy(session)
    for key in ("instructions", "tools", "tool_choice", "output_modalities", "max_output_tokens"):
        if params.get(key) is not None:
            config[key] = copy.deepcopy(params[key])
    output = ((params.get("audio") or {}).get("output")) or {}
    for key in ("voice", "format"):
        if output.get(key) is not None:
            config["audio"]["output"][key] = copy.deepcopy(output[key])
    config["audio"]["output"]["format"] = {**_PCM, **config["audio"]["output"]["format"]}
    return config


def _decode_audio(encoded: str, param: str) -> bytes:
    try:
        pcm = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise ProtocolViolation(f"Invalid '{param}': expected base64-encoded pcm16 audio.", param=param) from None
    if len(pcm) % 2:
        raise ProtocolViolation(f"Invalid '{param}': pcm16 audio has an even number of bytes.", param=param)
    return pcm


_WORD = re.compile(r"\S+\s*")


def _split_words(text: str, parts: int) -> list[str]:
    """Split `text` at word boundaries into `parts` pieces (some may be empty) that join to it."""
    words = _WORD.findall(text)
    pieces, taken = [], 0
    for part in range(1, parts + 1):
        upto = math.ceil(len(words) * part / parts)  # words lead their audio slightly, never lag
        pieces.append("".join(words[taken:upto]))
        taken = upto
    return pieces


def _tokens(text: str) -> int:
    return math.ceil(len(text) / 4)


def _usage(response: _Response) -> dict[str, Any]:
    """Token usage, estimated (~4 characters per text token; audio at 100 ms/token in, 50 ms/token out)."""
    input_text = _tokens(response.config.get("instructions") or "")
    input_audio_ms = 0
    for item in response.items:
        data = item.data
        input_text += _tokens(str(data.get("arguments") or "") + str(data.get("output") or ""))
        for part in data.get("content", []):
            input_text += _tokens(part.get("text") or part.get("transcript") or "")
        input_audio_ms += sum(item.audio_ms(index) for index in item.audio)
    output_text = output_audio_ms = 0
    for item in response.output:
        output_text += _tokens(str(item.data.get("arguments") or ""))
        for part in item.data.get("content", []):
            output_text += _tokens(part.get("text") or part.get("transcript") or "")
        output_audio_ms += sum(item.audio_ms(index) for index in item.audio)
    input_audio, output_audio = math.ceil(input_audio_ms / 100), math.ceil(output_audio_ms / 50)
    return {
        "total_tokens": input_text + input_audio + output_text + output_audio,
        "input_tokens": input_text + input_audio,
        "output_tokens": output_text + output_audio,
        "input_token_details": {
            "text_tokens": input_text,
            "audio_tokens": input_audio,
            "image_tokens": 0,
            "cached_tokens": 0,
            "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 0, "image_tokens": 0},
        },
        "output_token_details": {"text_tokens": output_text, "audio_tokens": output_audio},
    }
