"""One clock for every worker: the wall clock when live, replayed exchange event time in a replay.

Ages, cooldowns, staleness and the trading day are measured on this clock, so a replay at any speed gives
the same result.
"""

from __future__ import annotations

import time


class Clock:
    """Wall clock (live)."""

    replay = False

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


class ReplayClock(Clock):
    """Event time of the replay: advanced by the replay feed, never goes backwards."""

    replay = True

    def __init__(self, start_ms: int = 0) -> None:
        self._now = start_ms

    def now_ms(self) -> int:
        return self._now

    def advance_to(self, event_ms: int) -> None:
        if event_ms > self._now:
            self._now = event_ms


class FixedClock(Clock):
    """A clock that only moves when told (tests, snapshots)."""

    def __init__(self, now_ms: int) -> None:
        self._now = now_ms

    def now_ms(self) -> int:
        return self._now

    def set(self, now_ms: int) -> None:
        self._now = now_ms
