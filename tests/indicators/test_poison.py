"""Nothing poisons the indicators: absurd and non-finite prices never reach TA-Lib, every signal decodes, and
only configured symbols keep state."""

from __future__ import annotations

import math

import msgspec
import pytest

from tui_trader import messages as m
from tui_trader.indicators.signals import MAX_PRICE, SignalEngine
from tui_trader.settings import IndicatorSettings

TICK = IndicatorSettings(bar="tick", emit="every")


def emitted(engine: SignalEngine, trades) -> list[tuple[str, tuple[float, ...]]]:
    return [
        (e.evaluation.kind, tuple(e.values)) for symbol, price, t in trades for e in engine.on_trade(symbol, price, t)
    ]


def decodes(e_values: tuple[float, ...], price: float) -> bool:
    ind = m.Indicators(**dict(zip(m.Indicators.__struct_fields__, e_values, strict=False)))
    sig = m.TradingSignal(
        id="x",
        symbol="BTCUSDT",
        signal="Buy",
        strength=0.8,
        buy_score=4,
        sell_score=1,
        reasons=[],
        indicators=ind,
        price=price,
        ts=0,
    )
    back = msgspec.json.decode(m.encode(sig), type=m.TradingSignal)
    return all(math.isfinite(getattr(back.indicators, f)) for f in m.Indicators.__struct_fields__)


@pytest.mark.parametrize("bad", [1e300, float("inf"), float("nan"), 0.0, -5.0, MAX_PRICE * 2])
def test_a_bad_price_never_enters_the_indicator_state(btc_trades, bad):
    """A finite 1e300 once made the band's variance overflow: every later signal was undecodable."""
    trades = list(btc_trades[:3000])
    clean = emitted(SignalEngine(TICK, 0.65), trades)
    poisoned = [*trades[:1500], ("BTCUSDT", bad, trades[1500][2]), *trades[1500:]]
    engine = SignalEngine(TICK, 0.65)
    got = emitted(engine, poisoned)
    assert got == clean
    assert engine.counters.rejected == 1
    assert all(decodes(v, 1.0) for _, v in got)


@pytest.mark.parametrize("print_", [1e9, 61.8, 80_000.0])
def test_with_a_band_one_absurd_print_is_held_back_and_changes_nothing(btc_trades, print_):
    trades = list(btc_trades[:3000])
    clean = emitted(SignalEngine(TICK, 0.65, band=0.1), trades)
    poisoned = [*trades[:1500], ("BTCUSDT", print_, trades[1500][2]), *trades[1500:]]
    engine = SignalEngine(TICK, 0.65, band=0.1)
    assert emitted(engine, poisoned) == clean
    assert engine.counters.quarantined == 1


def test_with_a_band_a_real_move_is_taken_once_confirmed():
    engine = SignalEngine(TICK, 0.65, band=0.1, confirm=3)
    for k in range(60):
        engine.on_trade("BTCUSDT", 100.0 + (k % 3), k)
    points = engine.counters.points
    for k in range(5):
        engine.on_trade("BTCUSDT", 130.0 + k * 0.1, 100 + k)
    assert engine.counters.quarantined == 2 and engine.counters.points == points + 3
    assert engine.symbols["BTCUSDT"].last_price == pytest.approx(130.4)


def test_only_configured_symbols_keep_state():
    engine = SignalEngine(TICK, 0.65, symbols=["BTCUSDT"])
    for k in range(100_000):
        engine.on_trade(f"X{k}USDT", 1.0, k)
    engine.on_trade("BTCUSDT", 60_000.0, 1)
    assert list(engine.symbols) == ["BTCUSDT"]
    assert engine.counters.unconfigured == 100_000
    assert engine.warm("ETHUSDT", [1.0] * 60) == 0 and "ETHUSDT" not in engine.symbols


def test_bad_klines_never_enter_the_state_at_warm_up():
    engine = SignalEngine(IndicatorSettings(bar="1m"), 0.65)
    closes = [100.0 + k % 5 for k in range(60)]
    assert engine.warm("BTCUSDT", [*closes[:30], 1e300, float("nan"), *closes[30:]]) == 60
    e = engine.point("BTCUSDT", 101.0)
    values = engine.symbols["BTCUSDT"].indicators.update(101.5)
    assert values is not None and all(math.isfinite(v) for v in values)
    assert e is None or all(math.isfinite(v) for v in e.values)
