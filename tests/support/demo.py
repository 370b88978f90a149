"""Shared by the demo tests: no developer settings leak into a run."""

from __future__ import annotations

from pathlib import Path

import pytest

from voicecli.config import ENVIRONMENT


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No provider variables, an empty config home, output under tmp."""
    for variable in [*ENVIRONMENT, "OPENAI_API_KEY", "AZURE_OPENAI_API_KEY"]:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)
