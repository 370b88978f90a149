"""Programs the tests need from the system (espeak-ng, tmux, PulseAudio, PortAudio).

Where one is missing a test skips with the reason on a developer's machine, but fails in CI (`CI`
set): there a skip would hide untested code, and the set-up scripts are meant to install them all.
"""

from __future__ import annotations

import os
import shutil
from typing import NoReturn

import pytest


def unavailable(reason: str) -> NoReturn:
    """Skip with `reason`, or fail with it where `CI` is set."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} — CI must have it (scripts/bootstrap.sh test installs it)", pytrace=False)
    pytest.skip(reason)


def require_program(name: str, why: str) -> None:
    """Go on only when `name` is on PATH."""
    if shutil.which(name) is None:
        unavailable(f"{why} needs {name} (apt-get install {name})")
