"""Configuration: defaults < TOML file < `[profiles.NAME]` < environment < command-line flags.

Secrets never live in the file: a provider section may only name the environment variable that
holds its key (`api_key_env`). Every problem is reported as one line naming the file, key and issue.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

from voicecli.config.prices import DEFAULT_PRICES, merged_prices
from voicecli.realtime.safe_text import remember_secret
from voicecli.realtime.usage import ModelPrices

Provider = Literal["local", "openai", "azure"]
Transport = Literal["websocket", "webrtc"]
WireProtocol = Literal["auto", "realtime", "live"]
"""Which protocol a session speaks: `auto` takes GPT-Live for a `gpt-live-*` model or deployment."""
LiveDelegation = Literal["client", "responses"]
"""Who does the work GPT-Live delegates: voicecli's own tools, or the service's hosted Responses model."""
HostedTool = Literal["web_search", "file_search", "code_interpreter"]
TurnMode = Literal["server_vad", "semantic_vad", "push_to_talk"]
BuiltinTool = Literal["time", "calculator"]
Reasoning = Literal["", "minimal", "low", "medium", "high", "xhigh"]
"""Reasoning effort of gpt-realtime-2 and later; "" leaves the model's default (older models have none)."""
AzureService = Literal["openai", "voice-live"]
"""Azure OpenAI realtime, or Azure Voice Live (`/voice-live/realtime`) on the same resource."""
VoiceType = Literal["", "azure-standard", "azure-custom", "azure-personal"]
EchoMode = Literal["auto", "aec", "gate", "off"]
"""How the microphone is kept from hearing the speaker (see `voicecli.audio.echo`)."""
Approve = Literal["ask", "all", "none"]
"""Who approves tool calls that need it: the live screen asks, or all are run, or none."""
BargeInMode = Literal["service", "local"]
"""Who decides that the person interrupts: the service's VAD, or voicecli (duck, then decide)."""
Brain = Literal["auto", "echo", "scripted", "chat"]
"""What answers in the local server (see `voicecli.server.brains`)."""
DEFAULT_BACKCHANNELS = (
    "mm-hm", "mhm", "mm", "hmm", "uh-huh", "uh huh", "yeah", "yes", "yep", "ok", "okay", "right", "sure",
    "i see", "got it", "cool", "nice", "wow", "oh", "ah", "aha",
)  # fmt: skip
"""What a listener says to show they are listening, not to take the turn (`[audio] backchannels`)."""


class ConfigError(Exception):
    """A configuration problem, already phrased for the user."""


@dataclass(slots=True)
class SessionConfig:
    instructions: str = "You are a helpful, concise voice assistant."
    voice: str = "alloy"
    output: Literal["audio", "text"] = "audio"
    turn_detection: TurnMode = "server_vad"
    vad_threshold: float = 0.5
    vad_prefix_padding_ms: int = 300
    vad_silence_duration_ms: int = 500
    input_transcription_model: str = ""
    reconnect_tries: int = 6
    reasoning_effort: Reasoning = ""
    budget: float = 0.0
    """Dollars: the session ends politely once its cost reaches this (0: no limit)."""


@dataclass(slots=True)
class OpenAIConfig:
    model: str = "gpt-realtime"
    base_url: str = ""
    api_key_env: str = "OPENAI_API_KEY"


@dataclass(slots=True)
class AzureConfig:
    endpoint: str = ""
    deployment: str = ""
    api_version: str = ""
    api_key_env: str = "AZURE_OPENAI_API_KEY"
    service: AzureService = "openai"
    voice_live_api_version: str = "2025-10-01"
    voice_type: VoiceType = ""
    voice_endpoint_id: str = ""
    """The deployment id of a custom neural voice (`voice_type = "azure-custom"`)."""
    personal_voice_model: str = ""
    """The neural model a personal voice speaks with (`voice_type = "azure-personal"`)."""
    remove_filler_words: bool = True
    noise_suppression: bool = True
    server_echo_cancellation: bool = True
    word_timestamps: bool = False


