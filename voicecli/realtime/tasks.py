"""`BackgroundTasks`: the tasks a client, call or connection starts on the side, and ends with it.

asyncio keeps only weak references to tasks, so a fire-and-forget task must be held somewhere until
it finishes; and a connection that ends must not leave its tasks running, nor cancel them without
waiting, or they run on (and log) after it has gone. A task that fails is logged when it ends:
nobody awaits these tasks, so its exception would otherwise vanish (asyncio only warns at exit).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any, TypeVar

__all__ = ["BackgroundTasks"]

T = TypeVar("T")
logger = logging.getLogger(__name__)


class BackgroundTasks:
    """A set of running tasks: `spawn` adds one (dropped once done), `close` cancels and awaits them."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def __len__(self) -> int:
        """How many tasks are still running."""
        return len(self._tasks)

    def spawn(self, work: Awaitable[T]) -> asyncio.Task[T]:
        """Run `work` as a task held until it is done."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            logger.error("a background task failed: %s", error, exc_info=error)

    async def close(self) -> None:
        """Cancel the tasks and wait until they have finished. When called from one of them, that
        one is left to run on: a task cannot wait for itself."""
        others = self._tasks - {asyncio.current_task()}
        for task in others:
            task.cancel()
        if others:
            await asyncio.wait(others)
