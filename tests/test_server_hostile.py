"""The local server against hostile clients and operators' slips: every limit answered in the service's
shape, no slot or memory held by a client's choice, no internal address told, a clean end on SIGTERM."""

from __future__ import annotations

import subprocess
import sys

import pytest

from voicecli.server import LocalServer

pytestmark = pytest.mark.timeout(60)


def voicecli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "voicecli", *args], capture_output=True, text=True, timeout=45)


# --- off loopback, a key is required ------------------------------------------------------------


def test_serve_off_loopback_without_a_key_refuses_to_start() -> None:
    done = voicecli(
        "serve", "--host", "0.0.0.0", "--port", "0", "--brain", "chat", "--chat-url", "http://127.0.0.1:9/v1"
    )
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith("voicecli: error: listening on 0.0.0.0 lets other machines in") and "--api-key" in line


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "", "192.168.1.20"])
def test_a_server_off_loopback_needs_a_key(host: str) -> None:
    with pytest.raises(ValueError, match="--api-key"):
        LocalServer(host=host)
    LocalServer(host=host, accepted_key="k")  # built, never started: tests listen on loopback only


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1"])
def test_a_server_on_loopback_accepts_any_key(host: str) -> None:
    assert LocalServer(host=host).config.accepted_key is None
