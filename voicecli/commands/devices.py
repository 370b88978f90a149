"""`voicecli devices`: which audio devices there are, which one a choice means, and whether they work.

Listing only asks PortAudio; `--test` really opens the chosen devices (a tone out, a short
recording in) because a device PortAudio lists may still refuse to open at a given rate. Every
problem is one line for the user: the fix for a missing PortAudio or no devices, the candidates
for a device choice that matches none or several.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any

import orjson
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from voicecli.audio.devices import DeviceInfo, DeviceTestResult, Kind, find_device, list_devices, test_device
from voicecli.audio.errors import DeviceError
from voicecli.config import ConfigError

SILENCE_DBFS = -60.0
"""A recording quieter than this is reported as silence (a muted or unplugged microphone)."""


def one_line(message: str) -> str:
    """A device error's candidate list ("choose one of:\\n  [0] ...") folded onto one line."""
    head, *rest = message.splitlines()
    return f"{head} {', '.join(line.strip() for line in rest)}" if rest else head


def choose_device(spec: str | None, kind: Kind) -> DeviceInfo:
    """The chosen device (index, part of a name, or None/"" for the default).

    No device at all is an audio error (exit 1); a choice that matches none or several is a
    configuration error (exit 2) that lists the candidates on one line.
    """
    if not list_devices(kind):
        raise DeviceError(f"no {kind} audio device found; connect one (or start PulseAudio) and run `voicecli devices`")
    try:
        return find_device(spec or None, kind)
    except DeviceError as exc:
        raise ConfigError(one_line(str(exc))) from exc


def show_devices(
    *,
    as_json: bool = False,
    test: bool = False,
    input_device: str | None = None,
    output_device: str | None = None,
    console: Console | None = None,
) -> int:
    """Print the device table (or JSON); with `test`, also open the chosen devices. Returns the exit code."""
    console = console or Console()
    devices = list_devices()
    if not devices:
        raise DeviceError("no audio devices found; connect one (or start PulseAudio) and run `voicecli devices` again")
    results = []
    if test:
        output, input_ = choose_device(output_device, "output"), choose_device(input_device, "input")
        results = [_test(output, "output"), _test(input_, "input")]
    if as_json:
        document: dict[str, Any] = {"devices": [asdict(device) for device in devices]}
        if test:
            document["tests"] = [_result_record(result) for result in results]
        console.print_json(orjson.dumps(document).decode())
    else:
        console.print(devices_table(devices))
        if test:
            console.print(tests_table(results))
    return 0 if all(result.working_rates for result in results) else 1


def devices_table(devices: list[DeviceInfo]) -> Table:
    """One row per device; the defaults are marked in the last column."""
    table = Table(title="Audio devices", title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("name")
    table.add_column("host API")
    table.add_column("in", justify="right")
    table.add_column("out", justify="right")
    table.add_column("rate", justify="right")
    table.add_column("default")
    for device in devices:
        defaults = (("input", device.is_default_input), ("output", device.is_default_output))
        table.add_row(
            str(device.index),
            escape(device.name),
            escape(device.hostapi),
            str(device.max_input_channels),
            str(device.max_output_channels),
            f"{device.default_samplerate} Hz",
            " ".join(kind for kind, is_default in defaults if is_default),
        )
    return table


def tests_table(results: list[DeviceTestResult]) -> Table:
    """What opening each device for real showed: the rates that work and what was played or heard."""
    table = Table(title="Device test", title_justify="left")
    for header in ("", "device", "opens at", "fails at", "result"):
        table.add_column(header)
    for result in results:
        rates = ", ".join(str(rate) for rate in result.working_rates) or "–"
        failed = ", ".join(str(rate) for rate in result.failed_rates) or "–"
        device = f"[{result.device.index}] {result.device.name}"
        table.add_row(result.kind, escape(device), rates, failed, _outcome(result))
    return table


def _test(device: DeviceInfo, kind: Kind) -> DeviceTestResult:
    try:
        return test_device(device.index, kind)
    except DeviceError as exc:
        result = DeviceTestResult(device=device, kind=kind)
        result.failed_rates[device.default_samplerate] = one_line(str(exc))
        return result


def _outcome(result: DeviceTestResult) -> str:
    if not result.working_rates:
        return "[red]does not work[/]: " + escape("; ".join(sorted(set(result.failed_rates.values()))))
    if result.kind == "output":
        return f"played a 1 s tone at {_db(result.level_dbfs)}"
    if result.level_dbfs < SILENCE_DBFS:
        return f"[yellow]recorded 1 s of silence[/] ({_db(result.level_dbfs)}); is the microphone muted?"
    return f"recorded 1 s: level {_db(result.level_dbfs)}, peak {_db(result.peak_dbfs)}"


def _db(value: float) -> str:
    return "-inf dBFS" if math.isinf(value) else f"{value:.0f} dBFS"


def _result_record(result: DeviceTestResult) -> dict[str, Any]:
    return {
        "kind": result.kind,
        "index": result.device.index,
        "name": result.device.name,
        "working_rates": result.working_rates,
        "failed_rates": {str(rate): reason for rate, reason in result.failed_rates.items()},
        "level_dbfs": None if math.isinf(result.level_dbfs) else round(result.level_dbfs, 1),
        "peak_dbfs": None if math.isinf(result.peak_dbfs) else round(result.peak_dbfs, 1),
    }
