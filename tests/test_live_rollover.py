"""GPT-Live rollover: a new session before the session limit, at a quiet moment, carrying the
conversation. The rule's timing alone, then the client's rollover in memory on a virtual clock
(against the local server's GPT-Live session), and once end to end over WebRTC."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from support.servers import WEATHER_SCRIPT
from support.session_transport import replies_in_tones
from support.virtual_clock import VirtualClock
from test_live_server import WAIT_S, said, until
from test_live_server import MemoryLiveClient as LiveServerMemoryClient

from voicecli.realtime import Continuity, ContinuityEvents, RealtimeTextEvent, TextContent
from voicecli.realtime.live_client import LiveClient
from voicecli.realtime.live_rollover import QUIET_S, LiveRollover
from voicecli.server import LocalServer
from voicecli.server.live.validation import validate_live_client_event

pytestmark = pytest.mark.timeout(60)


def test_the_rollover_is_due_as_the_realtime_continuity_times_it() -> None:
    policy = Continuity(rollover_lead_s=180.0, rollover_share=0.25)
    rollover = LiveRollover(policy)
    assert rollover.due_in(expires_at=1000.0 + 3600, wall_now=1000.0) == 3600 - 180  # the lead
    assert rollover.due_in(expires_at=1000.0 + 400, wall_now=1000.0) == 300  # at most a quarter of the lifetime
    assert rollover.due_in(expires_at=900.0, wall_now=1000.0) == 0.0  # late: at once


def test_a_quiet_moment_is_no_delegation_running_and_nothing_heard_for_a_while() -> None:
    rollover = LiveRollover()
    assert rollover.quiet(5.0, delegations_running=False)  # nothing heard yet
    assert not rollover.quiet(5.0, delegations_running=True)  # the model waits for a delegation's result
    rollover.heard(10.0)  # the model spoke, or the user's words arrived
    assert not rollover.quiet(10.0 + QUIET_S / 2, delegations_running=False)
    assert rollover.quiet(10.0 + QUIET_S, delegations_running=False)
    rollover.heard(20.0)
    assert not rollover.quiet(20.5, delegations_running=False)


class MemoryLiveClient(LiveServerMemoryClient):
    """A GPT-Live client bound in memory to a weather-script server's session of `lifetime_s`,
    its continuity timed on `clock`; its delegate is never asked."""

    def __init__(self, lifetime_s: float, clock: VirtualClock, **kwargs: Any) -> None:
        super().__init__(lifetime_s, **kwargs)
        self.clock = clock

    async def heard_to_the_end(self) -> None:
        """Until the server's session has spoken its reply and all of it reached the client: its
        sound takes real time to make, which must not pass as virtual time heard."""
        speaking = self.server.session._speaking
        async with asyncio.timeout(WAIT_S):
            if speaking is not None:
                await asyncio.gather(speaking, return_exceptions=True)
            while self.server._frames is not None and self.server._frames.qsize():
                await asyncio.sleep(0)


@pytest.mark.parametrize("transport", ["memory", "webrtc"])
async def test_a_session_rolls_over_before_its_limit_and_the_new_one_knows_the_conversation(transport: str) -> None:
    """In memory the clock is virtual (from the real time when the test began) and moves on no further
    than the session's `expires_at`, so the rollover must come before it (the in-memory session itself
    is never cut off at its limit)."""
    continuity = Continuity(delays_s=(0.0, 0.5), attempt_timeout_s=WAIT_S, rollover_lead_s=3.0, rollover_share=0.5)
    async with contextlib.AsyncExitStack() as stack:
        clock = VirtualClock()
        if transport == "webrtc":
            from test_live_webrtc import openai_client as webrtc_client

            server = await stack.enter_async_context(
                LocalServer(brain="scripted", script=WEATHER_SCRIPT, max_session_s=8.0)
            )
            client: LiveClient = webrtc_client(server, continuity=continuity)
        else:
            stack.enter_context(replies_in_tones())
            client = MemoryLiveClient(8.0, clock, continuity=continuity)
        sent: list[dict[str, Any]] = []

        def check(payload: dict[str, Any]) -> None:
            validate_live_client_event(payload)  # each event as it goes out, against `ClientEvent`
            sent.append(payload)

        client.observe_sent(check)
        async with client:
            await client.mute(True)
            await client.send(RealtimeTextEvent(text=TextContent(text="Who are you?", source="user_text")))
            answered = await until(client, said("I am a scripted assistant"))  # the script's first fallback
            first = client.session_id
            reconnected = asyncio.ensure_future(
                until(client, lambda event: event.service_type == ContinuityEvents.RECONNECTED)
            )
            if isinstance(client, MemoryLiveClient):  # time runs on up to the session's limit, on the wall clock
                [started] = [event for event in answered if event.service_type == "session.started"]
                limit = float((started.service_event or {})["session"]["expires_at"])
                await client.heard_to_the_end()
                while not reconnected.done() and clock.time() < limit - 0.1:
                    await clock.advance(0.1)
            events = await reconnected
            await client.send(RealtimeTextEvent(text=TextContent(text="Tell me more", source="user_text")))
            await until(client, said("I can only talk about the weather"))  # the second: this session knows the first
            assert client.session_id != first
    kinds = [event.service_type for event in events]
    assert "session.closed" not in kinds and ContinuityEvents.RECONNECTING not in kinds  # planned, not a drop
    assert (events[-1].service_event or {})["cause"] == "rollover"
    if transport == "memory":  # over WebRTC the session goes in the request that sets up the call
        starts = [payload["session"] for payload in sent if payload["type"] == "session.start"]
        assert len(starts) == 2
        carried = [(item["role"], item["content"][0]["text"]) for item in starts[1]["input"]]
        assert carried[0] == ("user", "Who are you?") and carried[-1][0] == "developer"
    mutes = [payload["type"] for payload in sent if payload["type"].startswith("session.input_audio.")]
    assert mutes == ["session.input_audio.mute", "session.input_audio.mute"]  # muting is carried over
