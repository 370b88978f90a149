"""Typing beside talking: the one-line editor, the input on the live screen, and a typed line in a
live conversation (it interrupts the reply, reaches the server as a user message, and is answered)."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console
from support.audio import PulseAudio, wait_until
from support.audio import pulse_audio as pulse_audio  # session fixture
from support.live import Tmux, until
from test_conversation import LONG_REPLY, VAD, Running, ScreenLog, SpeechSource, of_type, sent_log
from test_conversation import player as player  # fixture
from test_conversation import speech as speech  # fixture

from voicecli.audio.player import Player
from voicecli.config import AppConfig
from voicecli.conversation.images import image_item, images_refused
from voicecli.conversation.live import Conversation
from voicecli.conversation.state import ConversationState
from voicecli.conversation.typing import TypedLine
from voicecli.realtime import ListenEvents, RealtimeErrorEvent, RealtimeTextEvent, SendEvents
from voicecli.server import LocalRealtime
from voicecli.ui.view import ConversationView, SessionInfo


def typed(keys: str) -> tuple[list[str], str]:
    line = TypedLine()
    return [line.key(key) for key in keys], line.text


def test_the_line_edits_sends_and_cancels() -> None:
    outcomes, text = typed("helo\x7flo\x07 there\r")
    assert outcomes[-1] == "send" and set(outcomes[:-1]) == {"editing"}
    assert text == "hello there"  # backspace deleted, the bell (a control character) was ignored
    assert typed("abc\x1b")[0][-1] == "cancel"
    assert typed("   \r")[0][-1] == "cancel"  # nothing to send


def test_the_screen_shows_the_open_line_and_the_typed_turn() -> None:
    conversation = ConversationState()
    view = ConversationView(SessionInfo("local", "websocket", "echo brain", "alloy", keys=" t type "), conversation)
    console = Console(width=80, height=12, record=True, color_system=None)
    view.set_typing("what time is it")
    console.print(view.render())
    assert "type › what time is it▌" in console.export_text()
    view.set_typing(None)
    from voicecli.realtime import TextContent

    conversation.handle(RealtimeTextEvent(text=TextContent(text="what time is it", source="user_text", final=True)))
    console.print(view.render())
    screen = console.export_text()
    assert "type ›" not in screen and "⌨ what time is it" in screen


@pytest.mark.audio
async def test_a_typed_line_interrupts_the_reply_and_gets_an_answer(
    player: Player, speech: dict[str, np.ndarray], tmp_path: Path
) -> None:
    script = tmp_path / "script.toml"
    script.write_text(f'[[turn]]\nreply = "{LONG_REPLY}"\n\n[[turn]]\nreply = "It is noon."\n')
    client = LocalRealtime(brain="scripted", script=script)
    sent, source, screen = sent_log(client), SpeechSource(), ScreenLog()
    async with client(settings=VAD), Running(Conversation(client, source, player, screen)) as conversation:
        source.say(speech["question"])
        await until(lambda: player.is_playing, "the reply to play", timeout=20)
        for key in "twhat time is it\r":
            conversation.on_key(key)
        await until(lambda: len(screen.seen(ListenEvents.RESPONSE_DONE)) >= 2, "the answer to the typed line", 20)
    assert screen.typing[0] == "" and screen.typing[-2:] == ["what time is it", None]
    [barge_in] = conversation.barge_ins
    assert barge_in.source == "key" and barge_in.truncates
    [item] = [event["item"] for event in of_type(sent, SendEvents.CONVERSATION_ITEM_CREATE)]
    assert item == {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "what time is it"}]}
    kinds = [event["type"] for event in sent]
    assert kinds.index("response.cancel") < kinds.index("conversation.item.create") < len(kinds) - 1
    assert screen.seen(ListenEvents.RESPONSE_DONE)[-1]["response"]["status"] == "completed"
    [shown] = [e for e in screen.events if isinstance(e, RealtimeTextEvent) and e.text.source == "user_text"]
    assert shown.text.text == "what time is it" and shown.text.final


@pytest.mark.audio
def test_typing_in_the_live_screen_in_tmux(pulse_audio: PulseAudio, tmp_path: Path) -> None:
    """`t` opens the line above the status line, Enter sends it; the transcript marks it as typed."""
    with Tmux(pulse_audio, tmp_path) as window:
        window.wait_for("● listening", "the status line", timeout=30)
        window.keys("t")
        window.wait_for("type › ▌", "the open line")
        window.keys("-l", "hello from the keyboard")
        window.wait_for("type › hello from the keyboard▌", "the typed text")
        window.keys("Enter")
        window.wait_for("⌨ hello from the keyboard", "the typed turn in the transcript")
        wait_until(lambda: "type ›" not in window.screen(), "the line to close")
        window.wait_for("You said: hello from the keyboard", "the echo brain's answer")
        window.keys("C-c")
        assert window.exit_code() == "EXIT=0"


# --- images -------------------------------------------------------------------------------------------

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def test_an_image_becomes_an_input_image_item_and_bad_files_one_line(tmp_path: Path) -> None:
    picture = tmp_path / "dot.png"
    picture.write_bytes(PNG)
    item = image_item(picture)["item"]
    assert item["role"] == "user"
    [content] = item["content"]
    assert content == {"type": "input_image", "image_url": "data:image/png;base64," + base64.b64encode(PNG).decode()}
    (tmp_path / "notes.txt").write_text("hi")
    for bad, says in ((tmp_path / "notes.txt", "not a PNG"), (tmp_path / "gone.png", "No such file")):
        with pytest.raises(ValueError, match=says):
            image_item(bad)


def test_which_sessions_take_images() -> None:
    assert images_refused(AppConfig()) is None  # the local server
    assert images_refused(AppConfig(provider="openai")) is None  # gpt-realtime by default
    preview = AppConfig(provider="openai")
    preview.openai.model = "gpt-4o-realtime-preview"
    refused = images_refused(preview)
    assert refused is not None and "gpt-4o-realtime-preview takes none" in refused


def test_talk_image_refusals_are_one_line(tmp_path: Path) -> None:
    (tmp_path / "none.toml").write_text("")
    done = subprocess.run(
        [sys.executable, "-m", "voicecli", "talk", "--config", str(tmp_path / "none.toml"), "--image", "gone.png"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert line.startswith("voicecli: error: gone.png:")


@pytest.mark.audio
async def test_a_typed_image_command_sends_the_image_for_the_next_turn(player: Player, tmp_path: Path) -> None:
    picture = tmp_path / "dot.png"
    picture.write_bytes(PNG)
    client = LocalRealtime(brain="echo")
    sent, source, screen = sent_log(client), SpeechSource(), ScreenLog()
    async with client(settings=VAD), Running(Conversation(client, source, player, screen)) as conversation:
        await until(lambda: bool(screen.seen(ListenEvents.SESSION_UPDATED)), "the session")
        for key in f"t/image {tmp_path / 'missing.png'}\r":
            conversation.on_key(key)
        for key in f"t/image {picture}\r":
            conversation.on_key(key)
        await until(lambda: bool(screen.seen(ListenEvents.CONVERSATION_ITEM_ADDED)), "the image item")
    [item] = [event["item"] for event in of_type(sent, SendEvents.CONVERSATION_ITEM_CREATE)]
    assert item["content"][0]["type"] == "input_image"
    assert of_type(sent, SendEvents.RESPONSE_CREATE) == []  # it waits for the next turn
    [added] = screen.seen(ListenEvents.CONVERSATION_ITEM_ADDED)
    assert added["item"]["content"][0]["type"] == "input_image"
    [error] = [e for e in screen.events if isinstance(e, RealtimeErrorEvent)]
    assert "missing.png" in error.error.message and error.error.code == "image_not_sent"
