"""What the Python interoperability clients (agents_python.py, pipecat_client.py) share: the log of
the server events a client received, the checks' common steps and verdicts, and the run that prints
one line per check. Each client runs in a virtual environment of its own, so this imports only the
standard library; the clients import it from their own folder (a script's folder is on sys.path).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import sys
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

WAIT_S = 20.0
"""Generous: recognition and the client's tool run on a loaded 2-core machine."""
BYTES_PER_MS = 48  # pcm16, 24 kHz, mono

Event = dict[str, Any]
Check = TypeVar("Check")


class CheckFailed(Exception):
    pass


class Known(Exception):
    """The check failed for a defect already filed."""


class EventLog(ABC):
    """Every server event one client session received, in order, for the checks to wait on and read."""

    def __init__(self) -> None:
        self.received: list[Event] = []
        self._arrived = asyncio.Event()

    def add(self, event: Event) -> None:
        self.received.append(event)
        self.wake()

    def wake(self) -> None:
        """Lets a waiting check look again."""
        self._arrived.set()

    async def wait_for(self, matches: Callable[[Event], bool], what: str, nth: int = 0) -> Event:
        """The `nth` (from 0) received event that `matches`, counting from the start of the session."""
        deadline = asyncio.get_running_loop().time() + WAIT_S
        while True:
            found = [event for event in self.received if matches(event)]
            if len(found) > nth:
                return found[nth]
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                kinds = [event["type"] for event in self.received if "delta" not in event["type"]]
                raise CheckFailed(f"never received {what}; got {', '.join(kinds)}")
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)

    @abstractmethod
    async def server_item(self, item_id: str) -> Event:
        """The item as the server holds it, asked the client's own way."""

    def of_type(self, kind: str) -> list[Event]:
        return [event for event in self.received if event["type"] == kind]

    def transcripts(self) -> list[str]:
        return [event["transcript"] for event in self.of_type("response.output_audio_transcript.done")]

    def audio_ms(self, item_id: str) -> int:
        deltas = [e["delta"] for e in self.of_type("response.output_audio.delta") if e["item_id"] == item_id]
        return sum(len(base64.b64decode(delta)) for delta in deltas) // BYTES_PER_MS

    def server_errors(self) -> list[str]:
        return [f"{e['error'].get('code')}: {e['error'].get('message')}" for e in self.of_type("error")]


def is_(kind: str) -> Callable[[Event], bool]:
    return lambda event: event["type"] == kind


def held_audio_ms(item: Event, index: int = 0) -> int:
    return len(base64.b64decode(item["content"][index].get("audio") or "")) // BYTES_PER_MS


def expect(condition: bool, detail: str) -> None:
    if not condition:
        raise CheckFailed(detail)


async def typed_reply(peer: EventLog) -> tuple[str, str]:
    """After "Hello there" was typed: the reply's transcript and item id, once it is done."""
    done = await peer.wait_for(is_("response.done"), "response.done")
    said = peer.transcripts()
    expect(said == ["Hello from the local server."], f"reply transcripts {said}")
    reply = next(item for item in done["response"]["output"] if item["type"] == "message")
    return said[0], reply["id"]


async def server_holds_typed_turn(peer: EventLog, reply_id: str) -> None:
    """The server holds the typed text, and the same reply audio as the client received."""
    user_id = next(e["item"]["id"] for e in peer.of_type("conversation.item.added") if e["item"].get("role") == "user")
    user = await peer.server_item(user_id)
    expect(user["content"][0].get("text") == "Hello there", f"server holds user content {user['content']}")
    held = await peer.server_item(reply_id)
    expect(held_audio_ms(held) == peer.audio_ms(reply_id) > 500, "server and client disagree on the reply audio")


async def spoken_reply(peer: EventLog, speech: bytes) -> str:
    """After the speech and a second of silence were sent: the server heard it, answered, and holds
    the user's audio; the check's detail."""
    done = await peer.wait_for(is_("response.done"), "response.done")
    heard = await peer.wait_for(is_("conversation.item.input_audio_transcription.completed"), "the transcription")
    expect("hear me" in heard["transcript"].lower(), f'server heard "{heard["transcript"]}"')
    said = peer.transcripts()
    expect(said[-1:] == ["Yes, I hear you."], f"reply transcripts {said}")
    reply = done["response"]["output"][0]
    user_ms = held_audio_ms(await peer.server_item(heard["item_id"]))
    speech_ms = len(speech) // BYTES_PER_MS
    expect(abs(user_ms - speech_ms) < 600, f"server holds {user_ms} ms of user audio for {speech_ms} ms of speech")
    return (
        f'server VAD took {user_ms} ms (speech {speech_ms} ms), heard "{heard["transcript"]}", '
        f'replied "{said[-1]}" with {peer.audio_ms(reply["id"])} ms of audio'
    )


async def report(client: str, checks: list[tuple[str, Check]], run: Callable[[Check], Awaitable[str]]) -> int:
    """Runs each check and prints "<client> <check>: PASS|FAIL|KNOWN - detail"; 1 when any failed."""
    failed = 0
    for name, check in checks:
        try:
            line = await run(check)
        except Exception as exc:  # the client itself gave up: that is the finding
            line = f"FAIL - {type(exc).__name__}: {exc}"
        failed += line.startswith("FAIL")
        print(f"{client} {name}: {line}", flush=True)
    return 1 if failed else 0


def arguments(usage: str) -> tuple[str, bytes]:
    """The server's URL (loopback only) and the speech to send, from the command line."""
    if len(sys.argv) != 3 or not sys.argv[1].startswith("ws://127.0.0.1:"):
        sys.exit(f"usage: {usage}")
    return sys.argv[1], Path(sys.argv[2]).read_bytes()
