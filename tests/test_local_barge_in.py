"""Local barge-in in a live conversation (`[audio] barge_in = "local"`): the real local server with
its VAD 300 ms late and `interrupt_response: false`, a real output stream, Silero's VAD on a paced
microphone stand-in (no echo: the headphones case; the echo rig is in test_echo_rig.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from support.audio import PulseAudio, Recorder
from support.audio import pulse_audio as pulse_audio  # session fixture
from support.live import assert_truncate_matches_speaker, until
from test_conversation import LONG_REPLY, Running, ScreenLog, SpeechSource, note_flushes_and_sends, of_type, sent_log
from test_conversation import player as player  # fixture
from test_conversation import speech as speech  # fixture

from voicecli.audio.player import Player
from voicecli.conversation.barge_in import BargeInRules
from voicecli.conversation.live import Conversation
from voicecli.conversation.local_barge_in import DUCK_GAIN, LocalBargeIn
from voicecli.realtime import ListenEvents, RealtimeSettings, SendEvents, TurnDetection
from voicecli.server import LocalRealtime, Pacing
from voicecli.server.synth import speak

pytestmark = pytest.mark.audio

LOCAL = RealtimeSettings(
    turn_detection=TurnDetection(type="server_vad", interrupt_response=False, create_response=False)
)
LATE_VAD = Pacing(0.5, 4.0, vad_delay_s=0.3)
SHORT_REPLY = "Here is a short answer that keeps talking for a few seconds, then it ends."


def noted_ducks(player: Player) -> list[float]:
    gains: list[float] = []
    duck = player.duck

    def duck_and_note(gain: float) -> None:
        gains.append(gain)
        duck(gain)

    player.duck = duck_and_note  # type: ignore[method-assign]
    return gains


def script(tmp_path: Path, reply: str) -> Path:
    path = tmp_path / "script.toml"
    path.write_text(f'[[turn]]\nreply = "{reply}"\n')
    return path


async def test_an_interruption_ducks_then_stops_the_reply_where_the_speaker_was(
    pulse_audio: PulseAudio, player: Player, speech: dict[str, np.ndarray], tmp_path: Path
) -> None:
    client = LocalRealtime(brain="scripted", script=script(tmp_path, LONG_REPLY), pacing=LATE_VAD)
    sent, source, screen = sent_log(client), SpeechSource(), ScreenLog()
    gains = noted_ducks(player)
    speaker = Recorder(pulse_audio, tmp_path / "speaker.raw", rate=player.sample_rate)
    interruption = np.concatenate([speech["interruption"], speech["question"]])  # well over 600 ms of voice
    async with client(settings=LOCAL):
        local = LocalBargeIn(BargeInRules(), player.duck)
        conversation = Conversation(client, source, player, screen, local_barge_in=local)
        async with Running(conversation):
            source.say(speech["question"])
            await until(lambda: bool(screen.seen(ListenEvents.RESPONSE_OUTPUT_AUDIO_DONE)), "the reply", timeout=30)
            item_id = screen.seen(ListenEvents.RESPONSE_OUTPUT_AUDIO_DONE)[0]["item_id"]
            await until(lambda: player.heard_ms(item_id) >= 1500, "1.5 s of the reply to be heard")
            source.say(interruption)
            await until(lambda: bool(conversation.barge_ins), "the barge-in")
            await until(lambda: bool(screen.seen(ListenEvents.CONVERSATION_ITEM_TRUNCATED)), "the truncation")
            await until(lambda: speaker.quiet_for_s() >= 0.3, "the speaker recording to catch up with the cut")
            recorded = speaker.stop()
    [barge_in] = conversation.barge_ins
    assert barge_in.source == "local"
    assert DUCK_GAIN in gains  # faded down first, then stopped
    [(truncated_item, audio_end_ms)] = barge_in.truncates
    assert truncated_item == item_id and 1500 <= audio_end_ms < len(speak(LONG_REPLY)) / 24
    # The ducked stretch is 20 dB down: lift the recording by as much, so that it counts as heard.
    # That lifts the soft edges of words too, which the reference does not count: 60 ms of leeway.
    lifted = np.clip(recorded.astype(np.int32) / DUCK_GAIN, -32768, 32767).astype(np.int16)
    reference = np.asarray(speak(LONG_REPLY))
    assert_truncate_matches_speaker(lifted, player.sample_rate, reference, audio_end_ms, tolerance_ms=60)
    assert len(of_type(sent, SendEvents.RESPONSE_CANCEL)) <= 1  # the reply was still streaming, or had all arrived


@pytest.mark.parametrize("sound", ["mm-hm", "cough"])
async def test_a_back_channel_or_a_cough_leaves_the_reply_playing_to_its_end(
    sound: str, player: Player, tmp_path: Path
) -> None:
    from support.audio import speech_wav

    from voicecli.audio.wavio import read_audio_24k_mono

    if sound == "mm-hm":
        said = read_audio_24k_mono(speech_wav(tmp_path / "mmhm.wav", "mm-hm"))[: 24_000 * 4 // 10]
    else:
        burst = np.random.default_rng(3).standard_normal(6000) * np.hanning(6000) * 8000
        said = burst.astype(np.int16)  # 250 ms of shaped noise
    client = LocalRealtime(brain="scripted", script=script(tmp_path, SHORT_REPLY), pacing=LATE_VAD)
    sent, source, screen = sent_log(client), SpeechSource(), ScreenLog()
    gains = noted_ducks(player)
    async with client(settings=LOCAL):
        local = LocalBargeIn(BargeInRules(), player.duck)
        conversation = Conversation(client, source, player, screen, local_barge_in=local)
        async with Running(conversation):
            source.say(np.concatenate([speak("hello there"), np.zeros(24_000, np.int16)]))
            await until(lambda: bool(screen.seen(ListenEvents.RESPONSE_OUTPUT_AUDIO_DONE)), "the reply", timeout=30)
            item_id = screen.seen(ListenEvents.RESPONSE_OUTPUT_AUDIO_DONE)[0]["item_id"]
            await until(lambda: player.heard_ms(item_id) >= 800, "some of the reply to be heard")
            source.say(said)
            await until(lambda: not player.is_playing, "the reply to play to its end", timeout=20)
    assert conversation.barge_ins == []
    assert of_type(sent, SendEvents.CONVERSATION_ITEM_TRUNCATE) == []
    assert player.heard_ms(item_id) == pytest.approx(len(speak(SHORT_REPLY)) / 24, abs=2)  # nothing lost
    assert DUCK_GAIN in gains and player.gain == 1.0  # faded down (by Silero, or the late server VAD), then back
    assert len(of_type(sent, SendEvents.RESPONSE_CREATE)) == 1  # the sound got no answer of its own


async def test_over_gpt_live_the_local_decision_stops_only_the_player_and_sends_nothing_forbidden(
    player: Player, speech: dict[str, np.ndarray], tmp_path: Path
) -> None:
    """GPT-Live has no cancel, no truncate and no item delete: a local stop is the player's alone."""
    from test_live_conversation import ALLOWED_TO_SEND

    from voicecli.server.live.embedded import LocalLive
    from voicecli.server.session.pacing import UNPACED

    story = tmp_path / "story.toml"
    story.write_text(f'[[turn]]\nreply = "{LONG_REPLY}"\n[[turn]]\nreply = "Okay."\n')
    client = LocalLive(brain="scripted", script=story, pacing=UNPACED)  # the whole reply buffered at once
    order = note_flushes_and_sends(player, client)
    source, screen = SpeechSource(), ScreenLog()
    gains = noted_ducks(player)
    interruption = np.concatenate([speech["interruption"], speech["question"]])  # well over 600 ms of voice
    async with client(settings=RealtimeSettings()):
        local = LocalBargeIn(BargeInRules(), player.duck)
        conversation = Conversation(client, source, player, screen, local_barge_in=local)
        async with Running(conversation):
            source.say(speech["question"])
            await until(lambda: player.is_playing, "the reply to play", timeout=30)
            source.say(interruption)
            await until(lambda: bool(conversation.barge_ins), "the local decision", timeout=30)
            assert not player.is_playing or player.buffered_ms < 100, "the speaker was not cut"
    barge_in = conversation.barge_ins[0]
    assert barge_in.source == "local" and barge_in.truncates == []
    assert DUCK_GAIN in gains and "player flushed" in order  # ducked first, then stopped
    assert set(order) - {"player flushed"} <= ALLOWED_TO_SEND  # no cancel, truncate, delete or response.create
