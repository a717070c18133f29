"""The report's figures, recomputed by hand on small curves."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tui_trader.results.report import (
    build_report,
    daily_returns,
    max_drawdown,
    sharpe_sortino,
)
from tui_trader.results.trips import Trip

DAY = 86_400_000


def trip(net, entry_ts, exit_ts, symbol="BTCUSDT", reason="signal"):
    return Trip(
        symbol=symbol,
        side="long",
        quantity=1.0,
        entry_ts=entry_ts,
        exit_ts=exit_ts,
        entry_price=1.0,
        exit_price=1.0,
        pnl=net + 1.0,
        fees=1.0,
        funding=0.0,
        net=net,
        reason=reason,
        mode="paper",
        entry_order_id="e",
        exit_order_id="x",
    )


def test_drawdown_amount_pct_and_duration_until_recovered():
    ts = np.arange(7) * 1000
    eq = np.array([100.0, 120.0, 90.0, 110.0, 125.0, 100.0, 124.0])
    dd = max_drawdown(ts, eq)
    assert (dd.amount, dd.peak_ts, dd.trough_ts, dd.recovered_ts, dd.duration_ms) == (30.0, 1000, 2000, 4000, 3000)
    assert dd.pct == pytest.approx(25.0)
    tail = max_drawdown(ts[:3], eq[:3])  # not recovered: runs to the end of the curve
    assert (tail.recovered_ts, tail.duration_ms) == (None, 1000)


def test_sharpe_and_sortino_from_daily_returns():
    ts = np.array([0, DAY // 2, DAY + 1, 2 * DAY + 1, 3 * DAY + 1])
    eq = np.array([101.0, 102.0, 100.98, 103.0, 103.0])
    r = daily_returns(ts, eq, 100.0)
    assert r.tolist() == pytest.approx([0.02, -0.01, (103.0 - 100.98) / 100.98, 0.0])  # last equity of each UTC day
    sharpe, sortino = sharpe_sortino(r)
    assert sharpe == pytest.approx(np.mean(r) / np.std(r, ddof=1) * math.sqrt(365))
    assert sortino == pytest.approx(np.mean(r) / math.sqrt(np.mean(np.minimum(r, 0) ** 2)) * math.sqrt(365))


def test_totals_profit_factor_exposure_and_breakdowns():
    trips = [trip(10.0, 0, 1000), trip(-5.0, 500, 2000, "ETHUSDT", "stop_loss"), trip(3.0, 5000, 6000)]
    report = build_report(
        trips, np.array([0, 10_000]), np.array([1000.0, 1008.0]), starting_equity=1000.0, start_ts=0, end_ts=10_000
    )
    assert (report.trades, report.wins, report.losses) == (3, 2, 1)
    assert report.net_pnl == 8.0 and report.return_pct == pytest.approx(0.8)
    assert report.profit_factor == pytest.approx(13.0 / 5.0)
    assert report.expectancy == pytest.approx(8.0 / 3)
    assert report.exposure_pct == pytest.approx(30.0)  # 0–2000 and 5000–6000 of 10 000
    assert (report.best_trade, report.worst_trade, report.avg_hold_ms) == (10.0, -5.0, 1167)
    assert report.by_symbol["ETHUSDT"].net_pnl == -5.0 and report.by_reason["signal"].trades == 2
    assert report.fees == 3.0 and report.gross_pnl == 11.0
