"""The live conversation: microphone → realtime client → player, screen, tools, barge-in.

One object decides what happens when, so the CLI wiring (`commands.talk_live`) and the tests drive the same
code: capture chunks go out as 20 ms appends, reply audio goes to the player before anything else
looks at the event, each event then feeds the one `ConversationState` (status, reply items,
transcript, latency) that the screen shows, and speech of the user (server VAD), the push-to-talk
key or the local judge cuts the assistant off through the one `BargeInPolicy` (the phone bridge's too).

Reply audio reaches the player through the client's `audio_item_callback`, before the event is
queued for `receive()`, with the item each chunk belongs to, which barge-in needs (for
`conversation.item.truncate`, and to drop late deltas of an interrupted item).
Nothing in that path waits: screen updates are attribute writes, logs and recordings are queued,
tools run in the client's tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from voicecli.audio.errors import DeviceError
from voicecli.conversation.audio_ports import AudioSink, AudioSource
from voicecli.conversation.barge_in import Action
from voicecli.conversation.interruption import BargeIn, BargeInPolicy, BargeInSource
from voicecli.conversation.local_barge_in import LocalBargeIn
from voicecli.conversation.state import ConversationState
from voicecli.conversation.typing import OPEN_KEY, TypedInput
from voicecli.realtime import (
    AudioContent,
    ListenEvents,
    RealtimeAudioEvent,
    RealtimeClient,
    RealtimeConnectionError,
    RealtimeErrorEvent,
    RealtimeEvent,
)
from voicecli.realtime.events import SAMPLE_RATE
from voicecli.realtime.tasks import BackgroundTasks
from voicecli.realtime.usage import UsageMeter
from voicecli.records.latency import LatencyTracker
from voicecli.ui.screen import ConversationScreen

MIN_COMMIT_MS = 100
"""The service refuses to commit less audio than this (`input_audio_buffer_commit_empty`)."""
STALL_S = 2.0
"""A device that delivers (microphone) or consumes (speaker) nothing for this long is gone."""
TICK_S = 0.1
"""How often the level meter, the end of playback and the devices are looked at: as often as the
screen looks for changes to draw, and no more, since every wake-up of the event loop costs CPU."""


@dataclass(slots=True)
class Taps:
    """Where copies of the session go (recordings, event logs); each must return at once."""

    event: Callable[[RealtimeEvent], None] | None = None
    played: Callable[[np.ndarray, float], None] | None = None
    """Called with each chunk handed to the player and the monotonic time it will be audible."""


class Conversation:
    """Runs a live session over an open client until `stop()` or a failure; see the module doc."""

    def __init__(
        self,
        client: RealtimeClient,
        source: AudioSource,
        player: AudioSink,
        screen: ConversationScreen,
        *,
        tracker: LatencyTracker | None = None,
        push_to_talk: bool = False,
        taps: Taps | None = None,
        usage: UsageMeter | None = None,
        clock: Callable[[], float] = time.monotonic,
        local_barge_in: LocalBargeIn | None = None,
        state: ConversationState | None = None,
    ) -> None:
        """`state` is the conversation the screen shows (`open_screen` was given it); by default a new
        one, with `tracker` for the latency figures."""
        self.client = client
        self.source = source
        self.player = player
        self.screen = screen
        self.state = state or ConversationState(tracker)
        self.state.received = client.received_audio  # the reply items read the client's count of their audio
        self.push_to_talk = push_to_talk
        self.taps = taps or Taps()
        self.usage = usage
        self.budget_spent = False  # the budget was reached: no new turn, the session ends after the reply
        self.clock = clock  # on `time.monotonic`'s scale: the microphone's chunk times are compared with it
        self.policy = BargeInPolicy(player, self.state, clock=clock)
        self.local_barge_in = local_barge_in  # None: the service's speech_started interrupts (today's way)
        self._shown_status = self.state.status
        self._talk_from = self._talk_until = math.inf  # push-to-talk: the presses, on the microphone's clock
        self._microphone_reached_release = asyncio.Event()
        self._talk_samples = 0
        self._running = False
        self._stop = asyncio.Event()
        self._key_lock = asyncio.Lock()
        self._key_tasks = BackgroundTasks()
        self.typed_input = TypedInput(
            client, screen, interrupt=lambda: self._barge_in("key"), spawn=self._key_tasks.spawn, show=self.show
        )

    @property
    def barge_ins(self) -> list[BargeIn]:
        """Every interruption so far, for tests and benchmarks."""
        return self.policy.barge_ins

    @property
    def talking(self) -> bool:
        """Push-to-talk: the key was pressed to talk and not yet pressed again."""
        return self.state.talking

    def show(self, event: RealtimeEvent) -> None:
        """A local event (typed words, a notice) joins the conversation as a received one does."""
        self.state.handle(event)
        self.screen.handle(event)
        self._show_status()

    def _show_status(self) -> None:
        """The status line shows the state's status (its one writer); drawn only when it changed."""
        if self.state.status != self._shown_status:
            self._shown_status = self.state.status
            self.screen.set_state(self._shown_status)

    # --- control ------------------------------------------------------------------------------

    def stop(self) -> None:
        """End `run()` cleanly (Ctrl-C, SIGTERM); the caller then closes the session."""
        self._stop.set()

    def on_key(self, key: str) -> None:
        """A key pressed in the terminal: SPACE talks (push-to-talk), `m` mutes, `t` opens a line
        to type (then every key edits it until Enter sends it or Escape closes it)."""
        if self.typed_input.is_open or (key == OPEN_KEY and self._running):
            self.typed_input.key(key)
        elif key in "mM":
            self.toggle_mute()
        elif key == " " and self.push_to_talk and self._running:
            self._key_tasks.spawn(self._toggle_talk_quietly())

    async def _toggle_talk_quietly(self) -> None:
        with contextlib.suppress(RealtimeConnectionError):  # the receiver reports a lost connection
            await self.toggle_talk()

    def toggle_mute(self) -> None:
        """Mute or unmute: the microphone keeps running and sends silence while muted."""
        self.source.mute = not self.source.mute
        self.screen.set_muted(self.source.mute)
        mute = getattr(self.client, "mute", None)
        if mute is not None:  # GPT-Live has mute events: the service hears (and acknowledges) it too
            self._key_tasks.spawn(mute(self.source.mute))

    async def toggle_talk(self) -> None:
        """Push-to-talk: start talking (interrupting the assistant), or stop and ask for the answer.

        What is sent is what the microphone heard between the two presses: audio still on its way
        from the device at the second press (a busy machine can hold back half a second) goes out
        before the commit, and audio heard before the first press but arriving after it does not.
        """
        pressed_at = self.clock()
        async with self._key_lock:
            if not self.talking:
                await self._barge_in("key")
                await self.client.clear_turn()
                self._talk_samples = 0
                self._talk_from, self._talk_until = pressed_at, math.inf
                self.state.talk_pressed()
                self._show_status()
                return
            self.state.talk_ending()
            self._show_status()
            self._microphone_reached_release.clear()
            self._talk_until = pressed_at
            with contextlib.suppress(TimeoutError):  # a microphone gone quiet is the pump's to report
                async with asyncio.timeout(STALL_S):
                    await self._microphone_reached_release.wait()
            if not self.talking:
                return  # the connection dropped meanwhile: that turn is to be said again
            answered = self._talk_samples * 1000 >= MIN_COMMIT_MS * SAMPLE_RATE
            self.state.talk_released(answered=answered, at=pressed_at)
            self._show_status()
            if not answered:
                await self.client.clear_turn()
                return
            await self.client.commit_turn()

    # --- the session --------------------------------------------------------------------------

    async def run(self) -> None:
        """Run until `stop()`; raises `RealtimeConnectionError` or `DeviceError` when the session breaks."""
        self._running = True
        self.client.audio_item_callback = self._play
        self.client.heard_ms = self.policy.heard_ms  # a replay after a drop keeps only what was heard
        receiver = asyncio.create_task(self._receive(), name="voicecli receive")
        stopper = asyncio.create_task(self._stop.wait(), name="voicecli stop")
        workers = {
            asyncio.create_task(self._pump_microphone(), name="voicecli microphone"),
            asyncio.create_task(self._tick(), name="voicecli ticker"),
        }
        waiting: set[asyncio.Task[object]] = {receiver, stopper, *workers}  # only their failures are read
        try:
            while True:
                done, waiting = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    task.result()  # a failure of any task ends the session with its error
                if stopper in done or receiver in done:
                    return
        finally:
            self._running = False
            for task in (receiver, stopper, *workers):
                task.cancel()
            await asyncio.gather(receiver, stopper, *workers, self._key_tasks.close(), return_exceptions=True)

    async def _receive(self) -> None:
        fatal: str | None = None
        async for event in self.client.receive():
            self.state.handle(event)
            if not isinstance(event, RealtimeAudioEvent):  # audio went to the player already
                if self.usage is not None and self.usage.observe(event) is not None:
                    self.budget_spent = self.budget_spent or self.usage.over_budget
                await self._react(event)
            self.screen.handle(event)
            self._show_status()
            if self.taps.event is not None:
                self.taps.event(event)
            if isinstance(event, RealtimeErrorEvent) and event.error.fatal:
                fatal = event.error.message
        if not self._stop.is_set():
            reason = fatal or "the realtime service closed the connection"
            raise RealtimeConnectionError(f"{reason}; check the network (or the service) and start again")

    async def _pump_microphone(self) -> None:
        chunks = aiter(self.source)
        while True:
            try:
                async with asyncio.timeout(STALL_S):
                    chunk = await anext(chunks)
            except StopAsyncIteration:
                return
            except TimeoutError:
                raise DeviceError(
                    f"the microphone delivered no audio for {STALL_S:g} s (unplugged?); "
                    "check it with `voicecli devices --test` and start again"
                ) from None
            if self.budget_spent:
                continue  # no new turn once the budget is reached
            between_presses = self._said_between_presses(self.source.chunk_at) if self.push_to_talk else True
            if not between_presses and self.client.protocol != "live":
                continue  # GPT-Live's clock runs on microphone frames: it gets them all, muted between presses
            if self.local_barge_in is not None:
                speaking = self.player.is_playing
                decided = self.local_barge_in.hear(chunk, self.source.chunk_at, assistant_speaking=speaking)
                if decided is Action.STOP:
                    await self._barge_in("local")
                await self._send_decided()
            try:
                await self.client.send_audio(chunk)
            except RealtimeConnectionError:
                return  # the receiver reports why the connection ended
            self._talk_samples += len(chunk)

    def _said_between_presses(self, chunk_at: float) -> bool:
        """Push-to-talk: whether a chunk heard at `chunk_at` belongs to the turn being talked. A chunk
        heard after the second press also tells `toggle_talk` that the microphone has caught up."""
        if chunk_at >= self._talk_until:
            self._microphone_reached_release.set()
        return self.talking and self._talk_from <= chunk_at < self._talk_until

    async def _tick(self) -> None:
        """Level meter, back to "listening" once the player drained, and the speaker watchdog."""
        last_progress, progress_at = -1.0, self.clock()
        while True:
            await asyncio.sleep(TICK_S)
            now = self.clock()
            self.screen.set_level(self.source.level)
            self.screen.set_echo(self.source.echo_status)
            playing = self.player.is_playing
            if self.local_barge_in is not None and not playing and self.local_barge_in.judge.ducked:
                self.local_barge_in.reply_over()  # it played out while the person coughed
            if not playing:
                self.state.played_out()
                self._show_status()
            if self.budget_spent and not self.state.speaking and not playing and not self.state.response_active:
                self.stop()  # politely: the reply under way was heard to its end
            progress = sum(self.player.heard_ms(reply.key) for reply in self.state.replies.values())
            if progress != last_progress or self.player.buffered_ms <= 0:
                last_progress, progress_at = progress, now
            elif now - progress_at > STALL_S:
                raise DeviceError(
                    f"the speaker played nothing for {STALL_S:g} s (unplugged?); "
                    "check it with `voicecli devices --test` and start again"
                )

    # --- events -------------------------------------------------------------------------------

    def _play(self, audio: AudioContent) -> None:
        """The client's `audio_item_callback`, called with each chunk before its event is queued: reply
        audio to the player first; then the bookkeeping for barge-in, latency and recording."""
        reply = self.policy.reply_for(audio)
        if reply is None:
            return  # a late delta of an item the user cut off
        audible_at = self.clock() + self.player.buffered_ms / 1000 + self.player.latency
        if not reply.started and self.local_barge_in is not None and not self.player.is_playing:
            self.local_barge_in.reply_over()  # full gain again after a stop
        self.policy.play(reply, audio, audible_at=audible_at)
        if self.taps.played is not None:
            self.taps.played(audio.data, audible_at)

    async def _react(self, event: RealtimeEvent) -> None:
        payload = event.service_event or {}
        match event.service_type:
            case ListenEvents.INPUT_AUDIO_BUFFER_SPEECH_STARTED:
                if self.local_barge_in is None:
                    await self._barge_in("vad")
                else:  # the local judgement decides; this only ducks what the detector missed
                    self.local_barge_in.service_heard_speech(self.clock(), assistant_speaking=self.player.is_playing)
            case ListenEvents.INPUT_AUDIO_TRANSCRIPTION_COMPLETED if self.local_barge_in is not None:
                words, item_id, speaking = (
                    payload.get("transcript"),
                    str(payload.get("item_id")),
                    self.player.is_playing,
                )
                said = (
                    self.local_barge_in.words(item_id, words, assistant_speaking=speaking)
                    if isinstance(words, str)
                    else None
                )
                if said is Action.STOP:
                    await self._barge_in("local")
            case ListenEvents.INPUT_AUDIO_BUFFER_COMMITTED if self.local_barge_in is not None:
                self.local_barge_in.committed(str(payload.get("item_id")))
            case ListenEvents.RESPONSE_OUTPUT_AUDIO_DONE:
                if not self.client.media_audio:  # over media the sound is still on its way; see response.done
                    self.player.finish()
            case ListenEvents.RESPONSE_DONE:
                self.player.finish()
        await self._send_decided()

    async def _send_decided(self) -> None:
        """What local barge-in decided to tell the service (answer a turn, or drop a back-channel)."""
        if self.local_barge_in is None:
            return
        while self.local_barge_in.outbox:
            event = self.local_barge_in.outbox.pop(0)
            with contextlib.suppress(RealtimeConnectionError):  # the receiver reports a lost connection
                await self.client.send(event)

    async def _barge_in(self, source: BargeInSource) -> BargeIn | None:
        """Stop the assistant at once (`BargeInPolicy`: flush the player, then tell the service what
        was heard, as the client's transport needs)."""
        return await self.policy.interrupt(self.client, source)
