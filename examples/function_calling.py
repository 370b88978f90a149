"""Function calling: the model asks for a tool, the client runs your Python code, the model answers.

Tools are plain functions (typed parameters and a docstring are the whole description), or plugins
as in Semantic Kernel: an object whose `@tool` methods become tools named `Plugin-method`. The client
runs the calls by itself (`auto_invoke_tools=True`, the default), sends the results back and asks the
model to go on; `receive()` shows each call and its result as events.

    python examples/function_calling.py                     # the local server's scripted brain
    python examples/function_calling.py --provider openai   # needs OPENAI_API_KEY (or --provider azure)

Locally the `scripted` brain plays the model: examples/scripts/brains/function_calling.toml makes it
call both tools when asked about the weather.
"""

import argparse
import asyncio
import os
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from voicecli.realtime import (
    AzureRealtimeWebsocket,
    ListenEvents,
    OpenAIRealtimeWebsocket,
    RealtimeClient,
    RealtimeError,
    RealtimeErrorEvent,
    RealtimeEvent,
    RealtimeFunctionCallEvent,
    RealtimeFunctionResultEvent,
    RealtimeSettings,
    RealtimeTextEvent,
    SendEvents,
    TextContent,
    tool,
)
from voicecli.server import LocalRealtime

BRAIN_SCRIPT = Path(__file__).parent / "scripts" / "brains" / "function_calling.toml"
QUESTION = "What will the weather be like in Paris, and what time is it there?"


class WeatherPlugin:
    """A plugin: registered as `plugins={"Weather": WeatherPlugin()}`, its @tool methods become `Weather-...`."""

    FORECASTS = ("sunny, 21 degrees", "cloudy, 18 degrees", "light rain, 15 degrees")

    @tool
    def get_forecast(
        self, city: Annotated[str, "The city, e.g. Paris"], days: Annotated[int, "How many days, 1 to 3"] = 1
    ) -> str:
        """Get the weather forecast for a city."""
        days = max(1, min(days, len(self.FORECASTS)))
        return f"{city}: " + ", then ".join(self.FORECASTS[:days])

    def not_a_tool(self) -> None:
        """Methods without @tool stay private to your code."""


def get_local_time(timezone: Annotated[str, "IANA time zone, e.g. Europe/Paris"]) -> str:
    """Get the current local time in a time zone."""
    return f"It is {datetime.now(ZoneInfo(timezone)):%H:%M} in {timezone}."


def make_client(provider: str, **tools: Any) -> RealtimeClient:
    if provider == "openai":
        return OpenAIRealtimeWebsocket(**tools)
    if provider == "azure":
        return AzureRealtimeWebsocket(**tools)
    return LocalRealtime(brain="scripted", script=BRAIN_SCRIPT, **tools)


def asked_for_tools(done: RealtimeEvent) -> bool:
    """Whether a finished response called tools (then another response, with their results, follows)."""
    output = ((done.service_event or {}).get("response") or {}).get("output") or []
    return any(item.get("type") == "function_call" for item in output)


async def main(provider: str) -> None:
    # A plugin and a plain function; both end up in the session's `tools`.
    realtime_client = make_client(provider, plugins={"Weather": WeatherPlugin()}, tools=[get_local_time])
    settings = RealtimeSettings(
        instructions="Answer in one or two sentences. Use the tools for weather and time.",
        output_modalities=["text"],  # text only, to keep the example quiet; "audio" works the same
    )
    mid_line = False  # whether the assistant's text is being printed on the current line
    async with realtime_client(settings=settings):
        print(f"You: {QUESTION}")
        await realtime_client.send(RealtimeTextEvent(text=TextContent(QUESTION, source="user_text")))
        await realtime_client.send(RealtimeEvent(service_type=SendEvents.RESPONSE_CREATE))
        async for event in realtime_client.receive():
            match event:
                case RealtimeTextEvent():
                    if not mid_line:
                        print("Assistant: ", end="")
                    print(event.text.text, end="", flush=True)
                    mid_line = True
                case RealtimeFunctionCallEvent():
                    # The client is already running it; nothing to do but watch.
                    if mid_line:
                        print()
                    mid_line = False
                    print(f"  -> the model calls {event.function_call.name}({event.function_call.arguments})")
                case RealtimeFunctionResultEvent():
                    print(f"  <- {event.function_result.name} returned: {event.function_result.result}")
                case RealtimeErrorEvent():
                    print(f"\nError: {event.error.message}")
                    if event.error.fatal:
                        break
                case RealtimeEvent(service_type=ListenEvents.RESPONSE_DONE):
                    if mid_line:
                        print()
                    mid_line = False
                    if not asked_for_tools(event):  # the final answer is complete
                        break


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--provider", choices=["local", "openai", "azure"], default=os.environ.get("VOICECLI_PROVIDER", "local")
    )
    try:
        asyncio.run(main(parser.parse_args().provider))
    except RealtimeError as error:  # a missing key, a refused connection: one line, no traceback
        raise SystemExit(f"error: {error}") from None
