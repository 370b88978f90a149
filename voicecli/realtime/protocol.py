"""The OpenAI Realtime GA wire protocol: event names, client-event builders, server-event parsing.

Parsing is the hot path (an audio delta arrives every ~100 ms of audio, often faster than real time),
so it works on plain dicts decoded with orjson and builds light event objects; it never runs full
pydantic validation of the `openai` types.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from enum import StrEnum
from typing import Any

import numpy as np
import orjson

from voicecli.realtime import events as ev
from voicecli.realtime.errors import RealtimeError


class ListenEvents(StrEnum):
    """Server event types (GA names)."""

    ERROR = "error"
    SESSION_CREATED = "session.created"
    SESSION_UPDATED = "session.updated"
    CONVERSATION_ITEM_ADDED = "conversation.item.added"
    CONVERSATION_ITEM_DONE = "conversation.item.done"
    CONVERSATION_ITEM_CREATED = "conversation.item.created"
    CONVERSATION_ITEM_RETRIEVED = "conversation.item.retrieved"
    CONVERSATION_ITEM_DELETED = "conversation.item.deleted"
    CONVERSATION_ITEM_TRUNCATED = "conversation.item.truncated"
    INPUT_AUDIO_TRANSCRIPTION_DELTA = "conversation.item.input_audio_transcription.delta"
    INPUT_AUDIO_TRANSCRIPTION_COMPLETED = "conversation.item.input_audio_transcription.completed"
    INPUT_AUDIO_TRANSCRIPTION_FAILED = "conversation.item.input_audio_transcription.failed"
    INPUT_AUDIO_BUFFER_COMMITTED = "input_audio_buffer.committed"
    INPUT_AUDIO_BUFFER_CLEARED = "input_audio_buffer.cleared"
    INPUT_AUDIO_BUFFER_SPEECH_STARTED = "input_audio_buffer.speech_started"
    INPUT_AUDIO_BUFFER_SPEECH_STOPPED = "input_audio_buffer.speech_stopped"
    OUTPUT_AUDIO_BUFFER_STARTED = "output_audio_buffer.started"
    OUTPUT_AUDIO_BUFFER_STOPPED = "output_audio_buffer.stopped"
    OUTPUT_AUDIO_BUFFER_CLEARED = "output_audio_buffer.cleared"
    RESPONSE_CREATED = "response.created"
    RESPONSE_DONE = "response.done"
    RESPONSE_OUTPUT_ITEM_ADDED = "response.output_item.added"
    RESPONSE_OUTPUT_ITEM_DONE = "response.output_item.done"
    RESPONSE_CONTENT_PART_ADDED = "response.content_part.added"
    RESPONSE_CONTENT_PART_DONE = "response.content_part.done"
    RESPONSE_OUTPUT_TEXT_DELTA = "response.output_text.delta"
    RESPONSE_OUTPUT_TEXT_DONE = "response.output_text.done"
    RESPONSE_OUTPUT_AUDIO_DELTA = "response.output_audio.delta"
    RESPONSE_OUTPUT_AUDIO_DONE = "response.output_audio.done"
    RESPONSE_OUTPUT_AUDIO_TRANSCRIPT_DELTA = "response.output_audio_transcript.delta"
    RESPONSE_OUTPUT_AUDIO_TRANSCRIPT_DONE = "response.output_audio_transcript.done"
    RESPONSE_FUNCTION_CALL_ARGUMENTS_DELTA = "response.function_call_arguments.delta"
    RESPONSE_FUNCTION_CALL_ARGUMENTS_DONE = "response.function_call_arguments.done"
    RESPONSE_MCP_CALL_ARGUMENTS_DELTA = "response.mcp_call_arguments.delta"
    RESPONSE_MCP_CALL_ARGUMENTS_DONE = "response.mcp_call_arguments.done"
    RESPONSE_MCP_CALL_IN_PROGRESS = "response.mcp_call.in_progress"
    RESPONSE_MCP_CALL_COMPLETED = "response.mcp_call.completed"
    RESPONSE_MCP_CALL_FAILED = "response.mcp_call.failed"
    MCP_LIST_TOOLS_IN_PROGRESS = "mcp_list_tools.in_progress"
    MCP_LIST_TOOLS_COMPLETED = "mcp_list_tools.completed"
    MCP_LIST_TOOLS_FAILED = "mcp_list_tools.failed"
    RATE_LIMITS_UPDATED = "rate_limits.updated"


class SendEvents(StrEnum):
    """Client event types (GA names)."""

    SESSION_UPDATE = "session.update"
    INPUT_AUDIO_BUFFER_APPEND = "input_audio_buffer.append"
    INPUT_AUDIO_BUFFER_COMMIT = "input_audio_buffer.commit"
    INPUT_AUDIO_BUFFER_CLEAR = "input_audio_buffer.clear"
    CONVERSATION_ITEM_CREATE = "conversation.item.create"
    CONVERSATION_ITEM_RETRIEVE = "conversation.item.retrieve"
    CONVERSATION_ITEM_TRUNCATE = "conversation.item.truncate"
    CONVERSATION_ITEM_DELETE = "conversation.item.delete"
    RESPONSE_CREATE = "response.create"
    RESPONSE_CANCEL = "response.cancel"
    OUTPUT_AUDIO_BUFFER_CLEAR = "output_audio_buffer.clear"


BETA_ALIASES: dict[str, str] = {
    "response.audio.delta": ListenEvents.RESPONSE_OUTPUT_AUDIO_DELTA,
    "response.audio.done": ListenEvents.RESPONSE_OUTPUT_AUDIO_DONE,
    "response.audio_transcript.delta": ListenEvents.RESPONSE_OUTPUT_AUDIO_TRANSCRIPT_DELTA,
    "response.audio_transcript.done": ListenEvents.RESPONSE_OUTPUT_AUDIO_TRANSCRIPT_DONE,
    "response.text.delta": ListenEvents.RESPONSE_OUTPUT_TEXT_DELTA,
    "response.text.done": ListenEvents.RESPONSE_OUTPUT_TEXT_DONE,
}
"""Older beta names still sent by some deployments, mapped to their GA names."""

FATAL_ERROR_CODES = frozenset({"invalid_api_key", "session_expired", "beta_api_shape_disabled"})


# --- client events ---------------------------------------------------------------------------


def pcm_to_base64(pcm: np.ndarray) -> str:
    return base64.b64encode(pcm.astype("<i2", copy=False).tobytes()).decode("ascii")


def base64_to_pcm(data: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(data, validate=True), dtype="<i2")


def append_audio(pcm: np.ndarray) -> dict[str, Any]:
    return {"type": SendEvents.INPUT_AUDIO_BUFFER_APPEND.value, "audio": pcm_to_base64(pcm)}


def user_text_item(text: str) -> dict[str, Any]:
    return {
        "type": SendEvents.CONVERSATION_ITEM_CREATE.value,
        "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]},
    }


def function_output_item(call_id: str, output: str) -> dict[str, Any]:
    return {
        "type": SendEvents.CONVERSATION_ITEM_CREATE.value,
        "item": {"type": "function_call_output", "call_id": call_id, "output": output},
    }


def mcp_approval_item(approval_request_id: str, approve: bool) -> dict[str, Any]:
    """The answer to a hosted MCP server's `mcp_approval_request` (the item's id is the client's to give)."""
    item = {
        "id": f"mcpa_{uuid.uuid4().hex[:24]}",
        "type": "mcp_approval_response",
        "approval_request_id": approval_request_id,
        "approve": approve,
    }
    return {"type": SendEvents.CONVERSATION_ITEM_CREATE, "item": item}


