"""The engine core: trades in, signals out — emission rules, bad input, independent symbols, time bars."""

from __future__ import annotations

import itertools
import math
import random

import numpy as np
import pytest

from tui_trader.indicators.bars import BarBuilder
from tui_trader.indicators.engine import Values, batch
from tui_trader.indicators.scoring import Scorer
from tui_trader.indicators.signals import SignalEngine
from tui_trader.settings import IndicatorSettings


def reference(cfg: IndicatorSettings, min_strength: float, prices: list[float]) -> list[tuple[int, str, Values]]:
    """What must be emitted, computed independently: batch TA-Lib over the whole series, each point scored,
    then the emission rule applied. Returns (point index, kind, values)."""
    ref = batch(cfg, np.array(prices))
    scorer = Scorer(cfg, min_strength)
    out, last = [], None
    for i, price in enumerate(prices):
        row = Values(*(float(ref[k][i]) for k in Values._fields))
        if any(math.isnan(x) for x in row):
            continue
        kind = scorer.kinds[
            scorer.fired(
                row.rsi,
                row.macd,
                row.macd_signal,
                row.bb_upper,
                row.bb_lower,
                row.sma_fast,
                row.sma_slow,
                row.ema_fast,
                row.ema_slow,
                price,
            )
        ]
        if kind is not None and (cfg.emit == "every" or kind != last):
            out.append((i, kind, row))
        last = kind
    return out


def run_ticks(engine: SignalEngine, trades) -> list[tuple[int, str, Values]]:
    return [
        (i, e.evaluation.kind, e.values)
        for i, (symbol, price, t) in enumerate(trades)
        for e in engine.on_trade(symbol, price, t)
    ]


@pytest.mark.parametrize("emit", ["change", "every"])
def test_tick_mode_emits_exactly_what_batch_values_and_the_rules_give(btc_trades, emit):
    cfg = IndicatorSettings(bar="tick", emit=emit)
    engine = SignalEngine(cfg, 0.65)
    got = run_ticks(engine, btc_trades)
    want = reference(cfg, 0.65, [p for _, p, _ in btc_trades])
    assert [(i, k) for i, k, _ in got] == [(i, k) for i, k, _ in want]
    for (_, _, have), (_, _, expected) in zip(got, want, strict=False):
        np.testing.assert_allclose(have, expected, rtol=1e-9, atol=1e-12)
    c = engine.counters
    assert c.points == c.trades == len(btc_trades) and c.evaluations == len(btc_trades) - 49
    assert sum(c.signals.values()) == len(got) > 0
    if emit == "change":  # consecutive emissions of one symbol always differ in kind
        assert all(a[1] != b[1] or b[0] - a[0] > 1 for a, b in itertools.pairwise(got))


def test_every_publishes_each_qualifying_point_change_only_a_new_kind():
    falling = [1000.0 * 0.999**i for i in range(120)]  # 71 evaluations, every one a StrongBuy
    every = SignalEngine(IndicatorSettings(bar="tick", emit="every"), 0.65)
    change = SignalEngine(IndicatorSettings(bar="tick", emit="change"), 0.65)
    assert [e.evaluation.kind for p in falling for e in every.on_trade("X", p, 0)] == ["StrongBuy"] * 71
    assert [e.evaluation.kind for p in falling for e in change.on_trade("X", p, 0)] == ["StrongBuy"]


def test_change_publishes_again_after_a_point_without_signal():
    cfg = IndicatorSettings(bar="tick", emit="change")
    rng, price, wave = random.Random(0), 100.0, []
    for _ in range(150):  # a seeded random walk, 0.2 % steps
        price *= 1 + rng.gauss(0, 0.002)
        wave.append(round(price, 2))
    engine = SignalEngine(cfg, 0.65)
    got = [(i, e.evaluation.kind) for i, p in enumerate(wave) for e in engine.on_trade("X", p, 0)]
    assert got == [(i, k) for i, k, _ in reference(cfg, 0.65, wave)]
    # Somewhere the same kind is published twice in a row: a point without signal came in between.
    assert any(a[1] == b[1] for a, b in itertools.pairwise(got))


