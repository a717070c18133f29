"""What a Results screen draws, computed outside the UI: the trade list, the totals, the equity curve, and per
symbol a price series with Bollinger bands, SMA fast/slow and the entry/exit markers.

Pure (no Textual): a screen only lays these out. Indicator lines use the indicators' batch functions with the
desk's own periods, so the chart shows what the strategy saw. `max_points` thins long series (every n-th point,
keeping the last) so a month of 1-minute bars stays cheap to draw; markers keep their exact times and prices.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
import numpy as np

from tui_trader.indicators.engine import batch
from tui_trader.results.report import Report
from tui_trader.results.trips import Trip
from tui_trader.settings import IndicatorSettings


class Marker(msgspec.Struct, frozen=True, kw_only=True):
    ts: int
    price: float
    kind: str  # "entry_long" | "entry_short" | "exit"
    reason: str = ""  # exits: why the trip ended
    net: float = 0.0  # exits: the trip's net PnL


class PriceSeries(msgspec.Struct, frozen=True, kw_only=True):
    symbol: str
    ts: list[int]
    close: list[float]
    bb_upper: list[float]  # NaN before the indicator has a value
    bb_middle: list[float]
    bb_lower: list[float]
    sma_fast: list[float]
    sma_slow: list[float]
    markers: list[Marker]


class ResultsView(msgspec.Struct, frozen=True, kw_only=True):
    trips: list[Trip]
    report: Report
    equity_ts: list[int]
    equity: list[float]
    prices: dict[str, PriceSeries]


def _thin(n: int, max_points: int) -> np.ndarray:
    if n <= max_points:
        return np.arange(n)
    idx = np.arange(0, n, int(np.ceil(n / max_points)))
    return idx if idx[-1] == n - 1 else np.append(idx, n - 1)


def price_series(
    symbol: str,
    ts: np.ndarray,
    close: np.ndarray,
    trips: Sequence[Trip],
    cfg: IndicatorSettings,
    max_points: int = 2000,
) -> PriceSeries:
    lines = batch(cfg, np.asarray(close, dtype=np.float64))
    keep = _thin(len(ts), max_points)
    markers: list[Marker] = []
    for t in trips:
        if t.symbol != symbol:
            continue
        markers.append(Marker(ts=t.entry_ts, price=t.entry_price, kind=f"entry_{t.side}"))
        markers.append(Marker(ts=t.exit_ts, price=t.exit_price, kind="exit", reason=t.reason, net=t.net))

    def pick(a: np.ndarray) -> Any:  # the kept points as a plain list (ints for times, floats for prices)
        return np.asarray(a)[keep].tolist()

    return PriceSeries(
        symbol=symbol,
        ts=pick(ts),
        close=pick(close),
        bb_upper=pick(lines["bb_upper"]),
        bb_middle=pick(lines["bb_middle"]),
        bb_lower=pick(lines["bb_lower"]),
        sma_fast=pick(lines["sma_fast"]),
        sma_slow=pick(lines["sma_slow"]),
        markers=markers,
    )


def results_view(
    report: Report,
    trips: Sequence[Trip],
    equity_ts: np.ndarray,
    equity: np.ndarray,
    prices: dict[str, tuple[np.ndarray, np.ndarray]],
    cfg: IndicatorSettings,
    max_points: int = 2000,
) -> ResultsView:
    """`prices`: symbol → (times, closes) of the points the indicators saw (bar closes, or trades in tick mode)."""
    keep = _thin(len(equity_ts), max_points)
    return ResultsView(
        trips=list(trips),
        report=report,
        equity_ts=np.asarray(equity_ts)[keep].tolist(),
        equity=np.asarray(equity)[keep].tolist(),
        prices={s: price_series(s, ts, close, trips, cfg, max_points) for s, (ts, close) in sorted(prices.items())},
    )
