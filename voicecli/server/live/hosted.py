"""A stand-in for GPT-Live's hosted (Responses) delegation on the local server: the event flow only.

With `delegation.type = "responses"` the service hands delegated work to a Responses model it runs
(with hosted tools such as web search), and relays that model's stream to the client as
`response.event`s carrying the delegation's id; the client runs nothing. The local server has no
Responses model and no hosted tools, so this emulates the flow, not the work: the brain's tool calls
are relayed as the backend's `function_call` items (nested `response.output_item.done`), no tool
runs (its output says so, `NOT_RUN`), and the brain's answer to that is the backend's text and what
the model says. It lets a client's handling and display of hosted work be tested offline; what a
real backend decides, calls and answers is not emulated.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import Any

from voicecli.server.events import Send
from voicecli.server.ids import new_id
from voicecli.server.session.conversation import Item

__all__ = ["NOT_RUN", "delegate"]

NOT_RUN = "the local server does not run hosted tools"


async def delegate(
    emit: Send, delegation_id: str, offset_ms: int, calls: Sequence[Item], answer: Awaitable[str]
) -> None:
    """Announce the hosted delegation, relay its calls, then the answer `answer` gives, as the service would."""
    response_id = new_id("resp")
    created = {"id": delegation_id, "target": "responses", "type": "delegation", "response_id": response_id}
    await emit({"type": "session.delegation.created", "delegation": created, "offset_ms": offset_ms})

    async def relay(event: dict[str, Any]) -> None:
        await emit({"type": "response.event", "delegation_id": delegation_id, "event": event})

    response = {"id": response_id, "object": "response", "status": "in_progress"}
    await relay({"type": "response.created", "response": response})
    for index, call in enumerate(calls):
        item = {**call.data, "status": "completed"}
        await relay({"type": "response.output_item.done", "output_index": index, "item": item})
    text = await answer
    await relay({"type": "response.output_text.done", "output_index": len(calls), "content_index": 0, "text": text})
    await relay({"type": "response.completed", "response": {**response, "status": "completed"}})
