"""`voicecli ...` in this process, through Typer's CliRunner, answered like a finished subprocess.

For checks of the CLI's own logic (argument errors, one-line messages, exit codes) that end before
any connection: no interpreter to start, no imports to repeat. What only a real process shows (its
exit status, signals, the terminal) keeps a `python -m voicecli` test.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import traceback
from collections.abc import Mapping
from pathlib import Path

from typer.testing import CliRunner

from voicecli.cli import app

PROVIDER_PREFIXES = ("OPENAI_", "AZURE_OPENAI_")
UNPACED_HOME = Path(__file__).parent / "unpaced_home"
"""An XDG_CONFIG_HOME for `voicecli` in tests: no developer settings, an unpaced local server."""


def invoke(
    *args: str, env: Mapping[str, str | None] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the CLI with `args`, without the developer's provider variables or configuration (plus
    `env`, where None unsets one), in `cwd`.

    An exception the CLI let escape is reported as a subprocess would show it: a traceback on stderr."""
    unset: dict[str, str | None] = {name: None for name in os.environ if name.startswith(PROVIDER_PREFIXES)}
    with contextlib.chdir(cwd or Path.cwd()):
        result = CliRunner().invoke(app, list(args), env={**unset, "XDG_CONFIG_HOME": str(UNPACED_HOME), **(env or {})})
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "".join(traceback.format_exception(result.exception))
    return subprocess.CompletedProcess(["voicecli", *args], result.exit_code, result.stdout, stderr)
