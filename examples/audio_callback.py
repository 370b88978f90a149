"""Low-latency audio: hand each chunk of the model's voice to a callback the moment it arrives.

The client calls `audio_output_callback` with every audio delta (24 kHz mono int16 numpy samples)
*before* the event is queued for `receive()`, so playback never waits for your event loop to get
round to it. Here the "player" only collects the chunks and notes when each arrived; at the end the
reply is written to a WAV file. No audio device is needed.

With a sound card, play the reply instead; `Player` resamples to the device and plays from a ring
buffer, so its `add_audio` is cheap enough to be the callback itself:

    from voicecli.audio.player import Player

    with Player() as player:                     # default output device; Player("USB") picks one by name
        client = LocalRealtime(audio_output_callback=player.add_audio)
        async with client(settings=settings):
            ...                                  # the voice plays while it streams in
        player.finish()                          # push out the resampler's last samples

    python examples/audio_callback.py [--output reply.wav] [--provider openai|azure]
"""

import argparse
import asyncio
import os
import time
from pathlib import Path

import numpy as np

from voicecli.audio.wavio import write_wav
from voicecli.realtime import (
    AzureRealtimeWebsocket,
    ListenEvents,
    OpenAIRealtimeWebsocket,
    RealtimeClient,
    RealtimeError,
    RealtimeErrorEvent,
    RealtimeEvent,
    RealtimeSettings,
    RealtimeTextEvent,
    SendEvents,
    TextContent,
)
from voicecli.realtime.events import SAMPLE_RATE
from voicecli.server import LocalRealtime

MESSAGE = "Count slowly from one to five, please."


class CollectingPlayer:
    """Stands in for a player: keeps every chunk and when it arrived."""

    def __init__(self) -> None:
        self.chunks: list[np.ndarray] = []
        self.arrivals: list[float] = []
        self.asked_at = time.perf_counter()

    def __call__(self, pcm: np.ndarray) -> None:
        # Called for every audio delta, on the event loop: do as little as possible, never block.
        self.arrivals.append(time.perf_counter() - self.asked_at)
        self.chunks.append(pcm)

    @property
    def audio(self) -> np.ndarray:
        return np.concatenate(self.chunks) if self.chunks else np.zeros(0, dtype=np.int16)


def make_client(provider: str, player: CollectingPlayer) -> RealtimeClient:
    if provider == "openai":
        return OpenAIRealtimeWebsocket(audio_output_callback=player)
    if provider == "azure":
        return AzureRealtimeWebsocket(audio_output_callback=player)
    return LocalRealtime(audio_output_callback=player)  # the echo brain repeats the message aloud


async def main(provider: str, output: Path) -> None:
    player = CollectingPlayer()
    realtime_client = make_client(provider, player)
    async with realtime_client(settings=RealtimeSettings(voice="alloy", output_modalities=["audio"])):
        print(f"You: {MESSAGE}")
        player.asked_at = time.perf_counter()
        await realtime_client.send(RealtimeTextEvent(text=TextContent(MESSAGE, source="user_text")))
        await realtime_client.send(RealtimeEvent(service_type=SendEvents.RESPONSE_CREATE))
        # The audio never shows up here: the callback has it already. We only wait for the end.
        async for event in realtime_client.receive():
            match event:
                case RealtimeErrorEvent():
                    print(f"Error: {event.error.message}")
                    if event.error.fatal:
                        break
                case RealtimeEvent(service_type=ListenEvents.RESPONSE_DONE):
                    break
    audio = player.audio
    if not player.chunks:
        print("No audio arrived.")
        return
    first_ms, last_ms = player.arrivals[0] * 1000, player.arrivals[-1] * 1000
    print(f"{len(player.chunks)} chunks, {len(audio) / SAMPLE_RATE:.1f} s of audio")
    print(f"first chunk {first_ms:.0f} ms after the request, last after {last_ms:.0f} ms (faster than real time)")
    output.parent.mkdir(parents=True, exist_ok=True)
    write_wav(output, audio)
    print(f"wrote {output}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--provider", choices=["local", "openai", "azure"], default=os.environ.get("VOICECLI_PROVIDER", "local")
    )
    parser.add_argument("--output", type=Path, default=Path("demo-output") / "audio_callback.wav")
    arguments = parser.parse_args()
    try:
        asyncio.run(main(arguments.provider, arguments.output))
    except RealtimeError as error:  # a missing key, a refused connection: one line, no traceback
        raise SystemExit(f"error: {error}") from None
