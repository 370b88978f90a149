"""`voicecli demo`: load and prepare every script, run one with its transcript on screen or many in
parallel with progress and a summary; the exit code says whether everything passed.

Exit codes: 0 all passed, 1 a turn or expectation failed (or a session could not start), 2 a script
or the configuration is wrong (raised as `ConfigError`, nothing has run).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import cast, get_args

from rich.console import Console
from rich.markup import escape

from voicecli.commands.demo.batch import BatchProgress, failures, summary_table
from voicecli.commands.demo.display import ScriptScreen
from voicecli.commands.demo.parallel import run_parallel
from voicecli.commands.demo.prepare import PreparedScript, prepare
from voicecli.commands.demo.runner import run_script
from voicecli.commands.demo.script import DemoScript, load_script
from voicecli.config import ConfigError, Provider
from voicecli.config.app_config import Approve

DEFAULT_OUTPUT = Path("demo-output")


async def run_demo(
    paths: Sequence[Path],
    *,
    output: Path | None = None,
    parallel: int = 1,
    provider: str | None = None,
    approve: str | None = None,
    config_path: Path | None = None,
    profile: str | None = None,
) -> int:
    """Run the scripts at `paths`; return the exit code. `provider` and `approve` beat the scripts' own."""
    chosen = _provider(provider)
    if approve is not None and approve not in ("all", "none"):
        raise ConfigError(f"--approve: {approve!r} is not one of all, none (a demo has nobody to ask)")
    if parallel < 1:
        raise ConfigError(f"--parallel: must be at least 1, got {parallel}")
    scripts = [load_script(path) for path in paths]
    folders = output_folders(scripts, output)

    def prepare_all() -> list[PreparedScript]:  # reads files and runs espeak-ng: off the event loop
        return [
            prepare(s, f, config_path, profile, chosen, cast(Approve | None, approve))
            for s, f in zip(scripts, folders, strict=True)
        ]

    prepared = await asyncio.to_thread(prepare_all)
    console = Console(highlight=False)
    if len(prepared) == 1:
        run = await run_script(prepared[0], ScriptScreen(console))
        return 0 if run.passed else 1
    return await _run_batch(prepared, parallel, console)


def _provider(value: str | None) -> Provider | None:
    if value is not None and value not in get_args(Provider):
        raise ConfigError(f"--provider: {value!r} is not one of {', '.join(get_args(Provider))}")
    return cast(Provider | None, value)


def output_folders(scripts: Sequence[DemoScript], output: Path | None) -> list[Path]:
    """`output` (default `demo-output/<script>`) for one script; `output/<script>` for each of several."""
    if len(scripts) == 1:
        return [output or DEFAULT_OUTPUT / scripts[0].name]
    folders = [(output or DEFAULT_OUTPUT) / script.name for script in scripts]
    seen: dict[Path, DemoScript] = {}
    for script, folder in zip(scripts, folders, strict=True):
        if folder in seen:
            raise ConfigError(
                f"{script.path}: would write to {folder}, like {seen[folder].path}; rename one or run them separately"
            )
        seen[folder] = script
    return folders


async def _run_batch(prepared: Sequence[PreparedScript], parallel: int, console: Console) -> int:
    limit = min(parallel, len(prepared))
    console.print(f"[bold]voicecli demo[/] · {len(prepared)} scripts, {limit} at a time")
    with BatchProgress(console, prepared) as progress:
        runs = await run_parallel(prepared, limit, progress)
    console.print()
    console.print(summary_table(runs))
    for run in runs:
        for headline, details in failures(run):
            console.print(f"[red]✗[/] {escape(headline)}", soft_wrap=True)
            for line in details:
                console.print(f"    {escape(line)}", soft_wrap=True)
    console.print("Each output folder holds transcript.md, report.json and the replies as turn-NN.wav.", soft_wrap=True)
    return 0 if all(run.passed for run in runs) else 1
