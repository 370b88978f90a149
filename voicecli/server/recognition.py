"""Offline speech recognition for the local server: expected phrases by pocketsphinx's grammar, the rest by Whisper.

A grammar of the phrases the brain expects recognises them exactly in a few tens of milliseconds
(pocketsphinx, whose English model ships in its wheel; `recognition_worker`); free speech goes to
Whisper tiny.en (`recognition_whisper`, the `speech` extra), both at once so that the grammar's
check adds no wait. Without the extra, pocketsphinx decodes free speech too, poorly.
pocketsphinx decodes in worker processes (it holds the GIL while it decodes), each driven by a
thread of this module's own pool that only waits on the worker's pipe:
never the event loop, nor the threads that synthesize speech, so other sessions are not held up.
Without pocketsphinx installed, expected phrases are left to Whisper; with neither recogniser,
`recognise` returns None. Each missing piece is named once in the server's log.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from voicecli.server import recognition_whisper
from voicecli.server.recognition_worker import normalise, read_frame, write_frame

__all__ = ["Recognition", "RecognitionError", "available", "normalise", "recognise", "warm_up"]

_log = logging.getLogger(__name__)
_WORKER = Path(__file__).with_name("recognition_worker.py")
_WORKERS = min(2, os.cpu_count() or 1)
_pool: ThreadPoolExecutor | None = None
_local = threading.local()  # each pool thread's worker process


@dataclass(frozen=True, slots=True)
class Recognition:
    """What was recognised in one turn: the words, and whether a phrase of the grammar matched."""

    text: str
    mode: Literal["grammar", "free"]


class RecognitionError(Exception):
    """The worker failed on a turn, or ended."""


@functools.cache
def available() -> bool:
    """Whether pocketsphinx is installed; logs once when it is not."""
    if importlib.util.find_spec("pocketsphinx") is None:
        _log.warning(
            "pocketsphinx is not installed: the local server cannot recognise speech "
            "(pip install pocketsphinx); spoken turns are described by their duration"
        )
        return False
    return True


async def recognise(
    pcm: bytes, phrases: Iterable[str] = (), *, started: Future[str] | None = None
) -> Recognition | None:
    """Recognise 24 kHz pcm16 speech; `phrases` are what the listener expects (a match wins).

    `started` is a Whisper decoding of this same speech already under way (`recognition_stream`).
    Returns None when no recogniser is installed; raises `RecognitionError` when one fails.
    A matched phrase comes back as it was written.
    """
    expected = list(phrases)
    if not recognition_whisper.available():
        if not available():
            return None
        return await _in_worker(pcm, expected, free=True)
    words = started or recognition_whisper.submit(pcm)
    if expected and available():
        matched = await _in_worker(pcm, expected, free=False)
        if matched is not None:
            words.cancel()  # only stops a decoding that has not begun
            return matched
    try:
        return Recognition(await asyncio.wrap_future(words), "free")
    except Exception as exc:
        raise RecognitionError(f"Whisper failed: {type(exc).__name__}: {exc}") from None


def warm_up(*, grammar: bool = True) -> list[Future[Any]]:
    """Start loading the recognisers that are installed (a second or two) in the background; with
    Whisper, pocketsphinx's worker (a process of about 100 MB) only when phrases are expected (`grammar`)."""
    loading: list[Future[Any]] = []
    if available() and (grammar or not recognition_whisper.available()):
        loading.append(_threads().submit(_worker))
    if recognition_whisper.available():
        loading.append(recognition_whisper.warm_up())
    return loading


async def _in_worker(pcm: bytes, phrases: list[str], *, free: bool) -> Recognition | None:
    return await asyncio.wrap_future(_threads().submit(_recognise, pcm, phrases, free))


def _threads() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="voicecli-recognition")
    return _pool


def _worker() -> subprocess.Popen[bytes]:
    """This thread's worker process, started (and waited for until its decoder is loaded) on first use."""
    process: subprocess.Popen[bytes] | None = getattr(_local, "process", None)
    if process is not None and process.poll() is None:
        return process
    # -I: isolated, the worker sees neither the user's environment variables for Python nor their folder
    process = subprocess.Popen(
        [sys.executable, "-I", str(_WORKER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    _local.process = process
    assert process.stdout is not None
    if read_frame(process.stdout) != {"ready": True}:
        process.kill()
        raise RecognitionError("the speech recognition worker did not start")
    return process


def _recognise(pcm: bytes, phrases: list[str], free: bool) -> Recognition | None:
    """The worker's answer; None when only the grammar was asked for and no phrase matched."""
    process = _worker()
    assert process.stdin is not None and process.stdout is not None
    try:
        write_frame(process.stdin, {"phrases": phrases, "free": free, "bytes": len(pcm)}, pcm)
        answer = read_frame(process.stdout)
    except (OSError, EOFError, ValueError) as exc:
        answer = {"error": f"lost the worker: {exc}"}
    if answer is None or "error" in answer:
        if answer is None or process.poll() is not None:
            process.kill()  # the next turn starts a new one
        raise RecognitionError((answer or {}).get("error") or "the speech recognition worker ended")
    return None if answer["mode"] == "none" else Recognition(answer["text"], answer["mode"])
