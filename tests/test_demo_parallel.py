"""`voicecli demo --parallel N a.toml b.toml ...`: runs at once, a correct summary, the right exit code."""

from __future__ import annotations

import asyncio
import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from support.demo import clean_environment  # noqa: F401  (autouse fixture)
from typer.testing import CliRunner

from voicecli.cli import app
from voicecli.commands.demo import parallel
from voicecli.commands.demo.parallel import run_parallel

runner = CliRunner()


def echo_script(folder: Path, name: str, expected: str) -> Path:
    path = folder / f"{name}.toml"
    path.write_text(
        textwrap.dedent(
            f"""
            [local]
            brain = "echo"
            speed = "max"
            [[turn]]
            text = "Hello from {name}."
            expect.reply_contains = "{expected}"
            [[turn]]
            text = "Goodbye."
            """
        ),
        encoding="utf-8",
    )
    return path


def test_a_parallel_run_summarises_every_script_and_fails_if_one_failed(tmp_path: Path) -> None:
    scripts = [
        echo_script(tmp_path, "alpha", "hello from alpha"),
        echo_script(tmp_path, "beta", "hello from beta"),
        echo_script(tmp_path, "gamma", "something else"),
    ]
    result = runner.invoke(app, ["demo", "--parallel", "3", *map(str, scripts), "--output", str(tmp_path / "out")])
    assert result.exit_code == 1, result.output + result.stderr
    output = result.output
    assert "3 scripts, 3 at a time" in output
    assert "2 of 3 scripts passed" in output
    rows = {line.split("│")[1].strip(): line for line in output.splitlines() if line.startswith("│")}
    assert set(rows) == {"alpha", "beta", "gamma"}
    assert "passed" in rows["alpha"] and "2/2" in rows["alpha"] and "ms" in rows["alpha"]
    assert "failed" in rows["gamma"] and "1/2" in rows["gamma"]
    assert f"✗ {scripts[2]}: turn 1: expect.reply_contains failed" in output
    assert 'got       "You said: Hello from gamma."' in output
    for name, passed in (("alpha", True), ("beta", True), ("gamma", False)):
        report = json.loads((tmp_path / "out" / name / "report.json").read_text())
        assert report["passed"] is passed and report["turns_run"] == 2
        assert (tmp_path / "out" / name / "turn-02.wav").is_file()
        assert "You said: Goodbye." in (tmp_path / "out" / name / "transcript.md").read_text()


def test_all_passing_exits_0_with_plain_progress_lines(tmp_path: Path) -> None:
    scripts = [echo_script(tmp_path, name, "you said") for name in ("one", "two")]
    result = runner.invoke(app, ["demo", "-j", "2", *map(str, scripts)])
    assert result.exit_code == 0, result.output + result.stderr
    assert "2 of 2 scripts passed" in result.output
    assert f"passed   {scripts[0]} (2/2 turns passed)" in result.output
    assert (tmp_path / "demo-output" / "one" / "report.json").is_file()


def test_two_scripts_writing_to_the_same_folder_are_refused(tmp_path: Path) -> None:
    (tmp_path / "other").mkdir()
    first, second = echo_script(tmp_path, "same", "x"), echo_script(tmp_path / "other", "same", "x")
    result = runner.invoke(app, ["demo", str(first), str(second)])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "would write to demo-output/same" in result.stderr


async def test_at_most_n_scripts_run_at_once_and_results_keep_their_order(monkeypatch: pytest.MonkeyPatch) -> None:
    running = peak = 0

    async def fake_run(prepared: Any, observer: Any) -> Any:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01 * (5 - prepared))
        running -= 1
        return prepared

    monkeypatch.setattr(parallel, "run_script", fake_run)
    assert await run_parallel([0, 1, 2, 3, 4], 2, observer=None) == [0, 1, 2, 3, 4]  # type: ignore[arg-type]
    assert peak == 2
