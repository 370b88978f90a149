"""Session settings, turned into the GA `session.update` payload.

Only fields the caller set are sent, so the service keeps its own defaults for the rest (and a
`update_session` mid-conversation changes just what was asked).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

from voicecli.realtime.events import SAMPLE_RATE

Modality = Literal["audio", "text"]
ReasoningEffort = Literal["minimal", "low", "medium", "high", "xhigh"]
AUDIO_FORMAT = {"type": "audio/pcm", "rate": SAMPLE_RATE}


@dataclass(slots=True, kw_only=True)
class TurnDetection:
    """Server-side turn detection; `type="semantic_vad"` uses `eagerness` instead of the timings."""

    type: Literal["server_vad", "semantic_vad"] = "server_vad"
    threshold: float | None = None
    prefix_padding_ms: int | None = None
    silence_duration_ms: int | None = None
    eagerness: Literal["low", "medium", "high", "auto"] | None = None
    create_response: bool = True
    interrupt_response: bool = True

    def to_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "type": self.type,
            "create_response": self.create_response,
            "interrupt_response": self.interrupt_response,
        }
        if self.type == "semantic_vad":
            if self.eagerness is not None:
                payload["eagerness"] = self.eagerness
            return payload
        for name in ("threshold", "prefix_padding_ms", "silence_duration_ms"):
            value = getattr(self, name)
            if value is not None:
                payload[name] = value
        return payload


@dataclass(slots=True, kw_only=True)
class RealtimeSettings:
    """What the session should be: persona, voice, modalities, turn taking, transcription, tools.

    `push_to_talk=True` turns server turn detection off: the caller commits the audio buffer and
    asks for a response itself.
    """

    instructions: str | None = None
    voice: str | None = None
    output_modalities: list[Modality] | None = None
    turn_detection: TurnDetection | None = None
    push_to_talk: bool = False
    input_transcription_model: str | None = None
    input_transcription_language: str | None = None
    input_transcription_keywords: list[str] | None = None
    """Words or phrases the listener expects (the local server turns them into a recognition grammar)."""
    noise_reduction: Literal["near_field", "far_field"] | None = None
    speed: float | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: Literal["auto", "none", "required"] | None = None
    max_output_tokens: int | Literal["inf"] | None = None
    reasoning_effort: ReasoningEffort | None = None
    """How hard a reasoning model (gpt-realtime-2 and later) thinks before it answers."""
    parallel_tool_calls: bool | None = None
    """Whether a reasoning model may call several tools in one response."""
    extra: dict[str, Any] = field(default_factory=dict)

    def with_tools(self, tools: list[dict[str, Any]]) -> RealtimeSettings:
        """A copy carrying the registered tools, unless the caller set tools explicitly."""
        return self if self.tools is not None or not tools else replace(self, tools=tools)

    def to_session_payload(self) -> dict[str, Any]:
        session: dict[str, Any] = {"type": "realtime"}
        if self.instructions is not None:
            session["instructions"] = self.instructions
        if self.output_modalities is not None:
            session["output_modalities"] = list(self.output_modalities)
        audio_input: dict[str, Any] = {"format": dict(AUDIO_FORMAT)}
        if self.push_to_talk:
            audio_input["turn_detection"] = None
        elif self.turn_detection is not None:
            audio_input["turn_detection"] = self.turn_detection.to_payload()
        if self.input_transcription_model is not None:
            transcription: dict[str, Any] = {"model": self.input_transcription_model}
            if self.input_transcription_language is not None:
                transcription["language"] = self.input_transcription_language
            if self.input_transcription_keywords:
                transcription["keywords"] = list(self.input_transcription_keywords)
            audio_input["transcription"] = transcription
        if self.noise_reduction is not None:
            audio_input["noise_reduction"] = {"type": self.noise_reduction}
        audio_output: dict[str, Any] = {"format": dict(AUDIO_FORMAT)}
        if self.voice is not None:
            audio_output["voice"] = self.voice
        if self.speed is not None:
            audio_output["speed"] = self.speed
        session["audio"] = {"input": audio_input, "output": audio_output}
        if self.tools is not None:
            session["tools"] = self.tools
        if self.tool_choice is not None:
            session["tool_choice"] = self.tool_choice
        if self.max_output_tokens is not None:
            session["max_output_tokens"] = self.max_output_tokens
        if self.reasoning_effort is not None:
            session["reasoning"] = {"effort": self.reasoning_effort}
        if self.parallel_tool_calls is not None:
            session["parallel_tool_calls"] = self.parallel_tool_calls
        session.update(self.extra)
        return {"type": "session.update", "session": session}


class OpenAIRealtimeExecutionSettings(RealtimeSettings):
    """The name the Semantic Kernel samples use for OpenAI; identical to `RealtimeSettings`."""

    __slots__ = ()


class AzureRealtimeExecutionSettings(RealtimeSettings):
    """The name the Semantic Kernel samples use for Azure; identical to `RealtimeSettings`."""

    __slots__ = ()
