"""Tools the model may call: plain Python callables described by their type hints and docstrings.

A tool that raises (even `SystemExit` or `KeyboardInterrupt`), times out, gets bad arguments or does
not exist produces an error text for the model instead of an exception, so one broken tool never ends
a conversation. What a tool returns is cut to `MAX_RESULT_CHARS`, saying so, before anyone sees it.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import enum
import functools
import inspect
import json
import threading
import time
import types
import typing
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from voicecli.realtime.events import FunctionResultContent

ToolFunction = Callable[..., Any]
Approver = Callable[[str, dict[str, Any]], Awaitable[bool]]
"""Asks the user whether a tool may run with these arguments; True runs it."""
_TOOL_MARK = "__voicecli_tool__"
_SIMPLE_TYPES: dict[type, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}
MAX_RESULT_CHARS = 16_000
"""About 4,000 tokens: an eighth of gpt-realtime's 32k-token context. A bigger result would push the
conversation itself out of what the model can see, and cost every later turn as much again."""


def tool(
    fn: ToolFunction | None = None, *, name: str | None = None, description: str | None = None, confirm: bool = False
) -> Any:
    """Mark a function or method as a tool, optionally renaming or re-describing it; `confirm=True`
    for one that changes things: the user approves each call before it runs."""

    def mark(target: ToolFunction) -> ToolFunction:
        setattr(target, _TOOL_MARK, {"name": name, "description": description, "confirm": confirm})
        return target

    return mark(fn) if fn is not None else mark


def _json_schema(annotation: Any) -> dict[str, Any]:
    """JSON schema of one parameter annotation (the subset the realtime API understands)."""
    origin = get_origin(annotation)
    if origin is typing.Annotated:
        base, *meta = get_args(annotation)
        schema = _json_schema(base)
        descriptions = [m for m in meta if isinstance(m, str)]
        if descriptions:
            schema["description"] = descriptions[0]
        return schema
    if origin in (Union, types.UnionType):
        options = [a for a in get_args(annotation) if a is not type(None)]
        return _json_schema(options[0]) if len(options) == 1 else {"anyOf": [_json_schema(a) for a in options]}
    if origin is Literal:
        values = list(get_args(annotation))
        return {"type": _SIMPLE_TYPES.get(type(values[0]), "string"), "enum": values}
    if origin in (list, tuple, set, frozenset) or annotation in (list, tuple, set):
        item_args = get_args(annotation)
        return {"type": "array", "items": _json_schema(item_args[0]) if item_args else {}}
    if origin is dict or annotation is dict:
        return {"type": "object"}
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return {"type": "string", "enum": [member.value for member in annotation]}
    if annotation in _SIMPLE_TYPES:
        return {"type": _SIMPLE_TYPES[annotation]}
    return {"type": "string"}


def _docstring_summary(fn: ToolFunction) -> str:
    doc = inspect.getdoc(fn) or ""
    return doc.split("\n\n", 1)[0].replace("\n", " ").strip()


@dataclass(slots=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]
    function: ToolFunction
    enum_parameters: dict[str, type[enum.Enum]] = field(default_factory=dict)
    source: str = ""
    """Where the tool comes from (a file, an MCP server), named when two sources offer the same name."""
    confirm: bool = False
    """The user approves each call before it runs (`@tool(confirm=True)`, or the configuration)."""

    def coerce(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """Turn enum values the model sent as strings into the members the function expects."""
        return {k: self.enum_parameters[k](v) if k in self.enum_parameters else v for k, v in arguments.items()}

    def to_payload(self) -> dict[str, Any]:
        return {"type": "function", "name": self.name, "description": self.description, "parameters": self.parameters}


def describe(fn: ToolFunction, name: str | None = None, description: str | None = None) -> Tool:
    """Build the tool description of a callable from its signature, hints and docstring."""
    mark = getattr(fn, _TOOL_MARK, None) or {}
    hints = get_type_hints(fn, include_extras=True)
    properties: dict[str, Any] = {}
    required: list[str] = []
    enums: dict[str, type[enum.Enum]] = {}
    for param in inspect.signature(fn).parameters.values():
        if param.name == "self" or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        annotation = hints.get(param.name, str)
        properties[param.name] = _json_schema(annotation)
        if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
            enums[param.name] = annotation
        if param.default is inspect.Parameter.empty:
            required.append(param.name)
    return Tool(
        name=name or mark.get("name") or fn.__name__,
        description=description or mark.get("description") or _docstring_summary(fn),
        parameters={"type": "object", "properties": properties, "required": required},
        function=fn,
        enum_parameters=enums,
        confirm=bool(mark.get("confirm")),
    )


class ToolRegistry:
    """The tools of one client: registration, the session payload, and safe invocation."""

    def __init__(
        self, tools: Iterable[ToolFunction] = (), plugins: dict[str, object] | None = None, timeout_s: float = 30.0
    ) -> None:
        self._tools: dict[str, Tool] = {}
        self.timeout_s = timeout_s
        self.approver: Approver | None = None
        """Who approves the calls of tools that need it; without one they are refused, never run unasked."""
        self.confirm_names: set[str] = set()
        """Names of tools that need approval whatever their source says (the configuration's list)."""
        self.hosted: list[dict[str, Any]] = []
        """Hosted MCP servers (`{"type": "mcp", ...}` tools): the service calls them, not this client."""
        for fn in tools:
            self.add(fn)
        for plugin_name, plugin in (plugins or {}).items():
            self.add_plugin(plugin, plugin_name)

    def add(self, fn: ToolFunction, name: str | None = None) -> Tool:
        described = describe(fn, name=name)
        self._tools[described.name] = described
        return described

    def add_plugin(self, plugin: object, plugin_name: str) -> list[Tool]:
        """Register every `@tool` method of an object as `PluginName-method`."""
        added = []
        for attr_name, member in inspect.getmembers(plugin, callable):
            mark = getattr(member, _TOOL_MARK, None)
            if mark is None:
                continue
            added.append(self.add(member, name=f"{plugin_name}-{mark.get('name') or attr_name}"))
        return added

    def add_tool(self, described: Tool) -> None:
        """Offer a tool described elsewhere (an MCP server's, with its own schema); the caller
        refreshes the session (`update_session`) when tools come or go mid-conversation."""
        self._tools[described.name] = described

    def withdraw(self, source: str) -> list[str]:
        """Remove every tool of one source (an MCP server that stopped); returns their names."""
        gone = [name for name, t in self._tools.items() if t.source == source]
        for name in gone:
            del self._tools[name]
        return gone

    def source_of(self, name: str) -> str | None:
        """Where the tool of that name comes from, or None when there is none."""
        found = self._tools.get(name)
        return None if found is None else found.source or _function_source(found.function)

    def described(self) -> list[Tool]:
        """The tools as offered (to share them with another client's registry)."""
        return list(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def payload(self) -> list[dict[str, Any]]:
        return [t.to_payload() for t in self._tools.values()] + [dict(tool) for tool in self.hosted]

    async def invoke(self, name: str, arguments_json: str, call_id: str) -> FunctionResultContent:
        started = time.perf_counter()

        def result(text: str, is_error: bool) -> FunctionResultContent:
            return FunctionResultContent(
                name=name,
                call_id=call_id,
                result=_bounded(text),
                is_error=is_error,
                duration_s=time.perf_counter() - started,
            )

        found = self._tools.get(name)
        if found is None:
            return result(f"Error: there is no tool named {name!r}.", True)
        try:
            arguments = json.loads(arguments_json or "{}")
            if not isinstance(arguments, dict):
                raise ValueError("arguments must be a JSON object")
        except ValueError as exc:
            return result(f"Error: the arguments for {name} are not valid JSON ({exc}).", True)
        if (found.confirm or name in self.confirm_names) and not await self.approve(name, arguments):
            return result(f"The user did not approve running {name}, so it did not run.", False)
        try:
            async with asyncio.timeout(self.timeout_s):
                value = await _call(found.function, found.coerce(arguments))
        except TimeoutError:
            return result(f"Error: {name} did not finish within {self.timeout_s:g} s.", True)
        except (Exception, SystemExit, KeyboardInterrupt) as exc:  # reported to the model, never raised
            return result(f"Error: {name} failed: {type(exc).__name__}: {exc}", True)
        try:
            return result(_as_text(value), False)
        except Exception as exc:  # even str() failed
            return result(f"Error: the value {name} returned cannot be sent ({type(exc).__name__}: {exc}).", True)

    async def approve(self, name: str, arguments: dict[str, Any]) -> bool:
        """The approver's answer for one call (a hosted MCP server's too); no approver, or one that fails, refuses."""
        if self.approver is None:
            return False
        try:
            return await self.approver(name, arguments)
        except Exception:  # an approval that cannot be asked is no approval
            return False


def _function_source(fn: ToolFunction) -> str:
    """The file a Python tool is defined in, for messages naming where a tool comes from."""
    try:
        return inspect.getfile(inspect.unwrap(fn))
    except TypeError:  # a built-in or a callable object
        return getattr(fn, "__module__", None) or "a Python tool"


def _bounded(text: str) -> str:
    """At most MAX_RESULT_CHARS characters, with a note saying how much was cut."""
    if len(text) <= MAX_RESULT_CHARS:
        return text
    note = f" […cut: the result had {len(text):,} characters; the first {MAX_RESULT_CHARS:,} are sent]"
    return text[: MAX_RESULT_CHARS - len(note)] + note


def _as_text(value: Any) -> str:
    """A tool's value as the text the model gets: JSON when it encodes, else its `str()`."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, default=str)
    except (TypeError, ValueError):  # circular, or keys JSON cannot have
        return str(value)


async def _call(fn: ToolFunction, arguments: dict[str, Any]) -> Any:
    """Await coroutine functions; run blocking ones in a thread so the audio path never waits."""
    if inspect.iscoroutinefunction(fn):
        return await fn(**arguments)
    value = await _in_own_thread(functools.partial(fn, **arguments))
    if isinstance(value, Awaitable):
        return await value
    return value


def _in_own_thread(work: Callable[[], Any]) -> asyncio.Future[Any]:
    """Run a blocking tool in a daemon thread of its own, not in an executor others share: one
    that never returns (it timed out) then holds only its own thread, and never delays exit."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()
    context = contextvars.copy_context()

    def settle(outcome: Callable[[], None]) -> None:
        if not future.done():
            outcome()

    def run() -> None:
        try:
            outcome = functools.partial(future.set_result, context.run(work))
        except BaseException as exc:
            outcome = functools.partial(future.set_exception, exc)
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits any more
            loop.call_soon_threadsafe(settle, outcome)

    threading.Thread(target=run, name="voicecli-tool", daemon=True).start()
    return future
