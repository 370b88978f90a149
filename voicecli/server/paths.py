"""Route paths that tolerate doubled slashes, as the service does.

Some clients join a base URL ending in `/` with a path starting with one (`…/v1//realtime/calls`);
the service answers those as if the slashes were single, so the local server must too. Every
route is registered through `lenient()`, and handlers compare `normalized(request.path)`.
"""

from __future__ import annotations

import re

__all__ = ["lenient", "normalized"]

_SLASHES = re.compile("/{2,}")


def lenient(path: str) -> str:
    """An aiohttp route pattern matching `path` with any of its slashes repeated."""
    segments = path.strip("/").split("/")
    pattern = "/{_slashes0:/*}" + segments[0]
    for number, segment in enumerate(segments[1:], 1):
        pattern += f"{{_slashes{number}:/+}}{segment}"
    return pattern


def normalized(path: str) -> str:
    """`path` with runs of slashes made single."""
    return _SLASHES.sub("/", path)