def truncate_item(item_id: str, audio_end_ms: int, content_index: int = 0) -> dict[str, Any]:
    return {
        "type": SendEvents.CONVERSATION_ITEM_TRUNCATE.value,
        "item_id": item_id,
        "content_index": content_index,
        "audio_end_ms": audio_end_ms,
    }


def simple_event(event_type: SendEvents) -> dict[str, Any]:
    """Events whose payload is just their type (commit, clear, response.create, response.cancel)."""
    return {"type": event_type.value}


def client_event(event: ev.RealtimeEvent | dict[str, Any]) -> dict[str, Any]:
    """The client event a typed event (audio, user text, tool result) or a raw dict stands for."""
    if isinstance(event, dict):
        return event
    if isinstance(event, ev.RealtimeAudioEvent):
        return append_audio(event.audio.data)
    if isinstance(event, ev.RealtimeTextEvent):
        return user_text_item(event.text.text)
    if isinstance(event, ev.RealtimeFunctionResultEvent):
        return function_output_item(event.function_result.call_id, event.function_result.result)
    if event.service_event is not None:
        return {"type": event.service_type, **event.service_event} if event.service_type else event.service_event
    if event.service_type:
        return {"type": str(event.service_type)}
    raise RealtimeError(f"cannot send {type(event).__name__} without a service_type or service_event")


