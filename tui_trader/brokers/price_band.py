"""Which trade prices a simulated fill may use: finite, positive and within a band of the last good trade.

A paper fill taken at an absurd print is a fantasy loss (or profit) on the desk: one trade at 1e9 while short
filled a stop there and took a 10,000 USDT account to −16 million. So every trade is checked before it can
move the reference, fire a trigger or price a fill:

- non-finite, zero or negative prices are dropped and counted;
- a price farther than `band_pct` from the last good trade is held back (quarantined) and counted. It becomes
  good only when `confirm` trades in a row land in the band around it (the market really moved, e.g. a
  recording that resumes after a gap); a single good trade in between ends the excursion;
- the first finite positive trade of a symbol is the baseline, unless the caller names a provisional
  reference (the paper broker: the entry price of a position restored after a restart, whose triggers a first
  absurd print must not fire). It is never checked against the book: an absurd book would then hold real
  trades back while entries were priced from it.

Pure: no clock, no I/O, the same trades give the same answers (a replay relies on it).
"""

from __future__ import annotations

import collections
import math

CONFIRM_TRADES = 3  # trades in a row that make a jump the new baseline


def usable(price: float) -> bool:
    """A price a fill may be computed from at all: finite and above zero."""
    return math.isfinite(price) and price > 0


def deviation(price: float, reference: float) -> float:
    """|price − reference| as a share of the reference."""
    return abs(price - reference) / reference


class PriceBand:
    """The last good trade per symbol and the trades held back, by reason."""

    def __init__(self, band_pct: float, confirm: int = CONFIRM_TRADES) -> None:
        self.band_pct = band_pct
        self.confirm = max(1, confirm)
        self.last: dict[str, float] = {}  # symbol → last good trade price
        self.quarantined: collections.Counter[str] = collections.Counter()  # reason → trades held back
        self._suspect: dict[str, tuple[float, int]] = {}  # symbol → (first held-back price, trades agreeing)

    def on_trade(self, symbol: str, price: float, provisional: float | None = None) -> float | None:
        """The price if it is good (and now the reference), None if it is held back. `provisional` stands in
        for the last good trade while the symbol has none."""
        if not math.isfinite(price):
            self.quarantined["non_finite"] += 1
            return None
        if price <= 0:
            self.quarantined["non_positive"] += 1
            return None
        ref = self.last.get(symbol, provisional)
        if ref is None or deviation(price, ref) <= self.band_pct:
            self._suspect.pop(symbol, None)
            self.last[symbol] = price
            return price
        anchor, seen = self._suspect.get(symbol, (price, 0))
        if seen and deviation(price, anchor) > self.band_pct:
            anchor, seen = price, 0  # a different excursion starts over
        seen += 1
        if seen >= self.confirm:
            self._suspect.pop(symbol, None)
            self.last[symbol] = price
            return price
        self._suspect[symbol] = (anchor, seen)
        self.quarantined["out_of_band"] += 1
        return None

    def outside(self, symbol: str, price: float) -> float | None:
        """How far `price` lies from the last good trade when that is beyond the band, else None."""
        ref = self.last.get(symbol)
        if ref is None:
            return None
        dev = deviation(price, ref)
        return dev if dev > self.band_pct else None
