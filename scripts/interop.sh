#!/usr/bin/env bash
# Interoperability check: realtime clients not written here hold a typed turn, a spoken turn, a tool
# call and an interruption against `voicecli serve` on 127.0.0.1, one line per client and check.
#   scripts/interop.sh [--clients js,python,pipecat] [SERVE-ARGS...]     e.g. scripts/interop.sh --verbose
# Clients (all by default), each installed once into a private folder, $VOICECLI_INTEROP_DIR (default
# ~/.cache/voicecli-interop):
#   js       the JavaScript Agents SDK, @openai/agents-realtime, with npm (needs node >= 20)
#   python   the Python Agents SDK, openai-agents, from the `dev` extra (the suite runs it too:
#            tests/test_interop_agents_sdk.py)
#   pipecat  pipecat-ai's OpenAI realtime service, in a virtual environment of its own (about 530 MB)
# Exit code 1 when a check fails; a check failing for a defect already filed says KNOWN and names it.
set -euo pipefail
root_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root_dir"
log() { echo "interop: $*" >&2; }

AGENTS_REALTIME_VERSION="0.20.0" # the versions checked; change them to check another
ZOD_VERSION="4"
PIPECAT_VERSION="1.14.0"
clients="js,python,pipecat"
if [ "${1:-}" = "--clients" ]; then
    clients="${2:?--clients needs a list, e.g. js,python}"
    shift 2
fi
wants() { [[ ",$clients," == *",$1,"* ]]; }
work_dir="${VOICECLI_INTEROP_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/voicecli-interop}"

scripts/bootstrap.sh quickstart
python=.venv/bin/python
install_js() {
    command -v node >/dev/null || {
        log "node is missing (apt-get install nodejs npm); it runs the JavaScript Agents SDK"
        exit 1
    }
    node -e 'process.exit(+process.versions.node.split(".")[0] < 20 ? 1 : 0)' || {
        log "node $(node --version) is too old; the JavaScript Agents SDK needs node 20 or newer"
        exit 1
    }
    mkdir -p "$work_dir/js"
    if [ ! -f "$work_dir/js/node_modules/@openai/agents-realtime/package.json" ] ||
        ! grep -q "\"version\": \"$AGENTS_REALTIME_VERSION\"" "$work_dir/js/node_modules/@openai/agents-realtime/package.json"; then
        log "installing @openai/agents-realtime@$AGENTS_REALTIME_VERSION into $work_dir/js"
        [ -f "$work_dir/js/package.json" ] || echo '{"private": true, "type": "module"}' >"$work_dir/js/package.json"
        (cd "$work_dir/js" && npm install --silent --no-audit --no-fund --loglevel=error \
            "@openai/agents-realtime@$AGENTS_REALTIME_VERSION" "zod@$ZOD_VERSION")
    fi
    cp scripts/interop/agents_realtime.mjs "$work_dir/js/" # node resolves the SDK beside the script
}

install_pipecat() {
    local venv="$work_dir/pipecat-venv"
    local check="import sys; from importlib.metadata import version; sys.exit(version('pipecat-ai') != '$PIPECAT_VERSION')"
    if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "$check" 2>/dev/null; then
        log "installing pipecat-ai[openai]==$PIPECAT_VERSION into $venv (a minute or two)"
        "$python" -m venv "$venv"
        "$venv/bin/python" -m pip install -q --disable-pip-version-check "pipecat-ai[openai]==$PIPECAT_VERSION"
    fi
}

wants js && install_js
wants pipecat && install_pipecat

speech="$work_dir/can-you-hear-me.pcm"
"$python" -c 'import sys; from voicecli.server.synth import speak; open(sys.argv[1], "wb").write(speak("Can you hear me?").tobytes())' "$speech"

port="$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
server_log="$work_dir/serve.log"
.venv/bin/voicecli serve --host 127.0.0.1 --port "$port" --brain scripted --script scripts/interop/brain.toml "$@" \
    >"$server_log" 2>&1 &
server_pid=$!
trap 'kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
    "$python" -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2).close()' "$port" \
        2>/dev/null && break
    kill -0 "$server_pid" 2>/dev/null || {
        log "voicecli serve did not start:"
        cat "$server_log" >&2
        exit 1
    }
    sleep 0.1
done
url="ws://127.0.0.1:$port/v1/realtime?model=gpt-realtime"
log "voicecli serve on $url (log: $server_log)"

status=0
if wants js; then node "$work_dir/js/agents_realtime.mjs" "$url" "$speech" || status=1; fi
if wants python; then "$python" scripts/interop/agents_python.py "$url" "$speech" || status=1; fi
if wants pipecat; then
    LOGURU_LEVEL=ERROR "$work_dir/pipecat-venv/bin/python" scripts/interop/pipecat_client.py \
        "ws://127.0.0.1:$port/v1/realtime" "$speech" || status=1
fi
exit "$status"
