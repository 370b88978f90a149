"""The MCP servers a configuration names: `--mcp "COMMAND ARGS…"` and `[[tools.mcp]]` tables, which
voicecli starts itself, and `[[tools.hosted_mcp]]` tables, which the Realtime service calls.

Secrets never live in the file: a header or environment value names its variable as `${NAME}`, read
when the server is started, and a header that carries credentials (Authorization, a key, a token,
a cookie) is refused when it holds anything but such a reference. Every problem is one line.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from voicecli.config import AppConfig, ConfigError
from voicecli.realtime.safe_text import remember_secret

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]{0,63})\}")
_LABEL = re.compile(r"[A-Za-z0-9_-]{1,64}")
_CREDENTIAL_HEADER = re.compile(r"authorization|key|token|secret|cookie|password", re.IGNORECASE)
_KEYS = frozenset(
    {"name", "command", "args", "env", "cwd", "url", "headers", "timeout_s", "start_timeout_s", "confirm"}
)
_HOSTED_KEYS = frozenset(
    {"server_label", "server_url", "allowed_tools", "require_approval", "headers", "server_description"}
)
DEFAULT_TIMEOUT_S = 20.0
"""How long a server may take to start, list its tools or answer a call before it counts as hung:
shorter than a tool's own 30 s, so a hung server's line names the server."""
DEFAULT_START_TIMEOUT_S = 60.0
"""How long a server may take to start: `npx -y` or `uvx` may first download it."""


@dataclass(frozen=True, slots=True)
class McpServer:
    label: str
    command: str = ""
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    cwd: str = ""
    url: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    timeout_s: float = DEFAULT_TIMEOUT_S
    start_timeout_s: float = DEFAULT_START_TIMEOUT_S
    confirm: bool | tuple[str, ...] = False
    """True: every tool of the server needs the user's approval; or the names of those that do."""

    def needs_confirmation(self, tool_name: str) -> bool:
        return self.confirm is True or (isinstance(self.confirm, tuple) and tool_name in self.confirm)

    @property
    def source(self) -> str:
        return f"MCP server {self.label!r}"

    def resolved_env(self) -> dict[str, str]:
        return {name: _expand(value) for name, value in self.env.items()}

    def resolved_headers(self) -> dict[str, str]:
        return {name: _expand(value) for name, value in self.headers.items()}


@dataclass(frozen=True, slots=True)
class HostedMcpServer:
    """An MCP server the Realtime service calls itself: a `{"type": "mcp"}` tool of the session."""

    label: str
    url: str
    allowed_tools: tuple[str, ...] | None = None
    require_approval: str | dict[str, Any] = "always"
    headers: dict[str, str] = field(default_factory=dict)
    description: str = ""

    def payload(self) -> dict[str, Any]:
        """The session's tool, its header secrets read from their variables now (and never shown)."""
        tool: dict[str, Any] = {
            "type": "mcp",
            "server_label": self.label,
            "server_url": self.url,
            "require_approval": self.require_approval,
        }
        if self.allowed_tools is not None:
            tool["allowed_tools"] = list(self.allowed_tools)
        if self.headers:
            tool["headers"] = {name: _expand(value) for name, value in self.headers.items()}
        if self.description:
            tool["server_description"] = self.description
        return tool


def configured_mcp_servers(config: AppConfig) -> list[McpServer | HostedMcpServer]:
    """The servers voicecli starts, then those the service calls (`[[tools.hosted_mcp]]`)."""
    local: list[McpServer | HostedMcpServer] = list(mcp_servers(config.tools.mcp_commands, config.tools.mcp))
    return local + hosted_mcp_servers(config.tools.hosted_mcp)


def hosted_mcp_servers(tables: list[dict[str, Any]]) -> list[HostedMcpServer]:
    """The `[[tools.hosted_mcp]]` tables, checked; each label once (the service refuses two alike)."""
    servers = [_hosted(table, f"tools.hosted_mcp[{index}]") for index, table in enumerate(tables)]
    labels = [server.label for server in servers]
    for label in labels:
        if labels.count(label) > 1:
            raise ConfigError(f"tools.hosted_mcp: two servers are labelled {label!r}; give each its own server_label")
    return servers


def _hosted(table: Any, where: str) -> HostedMcpServer:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a table ([[tools.hosted_mcp]]) with server_label and server_url")
    unknown = set(table) - _HOSTED_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown key {sorted(unknown)[0]!r} (known: {', '.join(sorted(_HOSTED_KEYS))})")
    label, url = table.get("server_label"), table.get("server_url")
    if not isinstance(label, str) or not _LABEL.fullmatch(label):
        raise ConfigError(f"{where}.server_label: expected a name of letters, digits, _ and - (at most 64)")
    if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
        remember_secret(url if isinstance(url, str) else None)
        raise ConfigError(f"{where}.server_url: must be a URL starting with http:// or https:// (not shown)")
    allowed = table.get("allowed_tools")
    if allowed is not None and (not isinstance(allowed, list) or not all(isinstance(a, str) for a in allowed)):
        raise ConfigError(f"{where}.allowed_tools: expected a list of tool names")
    approval = table.get("require_approval", "always")
    if approval not in ("always", "never") and not _approval_filter(approval):
        raise ConfigError(
            f'{where}.require_approval: expected "always", "never" or a table such as '
            '{ never = { tool_names = ["search"] } }'
        )
    description = table.get("server_description", "")
    if not isinstance(description, str):
        raise ConfigError(f"{where}.server_description: expected a string")
    return HostedMcpServer(
        label=label,
        url=url,
        allowed_tools=tuple(allowed) if allowed is not None else None,
        require_approval=approval,
        headers=_values(table.get("headers", {}), f"{where}.headers"),
        description=description,
    )


