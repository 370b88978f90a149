"""The client's side of a GPT-Live client delegation: decide what to do, run our tools, report back.

GPT-Live tells the client only *that* it delegated (`session.delegation.created` carries an id,
not the task): the client's own backend reads the conversation and acts. voicecli's default backend
is a chat completions model at the same endpoint (OpenAI, Azure, or the local server, whose brain
answers there) given the transcript and this client's tools; the tools' outputs (or the model's
words when it calls none) become the commentary the Live model then speaks. A failure becomes
commentary too, so the user hears why, and nothing crashes.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from voicecli.realtime.events import (
    FunctionCallContent,
    RealtimeEvent,
    RealtimeFunctionCallEvent,
    RealtimeFunctionResultEvent,
)
from voicecli.realtime.functions import ToolRegistry

if TYPE_CHECKING:
    from openai import AsyncOpenAI

__all__ = ["ChatDelegate", "Delegate", "DelegatedTask", "Report"]

DELEGATE_INSTRUCTIONS = (
    "A voice assistant delegated a task to you. Read the conversation, call the tools that do what the user "
    "asked, and answer in one short sentence the assistant can say."
)
Report = Callable[[RealtimeEvent], Awaitable[None]]
"""Shows an event on the client's `receive()` stream (the tools the delegate runs)."""


@dataclass(frozen=True, slots=True)
class DelegatedTask:
    """One client delegation: its id, the conversation so far (role, words), and the tools to use."""

    delegation_id: str
    transcript: list[tuple[str, str]]
    tools: ToolRegistry

    @classmethod
    def from_call(cls, call: FunctionCallContent, tools: ToolRegistry) -> DelegatedTask:
        transcript = [(str(role), str(words)) for role, words in json.loads(call.arguments)["transcript"]]
        return cls(call.call_id, transcript, tools)


class Delegate(Protocol):
    """Answers a delegation with the text the Live model should communicate."""

    async def __call__(self, task: DelegatedTask, report: Report) -> str: ...


class ChatDelegate:
    """Asks a chat completions `model` (through the client's own `openai` client) which tools to run."""

    def __init__(self, sdk_client: Callable[[], AsyncOpenAI], model: str) -> None:
        self._sdk_client = sdk_client
        self.model = model

    async def __call__(self, task: DelegatedTask, report: Report) -> str:
        import openai

        messages: list[Any] = [{"role": "system", "content": DELEGATE_INSTRUCTIONS}]
        messages += [{"role": role, "content": words} for role, words in task.transcript if words.strip()]
        tools = [
            {"type": "function", "function": {key: value for key, value in tool.items() if key != "type"}}
            for tool in task.tools.payload()
            if tool["type"] == "function"  # a hosted MCP server is the Realtime service's, not a chat model's
        ]
        options: dict[str, Any] = {"tools": tools} if tools else {}
        try:
            completion = await self._sdk_client().chat.completions.create(
                model=self.model, messages=messages, **options
            )
        except openai.OpenAIError as exc:
            return f"The delegated task could not be done: {exc}"
        message = completion.choices[0].message
        if not message.tool_calls:
            return message.content or "There was nothing to do."
        outputs = []
        for tool_call in message.tool_calls:
            function = getattr(tool_call, "function", None)
            if function is None:
                continue  # a custom tool call: voicecli offers only function tools
            call = FunctionCallContent(name=function.name, arguments=function.arguments, call_id=tool_call.id)
            await report(RealtimeFunctionCallEvent(service_type="delegation.function_call", function_call=call))
            result = await task.tools.invoke(call.name, call.arguments, call.call_id)
            await report(RealtimeFunctionResultEvent(service_type="function_result", function_result=result))
            outputs.append(result.result)
        return "; ".join(outputs) or "There was nothing to do."
