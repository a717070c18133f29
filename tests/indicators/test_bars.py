"""Time bars from trades: closes by event time, empty intervals repeat the previous close, like klines."""

from __future__ import annotations

import numpy as np

from tui_trader.indicators.bars import BarBuilder, split_klines
from tui_trader.indicators.engine import IndicatorSet, Values, batch
from tui_trader.settings import IndicatorSettings

MIN = 60_000
T0 = 1_723_161_240_000  # a minute boundary


def points_from(trades: list[tuple[int, float]], interval_ms: int = MIN) -> list[float]:
    b = BarBuilder(interval_ms)
    out: list[float] = []
    for t, p in trades:
        closed = b.add(t, p)
        if closed is not None:
            out.extend([closed[0]] * closed[1])
    return out


def test_a_bar_closes_on_the_first_trade_at_or_after_its_end_with_its_last_price():
    b = BarBuilder(MIN)
    assert b.add(T0 + 5, 100.0) is None
    assert b.add(T0 + 30_000, 101.0) is None
    assert b.add(T0 + MIN - 1, 102.0) is None  # still inside [T0, T0+60 s)
    assert b.add(T0 + MIN, 103.0) == (102.0, 1)  # exactly at the end: the bar closes at 102
    assert b.start == T0 + MIN and b.close == 103.0


def test_intervals_without_trades_repeat_the_previous_close():
    trades = [
        (T0 + 1_000, 10.0),
        (T0 + 50_000, 11.0),  # bar 0 → 11
        (T0 + 3 * MIN + 7, 12.0),  # bars 1 and 2 had no trade → 11, 11; bar 3 opens
        (T0 + 4 * MIN, 13.0),
        (T0 + 4 * MIN + 1, 14.0),  # bar 3 → 12
        (T0 + 5 * MIN + 5, 15.0),
    ]  # bar 4 → 14
    assert points_from(trades) == [11.0, 11.0, 11.0, 12.0, 14.0]


def test_a_trade_for_a_closed_bar_is_late_and_ignored():
    b = BarBuilder(1_000)
    b.add(T0 + 100, 1.0)
    assert b.add(T0 + 1_200, 2.0) == (1.0, 1)
    assert b.add(T0 + 900, 9.0) is None  # belongs to the bar already closed at 1.0
    assert (b.late, b.close) == (1, 2.0)


def test_the_clock_closes_bars_of_a_quiet_symbol():
    b = BarBuilder(MIN)
    b.add(T0 + 10, 5.0)
    assert b.close_until(T0 + MIN - 1) is None
    assert b.close_until(T0 + 3 * MIN + 10) == (5.0, 3)  # bars 0, 1, 2
    assert b.add(T0 + 3 * MIN + 20, 6.0) is None  # bar 3 goes on with the trade
    assert b.add(T0 + 4 * MIN, 7.0) == (6.0, 1)


def test_real_minute_bars_rebuilt_from_trades_equal_the_klines_with_the_gap_filled(spot_klines):
    """Four trades per real kline (open, high, low, close in its minute): the bars' closes are the klines'
    closes, and the real hole of 2021-04-25 (284 minutes without a kline) is filled with the previous close, as klines are."""
    times, closes = spot_klines
    trades = []
    for t, c in zip(times, closes, strict=False):
        trades += [(t, c * 0.999), (t + 15_000, c * 1.002), (t + 40_000, c * 0.998), (t + 59_999, c)]
    trades.append((times[-1] + MIN, closes[-1]))  # closes the last bar
    points = points_from(trades)
    # Reference: the kline closes re-indexed on every minute, forward-filled.
    index = (np.array(times) - times[0]) // MIN
    filled = np.full(index[-1] + 1, np.nan)
    filled[index] = closes
    for i in range(1, len(filled)):
        if np.isnan(filled[i]):
            filled[i] = filled[i - 1]
    assert len(points) == len(filled) == len(closes) + 284  # opens 285 minutes apart
    assert points == filled.tolist()
    # And the indicators over those bars equal batch at every index.
    cfg = IndicatorSettings(bar="1m")
    ind = IndicatorSet(cfg)
    got = [ind.update(p) for p in points]
    ref = batch(cfg, filled)
    have = np.array(got[49:], dtype=np.float64)
    for col, k in enumerate(Values._fields):
        np.testing.assert_allclose(have[:, col], ref[k][49:], rtol=1e-9, atol=1e-12, err_msg=k)


def test_split_klines_drops_the_forming_bar_and_continues_from_it():
    rows = [[T0, 1, 1, 1, 10.0, 1], [T0 + MIN, 1, 1, 1, 11.0, 1], [T0 + 2 * MIN, 1, 1, 1, 12.0, 1]]
    now = T0 + 2 * MIN + 30_000  # the third bar is still forming
    assert split_klines(rows, MIN, now) == ([10.0, 11.0], (T0 + 2 * MIN, 12.0))
    # All closed: live bars continue after the last one, from its close.
    assert split_klines(rows, MIN, T0 + 3 * MIN) == ([10.0, 11.0, 12.0], (T0 + 3 * MIN, 12.0))
    # Bad closes are dropped, rows are put in time order.
    messy = [rows[1], [T0, 1, 1, 1, float("nan"), 1], rows[0], [T0 - MIN, 1, 1, 1, -3.0, 1]]
    assert split_klines(messy, MIN, T0 + 5 * MIN) == ([10.0, 11.0], (T0 + 2 * MIN, 11.0))
    assert split_klines([], MIN, now) == ([], None)
