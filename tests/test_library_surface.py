"""`voicecli.realtime` is a library of its own: what it exports is pinned, it imports nothing of the
rest of voicecli, and everything it raises for a caller to catch is one tree under `RealtimeError`.

A change to the public surface must change this list on purpose (as httpx pins its `__all__`).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import voicecli.realtime as realtime

PUBLIC = [
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
LIBRARY = Path(realtime.__file__).parent


def test_the_public_surface_is_pinned_and_every_name_resolves() -> None:
    assert sorted(realtime.__all__) == PUBLIC
    for name in PUBLIC:
        assert getattr(realtime, name) is not None


def test_the_library_imports_nothing_of_the_rest_of_voicecli() -> None:
    """Every import in every module, lazy ones inside functions included."""
    outside: list[str] = []
    for module in sorted(LIBRARY.glob("*.py")):
        for node in ast.walk(ast.parse(module.read_text(), str(module))):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            outside += [f"{module.name}: {name}" for name in names if name.startswith("voicecli.")]
            outside = [entry for entry in outside if not entry.split(": ")[1].startswith("voicecli.realtime")]
    assert outside == []


def test_importing_the_library_loads_no_other_part_of_voicecli() -> None:
    code = (
        "import sys, voicecli.realtime, voicecli.realtime.webrtc;"
        "print(sorted(m for m in sys.modules if m.startswith('voicecli.') and not m.startswith('voicecli.realtime')))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert loaded.stdout.strip() == "[]"


def test_every_error_for_a_caller_is_a_realtime_error() -> None:
    assert issubclass(realtime.RealtimeConfigurationError, realtime.RealtimeError)
    assert issubclass(realtime.RealtimeConnectionError, realtime.RealtimeError)
    defined = {
        node.name
        for module in LIBRARY.glob("*.py")
        for node in ast.walk(ast.parse(module.read_text()))
        if isinstance(node, ast.ClassDef) and any(getattr(base, "id", "") == "Exception" for base in node.bases)
    }
    assert defined == {"RealtimeError"}  # one root: every other error the library defines derives from it
