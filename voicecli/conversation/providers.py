"""Turn the effective configuration into a realtime client and its session settings.

This is the one place that knows which class serves which provider and transport, so the rest of
the application only ever sees a `RealtimeClient`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voicecli.config import AppConfig, ConfigError, EchoMode
from voicecli.realtime import (
    AzureRealtimeWebsocket,
    Continuity,
    OpenAIRealtimeWebsocket,
    RealtimeClient,
    RealtimeConfigurationError,
    RealtimeSettings,
    TurnDetection,
)
from voicecli.realtime.endpoints import AzureEndpoint
from voicecli.realtime.live_protocol import choose_protocol
from voicecli.realtime.usage import UsageMeter, usage_reader

if TYPE_CHECKING:
    from voicecli.server.replies import Brain
    from voicecli.server.session.pacing import Pacing

ClientClass = Callable[..., RealtimeClient]
"""A client class: each provider's constructor takes its own keywords (`brain`, `api_key`, `endpoint`…)."""

LOCAL_TRANSCRIPTION_MODEL = "pocketsphinx"
"""What the local provider transcribes with unless configured otherwise: the user's words are free there."""


def session_settings(
    config: AppConfig,
    *,
    push_to_talk: bool = False,
    expected_phrases: list[str] | None = None,
    local_barge_in: bool = False,
) -> RealtimeSettings:
    """The session settings of `config`. `expected_phrases` (what the user will say, as a demo knows
    it) go to the local server as transcription keywords, which it recognises by grammar. With
    `local_barge_in` voicecli decides what interrupts and what gets an answer (a back-channel does
    not), so the service's VAD does neither."""
    session = config.session
    ptt = push_to_talk or session.turn_detection == "push_to_talk"
    turn_detection = None
    if not ptt:
        turn_detection = TurnDetection(
            type="semantic_vad" if session.turn_detection == "semantic_vad" else "server_vad",
            threshold=session.vad_threshold,
            prefix_padding_ms=session.vad_prefix_padding_ms,
            silence_duration_ms=session.vad_silence_duration_ms,
            interrupt_response=not local_barge_in,
            create_response=not local_barge_in,
        )
    return RealtimeSettings(
        instructions=session.instructions or None,
        voice=session.voice or None,
        output_modalities=[session.output],
        turn_detection=turn_detection,
        push_to_talk=ptt,
        input_transcription_model=transcription_model(config) or None,
        input_transcription_keywords=expected_phrases if config.provider == "local" else None,
        reasoning_effort=session.reasoning_effort or None,
    )


def transcription_model(config: AppConfig) -> str:
    """The model that transcribes the user's speech ("" for none): the configured one, else on the
    local server its own recognizer (the session asks for it; its cost is a price of its own)."""
    configured = config.session.input_transcription_model
    return configured or (LOCAL_TRANSCRIPTION_MODEL if config.provider == "local" else "")


def session_continuity(config: AppConfig) -> Continuity | None:
    """Reconnect and roll over (with replay) as `[session] reconnect_tries` says; None when 0.

    Each try may take as long as opening the first session (`connect_timeout_s`): a link slow
    enough to need more time at the start needs it again after a drop."""
    policy = Continuity.with_tries(config.session.reconnect_tries)
    return None if policy is None else replace(policy, attempt_timeout_s=config.connect_timeout_s)


def build_client(config: AppConfig, *, speech_input: bool = True, **client_options: Any) -> RealtimeClient:
    """The client for `config.provider` over `config.transport`; options go to its constructor.
    `speech_input` False says only typed turns will be sent: the local server then loads no speech
    recogniser (a second of CPU) for audio that never comes."""
    client_class = _client_class(config)
    client_options.setdefault("connect_timeout_s", config.connect_timeout_s)
    if speaks_live(config):
        client_options.setdefault("delegation", config.live.delegation_setting())
        client_options.setdefault("delegation_model", config.live.delegation_model)
    match config.provider:
        case "local":
            return client_class(
                brain=local_brain(config),
                max_session_s=config.local.max_session_s,
                pacing=local_pacing(config),
                speech_input=speech_input,
                **client_options,
            )
        case "openai":
            return client_class(
                api_key=_require_key(config),
                model=config.openai.model,
                base_url=config.openai.base_url or None,
                **client_options,
            )
        case "azure" if config.azure.service == "voice-live":
            return _voice_live_client(config, client_options)
        case "azure":
            _require_azure_resource(config)
            if config.transport == "websocket":
                # Azure WebRTC is GA-only: an api_version meant for the preview WebSocket route does not apply.
                client_options["api_version"] = config.azure.api_version or None
            return client_class(
                endpoint=config.azure.endpoint or None,
                api_key=config.api_key(),
                deployment_name=config.azure.deployment or None,
                **client_options,
            )
    raise RealtimeConfigurationError(f"unknown provider {config.provider!r}")


