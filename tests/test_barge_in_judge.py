"""The local barge-in decision (duck, then stop or restore), on a virtual clock: no devices."""

from __future__ import annotations

import numpy as np
import pytest

from voicecli.conversation.barge_in import Action, BargeInJudge, BargeInRules
from voicecli.conversation.local_barge_in import DUCK_GAIN, LocalBargeIn


def feed(judge: BargeInJudge, pattern: list[tuple[float, bool]], *, speaking: bool = True) -> list[tuple[int, Action]]:
    """Run 10 ms detector frames: `pattern` is (seconds, voiced) stretches; the actions with their ms.
    A stop silences the assistant."""
    actions, now = [], 0.0
    for seconds, voiced in pattern:
        for _ in range(round(seconds * 100)):
            now += 0.01
            if (action := judge.voice(now, voiced, assistant_speaking=speaking)) is not None:
                actions.append((round(now * 1000), action))
                speaking = speaking and action is not Action.STOP
    return actions


def test_a_person_talking_on_is_an_interruption() -> None:
    actions = feed(BargeInJudge(), [(0.2, False), (1.0, True)])
    assert actions == [(210, Action.DUCK), (810, Action.STOP)]  # ducked at once, stopped after 600 ms of voice


def test_a_short_back_channel_or_a_cough_restores_the_reply() -> None:
    for sound_s in (0.4, 0.15):
        actions = feed(BargeInJudge(), [(0.1, False), (sound_s, True), (1.0, False)])
        assert [action for _, action in actions] == [Action.DUCK, Action.RESTORE]
        assert actions[1][0] - actions[0][0] == pytest.approx(sound_s * 1000 + 700, abs=11)


def test_voice_with_pauses_adds_up_to_an_interruption() -> None:
    actions = feed(BargeInJudge(), [(0.3, True), (0.2, False), (0.4, True)])
    assert [action for _, action in actions] == [Action.DUCK, Action.STOP]


def test_nothing_happens_while_the_assistant_is_silent() -> None:
    assert feed(BargeInJudge(), [(2.0, True)], speaking=False) == []


def test_words_decide_a_ducked_reply_at_once() -> None:
    judge = BargeInJudge(BargeInRules(backchannels=("mm-hm", "yeah", "ok")))
    assert judge.words("stop", assistant_speaking=False) is None  # nothing to stop
    assert judge.voice(0.0, True, assistant_speaking=True) is Action.DUCK
    assert judge.words("Yeah, OK.", assistant_speaking=True) is Action.RESTORE
    assert judge.voice(1.0, True, assistant_speaking=True) is Action.DUCK
    assert judge.words("  ", assistant_speaking=True) is None
    assert judge.words("yeah but wait", assistant_speaking=True) is Action.STOP
    assert judge.voice(2.0, True, assistant_speaking=True) is Action.DUCK
    assert judge.words("Mm-hm", assistant_speaking=True) is Action.RESTORE
    # after the reply came back up: a back-channel changes nothing, other words stop it (the detector missed them)
    assert judge.words("yeah", assistant_speaking=True) is None
    assert judge.words("wait a moment", assistant_speaking=True) is Action.STOP


def test_words_made_of_a_short_sound_do_not_stop_a_ducked_reply() -> None:
    """Whisper heard a 0.4 s "mm-hm" as "from the": the quiet after it brings the reply back up."""
    judge = BargeInJudge(BargeInRules(backchannels=("mm-hm",)))
    assert judge.voice(0.0, True, assistant_speaking=True) is Action.DUCK
    assert judge.voice(0.4, False, assistant_speaking=True) is None  # 400 ms of voice, then quiet
    assert judge.words("from the", assistant_speaking=True) is None
    assert judge.voice(1.1, False, assistant_speaking=True) is Action.RESTORE
    # a longer sound's words still decide at once
    assert judge.voice(2.0, True, assistant_speaking=True) is Action.DUCK
    assert judge.voice(2.55, False, assistant_speaking=True) is None
    assert judge.words("wait a moment", assistant_speaking=True) is Action.STOP


def test_the_service_speech_started_only_ducks_what_the_local_detector_missed() -> None:
    judge = BargeInJudge()
    assert judge.service_heard_speech(0.0, assistant_speaking=False) is None
    assert judge.service_heard_speech(0.0, assistant_speaking=True) is Action.DUCK
    assert judge.service_heard_speech(0.1, assistant_speaking=True) is None  # already ducked
    assert judge.voice(0.5, False, assistant_speaking=True) is None
    assert judge.voice(0.7, False, assistant_speaking=True) is Action.RESTORE  # the detector heard no voice


class ScriptedListener:
    """An `OnsetListener` stand-in: each chunk is one 10 ms frame, voiced when its first sample is."""

    class _Detector:
        def reset(self) -> None:
            pass

    detector = _Detector()

    def feed(self, chunk: np.ndarray) -> list[tuple[float, bool]]:
        return [(0.01, bool(chunk[0]))]