def encode(event: dict[str, Any]) -> str:
    return orjson.dumps(event).decode("utf-8")


# --- server events ---------------------------------------------------------------------------


def parse_server_message(raw: bytes | str) -> ev.RealtimeEvent:
    """Turn one wire message into a typed event; malformed input becomes an error event."""
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return ev.RealtimeErrorEvent(
            service_type="malformed",
            error=ev.ErrorContent(message="the service sent a frame that is not JSON", code="malformed_event"),
        )
    if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
        return ev.RealtimeErrorEvent(
            service_type="malformed",
            error=ev.ErrorContent(message="the service sent an event without a type", code="malformed_event"),
        )
    return parse_server_event(payload)


_OBJECT_FIELDS = ("session", "response", "item", "part")
_TEXT_FIELDS = ("item_id", "response_id", "call_id")


def _check_shape(payload: dict[str, Any]) -> None:
    """`TypeError` for the fields every consumer relies on when they have the wrong kind."""
    for key in _OBJECT_FIELDS:
        if key in payload and not isinstance(payload[key], dict):
            raise TypeError(f"{key} is {type(payload[key]).__name__}, not an object")
    for key in _TEXT_FIELDS:
        if payload.get(key) is not None and not isinstance(payload[key], str):
            raise TypeError(f"{key} is {type(payload[key]).__name__}, not text")