def _voice_live_client(config: AppConfig, client_options: dict[str, Any]) -> RealtimeClient:
    """Voice Live is the same Azure resource, key (or Entra ID) and deployment setting as Azure OpenAI
    realtime, on another path and in another dialect: a service of the Azure provider."""
    from voicecli.realtime.voice_live import VoiceLiveOptions, VoiceLiveWebsocket
    from voicecli.realtime.voice_live_calls import webrtc_api_version

    _require_azure_resource(config)
    azure = config.azure
    if azure.voice_type == "azure-custom" and not azure.voice_endpoint_id:
        raise ConfigError(
            '[azure] voice_type = "azure-custom" needs voice_endpoint_id (the custom voice\'s deployment id)'
        )
    if azure.voice_type == "azure-personal" and not azure.personal_voice_model:
        raise ConfigError(
            '[azure] voice_type = "azure-personal" needs personal_voice_model (e.g. "DragonLatestNeural")'
        )
    options = VoiceLiveOptions(
        voice_type=azure.voice_type,
        voice_endpoint_id=azure.voice_endpoint_id,
        voice_model=azure.personal_voice_model,
        remove_filler_words=azure.remove_filler_words,
        noise_suppression=azure.noise_suppression,
        echo_cancellation=azure.server_echo_cancellation,
        word_timestamps=azure.word_timestamps,
    )
    client_class: ClientClass = VoiceLiveWebsocket
    api_version = azure.voice_live_api_version
    if config.transport == "webrtc":  # a preview: on its own API version unless another one is chosen
        from voicecli.realtime.voice_live_webrtc import VoiceLiveWebRTC  # aiortc only for WebRTC

        client_class, api_version = VoiceLiveWebRTC, webrtc_api_version(api_version)
    return client_class(
        endpoint=azure.endpoint or None,
        api_key=config.api_key(),
        deployment_name=azure.deployment or None,
        api_version=api_version,
        options=options,
        **client_options,
    )


def usage_meter(config: AppConfig, protocol: str = "realtime", *, with_budget: bool = True) -> UsageMeter:
    """The session's meter, priced by the configuration's table and reading what `protocol` reports
    (tokens per response, or GPT-Live's session seconds); a budget needs a price to be kept. Without
    `with_budget` (one turn, or one phone call: nothing to stop politely) the budget is left out."""
    model = config.priced_model()
    prices = config.prices.get(model)
    budget = config.session.budget if with_budget else 0.0
    if budget > 0 and prices is None:
        raise ConfigError(
            f'--budget needs the price of {model!r}, which the price table lacks; add a [prices."{model}"] '
            "table to the configuration (see config.example.toml)"
        )
    transcriber = transcription_model(config)  # on Azure a deployment, priced as one
    transcription_prices = config.prices.get(f"azure/{transcriber}" if config.provider == "azure" else transcriber)
    return UsageMeter(
        prices=prices, budget=budget, reader=usage_reader(protocol), transcription_prices=transcription_prices
    )


def client_echo_mode(config: AppConfig) -> EchoMode:
    """The echo handling of the microphone: `auto` steps aside (`off`) where the service cancels the
    speaker's echo itself (Voice Live's server echo cancellation), since two cancellers fight."""
    azure = config.azure
    server_cancels = config.provider == "azure" and azure.service == "voice-live" and azure.server_echo_cancellation
    return "off" if config.audio.echo == "auto" and server_cancels else config.audio.echo


