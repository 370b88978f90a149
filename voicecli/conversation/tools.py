"""`--tools FILE.py` or `--tools package.module`: plain Python functions become tools for the model.

A `.py` file of the user's own offers its public module-level functions, or only those marked with
`voicecli.realtime.tool` when it marks any. A module named by its dotted name offers only marked
functions: `--tools os` must not hand the model `popen`, `execvp` or `rmtree`, and nothing but the
mark says a function was written to be a tool. Every problem is one line the CLI can print as it is.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
import traceback
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType

from voicecli.config import AppConfig, ConfigError
from voicecli.conversation.builtin_tools import builtin_tools
from voicecli.realtime.functions import _TOOL_MARK, ToolFunction, describe


class ToolLoadError(ConfigError):
    """A tools file or module could not be used; one line for the user, exit code 2 like any config error."""


def configured_tools(config: AppConfig) -> list[ToolFunction]:
    """The session's tools: the built-in ones switched on, then those of `tools.modules` / `--tools`."""
    return [*builtin_tools(config.tools.builtin), *load_tools(config.tools.modules)]


def load_tools(specs: Iterable[str]) -> list[ToolFunction]:
    """The tool functions of every file or module named, refusing two tools with the same name."""
    found: dict[str, tuple[ToolFunction, str]] = {}
    for spec in specs:
        for fn in tools_of(import_tools_module(spec), spec, own_file=_looks_like_path(spec)):
            name = describe(fn).name
            if name in found:
                raise ToolLoadError(f"{spec}: a tool named {name!r} is already defined by {found[name][1]}")
            found[name] = (fn, spec)
    return [fn for fn, _ in found.values()]


def import_tools_module(spec: str) -> ModuleType:
    """Import a `.py` file by path, or anything else as a dotted module name."""
    path = Path(spec).expanduser() if _looks_like_path(spec) else None
    if path is not None and not path.is_file():
        raise ToolLoadError(f"{spec}: no such tools file")
    try:
        return importlib.import_module(spec) if path is None else _import_file(path)
    except Exception as exc:  # any failure of the user's code, shown as its last line
        raise ToolLoadError(f"{spec}: cannot import: {_last_line(exc)}") from exc


def _looks_like_path(spec: str) -> bool:
    return spec.endswith(".py") or "/" in spec or "\\" in spec


def tools_of(module: ModuleType, spec: str, *, own_file: bool = True) -> list[ToolFunction]:
    """The marked functions if any are marked; else, of the user's own file only, its public functions."""
    functions: list[ToolFunction] = [value for value in vars(module).values() if inspect.isfunction(value)]
    marked = [fn for fn in functions if hasattr(fn, _TOOL_MARK)]
    if not marked and not own_file:
        raise ToolLoadError(
            f"{spec}: marks no function with @voicecli.realtime.tool; a module named by its dotted name offers "
            "only marked functions (a .py file of your own, given by its path, offers all its public functions)"
        )
    chosen = marked or [fn for fn in functions if fn.__module__ == module.__name__ and not fn.__name__.startswith("_")]
    if not chosen:
        raise ToolLoadError(f"{spec}: defines no tool functions (public module-level functions, or @tool ones)")
    for fn in chosen:
        try:
            describe(fn)
        except Exception as exc:  # e.g. a type hint that names something undefined
            raise ToolLoadError(f"{spec}: tool {fn.__name__}: cannot read its signature: {_last_line(exc)}") from exc
    return chosen


def _import_file(path: Path) -> ModuleType:
    name = f"voicecli_tools_{path.stem}_{abs(hash(path.resolve()))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look the module up by name
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _last_line(exc: BaseException) -> str:
    if isinstance(exc, SyntaxError):  # its last traceback line drops the file and line number
        return f"SyntaxError: {exc}"
    return " ".join(traceback.format_exception_only(exc)[-1].split())  # one line even for multi-line messages
