#!/usr/bin/env bash
# Set everything up and run the whole test suite (lint included). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/bootstrap.sh test
# Virtual audio devices (PulseAudio null sinks) for the tests that open real streams.
eval "$(scripts/pulse-null-sinks.sh)"
.venv/bin/ruff check voicecli tests benchmarks examples
exec .venv/bin/python -m pytest "$@"
