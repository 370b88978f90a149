"""Everything a script needs, resolved before any script connects: configuration, tools, brain, audio.

A batch of scripts is prepared in full first, so one bad script stops the command (exit code 2)
before anything runs, instead of after the others have spent their time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from voicecli.commands.demo.inputs import TurnInput, prepare_inputs
from voicecli.commands.demo.script import DemoScript, ScriptError
from voicecli.commands.demo.settings import script_config
from voicecli.config import AppConfig, ConfigError, Provider
from voicecli.config.app_config import Approve
from voicecli.conversation.mcp_config import HostedMcpServer, McpServer, configured_mcp_servers
from voicecli.conversation.tools import configured_tools
from voicecli.realtime.functions import ToolFunction, describe


@dataclass(frozen=True, slots=True)
class PreparedScript:
    script: DemoScript
    config: AppConfig
    tools: list[ToolFunction]
    inputs: list[TurnInput]
    output_dir: Path
    mcp_servers: list[McpServer | HostedMcpServer] = field(default_factory=list)

    @property
    def tool_names(self) -> list[str]:
        return [describe(fn).name for fn in self.tools]


def prepare(
    script: DemoScript,
    output_dir: Path,
    config_path: Path | None,
    profile: str | None,
    provider: Provider | None,
    approve: Approve | None = None,
) -> PreparedScript:
    """Resolve one script; raise a `ConfigError` (exit code 2) naming the file and key on any problem."""
    config = script_config(script, config_path, profile, provider, approve)
    tools = configured_tools(config)
    if config.provider == "local":
        _check_brain(script, config)
    try:
        servers = configured_mcp_servers(config)
    except ConfigError as exc:
        raise ScriptError(f"{script.path}: {exc}") from None
    return PreparedScript(script, config, tools, prepare_inputs(script), output_dir, servers)


def _check_brain(script: DemoScript, config: AppConfig) -> None:
    """Load the local server's brain now: a broken brain script would otherwise fail mid-connect."""
    from voicecli.server.brains import load_brain

    brain_script = Path(config.local.script) if config.local.script else None
    try:
        load_brain(
            config.local.brain,
            brain_script,
            chat_url=config.local.chat_url or None,
            chat_model=config.local.chat_model or None,
            chat_api_key_env=config.local.chat_api_key_env or None,
        )
    except (ValueError, OSError) as exc:  # TOMLDecodeError is a ValueError
        key = "local.script" if config.local.brain == "scripted" else "local"
        raise ScriptError(f"{script.path}: {key}: {exc}") from None
