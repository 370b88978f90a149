"""One conversation state, fed once per event, that everything else reads.

The screen (its transcript and status line), the barge-in policy, the latency figures and the
phone bridge's limits all follow the same events: who is speaking, whether a response is under way,
which reply items were played and how much of each, what was said. Each used to keep its own copy
(the status line had two writers: the screen's view from the events, `talk` from the player and the
keys; received samples per item were counted apart for the speaker and for the phone).
`ConversationState` holds them once. It is sans-I/O: fed each event of `receive()` (`handle`), each
reply chunk played (`played`), and what only the application knows (the player ran dry, the
push-to-talk key); it reads no clock except through the latency tracker it feeds. How much audio
each reply item received is the client's count (`RealtimeClient.received_audio`, which the
continuity replay reads too); file mode's turn (`exchange`) and the demo's timelines read the
transcript.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from voicecli.conversation.transcript import Transcript
from voicecli.realtime import (
    AudioContent,
    ContinuityEvents,
    ListenEvents,
    RealtimeAudioEvent,
    RealtimeEvent,
    RealtimeFunctionCallEvent,
    RealtimeFunctionResultEvent,
    RealtimeTextEvent,
)
from voicecli.realtime.events import SAMPLE_RATE
from voicecli.realtime.received import ReceivedAudio
from voicecli.records.latency import LatencyTracker
from voicecli.ui.entries import Entry
from voicecli.ui.view import State

__all__ = ["MAX_REMEMBERED_REPLIES", "ConversationState", "ReplyItem"]

MAX_REMEMBERED_REPLIES = 32


@dataclass(slots=True)
class ReplyItem:
    """One assistant item whose audio went to the sink."""

    key: str  # its key in the sink: the item id, or a stand-in when the transport gives none
    item_id: str | None
    counted: ReceivedAudio | None = None
    """The client's count of the item's audio (`RealtimeClient.received_audio`), read, not kept here;
    None for an item the client cannot count (no id) or a state that was given no client count."""
    samples_here: int = 0  # the item's audio counted here, when `counted` is None
    started: bool = False  # its first chunk was played
    audio_done: bool = False
    interrupted: bool = False

    @property
    def received_samples(self) -> int:
        if self.counted is not None and self.item_id is not None:
            return self.counted.samples(self.item_id)
        return self.samples_here

    @property
    def received_ms(self) -> float:
        return self.received_samples * 1000.0 / SAMPLE_RATE


class ConversationState:
    """Who speaks, the response under way, the reply items played, and the status to show; see the module doc."""

    def __init__(self, latency: LatencyTracker | None = None, received: ReceivedAudio | None = None) -> None:
        self.latency = latency
        self.received = received
        """The client's count of reply audio per item, which the reply items read (without one, as in
        tests with no client, the state counts what it is told was played)."""
        self.transcript = Transcript(latency)
        self.status: State = "connecting"
        self.user_speaking = False
        self.talking = False  # push-to-talk: the key was pressed to talk and not yet pressed again
        self.speaking = False  # reply audio was played since the status was last "listening"
        self.response_active = False
        self.replies: OrderedDict[str, ReplyItem] = OrderedDict()
        self._responses = 0
        self._response_has_audio = False
        self._response_has_calls = False
        self._calls_running: set[str] = set()
        self._audible_at: float | None = None  # when the first chunk of the newest reply item is heard

    # --- the events ---------------------------------------------------------------------------

    def handle(self, event: RealtimeEvent) -> None:
        """One event of `receive()`, once."""
        if self.latency is not None:
            self.latency.handle(event)
            if self._audible_at is not None and isinstance(event, RealtimeAudioEvent):
                self.latency.audible(self._audible_at)  # the chunk was played before its event came
                self._audible_at = None
        self.transcript.handle(event)
        payload = event.service_event or {}
        match event:
            case RealtimeAudioEvent():
                self._response_has_audio = True
                self._enter("speaking")
            case RealtimeTextEvent() if event.text.source not in ("user_transcript", "user_text"):
                self._enter("speaking")
            case RealtimeFunctionCallEvent():
                self._response_has_calls = True
                self._calls_running.add(event.function_call.call_id)
                self.status = "tool_running"
            case RealtimeFunctionResultEvent():
                self._calls_running.discard(event.function_result.call_id)
                if not self._calls_running:
                    self._enter("thinking")
            case RealtimeEvent(service_type=service_type):
                self._service_event(str(service_type), payload)

    def _service_event(self, service_type: str, payload: dict[str, object]) -> None:
        match service_type:
            case ListenEvents.SESSION_CREATED | ListenEvents.SESSION_UPDATED | "session.started":
                if self.status == "connecting":  # "session.started" is GPT-Live's session.created
                    self.status = "listening"
            case ListenEvents.INPUT_AUDIO_BUFFER_SPEECH_STARTED:
                self.user_speaking = True
                self.status = "user_speaking"
            case ListenEvents.INPUT_AUDIO_BUFFER_SPEECH_STOPPED | ListenEvents.INPUT_AUDIO_BUFFER_COMMITTED:
                self.user_speaking = self.talking
                self.status = "thinking"
            case ListenEvents.RESPONSE_CREATED:
                self._responses += 1
                self.response_active = True
                self._response_has_audio = self._response_has_calls = False
                self._enter("thinking")
            case ListenEvents.RESPONSE_OUTPUT_AUDIO_DONE:
                reply = self.replies.get(str(payload.get("item_id")))
                if reply is not None:
                    reply.audio_done = True
            case ListenEvents.RESPONSE_DONE:
                self.response_active = False
                if not self._response_has_audio and not self._response_has_calls:
                    self._enter("listening")  # with audio, the player says when it has finished
            case ListenEvents.OUTPUT_AUDIO_BUFFER_STOPPED | ListenEvents.OUTPUT_AUDIO_BUFFER_CLEARED:
                self._enter("listening")
            case ContinuityEvents.RECONNECTING:
                if self.talking:  # push-to-talk: the turn being spoken was half in the lost session
                    self.talking = self.user_speaking = False
                self.status = "reconnecting"
            case ContinuityEvents.RECONNECTED if payload.get("cause") == "drop":
                self.status = "reconnected"  # a rollover is not news: it is meant to go unnoticed

    @property
    def entries(self) -> list[Entry]:
        """The conversation so far, as the screen shows it."""
        return self.transcript.entries

    # --- the reply items ----------------------------------------------------------------------

    def reply_for(self, audio: AudioContent) -> ReplyItem | None:
        """The item a reply chunk belongs to, or None when that item was cut off (a late chunk: drop it)."""
        key = audio.item_id or f"response-{self._responses}"
        reply = self.replies.get(key)
        if reply is None:
            reply = self.replies[key] = ReplyItem(key, audio.item_id, self.received if audio.item_id else None)
            while len(self.replies) > MAX_REMEMBERED_REPLIES:
                self.replies.popitem(last=False)
        return None if reply.interrupted else reply

    def played(self, reply: ReplyItem, samples: int, *, audible_at: float | None = None) -> None:
        """`samples` of `reply` went to the sink; the first of a reply is heard at `audible_at` (monotonic)."""
        if not reply.started and audible_at is not None:
            self._audible_at = audible_at
        reply.started = True
        if reply.counted is None:  # the client counted it already when it has a count
            reply.samples_here += samples
        self.speaking = True

    def cut_off(self) -> list[ReplyItem]:
        """The listener interrupted: the items still being received or played, now marked interrupted."""
        replies = [reply for reply in self.replies.values() if not reply.interrupted and reply.received_samples]
        for reply in replies:
            reply.interrupted = True
        self.speaking = False
        return replies

    # --- what only the application knows ------------------------------------------------------

    def played_out(self) -> None:
        """The player has nothing more to play: back to listening, unless more is on its way or the user speaks."""
        if self.speaking and not self.response_active and not self.user_speaking:
            self.speaking = False
            self.status = "listening"

    def talk_pressed(self) -> None:
        """Push-to-talk: the key was pressed to talk."""
        self.talking = self.user_speaking = True
        self.status = "user_speaking"

    def talk_ending(self) -> None:
        """Push-to-talk: the key was pressed again; the microphone's last audio is on its way."""
        self.status = "thinking"

    def talk_released(self, *, answered: bool, at: float) -> None:
        """Push-to-talk: the key was pressed again at `at` (monotonic), where the turn's wait for an
        answer starts; `answered` unless the turn was too short to send."""
        self.talking = self.user_speaking = False
        self.status = "thinking" if answered else "listening"
        if answered and self.latency is not None:
            self.latency.speech_ended(at)

    def _enter(self, status: State) -> None:
        """Change status unless the user is talking: their speech outranks whatever the model does."""
        if self.status != "user_speaking":
            self.status = status
