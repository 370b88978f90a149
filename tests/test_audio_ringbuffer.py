"""Ring buffer: FIFO order across wrap-around, counted overflow, flush with fade, SPSC safety."""

import threading
import time

import numpy as np

from voicecli.audio.ringbuffer import RingBuffer


def ramp(start: int, count: int) -> np.ndarray:
    return np.arange(start, start + count, dtype=np.int16)


def test_fifo_across_wrap_around() -> None:
    ring = RingBuffer(10)
    out = np.empty(4, dtype=np.int16)
    expected = 0
    for _ in range(20):  # many laps around the 10-sample buffer, odd chunk sizes
        ring.write(ramp(expected + ring.fill, 7 - ring.fill))
        for _ in range(2):
            got = ring.read_into(out)
            np.testing.assert_array_equal(out[:got], ramp(expected, got))
            expected += got
    assert ring.overflows == 0


def test_short_read_zero_fills() -> None:
    ring = RingBuffer(8)
    ring.write(ramp(1, 3))
    out = np.full(5, 99, dtype=np.int16)
    assert ring.read_into(out) == 3
    assert out.tolist() == [1, 2, 3, 0, 0]
    assert ring.read_into(out) == 0
    assert out.tolist() == [0] * 5


def test_read_into_strided_column_view() -> None:
    """PortAudio hands (frames, channels) arrays; the player reads into column 0 directly."""
    ring = RingBuffer(8)
    ring.write(ramp(1, 4))
    outdata = np.zeros((4, 2), dtype=np.int16)
    assert ring.read_into(outdata[:, 0]) == 4
    assert outdata[:, 0].tolist() == [1, 2, 3, 4]


def test_overflow_drops_newest_and_counts() -> None:
    ring = RingBuffer(5)
    assert ring.write(ramp(0, 3)) == 3
    assert ring.write(ramp(3, 4)) == 2
    assert ring.write(ramp(7, 1)) == 0
    assert (ring.overflows, ring.fill, ring.write_position) == (2, 5, 5)
    out = np.empty(5, dtype=np.int16)
    ring.read_into(out)
    assert out.tolist() == [0, 1, 2, 3, 4]


def test_flush_drops_everything_unread() -> None:
    ring = RingBuffer(16)
    ring.write(ramp(1, 10))
    ring.read_into(np.empty(3, dtype=np.int16))
    assert ring.flush() == 3
    assert ring.fill == 0
    ring.write(ramp(50, 2))
    out = np.empty(4, dtype=np.int16)
    assert ring.read_into(out) == 2
    assert out[:2].tolist() == [50, 51]


def test_flush_with_fade_keeps_a_scaled_ramp_across_the_wrap() -> None:
    ring = RingBuffer(8)
    ring.write(np.full(6, 1000, dtype=np.int16))
    ring.read_into(np.empty(6, dtype=np.int16))
    ring.write(np.full(8, 1000, dtype=np.int16))  # starts at index 6: wraps
    fade = np.array([0.75, 0.5, 0.25], dtype=np.float32)
    assert ring.flush(fade) == 6 + 3
    out = np.empty(8, dtype=np.int16)
    assert ring.read_into(out) == 3
    assert out.tolist() == [750, 500, 250, 0, 0, 0, 0, 0]


def test_fade_longer_than_what_is_buffered() -> None:
    ring = RingBuffer(8)
    ring.write(np.full(2, 1000, dtype=np.int16))
    assert ring.flush(np.linspace(1, 0, 6, dtype=np.float32)) == 2
    assert ring.fill == 2


def test_concurrent_producer_consumer_never_repeats_or_reorders() -> None:
    """A consumer thread reads while the producer writes and flushes: values only ever increase."""
    ring = RingBuffer(64)
    total = 30000
    seen: list[np.ndarray] = []
    done = threading.Event()

    def consume() -> None:
        out = np.empty(16, dtype=np.int16)
        while not done.is_set() or ring.fill:
            got = ring.read_into(out)
            seen.append(out[:got].copy())
            time.sleep(0)  # let the producer run (a callback thread would sleep between blocks)

    consumer = threading.Thread(target=consume)
    consumer.start()
    value = 1
    while value < total:
        value += ring.write(ramp(value, min(37, total - value)))
        time.sleep(0)
        if value % 7 == 0:
            ring.flush(np.full(5, 1.0, dtype=np.float32))
    done.set()
    consumer.join(timeout=10)
    received = np.concatenate(seen).astype(np.int32)
    assert received.size > 0
    assert np.all(np.diff(received) > 0)
