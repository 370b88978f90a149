"""The `chat` brain: replies from any OpenAI-compatible chat completions endpoint (llama.cpp, Ollama, …).

The conversation becomes chat messages (instructions as the system message, spoken turns as their
recognised words, function calls and their outputs as tool calls and tool messages), the session's
function tools become chat tools, and the answer is streamed (`stream: true`, server-sent events):
text pieces go on to speech as they come, tool calls are collected until the stream ends. An
endpoint that cannot be reached, or that answers with an error, fails the response with one line.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import aiohttp
import orjson

from voicecli.server.replies import BrainError, Reply, ToolCall, audio_seconds, is_user_message, user_text
from voicecli.server.session.conversation import Item

__all__ = ["ChatBrain", "chat_messages", "chat_tools"]

_TIMEOUT = aiohttp.ClientTimeout(total=None, connect=10, sock_read=120)


class ChatBrain:
    """Asks the chat model at `url` (the API base, e.g. `http://127.0.0.1:11434/v1`) for each reply."""

    phrases: tuple[str, ...] = ()

    def __init__(self, url: str, model: str, api_key: str | None = None, *, found: str | None = None) -> None:
        """`api_key` goes in an `Authorization: Bearer` header; `found` names the local server it was found as."""
        self.endpoint = url.rstrip("/") + "/chat/completions"
        self.model = model
        model_at = f"{model} at {url}" if model else url
        self.label = f"chat: {found}'s {model_at}" if found else f"chat: {model_at}"
        """What answers, as the live screen and `voicecli serve` say it."""
        self._headers = dict(_HEADERS, Authorization=f"Bearer {api_key}") if api_key else _HEADERS

    async def reply(self, items: Sequence[Item], config: Mapping[str, Any]) -> Reply:
        request: dict[str, Any] = {"model": self.model, "messages": chat_messages(items, config), "stream": True}
        tools = chat_tools(config)
        if tools and config.get("tool_choice") != "none":
            request["tools"] = tools
            if isinstance(config.get("tool_choice"), str):
                request["tool_choice"] = config["tool_choice"]
        if isinstance(config.get("max_output_tokens"), int):
            request["max_tokens"] = config["max_output_tokens"]
        return Reply(stream=_ChatStream(self.endpoint, request, self._headers))


class _ChatStream:
    """One streamed chat completion: iterate for the text; `calls` is complete after the last piece."""

    def __init__(self, endpoint: str, request: dict[str, Any], headers: Mapping[str, str]) -> None:
        self._endpoint = endpoint
        self._request = request
        self._headers = headers
        self.calls: tuple[ToolCall, ...] = ()

    async def __aiter__(self) -> AsyncIterator[str]:
        calls: dict[int, dict[str, str]] = {}
        try:
            async with (
                aiohttp.ClientSession(timeout=_TIMEOUT) as http,
                http.post(self._endpoint, data=orjson.dumps(self._request), headers=self._headers) as answer,
            ):
                if answer.status != 200:
                    said = (await answer.text())[:200].strip()
                    raise BrainError(
                        f"the chat model answered HTTP {answer.status}: {said}",
                        "chat_model_error",
                        detail=f"chat model at {self._endpoint} answered HTTP {answer.status}: {said}",
                    )
                async for line in answer.content:
                    chunk = _event(line)
                    if chunk is None:
                        continue
                    delta = (chunk.get("choices") or [{}])[0].get("delta") or {}
                    for call in delta.get("tool_calls") or ():
                        _add_call_delta(calls, call)
                    if delta.get("content"):
                        yield delta["content"]
        except aiohttp.ClientError as exc:
            raise BrainError(
                f"the chat model is unreachable ({_cause(exc)})",
                "chat_model_unreachable",
                detail=f"chat model at {self._endpoint} is unreachable: {exc}",
            ) from None
        except TimeoutError:
            raise BrainError(
                "the chat model did not answer in time",
                "chat_model_timeout",
                detail=f"chat model at {self._endpoint} did not answer in time",
            ) from None
        self.calls = tuple(ToolCall(call["name"], call["arguments"] or "{}") for _, call in sorted(calls.items()))


_HEADERS = {"Content-Type": "application/json", "Accept": "text/event-stream"}


def _cause(exc: aiohttp.ClientError) -> str:
    """Why a request failed, without the address (aiohttp's own messages name host and port)."""
    os_error = getattr(exc, "os_error", None)
    if isinstance(os_error, OSError) and os_error.errno is not None:
        return os.strerror(os_error.errno)
    return type(exc).__name__


def _event(line: bytes) -> dict[str, Any] | None:
    """The JSON of one `data: …` line of the event stream; None for other lines and `[DONE]`."""
    text = line.strip()
    if not text.startswith(b"data:"):
        return None
    data = text[5:].strip()
    if data == b"[DONE]":
        return None
    try:
        chunk = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise BrainError(f"the chat model sent an event that is not JSON: {data[:80]!r}", "chat_model_error") from None
    if isinstance(chunk, dict) and "error" in chunk:
        raise BrainError(f"the chat model failed: {chunk['error']}", "chat_model_error")
    return chunk if isinstance(chunk, dict) else None


def _add_call_delta(calls: dict[int, dict[str, str]], delta: Mapping[str, Any]) -> None:
    """Merge one streamed `tool_calls` entry (its name first, its arguments in pieces)."""
    call = calls.setdefault(int(delta.get("index", len(calls))), {"name": "", "arguments": ""})
    function = delta.get("function") or {}
    call["name"] += function.get("name") or ""
    call["arguments"] += function.get("arguments") or ""


def chat_tools(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The session's function tools in the chat completions shape."""
    return [
        {
            "type": "function",
            "function": {
                "name": tool["name"],
                "description": tool.get("description") or "",
                "parameters": tool.get("parameters") or {"type": "object", "properties": {}},
            },
        }
        for tool in config.get("tools") or ()
        if tool.get("type", "function") == "function" and tool.get("name")
    ]


def chat_messages(items: Sequence[Item], config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The conversation as chat messages: a system message, then user, assistant and tool turns."""
    messages: list[dict[str, Any]] = []
    if config.get("instructions"):
        messages.append({"role": "system", "content": config["instructions"]})
    for item in items:
        data = item.data
        match data.get("type"):
            case "function_call":
                call = {
                    "id": data["call_id"],
                    "type": "function",
                    "function": {"name": data.get("name", ""), "arguments": data.get("arguments") or "{}"},
                }
                previous = messages[-1] if messages else {}
                if previous.get("role") == "assistant" and "tool_calls" in previous:
                    previous["tool_calls"].append(call)
                else:
                    messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
            case "function_call_output":
                messages.append({"role": "tool", "tool_call_id": data["call_id"], "content": str(data.get("output"))})
            case "message" if is_user_message(item):
                text = user_text(item)
                if text is None and item.audio:
                    text = f"[{audio_seconds(item):.1f} seconds of speech in which no words were recognised]"
                messages.append({"role": "user", "content": text or ""})
            case "message":
                text = _spoken_text(data)
                if text:
                    messages.append({"role": data.get("role", "assistant"), "content": text})
    return messages


def _spoken_text(data: Mapping[str, Any]) -> str:
    """An assistant or system message's words (text, or the transcript of its audio)."""
    return " ".join(
        part.get("text") or part.get("transcript") or "" for part in data.get("content", []) if isinstance(part, dict)
    ).strip()
