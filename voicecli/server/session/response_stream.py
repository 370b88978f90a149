"""Streaming one response's output as the service does: output items, then their content in pieces.

Speech goes out in ~100 ms chunks with its transcript alongside, text word by word, function call
arguments a few characters at a time. Every piece checks `Response.cancel_reason` first, so a
cancelled response stops at the next chunk and its items end `incomplete`.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from voicecli.server import synth
from voicecli.server.events import Send
from voicecli.server.ids import new_id
from voicecli.server.replies import ToolCall
from voicecli.server.session.audio_out import AudioOut, AudioRef
from voicecli.server.session.conversation import BYTES_PER_MS, Conversation, Item

__all__ = ["Response", "ResponseStreamer"]

_CHUNK_BYTES = 100 * BYTES_PER_MS  # ~100 ms of audio per delta, like the service
_ARGUMENT_DELTA_CHARS = 8
_WORD = re.compile(r"\S+\s*")
_SENTENCE_END = re.compile(r"[.!?]+\s+")
_MAX_SPOKEN_CHARS = 400  # synthesized at a time: ~50 s of tones (a few MB), whatever the reply's length


@dataclass(slots=True)
class Response:
    """One response: its settings, what the brain sees, and what it has produced so far."""

    id: str
    config: dict[str, Any]  # the session configuration with this response's overrides
    items: list[Item]  # what the brain sees
    in_conversation: bool
    metadata: Any
    output: list[Item] = field(default_factory=list)
    cancel_reason: str | None = None

    @property
    def audio(self) -> bool:
        return "audio" in self.config["output_modalities"]


@dataclass(slots=True)
class _OutputItem:
    item: Item
    index: int  # output_index within the response
    previous_item_id: str | None = None


class ResponseStreamer:
    """Writes responses' output as events; the session's one writer, so it knows if it has spoken."""

    def __init__(self, emit: Send, *, conversation: Conversation, audio_out: AudioOut, chunk_delay: float) -> None:
        """`chunk_delay` is slept after each piece (0 streams as fast as the client reads)."""
        self._emit = emit
        self._conversation = conversation
        self._audio_out = audio_out
        self._chunk_delay = chunk_delay
        self.voice_used = False  # assistant audio exists: the voice can no longer change

    async def message(self, response: Response, text: str | AsyncIterable[str]) -> None:
        """An assistant message saying `text`, as audio with a transcript or as text.

        Text that arrives in pieces (a streamed reply) is spoken a sentence at a time, as each
        sentence completes, or sent as text deltas as the pieces come. Nothing to say: no message.
        """
        pieces = _sentences(text) if response.audio else _pieces(text, self._chunk_delay)
        first = await anext(pieces, None)
        if first is None:
            return
        output = await self._open_item(
            response,
            {
                "id": new_id("item"),
                "object": "realtime.item",
                "type": "message",
                "role": "assistant",
                "status": "in_progress",
                "content": [],
            },
        )
        item = output.item
        ref = AudioRef(response.id, item.id, output.index, 0)
        where = ref.fields()
        kind, field_name = ("audio", "transcript") if response.audio else ("text", "text")
        part: dict[str, Any] = {"type": kind, field_name: ""}
        item.data["content"].append({"type": f"output_{kind}", field_name: ""})
        await self._emit({"type": "response.content_part.added", **where, "part": dict(part)})
        sent = ""
        async for piece in _chained(first, pieces):
            if response.cancel_reason:
                break
            if response.audio:
                sent += await self._audio(response, item, ref, piece)
            else:
                await self._emit({"type": "response.output_text.delta", **where, "delta": piece})
                sent += piece
        if response.audio:
            await self._emit({"type": "response.output_audio.done", **where})
            await self._emit({"type": "response.output_audio_transcript.done", **where, "transcript": sent})
        else:
            await self._emit({"type": "response.output_text.done", **where, "text": sent})
        part[field_name] = item.data["content"][0][field_name] = sent
        await self._emit({"type": "response.content_part.done", **where, "part": part})
        await self._close_item(response, output)

    async def call(self, response: Response, call: ToolCall) -> None:
        """A function call item, its arguments streamed in small deltas."""
        output = await self._open_item(
            response,
            {
                "id": new_id("item"),
                "object": "realtime.item",
                "type": "function_call",
                "status": "in_progress",
                "name": call.name,
                "call_id": new_id("call"),
                "arguments": "",
            },
        )
        item = output.item
        where = {
            "response_id": response.id,
            "item_id": item.id,
            "output_index": output.index,
            "call_id": item.data["call_id"],
        }
        for start in range(0, len(call.arguments), _ARGUMENT_DELTA_CHARS):
            delta = call.arguments[start : start + _ARGUMENT_DELTA_CHARS]
            await self._emit({"type": "response.function_call_arguments.delta", **where, "delta": delta})
        await self._emit(
            {"type": "response.function_call_arguments.done", **where, "name": call.name, "arguments": call.arguments}
        )
        item.data["arguments"] = call.arguments
        await self._close_item(response, output)

    async def _audio(self, response: Response, item: Item, ref: AudioRef, text: str) -> str:
        """Stream `text` as speech in ~100 ms deltas with the transcript alongside, after the item's
        audio so far; return the words sent."""
        pcm = (await asyncio.to_thread(synth.speak, text)).tobytes()
        self.voice_used = True
        chunks = [pcm[start : start + _CHUNK_BYTES] for start in range(0, len(pcm), _CHUNK_BYTES)]
        where = ref.fields()
        sent_text, sent_audio = "", bytearray()
        for chunk, piece in zip(chunks, _split_words(text, len(chunks)), strict=True):
            if response.cancel_reason:
                break
            if piece:
                await self._emit({"type": "response.output_audio_transcript.delta", **where, "delta": piece})
                sent_text += piece
            await self._audio_out.send(ref, chunk)
            sent_audio += chunk
            await asyncio.sleep(self._chunk_delay)
        item.audio[ref.content_index] = item.audio.get(ref.content_index, b"") + bytes(sent_audio)
        return sent_text

    async def _open_item(self, response: Response, data: dict[str, Any]) -> _OutputItem:
        output = _OutputItem(Item(data), len(response.output))
        response.output.append(output.item)
        await self._emit(
            {
                "type": "response.output_item.added",
                "response_id": response.id,
                "output_index": output.index,
                "item": output.item.wire(),
            }
        )
        if response.in_conversation:
            output.previous_item_id = self._conversation.insert(output.item)
            await self._emit(
                {
                    "type": "conversation.item.added",
                    "item": output.item.wire(),
                    "previous_item_id": output.previous_item_id,
                }
            )
        return output

    async def _close_item(self, response: Response, output: _OutputItem) -> None:
        output.item.data["status"] = "incomplete" if response.cancel_reason else "completed"
        await self._emit(
            {
                "type": "response.output_item.done",
                "response_id": response.id,
                "output_index": output.index,
                "item": output.item.wire(),
            }
        )
        if response.in_conversation:
            await self._emit(
                {
                    "type": "conversation.item.done",
                    "item": output.item.wire(),
                    "previous_item_id": output.previous_item_id,
                }
            )


async def _pieces(text: str | AsyncIterable[str], delay: float) -> AsyncIterator[str]:
    """Text deltas: a whole text word by word (`delay` after each), a stream piece by piece."""
    if isinstance(text, str):
        for piece in _WORD.findall(text):
            yield piece
            await asyncio.sleep(delay)
        return
    async for piece in text:
        if piece:
            yield piece


async def _sentences(text: str | AsyncIterable[str]) -> AsyncIterator[str]:
    """What to synthesize at a time: a whole text at once, a stream sentence by sentence; either in
    pieces of at most `_MAX_SPOKEN_CHARS`, so that no synthesis grows with what the reply holds."""
    if isinstance(text, str):
        for spoken in _bounded(text):
            yield spoken
        return
    pending = ""
    async for piece in text:
        pending += piece
        ends = [match.end() for match in _SENTENCE_END.finditer(pending)]
        if ends and pending[: ends[-1]].strip():
            complete, pending = pending[: ends[-1]], pending[ends[-1] :]
            for spoken in _bounded(complete):  # the sentences finished so far, with the space after them
                yield spoken
        elif len(pending) > _MAX_SPOKEN_CHARS:  # no sentence ends: speak what there is
            *complete, pending = _bounded(pending)
            for spoken in complete:
                yield spoken
    if pending.strip():
        for spoken in _bounded(pending):
            yield spoken


def _bounded(text: str) -> list[str]:
    """`text` in pieces of at most `_MAX_SPOKEN_CHARS` that join to it, cut after a space where there is one."""
    pieces = []
    while len(text) > _MAX_SPOKEN_CHARS:
        cut = text.rfind(" ", 0, _MAX_SPOKEN_CHARS) + 1 or _MAX_SPOKEN_CHARS
        pieces.append(text[:cut])
        text = text[cut:]
    if text:
        pieces.append(text)
    return pieces


async def _chained(first: str, rest: AsyncIterator[str]) -> AsyncIterator[str]:
    yield first
    async for piece in rest:
        yield piece


def _split_words(text: str, parts: int) -> list[str]:
    """Split `text` at word boundaries into `parts` pieces (some may be empty) that join to it."""
    words = _WORD.findall(text)
    pieces, taken = [], 0
    for part in range(1, parts + 1):
        upto = math.ceil(len(words) * part / parts)  # words lead their audio slightly, never lag
        pieces.append("".join(words[taken:upto]))
        taken = upto
    return pieces
