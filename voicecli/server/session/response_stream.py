"""Streaming one response's output as the service does: output items, then their content in pieces.

Speech goes out in ~100 ms chunks with its transcript alongside, text word by word, function call
arguments a few characters at a time, each piece when the `Pacing` says it is due. Every piece
checks `Response.cancel_reason` first, so a cancelled response stops at the next chunk and its items
end `incomplete`. A truncate of a message still speaking stops its audio (`stop_speech`).
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
from voicecli.server.session.conversation import BYTES_PER_MS, ConversationItems, Item
from voicecli.server.session.pacing import Pacing

__all__ = ["Response", "ResponseStreamer"]

_CHUNK_BYTES = 100 * BYTES_PER_MS  # ~100 ms of audio per delta, like the service
_TEXT_PIECE_S = 0.1  # a text delta counts as 100 ms of output for the pacing
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
    started: float  # loop time of `response.created`: the pacing counts from there
    output: list[Item] = field(default_factory=list)
    cancel_reason: str | None = None
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)  # ends a pacing wait at once
    produced_s: float = 0.0  # seconds of output generated so far (text pieces count as 100 ms each)

    @property
    def audio(self) -> bool:
        return "audio" in self.config["output_modalities"]

    def cancel(self, reason: str) -> None:
        self.cancel_reason = reason
        self.cancelled.set()


@dataclass(slots=True)
class _OutputItem:
    item: Item
    index: int  # output_index within the response
    previous_item_id: str | None = None


@dataclass(slots=True)
class _Speech:
    """An assistant audio part being streamed. A truncate `stopped` it: the model goes on
    generating (the response stays in progress), but nothing more of that audio goes out."""

    response: Response
    output: _OutputItem
    ref: AudioRef
    transcript: str = ""  # sent so far as transcript deltas
    stopped: bool = False
    closed: bool = False


class ResponseStreamer:
    """Writes responses' output as events; the session's one writer, so it knows if it has spoken."""

    def __init__(self, emit: Send, *, conversation: ConversationItems, audio_out: AudioOut, pacing: Pacing) -> None:
        self._emit = emit
        self._conversation = conversation
        self._audio_out = audio_out
        self._pacing = pacing
        self._speaking: dict[str, _Speech] = {}  # by item id: audio parts still streaming
        self.voice_used = False  # assistant audio exists: the voice can no longer change

    async def message(self, response: Response, text: str | AsyncIterable[str]) -> None:
        """An assistant message saying `text`, as audio with a transcript or as text.

        Text that arrives in pieces (a streamed reply) is spoken a sentence at a time, as each
        sentence completes, or sent as text deltas as the pieces come. Nothing to say: no message.
        """
        pieces = _sentences(text) if response.audio else _pieces(text)
        first = await anext(pieces, None)
        if first is None:
            return
        output = await self.open_item(
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
        kind, field_name = ("audio", "transcript") if response.audio else ("text", "text")
        item.data["content"].append({"type": f"output_{kind}", field_name: ""})
        part = {"type": kind, field_name: ""}
        await self._emit({"type": "response.content_part.added", **ref.fields(), "part": part})
        if not response.audio:
            await self._write(response, output, ref, _chained(first, pieces))
            return
        speech = _Speech(response, output, ref)
        self._speaking[item.id] = speech  # until closed: a truncate meanwhile must find it
        try:
            async for piece in _chained(first, pieces):
                if response.cancel_reason:
                    break
                await self._speak(speech, piece)
            await self._end_speech(speech)
        finally:
            self._speaking.pop(item.id, None)

    def stop_speech(self, item_id: str) -> bool:
        """A truncate of an item still speaking: no more of its audio goes out (False: not speaking).
        Call it before anything else can run, then `end_speech`."""
        speech = self._speaking.get(item_id)
        if speech is None:
            return False
        speech.stopped = True
        return True

    async def end_speech(self, item_id: str) -> None:
        """Close a stopped item's audio part and the item now, as the service does after a truncate."""
        speech = self._speaking.get(item_id)
        if speech is not None:
            await self._end_speech(speech)

    async def call(self, response: Response, call: ToolCall) -> None:
        """A function call item, its arguments streamed in small deltas (after the first-output delay
        when it is the response's first output)."""
        if not await self._paced(response):
            return
        output = await self.open_item(
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
        await self.close_item(response, output)

    async def _write(self, response: Response, output: _OutputItem, ref: AudioRef, pieces: AsyncIterator[str]) -> None:
        """A text part: its deltas at the pacing's speed (each piece counted as 100 ms)."""
        where = ref.fields()
        sent = ""
        async for piece in pieces:
            if not await self._paced(response):
                break
            await self._emit({"type": "response.output_text.delta", **where, "delta": piece})
            sent += piece
            response.produced_s += _TEXT_PIECE_S
        await self._emit({"type": "response.output_text.done", **where, "text": sent})
        output.item.data["content"][0]["text"] = sent
        await self._emit({"type": "response.content_part.done", **where, "part": {"type": "text", "text": sent}})
        await self.close_item(response, output)

    async def _speak(self, speech: _Speech, text: str) -> None:
        """Stream `text` as speech in ~100 ms deltas with the transcript alongside, after the item's
        audio so far. Each delta is part of the item's audio as it goes out: a truncate is checked
        against the audio produced so far, as the service checks it."""
        response, item, ref = speech.response, speech.output.item, speech.ref
        pcm = (await asyncio.to_thread(synth.speak, text)).tobytes()
        self.voice_used = True
        chunks = [pcm[start : start + _CHUNK_BYTES] for start in range(0, len(pcm), _CHUNK_BYTES)]
        where = ref.fields()
        for chunk, piece in zip(chunks, _split_words(text, len(chunks)), strict=True):
            if not await self._paced(response):
                break
            response.produced_s += len(chunk) / (BYTES_PER_MS * 1000)
            if speech.stopped:
                continue  # truncated: generation goes on (the response is still in progress), unheard
            if piece:
                await self._emit({"type": "response.output_audio_transcript.delta", **where, "delta": piece})
                speech.transcript += piece
            if speech.stopped:
                continue
            item.audio[ref.content_index] = item.audio.get(ref.content_index, b"") + chunk
            await self._audio_out.send(ref, chunk)

    async def _paced(self, response: Response) -> bool:
        """Wait until the next piece of output is due; False once the response is cancelled."""
        if not response.cancel_reason:
            await self._pacing.wait(response.started, response.produced_s, response.cancelled)
        return not response.cancel_reason

    async def _end_speech(self, speech: _Speech) -> None:
        """The audio part's `.done` events and the item's, once (by the stream or by a truncate)."""
        if speech.closed:
            return
        speech.closed = True
        where = speech.ref.fields()
        await self._emit({"type": "response.output_audio.done", **where})
        await self._emit({"type": "response.output_audio_transcript.done", **where, "transcript": speech.transcript})
        content = speech.output.item.data["content"][0]
        if not speech.stopped:
            content["transcript"] = speech.transcript  # a truncate removed it: unheard text stays out
        part = {"type": "audio", "transcript": content["transcript"]}
        await self._emit({"type": "response.content_part.done", **where, "part": part})
        await self.close_item(speech.response, speech.output, incomplete=speech.stopped)

    async def open_item(self, response: Response, data: dict[str, Any]) -> _OutputItem:
        """Add an output item to the response (and to the conversation, when the response is in it)."""
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

    async def close_item(self, response: Response, output: _OutputItem, *, incomplete: bool = False) -> None:
        if "status" in output.item.data:  # MCP items have none
            output.item.data["status"] = "incomplete" if incomplete or response.cancel_reason else "completed"
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


async def _pieces(text: str | AsyncIterable[str]) -> AsyncIterator[str]:
    """Text deltas: a whole text word by word, a stream piece by piece."""
    if isinstance(text, str):
        for piece in _WORD.findall(text):
            yield piece
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
            finished, pending = pending[: ends[-1]], pending[ends[-1] :]
            for spoken in _bounded(finished):  # the sentences finished so far, with the space after them
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
