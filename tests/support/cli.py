"""`voicecli ...` in this process, through Typer's CliRunner, answered like a finished subprocess.

For checks of the CLI's own logic (argument errors, one-line messages, exit codes) that end before
any connection: no interpreter to start, no imports to repeat. What only a real process shows (its
exit status, signals, the terminal) keeps a `python -m voicecli` test.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import shutil
import subprocess
import tempfile
import traceback
from collections.abc import Mapping
from pathlib import Path

from typer.testing import CliRunner

from voicecli.cli import app

PROVIDER_PREFIXES = ("OPENAI_", "AZURE_OPENAI_")
UNPACED_CONFIG = Path(__file__).parent / "unpaced_home" / "voicecli" / "config.toml"


@functools.cache
def unpaced_home() -> Path:
    """An XDG_CONFIG_HOME for `voicecli` in tests: no developer settings, an unpaced local server.
    A private copy per test process, removed at its exit: programs write there too (PulseAudio its
    cookie, voicecli the settings it saves), never into the source tree."""
    home = Path(tempfile.mkdtemp(prefix="voicecli-xdg-"))
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    (home / "voicecli").mkdir()
    shutil.copyfile(UNPACED_CONFIG, home / "voicecli" / "config.toml")
    return home


def invoke(
    *args: str, env: Mapping[str, str | None] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the CLI with `args`, without the developer's provider variables or configuration (plus
    `env`, where None unsets one), in `cwd`.

    An exception the CLI let escape is reported as a subprocess would show it: a traceback on stderr."""
    unset: dict[str, str | None] = {name: None for name in os.environ if name.startswith(PROVIDER_PREFIXES)}
    with contextlib.chdir(cwd or Path.cwd()):
        environment = {**unset, "XDG_CONFIG_HOME": str(unpaced_home()), **(env or {})}
        result = CliRunner().invoke(app, list(args), env=environment)
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "".join(traceback.format_exception(result.exception))
    return subprocess.CompletedProcess(["voicecli", *args], result.exit_code, result.stdout, stderr)
