"""The caller's side of a call (`voicecli phone --dial`): ACS's media protocol spoken from a terminal.

`Dialer` is what ACS does on the media WebSocket: `AudioMetadata` first, then the caller's audio
as 20 ms `AudioData` frames; it hands the bridge's `AudioData` to whoever plays it and obeys
`StopAudio`. So a bridge can be tried, and tested end to end, on one machine without a phone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType

import aiohttp
import numpy as np

from voicecli.phone import media

FRAME_SAMPLES = media.SAMPLE_RATE * media.FRAME_MS // 1000
QUIET_S = 1.5
"""In file mode the reply is over when nothing new was heard for this long after it played out."""
_log = logging.getLogger("voicecli.phone")


class DialError(Exception):
    """The bridge could not be reached; one line for the user."""


@dataclass(slots=True)
class Heard:
    """What the caller got: the reply audio (as played, StopAudio drops nothing already heard)."""

    chunks: list[np.ndarray] = field(default_factory=list)
    stops: int = 0
    first_audio_at: float | None = None
    last_audio_at: float | None = None
    playout_end: float = 0.0
    """When the audio received so far has played (the caller hears it at real time)."""

    @property
    def audio(self) -> np.ndarray:
        return np.concatenate(self.chunks) if self.chunks else np.zeros(0, dtype=np.int16)


class Dialer:
    """One call to a bridge's media WebSocket; use as `async with Dialer(url) as call:`."""

    def __init__(
        self,
        url: str,
        *,
        on_audio: Callable[[np.ndarray], None] | None = None,
        on_stop: Callable[[], None] | None = None,
        participant: str = "4:+15555550100",
        headers: dict[str, str] | None = None,
    ) -> None:
        """`headers` go with the upgrade request (ACS's signed token, where a benchmark plays ACS)."""
        self.url = url
        self.headers = headers or {}
        self.heard = Heard()
        self.closed = asyncio.Event()
        self._on_audio = on_audio
        self._on_stop = on_stop
        self._participant = participant
        self._session: aiohttp.ClientSession | None = None
        self._socket: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Dialer:
        self._session = aiohttp.ClientSession()
        try:
            self._socket = await self._session.ws_connect(self.url, max_msg_size=0, headers=self.headers)
        except aiohttp.WSServerHandshakeError as exc:
            await self._session.close()
            raise DialError(_refusal(self.url, exc.status)) from None
        except (aiohttp.ClientError, OSError) as exc:
            await self._session.close()
            raise DialError(f"cannot reach the bridge at {self.url}: {exc}") from None
        self._reader = asyncio.create_task(self._read())
        await self._socket.send_str(media.metadata_in(subscription_id=uuid.uuid4().hex))
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._socket is not None:
            await self._socket.close()
        if self._reader is not None:
            await self._reader
        if self._session is not None:
            await self._session.close()

    async def send(self, pcm: np.ndarray) -> None:
        """Send 24 kHz mono int16 audio as 20 ms frames (not paced: the caller paces)."""
        if self._socket is None or self.closed.is_set():
            return
        stamp = datetime.now(UTC).isoformat(timespec="milliseconds")
        for start in range(0, len(pcm), FRAME_SAMPLES):
            frame = pcm[start : start + FRAME_SAMPLES].astype("<i2", copy=False)
            silent = not np.any(frame)
            with contextlib.suppress(ConnectionError):
                await self._socket.send_str(
                    media.audio_in(frame.tobytes(), timestamp=stamp, participant=self._participant, silent=silent)
                )

    async def speak(self, pcm: np.ndarray) -> None:
        """Send `pcm` at real-time pace, as a phone line delivers it."""
        started = time.monotonic()
        for number, start in enumerate(range(0, len(pcm), FRAME_SAMPLES), 1):
            if self.closed.is_set():
                return
            frame = pcm[start : start + FRAME_SAMPLES]
            if len(frame) < FRAME_SAMPLES:
                frame = np.concatenate([frame, np.zeros(FRAME_SAMPLES - len(frame), dtype=np.int16)])
            await self.send(frame)
            await asyncio.sleep(max(0.0, started + number * media.FRAME_MS / 1000 - time.monotonic()))

    async def listen_until_quiet(self, timeout_s: float) -> bool:
        """Send silence (as a quiet line does) until a reply was heard and has ended; False on timeout."""
        silence = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        deadline = time.monotonic() + timeout_s
        while not self.closed.is_set() and time.monotonic() < deadline:
            now = time.monotonic()
            heard = self.heard
            if heard.last_audio_at is not None and now > max(heard.playout_end, heard.last_audio_at) + QUIET_S:
                return True
            await self.speak(silence)
        return self.closed.is_set() and self.heard.last_audio_at is not None

    async def _read(self) -> None:
        assert self._socket is not None
        try:
            async for message in self._socket:
                if message.type == aiohttp.WSMsgType.TEXT:
                    self._handle(message.data)
        finally:
            self.closed.set()

    def _handle(self, text: str) -> None:
        try:
            frame = media.parse_frame(text)
        except media.MediaFrameError as exc:
            _log.warning("the bridge sent a malformed frame: %s", exc)
            return
        now = time.monotonic()
        if isinstance(frame, media.AudioFrame):
            pcm = np.frombuffer(frame.pcm, dtype="<i2")
            heard = self.heard
            if heard.first_audio_at is None:
                heard.first_audio_at = now
            heard.last_audio_at = now
            heard.playout_end = max(heard.playout_end, now) + len(pcm) / media.SAMPLE_RATE
            heard.chunks.append(pcm)
            if self._on_audio is not None:
                self._on_audio(pcm)
        elif isinstance(frame, media.StopAudioFrame):
            self.heard.stops += 1
            self.heard.playout_end = now
            if self._on_stop is not None:
                self._on_stop()


def _refusal(url: str, status: int) -> str:
    match status:
        case 401:
            return (
                f"the bridge at {url} takes only calls signed by ACS (401); --dial needs a bridge in local "
                "test mode (started on 127.0.0.1 without ACS_CONNECTION_STRING or [phone] acs_resource_id)"
            )
        case 503:
            return f"the bridge at {url} is busy or shutting down (503)"
        case 409:
            return f"the bridge at {url} has a call of that name in progress (409)"
    return f"the bridge at {url} refused the call (HTTP {status})"
