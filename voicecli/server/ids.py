"""Identifiers shaped like the service's (`event_…`, `item_…`, `resp_…`, `call_…`, `sess_…`).

Clients may log or pattern-match ids, so the prefixes matter; the random part need not be secret.
"""

from __future__ import annotations

import random
import string

__all__ = ["new_id"]

_ALPHABET = string.ascii_letters + string.digits
_random = random.Random()


def new_id(prefix: str) -> str:
    """Return `prefix_` followed by 21 random letters and digits, like `event_CdulTJIOI2YjBMxYUiRzZ`."""
    return f"{prefix}_{''.join(_random.choices(_ALPHABET, k=21))}"
