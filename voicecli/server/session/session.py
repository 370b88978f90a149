"""`ServerSession`: the state machine of one Realtime connection, independent of the transport.

The transport feeds it client events (`handle_raw` for frames, `handle` for parsed dicts) and
microphone audio (`append_audio`), and gives it a `send` coroutine for server events. Every event in
either direction is checked against the `openai` types; a client mistake becomes the service's
`error` event, a server mistake raises.

The session composes the protocol's parts and sends the events they call for:
  session_config   the configuration and how `session.update` / `response.create` change it
  input_audio      the input audio buffer and server VAD, which cut it into user turns
  conversation     the items and the rules of `conversation.item.*`
  responses        the active response, its task and cancellation (streamed by `response_stream`)
  hosted_mcp       the session's `{"type": "mcp"}` tools: listed and called by the server itself
  audio_out        where response audio goes: delta events (WebSocket) or an RTP track (WebRTC)
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from voicecli.server.events import Send, error_event
from voicecli.server.ids import new_id
from voicecli.server.replies import Brain
from voicecli.server.session.audio_out import AudioOut, AudioRef, DeltaAudioOut
from voicecli.server.session.config import DEFAULT_MODEL, SESSION_SECONDS, default_session_config, updated_config
from voicecli.server.session.conversation import ConversationItems, Item
from voicecli.server.session.hosted_mcp import check_hosted_tools
from voicecli.server.session.input_audio import InputAudioBuffer, TurnStarted, appended_audio
from voicecli.server.session.pacing import DEFAULT_PACING, Pacing
from voicecli.server.session.responses import Responses
from voicecli.server.session.transcription import Transcriber
from voicecli.server.validation import ProtocolViolation, validate_client_event, validate_server_event

__all__ = [
    "DEFAULT_MODEL",
    "AudioOut",
    "AudioRef",
    "DeltaAudioOut",
    "Send",
    "ServerSession",
    "error_event",
]

_log = logging.getLogger("voicecli.server")


class ServerSession:
    """One client's session: configuration, conversation, input buffer, VAD and responses."""

    def __init__(
        self,
        send: Send,
        *,
        brain: Brain,
        model: str = DEFAULT_MODEL,
        audio_out: AudioOut | None = None,
        pacing: Pacing = DEFAULT_PACING,
        on_crash: Callable[[BaseException], None] | None = None,
        intercept: Callable[[dict[str, Any]], Awaitable[bool]] | None = None,
        lifetime_s: float = SESSION_SECONDS,
    ) -> None:
        """`send` delivers a validated server event; `on_crash` hears of a failed response task
        (a server bug), so the transport can close the connection loudly; `intercept` sees each
        valid client event first and returns True when it dealt with it (fault switches)."""
        self._send = send
        self._intercept = intercept
        self.audio_out: AudioOut = audio_out or DeltaAudioOut(self.emit)
        self.config = default_session_config(model, lifetime_s)
        self.conversation = ConversationItems()
        self.input_audio = InputAudioBuffer(self._turn_detection, round(pacing.vad_delay_s * 1000))
        self.transcriber = Transcriber(self.emit, brain.phrases, lambda: self.config)
        self.responses = Responses(
            self.emit,
            brain=brain,
            conversation=self.conversation,
            audio_out=self.audio_out,
            pacing=pacing,
            on_crash=on_crash,
            settle=self.transcriber.settle,
        )
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

    @property
    def id(self) -> str:
        return str(self.config["id"])

    @property
    def _turn_detection(self) -> dict[str, Any] | None:
        return self.config["audio"]["input"]["turn_detection"]  # None: push-to-talk

    async def start(self) -> None:
        """Send `session.created`, always the first event of a connection."""
        await self.emit({"type": "session.created", "session": copy.deepcopy(self.config)})

    async def close(self) -> None:
        """Stop the response in flight and the recognition of turns (the transport is gone)."""
        await self.responses.close()
        await self.transcriber.close()

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
            await self.refuse(None, ProtocolViolation(f"The event is not valid JSON: {exc}.", code="invalid_json"))
            return
        await self.handle(event)

    async def handle(self, event: Any) -> None:
        """Validate and apply one client event; mistakes are answered with an `error` event."""
        try:
            validate_client_event(event)
            if self._intercept is not None and await self._intercept(event):
                return
            await self._handlers[event["type"]](event)
        except ProtocolViolation as violation:
            await self.refuse(event, violation)

    async def refuse(self, event: Any, violation: ProtocolViolation) -> None:
        """Answer a client event (None: a frame that is not JSON) with the service's `error`, and log
        it with its type and code for `serve --verbose`, so a peer's author sees what went wrong."""
        kind = event.get("type") if isinstance(event, dict) else None
        kind = kind[:80] if isinstance(kind, str) else "(not JSON)" if event is None else "(no type)"
        _log.debug("session %s: refused %s: %s: %s", self.id, kind, violation.code, violation.message[:200])
        event_id = event.get("event_id") if isinstance(event, dict) else None
        await self.emit(
            error_event(
                violation.code,
                violation.message,
                param=violation.param,
                event_id=event_id if isinstance(event_id, str) else None,
            )
        )

    async def append_audio(self, pcm: bytes) -> None:
        """Add 24 kHz pcm16 to the input audio buffer and act on the turns it detects: what an
        `input_audio_buffer.append` carries, or a WebRTC microphone frame."""
        turns = self.input_audio.append(pcm)
        self.transcriber.hear(pcm, self.input_audio.buffered)
        for turn in turns:
            if isinstance(turn, TurnStarted):
                await self.emit(
                    {
                        "type": "input_audio_buffer.speech_started",
                        "audio_start_ms": turn.audio_start_ms,
                        "item_id": turn.item_id,
                    }
                )
                active = self.responses.active
                if self._turn_detection_says("interrupt_response") and active and active.in_conversation:
                    await self.responses.cancel("turn_detected")
            else:
                await self.emit(
                    {
                        "type": "input_audio_buffer.speech_stopped",
                        "audio_end_ms": turn.audio_end_ms,
                        "item_id": turn.item_id,
                    }
                )
                await self._commit(turn.item_id, turn.audio)
                if self._turn_detection_says("create_response") and self.responses.active is None:
                    await self.responses.start(self.config, {})

    def _turn_detection_says(self, setting: str) -> bool:
        """A `turn_detection` switch (`interrupt_response`, `create_response`); VAD is on when asked."""
        return bool(self.config["audio"]["input"]["turn_detection"][setting])

    # --- session and input audio ----------------------------------------------------------------

    async def _session_update(self, event: dict[str, Any]) -> None:
        check_hosted_tools(event["session"].get("tools"))
        config = updated_config(self.config, event["session"], voice_used=self.responses.voice_used)
        changed_vad = config["audio"]["input"]["turn_detection"] != self._turn_detection
        self.config = config
        if changed_vad:
            self.input_audio.detect_turns(self._turn_detection)
        await self.emit({"type": "session.updated", "session": copy.deepcopy(self.config)})
        await self.responses.hosted.list_new(self.config["tools"])  # before any later event: a response sees them

    async def _buffer_append(self, event: dict[str, Any]) -> None:
        await self.append_audio(appended_audio(event["audio"]))

    async def _buffer_commit(self, event: dict[str, Any]) -> None:
        item_id, audio = self.input_audio.commit()
        await self._commit(item_id, audio)

    async def _buffer_clear(self, event: dict[str, Any]) -> None:
        self.input_audio.clear()
        self.transcriber.forget()
        await self.emit({"type": "input_audio_buffer.cleared"})

    async def _commit(self, item_id: str, audio: bytes) -> None:
        """A user turn joins the conversation (`input_audio_buffer.committed` and the item's events)."""
        item, previous = self.conversation.add_user_audio(item_id, audio)
        await self.emit({"type": "input_audio_buffer.committed", "item_id": item_id, "previous_item_id": previous})
        await self._announce_item(item, previous)
        self.transcriber.start(item)

    # --- conversation ---------------------------------------------------------------------------

    async def _item_create(self, event: dict[str, Any]) -> None:
        item, previous = self.conversation.create(event["item"], event.get("previous_item_id"))
        _log.debug("session %s: item %s %s", self.id, item.id, item.summary())
        await self._announce_item(item, previous)

    async def _announce_item(self, item: Item, previous: str | None) -> None:
        for kind in ("conversation.item.added", "conversation.item.done"):
            await self.emit({"type": kind, "item": item.wire(), "previous_item_id": previous})

    async def _item_retrieve(self, event: dict[str, Any]) -> None:
        item = self.conversation.existing(event["item_id"], "retrieve")
        await self.emit({"type": "conversation.item.retrieved", "item": item.wire_with_audio()})

    async def _item_truncate(self, event: dict[str, Any]) -> None:
        """Cut an assistant message's audio where the listener stopped; a message still speaking
        stops at once (checked against, and cut from, the audio produced so far)."""
        item = self.conversation.truncate(event["item_id"], event["content_index"], event["audio_end_ms"])
        speaking = self.responses.stop_speech(item.id)  # before anything else runs: no audio after the cut
        await self.emit(
            {
                "type": "conversation.item.truncated",
                "item_id": item.id,
                "content_index": event["content_index"],
                "audio_end_ms": event["audio_end_ms"],
            }
        )
        if speaking:
            await self.responses.end_speech(item.id)

    async def _item_delete(self, event: dict[str, Any]) -> None:
        self.conversation.delete(event["item_id"])
        await self.emit({"type": "conversation.item.deleted", "item_id": event["item_id"]})

    # --- responses and their audio --------------------------------------------------------------

    async def _response_create(self, event: dict[str, Any]) -> None:
        tools = (event.get("response") or {}).get("tools")
        check_hosted_tools(tools, "response.tools")
        if self.responses.active is None:  # refused otherwise, as any response.create meanwhile
            await self.responses.hosted.list_new(tools or ())
        await self.responses.create(self.config, event.get("response") or {})

    async def _response_cancel(self, event: dict[str, Any]) -> None:
        await self.responses.cancel_requested(event.get("response_id"))

    async def _output_buffer_clear(self, event: dict[str, Any]) -> None:
        active = self.responses.active
        await self.audio_out.clear(active.id if active else None)
