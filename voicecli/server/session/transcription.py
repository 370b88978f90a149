"""The user's committed speech, recognised: the item's transcript, and the service's transcription events.

Each committed turn is recognised in the background (`voicecli.server.recognition`), listening first
for the phrases the brain expects and the session's `transcription.keywords`; free speech is decoded
while it is spoken (`recognition_stream`), so a turn's words are often ready when it is committed. The transcript goes
into the item, so the brain reads the words; a response waits for the transcripts of its items
(`settle`), not the other way round. When the session asks for `audio.input.transcription`, the
events follow the service: `…input_audio_transcription.delta` pieces, then `.completed`, or
`.failed` when nothing could be recognised. Without pocketsphinx the transcript is a placeholder
naming the audio's duration, as the server always did, and the brain gets no words.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from typing import Any

from voicecli.server import recognition
from voicecli.server.events import Send
from voicecli.server.recognition_stream import Listening
from voicecli.server.session.conversation import BYTES_PER_MS, Item

__all__ = ["Transcriber"]

_log = logging.getLogger(__name__)


class Transcriber:
    """Recognises one session's committed turns, each in a task the responses can wait for."""

    def __init__(self, emit: Send, phrases: Iterable[str], config: Callable[[], dict[str, Any]]) -> None:
        """`phrases` are the brain's; `config` returns the session configuration in effect."""
        self._emit = emit
        self._phrases = tuple(phrases)
        self._config = config
        self._pending: dict[str, asyncio.Task[None]] = {}
        self._warmed = False
        self._listening = Listening()

    def hear(self, pcm: bytes, buffered: Callable[[], bytes]) -> None:
        """Audio reached the input buffer (`buffered` gives all of it): load the recognisers the first
        time (a second or two) and decode what was said so far when the speaker pauses."""
        if not self._warmed:
            self._warmed = True
            recognition.warm_up(grammar=bool(self._phrases or self._keywords()))
        self._listening.hear(pcm, buffered)

    def forget(self) -> None:
        """The input buffer was cleared."""
        self._listening.forget(cancel=True)

    def start(self, item: Item) -> None:
        """Recognise a committed user audio item in the background."""
        started = self._listening.decoding_for(item.audio.get(0, b""))
        self._listening.forget()
        task = asyncio.create_task(self._transcribe(item, started), name=f"transcribe {item.id}")
        self._pending[item.id] = task
        task.add_done_callback(lambda _: self._pending.pop(item.id, None))

    async def settle(self, items: Sequence[Item]) -> None:
        """Wait until every item among `items` has its transcript."""
        tasks = [self._pending[item.id] for item in items if item.id in self._pending]
        if tasks:
            await asyncio.wait(tasks)

    async def close(self) -> None:
        """Stop the recognitions in flight (the session is over)."""
        self._listening.forget(cancel=True)
        for task in list(self._pending.values()):
            task.cancel()
        if self._pending:
            await asyncio.wait(list(self._pending.values()))

    def _keywords(self) -> tuple[str, ...]:
        """The session's `transcription.keywords`: phrases the client expects."""
        transcription = self._config()["audio"]["input"]["transcription"]
        return tuple((transcription or {}).get("keywords") or ())

    async def _transcribe(self, item: Item, started: Future[str] | None) -> None:
        transcription = self._config()["audio"]["input"]["transcription"]
        keywords = self._keywords()
        pcm = item.audio.get(0, b"")
        seconds = len(pcm) / (BYTES_PER_MS * 1000)
        try:
            heard = await recognition.recognise(pcm, (*keywords, *self._phrases), started=started)
        except Exception as exc:  # a decoder failure must not end the session; the client is told
            _log.info("speech recognition failed for %s: %s", item.id, exc)
            await self._failed(item, transcription, f"Speech recognition failed: {exc}.")
            return
        if heard is None:
            transcript = f"[{seconds:.1f} s of audio]"  # no recogniser: say what was heard, not words
        elif heard.text:
            transcript = heard.text
            item.data["content"][0]["transcript"] = transcript
        else:
            await self._failed(item, transcription, "No speech was recognised in the audio.")
            return
        if transcription is None:
            return
        for index, word in enumerate(transcript.split()):
            await self._emit(
                {
                    "type": "conversation.item.input_audio_transcription.delta",
                    "item_id": item.id,
                    "content_index": 0,
                    "delta": word if index == 0 else " " + word,
                }
            )
        await self._emit(
            {
                "type": "conversation.item.input_audio_transcription.completed",
                "item_id": item.id,
                "content_index": 0,
                "transcript": transcript,
                "usage": {"type": "duration", "seconds": round(seconds, 3)},
            }
        )

    async def _failed(self, item: Item, transcription: dict[str, Any] | None, message: str) -> None:
        if transcription is None:
            return
        await self._emit(
            {
                "type": "conversation.item.input_audio_transcription.failed",
                "item_id": item.id,
                "content_index": 0,
                "error": {"type": "transcription_error", "code": "audio_unintelligible", "message": message},
            }
        )
