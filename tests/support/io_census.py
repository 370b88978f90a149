"""Which tests wait on the world: sockets, processes, real sleeps, PulseAudio (issue 25's aim: two
thirds of the behaviour tests without any of them).

Off unless `VOICECLI_IO_CENSUS` names a folder: then every test process (each xdist worker) writes
one JSON line per test to a file of its own there, `{"test": node id, "io": [...]}`, where `io` holds
what the test did between its set-up and its teardown:
- `socket`: a socket connected or bound (loopback servers, WebSocket and WebRTC clients, aiohttp);
- `process`: a subprocess started (the CLI, `voicecli serve`, espeak-ng, tmux, parec);
- `sleep`: `time.sleep` or `asyncio.sleep` for more than zero seconds (polling included);
- `audio`: the test is marked `audio` (real PulseAudio streams, which Python cannot see opening).
A fixture shared by several tests (a module's server, say) counts for the first test that makes it.
`benchmarks/io_census.py` runs the tests with it and prints the shares.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import socket
import subprocess
import time
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

VARIABLE = "VOICECLI_IO_CENSUS"


class IoCensus:
    """A pytest plugin: notes the I/O each test does, by wrapping the few functions all of it goes through."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        self._out = (folder / f"census-{worker}-{os.getpid()}.jsonl").open("a", encoding="utf-8")
        self._seen: set[str] | None = None  # None between tests
        self._wrap(socket.socket, "connect", "socket")
        self._wrap(socket.socket, "connect_ex", "socket")
        self._wrap(socket.socket, "bind", "socket")
        self._wrap(subprocess.Popen, "__init__", "process")
        self._wrap(time, "sleep", "sleep", when=lambda seconds, *_: seconds > 0)
        self._wrap(asyncio, "sleep", "sleep", when=lambda delay, *_a, **_k: delay > 0)

    def _wrap(self, owner: Any, name: str, what: str, when: Callable[..., bool] = lambda *_a, **_k: True) -> None:
        original = getattr(owner, name)
        is_method = isinstance(owner, type)
        census = self

        if asyncio.iscoroutinefunction(original):

            @functools.wraps(original)
            async def wrapped_coroutine(*args: Any, **kwargs: Any) -> Any:
                census._note(what, when, args, kwargs)
                return await original(*args, **kwargs)

            setattr(owner, name, wrapped_coroutine)
            return

        @functools.wraps(original)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            census._note(what, when, args[1:] if is_method else args, kwargs)
            return original(*args, **kwargs)

        setattr(owner, name, wrapped)

    def _note(self, what: str, when: Callable[..., bool], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        if self._seen is not None and what not in self._seen:
            try:
                if when(*args, **kwargs):
                    self._seen.add(what)
            except TypeError:  # an unusual call: count it
                self._seen.add(what)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Generator[None, object, object]:
        self._seen = {"audio"} if item.get_closest_marker("audio") else set()
        try:
            return (yield)
        finally:
            seen, self._seen = self._seen, None
            self._out.write(json.dumps({"test": item.nodeid, "io": sorted(seen)}) + "\n")
            self._out.flush()


def enable(config: pytest.Config) -> None:
    """Register the census when `VOICECLI_IO_CENSUS` asks for it."""
    folder = os.environ.get(VARIABLE)
    if folder:
        config.pluginmanager.register(IoCensus(Path(folder)), "voicecli-io-census")


def read(folder: Path) -> Iterator[tuple[str, list[str]]]:
    """Every test's node id and what it did, from all the files a run left in `folder`."""
    for path in sorted(folder.glob("census-*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            yield record["test"], record["io"]
