"""Configuration through the CLI: precedence, one-line errors with exit code 2, masked secrets, init."""

from __future__ import annotations

import tomllib
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from voicecli.cli import app
from voicecli.config import ENVIRONMENT, AppConfig, load_config
from voicecli.config.starter import starter_text

ROOT = Path(__file__).resolve().parents[1]
SECRET = "sk-live-0123456789abcdefSECRET"
runner = CliRunner()


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No developer settings leak in: no provider variables, and a private, empty config home."""
    for variable in [*ENVIRONMENT, "OPENAI_API_KEY", "AZURE_OPENAI_API_KEY", "MY_KEY"]:
        monkeypatch.delenv(variable, raising=False)
    home = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    return home / "voicecli" / "config.toml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


LAYERED = """
provider = "openai"
[session]
voice = "file-voice"
instructions = "file instructions"
[openai]
model = "file-model"
[profiles.work]
[profiles.work.session]
voice = "profile-voice"
[profiles.work.openai]
model = "profile-model"
"""


def test_each_layer_overrides_the_one_below(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, LAYERED)
    assert load_config(path).openai.model == "file-model"
    profiled = load_config(path, "work")
    assert (profiled.openai.model, profiled.session.voice, profiled.session.instructions) == (
        "profile-model",
        "profile-voice",
        "file instructions",
    )
    monkeypatch.setenv("OPENAI_REALTIME_MODEL_ID", "env-model")
    assert load_config(path, "work").openai.model == "env-model"
    flagged = load_config(path, "work", {"openai.model": "flag-model", "session.voice": "flag-voice"})
    assert (flagged.openai.model, flagged.session.voice, flagged.provider) == ("flag-model", "flag-voice", "openai")


def test_the_default_file_location_is_used(clean_environment: Path) -> None:
    clean_environment.parent.mkdir(parents=True)
    clean_environment.write_text('transport = "webrtc"\n')
    assert load_config().transport == "webrtc"
    result = runner.invoke(app, ["config", "show"])
    assert result.exit_code == 0
    assert f"< {clean_environment} <" in result.stdout
    assert 'transport = "webrtc"' in result.stdout


def test_show_prints_valid_toml_of_the_effective_configuration(tmp_path: Path) -> None:
    path = write(tmp_path, LAYERED)
    result = runner.invoke(app, ["config", "show", "--config", str(path), "--profile", "work"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(f"# effective configuration: defaults < {path} < [profiles.work] < environment")
    shown = tmp_path / "shown.toml"
    shown.write_text(result.stdout, encoding="utf-8")
    assert load_config(shown) == load_config(path, "work")


def test_show_masks_keys_and_says_whether_they_are_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_KEY", SECRET)
    path = write(tmp_path, 'provider = "azure"\n[azure]\napi_key_env = "MY_KEY"\n')
    result = runner.invoke(app, ["config", "show", "-c", str(path)])
    assert result.exit_code == 0
    assert SECRET not in result.output
    assert "# api_key: set (hidden)" in result.stdout
    assert "# api_key: not set ($OPENAI_API_KEY)" in result.stdout


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('provider = "openai"\nvoice = ', "not valid TOML"),
        ('[session]\nvoicee = "x"\n', "session.voicee: unknown key"),
        ('response_timeout_s = "slow"\n', "response_timeout_s: expected float, got 'slow'"),
        ("[session]\nvad_silence_duration_ms = 1.5\n", "session.vad_silence_duration_ms: expected int"),
        ('provider = "anthropic"\n', "provider: 'anthropic' is not one of local, openai, azure"),
        ('[session]\nturn_detection = "always"\n', "session.turn_detection: 'always' is not one of"),
        ('[tools]\nbuiltin = ["time", "weather"]\n', "tools.builtin: 'weather' is not one of time, calculator"),
        ('[tools]\nmodules = "a.py"\n', "tools.modules: expected a list of strings"),
        ('session = "short"\n', "session: expected a table"),
        (f'[openai]\napi_key = "{SECRET}"\n', "openai.api_key: secrets are not read from files"),
    ],
)
def test_a_bad_file_is_one_line_naming_file_and_key(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    result = runner.invoke(app, ["config", "show", "--config", str(path)])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"voicecli: error: {path}: ")
    assert expected in result.stderr
    assert SECRET not in result.stderr


def test_a_missing_profile_lists_the_known_ones(tmp_path: Path) -> None:
    path = write(tmp_path, LAYERED)
    result = runner.invoke(app, ["config", "show", "-c", str(path), "--profile", "home"])
    assert (result.exit_code, result.stderr) == (
        2,
        f"voicecli: error: {path}: no profile named 'home' (profiles: work)\n",
    )


def test_a_bad_profile_value_names_the_profile(tmp_path: Path) -> None:
    path = write(tmp_path, '[profiles.x]\ntransport = "carrier-pigeon"\n')
    result = runner.invoke(app, ["config", "show", "-c", str(path), "-p", "x"])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"voicecli: error: {path} [profiles.x]: transport: 'carrier-pigeon' is not one of")


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["--config", "/no/such/file.toml"], "voicecli: error: /no/such/file.toml: no such configuration file\n"),
        (["--profile", "work"], "voicecli: error: profile 'work' asked for, but there is no configuration file at"),
    ],
)
def test_missing_file_errors(arguments: list[str], expected: str) -> None:
    result = runner.invoke(app, ["config", "show", *arguments])
    assert result.exit_code == 2
    assert result.stderr.startswith(expected)
    assert result.stderr.count("\n") == 1


def test_a_bad_environment_value_is_reported_as_such(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOICECLI_PROVIDER", "bogus")
    result = runner.invoke(app, ["config", "show"])
    assert (result.exit_code, result.stderr) == (
        2,
        "voicecli: error: environment: provider: 'bogus' is not one of local, openai, azure\n",
    )


def test_init_writes_the_starter_file_and_refuses_to_overwrite(clean_environment: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["config", "init"])
    assert (result.exit_code, result.stdout) == (0, f"wrote {clean_environment}\n")
    assert clean_environment.read_text(encoding="utf-8") == starter_text()
    assert load_config() == AppConfig()

    clean_environment.write_text("# mine\n")
    again = runner.invoke(app, ["config", "init"])
    assert again.exit_code == 2
    assert again.stderr == f"voicecli: error: {clean_environment}: already exists; use --force to overwrite it\n"
    assert clean_environment.read_text() == "# mine\n"

    forced = runner.invoke(app, ["config", "init", "--force"])
    assert forced.exit_code == 0
    assert clean_environment.read_text(encoding="utf-8") == starter_text()

    elsewhere = tmp_path / "deep" / "er" / "voicecli.toml"
    assert runner.invoke(app, ["config", "init", "--path", str(elsewhere)]).exit_code == 0
    assert elsewhere.is_file()


def _option_names(obj: Any, prefix: str = "") -> set[str]:
    names: set[str] = set()
    for field in fields(obj):
        value = getattr(obj, field.name)
        if isinstance(value, dict):  # [prices.<model>]: a table per entry
            for key, entry in value.items():
                names |= _option_names(entry, f"{prefix}{field.name}.{key}.")
            continue
        names |= _option_names(value, f"{prefix}{field.name}.") if is_dataclass(value) else {prefix + field.name}
    return names


def _key_names(table: dict[str, Any], prefix: str = "") -> set[str]:
    names: set[str] = set()
    for key, value in table.items():
        names |= _key_names(value, f"{prefix}{key}.") if isinstance(value, dict) else {prefix + key}
    return names


def test_the_example_documents_every_option_at_its_default() -> None:
    text = starter_text()
    data = tomllib.loads(text)
    profiles = data.pop("profiles")
    assert _key_names(data) == _option_names(AppConfig())
    example = ROOT / "voicecli" / "config.example.toml"
    assert load_config(example) == AppConfig()
    for name in profiles:
        load_config(example, name)
    for option in _option_names(AppConfig()):
        key = option.rsplit(".", 1)[-1]
        before = text.split(f"\n{key} = ", 1)[0].rstrip().splitlines()
        assert before[-1].startswith("#") or before[-1].endswith('""'), f"{option} has no comment"


def test_the_repository_example_is_the_shipped_one() -> None:
    assert (ROOT / "config.example.toml").read_text(encoding="utf-8") == starter_text()