def test_nothing_is_emitted_before_every_indicator_has_a_value():
    # A crash from the first trade on: RSI and MACD would call it long before SMA50 has a value.
    engine = SignalEngine(IndicatorSettings(bar="tick", emit="every"), 0.65)
    emitted_at = [i for i in range(80) for _ in engine.on_trade("X", 1000.0 * 0.99**i, 0)]
    assert emitted_at and emitted_at[0] == 49  # the 50th trade
    assert engine.counters.evaluations == 31


def test_bad_prices_are_refused_counted_and_change_nothing(btc_trades):
    cfg = IndicatorSettings(bar="tick")
    clean = btc_trades[:3000]
    dirty = []
    for i, t in enumerate(clean):
        dirty.append(t)
        if i % 97 == 0:
            dirty.append((t[0], [math.nan, math.inf, 0.0, -t[1]][i % 4], t[2]))
    a, b = SignalEngine(cfg, 0.65), SignalEngine(cfg, 0.65)
    got_clean = [(e.evaluation.kind, e.price) for t in clean for e in a.on_trade(*t)]
    got_dirty = [(e.evaluation.kind, e.price) for t in dirty for e in b.on_trade(*t)]
    assert got_dirty == got_clean and got_clean
    assert b.counters.rejected == len(dirty) - len(clean) == 31
    assert b.counters.points == a.counters.points == len(clean)
    assert b.point("X", math.nan) is None and b.counters.rejected == 32


def test_symbols_are_independent(btc_trades, shared_data):
    import indicator_captures

    eth = indicator_captures.trades(shared_data / "binance_usdm_ws" / "ethusdt_20240808.gz")[:6000]
    btc = list(btc_trades[:6000])
    cfg = IndicatorSettings(bar="tick")
    alone = {}
    for name, trades in (("BTCUSDT", btc), ("ETHUSDT", eth)):
        engine = SignalEngine(cfg, 0.65)
        alone[name] = [(e.evaluation.kind, e.price, e.values) for t in trades for e in engine.on_trade(*t)]
    mixed = SignalEngine(cfg, 0.65)
    together: dict[str, list] = {"BTCUSDT": [], "ETHUSDT": []}
    for pair in zip(btc, eth, strict=False):  # interleaved one by one
        for t in pair:
            for e in mixed.on_trade(*t):
                together[e.symbol].append((e.evaluation.kind, e.price, e.values))
    assert together == alone and alone["BTCUSDT"] and alone["ETHUSDT"]


def test_time_bars_score_only_closed_bars(btc_trades):
    cfg = IndicatorSettings(bar="1s", emit="every")
    engine = SignalEngine(cfg, 0.65)
    builder = BarBuilder(1000)
    points: list[float] = []
    got = []
    for symbol, price, t in btc_trades:
        closed = builder.add(t, price)
        if closed is not None:
            points.extend([closed[0]] * closed[1])
        got.extend((e.evaluation.kind, e.price, e.values) for e in engine.on_trade(symbol, price, t))
    assert engine.counters.points == len(points) > 300  # ~6 minutes of 1 s bars
    want = reference(cfg, 0.65, points)
    assert [(k, points[i]) for i, k, _ in want] == [(k, p) for k, p, _ in got]
    for (_, _, have), (_, _, expected) in zip(got, want, strict=False):
        np.testing.assert_allclose(have, expected, rtol=1e-9, atol=1e-12)


def test_warm_up_history_is_not_scored_and_bars_continue_from_the_seed():
    cfg = IndicatorSettings(bar="1m", emit="every")
    engine = SignalEngine(cfg, 0.65)
    minute = 60_000
    t0 = 1_700_000_040_000 - 1_700_000_040_000 % minute
    history = [100.0 * 0.995**i for i in range(60)]
    assert engine.warm("BTCUSDT", history, (t0, 70.0)) == 60
    assert engine.counters.warmup_points == 60 and engine.counters.evaluations == 0
    # A trade in the seeded bar's minute moves its close; the next minute's first trade closes it.
    assert engine.on_trade("BTCUSDT", 69.0, t0 + 1_000) == ()
    assert engine.on_trade("BTCUSDT", 75.0, t0 - 1) == ()  # part of the klines already: late
    out = engine.on_trade("BTCUSDT", 68.0, t0 + minute)
    assert engine.counters.evaluations == 1 and engine.counters.late == 1
    want = reference(cfg, 0.65, [*history, 69.0])
    assert [(e.evaluation.kind, e.price) for e in out] == [(k, 69.0) for i, k, _ in want if i == 60]
