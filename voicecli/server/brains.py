"""Where the local server's replies come from: pluggable, deterministic "brains".

A brain sees the conversation and the effective configuration of the response and returns reply
text and/or function calls; the session turns that into the service's event stream. `echo`
repeats the user (and says that it is only an echo); `scripted` follows a TOML script (for tests
and demos); `chat` asks an OpenAI-compatible chat model; `auto` is `chat` with a chat model found
running on this machine (`brain_choice`), else `echo`. Spoken turns reach the
brain as the words the server recognised (`recognition`), listening first for the brain's
`phrases`; audio nothing could be recognised in is described by its duration, never by invented
words.
"""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from voicecli.server.replies import (
    Brain,
    BrainError,
    Reply,
    ReplyStream,
    ToolCall,
    audio_seconds,
    is_user_message,
    joined_outputs,
    last_turn,
    user_text,
)
from voicecli.server.session.conversation import Item
from voicecli.server.session.hosted_mcp import hosted_tools

__all__ = [
    "DEFAULT_SCRIPT",
    "Brain",
    "BrainError",
    "EchoBrain",
    "Reply",
    "ReplyStream",
    "ScriptedBrain",
    "ToolCall",
    "load_brain",
]

DEFAULT_SCRIPT = Path(__file__).with_name("scripts") / "weather.toml"
_log = logging.getLogger(__name__)


def load_brain(
    name: str,
    script: Path | None = None,
    *,
    chat_url: str | None = None,
    chat_model: str | None = None,
    chat_api_key_env: str | None = None,
) -> Brain:
    """Build a brain by name: `auto`, `echo`, `scripted` (with `script`, default the weather example),
    or `chat` (an OpenAI-compatible chat completions endpoint at `chat_url`, e.g.
    http://127.0.0.1:11434/v1, its key in the environment variable `chat_api_key_env` if it needs one)."""
    if name == "echo":
        return EchoBrain()
    if name == "scripted":
        return ScriptedBrain.from_toml(script or DEFAULT_SCRIPT)
    if name not in ("chat", "auto"):
        raise ValueError(f"unknown brain {name!r}; choose 'auto', 'echo', 'scripted' or 'chat'")
    from voicecli.server.brain_choice import api_key_from, find_local_chat
    from voicecli.server.chat_brain import ChatBrain

    api_key = api_key_from(chat_api_key_env)
    if name == "chat" or chat_url:
        if not chat_url:
            raise ValueError("the chat brain needs the address of a chat completions endpoint (--chat-url)")
        return ChatBrain(chat_url, chat_model or "", api_key)
    found = find_local_chat(api_key)
    if found is None:
        _log.info("brain: echo (no local chat model answers on loopback; %s)", HOW_TO_ANSWER)
        return EchoBrain(explain=True)
    _log.info("brain: %s's model %s at %s (found on loopback)", found.name, chat_model or found.model, found.url)
    return ChatBrain(found.url, chat_model or found.model, api_key, found=found.name)


# --- echo ------------------------------------------------------------------------------------------


HOW_TO_ANSWER = (
    "for real answers, run a local chat model such as Ollama, or use --chat-url, or --provider openai or azure"
)
ECHO_GREETING = f"Hello! I am the local echo assistant: I repeat what you say. {HOW_TO_ANSWER.capitalize()}."
"""What the echo brain says when asked to speak before anyone has said anything."""


class EchoBrain:
    """Repeats the user's last message (typed or recognised); describes audio in which no words were
    recognised by its duration; reads tool outputs back. With `explain` (what `auto` falls back to),
    its first answer of a conversation also says that it only repeats, and how to get real answers."""

    phrases: tuple[str, ...] = ()

    def __init__(self, *, explain: bool = False) -> None:
        self.explain = explain
        self.label = "echo brain (no local chat model found)" if explain else "echo brain"

    async def reply(self, items: Sequence[Item], config: Mapping[str, Any]) -> Reply:
        user, outputs = last_turn(items)
        if outputs:
            return Reply(f"The tool answered: {joined_outputs(outputs)}")
        if user is None:
            return Reply(ECHO_GREETING)
        text = user_text(user)
        if text is not None and not user.audio:
            answer = f"You said: {text}"
        else:
            # The duration first: it tells what reached the server, whatever the recogniser made of it.
            heard = f"I heard {audio_seconds(user):.1f} seconds of audio"
            answer = f"{heard}. You said: {text}" if text else f"{heard}, but no words I know."
        if self.explain and not any(item.data.get("role") == "assistant" for item in items):
            answer += ("" if answer.endswith((".", "?", "!")) else ".") + f" I am only an echo: {HOW_TO_ANSWER}."
        return Reply(answer)


# --- scripted --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Turn:
    """One `[[turn]]` of a script."""

    when_contains: str | None = None
    examples: tuple[str, ...] = ()
    """Whole sentences a user may say for this turn: the recogniser listens for them."""
    reply: str = ""
    calls: tuple[ToolCall, ...] = ()
    after_tool: str | None = None
    preamble: str = ""


