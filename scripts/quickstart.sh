#!/usr/bin/env bash
# Set everything up, then hold a short scripted conversation with the built-in local realtime
# server: typed and spoken turns, a tool call, transcripts on screen, reply audio written to files.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/bootstrap.sh quickstart
out="${VOICECLI_QUICKSTART_OUT:-quickstart-output}"
mkdir -p "$out"
echo
echo "== 1. A typed turn with the local echo brain"
.venv/bin/voicecli talk --text "Hello voicecli, can you hear me?" --output-file "$out/hello-reply.wav"
if command -v espeak-ng >/dev/null; then
    echo
    echo "== 2. A spoken turn: espeak-ng says a question into a WAV file, voicecli sends it as audio"
    espeak-ng -w "$out/question.wav" "What is the weather like in Paris today?"
    .venv/bin/voicecli talk --input-file "$out/question.wav" --output-file "$out/question-reply.wav"
fi
echo
echo "== 3. A scripted demo: several turns, a tool call, expectations, a report"
.venv/bin/voicecli demo examples/scripts/tour.toml --output "$out/tour"
echo
echo "Reply audio and reports are in $out/ (play a reply with: play $out/hello-reply.wav)"
