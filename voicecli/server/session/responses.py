"""Responses: at most one active at a time, each run as a task from `response.created` to `.done`.

The brain's reply is streamed by the `ResponseStreamer`; cancelling (the client's `response.cancel`
or the user's speech) marks the response, which stops at its next chunk and ends `cancelled`. A
response task that fails is a server bug: `on_crash` hears of it so the transport can close loudly.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from voicecli.server.events import Send
from voicecli.server.ids import new_id
from voicecli.server.replies import Brain, BrainError, Reply, ToolCall
from voicecli.server.session.audio_out import AudioOut
from voicecli.server.session.config import response_config
from voicecli.server.session.conversation import ConversationItems, Item
from voicecli.server.session.hosted_mcp import (
    HostedMcp,
    Opened,
    answered_approval,
    approval_request,
    hosted_tools,
    needs_approval,
)
from voicecli.server.session.pacing import Pacing
from voicecli.server.session.reply_budget import ReplyBudget
from voicecli.server.session.response_stream import Response, ResponseStreamer
from voicecli.server.validation import ProtocolViolation

__all__ = ["Responses"]

_log = logging.getLogger(__name__)


class Responses:
    """The responses of one session."""

    def __init__(
        self,
        emit: Send,
        *,
        brain: Brain,
        conversation: ConversationItems,
        audio_out: AudioOut,
        pacing: Pacing,
        on_crash: Callable[[BaseException], None] | None,
        settle: Callable[[Sequence[Item]], Awaitable[None]],
        hosted: HostedMcp | None = None,
    ) -> None:
        """`settle` waits until the user turns among the items have their transcripts; `hosted` makes
        the calls of hosted MCP servers."""
        self._emit = emit
        self._brain = brain
        self._conversation = conversation
        self._streamer = ResponseStreamer(emit, conversation=conversation, audio_out=audio_out, pacing=pacing)
        self._on_crash = on_crash
        self._settle = settle
        self.hosted = hosted or HostedMcp(emit, conversation)
        self._conversation_id = new_id("conv")
        self.active: Response | None = None
        self._task: asyncio.Task[None] | None = None  # the latest response's; may be finishing

    @property
    def voice_used(self) -> bool:
        """Whether assistant audio has been produced in this session."""
        return self._streamer.voice_used

    async def create(self, session_config: dict[str, Any], params: dict[str, Any]) -> None:
        """The client's `response.create`: refused while a response is active."""
        if self.active is not None:
            raise ProtocolViolation(
                f"Conversation already has an active response in progress: {self.active.id}. "
                "Wait until the response is finished before creating a new one.",
                code="conversation_already_has_active_response",
            )
        await self.start(session_config, params)

    async def start(self, session_config: dict[str, Any], params: dict[str, Any]) -> None:
        """Send `response.created` and start streaming the reply (`params` as `response.create` has them)."""
        if params.get("input") is not None:
            items = self._conversation.response_input(params["input"])
        else:
            items = list(self._conversation)
        response = Response(
            id=new_id("resp"),
            config=response_config(session_config, params),
            items=items,
            in_conversation=params.get("conversation") != "none",
            metadata=params.get("metadata"),
            started=asyncio.get_running_loop().time(),
        )
        self.active = response
        await self._emit({"type": "response.created", "response": self._wire(response, "in_progress")})
        self._task = asyncio.create_task(self._run(response), name=f"response {response.id}")
        self._task.add_done_callback(self._finished)

    async def cancel_requested(self, response_id: str | None) -> None:
        """The client's `response.cancel` (of the active response, or the one named)."""
        if self.active is None or response_id not in (None, self.active.id):
            raise ProtocolViolation("Cancellation failed: no active response found", code="response_cancel_not_active")
        await self.cancel("client_cancelled")

    async def cancel(self, reason: str) -> None:
        """Stop streaming at the next chunk; the response ends with `response.done` `cancelled`."""
        if self.active is None or self._task is None:
            return
        self.active.cancel(reason)
        await asyncio.wait({self._task})

    def stop_speech(self, item_id: str) -> bool:
        """A truncate of a message still speaking: stop its audio (False: it is not speaking)."""
        return self._streamer.stop_speech(item_id)

    async def end_speech(self, item_id: str) -> None:
        """After `stop_speech`: close that audio part and its item now."""
        await self._streamer.end_speech(item_id)

    async def close(self) -> None:
        """Stop the response in flight (the transport is gone)."""
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task})

    async def _run(self, response: Response) -> None:
        error: BrainError | None = None
        budget = ReplyBudget(response.config)  # at most `max_output_tokens`, as the service says
        try:
            await self._settle(response.items)
            await self._answer(response, budget)
        except BrainError as exc:
            _log.info("response %s failed: %s", response.id, exc.detail)  # the client is told in response.done
            error = exc
        finally:
            # Inactive from here on: a client answering `response.done` at once must not collide.
            if self.active is response:
                self.active = None
        status = "failed" if error else "cancelled" if response.cancel_reason else "completed"
        if status == "completed" and budget.exceeded:
            status = "incomplete"
        await self._emit({"type": "response.done", "response": self._wire(response, status, error)})

    async def _answer(self, response: Response, budget: ReplyBudget) -> None:
        """The brain's reply, its function calls, and its hosted MCP calls: made within the response
        and answered in it, or asked about first (`mcp_approval_request` ends the response; the
        client's answer and `response.create` start the one that makes, or declines, the call)."""
        items = response.items
        answered = answered_approval(items)
        if answered is not None and answered[1]:
            asked = answered[0].data
            server = _server(response.config, asked["server_label"])
            if server is not None:
                await self.hosted.call(self._opener(response), server, asked["name"], asked["arguments"], asked["id"])
                items = [*items, *response.output]
        calls = await self._say(response, budget, await self._brain.reply(items, response.config))
        offered = hosted_tools(items, response.config)
        functions = {tool.get("name") for tool in response.config.get("tools") or () if tool.get("type") == "function"}
        called_hosted = False
        for call in calls:
            if response.cancel_reason or budget.exceeded:  # the model stopped at its limit
                break
            hosted = None if call.name in functions else offered.get(call.name)
            if hosted is None:
                await self._streamer.call(response, call)
            elif needs_approval(*hosted):
                request = approval_request(hosted[0], call.name, call.arguments)
                await self._streamer.close_item(response, await self._streamer.open_item(response, request))
            else:
                await self.hosted.call(self._opener(response), hosted[0], call.name, call.arguments)
                called_hosted = True
        if called_hosted and not response.cancel_reason:  # the model goes on with what the server answered
            await self._say(response, budget, await self._brain.reply([*items, *response.output], response.config))

    async def _say(self, response: Response, budget: ReplyBudget, reply: Reply) -> tuple[ToolCall, ...]:
        """Stream what the reply says; returns the calls it makes."""
        calls = reply.calls
        if reply.preamble.strip():
            await self._streamer.message(response, budget.text(reply.preamble.strip()))
        if reply.stream is not None:
            await self._streamer.message(response, budget.stream(reply.stream))
            calls = reply.stream.calls
        elif reply.text.strip() and not response.cancel_reason:
            await self._streamer.message(response, budget.text(reply.text.strip()))
        return calls

    def _opener(self, response: Response) -> Opened:
        """How a hosted call adds its item to this response: the item, where its events go, its closing."""

        async def opened(data: dict[str, Any]) -> tuple[Item, dict[str, Any], Callable[[], Awaitable[None]]]:
            output = await self._streamer.open_item(response, data)
            where = {"response_id": response.id, "item_id": output.item.id, "output_index": output.index}
            return output.item, where, functools.partial(self._streamer.close_item, response, output)

        return opened

    def _finished(self, task: asyncio.Task[None]) -> None:
        error = None if task.cancelled() else task.exception()
        if error is None:
            return
        _log.error("response task failed", exc_info=error)
        if self._on_crash is not None:
            self._on_crash(error)

    def _wire(self, response: Response, status: str, error: BrainError | None = None) -> dict[str, Any]:
        """The `response` object of `response.created` and `response.done`."""
        config = response.config
        done = status != "in_progress"
        return {
            "object": "realtime.response",
            "id": response.id,
            "status": status,
            "status_details": _status_details(response, status, error),
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


def _server(config: dict[str, Any], label: str) -> dict[str, Any] | None:
    """The response's `mcp` tool of that label, if it still has one."""
    return next((t for t in config.get("tools") or () if t.get("type") == "mcp" and t["server_label"] == label), None)


def _status_details(response: Response, status: str, error: BrainError | None) -> dict[str, Any] | None:
    if status == "cancelled":
        return {"type": "cancelled", "reason": response.cancel_reason}
    if status == "incomplete":
        return {"type": "incomplete", "reason": "max_output_tokens"}
    if error is not None:
        return {"type": "failed", "error": {"type": "server_error", "code": error.code, "message": str(error)}}
    return None


def _tokens(text: str) -> int:
    return math.ceil(len(text) / 4)


def _usage(response: Response) -> dict[str, Any]:
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
