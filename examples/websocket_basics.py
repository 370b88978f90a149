"""The realtime client library in one screen: open a session over WebSocket and stream its events.

It follows the Semantic Kernel realtime sample: `async with client(settings=..., create_response=True):`
then `async for event in client.receive(): match event: ...`. The model speaks first (that is what
`create_response=True` asks for); when it is done we type one message, print the answer, and stop.

    python examples/websocket_basics.py                     # voicecli's local server: no key, no network
    python examples/websocket_basics.py --provider openai   # needs OPENAI_API_KEY
    python examples/websocket_basics.py --provider azure    # needs AZURE_OPENAI_ENDPOINT, AZURE_OPENAI_API_KEY
                                                            # and AZURE_OPENAI_REALTIME_DEPLOYMENT_NAME
The provider can also come from the environment: VOICECLI_PROVIDER=openai.
"""

import argparse
import asyncio
import os

from voicecli.realtime import (
    AzureRealtimeWebsocket,
    ListenEvents,
    OpenAIRealtimeExecutionSettings,
    OpenAIRealtimeWebsocket,
    RealtimeAudioEvent,
    RealtimeClient,
    RealtimeError,
    RealtimeErrorEvent,
    RealtimeEvent,
    RealtimeTextEvent,
    SendEvents,
    TextContent,
)
from voicecli.server import LocalRealtime

QUESTION = "In one sentence: what can a realtime voice model do?"


def make_client(provider: str) -> RealtimeClient:
    """Each client reads its endpoint and key from the environment; pass them as arguments to override."""
    if provider == "openai":
        return OpenAIRealtimeWebsocket()  # OPENAI_API_KEY, OPENAI_REALTIME_MODEL_ID (default gpt-realtime)
    if provider == "azure":
        # Azure instead of OpenAI is this one line; everything below stays the same.
        return AzureRealtimeWebsocket()  # AZURE_OPENAI_ENDPOINT, AZURE_OPENAI_API_KEY, ..._DEPLOYMENT_NAME
    # voicecli's own realtime server, started inside this process on 127.0.0.1 (its `echo` brain
    # repeats what it is told).
    return LocalRealtime()


async def main(provider: str) -> None:
    realtime_client = make_client(provider)
    settings = OpenAIRealtimeExecutionSettings(
        instructions="You are a cheerful assistant. Keep every answer to one short sentence.",
        voice="alloy",
    )
    audio_seconds = 0.0
    responses = 0
    async with realtime_client(settings=settings, create_response=True):
        async for event in realtime_client.receive():
            match event:
                case RealtimeAudioEvent():
                    # A piece of the model's voice: 24 kHz mono int16 samples in `event.audio.data`.
                    # A player would queue it here (see examples/audio_callback.py for a faster path).
                    audio_seconds += event.audio.duration_ms / 1000
                case RealtimeTextEvent():
                    # A piece of the transcript of what the model says.
                    print(event.text.text, end="", flush=True)
                case RealtimeErrorEvent():
                    print(f"\nError: {event.error.message}")
                    if event.error.fatal:
                        break
                case _:
                    # Every other service event, with its wire type in `service_type`.
                    if event.service_type == ListenEvents.SESSION_UPDATED:
                        print("Session updated")
                    if event.service_type == ListenEvents.RESPONSE_CREATED:
                        print("\nAssistant (transcript): ", end="", flush=True)
                    if event.service_type == ListenEvents.RESPONSE_DONE:
                        responses += 1
                        if responses == 2:  # the answer to our message is complete
                            break
                        # The greeting is over: type a message, then ask for a response.
                        print(f"\nYou: {QUESTION}")
                        await realtime_client.send(RealtimeTextEvent(text=TextContent(QUESTION, source="user_text")))
                        await realtime_client.send(RealtimeEvent(service_type=SendEvents.RESPONSE_CREATE))
    print(f"\n\n{audio_seconds:.1f} s of audio received.")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--provider", choices=["local", "openai", "azure"], default=os.environ.get("VOICECLI_PROVIDER", "local")
    )
    try:
        asyncio.run(main(parser.parse_args().provider))
    except RealtimeError as error:  # a missing key, a refused connection: one line, no traceback
        raise SystemExit(f"error: {error}") from None
