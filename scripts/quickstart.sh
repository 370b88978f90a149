#!/usr/bin/env bash
# Set everything up, then talk to the built-in local realtime server: one typed turn and two spoken
# turns (recognised offline: a scripted question, then a free-form one) with `voicecli talk`, then a
# scripted demo (typed and spoken turns, what the server heard, a tool call, checks, a report).
# Transcripts are printed; reply audio and reports are written under quickstart-output/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/bootstrap.sh quickstart
out="${VOICECLI_QUICKSTART_OUT:-quickstart-output}"
mkdir -p "$out"
echo
echo "== voicecli talk: one typed turn with the local echo brain"
.venv/bin/voicecli talk --text "Hello voicecli, can you hear me?" --output-file "$out/hello-reply.wav"
echo
echo "== voicecli talk: one spoken turn, recognised offline (espeak-ng speaks the question)"
espeak-ng -w "$out/question.wav" "What is the weather like in Paris today?"
.venv/bin/voicecli talk --input-file "$out/question.wav" --brain scripted --output-file "$out/question-reply.wav"
echo
echo "== voicecli talk: a free-form question, understood by Whisper (the speech extra); the echo repeats it"
espeak-ng -w "$out/free-question.wav" "Can you tell me a joke about cats?"
.venv/bin/voicecli talk --input-file "$out/free-question.wav" --brain auto --output-file "$out/free-reply.wav"
echo
echo "== voicecli demo: a scripted conversation"
.venv/bin/voicecli demo examples/scripts/tour.toml --output "$out/tour"
