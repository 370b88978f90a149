"""Make a WAV file that stopped growing half-way (a full disk) tell the truth about its length.

libsndfile writes the sizes in the header when the file is closed, from what it meant to write; when
the disk refused part of it, the header claims data the file does not hold. Rewriting the two sizes
in place needs no new disk space, so it works on the full disk that caused the problem.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

_CHUNK_HEADER = struct.Struct("<4sI")


def repair_wav(path: Path) -> float:
    """Cut `path` to whole frames, set its RIFF and data sizes to what it holds; return its seconds
    of audio (0 when not even the header made it to the disk, which then is removed)."""
    with path.open("r+b") as file:
        head = file.read(4096)
        found = _format_and_data(head)
        if found is None:
            file.close()
            path.unlink()
            return 0.0
        rate, block_align, data_start = found
        size = os.fstat(file.fileno()).st_size
        frames = max(0, size - data_start) // block_align
        end = data_start + frames * block_align
        file.truncate(end)
        file.seek(4)
        file.write(struct.pack("<I", end - 8))
        file.seek(data_start - 4)
        file.write(struct.pack("<I", frames * block_align))
    return frames / rate


def _format_and_data(head: bytes) -> tuple[int, int, int] | None:
    """(sample rate, block align, offset of the audio data) from a RIFF/WAVE header, or None."""
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    position, rate, block_align = 12, 0, 0
    while position + _CHUNK_HEADER.size <= len(head):
        chunk, length = _CHUNK_HEADER.unpack_from(head, position)
        body = position + _CHUNK_HEADER.size
        if chunk == b"fmt " and body + 14 <= len(head):
            rate = struct.unpack_from("<I", head, body + 4)[0]
            block_align = struct.unpack_from("<H", head, body + 12)[0]
        elif chunk == b"data":
            return (rate, block_align, body) if rate and block_align else None
        position = body + length + (length & 1)
    return None
