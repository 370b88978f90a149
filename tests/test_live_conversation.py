"""A live conversation over GPT-Live: the real local server, a real output stream, a paced microphone.

The user talks over a long reply: the speaker is cut at once, and nothing the protocol forbids (no
response.cancel, no truncate) is sent; the microphone streamed throughout (the session clock runs on it).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from support.audio import PulseAudio, speech_wav
from support.audio import pulse_audio as pulse_audio  # session fixture
from support.live import until
from test_conversation import LONG_REPLY, Running, ScreenLog, SpeechSource, note_flushes_and_sends
from test_conversation import player as player  # fixture

from voicecli.audio.player import Player
from voicecli.audio.wavio import read_audio_24k_mono
from voicecli.conversation.live import Conversation
from voicecli.realtime import RealtimeSettings
from voicecli.server.live.embedded import LocalLive
from voicecli.server.session.pacing import UNPACED

ALLOWED_TO_SEND = {"session.start", "session.input_audio.append", "session.instructions.append"}


@pytest.mark.audio
async def test_talking_over_a_gpt_live_reply_cuts_the_speaker_and_sends_nothing_forbidden(
    pulse_audio: PulseAudio, player: Player, tmp_path: Path
) -> None:
    script = tmp_path / "story.toml"
    script.write_text(
        f'[[turn]]\nwhen_contains = "story"\nexamples = ["hello there, tell me a story"]\nreply = "{LONG_REPLY}"\n'
        '[[turn]]\nwhen_contains = "stop"\nexamples = ["stop please"]\nreply = "Okay."\n'
    )
    question = read_audio_24k_mono(speech_wav(tmp_path / "q.wav", "hello there, tell me a story"))
    interruption = read_audio_24k_mono(speech_wav(tmp_path / "i.wav", "stop please"))
    # unpaced: the whole reply is buffered, so it still plays when the user's words arrive (GPT-Live
    # says the user spoke only by their transcript, after the speech ends and is recognised)
    client = LocalLive(brain="scripted", script=script, pacing=UNPACED)
    order = note_flushes_and_sends(player, client)
    source, screen = SpeechSource(), ScreenLog()
    async with client(settings=RealtimeSettings()):
        conversation = Conversation(client, source, player, screen)
        async with Running(conversation):
            source.say(question)
            await until(lambda: player.is_playing, "the reply to play", timeout=30)
            source.say(interruption)
            await until(lambda: bool(conversation.barge_ins), "the barge-in", timeout=30)
            assert not player.is_playing or player.buffered_ms < 100, "the speaker was not cut"
    barge_in = conversation.barge_ins[0]
    assert barge_in.source == "vad" and barge_in.truncates == []
    assert "player flushed" in order
    assert set(order) - {"player flushed"} <= ALLOWED_TO_SEND
    appends = order.count("session.input_audio.append")
    assert appends * 20 >= (len(question) + len(interruption)) / 24, "the microphone did not stream throughout"
    assert np.asarray(question).size > 0


@pytest.mark.audio
async def test_the_mute_key_tells_gpt_live_and_the_microphone_keeps_streaming(player: Player) -> None:
    client = LocalLive(brain="echo")
    sent: list[str] = []
    client.observe_sent(lambda payload: sent.append(payload["type"]))
    source, screen = SpeechSource(), ScreenLog()
    async with client(settings=RealtimeSettings()), Running(Conversation(client, source, player, screen)) as talk:
        talk.on_key("m")
        await until(lambda: bool(screen.seen("session.input_audio.muted")), "the service to acknowledge the mute")
        appends = sent.count("session.input_audio.append")
        await until(lambda: sent.count("session.input_audio.append") > appends + 5, "silence to stream while muted")
        talk.on_key("m")
        await until(lambda: bool(screen.seen("session.input_audio.unmuted")), "the service to acknowledge the unmute")
    assert screen.muted == [True, False]
    assert [kind for kind in sent if "mute" in kind] == ["session.input_audio.mute", "session.input_audio.unmute"]


@pytest.mark.audio
async def test_talking_over_a_gpt_live_reply_over_webrtc_stops_the_speaker_and_sends_nothing(
    pulse_audio: PulseAudio, player: Player, tmp_path: Path
) -> None:
    """Over WebRTC the model's voice arrives in real time: when the user talks over it, the speaker falls
    silent (the model stops sending, and voicecli flushes what it still holds when the user's words
    arrive). The data channel carries nothing at all: no session.start (the request started the
    session), no append (the microphone is a media track), nothing that cancels or truncates."""
    from voicecli.server.live.embedded_webrtc import LocalLiveWebRTC

    script = tmp_path / "story.toml"
    script.write_text(
        f'[[turn]]\nwhen_contains = "story"\nexamples = ["hello there, tell me a story"]\nreply = "{LONG_REPLY}"\n'
        '[[turn]]\nwhen_contains = "stop"\nexamples = ["stop please"]\nreply = "Okay."\n'
    )
    question = read_audio_24k_mono(speech_wav(tmp_path / "q.wav", "hello there, tell me a story"))
    interruption = read_audio_24k_mono(speech_wav(tmp_path / "i.wav", "stop please"))
    client = LocalLiveWebRTC(brain="scripted", script=script, pacing=UNPACED)
    order = note_flushes_and_sends(player, client)
    source, screen = SpeechSource(), ScreenLog()
    async with client(settings=RealtimeSettings()):
        conversation = Conversation(client, source, player, screen)
        async with Running(conversation):
            source.say(question)
            await until(lambda: player.is_playing, "the reply to play", timeout=30)
            source.say(interruption)
            await until(lambda: bool(screen.seen("input_audio_buffer.speech_started")), "the user's words", timeout=30)
            assert not player.is_playing or player.buffered_ms < 100, "the speaker went on over the user"
    assert all(barge_in.truncates == [] for barge_in in conversation.barge_ins)
    assert set(order) - {"player flushed"} == set(), "something was sent on the data channel"
