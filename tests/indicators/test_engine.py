"""Indicator values equal TA-Lib's batch functions at every point, on real prices, within 200 points of memory."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tui_trader.errors import SettingsError
from tui_trader.indicators.engine import IndicatorSet, Values, batch
from tui_trader.settings import MAX_INDICATOR_POINTS, IndicatorSettings, parse

REL = 1e-9


def assert_matches_batch(cfg: IndicatorSettings, prices: list[float]) -> int:
    """Feed `prices` one by one; every value must equal the batch value at the same index. Returns the
    index of the first point with values."""
    ind = IndicatorSet(cfg)
    got = [ind.update(p) for p in prices]
    ref = batch(cfg, np.array(prices))
    first = next(i for i, v in enumerate(got) if v is not None)
    # Before `first` at least one batch series is still NaN (no value yet), from `first` on none is.
    assert all(any(math.isnan(ref[k][i]) for k in Values._fields) for i in range(first))
    assert all(v is not None for v in got[first:]), f"a point without values after the first at {first}"
    have = np.array(got[first:], dtype=np.float64)  # rows of Values
    for col, k in enumerate(Values._fields):
        want = ref[k][first:]
        assert not np.isnan(want).any(), k
        bad = np.abs(have[:, col] - want) > REL * np.abs(want) + 1e-12
        if bad.any():
            i = int(np.argmax(bad))
            pytest.fail(f"{k} at point {first + i}: {have[i, col]!r} != batch {want[i]!r}")
    assert ind.history_len == 0  # the handles carry the state; no points are kept
    return first


def test_tick_mode_values_equal_batch_on_real_trades(capture_trades):
    name, trades = capture_trades
    prices = [p for _, p, _ in trades]
    assert len(prices) > 10_000, name
    assert assert_matches_batch(IndicatorSettings(bar="tick"), prices) == 49  # SMA50's first value: point 50


def test_bar_mode_values_equal_batch_on_real_minute_closes(spot_klines):
    _, closes = spot_klines
    assert len(closes) == 42_915
    assert assert_matches_batch(IndicatorSettings(bar="1m"), list(closes)) == 49


def test_other_periods_stay_exact(btc_trades):
    cfg = IndicatorSettings(
        rsi_period=7,
        macd_fast=5,
        macd_slow=35,
        macd_signal=5,
        bb_period=10,
        bb_stddev=1.5,
        sma_fast=5,
        sma_slow=30,
        ema_fast=3,
        ema_slow=30,
    )
    prices = [p for _, p, _ in btc_trades[:5000]]
    # MACD(5, 35, 5) is the slowest here: 34 + 4 points of lookback → values from point 39 (index 38).
    assert assert_matches_batch(cfg, prices) == 38


def test_history_is_bounded_by_the_slowest_indicator():
    cfg = IndicatorSettings()
    ind = IndicatorSet(cfg)
    longest = 0
    for i in range(300):
        ind.update(100.0 + math.sin(i / 5))
        longest = max(longest, ind.history_len)
    assert longest == 49  # the 50th point opens SMA50 and the history is dropped
    assert ind.ready and ind.points == 300


def test_settings_refuse_periods_that_need_more_than_the_points_kept():
    ok = parse({"indicators": {"macd_slow": 150, "macd_signal": 51, "macd_fast": 12}})
    assert ok.indicators.macd_slow == 150
    with pytest.raises(SettingsError, match=r"need 201 points .* at most 200"):
        parse({"indicators": {"macd_slow": 150, "macd_signal": 52}})
    with pytest.raises(SettingsError, match=r"rsi_period"):
        parse({"indicators": {"rsi_period": 200}})
    with pytest.raises(ValueError, match=f"at most {MAX_INDICATOR_POINTS}"):
        IndicatorSet(IndicatorSettings(rsi_period=200))
