"""TA-Lib indicators for one symbol, one point at a time, exactly equal to TA-Lib's batch functions.

The value at point i equals `talib.<F>(all points 0..i)[-1]`. Recursive indicators (RSI, EMA, MACD) depend
on every point since the first, so they cannot be recomputed from a window: each indicator is a TA-Lib
stream handle that carries its state forward in O(1) per point (bit-identical to TA-Lib's batch function over the same points).

A handle can only be opened on at least `lookback + 1` points, and opening it on exactly the points seen so
far (from point 0) is what makes it agree with batch. So until every handle is open the points are kept in
a short history (at most `history_needed(...)` ≤ MAX_POINTS points; the settings refuse periods that would
need more), and each handle is opened as soon as that history is long enough. Then the history is dropped:
the handles are the only state.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import talib
from talib import stream

from tui_trader.settings import MAX_INDICATOR_POINTS, IndicatorSettings, indicator_history_needed


class Values(NamedTuple):
    """The indicator values at one point (field names as in `messages.Indicators`)."""

    rsi: float
    macd: float
    macd_signal: float
    macd_hist: float
    bb_upper: float
    bb_middle: float
    bb_lower: float
    sma_fast: float
    sma_slow: float
    ema_fast: float
    ema_slow: float


def _specs(cfg: IndicatorSettings) -> list[tuple[Any, dict[str, Any], int]]:
    """(stream constructor, TA-Lib arguments, points needed before it can open) per indicator, in Values order."""
    return [
        (stream.RSI, {"timeperiod": cfg.rsi_period}, cfg.rsi_period + 1),
        (
            stream.MACD,
            {"fastperiod": cfg.macd_fast, "slowperiod": cfg.macd_slow, "signalperiod": cfg.macd_signal},
            cfg.macd_slow + cfg.macd_signal - 1,
        ),
        (
            stream.BBANDS,
            {"timeperiod": cfg.bb_period, "nbdevup": cfg.bb_stddev, "nbdevdn": cfg.bb_stddev, "matype": 0},
            cfg.bb_period,
        ),
        (stream.SMA, {"timeperiod": cfg.sma_fast}, cfg.sma_fast),
        (stream.SMA, {"timeperiod": cfg.sma_slow}, cfg.sma_slow),
        (stream.EMA, {"timeperiod": cfg.ema_fast}, cfg.ema_fast),
        (stream.EMA, {"timeperiod": cfg.ema_slow}, cfg.ema_slow),
    ]


def batch(cfg: IndicatorSettings, closes: np.ndarray) -> dict[str, np.ndarray]:
    """The same indicators with TA-Lib's batch functions over a whole series (the reference for tests)."""
    closes = np.ascontiguousarray(closes, dtype=np.float64)
    macd, sig, hist = talib.MACD(
        closes, fastperiod=cfg.macd_fast, slowperiod=cfg.macd_slow, signalperiod=cfg.macd_signal
    )
    up, mid, lo = talib.BBANDS(
        closes, timeperiod=cfg.bb_period, nbdevup=cfg.bb_stddev, nbdevdn=cfg.bb_stddev, matype=talib.MA_Type.SMA
    )
    return {
        "rsi": talib.RSI(closes, timeperiod=cfg.rsi_period),
        "macd": macd,
        "macd_signal": sig,
        "macd_hist": hist,
        "bb_upper": up,
        "bb_middle": mid,
        "bb_lower": lo,
        "sma_fast": talib.SMA(closes, timeperiod=cfg.sma_fast),
        "sma_slow": talib.SMA(closes, timeperiod=cfg.sma_slow),
        "ema_fast": talib.EMA(closes, timeperiod=cfg.ema_fast),
        "ema_slow": talib.EMA(closes, timeperiod=cfg.ema_slow),
    }


class IndicatorSet:
    """RSI, MACD, Bollinger bands, two SMAs and two EMAs of one series; `update(close)` per point.

    `update` returns None until every indicator has a value (with the default periods: the 50th point,
    SMA50's first), then the values at that point as a plain tuple in `Values` order (a named tuple costs
    more than the rest of the point; `Values(*t)` names them). The caller passes finite positive closes only (a NaN
    would be undefined behaviour in TA-Lib's history and is refused by the handles).
    """

    __slots__ = ("_bb", "_emaf", "_emas", "_handles", "_history", "_macd", "_rsi", "_smaf", "_smas", "_specs", "points")

    def __init__(self, cfg: IndicatorSettings) -> None:
        needed = indicator_history_needed(cfg)
        if needed > MAX_INDICATOR_POINTS:  # settings validation refuses this; guard direct callers too
            raise ValueError(f"these periods need {needed} points of history; at most {MAX_INDICATOR_POINTS} are kept")
        self._specs = _specs(cfg)
        self._handles: list[Any] = [None] * len(self._specs)
        self._history: list[float] | None = []
        self.points = 0

    @property
    def ready(self) -> bool:
        """Every indicator has a value (the history is gone; the handles carry the state)."""
        return self._history is None

    @property
    def history_len(self) -> int:
        return 0 if self._history is None else len(self._history)

    def update(self, close: float) -> tuple[float, ...] | None:
        self.points += 1
        if self._history is None:
            # The hot path: seven O(1) handle updates, no allocation but the result tuples.
            macd = self._macd.update(close)
            bb = self._bb.update(close)
            return (
                self._rsi.update(close),
                macd[0],
                macd[1],
                macd[2],
                bb[0],
                bb[1],
                bb[2],
                self._smaf.update(close),
                self._smas.update(close),
                self._emaf.update(close),
                self._emas.update(close),
            )
        return self._warming(close)

    def _warming(self, close: float) -> tuple[float, ...] | None:
        history = self._history
        assert history is not None
        history.append(close)
        outputs: list[Any] = [None] * len(self._specs)
        array = None
        for i, (open_stream, kwargs, needed) in enumerate(self._specs):
            handle = self._handles[i]
            if handle is not None:
                outputs[i] = handle.update(close)
            elif len(history) >= needed:
                if array is None:
                    array = np.array(history, dtype=np.float64)
                try:
                    handle = open_stream(array, **kwargs)
                except talib.InsufficientHistory:  # a seeding that needs more than lookback + 1: next point
                    continue
                self._handles[i] = handle
                outputs[i] = handle.value
        if any(h is None for h in self._handles):
            return None
        (self._rsi, self._macd, self._bb, self._smaf, self._smas, self._emaf, self._emas) = self._handles
        self._history = None
        rsi, macd, bb, smaf, smas, emaf, emas = outputs
        return (rsi, macd[0], macd[1], macd[2], bb[0], bb[1], bb[2], smaf, smas, emaf, emas)