@dataclass(slots=True)
class LocalConfig:
    brain: Brain = "auto"
    script: str = ""
    max_session_s: float = 3600.0
    chat_url: str = ""
    chat_model: str = ""
    first_audio_ms: int = 500
    speed: float | Literal["max"] = 4.0
    chat_api_key_env: str = ""
    vad_delay_ms: int = 0


@dataclass(slots=True)
class LiveConfig:
    """GPT-Live's delegation (the `[live]` table)."""

    delegation: LiveDelegation = "client"
    delegation_model: str = "gpt-5-mini"
    """The model that does delegated work: the chat model voicecli asks (client), or the hosted one."""
    hosted_tools: list[HostedTool] = field(default_factory=list)
    """Tools the hosted Responses model may use (delegation = "responses")."""

    def delegation_setting(self) -> dict[str, Any]:
        """The session's `delegation` as GPT-Live's `session.start` (or WebRTC request) takes it."""
        if self.delegation == "client":
            return {"type": "client"}
        tools = [{"type": tool} for tool in self.hosted_tools]
        return {"type": "responses", "responses": {"model": self.delegation_model, "tools": tools}}


@dataclass(slots=True)
class AudioConfig:
    input_device: str = ""
    output_device: str = ""
    echo: EchoMode = "auto"
    barge_in: BargeInMode = "service"
    backchannels: list[str] = field(default_factory=lambda: list(DEFAULT_BACKCHANNELS))


@dataclass(slots=True)
class ToolsConfig:
    modules: list[str] = field(default_factory=list)
    builtin: list[BuiltinTool] = field(default_factory=list)
    mcp_commands: list[str] = field(default_factory=list)
    """stdio MCP servers as command lines (`--mcp`); `mcp` holds the `[[tools.mcp]]` tables."""
    mcp: list[dict[str, Any]] = field(default_factory=list)
    hosted_mcp: list[dict[str, Any]] = field(default_factory=list)
    """`[[tools.hosted_mcp]]`: MCP servers the Realtime service calls itself (`{"type": "mcp"}` tools)."""
    confirm: list[str] = field(default_factory=list)
    """Tools (by name, of any source) the user approves before each call."""
    approve: Approve = "ask"


@dataclass(slots=True)
class UIConfig:
    log_file: str = ""


@dataclass(slots=True)
class RecordingConfig:
    dir: str = ""
    json_events: str = ""


@dataclass(slots=True)
class PhoneConfig:
    """`voicecli phone`: whose ACS tokens to accept, and how many and how long calls may be."""

    acs_resource_id: str = ""
    """The ACS resource's immutable id (Azure portal: the resource's JSON view): ACS's tokens name it."""
    max_calls: int = 20
    idle_timeout_s: float = 60.0
    max_call_s: float = 3600.0


@dataclass(slots=True)
class AppConfig:
    provider: Provider = "local"
    transport: Transport = "websocket"
    protocol: WireProtocol = "auto"
    response_timeout_s: float = 60.0
    connect_timeout_s: float = 15.0
    session: SessionConfig = field(default_factory=SessionConfig)
    openai: OpenAIConfig = field(default_factory=OpenAIConfig)
    azure: AzureConfig = field(default_factory=AzureConfig)
    local: LocalConfig = field(default_factory=LocalConfig)
    live: LiveConfig = field(default_factory=LiveConfig)
    audio: AudioConfig = field(default_factory=AudioConfig)
    tools: ToolsConfig = field(default_factory=ToolsConfig)
    ui: UIConfig = field(default_factory=UIConfig)
    recording: RecordingConfig = field(default_factory=RecordingConfig)
    phone: PhoneConfig = field(default_factory=PhoneConfig)
    prices: dict[str, ModelPrices] = field(default_factory=lambda: dict(DEFAULT_PRICES))

    def priced_model(self) -> str:
        """The name the price table is looked up by: the OpenAI model; on Azure `azure/<deployment>` or
        `voice-live/<model>` (Azure prices by region and tier: no default matches, the user adds them);
        for the local server the OpenAI model it stands in for (its usage is an estimate)."""
        if self.provider == "azure":
            return f"{'voice-live' if self.azure.service == 'voice-live' else 'azure'}/{self.azure.deployment}"
        return self.openai.model

    def api_key(self) -> str | None:
        """The provider's key, read from the environment variable the configuration names."""
        match self.provider:
            case "openai":
                return os.environ.get(self.openai.api_key_env) or None
            case "azure":
                return os.environ.get(self.azure.api_key_env) or None
        return None


