"""Which RTP frames are reply audio on Voice Live, told by its own events (no output_audio_buffer.started
or .stopped there): the rules, without a call."""

from __future__ import annotations

import asyncio

import numpy as np

from voicecli.realtime.events import RealtimeEvent
from voicecli.realtime.protocol import ListenEvents
from voicecli.realtime.voice_live_playback import END_SILENCE_FRAMES, VoiceLivePlayback
from voicecli.realtime.webrtc_playback import TAIL_FRAMES

SOUND = np.full(480, 3000, dtype=np.int16)  # one 20 ms frame at 24 kHz
SILENCE = np.zeros(480, dtype=np.int16)


def event(kind: str, **fields: object) -> RealtimeEvent:
    return RealtimeEvent(service_type=kind, service_event={"type": kind, **fields})


def audio_part_added(playback: VoiceLivePlayback) -> None:
    part = {"type": "audio", "transcript": ""}
    playback.on_server_event(event(ListenEvents.RESPONSE_CONTENT_PART_ADDED, response_id="r1", item_id="i1", part=part))


def test_the_reply_starts_with_its_audio_part_and_ends_in_silence_once_all_was_generated() -> None:
    playback = VoiceLivePlayback()
    assert playback.admit(SOUND) is None  # no reply yet: the idle track's sound is nobody's
    audio_part_added(playback)
    assert playback.admit(SILENCE) is None  # the silence before the reply's sound is dropped
    admitted = playback.admit(SOUND)
    assert admitted is not None and admitted[1] == "i1"
    for _ in range(END_SILENCE_FRAMES * 2):  # a long pause before the audio was all made: still the reply
        assert playback.admit(SILENCE) is not None
    playback.on_server_event(event(ListenEvents.RESPONSE_OUTPUT_AUDIO_DONE, response_id="r1", item_id="i1"))
    assert playback.admit(SOUND) is not None  # more of it was still on its way
    assert [playback.admit(SILENCE) for _ in range(END_SILENCE_FRAMES - 1)] == [None] * (END_SILENCE_FRAMES - 1)
    resumed = playback.admit(SOUND)  # a pause, not the end: the held silence comes with the sound
    assert resumed is not None and len(resumed[0]) == END_SILENCE_FRAMES * len(SOUND)
    ended = [playback.admit(SILENCE) for _ in range(END_SILENCE_FRAMES + TAIL_FRAMES + 5)]
    assert ended == [None] * len(ended)  # the trailing silence is not delivered
    assert playback.admit(SOUND) is None  # the response has ended: the idle track's sound is nobody's


async def test_response_done_waits_for_the_sound_to_end() -> None:
    playback = VoiceLivePlayback(stall_s=30.0)
    audio_part_added(playback)
    playback.admit(SOUND)
    playback.on_server_event(event(ListenEvents.RESPONSE_OUTPUT_AUDIO_DONE, response_id="r1", item_id="i1"))
    played = asyncio.ensure_future(playback.played("r1"))
    await asyncio.sleep(0)
    assert not played.done()
    for _ in range(END_SILENCE_FRAMES + TAIL_FRAMES):
        playback.admit(SILENCE)
    await asyncio.wait_for(played, timeout=5)


def test_a_cleared_buffer_delivers_nothing_more_of_the_reply() -> None:
    playback = VoiceLivePlayback()
    audio_part_added(playback)
    assert playback.admit(SOUND) is not None
    playback.on_server_event(event(ListenEvents.OUTPUT_AUDIO_BUFFER_CLEARED))  # Voice Live's names no response
    assert playback.admit(SOUND) is None
