"""voicecli's realtime library over WebRTC, in one page.

The client sends a microphone track (here a `PcmAudioTrack` fed with a tone instead of a voice),
the server's voice activity detection hears the "speech" start and stop, and the reply comes back
as audio over RTP plus a transcript on the data channel. It runs against the embedded local server
(`LocalRealtimeWebRTC`), so it needs no key and no network, and it exits by itself:

    python examples/webrtc_basics.py

For OpenAI use `OpenAIRealtimeWebRTC(audio_track=...)` (reads OPENAI_API_KEY), for Azure
`AzureRealtimeWebRTC(audio_track=...)` (reads AZURE_OPENAI_ENDPOINT etc.); the rest stays the same.
"""

from __future__ import annotations

import asyncio

import numpy as np

from voicecli.realtime import (
    ListenEvents,
    PcmAudioTrack,
    RealtimeEvent,
    RealtimeSettings,
    RealtimeTextEvent,
    TurnDetection,
)
from voicecli.server import LocalRealtimeWebRTC

SAMPLE_RATE = 24_000  # the library speaks mono int16 at 24 kHz in both directions


def tone(seconds: float) -> np.ndarray:
    """A stand-in for one spoken sentence (a real program puts microphone chunks instead)."""
    t = np.arange(int(SAMPLE_RATE * seconds)) / SAMPLE_RATE
    return (0.3 * 32767 * np.sin(2 * np.pi * 220 * t)).astype(np.int16)


async def main() -> None:
    # The microphone: an aiortc track that sends whatever you `put()` in real time, and silence
    # in between, as a live microphone would.
    microphone = PcmAudioTrack()
    # Reply audio goes to this callback first (before `receive()` sees it): hand it to a player.
    reply: list[np.ndarray] = []
    client = LocalRealtimeWebRTC(audio_track=microphone, audio_output_callback=reply.append)

    # Server-side turn detection: the server decides when the user has finished speaking.
    settings = RealtimeSettings(turn_detection=TurnDetection(silence_duration_ms=300))
    async with client(settings=settings):  # connects: SDP exchange, ICE on 127.0.0.1, data channel
        await microphone.put(tone(1.0))  # "say" one second of something
        async for event in client.receive():
            match event:
                case RealtimeTextEvent():  # the transcript of the reply, as it streams
                    print(event.text.text, end="", flush=True)
                case RealtimeEvent(service_type=ListenEvents.INPUT_AUDIO_BUFFER_SPEECH_STARTED):
                    print("[the server hears you]")
                case RealtimeEvent(service_type=ListenEvents.INPUT_AUDIO_BUFFER_SPEECH_STOPPED):
                    print("[you stopped; the model answers]")
                case RealtimeEvent(service_type=ListenEvents.RESPONSE_DONE):
                    break  # over WebRTC too, all of a reply's audio arrives before its response.done
    seconds = sum(len(chunk) for chunk in reply) / SAMPLE_RATE
    print(f"\n[reply audio: {seconds:.2f} s received over RTP]")


if __name__ == "__main__":
    asyncio.run(main())
