"""The seed's scoring: indicator values and a price in, a signal kind and its reasons out.

Buy points: RSI<30 +2, else RSI<40 +1; MACD>signal +1; price near the lower band +1; SMA fast>slow +1;
EMA fast>slow +1. Sell points mirror them (RSI>70 +2, else RSI>60 +1; MACD<signal; near the upper band;
SMA fast<slow; EMA fast<slow). Equal values add to neither side. "Near" is on %B = (price-lower)/(upper-lower):
≤ near_band for the lower band, ≥ 1-near_band for the upper; bands of zero width (a flat series) have no %B,
so neither band rule fires.

The side with more points is the candidate, strength = its points / all points. It is a signal only when
strength ≥ min_signal_strength: StrongBuy / StrongSell with ≥ 4 points, else Buy / Sell. Equal scores (or
none at all) give no signal.
"""

from __future__ import annotations

from typing import NamedTuple

from tui_trader import messages as m
from tui_trader.settings import IndicatorSettings

STRONG_POINTS = 4


class Evaluation(NamedTuple):
    kind: m.SignalKind | None  # None: no signal
    strength: float  # the candidate side's share of the points (0 when both scores are equal)
    buy: int
    sell: int
    reasons: tuple[str, ...]  # every rule that fired, with its points: "rsi<30:+2", "ema12<ema26:+1", …


# The rules in a fixed order: bit i of a "fired" mask is RULES[i]. (side, points, label; the SMA and EMA labels
# get the configured periods.)
RULES: tuple[tuple[str, int, str], ...] = (
    ("buy", 2, "rsi<30"),
    ("buy", 1, "rsi<40"),
    ("sell", 2, "rsi>70"),
    ("sell", 1, "rsi>60"),
    ("buy", 1, "macd>signal"),
    ("sell", 1, "macd<signal"),
    ("buy", 1, "near_lower_band"),
    ("sell", 1, "near_upper_band"),
    ("buy", 1, "{sma_fast}>{sma_slow}"),
    ("sell", 1, "{sma_fast}<{sma_slow}"),
    ("buy", 1, "{ema_fast}>{ema_slow}"),
    ("sell", 1, "{ema_fast}<{ema_slow}"),
)


class Scorer:
    """The rules with their thresholds. `fired` is the per-point hot path: ten comparisons into a bit mask;
    every mask's scores and kind are worked out once, here, so a point costs one table look-up. The reasons
    (strings) are only built for a point that becomes a signal (`evaluation`)."""

    __slots__ = ("_evaluations", "_labels", "_points", "kinds", "min_strength", "near_band", "upper_band")

    def __init__(self, cfg: IndicatorSettings, min_signal_strength: float) -> None:
        self.near_band = cfg.near_band
        self.upper_band = 1 - cfg.near_band
        self.min_strength = min_signal_strength
        names = {
            "sma_fast": f"sma{cfg.sma_fast}",
            "sma_slow": f"sma{cfg.sma_slow}",
            "ema_fast": f"ema{cfg.ema_fast}",
            "ema_slow": f"ema{cfg.ema_slow}",
        }
        self._labels = tuple(f"{label.format(**names)}:+{points}" for _, points, label in RULES)
        self._points: list[tuple[int, int]] = []
        for mask in range(1 << len(RULES)):
            fired = [rule for i, rule in enumerate(RULES) if mask >> i & 1]
            self._points.append(
                (
                    sum(pts for side, pts, _ in fired if side == "buy"),
                    sum(pts for side, pts, _ in fired if side == "sell"),
                )
            )
        self.kinds: list[str | None] = [self.classify(buy, sell).kind for buy, sell in self._points]
        self._evaluations: dict[int, Evaluation] = {}

    def fired(
        self,
        rsi: float,
        macd: float,
        macd_signal: float,
        bb_upper: float,
        bb_lower: float,
        sma_fast: float,
        sma_slow: float,
        ema_fast: float,
        ema_slow: float,
        price: float,
    ) -> int:
        """The rules that fire at one point, as a bit mask over RULES."""
        if rsi < 30:
            mask = 1
        elif rsi < 40:
            mask = 2
        elif rsi > 70:
            mask = 4
        elif rsi > 60:
            mask = 8
        else:
            mask = 0
        if macd > macd_signal:
            mask |= 16
        elif macd < macd_signal:
            mask |= 32
        width = bb_upper - bb_lower
        if width > 0:
            pct_b = (price - bb_lower) / width
            if pct_b <= self.near_band:
                mask |= 64
            elif pct_b >= self.upper_band:
                mask |= 128
        if sma_fast > sma_slow:
            mask |= 256
        elif sma_fast < sma_slow:
            mask |= 512
        if ema_fast > ema_slow:
            mask |= 1024
        elif ema_fast < ema_slow:
            mask |= 2048
        return mask

    def evaluation(self, mask: int) -> Evaluation:
        """The full result for a fired mask: kind, strength, scores and the reasons (worked out on a mask's first
        evaluation and kept: every signal and values message of that mask shares the same immutable tuple)."""
        ev = self._evaluations.get(mask)
        if ev is None:
            buy, sell = self._points[mask]
            reasons = tuple(label for i, label in enumerate(self._labels) if mask >> i & 1)
            ev = self._evaluations[mask] = self.classify(buy, sell, reasons)
        return ev

    def classify(self, buy: int, sell: int, reasons: tuple[str, ...] = ()) -> Evaluation:
        if buy > sell:
            strength = buy / (buy + sell)
            if strength >= self.min_strength:
                return Evaluation("StrongBuy" if buy >= STRONG_POINTS else "Buy", strength, buy, sell, reasons)
            return Evaluation(None, strength, buy, sell, reasons)
        if sell > buy:
            strength = sell / (buy + sell)
            if strength >= self.min_strength:
                return Evaluation("StrongSell" if sell >= STRONG_POINTS else "Sell", strength, buy, sell, reasons)
            return Evaluation(None, strength, buy, sell, reasons)
        return Evaluation(None, 0.0, buy, sell, reasons)