def parse_server_event(payload: dict[str, Any]) -> ev.RealtimeEvent:
    wire_type: str = payload["type"]
    service_type = BETA_ALIASES.get(wire_type, wire_type)
    try:
        _check_shape(payload)
        match service_type:
            case ListenEvents.RESPONSE_OUTPUT_AUDIO_DELTA:
                # The decoded audio is kept once: the base64 text leaves the wire payload.
                return ev.RealtimeAudioEvent(
                    service_type=service_type,
                    service_event={key: value for key, value in payload.items() if key != "delta"},
                    audio=ev.AudioContent(data=base64_to_pcm(payload["delta"]), item_id=payload.get("item_id")),
                )
            case ListenEvents.RESPONSE_OUTPUT_AUDIO_TRANSCRIPT_DELTA | ListenEvents.RESPONSE_OUTPUT_TEXT_DELTA:
                text_reply = service_type == ListenEvents.RESPONSE_OUTPUT_TEXT_DELTA
                source: ev.TextSource = "assistant_text" if text_reply else "assistant_transcript"
                return ev.RealtimeTextEvent(
                    service_type=service_type,
                    service_event=payload,
                    text=ev.TextContent(
                        text=_text(payload, "delta"),
                        source=source,
                        item_id=payload.get("item_id"),
                    ),
                )
            case ListenEvents.INPUT_AUDIO_TRANSCRIPTION_COMPLETED:
                return ev.RealtimeTextEvent(
                    service_type=service_type,
                    service_event=payload,
                    text=ev.TextContent(
                        text=_text(payload, "transcript"),
                        source="user_transcript",
                        item_id=payload.get("item_id"),
                        final=True,
                    ),
                )
            case ListenEvents.RESPONSE_FUNCTION_CALL_ARGUMENTS_DONE:
                return ev.RealtimeFunctionCallEvent(
                    service_type=service_type,
                    service_event=payload,
                    function_call=ev.FunctionCallContent(
                        name=payload.get("name") or "",  # the beta shape has no name here: see the client
                        arguments=_text(payload, "arguments"),
                        call_id=_text(payload, "call_id"),
                        item_id=payload.get("item_id"),
                        response_id=payload.get("response_id"),
                    ),
                )
            case ListenEvents.RESPONSE_OUTPUT_ITEM_DONE | ListenEvents.CONVERSATION_ITEM_DONE:
                return _item_event(service_type, payload)
            case ListenEvents.ERROR:
                error = payload.get("error")
                if not isinstance(error, dict):  # e.g. {"type": "error", "error": "boom"}
                    message = f"the service sent a malformed error event: {error!r}"
                    error = {"message": message, "code": "malformed_event"}
                code = error.get("code")
                return ev.RealtimeErrorEvent(
                    service_type=service_type,
                    service_event=payload,
                    error=ev.ErrorContent(
                        message=str(error.get("message") or "the service reported an error"),
                        code=code,
                        type=error.get("type"),
                        fatal=code in FATAL_ERROR_CODES,
                    ),
                )
    except (KeyError, TypeError, ValueError, AttributeError, binascii.Error) as exc:
        return ev.RealtimeErrorEvent(
            service_type="malformed",  # not its own type: nothing may take it for a good one
            service_event=payload,
            error=ev.ErrorContent(
                message=f"the service sent a malformed {service_type} event ({type(exc).__name__}: {exc})",
                code="malformed_event",
            ),
        )
    return ev.RealtimeEvent(service_type=service_type, service_event=payload)


def _item_event(service_type: str, payload: dict[str, Any]) -> ev.RealtimeEvent:
    """A finished item of a hosted MCP server's (a call, an approval request) as its typed event; any
    other item as it came (a server's tool list is typed by the protocol session, which sees both the
    item and whether the listing succeeded)."""
    item = payload.get("item") or {}
    kind = item.get("type")
    if kind == "mcp_call" and service_type == ListenEvents.RESPONSE_OUTPUT_ITEM_DONE:
        error = item.get("error")
        call = ev.McpCallContent(
            server_label=_text(item, "server_label"),
            name=_text(item, "name"),
            arguments=_text(item, "arguments"),
            item_id=_text(item, "id"),
            output=item.get("output"),
            error=str(error.get("message") or error.get("type")) if isinstance(error, dict) else None,
            approval_request_id=item.get("approval_request_id"),
        )
        return ev.RealtimeMcpCallEvent(service_type=service_type, service_event=payload, mcp_call=call)
    if kind == "mcp_approval_request" and service_type == ListenEvents.RESPONSE_OUTPUT_ITEM_DONE:
        request = ev.McpApprovalContent(
            server_label=_text(item, "server_label"),
            name=_text(item, "name"),
            arguments=_text(item, "arguments"),
            approval_request_id=_text(item, "id"),
            response_id=payload.get("response_id"),
        )
        return ev.RealtimeMcpApprovalEvent(service_type=service_type, service_event=payload, approval=request)
    return ev.RealtimeEvent(service_type=service_type, service_event=payload)


def _text(payload: dict[str, Any], key: str) -> str:
    """A field that must be text; `TypeError` (reported as a malformed event) otherwise."""
    value = payload[key]
    if not isinstance(value, str):
        raise TypeError(f"{key} is {type(value).__name__}, not text")
    return value
