"""The newcomer's path: the set-up script's install stamp, and the guards for optional packages.

The README's two commands run one after the other (quick start, then tests); each must install what
the other did not, and nothing twice. `bootstrap.sh` runs here in a copy of the project, with a
stand-in Python that records each pip call instead of installing, and no `dpkg-query` on the PATH
(so the Debian step, which needs root and the network, is skipped as on a non-Debian machine).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from support.system_tools import require_module

ROOT = Path(__file__).resolve().parents[1]
# The tools bootstrap.sh uses besides Python; dpkg-query is left out on purpose (see above).
SHELL_TOOLS = ("bash", "cat", "cut", "dirname", "paste", "sed", "sha256sum", "sort", "tr")

RECORDING_PYTHON = """#!/bin/sh
# Stands in for python: `-c` checks pass, `-m venv` and `-m pip` are recorded, nothing is installed.
echo "$*" >> "$PIP_CALLS"
exit 0
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of what bootstrap.sh reads: the script itself and pyproject.toml."""
    copy = tmp_path / "project"
    (copy / "scripts").mkdir(parents=True)
    shutil.copy2(ROOT / "scripts" / "bootstrap.sh", copy / "scripts" / "bootstrap.sh")
    shutil.copy2(ROOT / "pyproject.toml", copy / "pyproject.toml")
    fake_python = copy / ".venv" / "bin" / "python"
    fake_python.parent.mkdir(parents=True)
    fake_python.write_text(RECORDING_PYTHON)
    fake_python.chmod(0o755)
    tools = tmp_path / "bin"
    tools.mkdir()
    for tool in SHELL_TOOLS:
        found = shutil.which(tool)
        assert found, f"{tool} is needed to run bootstrap.sh"
        (tools / tool).symlink_to(found)
    return copy


def _bootstrap(project: Path, purpose: str) -> list[str]:
    """Run bootstrap.sh for `purpose`; the pip installs it made (their extras)."""
    calls = project / "pip-calls.txt"
    calls.write_text("")
    env = {
        "PATH": str(project.parent / "bin"),
        "PYTHON": str(project / ".venv" / "bin" / "python"),
        "PIP_CALLS": str(calls),
        "HOME": str(project),
    }
    run = subprocess.run(
        ["bash", "scripts/bootstrap.sh", purpose], cwd=project, env=env, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    return [
        line.split("-e ", 1)[1] for line in calls.read_text().splitlines() if "pip install" in line and "-e " in line
    ]


def test_the_quick_start_then_the_tests_installs_the_test_extras_once(project: Path) -> None:
    assert _bootstrap(project, "quickstart") == [".[dev,speech]"]
    assert _bootstrap(project, "test") == [".[dev,phone,speech]"]
    assert _bootstrap(project, "test") == []
    assert _bootstrap(project, "quickstart") == []  # the quick start needs nothing the tests lack


def test_the_tests_then_the_quick_start_installs_nothing_more(project: Path) -> None:
    assert _bootstrap(project, "test") == [".[dev,phone,speech]"]
    assert _bootstrap(project, "quickstart") == []


def test_a_changed_pyproject_reinstalls_with_every_extra_installed_before(project: Path) -> None:
    _bootstrap(project, "test")
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + "\n# a new dependency\n")
    assert _bootstrap(project, "quickstart") == [".[dev,phone,speech]"]


def test_a_module_whose_parent_package_is_missing_is_skipped_with_its_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception) as skipped:
        require_module("voicecli_absent_parent.child", "pip install it")
    assert str(skipped.value) == "needs the Python module voicecli_absent_parent.child (pip install it)"
    require_module("json.decoder", "it ships with Python")  # present: goes on


def test_in_ci_a_missing_module_fails_instead_of_skipping(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must have it"):
        require_module("voicecli_absent_parent.child", "pip install it")


def test_ci_runs_the_readmes_two_commands_in_the_readmes_order() -> None:
    readme = (ROOT / "README.md").read_text()
    quick_start = readme.split("## Quick start", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    commands = [line.split("#", 1)[0].strip() for line in quick_start.strip().splitlines()]
    ci_lines = [
        line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines() if line.strip().startswith("scripts/")
    ]
    assert [line.split()[0] for line in ci_lines] == commands


def test_the_readme_names_every_debian_package_the_scripts_install() -> None:
    script = (ROOT / "scripts" / "bootstrap.sh").read_text()
    packages = {
        word.strip("()")
        for line in script.splitlines()
        if line.lstrip().startswith(("debian_packages=", "debian_packages+="))
        for word in line.split("=", 1)[1].split("#", 1)[0].split()
    }
    assert packages, "bootstrap.sh lists its Debian packages in debian_packages=(...)"
    quick_start = (ROOT / "README.md").read_text().split("## Quick start", 1)[1].split("## ", 1)[0]
    assert {package for package in packages if f"`{package}`" not in quick_start} == set()
