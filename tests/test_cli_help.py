"""`--help` reads well: every command explains itself, its paragraphs wrapped to the terminal's width."""

from __future__ import annotations

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
