"""When a GPT-Live turn is over in file mode: no event says so, so the rule is tested on its own."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import numpy as np

from voicecli.conversation.live_exchange import live_exchange
from voicecli.realtime import (
    AudioContent,
    FunctionResultContent,
    RealtimeAudioEvent,
    RealtimeEvent,
    RealtimeFunctionResultEvent,
    RealtimeTextEvent,
    TextContent,
)

QUIET_S = 1.0


class DelegatingModel:
    """Speaks a preamble, delegates for longer than the quiet window, then speaks the result."""

    def __init__(self) -> None:
        self.delegations_running = False
        self.audio_frames = 0

    async def mute(self, muted: bool) -> None:
        pass

    async def send(self, event: Any) -> None:
        pass

    async def send_audio(self, pcm: np.ndarray) -> None:
        self.audio_frames += 1

    async def receive(self) -> AsyncIterator[RealtimeEvent]:
        self.delegations_running = True  # delegated as it spoke its preamble
        yield RealtimeAudioEvent(audio=AudioContent(data=np.zeros(480, np.int16)))
        await asyncio.sleep(QUIET_S * 1.2)  # the delegate's tools take their time
        self.delegations_running = False
        result = FunctionResultContent(name="get_weather", call_id="c", result="sunny")
        yield RealtimeFunctionResultEvent(function_result=result)
        await asyncio.sleep(QUIET_S / 20)  # the model then speaks the result
        yield RealtimeTextEvent(text=TextContent(text="It is sunny."))
        await asyncio.Event().wait()


async def test_the_turn_waits_for_the_model_to_speak_what_a_delegation_found() -> None:
    model = DelegatingModel()
    seen: list[RealtimeEvent] = []
    finished = await live_exchange(
        model,  # type: ignore[arg-type]
        text="weather?",
        audio=None,
        on_event=lambda event: seen.append(event) or False,
        quiet_s=QUIET_S,
    )
    assert finished
    assert isinstance(seen[-1], RealtimeTextEvent) and seen[-1].text.text == "It is sunny."
    assert model.audio_frames > 0  # silence streamed while waiting: the session clock runs on it
