"""Fixtures that wire the helpers of `support/`: real local realtime servers on loopback, the root logger,
and the grouping of the tests for the parallel workers."""

from __future__ import annotations

import collections
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Iterator

import pytest
from support import io_census
from support.servers import WEATHER_SCRIPT

from voicecli.server import UNPACED, LocalServer

# The tests answer with the plain echo brain, whether or not this machine runs a local chat model that
# `brain = "auto"` would find; the tests of that choice set the brain themselves.
os.environ.setdefault("VOICECLI_BRAIN", "echo")


@pytest.fixture
async def echo_server() -> AsyncIterator[LocalServer]:
    """Unpaced (speed `max`): for tests that want replies fast, not timed like the service."""
    server = LocalServer(brain="echo", pacing=UNPACED)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def weather_server() -> AsyncIterator[LocalServer]:
    server = LocalServer(brain="scripted", script=WEATHER_SCRIPT, pacing=UNPACED)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    """The root logger, put back as it was afterwards (the CLI's logging set-up changes it)."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    yield root
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    for handler in saved[0]:
        root.addHandler(handler)
    root.setLevel(saved[1])
    logging.captureWarnings(False)


NON_AUDIO_NICENESS = 10


AUDIO_LANES = int(os.environ.get("VOICECLI_AUDIO_LANES", "1"))
"""Workers the audio tests share: 1, or 2 (with `-n 5`). Two lanes took the audio from 253 s to
about 150 s, but the full run with them on a busy 2-core machine failed three of the 52 audio tests
(a reply cut short, a truncate 300 ms short of the speaker, `echo auto` giving up the canceller): one stays the
default, as deterministic as before."""
ECHO_RIG_LANE = {
    "test_echo_rig",
    "test_echo_rig_barge_in",
    "test_local_barge_in",
    "test_conversation",
    "test_audio_player",
}
"""With two lanes, the first: the long replies on leaking speakers and the barge-in tests that cut
them; the second has the rest (`voicecli talk` sessions, restarts, rollovers, tmux, the devices)."""


def audio_lane(module: str) -> int:
    return 0 if AUDIO_LANES < 2 or module in ECHO_RIG_LANE else 1


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups into the node ids
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Group and order the tests for the parallel workers (`--dist loadgroup`, the groups handed out
    in this order: `--no-loadscope-reorder`).

    The tests that play or record real audio run in a lane (two with `AUDIO_LANES`), a worker each,
    one test after another, each worker with a PulseAudio daemon of its own (tests/support/audio.py):
    on 2 cores, paced streams played at once starve each other into underruns, and PulseAudio then
    shifts or drops the audio the tests measure. The lanes are handed out first, being the longest.
    The other tests go by module (a module's fixtures are made once), the larger modules first, and
    yield the CPU to the audio (see `pytest_configure`). Tests that play several scenarios side by
    side load the CPU most: the first lane plays them last, once the other workers are done, and a
    second lane first, so that no two lanes play theirs at once.
    """
    groups: dict[pytest.Item, str] = {}
    for item in items:
        module = item.module.__name__ if item.module else "other"
        plays_audio = item.get_closest_marker("audio") or "pulse_audio" in getattr(item, "fixturenames", ())
        if plays_audio:
            item.add_marker(pytest.mark.audio)  # so `-m audio` / `-m "not audio"` select by what a test does
        groups[item] = f"audio-{audio_lane(module)}" if plays_audio else module
        item.add_marker(pytest.mark.xdist_group(groups[item]))
    sizes = collections.Counter(groups.values())

    def order(item: pytest.Item) -> tuple[bool, int, str, int]:
        """Lanes first, then the larger groups; in a lane its side-by-side tests at one end."""
        group = groups[item]
        lane = group.startswith("audio-")
        side_by_side = item.get_closest_marker("side_by_side") is not None
        place = 1 if not side_by_side else 2 if int(group.removeprefix("audio-") if lane else 0) % 2 == 0 else 0
        return not lane, -sizes[group], group, place

    items.sort(key=order)  # stable: a group's tests keep their order otherwise


def pytest_configure(config: pytest.Config) -> None:
    """Workers run at a lower priority until they play audio, so real-time audio never waits for the CPU;
    the I/O census (tests/support/io_census.py) when `VOICECLI_IO_CENSUS` asks for it."""
    if hasattr(config, "workerinput"):  # a pytest-xdist worker
        os.nice(NON_AUDIO_NICENESS)
    io_census.enable(config)


@pytest.hookimpl(tryfirst=True)  # before the test's fixtures start PulseAudio and its processes
def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("audio") and os.getpriority(os.PRIO_PROCESS, 0) > 0:
        with contextlib.suppress(PermissionError):  # only root may; elsewhere all workers stay equal
            os.setpriority(os.PRIO_PROCESS, 0, 0)