class ScriptedBrain:
    """Replies from a script: the first turn whose `when_contains` occurs in the user's last text
    (case-insensitive); otherwise the turns without `when_contains`, one per unmatched user message
    in order (the last one repeats). Calls go only to tools the session declares."""

    def __init__(self, turns: Sequence[Turn]) -> None:
        self.turns = tuple(turns)
        self.phrases = tuple(phrase for turn in self.turns for phrase in (*turn.examples, turn.when_contains) if phrase)
        self._fallbacks = [turn for turn in self.turns if turn.when_contains is None]

    @classmethod
    def from_toml(cls, path: Path) -> ScriptedBrain:
        """Load a script; raise ValueError naming the file (and turn) when it cannot be read or is malformed."""
        try:
            with path.open("rb") as file:
                data = tomllib.load(file)
        except OSError as exc:
            raise ValueError(f"{path}: cannot read the script: {exc.strerror or exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{path}: not a valid TOML script: {exc}") from None
        raw_turns = data.get("turn")
        if not isinstance(raw_turns, list) or not raw_turns:
            raise ValueError(f"{path}: a script needs at least one [[turn]]")
        return cls([_parse_turn(raw, f"{path}: turn {number}") for number, raw in enumerate(raw_turns, 1)])

    async def reply(self, items: Sequence[Item], config: Mapping[str, Any]) -> Reply:
        user, outputs = last_turn(items)
        if outputs:
            return Reply(self._after_tool(items, outputs))
        if user is None:
            return Reply("There is nothing to answer yet.")
        turn = self._turn_for(items, user)
        if turn is None:
            return Reply("I have no scripted answer for that.")
        return self._perform(turn, items, config)

    def _turn_for(self, items: Sequence[Item], user: Item) -> Turn | None:
        matched = self._match(user_text(user))
        if matched is not None or not self._fallbacks:
            return matched
        earlier = 0
        for item in items:
            if item is user:
                break
            if is_user_message(item) and self._match(user_text(item)) is None:
                earlier += 1
        return self._fallbacks[min(earlier, len(self._fallbacks) - 1)]

    def _match(self, text: str | None) -> Turn | None:
        lowered = (text or "").lower()
        return next(
            (turn for turn in self.turns if turn.when_contains and turn.when_contains.lower() in lowered),
            None,
        )

    def _perform(self, turn: Turn, items: Sequence[Item], config: Mapping[str, Any]) -> Reply:
        declared = {
            tool.get("name") for tool in config.get("tools") or () if tool.get("type", "function") == "function"
        } | set(hosted_tools(items, config))
        allowed = config.get("tool_choice") != "none"
        calls = tuple(call for call in turn.calls if allowed and call.name in declared)
        text = turn.reply
        if not text and not calls and turn.calls:
            names = ", ".join(call.name for call in turn.calls)
            text = f"The script calls {names}, but this session offers no such tool."
        return Reply(text, calls, preamble=turn.preamble)

    def _after_tool(self, items: Sequence[Item], outputs: Sequence[Item]) -> str:
        output = joined_outputs(outputs)
        call_ids = {item.data.get("call_id") for item in outputs}
        asked = {item.data.get("approval_request_id") for item in outputs}
        user: Item | None = None
        for item in items:
            kind = item.data.get("type")
            if is_user_message(item):
                user = item
            elif (
                (kind == "function_call" and item.data.get("call_id") in call_ids)
                or (kind == "mcp_approval_request" and item.id in asked)
                or any(item is output for output in outputs)  # a hosted call is its own output
            ):
                break
        turn = self._turn_for(items, user) if user is not None else None
        template = turn.after_tool if turn is not None and turn.after_tool else "The tool answered: {output}"
        return template.replace("{output}", output)


def _parse_turn(raw: Any, where: str) -> Turn:
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: must be a table")
    unknown = set(raw) - {"when_contains", "examples", "reply", "call", "after_tool", "preamble"}
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
    for key in ("when_contains", "reply", "after_tool", "preamble"):
        if key in raw and not isinstance(raw[key], str):
            raise ValueError(f"{where}: {key} must be a string")
    examples = raw.get("examples", [])
    if not isinstance(examples, list) or not all(isinstance(example, str) for example in examples):
        raise ValueError(f"{where}: examples must be a list of strings")
    calls = []
    for call in raw.get("call", []):
        if not isinstance(call, dict) or not isinstance(call.get("name"), str):
            raise ValueError(f"{where}: each [[turn.call]] needs a string name")
        arguments = call.get("arguments", {})
        if not isinstance(arguments, dict):
            raise ValueError(f"{where}: arguments of {call['name']} must be a table")
        calls.append(ToolCall(call["name"], orjson.dumps(arguments).decode()))
    if not raw.get("reply") and not calls:
        raise ValueError(f"{where}: needs a reply or a [[turn.call]]")
    return Turn(
        raw.get("when_contains"),
        tuple(examples),
        raw.get("reply", ""),
        tuple(calls),
        raw.get("after_tool"),
        raw.get("preamble", ""),
    )
