"""Time bars built from trades by exchange event time, the way exchange klines are.

A bar covers [t, t+N) with t a multiple of N since the epoch; its close is the last trade price in it. It
closes when a trade with event time ≥ t+N arrives (or, live, when the clock passes t+N; see `close_until`).
Intervals without a trade repeat the previous close, so a quiet minute is still a point, as in klines.
Only closes matter here (the indicators use closes), so a bar is two numbers.
"""

from __future__ import annotations

from collections.abc import Sequence


class BarBuilder:
    """Closes of one symbol's bars of `interval_ms`. `add` returns (close, count) when bars closed, else None:
    `count` points of value `close` (the bar that ended, then the empty intervals after it)."""

    __slots__ = ("close", "interval_ms", "late", "start")

    def __init__(self, interval_ms: int) -> None:
        if interval_ms <= 0:
            raise ValueError("a time bar needs a positive interval")
        self.interval_ms = interval_ms
        self.start: int | None = None  # open time of the current (forming) bar
        self.close = 0.0
        self.late = 0  # trades whose bar had already closed (ignored: that point is final)

    def add(self, event_ms: int, price: float) -> tuple[float, int] | None:
        start = self.start
        if start is None:
            self.start = event_ms - event_ms % self.interval_ms
            self.close = price
            return None
        end = start + self.interval_ms
        if event_ms < end:
            if event_ms < start:
                self.late += 1
                return None
            self.close = price
            return None
        closed = self.close
        new_start = event_ms - event_ms % self.interval_ms
        count = (new_start - start) // self.interval_ms
        self.start = new_start
        self.close = price
        return closed, count

    def close_until(self, now_ms: int) -> tuple[float, int] | None:
        """Close every bar that ended by `now_ms` without waiting for the next trade (a quiet symbol, live).

        The new current bar has no trade yet; it carries the previous close, as an empty interval does.
        """
        start = self.start
        if start is None or now_ms < start + self.interval_ms:
            return None
        new_start = now_ms - now_ms % self.interval_ms
        count = (new_start - start) // self.interval_ms
        self.start = new_start
        return self.close, count

    def seed(self, start_ms: int, close: float) -> None:
        """Continue from history (warm-up): the bar opening at `start_ms` is current, its close so far `close`."""
        self.start = start_ms - start_ms % self.interval_ms
        self.close = close


def split_klines(
    rows: Sequence[Sequence[float]], interval_ms: int, now_ms: int
) -> tuple[list[float], tuple[int, float] | None]:
    """Klines (ccxt OHLCV rows: [open_ms, open, high, low, close, volume]) → the closes of the closed bars in
    time order, and where live bars continue: (open time of the current bar, its close so far) or None.

    A row whose bar ends after `now_ms` is still forming (the exchange's last row, usually): it is not a
    point, but it seeds the current bar. Rows with a close that is not a finite positive number are dropped.
    """
    closes: list[float] = []
    last: tuple[int, float] | None = None
    forming: tuple[int, float] | None = None
    for row in sorted(rows, key=lambda r: r[0]):
        try:
            open_ms, close = int(row[0]), float(row[4])
        except (TypeError, ValueError, IndexError):
            continue
        if not (close > 0 and close != float("inf")):
            continue
        if open_ms + interval_ms > now_ms:
            forming = (open_ms, close)
            break
        if last is not None and open_ms <= last[0]:
            continue  # a duplicate row
        closes.append(close)
        last = (open_ms, close)
    if forming is not None:
        return closes, forming
    if last is not None:
        return closes, (last[0] + interval_ms, last[1])
    return closes, None
