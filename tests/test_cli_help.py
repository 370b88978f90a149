"""`--help` reads well: every command explains itself, its paragraphs wrapped to the terminal's width."""

from __future__ import annotations

import importlib.metadata
import itertools

import pytest
from typer.testing import CliRunner

from voicecli.cli import app

WIDTH = 100
COMMANDS = [
    ["talk"],
    ["devices"],
    ["echo-test"],
    ["serve"],
    ["demo"],
    ["phone"],
    ["config", "show"],
    ["config", "init"],
]


def description_paragraphs(help_text: str) -> list[list[str]]:
    """The lines between the usage line and the first panel, grouped by the blank lines between them."""
    lines = help_text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("Usage:")) + 1
    end = next(i for i, line in enumerate(lines) if line.lstrip().startswith("╭"))
    paragraphs: list[list[str]] = [[]]
    for line in lines[start:end]:
        if line.strip():
            paragraphs[-1].append(line.strip())
        elif paragraphs[-1]:
            paragraphs.append([])
    return [paragraph for paragraph in paragraphs if paragraph]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help_paragraphs_are_wrapped_to_the_terminal_not_where_the_source_breaks_them(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": str(WIDTH)}, terminal_width=WIDTH)
    assert result.exit_code == 0, result.output
    paragraphs = description_paragraphs(result.output)
    assert paragraphs, result.output
    for paragraph in paragraphs:
        for line, following in itertools.pairwise(paragraph):
            next_word = following.split()[0]
            assert len(line) + 1 + len(next_word) > WIDTH - 4, f"broken early: {line!r} / {following!r}"


GROUPS = [[], ["config"]]
CHOICES = {
    "--provider": "<local|openai|azure>",
    "--transport": "<websocket|webrtc>",
    "--echo": "<auto|aec|gate|off>",
    "--brain": "<auto|echo|scripted|chat>",
}


def option_rows(help_text: str) -> dict[str, str]:
    """Each option's row of the options panel, by its long name (wide enough that no row wraps)."""
    rows = {}
    for line in help_text.splitlines():
        cells = line.strip("│ ").split()
        if cells and cells[0].startswith("--"):
            rows[cells[0]] = line
    return rows


@pytest.mark.parametrize("command", GROUPS + COMMANDS, ids=lambda command: " ".join(command) or "voicecli")
def test_flags_show_no_value_and_choices_show_their_values(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "200"}, terminal_width=200)
    assert result.exit_code == 0, result.output
    rows = option_rows(result.output)
    assert "--help" in rows, result.output
    for name, row in rows.items():
        assert "<bool>" not in row, f"{name} takes no value: {row}"
        assert "list[" not in row, f"{name} shows a Python type: {row}"
        if name in CHOICES:
            assert CHOICES[name] in row, row


def test_every_choice_option_is_checked_somewhere() -> None:
    """The choice lists above are what the commands offer (a renamed option would leave them untested)."""
    seen = set()
    for command in COMMANDS:
        result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "200"}, terminal_width=200)
        seen |= set(option_rows(result.output)) & set(CHOICES)
    assert seen == set(CHOICES)


def test_version_is_the_installed_package_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.output == f"voicecli {importlib.metadata.version('voicecli')}\n"
