"""Azure Voice Live on the local server: `/voice-live/realtime?api-version=…&model=…`.

Voice Live speaks a dialect of the Realtime beta shape (`response.audio.delta`, settings at the
session's top level) with Azure's own session settings: an Azure voice (`{name, type}`),
`azure_semantic_vad` turn detection (with `remove_filler_words`), deep noise suppression and server
echo cancellation. The session underneath stays GA: a client frame is checked against the
`azure-ai-voicelive` models, its Azure settings are taken aside (remembered, and shown back in
`session.created|updated` as the service shows them), and the rest goes the preview route's way to
GA. Outgoing GA events take the beta form, get the Azure settings back and are checked against the
SDK's models before they are sent. The local server has no noise suppressor or echo canceller:
those settings are accepted and echoed, not applied (its energy VAD stands in for the semantic one).
Word timestamps, when asked for, are estimated from the audio chunk each word rides in (`word_timing`).
"""

from __future__ import annotations

from typing import Any

from voicecli.server.preview_route import beta_form, checked_frame, to_ga_client_event
from voicecli.server.session.session import ServerSession
from voicecli.server.validation import ProtocolViolation
from voicecli.server.voicelive.conformance import check_client_event, check_server_event
from voicecli.server.voicelive.word_timing import WordTimer

__all__ = ["VOICE_LIVE_CALLS_PATH", "VOICE_LIVE_PATH", "VOICE_LIVE_PATHS", "VoiceLiveShape"]

VOICE_LIVE_PATH = "/voice-live/realtime"
VOICE_LIVE_CALLS_PATH = "/voice-live/realtime/calls"
"""WebRTC: the call is signalled on this WebSocket, which then carries the events (`webrtc_route`)."""
VOICE_LIVE_PATHS = (VOICE_LIVE_PATH, VOICE_LIVE_CALLS_PATH)

_AZURE_ONLY = ("input_audio_echo_cancellation", "reasoning_effort", "output_audio_timestamp_types", "animation")
"""Session settings the GA session has no room for: remembered and shown back, not applied."""
_TURN_TIMINGS = ("threshold", "prefix_padding_ms", "silence_duration_ms", "create_response", "interrupt_response")
_BETA_ONLY_SESSION_FIELDS = ("speed",)
"""Beta session fields Voice Live's session model does not have."""


def _check_client_event(event: Any) -> None:
    if not isinstance(event, dict):
        raise ProtocolViolation("An event must be a JSON object.", code="invalid_event")
    check_client_event(event)


class VoiceLiveShape:
    """One connection's translation between Voice Live frames and the GA session."""

    def __init__(self) -> None:
        self.azure: dict[str, Any] = {}
        """The Azure settings the client set, as it set them (`voice`, `turn_detection`, …)."""
        self.word_timer = WordTimer()

    async def handle_frame(self, session: ServerSession, data: bytes | str) -> None:
        """Check one client frame against the SDK's models, then let the GA session apply it."""
        event = await checked_frame(session, data, _check_client_event)
        if event is None:
            return
        if event["type"] == "session.update" and isinstance(event.get("session"), dict):
            event = {**event, "session": self._beta_session(event["session"])}
        await session.handle(to_ga_client_event(event))

    def to_wire_events(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        """The Voice Live frames for a GA server event: the word timestamps due before it, when the
        session asked for them, then its own form (if Voice Live has the event), each checked."""
        words = self.word_timer.before(event) if "word" in self.azure.get("output_audio_timestamp_types", ()) else []
        for word in words:
            check_server_event(word)
        wire = self.to_wire(event)
        return [*words, wire] if wire is not None else words

    def to_wire(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """The Voice Live form of a GA server event, checked; None for events Voice Live does not have."""
        wire = beta_form(event)
        if wire is None:
            return None
        if isinstance(wire.get("session"), dict):
            session = {key: value for key, value in wire["session"].items() if key not in _BETA_ONLY_SESSION_FIELDS}
            wire["session"] = {**session, **self.azure}
        item = wire.get("item")
        if isinstance(item, dict) and item.get("type") == "function_call_output":  # Voice Live's has no status
            wire["item"] = {key: value for key, value in item.items() if key != "status"}
        check_server_event(wire)
        return wire

    def _beta_session(self, session: dict[str, Any]) -> dict[str, Any]:
        """Take the Azure settings aside; what is left is a beta session the preview route turns into GA."""
        beta = {key: value for key, value in session.items() if key not in _AZURE_ONLY}
        self.azure.update({key: session[key] for key in _AZURE_ONLY if key in session})
        voice = session.get("voice")
        if isinstance(voice, dict):  # an Azure voice: the local speech synthesizer has one voice anyway
            self.azure["voice"] = voice
            beta["voice"] = str(voice.get("name") or "alloy")
        elif voice is not None:
            self.azure.pop("voice", None)
        turn = session.get("turn_detection")
        if isinstance(turn, dict) and str(turn.get("type", "")).startswith("azure_"):
            self.azure["turn_detection"] = turn
            beta["turn_detection"] = {key: turn[key] for key in _TURN_TIMINGS if key in turn}
        elif "turn_detection" in session:
            self.azure.pop("turn_detection", None)
        noise = session.get("input_audio_noise_reduction")
        if isinstance(noise, dict) and str(noise.get("type", "")).startswith("azure_"):
            self.azure["input_audio_noise_reduction"] = noise
            beta.pop("input_audio_noise_reduction")
        return beta
