#!/usr/bin/env bash
# Set everything up and run the whole test suite (lint included). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/bootstrap.sh test
# No PulseAudio is started here: each test worker that opens real streams starts its own private
# one (tests/support/audio.py), and an idle daemon with ticking null sinks costs a tenth of a core.
.venv/bin/ruff check voicecli tests benchmarks examples
# The whole package is type-checked (third-party modules without type information are listed in pyproject.toml).
.venv/bin/mypy voicecli
exec .venv/bin/python -m pytest "$@"