def run_local(local: LocalBargeIn, pattern: list[tuple[float, bool]], start: float = 0.0) -> float:
    """10 ms chunks over a speaking assistant, until a stop silences it."""
    now, speaking = start, True
    for seconds, voiced in pattern:
        for _ in range(round(seconds * 100)):
            action = local.hear(np.full(1, int(voiced), np.int16), now, assistant_speaking=speaking)
            speaking = speaking and action is not Action.STOP
            now += 0.01
    return now


def test_a_back_channel_turn_is_dropped_and_a_real_one_answered() -> None:
    gains: list[float] = []
    local = LocalBargeIn(BargeInRules(), gains.append, listener=ScriptedListener())  # type: ignore[arg-type]
    local.service_heard_speech(0.0, assistant_speaking=False)  # a question, nobody speaking
    local.committed("item_question")
    assert local.outbox == [{"type": "response.create"}]
    local.outbox.clear()
    now = run_local(local, [(0.3, True), (0.2, False)])  # an "mm-hm" over the reply
    local.service_heard_speech(now, assistant_speaking=True)
    local.committed("item_mmhm")  # committed before the decision: it waits
    assert local.outbox == [] and gains == [DUCK_GAIN]
    run_local(local, [(0.6, False)], now)
    assert gains == [DUCK_GAIN, 1.0]
    assert local.outbox == [{"type": "conversation.item.delete", "item_id": "item_mmhm"}]
    assert local.words("item_mmhm", "with it", assistant_speaking=True) is None  # its late transcript
    local.outbox.clear()
    run_local(local, [(0.7, True)], 10.0)  # talking on
    local.service_heard_speech(10.5, assistant_speaking=False)  # the stop silenced the reply
    local.committed("item_stop")
    assert local.outbox == [{"type": "response.create"}]


def test_local_barge_in_leaves_interrupting_and_answering_to_voicecli() -> None:
    from voicecli.config import AppConfig
    from voicecli.conversation.providers import session_settings

    local = session_settings(AppConfig(), local_barge_in=True).to_session_payload()["session"]["audio"]["input"][
        "turn_detection"
    ]
    assert (local["interrupt_response"], local["create_response"]) == (False, False)
    service = session_settings(AppConfig()).to_session_payload()["session"]["audio"]["input"]["turn_detection"]
    assert (service["interrupt_response"], service["create_response"]) == (True, True)


def tone(dbfs: float, ms: int = 10) -> np.ndarray:
    """A 24 kHz int16 frame of a 300 Hz tone at `dbfs` (RMS)."""
    t = np.arange(24 * ms) / 24_000
    return np.round(np.sqrt(2) * 32768 * 10 ** (dbfs / 20) * np.sin(2 * np.pi * 300 * t)).astype(np.int16)


def test_the_fast_trigger_hears_a_jump_over_the_residual_not_a_steady_leak() -> None:
    from voicecli.audio.fast_onset import FastOnset

    trigger = FastOnset()
    assert not trigger.heard(tone(-60)) and not trigger.heard(np.zeros(240, np.int16))
    assert trigger.heard(tone(-30))  # a syllable over digital silence, in its first frame
    steady = FastOnset()
    heard = [steady.heard(tone(-45)) for _ in range(500)]  # a leak under the level: never
    assert not any(heard)
    fan = FastOnset()
    heard = [fan.heard(tone(-35)) for _ in range(1000)]  # a steady sound over the level: the bar rises to it
    assert heard[0] and not any(heard[-300:])
    assert fan.heard(tone(-20))  # a voice 15 dB over that residual still clears it


def test_the_trigger_ducks_at_once_and_silero_must_confirm_or_the_duck_is_undone() -> None:
    gains: list[float] = []
    speaking = True
    local = LocalBargeIn(BargeInRules(), gains.append, listener=ScriptedListener(), playing=lambda: speaking)  # type: ignore[arg-type]
    local.frame_heard(tone(-60), 0.0)
    assert gains == []
    local.frame_heard(tone(-20), 0.01)  # a click: the trigger ducks on the capture's thread
    assert gains == [DUCK_GAIN]
    local.frame_heard(tone(-20), 0.02)  # already ducked: nothing more
    now = run_local(local, [(0.19, False)], 0.02)  # Silero hears no voice for 190 ms: still ducked
    assert gains == [DUCK_GAIN] and local.unconfirmed_ducks == 0
    run_local(local, [(0.02, False)], now)
    assert gains == [DUCK_GAIN, 1.0] and local.unconfirmed_ducks == 1  # undone after 200 ms

    gains.clear()
    local.frame_heard(tone(-60), 1.0)
    local.frame_heard(tone(-20), 1.01)  # a person: the trigger ducks, Silero confirms, the judge decides
    assert run_local(local, [(0.05, True), (0.7, True)], 1.02) and gains[0] == DUCK_GAIN
    assert 1.0 not in gains and local.unconfirmed_ducks == 1  # never lifted before the stop

    gains.clear()
    speaking = False
    local.reply_over()
    gains.clear()
    local.frame_heard(tone(-60), 5.0)
    local.frame_heard(tone(-20), 5.01)  # nothing plays: nothing to duck
    assert gains == []
