"""How much one response may say: the service stops a response at `max_output_tokens` ("inf" means
the model's own ceiling) and ends it `incomplete`. A brain (the echo brain repeating a 10 MB tool
output, a chat model that never stops) must not make the server speak, or allocate, without end.

Tokens are counted as the usage estimate counts them: text at ~4 characters a token, audio at a
token per 50 ms, and speech runs at ~8 characters a second (`synth`), so ~0.4 spoken characters a token.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Mapping
from typing import Any

__all__ = ["MODEL_MAX_OUTPUT_TOKENS", "ReplyBudget"]

MODEL_MAX_OUTPUT_TOKENS = 4096
"""The realtime models' ceiling on one response's output tokens: what `"inf"` comes to."""
_TEXT_CHARS_PER_TOKEN = 4.0
_SPOKEN_CHARS_PER_TOKEN = 0.4


class ReplyBudget:
    """The characters one response may say; `exceeded` once the reply was cut short."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        """`config` is the response's configuration (`max_output_tokens`, `output_modalities`)."""
        limit = config.get("max_output_tokens")
        tokens = min(limit, MODEL_MAX_OUTPUT_TOKENS) if isinstance(limit, int) else MODEL_MAX_OUTPUT_TOKENS
        per_token = _SPOKEN_CHARS_PER_TOKEN if "audio" in config["output_modalities"] else _TEXT_CHARS_PER_TOKEN
        self.chars = max(1, int(tokens * per_token))
        self.exceeded = False

    def text(self, text: str) -> str:
        """A whole reply, cut to the budget."""
        if len(text) > self.chars:
            self.exceeded = True
            return text[: self.chars]
        return text

    async def stream(self, pieces: AsyncIterable[str]) -> AsyncIterator[str]:
        """A streamed reply, cut to the budget; the stream is closed (its request ended) once spent."""
        left = self.chars
        iterator = aiter(pieces)
        try:
            async for piece in iterator:
                if len(piece) > left:
                    self.exceeded = True
                    if left:
                        yield piece[:left]
                    return
                left -= len(piece)
                yield piece
        finally:
            close = getattr(iterator, "aclose", None)
            if close is not None:
                await close()