ENVIRONMENT: dict[str, tuple[str, str]] = {
    "VOICECLI_PROVIDER": ("", "provider"),
    "VOICECLI_TRANSPORT": ("", "transport"),
    "VOICECLI_PROTOCOL": ("", "protocol"),
    "VOICECLI_BRAIN": ("local", "brain"),
    "OPENAI_REALTIME_MODEL_ID": ("openai", "model"),
    "OPENAI_BASE_URL": ("openai", "base_url"),
    "AZURE_OPENAI_ENDPOINT": ("azure", "endpoint"),
    "AZURE_OPENAI_DEPLOYMENT_NAME": ("azure", "deployment"),
    "AZURE_OPENAI_REALTIME_DEPLOYMENT_NAME": ("azure", "deployment"),
    "AZURE_OPENAI_API_VERSION": ("azure", "api_version"),
}
"""Environment variables that override the file (later entries win over earlier ones)."""

SECRET_KEYS = frozenset({"api_key", "key", "token", "password", "secret"})
VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
URL_KEYS = frozenset({"base_url", "endpoint", "chat_url"})


def default_config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "voicecli" / "config.toml"


def load_config(
    path: Path | None = None,
    profile: str | None = None,
    overrides: dict[str, Any] | None = None,
    overrides_origin: str = "command line",
) -> AppConfig:
    """Build the effective configuration; `overrides` are dotted keys (from flags, or a demo script
    named by `overrides_origin` in error messages)."""
    config = AppConfig()
    file_path = path or default_config_path()
    if path is not None and not path.is_file():
        raise ConfigError(f"{path}: no such configuration file")
    if file_path.is_file():
        data = _read_toml(file_path)
        profiles = data.pop("profiles", {})
        config = _apply(config, data, str(file_path))
        if profile:
            if profile not in profiles:
                known = ", ".join(sorted(profiles)) or "none defined"
                raise ConfigError(f"{file_path}: no profile named {profile!r} (profiles: {known})")
            config = _apply(config, profiles[profile], f"{file_path} [profiles.{profile}]")
    elif profile:
        raise ConfigError(f"profile {profile!r} asked for, but there is no configuration file at {file_path}")
    config = _apply(config, _environment_values(), "environment")
    return _apply(config, _nest(overrides or {}), overrides_origin)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc


def _environment_values() -> dict[str, Any]:
    values: dict[str, Any] = {}
    for variable, (section, key) in ENVIRONMENT.items():
        value = os.environ.get(variable)
        if value:
            (values.setdefault(section, {}) if section else values)[key] = value
    return values


