"""Which incoming RTP audio is reply audio on Voice Live, whose events do not say when the sound plays.

The Realtime API's WebRTC route says when a response's sound starts and stops playing
(`output_audio_buffer.started|stopped`); Voice Live has no such events (the `azure-ai-voicelive`
models have only `output_audio_buffer.cleared`). So its reply audio is followed by what it does have:
a response's sound starts with its audio part (`response.content_part.added`), and it has ended once
all of it was generated (`response.audio.done`) and the track has then gone quiet for
`END_SILENCE_FRAMES` (that silence is not delivered). From there `RemotePlayback` works as it does
for the Realtime API.
"""

from __future__ import annotations

import numpy as np

from voicecli.realtime.events import RealtimeEvent
from voicecli.realtime.protocol import ListenEvents
from voicecli.realtime.webrtc_playback import SOUND_LEVEL, RemotePlayback

__all__ = ["END_SILENCE_FRAMES", "VoiceLivePlayback"]

END_SILENCE_FRAMES = 30
"""20 ms frames of silence, after a response's audio was all generated, that end its sound (600 ms:
longer than the pauses between a reply's sentences)."""


class VoiceLivePlayback(RemotePlayback):
    """`RemotePlayback` told when a response's sound starts and stops by Voice Live's own events."""

    def __init__(self, stall_s: float = 1.5) -> None:
        super().__init__(stall_s)
        self._generated: set[str] = set()  # responses whose audio has all been generated
        self._held_quiet: list[np.ndarray] = []  # silence after the audio was all generated

    def on_server_event(self, event: RealtimeEvent) -> None:
        super().on_server_event(event)
        payload = event.service_event or {}
        response_id = payload.get("response_id")
        if not isinstance(response_id, str):
            return
        part = payload.get("part")
        if event.service_type == ListenEvents.RESPONSE_CONTENT_PART_ADDED and isinstance(part, dict):
            if part.get("type") == "audio":
                super().on_server_event(_buffer_event(ListenEvents.OUTPUT_AUDIO_BUFFER_STARTED, response_id))
        elif event.service_type == ListenEvents.RESPONSE_OUTPUT_AUDIO_DONE:
            self._generated.add(response_id)

    def admit(self, pcm: np.ndarray) -> tuple[np.ndarray, str | None] | None:
        """As `RemotePlayback.admit`; once a response's audio was all generated, its silence is held
        back: delivered before more of its sound, dropped when it ends the response."""
        loud = len(pcm) > 0 and (int(pcm.max()) > SOUND_LEVEL or int(pcm.min()) < -SOUND_LEVEL)
        head = self._queue[0] if self._queue else None
        if (
            not loud
            and head is not None
            and head.heard_sound
            and head.tail_left is None
            and head.response_id in self._generated
        ):
            self._held_quiet.append(pcm)
            if len(self._held_quiet) >= END_SILENCE_FRAMES:  # the sound has ended
                self._held_quiet.clear()
                self._generated.discard(head.response_id)
                super().on_server_event(_buffer_event(ListenEvents.OUTPUT_AUDIO_BUFFER_STOPPED, head.response_id))
            return None
        admitted = super().admit(pcm)
        if admitted is not None and self._held_quiet:
            admitted = (np.concatenate([*self._held_quiet, admitted[0]]), admitted[1])
        self._held_quiet.clear()
        return admitted

    def clear(self) -> None:
        super().clear()
        self._generated.clear()
        self._held_quiet.clear()


def _buffer_event(kind: str, response_id: str) -> RealtimeEvent:
    return RealtimeEvent(service_type=kind, service_event={"type": kind, "response_id": response_id})
