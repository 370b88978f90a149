"""Text from outside (the service, a tool, a URL) made safe to show and to store: one rule for all.

`redact` removes secrets: the keys this process was configured with, wherever they appear, and
anything shaped like a credential (API keys, bearer tokens, passwords in URLs, key-like query
parameters), so a gateway that quotes the key it rejected never puts it on screen or in a file.
`visible` turns control characters into readable escapes (`\\x1b`), so a transcript holding
`ESC ]0;…` cannot retitle or clear the user's terminal, nor forge a line in a log.
`shown` does both; every line that reaches the screen, a log or a recording passes through it.
"""

from __future__ import annotations

import re
import unicodedata

REDACTED = "[redacted]"
_SECRET_SHAPES = re.compile(
    r"(?P<key>\b(?:sk|ek|rk)[-_][A-Za-z0-9_\-]{12,})"  # OpenAI keys and ephemeral client secrets
    r"|(?P<bearer>\bBearer\s+)[^\s\"',;]+"
    r"|(?<=://)(?P<user>[^/\s:@]*:)[^@\s/]+(?=@)"  # the password of user:password@ in a URL
    r"|\b(?=[A-Za-z]*[0-9])(?=[0-9]*[A-Za-z])[A-Za-z0-9]{32,}\b"  # Azure keys: 32+ letters and digits
    r"|(?<=[?&])(?P<param>(?:api[-_]?key|key|token|access_token|sig|password|secret|client_secret)=)[^&\s\"']+",
    re.IGNORECASE,
)
_known_secrets: set[str] = set()
MIN_SECRET_CHARS = 8
"""Shorter values are not taken as secrets: replacing them everywhere would garble ordinary text."""
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
"""Direction overrides: they make a terminal show text in another order than it was written."""

_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def remember_secret(value: str | None) -> None:
    """Redact this exact value wherever it shows up later (the configured API keys)."""
    if value and len(value) >= MIN_SECRET_CHARS:
        _known_secrets.add(value)


def redact(text: str) -> str:
    """`text` with every known secret and every credential-shaped part replaced by `[redacted]`."""
    for secret in _known_secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return _SECRET_SHAPES.sub(_redacted_shape, text)


def _redacted_shape(match: re.Match[str]) -> str:
    """Keep what names the secret (`Bearer `, `user:`, `api-key=`), replace the secret itself."""
    prefix = match.group("bearer") or match.group("user") or match.group("param") or ""
    return prefix + REDACTED


def visible(text: str, *, keep_newlines: bool = False) -> str:
    """`text` with control characters shown as escapes; newlines and tabs kept when asked."""
    if text.isprintable():
        return text
    return "".join(_visible_char(char, keep_newlines) for char in text)


def _visible_char(char: str, keep_newlines: bool) -> str:
    if keep_newlines and char in "\n\t":
        return char
    if char in _NAMED_ESCAPES:
        return _NAMED_ESCAPES[char]
    if char in _BIDI_CONTROLS or unicodedata.category(char) == "Cc":
        code = ord(char)
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    return char


def shown(text: str, *, keep_newlines: bool = False) -> str:
    """`text` redacted and with control characters visible: what may reach a screen or a file."""
    return visible(redact(text), keep_newlines=keep_newlines)
