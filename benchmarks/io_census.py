"""Which tests run without sockets, processes, real sleeps or PulseAudio: a report, never a test.

Runs pytest with the I/O census on (tests/support/io_census.py) and prints, per test file and in
all, how many tests did none of those things: the share issue 25 wants at two thirds or more.
Run: `.venv/bin/python benchmarks/io_census.py [PYTEST ARGS]` (e.g. `tests/test_protocol_session.py
-n 0`; with no arguments the whole suite), or `--from FOLDER` to read the files a run made with
`VOICECLI_IO_CENSUS=FOLDER` set.
"""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from support.io_census import VARIABLE, read  # noqa: E402  (shared with the tests)


def census(folder: Path) -> dict[str, list[str]]:
    """Each test's I/O (the last run of a test wins: a rerun is the same test)."""
    return dict(read(folder))


def report(tests: dict[str, list[str]]) -> str:
    by_file: dict[str, list[list[str]]] = collections.defaultdict(list)
    for node_id, io in tests.items():
        by_file[node_id.split("::", 1)[0]].append(io)
    kinds = collections.Counter(kind for io in tests.values() for kind in io)
    lines = [f"{'file':<48} {'tests':>5} {'no I/O':>6}  I/O seen"]
    for file, ios in sorted(by_file.items()):
        pure = sum(not io for io in ios)
        seen = collections.Counter(kind for io in ios for kind in io)
        lines.append(f"{file:<48} {len(ios):>5} {pure:>6}  {', '.join(f'{k} {n}' for k, n in sorted(seen.items()))}")
    pure = sum(not io for io in tests.values())
    share = pure / len(tests) if tests else 0.0
    lines.append(
        f"\n{pure} of {len(tests)} tests ({share:.1%}) ran without sockets, processes, real sleeps or PulseAudio"
        f" (target: two thirds); I/O seen: {', '.join(f'{k} {n}' for k, n in sorted(kinds.items()))}"
    )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="folder", type=Path, help="read the census a run already wrote here")
    options, pytest_args = parser.parse_known_args()
    folder = options.folder
    if folder is None:
        folder = Path(tempfile.mkdtemp(prefix="io-census-"))
        env = {**os.environ, VARIABLE: str(folder)}
        command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *pytest_args]
        subprocess.run(command, cwd=ROOT, env=env, check=False)
    tests = census(folder)
    if not tests:
        print(f"no census in {folder}", file=sys.stderr)
        return 1
    print(report(tests))
    return 0


if __name__ == "__main__":
    sys.exit(main())
