"""Demo scripts: a TOML file naming provider, session settings and tools, then the user's turns.

The settings use the configuration file's own tables (`provider`, `[session]`, `[local]`, `[tools]`,
...), so nothing new has to be learnt. Everything is checked here, before anything connects: a bad
script costs one line naming the file and key (exit code 2), never half a run.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from voicecli.commands.demo.expectations import Expectation, parse_expectation
from voicecli.config import ConfigError

TurnKind = Literal["text", "wav", "say"]
TURN_KINDS: tuple[TurnKind, ...] = ("text", "wav", "say")
TURN_LABELS: dict[TurnKind, str] = {"text": "typed text", "wav": "WAV file", "say": "spoken by espeak-ng"}
SETTINGS_KEYS = ("provider", "transport", "response_timeout_s", "session", "openai", "azure", "local", "tools")
"""The configuration keys a script may set; they override the user's configuration file."""
SCRIPT_KEYS = ("title", "turn", *SETTINGS_KEYS)
TURN_KEYS = (*TURN_KINDS, "timeout_s", "expect")


class ScriptError(ConfigError):
    """A demo script cannot run as written; the message is one line naming the file and key."""


@dataclass(frozen=True, slots=True)
class DemoTurn:
    """One user turn: typed `text`, a `wav` file, or text to `say` with espeak-ng."""

    number: int
    kind: TurnKind
    content: str
    """The text typed or spoken, or the WAV path as the script wrote it."""
    wav_path: Path | None = None
    timeout_s: float | None = None
    expect: Expectation = field(default_factory=Expectation)

    @property
    def label(self) -> str:
        return TURN_LABELS[self.kind]


@dataclass(frozen=True, slots=True)
class DemoScript:
    path: Path
    title: str
    settings: dict[str, Any]
    """Configuration tables, with file paths made absolute against the script's folder."""
    turns: tuple[DemoTurn, ...]

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def spoken_phrases(self) -> list[str]:
        """What the `say` turns speak: the local server listens for exactly these."""
        return [turn.content for turn in self.turns if turn.kind == "say"]


def load_script(path: Path) -> DemoScript:
    """Read and check a demo script; raise `ScriptError` on the first problem."""
    data = _read(path)
    unknown = sorted(set(data) - set(SCRIPT_KEYS))
    if unknown:
        raise ScriptError(f"{path}: {unknown[0]}: unknown key (known: {', '.join(sorted(SCRIPT_KEYS))})")
    title = data.get("title", path.stem)
    if not isinstance(title, str):
        raise ScriptError(f"{path}: title: expected a string, got {title!r}")
    raw_turns = data.get("turn")
    if not isinstance(raw_turns, list) or not raw_turns:
        raise ScriptError(f"{path}: turn: a script needs at least one [[turn]] with text, wav or say")
    settings = {key: data[key] for key in SETTINGS_KEYS if key in data}
    _resolve_paths(settings, path)
    turns = tuple(_parse_turn(raw, number, path) for number, raw in enumerate(raw_turns, 1))
    return DemoScript(path=path, title=title, settings=settings, turns=turns)


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ScriptError(f"{path}: no such script file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ScriptError(f"{path}: not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScriptError(f"{path}: cannot read: {exc}") from None


def _resolve_paths(settings: dict[str, Any], path: Path) -> None:
    """Make `local.script` and the tools files relative to the script, and check that they exist."""
    local = settings.get("local")
    if isinstance(local, dict) and isinstance(local.get("script"), str) and local["script"]:
        local["script"] = str(_existing(f"{path}: local.script", path.parent, local["script"]))
    tools = settings.get("tools")
    if isinstance(tools, dict) and isinstance(tools.get("modules"), list):
        tools["modules"] = [
            str(_existing(f"{path}: tools.modules", path.parent, spec)) if _looks_like_path(spec) else spec
            for spec in tools["modules"]
        ]


def _looks_like_path(spec: Any) -> bool:
    """The rule `voicecli.conversation.tools` uses: a `.py` name or a path, else a dotted module name."""
    return isinstance(spec, str) and (spec.endswith(".py") or "/" in spec or "\\" in spec)


def _existing(where: str, folder: Path, relative: str) -> Path:
    """`relative` resolved against the script's folder; `where` names the file and key when it is missing."""
    resolved = folder / Path(relative).expanduser()
    if not resolved.is_file():
        raise ScriptError(f"{where}: no such file {relative!r} (looked in {folder})")
    return resolved


def _parse_turn(raw: Any, number: int, path: Path) -> DemoTurn:
    where = f"{path}: turn {number}"
    if not isinstance(raw, dict):
        raise ScriptError(f"{where}: must be a table ([[turn]])")
    unknown = sorted(set(raw) - set(TURN_KEYS))
    if unknown:
        raise ScriptError(f"{where}: {unknown[0]}: unknown key (known: {', '.join(TURN_KEYS)})")
    kinds = [kind for kind in TURN_KINDS if kind in raw]
    if len(kinds) != 1:
        found = " and ".join(kinds) if kinds else "none"
        raise ScriptError(f"{where}: needs exactly one of text, wav or say (found {found})")
    kind = kinds[0]
    content = raw[kind]
    if not isinstance(content, str) or not content.strip():
        raise ScriptError(f"{where}: {kind}: expected a non-empty string, got {content!r}")
    timeout = raw.get("timeout_s")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0):
        raise ScriptError(f"{where}: timeout_s: expected a positive number of seconds, got {timeout!r}")
    try:
        expect = parse_expectation(raw.get("expect", {}))
    except ValueError as exc:
        raise ScriptError(f"{where}: {exc}") from None
    if kind == "text" and expect.heard_contains is not None:
        raise ScriptError(f"{where}: expect.heard_contains: only a spoken turn (say or wav) has a transcript")
    wav_path = _existing(f"{where}: wav", path.parent, content) if kind == "wav" else None
    return DemoTurn(number, kind, content, wav_path, float(timeout) if timeout is not None else None, expect)
