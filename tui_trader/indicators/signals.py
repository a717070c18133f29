"""The indicator engine: trades in, signals out, per symbol. Pure: no bus, no clock, no I/O.

A point is one trade (`bar = "tick"`) or one closed time bar (`"1s"`, `"1m"`, …; see bars.py). Each point
updates the symbol's indicators (engine.py) and, once they all have values, is scored (scoring.py). What is
emitted follows `indicators.emit`: "change" emits when the symbol's evaluated kind changes to a signal kind
(Buy → nothing → Buy emits twice; Buy → Buy once), "every" emits every evaluation that is a signal.

Symbols are independent: each has its own bars, indicators and last kind. Nothing poisons TA-Lib's state
(recursive indicators would carry a bad value for the rest of the session):
- a price that is not a finite positive number below MAX_PRICE is refused and counted (`rejected`); it never
  reaches TA-Lib, where a NaN is undefined behaviour and a finite 1e300 overflows the band's variance;
- with a `band` (the indicator worker passes the feed's `price_band_pct`), a trade farther than that share
  from the symbol's last accepted trade is held back (`quarantined`) until `confirm` trades in a row agree
  with it: the collector checks the same, this guards every other producer of the topic;
- values that come out non-finite anyway are never emitted: the symbol's indicators start over (`resets`);
- with `symbols`, trades of any other symbol are counted (`unconfigured`) and dropped: state is kept only for
  configured symbols, so a topic with 100,000 symbols costs no memory.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from tui_trader.indicators.bars import BarBuilder
from tui_trader.indicators.engine import IndicatorSet, Values
from tui_trader.indicators.scoring import Evaluation, Scorer
from tui_trader.settings import IndicatorSettings, bar_seconds

_isfinite = math.isfinite
NO_SIGNALS: tuple[()] = ()
# Above any traded price, and small enough that squares (the bands' variance) stay far from overflow.
MAX_PRICE = 1e12
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
    rejected: int = 0  # trades refused: price NaN, infinite, zero, negative or above MAX_PRICE
    quarantined: int = 0  # trades held back: farther than the band from the symbol's last accepted trade
    unconfigured: int = 0  # trades of symbols that are not configured (dropped, no state kept)
    resets: int = 0  # a symbol's indicators started over after a non-finite value
    late: int = 0  # trades for a bar that had already closed (time bars only)
    fills_cut: int = 0  # silences longer than MAX_FILL_POINTS intervals
    points: int = 0  # points fed to the indicators (trades in tick mode, closed bars otherwise)
    warmup_points: int = 0  # points from history (klines), never scored
    evaluations: int = 0  # points scored (every indicator had a value)
    signals: dict[str, int] = field(default_factory=lambda: {"StrongBuy": 0, "Buy": 0, "Sell": 0, "StrongSell": 0})


class _Symbol:
    __slots__ = ("bars", "close", "indicators", "last_kind", "last_price", "mask", "seen", "suspect", "values")

    def __init__(self, cfg: IndicatorSettings, bar_ms: int) -> None:
        self.indicators = IndicatorSet(cfg)
        self.bars = BarBuilder(bar_ms) if bar_ms else None
        self.last_kind: str | None = None
        self.last_price = 0.0  # the last accepted trade (0: none yet)
        self.suspect = 0.0  # the latest trade of an excursion beyond the band (0: none)
        self.seen = 0  # trades in a row that agree with it
        # The latest evaluated point, for the desk's live values (read at most a few times a second, so the
        # per-point cost is three stores): its values (Values order; None before every indicator has one),
        # the rules' fired mask and its close.
        self.values: tuple[float, ...] | None = None
        self.mask = 0
        self.close = 0.0


class SignalEngine:
    def __init__(
        self,
        cfg: IndicatorSettings,
        min_signal_strength: float,
        *,
        symbols: Collection[str] | None = None,
        band: float | None = None,
        confirm: int = 3,
    ) -> None:
        self.cfg = cfg
        self.bar_ms = bar_seconds(cfg.bar) * 1000
        self.every = cfg.emit == "every"
        self.scorer = Scorer(cfg, min_signal_strength)
        self.allowed = None if symbols is None else frozenset(symbols)
        self.band = band
        self.confirm = max(1, confirm)
        self.symbols: dict[str, _Symbol] = {}
        self.counters = Counters()

    def _state(self, symbol: str) -> _Symbol | None:
        state = self.symbols.get(symbol)
        if state is None:
            if self.allowed is not None and symbol not in self.allowed:
                self.counters.unconfigured += 1
                return None
            state = self.symbols[symbol] = _Symbol(self.cfg, self.bar_ms)
        return state

    def _in_band(self, state: _Symbol, price: float) -> bool:
        """Whether a trade may move the indicators: within the band of the last accepted one, or the
        `confirm`-th in a row of an excursion beyond it (the market really moved)."""
        band, last = self.band, state.last_price
        if band is None or last == 0.0 or abs(price - last) <= band * last:
            state.seen = 0
            state.last_price = price
            return True
        suspect = state.suspect
        if state.seen and abs(price - suspect) <= band * suspect:
            state.seen += 1
        else:
            state.seen = 1
        state.suspect = price
        if state.seen >= self.confirm:
            state.seen = 0
            state.last_price = price
            return True
        self.counters.quarantined += 1
        return False

    # --- input -------------------------------------------------------------------------------------

    def on_trade(self, symbol: str, price: float, event_ms: int) -> tuple[Emitted, ...] | list[Emitted]:
        """One trade; returns the signals it causes (usually none)."""
        c = self.counters
        c.trades += 1
        if not (0.0 < price < MAX_PRICE):  # also false for NaN
            c.rejected += 1
            return NO_SIGNALS
        state = self.symbols.get(symbol)
        if state is None:
            state = self._state(symbol)
            if state is None:
                return NO_SIGNALS
        # Within the band of the last accepted trade (the usual case) it moves on at once; else `_in_band`.
        band, last = self.band, state.last_price
        if band is None or last == 0.0 or abs(price - last) <= band * last:
            state.seen = 0
            state.last_price = price
        elif not self._in_band(state, price):
            return NO_SIGNALS
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
        if state is None:
            return 0
        taken = 0
        for close in closes:
            if 0.0 < close < MAX_PRICE:
                if not _finite(state.indicators.update(close)):
                    self._reset(state)
                    continue
                taken += 1
                state.last_price = close
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
        # One sum instead of eleven checks (see _finite).
        if not _isfinite(sum(v)):  # cannot happen with the checks above; if it does, the state is unusable
            self._reset(state)
            return None
        c.evaluations += 1
        scorer = self.scorer
        # v in Values order: rsi, macd, macd_signal, macd_hist, bb_upper, bb_middle, bb_lower, sma_fast,
        # sma_slow, ema_fast, ema_slow
        rsi, macd, macd_signal, _, bb_upper, _, bb_lower, sma_fast, sma_slow, ema_fast, ema_slow = v
        mask = scorer.fired(rsi, macd, macd_signal, bb_upper, bb_lower, sma_fast, sma_slow, ema_fast, ema_slow, close)
        kind = scorer.kinds[mask]
        state.values, state.mask, state.close = v, mask, close
        previous = state.last_kind
        state.last_kind = kind
        if kind is None or (kind == previous and not self.every):
            return None
        c.signals[kind] += 1
        return Emitted(symbol, scorer.evaluation(mask), Values(*v), close)

    def point(self, symbol: str, close: float) -> Emitted | None:
        """One point given directly (tests, tools): the same path a trade in tick mode or a closed bar takes."""
        if not (0.0 < close < MAX_PRICE):
            self.counters.rejected += 1
            return None
        state = self._state(symbol)
        return None if state is None else self._point(symbol, state, close)

    def _reset(self, state: _Symbol) -> None:
        self.counters.resets += 1
        state.indicators = IndicatorSet(self.cfg)
        state.last_kind = None
        state.values = None


def _finite(values: tuple[float, ...] | None) -> bool:
    # One sum instead of eleven checks: NaN and inf propagate through it (finite values this size never overflow).
    return values is None or _isfinite(sum(values))
