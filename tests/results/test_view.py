"""The data a Results screen draws: trades, totals, equity curve, price with bands/SMAs and trade markers."""

from __future__ import annotations

import math

import numpy as np

from tui_trader.backtest.loaders import Bars  # noqa: F401  (the view takes plain arrays; bars are one source)
from tui_trader.indicators.engine import batch
from tui_trader.results.report import build_report
from tui_trader.results.trips import Trip
from tui_trader.results.view import results_view
from tui_trader.settings import IndicatorSettings


def test_view_carries_indicator_lines_and_markers():
    n = 5000
    ts = np.arange(n, dtype=np.int64) * 60_000
    close = 100 + np.sin(np.arange(n) / 50.0) * 5
    trip = Trip(
        symbol="BTCUSDT",
        side="long",
        quantity=1.0,
        entry_ts=int(ts[100]),
        exit_ts=int(ts[300]),
        entry_price=float(close[100]),
        exit_price=float(close[300]),
        pnl=1.0,
        fees=0.1,
        funding=0.0,
        net=0.9,
        reason="take_profit",
        mode="paper",
        entry_order_id="e",
        exit_order_id="x",
    )
    report = build_report([trip], ts, np.full(n, 1000.0), starting_equity=1000.0, start_ts=0, end_ts=int(ts[-1]))
    cfg = IndicatorSettings()
    view = results_view(report, [trip], ts, np.full(n, 1000.0), {"BTCUSDT": (ts, close)}, cfg, max_points=1000)
    series = view.prices["BTCUSDT"]
    assert len(series.ts) <= 1001 and series.ts[-1] == int(ts[-1]) and len(view.equity) <= 1001
    full = batch(cfg, close)
    i = series.ts.index(int(ts[1000]))
    assert series.sma_slow[i] == full["sma_slow"][1000] and series.bb_upper[i] == full["bb_upper"][1000]
    assert math.isnan(series.sma_slow[0])  # before SMA50 has a value
    assert [(mk.kind, mk.ts, mk.reason) for mk in series.markers] == [
        ("entry_long", int(ts[100]), ""),
        ("exit", int(ts[300]), "take_profit"),
    ]
    assert view.report.trades == 1 and view.trips == [trip]
