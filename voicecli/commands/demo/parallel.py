"""Many scripts at once on one event loop, at most `limit` at a time (each has its own session)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from voicecli.commands.demo.prepare import PreparedScript
from voicecli.commands.demo.results import ScriptRun
from voicecli.commands.demo.runner import RunObserver, run_script


async def run_parallel(scripts: Sequence[PreparedScript], limit: int, observer: RunObserver) -> list[ScriptRun]:
    """The runs in the order of `scripts`; a failing script never stops the others."""
    slots = asyncio.Semaphore(limit)

    async def run_one(prepared: PreparedScript) -> ScriptRun:
        async with slots:
            return await run_script(prepared, observer)

    return list(await asyncio.gather(*(run_one(prepared) for prepared in scripts)))
