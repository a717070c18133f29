"""Which symbols went quiet: a symbol with no message for `stale_after_ms` is stale (pure; times passed in).

Live the times are the wall clock; in a replay they are event times, so a replay flags the same quiet
spells at any speed.
"""

from __future__ import annotations

from collections.abc import Iterable


class StaleTracker:
    def __init__(self, stale_after_ms: int, symbols: Iterable[str] = (), now_ms: int = 0) -> None:
        self.stale_after_ms = stale_after_ms
        self.last: dict[str, int] = {s: now_ms for s in symbols}
        self.stale: list[str] = []

    def reset(self, now_ms: int) -> None:
        """Start every symbol's clock again (a new connection: silence is measured from here)."""
        for symbol in self.last:
            self.last[symbol] = now_ms
        self.stale = []

    def touch(self, symbol: str, now_ms: int) -> None:
        self.last[symbol] = now_ms

    def check(self, now_ms: int) -> list[str] | None:
        """The stale symbols if that set changed since the last check, else None."""
        cutoff = now_ms - self.stale_after_ms
        stale = [s for s, t in self.last.items() if t <= cutoff]
        if stale == self.stale:
            return None
        self.stale = stale
        return stale