def _nest(dotted: dict[str, Any]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for key, value in dotted.items():
        if value is None:
            continue
        *sections, leaf = key.split(".")
        target = nested
        for section in sections:
            target = target.setdefault(section, {})
        target[leaf] = value
    return nested


def _apply(target: Any, values: dict[str, Any], origin: str, prefix: str = "") -> Any:
    """Return a copy of the dataclass `target` with `values` checked and merged in."""
    if not isinstance(values, dict):
        raise ConfigError(f"{origin}: {prefix.rstrip('.') or 'top level'}: expected a table")
    hints = get_type_hints(type(target))
    known = {f.name for f in fields(target)}
    changes: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if key in SECRET_KEYS:
            raise ConfigError(
                f"{origin}: {name}: secrets are not read from files; set `api_key_env` to the name "
                "of an environment variable instead"
            )
        if key not in known:
            raise ConfigError(f"{origin}: {name}: unknown key (known: {', '.join(sorted(known))})")
        current = getattr(target, key)
        if key == "prices" and isinstance(target, AppConfig):
            try:
                changes[key] = merged_prices(current, value, origin, name)
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
        elif is_dataclass(current):
            changes[key] = _apply(current, value, origin, f"{name}.")
        else:
            changes[key] = _check_value(hints[key], value, origin, name)
            _check_meaning(key, changes[key], origin, name)
    return replace(target, **changes)


def _check_meaning(key: str, value: Any, origin: str, name: str) -> None:
    """Values of the right type that still cannot work: a wait of no time, a key where its name belongs."""
    if key.endswith("_s") and value <= 0:
        raise ConfigError(f"{origin}: {name}: must be more than 0 seconds, got {value:g}")
    if key == "budget" and value < 0:
        raise ConfigError(f"{origin}: {name}: must be 0 (no limit) or more dollars, got {value:g}")
    if key in URL_KEYS and value and not re.match(r"(https?|wss?)://", value, re.IGNORECASE):
        remember_secret(value)  # not a URL: perhaps a key pasted into the wrong line, never shown
        raise ConfigError(f"{origin}: {name}: must be a URL starting with http:// or https:// (the value is not shown)")
    if key == "api_key_env" and not VARIABLE_NAME.fullmatch(value):
        remember_secret(value)  # most likely the key itself: never shown, wherever it might surface
        raise ConfigError(
            f"{origin}: {name}: must be the name of an environment variable such as OPENAI_API_KEY "
            "(the value given is not one and is not shown: if it is the key, export it in that variable)"
        )


def _check_value(annotation: Any, value: Any, origin: str, name: str) -> Any:
    choices = get_args(annotation)
    if float in choices:  # a number or a word (`speed = 4` or `speed = "max"`)
        words = [word for choice in choices for word in get_args(choice)]
        if value in words:
            return value
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ConfigError(f"{origin}: {name}: expected a number or {' or '.join(map(repr, words))}, got {value!r}")
        return float(value)
    if choices and all(isinstance(c, str) for c in choices):
        if value not in choices:
            raise ConfigError(f"{origin}: {name}: {value!r} is not one of {', '.join(choices)}")
        return value
    expected = {float: (int, float), int: (int,), str: (str,), bool: (bool,)}.get(annotation)
    if expected is not None:
        if not isinstance(value, expected) or (annotation is not bool and isinstance(value, bool)):
            raise ConfigError(f"{origin}: {name}: expected {annotation.__name__}, got {value!r}")
        return annotation(value)
    if choices and get_origin(choices[0]) is dict:  # tables checked by their consumer (`[[tools.mcp]]`)
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise ConfigError(f"{origin}: {name}: expected a list of tables ([[{name}]])")
        return list(value)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{origin}: {name}: expected a list of strings, got {value!r}")
    allowed = get_args(choices[0]) if choices else ()
    for item in value:
        if allowed and item not in allowed:
            raise ConfigError(f"{origin}: {name}: {item!r} is not one of {', '.join(allowed)}")
    return list(value)


def to_display_dict(config: AppConfig) -> dict[str, Any]:
    """The configuration as nested dicts, with whether each provider key is set (never its value)."""

    def convert(obj: Any) -> Any:
        if isinstance(obj, dict):
            return {key: convert(value) for key, value in obj.items()}
        return {f.name: convert(getattr(obj, f.name)) for f in fields(obj)} if is_dataclass(obj) else obj

    shown = convert(config)
    for section in ("openai", "azure"):
        variable = shown[section]["api_key_env"]
        shown[section]["api_key"] = "set (hidden)" if os.environ.get(variable) else f"not set (${variable})"
    return shown
