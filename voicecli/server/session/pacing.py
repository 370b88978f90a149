"""How fast the local server generates a reply, like the service: a first-audio delay, then faster
than real time but not instantly, so a reply is still in flight when a client interrupts it.

The service's first audio comes roughly half a second after `response.create`, and a reply then
streams a few times faster than it plays (a ten-second answer is on the wire for seconds, which is
when barge-ins, cancels and truncates happen). `UNPACED` (speed `max`) streams as fast as the
client reads, with no first-audio delay: for tests that want speed, not behaviour.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

__all__ = ["DEFAULT_PACING", "MAX_SPEED", "UNPACED", "Pacing", "parse_speed", "serve_pacing"]

MAX_SPEED = "max"


@dataclass(frozen=True, slots=True)
class Pacing:
    """`first_audio_s` after a response starts comes its first audio (or text); from then on
    `speed` seconds of audio are produced per second. `speed` None: unpaced."""

    first_audio_s: float = 0.5
    speed: float | None = 4.0

    def __post_init__(self) -> None:
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
        if self.speed is None:
            return "unpaced (speed max)"
        return f"first audio after {self.first_audio_s * 1000:.0f} ms, {self.speed:g}x real time"


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


def serve_pacing(first_audio_ms: int, speed: str) -> Pacing:
    """The pacing `voicecli serve --first-audio-ms … --speed …` asks for; `ValueError` when it makes no sense."""
    parsed = parse_speed(speed)
    if parsed is None:
        return UNPACED
    return Pacing(first_audio_ms / 1000, parsed)
