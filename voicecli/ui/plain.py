"""Line-by-line transcript for pipes, CI and file mode: assistant text streams as it arrives.

Everything written passes `shown`, so words from the service or a tool cannot steer the terminal.
"""

from __future__ import annotations

import sys
from typing import IO

from voicecli.realtime import (
    ContinuityEvents,
    ListenEvents,
    RealtimeErrorEvent,
    RealtimeEvent,
    RealtimeFunctionCallEvent,
    RealtimeFunctionResultEvent,
    RealtimeMcpApprovalEvent,
    RealtimeMcpCallEvent,
    RealtimeMcpToolsEvent,
    RealtimeTextEvent,
)
from voicecli.realtime.safe_text import shown

MAX_SHOWN_TOOL_TEXT = 300
"""A tool's arguments and result are shown on one line of at most this many characters (the model gets more)."""


class PlainTranscript:
    """Prints a conversation as it happens; call it with every event from `receive()`."""

    def __init__(self, stream: IO[str] | None = None, assistant_name: str = "Assistant") -> None:
        self._stream = stream or sys.stdout
        self._assistant_name = assistant_name
        self._in_assistant_line = False

    def user(self, text: str) -> None:
        self._end_line()
        self._write(f"You: {text}\n")

    def __call__(self, event: RealtimeEvent) -> None:
        match event:
            case RealtimeTextEvent() if event.text.source == "user_transcript":
                self.user(event.text.text)
            case RealtimeTextEvent():
                if not self._in_assistant_line:
                    self._write(f"{self._assistant_name}: ")
                    self._in_assistant_line = True
                self._write(event.text.text)
            case RealtimeFunctionCallEvent():
                self._end_line()
                call = event.function_call
                self._write(f"  -> tool {call.name}({_one_line(call.arguments)})\n")
            case RealtimeFunctionResultEvent():
                outcome = event.function_result
                label = "failed" if outcome.is_error else "returned"
                took = f"{outcome.duration_s * 1000:.0f} ms"
                self._write(f"  <- {outcome.name} {label} in {took}: {_one_line(outcome.result)}\n")
            case RealtimeMcpCallEvent():
                self._end_line()
                mcp = event.mcp_call
                self._write(f"  -> tool {mcp.server_label}.{mcp.name}({_one_line(mcp.arguments)}) [hosted MCP]\n")
                answer = f"failed: {mcp.error}" if mcp.error else f"returned: {mcp.output or ''}"
                self._write(f"  <- {mcp.name} {_one_line(answer)}\n")
            case RealtimeMcpApprovalEvent():
                self._end_line()
                asked = event.approval
                name = f"{asked.server_label}.{asked.name}"
                if asked.approved is None:
                    self._write(f"  ? approval asked: {name}({_one_line(asked.arguments)})\n")
                else:
                    self._write(f"  ? {name}: {'approved' if asked.approved else 'refused'}\n")
            case RealtimeMcpToolsEvent():
                self._end_line()
                self._write(f"  {'!' if event.mcp_tools.failed else '~'} {hosted_tools_line(event)}\n")
            case RealtimeErrorEvent():
                self._end_line()
                code = f" [{event.error.code}]" if event.error.code else ""
                self._write(f"  ! {event.error.message}{code}\n")
            case RealtimeEvent(service_type=ListenEvents.RESPONSE_DONE):
                self._end_line()
            case RealtimeEvent(service_type=ContinuityEvents.RECONNECTING, service_event=dict() as status):
                self._end_line()
                self._write(f"  ~ reconnecting ({status.get('attempt')}/{status.get('attempts')})…\n")
            case RealtimeEvent(service_type=ContinuityEvents.RECONNECTED, service_event={"cause": "drop"}):
                self._write("  ~ reconnected\n")

    def finish(self) -> None:
        """End an assistant line left open, e.g. when the session stops in the middle of a reply."""
        self._end_line()

    def _end_line(self) -> None:
        if self._in_assistant_line:
            self._write("\n")
            self._in_assistant_line = False

    def _write(self, text: str) -> None:
        self._stream.write(shown(text, keep_newlines=True))
        self._stream.flush()


def hosted_tools_line(event: RealtimeMcpToolsEvent) -> str:
    """One line on a hosted MCP server's tool list: what it offers, or that it could not be listed."""
    listed = event.mcp_tools
    server = f"hosted MCP server {listed.server_label!r}"
    if listed.failed:
        return f"{server}: its tools could not be listed (the service could not reach it, or it failed)"
    return f"{server} offers {', '.join(listed.tools) or 'no tools'}"


def _one_line(text: str) -> str:
    """A tool's arguments or result on one line of at most MAX_SHOWN_TOOL_TEXT characters."""
    line = " ".join(text[: MAX_SHOWN_TOOL_TEXT * 2].split())
    return line if len(line) <= MAX_SHOWN_TOOL_TEXT else line[: MAX_SHOWN_TOOL_TEXT - 1] + "…"
