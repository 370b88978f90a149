"""When a GPT-Live client replaces its session before the session limit (sans-I/O, any clock).

The timing is the Realtime continuity's (`Continuity.rollover_in`: `rollover_lead_s` before
`expires_at`, at most `rollover_share` of the lifetime); the moment is a quiet one, as the Realtime
supervisor waits for one. What "quiet" means differs: GPT-Live has no responses or input buffer to
watch, so it is no delegation running and nothing heard from either side (the model's voice, the
user's words) for `quiet_s`. Should no quiet moment come before the limit, the service's
`session.closed` (`expired`) ends the session like any drop, and the client reconnects.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from voicecli.realtime.continuity import Continuity

__all__ = ["QUIET_S", "LiveRollover"]

QUIET_S = 1.0
"""Nothing heard from either side for this long counts as a pause in the conversation."""


@dataclass(slots=True)
class LiveRollover:
    """Feed it what is heard (`heard(now)`) on a monotonic clock; ask when a rollover is due and
    whether now is a quiet moment."""

    policy: Continuity = field(default_factory=Continuity)
    quiet_s: float = QUIET_S
    _last_heard: float | None = None

    def due_in(self, expires_at: float, wall_now: float) -> float:
        """Seconds from `wall_now` (Unix time, as `expires_at`) until the rollover should start."""
        return self.policy.rollover_in(expires_at, wall_now)

    def heard(self, now: float) -> None:
        """The model spoke or the user's words arrived at `now` (monotonic seconds)."""
        self._last_heard = now

    def quiet(self, now: float, *, delegations_running: bool) -> bool:
        """Whether a new session may replace the current one at `now` without cutting anything off."""
        if delegations_running:
            return False
        return self._last_heard is None or now - self._last_heard >= self.quiet_s
