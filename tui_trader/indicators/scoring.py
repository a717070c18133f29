"""The seed's scoring (DESIGN "Signal rules"): indicator values and a price in, a signal kind and its reasons out.

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

from tui_trader.settings import IndicatorSettings

STRONG_POINTS = 4


class Evaluation(NamedTuple):
    kind: str | None  # "StrongBuy" | "Buy" | "Sell" | "StrongSell" | None (no signal)
    strength: float  # the candidate side's share of the points (0 when both scores are equal)
    buy: int
    sell: int
    reasons: tuple[str, ...]  # every rule that fired, with its points: "rsi<30:+2", "ema12<ema26:+1", …


class Scorer:
    """The rules with their thresholds and labels built once (labels name the configured periods)."""

    __slots__ = ("near_band", "min_strength", "_labels")

    def __init__(self, cfg: IndicatorSettings, min_signal_strength: float) -> None:
        self.near_band = cfg.near_band
        self.min_strength = min_signal_strength
        sma = f"sma{cfg.sma_fast}", f"sma{cfg.sma_slow}"
        ema = f"ema{cfg.ema_fast}", f"ema{cfg.ema_slow}"
        self._labels = (
            "rsi<30:+2", "rsi<40:+1", "rsi>70:+2", "rsi>60:+1",
            "macd>signal:+1", "macd<signal:+1",
            "near_lower_band:+1", "near_upper_band:+1",
            f"{sma[0]}>{sma[1]}:+1", f"{sma[0]}<{sma[1]}:+1",
            f"{ema[0]}>{ema[1]}:+1", f"{ema[0]}<{ema[1]}:+1",
        )

    def evaluate(self, rsi: float, macd: float, macd_signal: float, bb_upper: float, bb_lower: float,
                 sma_fast: float, sma_slow: float, ema_fast: float, ema_slow: float, price: float) -> Evaluation:
        L = self._labels
        buy = sell = 0
        reasons: list[str] = []
        if rsi < 30:
            buy += 2
            reasons.append(L[0])
        elif rsi < 40:
            buy += 1
            reasons.append(L[1])
        elif rsi > 70:
            sell += 2
            reasons.append(L[2])
        elif rsi > 60:
            sell += 1
            reasons.append(L[3])
        if macd > macd_signal:
            buy += 1
            reasons.append(L[4])
        elif macd < macd_signal:
            sell += 1
            reasons.append(L[5])
        width = bb_upper - bb_lower
        if width > 0:
            pct_b = (price - bb_lower) / width
            if pct_b <= self.near_band:
                buy += 1
                reasons.append(L[6])
            elif pct_b >= 1 - self.near_band:
                sell += 1
                reasons.append(L[7])
        if sma_fast > sma_slow:
            buy += 1
            reasons.append(L[8])
        elif sma_fast < sma_slow:
            sell += 1
            reasons.append(L[9])
        if ema_fast > ema_slow:
            buy += 1
            reasons.append(L[10])
        elif ema_fast < ema_slow:
            sell += 1
            reasons.append(L[11])
        return self.classify(buy, sell, tuple(reasons))

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
