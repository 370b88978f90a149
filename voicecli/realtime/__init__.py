"""voicecli's realtime client library: one API over OpenAI / Azure OpenAI realtime, GPT-Live and Azure Voice Live.

`RealtimeClient(transport=...)` is the one client; the provider classes below build its transport
for an endpoint, and `MemoryTransport` lets a test play the service without a socket.

It imports nothing else of voicecli (no audio devices, terminal UI or server), so other programs can
use it on its own; voicecli's embedded local server is reached through `voicecli.server.LocalRealtime`. The WebRTC
clients load aiortc only when first used.
"""

from typing import Any

from voicecli.realtime.azure_ws import AzureRealtimeWebsocket
from voicecli.realtime.client import (
    RealtimeClient,
    RealtimeConfigurationError,
    RealtimeConnectionError,
    RealtimeError,
)
from voicecli.realtime.continuity import Continuity, ContinuityEvents
from voicecli.realtime.events import (
    AudioContent,
    ErrorContent,
    FunctionCallContent,
    FunctionResultContent,
    McpApprovalContent,
    McpCallContent,
    McpToolsContent,
    RealtimeAudioEvent,
    RealtimeErrorEvent,
    RealtimeEvent,
    RealtimeFunctionCallEvent,
    RealtimeFunctionResultEvent,
    RealtimeMcpApprovalEvent,
    RealtimeMcpCallEvent,
    RealtimeMcpToolsEvent,
    RealtimeTextEvent,
    RealtimeWordEvent,
    TextContent,
    WordTimestampContent,
)
from voicecli.realtime.functions import ToolRegistry, tool
from voicecli.realtime.live_ws import AzureLiveWebsocket, OpenAILiveWebsocket
from voicecli.realtime.openai_ws import OpenAIRealtimeWebsocket
from voicecli.realtime.protocol import ListenEvents, SendEvents
from voicecli.realtime.settings import (
    AzureRealtimeExecutionSettings,
    OpenAIRealtimeExecutionSettings,
    RealtimeSettings,
    TurnDetection,
)
from voicecli.realtime.transport import MemoryTransport, Transport, TransportSink
from voicecli.realtime.usage import ModelPrices, TokenUsage, UsageMeter
from voicecli.realtime.voice_live import VoiceLiveOptions, VoiceLiveWebsocket

_WEBRTC_NAMES = {"OpenAIRealtimeWebRTC", "AzureRealtimeWebRTC", "PcmAudioTrack"}
_LIVE_WEBRTC_NAMES = {"OpenAILiveWebRTC", "AzureLiveWebRTC"}


def __getattr__(name: str) -> Any:
    """Load the WebRTC clients (and aiortc) only when asked for."""
    if name in _WEBRTC_NAMES:
        from voicecli.realtime import webrtc

        return getattr(webrtc, name)
    if name in _LIVE_WEBRTC_NAMES:
        from voicecli.realtime import live_webrtc

        return getattr(live_webrtc, name)
    if name == "VoiceLiveWebRTC":
        from voicecli.realtime.voice_live_webrtc import VoiceLiveWebRTC

        return VoiceLiveWebRTC
    raise AttributeError(f"module 'voicecli.realtime' has no attribute {name!r}")


__all__ = [
    "AudioContent",
    "AzureLiveWebRTC",
    "AzureLiveWebsocket",
    "AzureRealtimeExecutionSettings",
    "AzureRealtimeWebRTC",
    "AzureRealtimeWebsocket",
    "Continuity",
    "ContinuityEvents",
    "ErrorContent",
    "FunctionCallContent",
    "FunctionResultContent",
    "ListenEvents",
    "McpApprovalContent",
    "McpCallContent",
    "McpToolsContent",
    "MemoryTransport",
    "ModelPrices",
    "OpenAILiveWebRTC",
    "OpenAILiveWebsocket",
    "OpenAIRealtimeExecutionSettings",
    "OpenAIRealtimeWebRTC",
    "OpenAIRealtimeWebsocket",
    "PcmAudioTrack",
    "RealtimeAudioEvent",
    "RealtimeClient",
    "RealtimeConfigurationError",
    "RealtimeConnectionError",
    "RealtimeError",
    "RealtimeErrorEvent",
    "RealtimeEvent",
    "RealtimeFunctionCallEvent",
    "RealtimeFunctionResultEvent",
    "RealtimeMcpApprovalEvent",
    "RealtimeMcpCallEvent",
    "RealtimeMcpToolsEvent",
    "RealtimeSettings",
    "RealtimeTextEvent",
    "RealtimeWordEvent",
    "SendEvents",
    "TextContent",
    "TokenUsage",
    "ToolRegistry",
    "Transport",
    "TransportSink",
    "TurnDetection",
    "UsageMeter",
    "VoiceLiveOptions",
    "VoiceLiveWebRTC",
    "VoiceLiveWebsocket",
    "WordTimestampContent",
    "tool",
]
