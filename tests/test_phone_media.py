"""The ACS media frames: the documented shapes parse, in either key case; bad frames say what is wrong."""

from __future__ import annotations

import base64
import json

import pytest

from voicecli.phone import media

PCM = b"\x01\x00\xff\xff\x10\x27"
B64 = base64.b64encode(PCM).decode()


def test_documented_inbound_frames_parse() -> None:
    metadata = media.parse_frame(
        '{"kind":"AudioMetadata","audioMetadata":{"subscriptionId":"s1","encoding":"PCM",'
        '"sampleRate":24000,"channels":1,"length":960}}'
    )
    assert metadata == media.AudioMetadata(24000, 1, "PCM", 960, "s1")
    audio = media.parse_frame(
        json.dumps(
            {
                "kind": "AudioData",
                "audioData": {"data": B64, "timestamp": "t", "participantRawID": "4:+1", "silent": False},
            }
        )
    )
    assert audio == media.AudioFrame(PCM, False, "t", "4:+1")
    dtmf = media.parse_frame('{"kind":"DtmfData","dtmfData":{"data":"#","participantRawID":"4:+1"}}')
    assert dtmf == media.DtmfFrame("#", "4:+1")


def test_pascal_case_keys_parse_the_same() -> None:
    frame = media.parse_frame(json.dumps({"Kind": "AudioData", "AudioData": {"Data": B64, "Silent": True}}))
    assert frame == media.AudioFrame(PCM, silent=True)
    assert media.parse_frame('{"Kind":"StopAudio","AudioData":null,"StopAudio":{}}') == media.StopAudioFrame()


def test_a_silent_frame_may_come_without_data() -> None:
    assert media.parse_frame('{"kind":"AudioData","audioData":{"silent":true}}') == media.AudioFrame(b"", True)


def test_unknown_kinds_pass_over() -> None:
    assert media.parse_frame('{"kind":"TranscriptionData","transcriptionData":{}}') == media.UnknownFrame(
        "TranscriptionData"
    )


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("nope", "not JSON"),
        ("[1]", "expected a JSON object"),
        ('{"audioData":{}}', "no string 'kind'"),
        ('{"kind":"AudioData"}', "without an object 'audiodata'"),
        ('{"kind":"AudioData","audioData":{"silent":false}}', "without base64 'data'"),
        ('{"kind":"AudioData","audioData":{"data":"***"}}', "not base64"),
        ('{"kind":"AudioData","audioData":{"data":"AAAA"}}', "not whole 16-bit samples"),
        ('{"kind":"AudioMetadata","audioMetadata":{"sampleRate":"fast"}}', "non-numeric"),
    ],
)
def test_malformed_frames_raise_with_the_reason(text: str, why: str) -> None:
    with pytest.raises(media.MediaFrameError, match=why):
        media.parse_frame(text)


def test_outbound_frames_have_the_documented_shape() -> None:
    assert json.loads(media.audio_out(PCM)) == {"kind": "AudioData", "audioData": {"data": B64}, "stopAudio": None}
    assert json.loads(media.stop_audio()) == {"kind": "StopAudio", "audioData": None, "stopAudio": {}}


def test_what_the_dialer_sends_is_what_the_bridge_reads() -> None:
    assert media.parse_frame(media.audio_in(PCM, timestamp="t", participant="p")) == media.AudioFrame(
        PCM, False, "t", "p"
    )
    assert media.parse_frame(media.metadata_in(subscription_id="s")) == media.AudioMetadata(24000, 1, "PCM", 960, "s")


def _dtmf(digits: object) -> str:
    return json.dumps({"kind": "DtmfData", "dtmfData": {"data": digits, "participantRawID": "4:+1555"}})


def test_dtmf_keys_are_the_dtmf_alphabet() -> None:
    assert media.parse_frame(_dtmf("5")) == media.DtmfFrame("5", "4:+1555")
    assert media.parse_frame(_dtmf("0123456789*#ABCD")) == media.DtmfFrame("0123456789*#ABCD", "4:+1555")


@pytest.mark.parametrize("digits", ["", "E", "5\n", "\x1b[31m", "5" * 17, "9" * 2_000_000, 5, None, ["1"]])
def test_anything_else_is_not_a_dtmf_frame(digits: object) -> None:
    with pytest.raises(media.MediaFrameError, match="DTMF keys") as refused:
        media.parse_frame(_dtmf(digits))
    assert len(str(refused.value)) < 100, "the reason does not repeat what was sent"


def test_an_audio_frame_is_at_most_200_ms() -> None:
    biggest = base64.b64encode(bytes(media.MAX_FRAME_AUDIO_BYTES)).decode()
    assert len(media.audio_in(bytes(media.MAX_FRAME_AUDIO_BYTES), timestamp="t", participant="p")) < (
        media.MAX_MESSAGE_BYTES
    )
    media.parse_frame(json.dumps({"kind": "AudioData", "audioData": {"data": biggest}}))
    too_big = base64.b64encode(bytes(media.MAX_FRAME_AUDIO_BYTES + 2)).decode()
    with pytest.raises(media.MediaFrameError, match="more than"):
        media.parse_frame(json.dumps({"kind": "AudioData", "audioData": {"data": too_big}}))


@pytest.mark.parametrize(("rate", "channels", "encoding"), [(16_000, 1, "PCM"), (24_000, 1, "pcm")])
def test_16_and_24_khz_mono_pcm_is_taken(rate: int, channels: int, encoding: str) -> None:
    assert media.format_problem(media.AudioMetadata(rate, channels, encoding)) is None


@pytest.mark.parametrize(
    ("rate", "channels", "encoding"),
    [(1, 1, "PCM"), (0, 1, "PCM"), (-24_000, 1, "PCM"), (8_000, 1, "PCM"), (48_000, 1, "PCM"), (24_000, 2, "PCM"),
     (24_000, 1, "OPUS"), (10**12, 1, "PCM")],
)  # fmt: skip
def test_any_other_format_is_refused(rate: int, channels: int, encoding: str) -> None:
    assert media.format_problem(media.AudioMetadata(rate, channels, encoding)) is not None
