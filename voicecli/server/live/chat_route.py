"""`POST /v1/chat/completions` answered by the server's brain: the backend model of a GPT-Live delegate.

With client delegation, GPT-Live tells the client only *that* it delegated, not what: the client's
own backend model reads the conversation and picks the tools. voicecli's client asks a chat
completions endpoint for that; here the local server's brain plays that model, so a scripted brain
drives both the spoken turn and the tool call. Non-streaming answers only (what the delegate asks).
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from voicecli.server.config import CONFIG_KEY, key_refusal
from voicecli.server.ids import new_id
from voicecli.server.replies import BrainError
from voicecli.server.session.conversation import Item

__all__ = ["chat_completions", "items_from_chat"]


async def chat_completions(request: web.Request) -> web.Response:
    config = request.app[CONFIG_KEY]
    refusal = key_refusal(request, config)
    if refusal is not None:
        return _refuse(401, "invalid_api_key", refusal)
    try:
        body = orjson.loads(await request.read())
        messages = body["messages"]
        items = items_from_chat(messages)
        tools = [tool["function"] for tool in body.get("tools") or () if tool.get("type") == "function"]
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
        return _refuse(400, "invalid_request", "Expected a chat completions request with messages.")
    try:
        reply = await config.brain.reply(items, {"tools": [{"type": "function", **tool} for tool in tools]})
    except BrainError as exc:
        return _refuse(502, exc.code, str(exc))
    message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
    if reply.calls:
        message["tool_calls"] = [
            {"id": new_id("call"), "type": "function", "function": {"name": call.name, "arguments": call.arguments}}
            for call in reply.calls
        ]
    finish = "tool_calls" if reply.calls else "stop"
    answer = {
        "id": new_id("chatcmpl"),
        "object": "chat.completion",
        "model": str(body.get("model") or ""),
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
    }
    return web.Response(body=orjson.dumps(answer), content_type="application/json")


def items_from_chat(messages: list[dict[str, Any]]) -> list[Item]:
    """Chat messages as the conversation items a brain reads (tool calls and their outputs included)."""
    items: list[Item] = []
    for message in messages:
        role = message["role"]
        if role in ("user", "assistant") and message.get("content"):
            part = "input_text" if role == "user" else "output_text"
            content = [{"type": part, "text": str(message["content"])}]
            items.append(Item({"type": "message", "id": new_id("item"), "role": role, "content": content}))
        for call in message.get("tool_calls") or ():
            function = call["function"]
            data = {"type": "function_call", "id": new_id("item"), "call_id": call["id"], **function}
            items.append(Item(data))
        if role == "tool":
            data = {"type": "function_call_output", "id": new_id("item"), "call_id": message["tool_call_id"]}
            items.append(Item({**data, "output": str(message.get("content") or "")}))
    return items


def _refuse(status: int, code: str, message: str) -> web.Response:
    return web.json_response(
        {"error": {"message": message, "type": "invalid_request_error", "code": code}}, status=status
    )
