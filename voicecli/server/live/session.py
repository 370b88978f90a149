"""One GPT-Live session of the local server: an audio timeline, a model that decides its own turns.

What differs from a Realtime session, as the protocol defines it (`openai.types.live`):
- the clock advances only with the client's microphone frames (silence included); every event's
  `start_ms` / `end_ms` is on that timeline and `session.usage.updated` reports whole seconds of it;
- the model speaks when its voice activity detection says the user stopped, and stops when the user
  starts again: a client cannot create, cancel or truncate a response;
- muting feeds silence to the model while the clock runs on;
- context is append-only (instructions, thinking, commentary); typed text from voicecli's client
  arrives as instructions starting with `TYPED_TEXT_PREFIX`, which this local model answers as a turn
  (and `GREETING_REQUEST`, which it answers by speaking first);
- when the brain calls tools the model delegates to the client (`session.delegation.created`): it
  knows no client tools, so every call the brain makes is delegated; the client's commentary for
  that delegation is the tools' output, which the model then puts in its own words (the brain's).
  With hosted delegation (`responses`) a stand-in for the service's Responses backend (`hosted`)
  relays the calls as a Responses stream, runs no tool, and the model says the brain's answer.
Over WebRTC (`speech_out` given) the session starts from the HTTP request that set up the call,
microphone frames come as media (`append_pcm`), the model's voice goes to `speech_out` rather than
`session.output_audio.delta` events, and an append on the data channel is refused, as the service does.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from voicecli.realtime.live_protocol import GREETING_REQUEST, TYPED_TEXT_PREFIX
from voicecli.server import recognition, synth
from voicecli.server.events import Send
from voicecli.server.ids import new_id
from voicecli.server.live import hosted
from voicecli.server.live.items import Delegation, message, script_tools
from voicecli.server.live.speech_out import SpeechOut
from voicecli.server.replies import Brain, BrainError, Reply
from voicecli.server.session.config import PCM
from voicecli.server.session.conversation import Item
from voicecli.server.session.pacing import UNPACED, Pacing
from voicecli.server.session.vad import EnergyVad, SpeechStarted, VadConfig
from voicecli.server.validation import ProtocolViolation

__all__ = ["LiveServerSession"]

SAMPLES_PER_MS = 24
_CHUNK_MS = 100
_VOICE = "marin"
_UNSUPPORTED = {
    "response.create": "response.create requires Responses delegation",
    "response.item.create": "response.item.create requires Responses delegation",
    "decision.create": "decisions require Decisions delegation",
    "decision.item.create": "decisions require Decisions delegation",
    "decision.item.delete": "decisions require Decisions delegation",
    "session.output_audio.fixture.play": "audio fixtures are not supported by the local server",
}
_log = logging.getLogger("voicecli.server")


class LiveServerSession:
    """The state of one GPT-Live session; `handle` takes each validated client event."""

    def __init__(
        self,
        send: Send,
        *,
        brain: Brain,
        pacing: Pacing = UNPACED,
        lifetime_s: float = 3600.0,
        on_crash: Callable[[BaseException], None] | None = None,
        speech_out: SpeechOut | None = None,
    ) -> None:
        """`pacing` is how fast the model's speech is generated (the server's, as for Realtime sessions);
        `on_crash` hears of a failure in the session's own tasks (a server bug: the transport ends);
        `speech_out` takes the model's voice over WebRTC."""
        self._send = send
        self.speech_out = speech_out
        self._on_crash = on_crash
        self.brain = brain
        self.pacing = pacing
        self.lifetime_s = lifetime_s
        self.started = False
        self.closed = False
        self.muted = False
        self.id = new_id("sess")
        self.resource: dict[str, Any] = {}
        self.samples = 0  # the session clock, in input samples
        self._vad = EnergyVad(VadConfig())
        self._turn_audio: list[np.ndarray] = []
        self._in_turn = False
        self._usage_seconds = 0
        self._items: list[Item] = []
        self._delegations: dict[str, Delegation] = {}
        self._speaking: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def clock_ms(self) -> int:
        return self.samples // SAMPLES_PER_MS

    async def emit(self, event: dict[str, Any]) -> None:
        if event["type"] == "session.output_audio.delta":
            await self._send(event)  # the primary WebSocket's audio deltas carry no event_id
        else:
            await self._send({"event_id": new_id("event"), **event})

    async def handle(self, event: dict[str, Any]) -> None:
        """One client event, already checked against the types; protocol misuse raises `ProtocolViolation`."""
        kind = event["type"]
        if not self.started:
            if kind != "session.start":
                raise ProtocolViolation("Send session.start before other commands.", code="session_not_started")
            await self.start(event["session"], _correlation(event))
            return
        if kind == "session.start":
            raise ProtocolViolation("The session has already started.", code="session_already_started")
        if kind in _UNSUPPORTED:
            raise ProtocolViolation(_UNSUPPORTED[kind], code="unsupported_event", param="type")
        if kind == "session.input_audio.append":
            if self.speech_out is not None:
                raise ProtocolViolation(
                    "Audio append is for the primary WebSocket: over WebRTC the microphone is a media track.",
                    code="unsupported_event",
                    param="type",
                )
            await self._append(event["audio"])
        elif kind in ("session.input_audio.mute", "session.input_audio.unmute"):
            self.muted = kind.endswith(".mute")
            await self.emit({"type": "session.input_audio.muted" if self.muted else "session.input_audio.unmuted"})
        elif kind in ("session.instructions.append", "session.thinking.append", "session.commentary.append"):
            await self._context(kind, event)
        elif kind == "session.update":
            await self._update(event["session"])
        elif kind == "session.close":
            await self.finish("close_requested")

    async def finish(self, reason: str) -> None:
        """End the session with `session.closed` (the transport then closes the socket)."""
        if self.closed:
            return
        self.closed = True
        await self.stop()
        usage = {"seconds": float(self.clock_ms // 1000)}
        await self.emit({"type": "session.closed", "reason": reason, "session": self.resource, "usage": usage})

    async def stop(self) -> None:
        for task in [*self._tasks, *([self._speaking] if self._speaking else [])]:
            task.cancel()
        await asyncio.gather(*self._tasks, *([self._speaking] if self._speaking else []), return_exceptions=True)

    # --- start and configuration ------------------------------------------------------------------

    async def start(self, config: Mapping[str, Any], correlation: Mapping[str, Any] | None = None) -> None:
        """Start with `config` (`session.start`'s, or the WebRTC request's, already checked) and say so."""
        audio_format = (config.get("audio") or {}).get("format") or PCM
        if audio_format != PCM:
            raise ProtocolViolation(
                "The local server speaks audio/pcm at 24000 Hz only.",
                code="unsupported_audio_format",
                param="session.audio.format",
            )
        voice = ((config.get("audio") or {}).get("output") or {}).get("voice") or _VOICE
        self.resource = {
            "id": self.id,
            "expires_at": int(time.time() + self.lifetime_s),
            "model": config["model"],
            "status": "active",
            "audio": {"output": {"voice": voice}}
            if self.speech_out
            else {"format": audio_format, "output": {"voice": voice}},
            "delegation": config.get("delegation") or {"type": "client"},
        }
        if config.get("instructions"):
            self.resource["instructions"] = config["instructions"]
        for entry in config.get("input") or ():
            self._items.append(message(entry["role"], entry["content"][0]["text"]))
        self.started = True
        await self.emit({"type": "session.started", "session": self.resource, **(correlation or {})})

    async def _update(self, changes: Mapping[str, Any]) -> None:
        delegation = changes.get("delegation")
        if delegation is not None:
            if delegation.get("type") != self.resource["delegation"].get("type"):
                raise ProtocolViolation(
                    "The delegation type cannot change.", code="invalid_value", param="session.delegation.type"
                )
            self.resource["delegation"] = {**self.resource["delegation"], **delegation}
        await self.emit({"type": "session.updated", "session": self.resource})

    # --- the audio timeline ------------------------------------------------------------------------

    async def _append(self, audio: str) -> None:
        try:
            raw = base64.b64decode(audio, validate=True)
        except (binascii.Error, ValueError):
            raise ProtocolViolation("Invalid base64 audio.", code="invalid_value", param="audio") from None
        await self.append_pcm(np.frombuffer(raw[: len(raw) - len(raw) % 2], dtype="<i2"))

    async def append_pcm(self, pcm: np.ndarray) -> None:
        """Microphone samples (24 kHz int16): the clock advances, the VAD listens."""
        if self.muted:
            pcm = np.zeros_like(pcm)  # the model hears silence; the clock runs on
        self.samples += pcm.size
        if self._in_turn:
            self._turn_audio.append(pcm)
        for change in self._vad.process(pcm):
            if isinstance(change, SpeechStarted):
                await self._speech_started(pcm)
            else:
                self._speech_stopped()
        await self._report_usage()

    async def _speech_started(self, pcm: np.ndarray) -> None:
        """The user speaks: the model stops talking (its own decision) and listens."""
        if self._speaking is not None and not self._speaking.done():
            self._speaking.cancel()
        if self.speech_out is not None:
            self.speech_out.cut()
        self._in_turn = True
        self._turn_audio = [pcm]

    def _speech_stopped(self) -> None:
        self._in_turn = False
        pcm = np.concatenate(self._turn_audio) if self._turn_audio else np.zeros(0, np.int16)
        self._turn_audio = []
        self._spawn(self._heard(pcm, self.clock_ms - pcm.size // SAMPLES_PER_MS))

    async def _report_usage(self) -> None:
        seconds = self.clock_ms // 1000
        if seconds > self._usage_seconds:
            self._usage_seconds = seconds
            await self.emit({"type": "session.usage.updated", "usage": {"seconds": float(seconds)}})

    # --- turns -------------------------------------------------------------------------------------

    async def _heard(self, pcm: np.ndarray, start_ms: int) -> None:
        """A spoken turn ended: recognise it, show the user's words, and answer."""
        heard = await recognition.recognise(pcm.tobytes(), self.brain.phrases)
        text = heard.text if heard is not None else ""
        if text:
            await self.emit(
                {
                    "type": "session.input_transcript.delta",
                    "delta": text + " ",
                    "start_ms": start_ms,
                    "end_ms": self.clock_ms,
                }
            )
        user = Item({"type": "message", "id": new_id("item"), "role": "user", "content": []})
        user.data["content"].append({"type": "input_audio", "transcript": text or None})
        user.audio[0] = pcm.tobytes()
        await self._answer(user)

    async def _context(self, kind: str, event: dict[str, Any]) -> None:
        content, delegation_id = event["content"], event.get("delegation_id")
        delegation = None
        if delegation_id is not None:
            delegation = self._delegations.pop(delegation_id, None)
            if delegation is None:
                raise ProtocolViolation(
                    f"Unknown delegation: '{delegation_id}'.", code="invalid_value", param="delegation_id"
                )
        now = self.clock_ms
        appended = kind.replace(".append", ".appended")
        await self.emit({"type": appended, "start_ms": now, "end_ms": now, **_correlation(event)})
        if delegation is not None and kind == "session.commentary.append":
            self._spawn(self._answer_delegation(delegation, content))
        elif kind == "session.instructions.append" and content.startswith(TYPED_TEXT_PREFIX):
            user = message("user", content.removeprefix(TYPED_TEXT_PREFIX))
            self._spawn(self._answer(user))
        elif kind == "session.instructions.append" and content == GREETING_REQUEST:
            self._spawn(self._answer(None))

    async def _answer(self, user: Item | None) -> None:
        """Answer the user's turn (None: speak first, as asked)."""
        if user is not None:
            self._items.append(user)
        reply = await self._reply(self._items, {"tools": script_tools(self.brain)})
        target = self.resource["delegation"]["type"]
        if reply.calls and user is not None and target in ("client", "responses"):
            await self._delegate(user, reply, target)
        else:
            self._say(reply.text)

    async def _delegate(self, user: Item, reply: Reply, target: str) -> None:
        """The model hands the brain's tool calls to the client (or to the stand-in for a hosted
        Responses backend, `hosted`), after saying what it is doing."""
        delegation = Delegation.of(user, reply)
        delegation_id = new_id("deleg")
        if reply.text:
            self._say(reply.text)
        if target == "responses":
            await hosted.delegate(
                self.emit, delegation_id, self.clock_ms, delegation.calls, self._answer_delegation(delegation)
            )
            return
        self._delegations[delegation_id] = delegation
        created = {"id": delegation_id, "target": "client", "type": "delegation"}
        await self.emit({"type": "session.delegation.created", "delegation": created, "offset_ms": self.clock_ms})

    async def _answer_delegation(self, delegation: Delegation, commentary: str = hosted.NOT_RUN) -> str:
        """The model puts the delegation's result in its own words (returned, and spoken)."""
        outputs = delegation.outputs(commentary)  # the client's result, for the whole delegation
        turn = [*self._items, *delegation.calls, *outputs]
        reply = await self._reply(turn, {"tools": script_tools(self.brain)})
        self._say(reply.text)
        return reply.text

    async def _reply(self, items: Sequence[Item], config: Mapping[str, Any]) -> Reply:
        try:
            reply = await self.brain.reply(items, config)
        except BrainError as exc:
            return Reply(f"Sorry, I cannot answer: {exc}")
        if reply.stream is not None:
            pieces = [piece async for piece in reply.stream]
            return Reply("".join(pieces), reply.stream.calls)
        return reply

    def _say(self, text: str) -> None:
        """Speak `text` unless the model is already speaking: then it says it right after."""
        if not text:
            return
        previous = self._speaking
        self._items.append(message("assistant", text))
        self._speaking = asyncio.create_task(self._speak(text, previous))
        self._speaking.add_done_callback(self._finished)

    async def _speak(self, text: str, previous: asyncio.Task[None] | None) -> None:
        if previous is not None and not previous.done():
            await asyncio.gather(previous, return_exceptions=True)
        pcm = await asyncio.to_thread(synth.speak, text)
        now = self.clock_ms
        end = now + pcm.size // SAMPLES_PER_MS
        transcript = {"type": "session.output_transcript.delta", "delta": text + " ", "start_ms": now, "end_ms": end}
        await self.emit(transcript)
        chunk = _CHUNK_MS * SAMPLES_PER_MS
        started = asyncio.get_running_loop().time()
        not_interrupted = asyncio.Event()  # the user interrupts by cancelling this task
        utterance = new_id("speech")
        for start in range(0, pcm.size, chunk):
            await self.pacing.wait(started, start / (SAMPLES_PER_MS * 1000), not_interrupted)
            piece = pcm[start : start + chunk].tobytes()
            if self.speech_out is not None:
                await self.speech_out.say(utterance, piece)
            else:
                delta = base64.b64encode(piece).decode("ascii")
                await self.emit({"type": "session.output_audio.delta", "delta": delta})
        if self.speech_out is not None:
            self.speech_out.said(utterance)

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        failure = None if task.cancelled() else task.exception()
        if failure is not None:
            _log.error("live session task failed", exc_info=failure)
            if self._on_crash is not None:
                self._on_crash(failure)


def _correlation(event: Mapping[str, Any]) -> dict[str, Any]:
    """`client_event_id` when the client named its command."""
    return {"client_event_id": event["event_id"]} if event.get("event_id") else {}
