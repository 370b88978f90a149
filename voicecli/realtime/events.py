"""Typed events yielded by `RealtimeClient.receive()` and accepted by `RealtimeClient.send()`.

Every event keeps the wire type (`service_type`) and the raw payload (`service_event`) so that
callers can always reach what the service actually said. `event_type` is a class constant, so both
`match event:` on classes and `match event.event_type:` on strings work.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np

SAMPLE_RATE = 24_000
"""The only pcm rate the service accepts and sends."""

EventType = Literal[
    "service",
    "audio",
    "text",
    "function_call",
    "function_result",
    "mcp_tools",
    "mcp_call",
    "mcp_approval",
    "error",
    "word",
]


@dataclass(slots=True)
class AudioContent:
    """A chunk of mono int16 PCM audio."""

    data: np.ndarray
    sample_rate: int = SAMPLE_RATE
    item_id: str | None = None

    @property
    def duration_ms(self) -> float:
        return 1000.0 * len(self.data) / self.sample_rate


TextSource = Literal["assistant_transcript", "assistant_text", "user_transcript", "user_text"]


@dataclass(slots=True)
class TextContent:
    """A piece of text: a streaming delta of the assistant, a transcript of the user, or words the
    user typed (`user_text`: sent by the client, and shown on voicecli's screen as typed)."""

    text: str
    source: TextSource = "assistant_transcript"
    item_id: str | None = None
    final: bool = False


@dataclass(frozen=True, slots=True)
class WordTimestampContent:
    """One spoken word of the reply and where it lies in its item's audio (Azure Voice Live's word
    timestamps, asked for with `VoiceLiveOptions(word_timestamps=True)`)."""

    text: str
    audio_offset_ms: int
    audio_duration_ms: int
    item_id: str | None = None
    response_id: str | None = None

    @property
    def audio_end_ms(self) -> int:
        return self.audio_offset_ms + self.audio_duration_ms


@dataclass(slots=True)
class FunctionCallContent:
    """A call the model asked for; `arguments` is the JSON text the model produced."""

    name: str
    arguments: str
    call_id: str
    item_id: str | None = None
    response_id: str | None = None


@dataclass(slots=True)
class FunctionResultContent:
    """What a tool returned (or the error text sent back to the model when it failed)."""

    name: str
    call_id: str
    result: str
    is_error: bool = False
    duration_s: float = 0.0


@dataclass(slots=True)
class McpToolsContent:
    """The tools a hosted MCP server offers, as the service listed them (`failed`: it could not)."""

    server_label: str
    tools: list[str] = field(default_factory=list)
    item_id: str | None = None
    failed: bool = False


@dataclass(slots=True)
class McpCallContent:
    """A call the service made to a hosted MCP server, with what it answered (`error` when it failed)."""

    server_label: str
    name: str
    arguments: str
    item_id: str
    output: str | None = None
    error: str | None = None
    approval_request_id: str | None = None


@dataclass(slots=True)
class McpApprovalContent:
    """The service asks whether it may call a hosted MCP server's tool; `approved` once answered."""

    server_label: str
    name: str
    arguments: str
    approval_request_id: str
    response_id: str | None = None
    approved: bool | None = None


@dataclass(slots=True)
class ErrorContent:
    """An error from the service, the transport or the client; `fatal` ends the session."""

    message: str
    code: str | None = None
    type: str | None = None
    fatal: bool = False


@dataclass(slots=True, kw_only=True)
class RealtimeEvent:
    """A service event passed through as it came, or a client event to send as it is."""

    event_type: ClassVar[EventType] = "service"
    service_type: str | None = None
    service_event: dict[str, Any] | None = None


@dataclass(slots=True, kw_only=True)
class RealtimeAudioEvent(RealtimeEvent):
    event_type: ClassVar[EventType] = "audio"
    audio: AudioContent


@dataclass(slots=True, kw_only=True)
class RealtimeTextEvent(RealtimeEvent):
    event_type: ClassVar[EventType] = "text"
    text: TextContent


@dataclass(slots=True, kw_only=True)
class RealtimeFunctionCallEvent(RealtimeEvent):
    event_type: ClassVar[EventType] = "function_call"
    function_call: FunctionCallContent


@dataclass(slots=True, kw_only=True)
class RealtimeFunctionResultEvent(RealtimeEvent):
    event_type: ClassVar[EventType] = "function_result"
    function_result: FunctionResultContent


@dataclass(slots=True, kw_only=True)
class RealtimeWordEvent(RealtimeEvent):
    event_type: ClassVar[EventType] = "word"
    word: WordTimestampContent


@dataclass(slots=True, kw_only=True)
class RealtimeMcpToolsEvent(RealtimeEvent):
    """A hosted MCP server's tools were listed (`conversation.item.done` of an `mcp_list_tools` item),
    or could not be (`mcp_list_tools.failed`)."""

    event_type: ClassVar[EventType] = "mcp_tools"
    mcp_tools: McpToolsContent


@dataclass(slots=True, kw_only=True)
class RealtimeMcpCallEvent(RealtimeEvent):
    """The service called a hosted MCP server's tool (`response.output_item.done` of an `mcp_call`)."""

    event_type: ClassVar[EventType] = "mcp_call"
    mcp_call: McpCallContent


@dataclass(slots=True, kw_only=True)
class RealtimeMcpApprovalEvent(RealtimeEvent):
    """The service asks for approval (`mcp_approval_request`), or the client answered it (`approved` set)."""

    event_type: ClassVar[EventType] = "mcp_approval"
    approval: McpApprovalContent


@dataclass(slots=True, kw_only=True)
class RealtimeErrorEvent(RealtimeEvent):
    event_type: ClassVar[EventType] = "error"
    error: ErrorContent = field(default_factory=lambda: ErrorContent(message="unknown error"))
