#!/usr/bin/env bash
# Start a private user-mode PulseAudio with two null sinks (virtual, clock-paced devices, no hardware):
#   vspeaker  what voicecli plays; record it from vspeaker.monitor
#   vmic      what a test "says"; play into it with `paplay -d vmic`, capture from vmic.monitor
# Idempotent: reuses a daemon already running in the same runtime dir and adds missing sinks.
# A null sink nobody plays into sleeps in 2 s timer steps, so a newly opened stream can stall for up
# to 2 s; a silent loopback (null source -> sink) keeps each sink ticking every 50 ms (every 10 ms
# would cost the idle daemon a tenth of a core, 50 ms a thirtieth).
# PortAudio sees the server through the ALSA "pulse" plugin as devices "pulse" and "default"; they
# use the defaults set here (sink vspeaker, source vmic.monitor), or PULSE_SINK / PULSE_SOURCE.
# Prints `export` lines for the caller:  eval "$(scripts/pulse-null-sinks.sh)"
# The runtime dir can be chosen with VOICECLI_PULSE_RUNTIME_DIR.
# `scripts/pulse-null-sinks.sh SPEAKER MIC` adds another pair of sinks to the same daemon (a second
# room, so two programs can play side by side) and exports PULSE_SINK / PULSE_SOURCE that pick it.
set -euo pipefail

speaker="${1:-vspeaker}"
mic="${2:-vmic}"

log() { echo "pulse-null-sinks: $*" >&2; }

if ! command -v pulseaudio >/dev/null || ! command -v pactl >/dev/null; then
    log "pulseaudio/pactl not installed; nothing started (apt-get install -y pulseaudio pulseaudio-utils)"
    [ -n "${CI:-}" ] && exit 1  # CI must run the audio tests, not skip them
    exit 0
fi

runtime_dir="${VOICECLI_PULSE_RUNTIME_DIR:-${TMPDIR:-/tmp}/voicecli-pulse-$(id -u)}"
mkdir -p "$runtime_dir"
chmod 700 "$runtime_dir"
export XDG_RUNTIME_DIR="$runtime_dir"
export PULSE_SERVER="unix:$runtime_dir/pulse/native"

if pactl info >/dev/null 2>&1; then
    log "reusing PulseAudio at $PULSE_SERVER"
else
    pulseaudio --daemonize=yes --exit-idle-time=-1 -n --load=module-native-protocol-unix \
        --load="module-null-sink sink_name=vspeaker" --load="module-null-sink sink_name=vmic" \
        2>"$runtime_dir/pulseaudio.log"
    for _ in $(seq 100); do
        pactl info >/dev/null 2>&1 && break
        sleep 0.05
    done
    if ! pactl info >/dev/null 2>&1; then
        log "PulseAudio did not come up at $PULSE_SERVER:"
        cat "$runtime_dir/pulseaudio.log" >&2
        exit 1
    fi
    log "started PulseAudio at $PULSE_SERVER"
fi

modules="$(pactl list short modules)"
for sink in "$speaker" "$mic"; do
    if ! pactl list short sinks | cut -f2 | grep -qx "$sink"; then
        pactl load-module module-null-sink "sink_name=$sink" >/dev/null
    fi
done
if ! pactl list short sources | cut -f2 | grep -qx vsilence; then
    pactl load-module module-null-source source_name=vsilence >/dev/null
fi
settle=0
for sink in "$speaker" "$mic"; do
    if ! grep -q "module-loopback.*sink=$sink " <<<"$modules"; then
        pactl load-module module-loopback source=vsilence "sink=$sink" latency_msec=50 \
            source_dont_move=true sink_dont_move=true >/dev/null
        settle=1
    fi
done
if [ "$settle" = 1 ]; then
    sleep 2.2  # let each sink finish the 2 s timer step it was sleeping in
fi
echo "export XDG_RUNTIME_DIR=$runtime_dir"
echo "export PULSE_SERVER=$PULSE_SERVER"
if [ $# -eq 0 ]; then
    pactl set-default-sink vspeaker
    pactl set-default-source vmic.monitor
else
    echo "export PULSE_SINK=$speaker"
    echo "export PULSE_SOURCE=$mic.monitor"
fi
