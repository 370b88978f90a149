"""A simulated ACS media client, written from the documented message shapes (not from voicecli's code).

ACS, once a call is answered with bidirectional streaming, opens a WebSocket to the bridge, sends
`{"kind":"AudioMetadata","audioMetadata":{...}}` and then one `AudioData` frame per 20 ms of the
caller's audio, in real time, silent or not; it plays the `AudioData` the bridge sends and drops
what is queued when it gets `StopAudio`. `SimulatedAcsCall` does the same over a real socket and
keeps every frame it got, with the time it arrived.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest
from aiohttp import web

from support.audio import speech_wav
from support.system_tools import require_program
from voicecli.audio.wavio import read_audio_24k_mono
from voicecli.phone.auth import ACS_ISSUER

RATE = 24_000
FRAME = RATE // 50  # 20 ms
LOUD = 300
CONNECT_TIMEOUT_S = 60.0
"""Realtime sessions in tests may take long to open on a loaded machine; what is tested is not that."""
WAIT_S = 60.0
"""How long a simulated caller waits for what it expects (generous: the machine may be loaded)."""


RESOURCE_ID = "00000000-1111-2222-3333-444444444444"
"""The ACS resource id the tests' bridges are configured with (the audience of ACS's tokens)."""


@functools.cache
def _acs_key() -> Any:
    """ACS's signing key in the tests: made once (a 2048-bit key takes up to a few tenths of a second);
    each test has its own verifier, so sharing the key shares nothing else."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class AcsKeys:
    """Stands in for ACS's OpenID configuration and key set, with an RSA key made here: served on
    127.0.0.1 (`async with AcsKeys()`), or in memory (`AcsKeys.in_memory()`, for the verifier's
    `fetch_json`); both answer the same.

    `token()` signs like ACS (RS256, its issuer, the resource id as audience, 5 minutes); its
    arguments make every kind of bad token. `fetches` counts the key-set downloads.
    """

    key: Any = None
    key_id: str = "acs-test-key"
    port: int = 0
    fetches: int = 0
    base: str = ""
    """Where the OpenID configuration and the key set are (https://… in memory, http://127.0.0.1:port served)."""
    _runner: web.AppRunner | None = None

    @classmethod
    def in_memory(cls) -> AcsKeys:
        """No server: hand `fetch_json` to `AcsTokenVerifier`, with `openid_url`."""
        return cls(key=_acs_key(), base="https://acs-keys.test")

    async def __aenter__(self) -> AcsKeys:
        self.key = _acs_key()

        async def configuration(_: web.Request) -> web.Response:
            return web.json_response(self.configuration())

        async def keys(_: web.Request) -> web.Response:
            return web.json_response(self.key_set())

        app = web.Application()
        app.router.add_get("/calling/.well-known/acsopenidconfiguration", configuration)
        app.router.add_get("/calling/keys", keys)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = int(self._runner.addresses[0][1])
        self.base = f"http://127.0.0.1:{self.port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def openid_url(self) -> str:
        return f"{self.base}/calling/.well-known/acsopenidconfiguration"

    def configuration(self) -> dict[str, Any]:
        return {"issuer": ACS_ISSUER, "jwks_uri": f"{self.base}/calling/keys"}

    def key_set(self) -> dict[str, Any]:
        self.fetches += 1
        return {"keys": [self.jwk(self.key, self.key_id)]}

    async def fetch_json(self, url: str) -> Any:
        """What the served endpoints answer, without a socket (`AcsTokenVerifier(fetch_json=...)`).

        It yields to the event loop once, as a fetch over the network would, so that requests
        arriving together meet a fetch under way.
        """
        await asyncio.sleep(0)
        if url == self.openid_url:
            return self.configuration()
        if url == f"{self.base}/calling/keys":
            return self.key_set()
        raise aiohttp.ClientConnectionError(f"nothing serves {url}")

    @staticmethod
    def jwk(key: Any, key_id: str) -> dict[str, Any]:
        from jwt.algorithms import RSAAlgorithm

        public = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
        return {**public, "kid": key_id, "use": "sig", "alg": "RS256"}

    def token(
        self,
        *,
        audience: str = RESOURCE_ID,
        issuer: str = ACS_ISSUER,
        expires_in: float = 300,
        key_id: str | None = None,
        key: Any = None,
    ) -> str:
        import jwt

        now = int(time.time())
        claims = {"iss": issuer, "aud": audience, "iat": now, "nbf": now, "exp": int(now + expires_in)}
        return jwt.encode(claims, key or self.key, algorithm="RS256", headers={"kid": key_id or self.key_id})

    def headers(self, **token_options: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(**token_options)}"}


