"""Turn the effective configuration into a realtime client and its session settings.

This is the one place that knows which class serves which provider and transport, so the rest of
the application only ever sees a `RealtimeClient`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from voicecli.config import AppConfig
from voicecli.realtime import (
    AzureRealtimeWebsocket,
    LocalRealtime,
    OpenAIRealtimeWebsocket,
    RealtimeClient,
    RealtimeConfigurationError,
    RealtimeSettings,
    TurnDetection,
)


def session_settings(config: AppConfig, *, push_to_talk: bool = False) -> RealtimeSettings:
    session = config.session
    ptt = push_to_talk or session.turn_detection == "push_to_talk"
    turn_detection = None
    if not ptt:
        turn_detection = TurnDetection(
            type="semantic_vad" if session.turn_detection == "semantic_vad" else "server_vad",
            threshold=session.vad_threshold,
            prefix_padding_ms=session.vad_prefix_padding_ms,
            silence_duration_ms=session.vad_silence_duration_ms,
        )
    return RealtimeSettings(
        instructions=session.instructions or None,
        voice=session.voice or None,
        output_modalities=[session.output],
        turn_detection=turn_detection,
        push_to_talk=ptt,
        input_transcription_model=session.input_transcription_model or None,
    )


def build_client(config: AppConfig, **client_options: Any) -> RealtimeClient:
    """The client for `config.provider` over `config.transport`; options go to its constructor."""
    if config.transport == "webrtc":
        return _build_webrtc_client(config, **client_options)
    match config.provider:
        case "local":
            script = Path(config.local.script) if config.local.script else None
            return LocalRealtime(brain=config.local.brain, script=script, **client_options)
        case "openai":
            return OpenAIRealtimeWebsocket(
                api_key=_require_key(config),
                model=config.openai.model,
                base_url=config.openai.base_url or None,
                **client_options,
            )
        case "azure":
            return AzureRealtimeWebsocket(
                endpoint=config.azure.endpoint or None,
                api_key=config.api_key(),
                deployment_name=config.azure.deployment or None,
                api_version=config.azure.api_version or None,
                **client_options,
            )
    raise RealtimeConfigurationError(f"unknown provider {config.provider!r}")


def _build_webrtc_client(config: AppConfig, **client_options: Any) -> RealtimeClient:
    """The WebRTC client (aiortc loads here, only when asked for). Azure WebRTC is GA-only, so an
    `api_version` meant for the preview WebSocket route does not apply."""
    from voicecli.realtime import webrtc

    match config.provider:
        case "local":
            script = Path(config.local.script) if config.local.script else None
            return webrtc.LocalRealtimeWebRTC(brain=config.local.brain, script=script, **client_options)
        case "openai":
            return webrtc.OpenAIRealtimeWebRTC(
                api_key=_require_key(config),
                model=config.openai.model,
                base_url=config.openai.base_url or None,
                **client_options,
            )
        case "azure":
            return webrtc.AzureRealtimeWebRTC(
                endpoint=config.azure.endpoint or None,
                api_key=config.api_key(),
                deployment_name=config.azure.deployment or None,
                **client_options,
            )
    raise RealtimeConfigurationError(f"unknown provider {config.provider!r}")


def _require_key(config: AppConfig) -> str:
    key = config.api_key()
    if not key:
        variable = config.openai.api_key_env if config.provider == "openai" else config.azure.api_key_env
        raise RealtimeConfigurationError(f"no API key for provider {config.provider}: set {variable}")
    return key
