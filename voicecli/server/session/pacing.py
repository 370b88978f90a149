"""How fast the local server generates a reply, like the service: a first-audio delay, then faster
than real time but not instantly, so a reply is still in flight when a client interrupts it.

The service's first audio comes roughly half a second after `response.create`, and a reply then
streams a few times faster than it plays (a ten-second answer is on the wire for seconds, which is
when barge-ins, cancels and truncates happen). `UNPACED` (speed `max`) streams as fast as the
client reads, with no first-audio delay: for tests that want speed, not behaviour.

The service also hears a person late: its VAD (with its prefix padding) and the round trip put a few
hundred milliseconds between the first syllable and `speech_started` at the client. `vad_delay_s`
imitates that, so that a client's own onset detection can be tested against realistic timing.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

__all__ = ["DEFAULT_PACING", "MAX_SPEED", "MAX_VAD_DELAY_S", "UNPACED", "Pacing", "parse_speed", "serve_pacing"]

MAX_SPEED = "max"
MAX_VAD_DELAY_S = 0.9  # within the second of audio the input buffer keeps before a turn's padding


@dataclass(frozen=True, slots=True)
class Pacing:
    """`first_audio_s` after a response starts comes its first audio (or text); from then on
    `speed` seconds of audio are produced per second. `speed` None: unpaced. The VAD's turn events
    go out `vad_delay_s` (of input audio) after it detects them."""

    first_audio_s: float = 0.5
    speed: float | None = 4.0
    vad_delay_s: float = 0.0

    def __post_init__(self) -> None:
        if not 0 <= self.vad_delay_s <= MAX_VAD_DELAY_S:
            limit, given = MAX_VAD_DELAY_S * 1000, self.vad_delay_s * 1000
            raise ValueError(f"the VAD delay must be 0 to {limit:g} ms, not {given:g} ms")
        if self.first_audio_s < 0:
            raise ValueError(f"the first-audio delay must be 0 ms or more, not {self.first_audio_s * 1000:g} ms")
        if self.speed is not None and self.speed <= 0:
            raise ValueError(f"the speed must be more than 0 (or {MAX_SPEED!r}), not {self.speed:g}")

    def due(self, produced_s: float) -> float:
        """When the output after `produced_s` seconds of audio may go out, in seconds after the
        response started (0 when unpaced)."""
        if self.speed is None:
            return 0.0
        return self.first_audio_s + produced_s / self.speed

    async def wait(self, started: float, produced_s: float, interrupt: asyncio.Event) -> None:
        """Sleep until `due(produced_s)` after the loop time `started`, or until `interrupt` is set
        (at least yield, unpaced)."""
        delay = started + self.due(produced_s) - asyncio.get_running_loop().time()
        if delay <= 0 or interrupt.is_set():
            await asyncio.sleep(0)
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await interrupt.wait()

    def describe(self) -> str:
        vad = f", VAD events {self.vad_delay_s * 1000:.0f} ms late" if self.vad_delay_s else ""
        if self.speed is None:
            return f"unpaced (speed max){vad}"
        return f"first audio after {self.first_audio_s * 1000:.0f} ms, {self.speed:g}x real time{vad}"


DEFAULT_PACING = Pacing()
UNPACED = Pacing(0.0, None)


def parse_speed(value: str | float) -> float | None:
    """A speed as a flag or the configuration gives it: a number of times real time, or `max`
    (None); `ValueError` with a message for anything else."""
    if isinstance(value, str) and value.strip().lower() == MAX_SPEED:
        return None
    try:
        speed = float(value)
    except ValueError:
        raise ValueError(f"speed {value!r} is neither a number nor {MAX_SPEED!r}") from None
    if not speed > 0 or speed == float("inf"):
        raise ValueError(f"speed {value!r} must be a number more than 0, or {MAX_SPEED!r}")
    return speed


def serve_pacing(first_audio_ms: int, speed: str | float, vad_delay_ms: int = 0) -> Pacing:
    """The pacing `voicecli serve --first-audio-ms … --speed … --vad-delay-ms …` (or `[local]`) asks
    for; `ValueError` when it makes no sense."""
    parsed = parse_speed(speed)
    if parsed is None:
        return Pacing(0.0, None, vad_delay_ms / 1000)
    return Pacing(first_audio_ms / 1000, parsed, vad_delay_ms / 1000)