class MemoryMediaSocket:
    """ACS's media socket in memory (the bridge's `MediaSocket`): keeps the frames the bridge sends;
    the caller says nothing and hangs up at `hang_up()` (or when the bridge closes it)."""

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []
        self._closed = asyncio.Event()

    async def send_str(self, data: str, compress: int | None = None) -> None:
        self.frames.append(json.loads(data))

    async def close(self, *, code: int = 1000, message: bytes = b"") -> bool:
        self._closed.set()
        return True

    def hang_up(self) -> None:
        self._closed.set()

    def __aiter__(self) -> AsyncIterator[aiohttp.WSMessage]:
        return self._messages()

    async def _messages(self) -> AsyncIterator[aiohttp.WSMessage]:
        await self._closed.wait()
        return
        yield


@dataclass
class Received:
    kind: str
    at: float
    pcm: np.ndarray | None = None


def speech(tmp_path: Path, text: str) -> np.ndarray:
    """`text` spoken by espeak-ng, at 24 kHz mono int16."""
    require_program("espeak-ng", "speaking as a caller")
    return read_audio_24k_mono(speech_wav(tmp_path / f"{abs(hash(text))}.wav", text))


@dataclass
class SimulatedAcsCall:
    url: str
    pascal_case: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    _session: aiohttp.ClientSession | None = None
    _ws: aiohttp.ClientWebSocketResponse | None = None
    _reader: asyncio.Task[None] | None = None
    _next_send: float = 0.0

    async def __aenter__(self) -> SimulatedAcsCall:
        self._session = aiohttp.ClientSession()
        self._ws = await self._session.ws_connect(self.url, headers=self.headers, max_msg_size=0)
        self._reader = asyncio.create_task(self._read())
        metadata = {"subscriptionId": "sub-1", "encoding": "PCM", "sampleRate": RATE, "channels": 1, "length": 960}
        await self.send_json(self._shape("AudioMetadata", metadata))
        self._next_send = time.monotonic()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.hang_up()

    async def hang_up(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._session is not None:
            await self._session.close()

    def _shape(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        """camelCase as documented, or PascalCase keys as some ACS versions and samples use."""
        if not self.pascal_case:
            return {"kind": kind, kind[0].lower() + kind[1:]: body}
        return {"Kind": kind, kind: {key[0].upper() + key[1:]: value for key, value in body.items()}}

    async def send_json(self, message: dict[str, Any]) -> None:
        assert self._ws is not None
        await self._ws.send_str(json.dumps(message))

    async def send_raw(self, text: str | bytes) -> None:
        assert self._ws is not None
        if isinstance(text, bytes):
            await self._ws.send_bytes(text)
        else:
            await self._ws.send_str(text)

    async def stream(self, pcm: np.ndarray) -> None:
        """Send `pcm` as 20 ms AudioData frames at real-time pace (silent frames flagged as such)."""
        pcm = np.concatenate([pcm, np.zeros(-len(pcm) % FRAME, dtype=np.int16)])
        for start in range(0, len(pcm), FRAME):
            frame = pcm[start : start + FRAME]
            silent = not np.any(np.abs(frame.astype(np.int32)) > LOUD)
            body = {
                "data": base64.b64encode(frame.astype("<i2").tobytes()).decode(),
                "timestamp": "2026-01-01T00:00:00.000Z",
                "participantRawID": "4:+15555550100",
                "silent": silent,
            }
            if self.closed.is_set():
                raise AssertionError(f"the bridge ended the call while the caller spoke (got {self.kinds()})")
            await self.send_json(self._shape("AudioData", body))
            self._next_send += FRAME / RATE
            await asyncio.sleep(max(0.0, self._next_send - time.monotonic()))

    async def silence_until(self, condition: Any, what: str, timeout: float = WAIT_S) -> None:
        """Keep sending silent frames (as ACS does between words) until `condition()` holds."""
        deadline = time.monotonic() + timeout
        while not condition():
            if self.closed.is_set():
                raise AssertionError(f"{what}: the bridge ended the call first (got {self.kinds()})")
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not seen within {timeout} s (got {self.kinds()})")
            await self.stream(np.zeros(FRAME, dtype=np.int16))

    async def _read(self) -> None:
        assert self._ws is not None
        async for message in self._ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            frame = {key.lower(): value for key, value in json.loads(message.data).items()}
            kind = frame["kind"]
            pcm = None
            if kind == "AudioData":
                data = {key.lower(): value for key, value in frame["audiodata"].items()}["data"]
                pcm = np.frombuffer(base64.b64decode(data), dtype="<i2")
            self.received.append(Received(kind, time.monotonic(), pcm))
        self.closed.set()

    def kinds(self) -> list[str]:
        kinds: list[str] = []
        for item in self.received:
            if not kinds or kinds[-1] != item.kind:
                kinds.append(item.kind)
        return kinds

    def heard(self, after: float = 0.0) -> np.ndarray:
        """The audio the caller got (after a time), concatenated."""
        chunks = [item.pcm for item in self.received if item.pcm is not None and item.at >= after]
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)

    def loud_audio_after(self, after: float = 0.0) -> bool:
        return bool(np.any(np.abs(self.heard(after).astype(np.int32)) > LOUD))


# --- `voicecli phone` as a process ------------------------------------------------------------


@dataclass
class PhoneProcess:
    """A running `voicecli phone --port 0`; `base` is its ws:// address."""

    process: asyncio.subprocess.Process
    base: str
    stdout: list[str]

    async def next_line(self, pattern: str) -> str:
        """Read stdout until a line matches (fails the test at EOF)."""
        assert self.process.stdout is not None
        while True:
            raw = await asyncio.wait_for(self.process.stdout.readline(), 120)
            if not raw:
                pytest.fail(f"voicecli phone ended before printing {pattern!r}; printed {self.stdout}")
            line = raw.decode().rstrip("\n")
            self.stdout.append(line)
            if re.search(pattern, line):
                return line

    async def finish(self) -> tuple[int, str, str]:
        out, err = await asyncio.wait_for(self.process.communicate(), 60)
        return self.process.returncode or 0, "\n".join([*self.stdout, out.decode()]), err.decode()


def phone_env(**extra: str) -> dict[str, str]:
    """The environment of a `voicecli phone` process: no user config, no ACS unless given."""
    env = {k: v for k, v in os.environ.items() if k not in ("ACS_CONNECTION_STRING", "VOICECLI_PROVIDER")}
    return {**env, "XDG_CONFIG_HOME": "/nonexistent", **extra}


@pytest.fixture
async def phone() -> AsyncIterator[PhoneProcess]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "voicecli",
        "phone",
        "--port",
        "0",
        "--no-greeting",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=phone_env(),
    )
    running = PhoneProcess(process, "", [])
    line = await running.next_line(r"listening on http://")
    running.base = line.split("listening on ")[1].replace("http://", "ws://")
    yield running
    if process.returncode is None:
        process.kill()
        _, err = await process.communicate()
        print(f"voicecli phone's log:\n{err.decode()}")  # shown with a failing test's teardown output


async def run_phone_command(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    """Run `voicecli phone ARGS` to its end: exit code, stdout, stderr."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "voicecli", "phone", *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode or 0, out.decode(), err.decode()
