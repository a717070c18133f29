"""The indicator engine: trades in, signals out, per symbol. Pure: no bus, no clock, no I/O.

A point is one trade (`bar = "tick"`) or one closed time bar (`"1s"`, `"1m"`, …; see bars.py). Each point
updates the symbol's indicators (engine.py) and, once they all have values, is scored (scoring.py). What is
emitted follows `indicators.emit`: "change" emits when the symbol's evaluated kind changes to a signal kind
(Buy → nothing → Buy emits twice; Buy → Buy once), "every" emits every evaluation that is a signal.

Symbols are independent: each has its own bars, indicators and last kind. A price that is not a finite
positive number is refused and counted; it never reaches TA-Lib, where a NaN would be undefined behaviour.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, NamedTuple

from tui_trader.indicators.bars import BarBuilder
from tui_trader.indicators.engine import IndicatorSet, Values
from tui_trader.indicators.scoring import Evaluation, Scorer
from tui_trader.settings import IndicatorSettings, bar_seconds

_INF = math.inf
NO_SIGNALS: tuple[()] = ()
# Most empty intervals filled at once (a day of 1 s bars). A longer silence is an outage or a bad event
# time, not a quiet market: the fill is cut there and counted, so one wrong timestamp cannot stall the worker.
MAX_FILL_POINTS = 86_400


class Emitted(NamedTuple):
    """One signal to publish: the symbol, the scoring result, the indicator values and the point's close."""

    symbol: str
    evaluation: Evaluation
    values: Values
    price: float


@dataclass
class Counters:
    trades: int = 0  # trades received (all symbols)
    rejected: int = 0  # trades refused: price NaN, infinite, zero or negative
    late: int = 0  # trades for a bar that had already closed (time bars only)
    fills_cut: int = 0  # silences longer than MAX_FILL_POINTS intervals
    points: int = 0  # points fed to the indicators (trades in tick mode, closed bars otherwise)
    warmup_points: int = 0  # points from history (klines), never scored
    evaluations: int = 0  # points scored (every indicator had a value)
    signals: dict[str, int] = field(default_factory=lambda: {"StrongBuy": 0, "Buy": 0, "Sell": 0, "StrongSell": 0})


class _Symbol:
    __slots__ = ("indicators", "bars", "last_kind")

    def __init__(self, cfg: IndicatorSettings, bar_ms: int) -> None:
        self.indicators = IndicatorSet(cfg)
        self.bars = BarBuilder(bar_ms) if bar_ms else None
        self.last_kind: str | None = None


class SignalEngine:
    def __init__(self, cfg: IndicatorSettings, min_signal_strength: float) -> None:
        self.cfg = cfg
        self.bar_ms = bar_seconds(cfg.bar) * 1000
        self.every = cfg.emit == "every"
        self.scorer = Scorer(cfg, min_signal_strength)
        self.symbols: dict[str, _Symbol] = {}
        self.counters = Counters()

    def _state(self, symbol: str) -> _Symbol:
        state = self.symbols.get(symbol)
        if state is None:
            state = self.symbols[symbol] = _Symbol(self.cfg, self.bar_ms)
        return state

    # --- input -------------------------------------------------------------------------------------

    def on_trade(self, symbol: str, price: float, event_ms: int) -> tuple[Emitted, ...] | list[Emitted]:
        """One trade; returns the signals it causes (usually none)."""
        c = self.counters
        c.trades += 1
        if not (0.0 < price < _INF):  # also false for NaN
            c.rejected += 1
            return NO_SIGNALS
        state = self._state(symbol)
        bars = state.bars
        if bars is None:
            out = self._point(symbol, state, price)
            return NO_SIGNALS if out is None else (out,)
        late = bars.late
        closed = bars.add(event_ms, price)
        if bars.late != late:
            c.late += 1
        if closed is None:
            return NO_SIGNALS
        return self._points(symbol, state, closed[0], closed[1])

    def close_bars(self, now_ms: int) -> list[Emitted]:
        """Close the bars of every symbol that ended by `now_ms` (live: quiet symbols still make points)."""
        out: list[Emitted] = []
        for symbol, state in self.symbols.items():
            if state.bars is None:
                continue
            closed = state.bars.close_until(now_ms)
            if closed is not None:
                out.extend(self._points(symbol, state, closed[0], closed[1]))
        return out

    def warm(self, symbol: str, closes: Iterable[float], seed: tuple[int, float] | None = None) -> int:
        """Feed history (closed bars, oldest first) to a symbol's indicators without scoring it, and continue
        live bars from `seed` (open time of the current bar, its close so far). Returns the points taken."""
        state = self._state(symbol)
        taken = 0
        for close in closes:
            if 0.0 < close < _INF:
                state.indicators.update(close)
                taken += 1
        self.counters.warmup_points += taken
        if seed is not None and state.bars is not None:
            state.bars.seed(*seed)
        return taken

    # --- points --------------------------------------------------------------------------------------

    def _points(self, symbol: str, state: _Symbol, close: float, count: int) -> list[Emitted]:
        out: list[Emitted] = []
        if count > MAX_FILL_POINTS:
            self.counters.fills_cut += 1
            count = MAX_FILL_POINTS
        for _ in range(count):
            emitted = self._point(symbol, state, close)
            if emitted is not None:
                out.append(emitted)
        return out

    def _point(self, symbol: str, state: _Symbol, close: float) -> Emitted | None:
        c = self.counters
        c.points += 1
        v = state.indicators.update(close)
        if v is None:
            return None
        c.evaluations += 1
        scorer = self.scorer
        # v in Values order: rsi, macd, macd_signal, macd_hist, bb_upper, bb_middle, bb_lower, sma_fast,
        # sma_slow, ema_fast, ema_slow
        mask = scorer.fired(v[0], v[1], v[2], v[4], v[6], v[7], v[8], v[9], v[10], close)
        kind = scorer.kinds[mask]
        previous = state.last_kind
        state.last_kind = kind
        if kind is None or (kind == previous and not self.every):
            return None
        c.signals[kind] += 1
        return Emitted(symbol, scorer.evaluation(mask), Values(*v), close)

    def point(self, symbol: str, close: float) -> Emitted | None:
        """One point given directly (tests, tools): the same path a trade in tick mode or a closed bar takes."""
        if not (0.0 < close < _INF):
            self.counters.rejected += 1
            return None
        return self._point(symbol, self._state(symbol), close)
