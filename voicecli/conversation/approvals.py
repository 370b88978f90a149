"""Approving the calls of tools that change things, before they run.

The live screen asks (`y` runs the tool, `n` refuses; the model is told a refusal as the tool's
result); where nobody can be asked — file mode, demos — `--approve all|none` decides, and without it
such a tool is refused, never run unasked.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from voicecli.config import AppConfig
from voicecli.realtime.events import ErrorContent, RealtimeErrorEvent
from voicecli.realtime.functions import Approver, ToolRegistry
from voicecli.realtime.safe_text import shown

ANSWER_WAIT_S = 120.0
"""How long a question waits for its key; no answer is a refusal, so the conversation never stalls."""


def approval_notice(line: str) -> RealtimeErrorEvent:
    """A question or answer about a tool call, as the screen shows a non-fatal line."""
    return RealtimeErrorEvent(service_type="approval", error=ErrorContent(message=line, code="approval"))


def set_up_approvals(registry: ToolRegistry, config: AppConfig, asker: Approver | None = None) -> None:
    """The configured names that need approval, and who gives it: `tools.approve`, else `asker`."""
    registry.confirm_names |= set(config.tools.confirm)
    match config.tools.approve:
        case "all":
            registry.approver = _always(True)
        case "none":
            registry.approver = _always(False)
        case _:
            registry.approver = asker


def _always(answer: bool) -> Approver:
    async def decide(name: str, arguments: dict[str, Any]) -> bool:
        return answer

    return decide


class KeyApprovals:
    """Asks on the screen, one call at a time; `on_key` takes the answer (`y` or `n`)."""

    def __init__(self, show: Callable[[str], None], wait_s: float = ANSWER_WAIT_S) -> None:
        self.show = show
        self.wait_s = wait_s
        self._asking = asyncio.Lock()
        self._pending: asyncio.Future[bool] | None = None

    async def __call__(self, name: str, arguments: dict[str, Any]) -> bool:
        async with self._asking:
            self._pending = asyncio.get_running_loop().create_future()
            self.show(f"Run {name} {shown(_brief(arguments))}? Press y to run it, n to refuse.")
            try:
                async with asyncio.timeout(self.wait_s):
                    approved = await self._pending
            except TimeoutError:
                approved = False
            finally:
                self._pending = None
            self.show(f"{name}: {'approved' if approved else 'refused'}")
            return approved

    def before(self, handler: Callable[[str], None]) -> Callable[[str], None]:
        """A key handler that answers an open question first and passes every other key on."""

        def on_key(key: str) -> None:
            if not self.on_key(key):
                handler(key)

        return on_key

    def on_key(self, key: str) -> bool:
        """Answer the open question with `y` or `n`; False when the key is not an answer (not consumed)."""
        pending = self._pending
        if pending is None or pending.done() or key not in "yYnN" or not key:
            return False
        pending.set_result(key in "yY")
        return True


def _brief(arguments: dict[str, Any]) -> str:
    text = json.dumps(arguments, ensure_ascii=False, default=str)
    return text if len(text) <= 200 else text[:199] + "…"
