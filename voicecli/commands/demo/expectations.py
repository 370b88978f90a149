"""What a demo turn may expect of its answer, and the checks that say expected vs got.

A failed check carries the text a person needs to fix the script or the model: what was expected,
what actually came back, and for tool arguments which key differed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from voicecli.realtime import FunctionCallContent

EXPECT_KEYS = ("reply_contains", "heard_contains", "tool", "tool_arguments")


@dataclass(frozen=True, slots=True)
class Expectation:
    """The `expect` table of one turn; `None` fields are not checked."""

    reply_contains: str | None = None
    heard_contains: str | None = None
    """Words the service's transcript of a spoken turn must contain (any case, punctuation ignored)."""
    tool: str | None = None
    tool_arguments: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One expectation after the turn: `expected` and `got` are short human-readable texts."""

    name: str
    passed: bool
    expected: str
    got: str
    detail: str = ""


def parse_expectation(raw: Any) -> Expectation:
    """Read an `expect` table; raise ValueError naming the key when it is malformed."""
    if not isinstance(raw, dict):
        raise ValueError('expect: must be a table, e.g. expect.reply_contains = "hello"')
    unknown = sorted(set(raw) - set(EXPECT_KEYS))
    if unknown:
        raise ValueError(f"expect.{unknown[0]}: unknown key (known: {', '.join(EXPECT_KEYS)})")
    for key in ("reply_contains", "heard_contains", "tool"):
        value = raw.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ValueError(f"expect.{key}: must be a non-empty string, got {value!r}")
    arguments = raw.get("tool_arguments")
    if arguments is not None and not isinstance(arguments, dict):
        raise ValueError(f'expect.tool_arguments: must be a table, e.g. {{ city = "Paris" }}, got {arguments!r}')
    return Expectation(raw.get("reply_contains"), raw.get("heard_contains"), raw.get("tool"), arguments)


def check(
    expect: Expectation, reply: str, calls: Sequence[FunctionCallContent], heard: str | None = None
) -> list[CheckResult]:
    """Every expectation of the turn against its reply text, the tool calls the model made, and
    `heard`, the service's transcript of a spoken turn (None when none came)."""
    results: list[CheckResult] = []
    if expect.heard_contains is not None:
        results.append(_check_heard(expect.heard_contains, heard))
    if expect.reply_contains is not None:
        results.append(
            CheckResult(
                "reply_contains",
                expect.reply_contains.casefold() in reply.casefold(),
                f"a reply containing {_quoted(expect.reply_contains)} (any case)",
                _quoted(reply) if reply else "no reply text",
            )
        )
    if expect.tool is not None:
        results.append(
            CheckResult(
                "tool",
                any(call.name == expect.tool for call in calls),
                f"a call to {expect.tool}",
                _calls_text(calls),
            )
        )
    if expect.tool_arguments is not None:
        results.append(_check_arguments(expect, calls))
    return results


def _check_heard(expected: str, heard: str | None) -> CheckResult:
    """Passes when the transcript holds the expected words in order; the diff names the words missing."""
    wanted, got = _words(expected), _words(heard or "")
    passed = f" {' '.join(wanted)} " in f" {' '.join(got)} "
    missing = [word for word in wanted if word not in got]
    detail = ""
    if not passed:
        detail = f"missing {', '.join(missing)}" if missing else "the words are there, not in this order"
    return CheckResult(
        "heard_contains",
        passed,
        f"a transcript of what was said containing {_quoted(expected)} (any case)",
        _quoted(heard) if heard else "no transcript of the user's speech (is input transcription on?)",
        detail,
    )


def _words(text: str) -> list[str]:
    return re.findall(r"[\w']+", text.casefold())


def _check_arguments(expect: Expectation, calls: Sequence[FunctionCallContent]) -> CheckResult:
    """Passes when some call (of `expect.tool`, if named) has at least the expected arguments."""
    wanted = expect.tool_arguments or {}
    candidates = [call for call in calls if expect.tool is None or call.name == expect.tool]
    target = expect.tool or "a tool"
    expected = f"{target} called with at least {_json(wanted)}"
    if not candidates:
        return CheckResult("tool_arguments", False, expected, _calls_text(calls))
    differences = min((_differences(wanted, call_arguments(call)) for call in candidates), key=len)
    return CheckResult("tool_arguments", not differences, expected, _calls_text(candidates), "; ".join(differences))


def _differences(expected: dict[str, Any], got: Any, prefix: str = "") -> list[str]:
    """Why `got` does not contain `expected` (nested tables are matched the same way); empty when it does."""
    if not isinstance(got, dict):
        return [f"{prefix.rstrip('.') or 'arguments'}: expected a table, got {_json(got)}"]
    found: list[str] = []
    for key, value in expected.items():
        name = f"{prefix}{key}"
        if key not in got:
            found.append(f"{name}: missing (expected {_json(value)})")
        elif isinstance(value, dict):
            found += _differences(value, got[key], f"{name}.")
        elif got[key] != value:
            found.append(f"{name}: expected {_json(value)}, got {_json(got[key])}")
    return found


def call_arguments(call: FunctionCallContent) -> Any:
    """The call's arguments as JSON values, or the raw text when the model sent invalid JSON."""
    try:
        return json.loads(call.arguments or "{}")
    except ValueError:
        return call.arguments


def _calls_text(calls: Sequence[FunctionCallContent]) -> str:
    if not calls:
        return "no tool calls"
    return ", ".join(f"{call.name}({call.arguments})" for call in calls)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _quoted(text: str) -> str:
    return json.dumps(text.strip(), ensure_ascii=False)
