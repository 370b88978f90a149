"""How long a call may go on: a cap on calls at once, on silence from the caller, on a call's length.

Each is a `[phone]` setting. A call past a limit is ended politely: the model is asked for a short
goodbye, which plays out, and then the call is hung up (the bridge does that; this module only
says when and why).
"""

from __future__ import annotations

from dataclasses import dataclass

GOODBYE_INSTRUCTIONS = (
    "The phone call is ending now because {why}. Say a short, friendly goodbye in one sentence, "
    "in the language of the conversation, and nothing else."
)


@dataclass(frozen=True, slots=True)
class CallLimits:
    max_calls: int = 20
    """Calls at once; the next one is refused (busy) until one ends."""
    idle_timeout_s: float = 60.0
    """No caller audio for this long (while the model neither speaks nor works on a reply) ends the call."""
    max_call_s: float = 3600.0
    """No call goes on longer than this."""
    goodbye_wait_s: float = 10.0
    """How long the model's goodbye may take to arrive before the call is hung up anyway."""

    def reached(self, *, now: float, started: float, quiet_since: float) -> str | None:
        """Why the call must end now, as the reason to record (None while within every limit).

        `quiet_since` is when the caller last made a sound or the model last finished a reply (and
        its audio played), whichever is later.
        """
        if now - started >= self.max_call_s:
            return f"the call reached its maximum length ({self.max_call_s:g} s)"
        if now - quiet_since >= self.idle_timeout_s:
            return f"no caller audio for {self.idle_timeout_s:g} s"
        return None

    @property
    def check_every_s(self) -> float:
        return max(0.05, min(1.0, self.idle_timeout_s / 4, self.max_call_s / 4))


def goodbye_instructions(reason: str) -> str:
    why = {True: "it has gone on for the longest time allowed", False: "the caller has been silent for a while"}
    return GOODBYE_INSTRUCTIONS.format(why=why[reason.startswith("the call reached")])
