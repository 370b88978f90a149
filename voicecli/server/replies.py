"""What a brain is: its protocol, the reply it gives, and how it reads the conversation.

Shared by every brain (`brains` for echo and scripted, `chat_brain` for a chat completions model),
so that none of them depends on another.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from voicecli.server.session.conversation import Item

__all__ = [
    "Brain",
    "BrainError",
    "Reply",
    "ReplyStream",
    "ToolCall",
    "audio_seconds",
    "is_output",
    "is_user_message",
    "joined_outputs",
    "last_turn",
    "user_text",
]


@dataclass(frozen=True, slots=True)
class ToolCall:
    name: str
    arguments: str  # JSON text, as the service sends it


class ReplyStream(Protocol):
    """A reply arriving in pieces: text as it comes, then `calls`, complete once the pieces are read."""

    calls: tuple[ToolCall, ...]

    def __aiter__(self) -> AsyncIterator[str]: ...


@dataclass(frozen=True, slots=True)
class Reply:
    """What to say and which tools to call; or a `stream` of both (then `text` and `calls` are unused)."""

    text: str = ""
    calls: tuple[ToolCall, ...] = ()
    stream: ReplyStream | None = None
    preamble: str = ""
    """Said first, as a message item of its own in the same response (gpt-realtime-2's preambles)."""


class BrainError(Exception):
    """The brain cannot answer (its model is unreachable, say): the response fails with this message.

    The message reaches the client, which may be anywhere: it never names an internal address.
    `detail` (for the server's log only) may.
    """

    def __init__(self, message: str, code: str = "brain_failed", *, detail: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.detail = detail or message


class Brain(Protocol):
    """Decides a reply. `config` is the session configuration with the response's overrides.

    `phrases` are what the brain expects users to say: the recogniser tries them first.
    """

    phrases: tuple[str, ...]

    async def reply(self, items: Sequence[Item], config: Mapping[str, Any]) -> Reply: ...


# --- reading the conversation -----------------------------------------------------------------


def user_text(item: Item) -> str | None:
    """The words of a user message (typed text, or the transcript of its speech), if any."""
    words = [
        part.get("text") or part.get("transcript") or ""
        for part in item.data.get("content", [])
        if part.get("type") in ("input_text", "input_audio")
    ]
    text = " ".join(word for word in words if word)
    return text or None


def audio_seconds(item: Item) -> float:
    return sum(item.audio_ms(index) for index in item.audio) / 1000


def is_user_message(item: Item) -> bool:
    return item.data.get("type") == "message" and item.data.get("role") == "user"


REFUSED = "The user did not approve this call, so it did not run."
"""What a hosted MCP call the user refused answered, as a brain reads it."""


def is_output(item: Item) -> bool:
    """A tool's answer: a function call's output, a hosted MCP call made, or one the user refused."""
    data = item.data
    kind = data.get("type")
    return kind in ("function_call_output", "mcp_call") or (kind == "mcp_approval_response" and not data.get("approve"))


def last_turn(items: Sequence[Item]) -> tuple[Item | None, list[Item]]:
    """The latest user message, and the tool outputs after it that no assistant message answered."""
    outputs: list[Item] = []
    answered = False
    for item in reversed(items):
        kind = item.data.get("type")
        if is_output(item) and not answered:
            outputs.insert(0, item)
        elif kind == "message" and item.data.get("role") == "assistant":
            answered = True
        elif is_user_message(item):
            return item, outputs
    return None, outputs


def joined_outputs(outputs: Sequence[Item]) -> str:
    return "; ".join(_output_text(item.data) for item in outputs)


def _output_text(data: Mapping[str, Any]) -> str:
    if data.get("type") == "mcp_approval_response":
        return REFUSED
    if data.get("type") == "mcp_call" and data.get("error"):
        return f"Error: {data['error'].get('message', 'the call failed')}"
    return str(data.get("output") or "")
