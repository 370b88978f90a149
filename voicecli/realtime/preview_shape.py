"""The preview (beta) shape of client events, spoken on Azure's preview route.

Azure deployments reached at `/openai/realtime?api-version=…&deployment=…` speak the Realtime
beta protocol: the session's settings sit at its top level (`voice`, `modalities`,
`input_audio_format`, `turn_detection`, …) instead of under `audio.input` / `audio.output`, and
assistant content is `text` / `audio` rather than `output_text` / `output_audio`. The client builds
GA events everywhere; `to_preview` rewrites the few that differ just before they are sent. Server
events need no rewriting: the beta names of the streamed deltas are aliases in `protocol`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["to_preview"]

PREVIEW_AUDIO_FORMATS = {"audio/pcm": "pcm16", "audio/pcmu": "g711_ulaw", "audio/pcma": "g711_alaw"}
_PREVIEW_CONTENT_TYPES = {"output_text": "text", "output_audio": "audio"}


def to_preview(event: dict[str, Any]) -> dict[str, Any]:
    """The beta-shaped equivalent of a GA client event (the same event when nothing differs)."""
    match event.get("type"):
        case "session.update" if isinstance(event.get("session"), dict):
            return {**event, "session": _session(event["session"])}
        case "response.create" if isinstance(event.get("response"), dict):
            return {**event, "response": _response(event["response"])}
        case "conversation.item.create" if isinstance(event.get("item"), dict):
            return {**event, "item": _item(event["item"])}
    return event


def _session(session: dict[str, Any]) -> dict[str, Any]:
    rest = {key: value for key, value in session.items() if key not in ("type", "audio")}
    preview = _common(rest)
    audio = session.get("audio") or {}
    audio_input, audio_output = audio.get("input") or {}, audio.get("output") or {}
    if "format" in audio_input:
        preview["input_audio_format"] = _format(audio_input["format"])
    for ga_name, preview_name in (
        ("turn_detection", "turn_detection"),
        ("transcription", "input_audio_transcription"),
        ("noise_reduction", "input_audio_noise_reduction"),
    ):
        if ga_name in audio_input:
            preview[preview_name] = audio_input[ga_name]
    preview.update(_output_audio(audio_output))
    return preview


def _response(response: dict[str, Any]) -> dict[str, Any]:
    preview = _common({key: value for key, value in response.items() if key != "audio"})
    preview.update(_output_audio((response.get("audio") or {}).get("output") or {}))
    if isinstance(preview.get("input"), list):
        preview["input"] = [_item(entry) if isinstance(entry, dict) else entry for entry in preview["input"]]
    return preview


def _common(settings: dict[str, Any]) -> dict[str, Any]:
    """Renames shared by sessions and responses: modalities and the token limit."""
    preview = dict(settings)
    if "output_modalities" in preview:
        modalities = preview.pop("output_modalities")
        # Beta audio replies always carry their transcript: "audio" alone is ["audio", "text"] there.
        preview["modalities"] = ["audio", "text"] if modalities and "audio" in modalities else modalities
    if "max_output_tokens" in preview:
        preview["max_response_output_tokens"] = preview.pop("max_output_tokens")
    return preview


def _output_audio(audio_output: dict[str, Any]) -> dict[str, Any]:
    preview: dict[str, Any] = {}
    if "format" in audio_output:
        preview["output_audio_format"] = _format(audio_output["format"])
    for name in ("voice", "speed"):
        if name in audio_output:
            preview[name] = audio_output[name]
    return preview


def _format(audio_format: Any) -> Any:
    if isinstance(audio_format, dict):
        return PREVIEW_AUDIO_FORMATS.get(audio_format.get("type", "audio/pcm"), audio_format)
    return audio_format


def _item(item: dict[str, Any]) -> dict[str, Any]:
    content = item.get("content")
    if not isinstance(content, list):
        return item
    renamed = [
        {**part, "type": _PREVIEW_CONTENT_TYPES.get(str(part.get("type")), part.get("type"))}
        if isinstance(part, dict)
        else part
        for part in content
    ]
    return {**item, "content": renamed}
