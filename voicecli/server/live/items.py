"""The conversation items a local GPT-Live session keeps: messages, and the tool calls it delegates.

The model knows no client tools: every call its brain makes is delegated, and the client's
commentary for the delegation stands as the calls' output when the model answers it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from voicecli.server.ids import new_id
from voicecli.server.replies import Brain, Reply
from voicecli.server.session.conversation import Item

__all__ = ["Delegation", "message", "script_tools"]


@dataclass
class Delegation:
    """A turn whose tool calls the model delegated: the user's words and the calls, awaiting commentary."""

    user: Item
    calls: list[Item] = field(default_factory=list)

    @classmethod
    def of(cls, user: Item, reply: Reply) -> Delegation:
        """The brain's tool calls in `reply`, as the function call items the model delegates."""
        calls = [
            Item(
                {
                    "type": "function_call",
                    "id": new_id("item"),
                    "call_id": new_id("call"),
                    "name": call.name,
                    "arguments": call.arguments,
                }
            )
            for call in reply.calls
        ]
        return cls(user, calls)

    def outputs(self, commentary: str) -> list[Item]:
        """One output per call; the client's commentary, for the whole delegation, is the last one's."""
        outputs = [
            Item({"type": "function_call_output", "id": new_id("item"), "call_id": call.data["call_id"], "output": ""})
            for call in self.calls
        ]
        if outputs:
            outputs[-1].data["output"] = commentary
        return outputs


def message(role: str, text: str) -> Item:
    part = "output_text" if role == "assistant" else "input_text"
    return Item({"type": "message", "id": new_id("item"), "role": role, "content": [{"type": part, "text": text}]})


def script_tools(brain: Brain) -> list[dict[str, str]]:
    """Every tool a scripted brain may call: the Live model knows no client tools and delegates them all."""
    turns = getattr(brain, "turns", ())
    return [{"type": "function", "name": call.name} for turn in turns for call in turn.calls]
