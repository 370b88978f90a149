"""`voicecli phone --dial URL`: call a bridge's media WebSocket as ACS would, from a file or the terminal.

With `--input-file` the file is spoken in real time, the reply is listened to until it has played
and gone quiet, and `--output-file` gets what was heard; status lines go to stderr. Without it
the microphone speaks and the speaker plays the reply (StopAudio flushes it) until Ctrl-C or the
bridge hangs up.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO
from urllib.parse import urlparse

from voicecli.audio.wavio import read_audio_24k_mono, write_wav
from voicecli.config import ConfigError
from voicecli.phone.dialer import Dialer, DialError
from voicecli.realtime.events import SAMPLE_RATE

if TYPE_CHECKING:
    from voicecli.audio.capture import Capture


async def run_dial(
    url: str,
    *,
    input_file: Path | None,
    output_file: Path | None,
    timeout_s: float,
    input_device: str | None = None,
    output_device: str | None = None,
    status: TextIO | None = None,
) -> int:
    """Place one call; returns the exit code (1 when no reply was heard or the bridge is unreachable)."""
    status = status or sys.stderr
    if urlparse(url).scheme not in ("ws", "wss"):
        raise ConfigError(f"--dial {url!r}: expected the bridge's media WebSocket, ws://HOST:PORT/ws")
    try:
        if input_file is not None:
            return await _dial_with_file(url, input_file, output_file, timeout_s, status)
        return await _dial_live(url, input_device, output_device, status)
    except DialError as exc:
        status.write(f"voicecli: error: {exc}\n")
        return 1


async def _dial_with_file(
    url: str, input_file: Path, output_file: Path | None, timeout_s: float, status: TextIO
) -> int:
    speech = read_audio_24k_mono(input_file)
    async with Dialer(url) as call:
        status.write(f"calling {url}\n")
        await call.speak(speech)
        spoken_at = asyncio.get_running_loop().time()
        status.write(f"said {len(speech) / SAMPLE_RATE:.1f} s of {input_file.name}\n")
        answered = await call.listen_until_quiet(timeout_s)
        hung_up = call.closed.is_set()
    heard = call.heard
    reply = heard.audio
    if output_file is not None and len(reply):
        write_wav(output_file, reply)
        status.write(f"reply audio: {len(reply) / SAMPLE_RATE:.2f} s written to {output_file}\n")
    if heard.first_audio_at is not None:
        after_ms = max(0.0, heard.first_audio_at - spoken_at) * 1000
        status.write(f"first reply audio {after_ms:.0f} ms after the end of the file; StopAudio x{heard.stops}\n")
    if hung_up:
        status.write("the bridge hung up\n")
    if not answered:
        status.write(f"voicecli: error: no complete reply within {timeout_s:g} s\n")
        return 1
    return 0


async def _dial_live(url: str, input_device: str | None, output_device: str | None, status: TextIO) -> int:
    from voicecli.audio.capture import Capture
    from voicecli.audio.player import Player
    from voicecli.commands.devices import choose_device

    microphone = choose_device(input_device, "input")
    speaker = choose_device(output_device, "output")
    with Player(speaker.index) as player:
        capture = Capture(microphone.index)
        replies = 0

        def on_stop() -> None:
            nonlocal replies
            player.flush()
            replies += 1  # what follows a StopAudio is a new reply, not the flushed one resumed

        async with Dialer(url, on_audio=lambda pcm: player.add_audio(pcm, f"reply-{replies}"), on_stop=on_stop) as call:
            status.write(f"calling {url}: speak; Ctrl-C hangs up\n")
            capture.start()
            hang_up = asyncio.Event()
            loop = asyncio.get_running_loop()
            loop.add_signal_handler(signal.SIGINT, hang_up.set)
            try:
                await _pump(capture, call, hang_up)
            finally:
                loop.remove_signal_handler(signal.SIGINT)
                capture.stop()
    status.write("the bridge hung up\n" if call.closed.is_set() else "hung up\n")
    return 0


async def _pump(capture: Capture, call: Dialer, hang_up: asyncio.Event) -> None:
    """Microphone chunks (every 20 ms) to the call until Ctrl-C or the bridge ends the call."""
    async for chunk in capture:
        if hang_up.is_set() or call.closed.is_set():
            return
        await call.send(chunk)
