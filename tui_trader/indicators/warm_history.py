"""Rebuilding a symbol's indicator state from trades already handled (a restarted worker), without signals.

A worker restarted mid-stream (tick bars) resumes at its committed offset with empty indicators: ~50 trades
of silence, so a signal due then is missed. It rebuilds them from the trades before that offset instead,
read back from the topic. They go through the engine's own path (`SignalEngine.on_trade`: the price band
and its confirmation, bars, indicators, scoring) so that everything an uninterrupted worker carries is
rebuilt, including each symbol's last evaluated kind: with `emit = "change"` a signal goes out when the kind
changes, so a worker that did not know it would publish its current kind again (a duplicate) or stay
silent on a change. `SignalEngine.warm` (klines) does not score, which is right for a fresh start and
wrong here. What this path would emit is history: it is dropped, and the engine's counters do not count it
except as `warmup_points`.

How far back: `history_points` trades per symbol, enough for the slowest recursive indicator to forget its
seed. RSI (Wilder) carries (1 - 1/period) of its state from point to point, an EMA (1 - 2/(period + 1));
after n points the seed's weight is that factor to the n, below double precision (2**-53) once
n >= 53·ln 2 / -ln(factor): 496 points for RSI 14, the slowest with the default periods, plus the 50
points before every indicator has a value = 546. So the values equal an uninterrupted worker's to
~1e-15 relative. Not always bit for bit: TA-Lib's SMA keeps a running sum, whose last bits depend on every
point since the series began, so a rule comparing two values that are mathematically equal (SMA20 = SMA50
after a flat stretch of prices) can come out either way, as it can between two uninterrupted workers
started at different trades. When the topic holds fewer trades than that before the resume point, the
history starts where the topic does, and a worker that began with the topic is rebuilt exactly.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import replace

from tui_trader.indicators.signals import SignalEngine
from tui_trader.settings import IndicatorSettings, indicator_history_needed

# 53 bits: below this relative weight a seed no longer shows in a double.
_DOUBLE_BITS = 53


def history_points(cfg: IndicatorSettings) -> int:
    """Trades per symbol to rebuild from: the points before every indicator has a value, plus the points
    after which the slowest recursive indicator's seed weighs less than 2**-53 (546 with the defaults)."""
    carried = max(
        1 - 1 / cfg.rsi_period,  # Wilder's smoothing
        *(1 - 2 / (p + 1) for p in (cfg.ema_fast, cfg.ema_slow, cfg.macd_fast, cfg.macd_slow, cfg.macd_signal)),
    )
    return indicator_history_needed(cfg) + math.ceil(_DOUBLE_BITS * math.log(2) / -math.log(carried))


def last_per_symbol(trades: Iterable[tuple[str, float, int]], n: int) -> list[tuple[str, float, int]]:
    """The last `n` trades of each symbol, in the order given (so each symbol's window is the same whatever
    the other symbols traded meanwhile)."""
    seen: dict[str, int] = {}
    out: list[tuple[str, float, int]] = []
    for trade in reversed(list(trades)):
        count = seen.get(trade[0], 0)
        if count < n:
            seen[trade[0]] = count + 1
            out.append(trade)
    out.reverse()
    return out


def replay(engine: SignalEngine, trades: Iterable[tuple[str, float, int]]) -> dict[str, int]:
    """Feed trades already handled (symbol, price, event time ms; oldest first) through the engine without
    emitting; returns the points each symbol took. The engine's counters are as before, apart from
    `warmup_points` (+ the points taken)."""
    saved = replace(engine.counters, signals=dict(engine.counters.signals))
    before = {s: st.indicators.points for s, st in engine.symbols.items()}
    on_trade = engine.on_trade
    for symbol, price, event_ms in trades:
        on_trade(symbol, price, event_ms)
    taken = {s: st.indicators.points - before.get(s, 0) for s, st in engine.symbols.items()}
    taken = {s: n for s, n in taken.items() if n}
    saved.warmup_points += sum(taken.values())
    engine.counters = saved
    return taken


def score_closes(
    engine: SignalEngine, symbol: str, closes: Iterable[float], seed: tuple[int, float] | None = None
) -> int:
    """`SignalEngine.warm` for a worker that is restarted rather than new (time bars, from klines): each
    closed bar is also scored, emitting nothing, so the symbol's last evaluated kind is the one at the last
    closed bar. The first live bar then signals only when its kind differs, as it would have in the stopped
    worker, instead of publishing its kind again at once. Returns the points taken; the engine's counters
    are as before, apart from `warmup_points`."""
    saved = replace(engine.counters, signals=dict(engine.counters.signals))
    state = engine.symbols.get(symbol)
    before = state.indicators.points if state is not None else 0
    point = engine.point
    last = 0.0
    for close in closes:
        point(symbol, close)
        if 0.0 < close < math.inf:
            last = close
    state = engine.symbols.get(symbol)
    if state is None:  # not a configured symbol
        engine.counters = saved
        return 0
    taken = state.indicators.points - before
    if last:
        state.last_price = last  # the band of the first live trades starts from the last close, as in warm
    saved.warmup_points += taken
    engine.counters = saved
    if seed is not None and state.bars is not None:
        state.bars.seed(*seed)
    return taken