def _approval_filter(value: Any) -> bool:
    """`{always = {tool_names = [...]}, never = {...}}`, each with `tool_names` and/or `read_only`."""
    if not isinstance(value, dict) or not value or set(value) - {"always", "never"}:
        return False
    for rule in value.values():
        if not isinstance(rule, dict) or set(rule) - {"tool_names", "read_only"}:
            return False
        names = rule.get("tool_names", [])
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            return False
        if not isinstance(rule.get("read_only", False), bool):
            return False
    return True


def mcp_servers(commands: list[str], tables: list[dict[str, Any]]) -> list[McpServer]:
    """The servers of `--mcp` / `tools.mcp_commands` and of `[[tools.mcp]]`, checked; labels are unique."""
    servers = [_from_command(command, f"--mcp {command!r}") for command in commands]
    servers += [_from_table(table, f"tools.mcp[{index}]") for index, table in enumerate(tables)]
    seen: dict[str, int] = {}
    unique = []
    for server in servers:
        count = seen[server.label] = seen.get(server.label, 0) + 1
        unique.append(server if count == 1 else _relabelled(server, f"{server.label}-{count}"))
    return unique


def _relabelled(server: McpServer, label: str) -> McpServer:
    return replace(server, label=label)


def _from_command(command: str, where: str) -> McpServer:
    try:
        words = shlex.split(command)
    except ValueError as exc:
        raise ConfigError(f"{where}: cannot split into words: {exc}") from None
    if not words:
        raise ConfigError(f"{where}: names no command")
    return McpServer(label=_label_of(words), command=words[0], args=tuple(words[1:]))


def _label_of(words: list[str]) -> str:
    """A short name for a command line: its package or script, not the launcher (`npx -y pkg` is `pkg`)."""
    meaningful = [w for w in words if not w.startswith("-")]
    launchers = {"npx", "uvx", "uv", "python", "python3", "node", "pipx", "run", "docker"}
    named = [w for w in meaningful if os.path.basename(w) not in launchers] or meaningful or ["mcp"]
    chosen = named[0]
    return os.path.basename(chosen.rstrip("/")).removesuffix(".py") or "mcp"


def _from_table(table: Any, where: str) -> McpServer:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a table ([[tools.mcp]]) with `command` or `url`")
    unknown = set(table) - _KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown key {sorted(unknown)[0]!r} (known: {', '.join(sorted(_KEYS))})")
    command, url = table.get("command", ""), table.get("url", "")
    if not isinstance(command, str) or not isinstance(url, str) or bool(command) == bool(url):
        raise ConfigError(f"{where}: give exactly one of `command` (a stdio server) or `url` (streamable HTTP)")
    if url and urlsplit(url).scheme not in ("http", "https"):
        remember_secret(url)  # perhaps a key pasted into the wrong line: never shown
        raise ConfigError(f"{where}.url: must start with http:// or https:// (the value is not shown)")
    args = table.get("args", [])
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise ConfigError(f"{where}.args: expected a list of strings")
    timeout_s = _seconds(table.get("timeout_s", DEFAULT_TIMEOUT_S), f"{where}.timeout_s")
    start_timeout_s = _seconds(table.get("start_timeout_s", DEFAULT_START_TIMEOUT_S), f"{where}.start_timeout_s")
    cwd = table.get("cwd", "")
    if not isinstance(cwd, str):
        raise ConfigError(f"{where}.cwd: expected a string")
    name = table.get("name") or (_label_of([command]) if command else urlsplit(url).hostname or "mcp")
    if not isinstance(name, str):
        raise ConfigError(f"{where}.name: expected a string")
    return McpServer(
        label=name,
        command=command,
        args=tuple(args),
        env=_values(table.get("env", {}), f"{where}.env"),
        cwd=cwd,
        url=url,
        headers=_values(table.get("headers", {}), f"{where}.headers"),
        timeout_s=timeout_s,
        start_timeout_s=start_timeout_s,
        confirm=_confirm(table.get("confirm", False), f"{where}.confirm"),
    )


def _confirm(value: Any, where: str) -> bool | tuple[str, ...]:
    if isinstance(value, bool):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ConfigError(f"{where}: expected true, false or a list of tool names")


def _seconds(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigError(f"{where}: expected a number of seconds above 0")
    return float(value)


def _values(table: Any, where: str) -> dict[str, str]:
    """Header or environment values: credentials only as `${VARIABLE}`, and every variable set."""
    if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
        raise ConfigError(f"{where}: expected a table of strings")
    for name, value in table.items():
        if _CREDENTIAL_HEADER.search(name) and value and not _VARIABLE.search(value):
            remember_secret(value)
            raise ConfigError(
                f"{where}.{name}: secrets are not read from files; write ${{VARIABLE}} and export the secret "
                "in that environment variable (the value given is not shown)"
            )
        for variable in _VARIABLE.findall(value):
            if not os.environ.get(variable):
                raise ConfigError(f"{where}.{name}: the environment variable {variable} is not set")
    return dict(table)


def _expand(value: str) -> str:
    """The value with each `${VARIABLE}` replaced; what came from a variable is never shown."""
    for variable in _VARIABLE.findall(value):
        remember_secret(os.environ.get(variable, ""))
    return _VARIABLE.sub(lambda m: os.environ.get(m.group(1), ""), value)
