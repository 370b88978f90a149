"""What the tests need from the machine: programs (espeak-ng, tmux, PulseAudio) and optional packages.

Where one is missing a test skips with the reason on a developer's machine, but fails in CI (`CI`
set): there a skip would hide untested code, and the set-up scripts are meant to install them all.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from typing import NoReturn

import pytest


def unavailable(reason: str) -> NoReturn:
    """Skip with `reason`, or fail with it where `CI` is set (in a test, a fixture or a module's body)."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} — CI must have it (scripts/bootstrap.sh test installs it)", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def require_program(name: str, why: str) -> None:
    """Go on only when `name` is on PATH."""
    if shutil.which(name) is None:
        unavailable(f"{why} needs {name} (apt-get install {name})")


def require_module(name: str, install: str) -> None:
    """Go on only when the module `name` can be imported; `install` says how to get it.

    `importlib.util.find_spec("a.b.c")` imports the parents first and raises when one is missing
    (`azure` for `azure.communication.callautomation`), so that counts as missing here too."""
    try:
        found = importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        found = False
    if not found:
        unavailable(f"needs the Python module {name} ({install})")
