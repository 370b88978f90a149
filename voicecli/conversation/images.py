"""Show the model something: an image file as a Realtime GA `input_image` user message.

Sent on its own (no `response.create`), it goes with the next turn, spoken or typed. Only the GA
`gpt-realtime` models take images; `images_refused` says why a session cannot, in one line.
"""

from __future__ import annotations

import base64
import mimetypes
from pathlib import Path
from typing import Any

from voicecli.config import AppConfig

__all__ = ["MAX_IMAGE_BYTES", "image_item", "images_refused"]

MAX_IMAGE_BYTES = 10 * 1024 * 1024
_TYPES = frozenset({"image/png", "image/jpeg", "image/webp", "image/gif"})


def image_item(path: Path) -> dict[str, Any]:
    """The `conversation.item.create` for an image file; `ValueError` saying what is wrong with it."""
    kind = mimetypes.guess_type(path.name)[0]
    if kind not in _TYPES:
        raise ValueError(f"{path}: not a PNG, JPEG, WebP or GIF image")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"{path}: {exc.strerror or exc}") from None
    if not data or len(data) > MAX_IMAGE_BYTES:
        raise ValueError(
            f"{path}: an image must be 1 byte to {MAX_IMAGE_BYTES // 2**20} MiB, this is {len(data)} bytes"
        )
    url = f"data:{kind};base64,{base64.b64encode(data).decode('ascii')}"
    content = [{"type": "input_image", "image_url": url}]
    return {"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": content}}


def images_refused(config: AppConfig) -> str | None:
    """Why this session cannot take images (None: it can): only GA `gpt-realtime` models do."""
    match config.provider:
        case "openai":
            model = config.openai.model
        case "azure":
            model = config.azure.deployment
        case _:
            return None  # the local server keeps the image in the conversation (its brains do not look)
    if model.startswith("gpt-realtime"):
        return None
    return f"images need a gpt-realtime model; {model or 'this deployment'} takes none (Azure: name it after its model)"
