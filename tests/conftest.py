"""Fixtures that wire the helpers of `support/`: real local realtime servers on loopback, the root logger,
and the grouping of the tests for the parallel workers."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator, Iterator

import pytest
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
async def paced_echo_server() -> AsyncIterator[LocalServer]:
    """Paced like the service (the default): for tests that interrupt a reply in flight."""
    server = LocalServer(brain="echo")
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


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups into the node ids
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Group tests for the parallel workers (`--dist loadgroup`).

    Every test that plays or records real audio runs in one worker, one after another, so paced
    streams never compete for the CPU with each other (on 2 cores, parallel paced streams starve each
    other into underruns, and PulseAudio then shifts or drops audio the tests measure); the other
    tests go by module (a module's fixtures are made once) and yield the CPU to the audio (see
    `pytest_configure`). Tests that play several scenarios side by side load the CPU most, so they
    come last in the audio worker, once the other workers have finished.
    """
    items.sort(key=lambda item: item.get_closest_marker("side_by_side") is not None)  # stable: the rest keep order
    for item in items:
        plays_audio = item.get_closest_marker("audio") or "pulse_audio" in getattr(item, "fixturenames", ())
        if plays_audio:
            item.add_marker(pytest.mark.audio)  # so `-m audio` / `-m "not audio"` select by what a test does
        group = "audio" if plays_audio else item.module.__name__ if item.module else "other"
        item.add_marker(pytest.mark.xdist_group(group))


def pytest_configure(config: pytest.Config) -> None:
    """Workers run at a lower priority until they play audio, so real-time audio never waits for the CPU."""
    if hasattr(config, "workerinput"):  # a pytest-xdist worker
        os.nice(NON_AUDIO_NICENESS)


@pytest.hookimpl(tryfirst=True)  # before the test's fixtures start PulseAudio and its processes
def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("audio") and os.getpriority(os.PRIO_PROCESS, 0) > 0:
        with contextlib.suppress(PermissionError):  # only root may; elsewhere all workers stay equal
            os.setpriority(os.PRIO_PROCESS, 0, 0)