def local_brain(config: AppConfig) -> Brain:
    """The local server's brain as configured; `ConfigError` (one line) when it cannot be built."""
    from voicecli.server.brains import load_brain

    script = Path(config.local.script) if config.local.script else None
    try:
        local = config.local
        return load_brain(
            local.brain,
            script,
            chat_url=local.chat_url or None,
            chat_model=local.chat_model or None,
            chat_api_key_env=local.chat_api_key_env or None,
        )
    except (ValueError, OSError) as exc:  # TOMLDecodeError is a ValueError
        raise ConfigError(str(exc)) from None  # the message names the script or the missing setting


def speaks_live(config: AppConfig) -> bool:
    """Whether the session speaks GPT-Live: the `protocol` setting, or a `gpt-live-*` model / deployment."""
    model = {"openai": config.openai.model, "azure": config.azure.deployment}.get(config.provider)
    return choose_protocol(model, config.protocol) == "live"


def local_pacing(config: AppConfig) -> Pacing:
    """How the local server times itself (`[local] first_audio_ms`, `speed`, `vad_delay_ms`);
    `ConfigError` when the values make no sense."""
    from voicecli.server.session.pacing import serve_pacing

    local = config.local
    try:
        return serve_pacing(local.first_audio_ms, local.speed, local.vad_delay_ms)
    except ValueError as exc:
        raise ConfigError(f"[local]: {exc}") from None


def _client_class(config: AppConfig) -> ClientClass:
    """Which class serves the provider over the transport. aiortc loads only for WebRTC, and the
    local server only for the local provider (it takes a third of a second to import)."""
    if speaks_live(config):
        return _live_client_class(config)
    if config.provider == "local":
        if config.transport == "webrtc":
            from voicecli.server.embedded_webrtc import LocalRealtimeWebRTC

            return LocalRealtimeWebRTC
        from voicecli.server.embedded import LocalRealtime

        return LocalRealtime
    if config.transport == "webrtc":
        from voicecli.realtime import webrtc

        classes: dict[str, ClientClass] = {
            "openai": webrtc.OpenAIRealtimeWebRTC,
            "azure": webrtc.AzureRealtimeWebRTC,
        }
    else:
        classes = {"openai": OpenAIRealtimeWebsocket, "azure": AzureRealtimeWebsocket}
    if config.provider not in classes:
        raise RealtimeConfigurationError(f"unknown provider {config.provider!r}")
    return classes[config.provider]


def _live_client_class(config: AppConfig) -> ClientClass:
    """GPT-Live's classes: over WebRTC (aiortc loads only then) or WebSocket."""
    classes: dict[str, ClientClass]
    if config.transport == "webrtc":
        from voicecli.realtime.live_webrtc import AzureLiveWebRTC, OpenAILiveWebRTC
        from voicecli.server.live.embedded_webrtc import LocalLiveWebRTC

        classes = {"openai": OpenAILiveWebRTC, "azure": AzureLiveWebRTC, "local": LocalLiveWebRTC}
    else:
        from voicecli.realtime.live_ws import AzureLiveWebsocket, OpenAILiveWebsocket
        from voicecli.server.live.embedded import LocalLive

        classes = {"openai": OpenAILiveWebsocket, "azure": AzureLiveWebsocket, "local": LocalLive}
    if config.provider not in classes:
        raise RealtimeConfigurationError(f"unknown provider {config.provider!r}")
    return classes[config.provider]


def _require_azure_resource(config: AppConfig) -> None:
    """The endpoint and deployment, asked for as a user of the command line sets them (the library's
    own messages name its constructor's arguments)."""
    found = AzureEndpoint.resolve(config.azure.endpoint or None, None, config.azure.deployment or None, None, None)
    if not found.endpoint:
        raise RealtimeConfigurationError(
            "no Azure endpoint: set AZURE_OPENAI_ENDPOINT, or endpoint in the [azure] table of the config file"
        )
    if not found.deployment_name:
        raise RealtimeConfigurationError(
            "no Azure deployment: set AZURE_OPENAI_REALTIME_DEPLOYMENT_NAME, pass --deployment, "
            "or set deployment in the [azure] table of the config file"
        )


def _require_key(config: AppConfig) -> str:
    key = config.api_key()
    if not key:
        variable = config.openai.api_key_env if config.provider == "openai" else config.azure.api_key_env
        raise RealtimeConfigurationError(f"no API key for provider {config.provider}: set {variable}")
    return key
