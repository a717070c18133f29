"""Terminal charts of the Results screen, drawn with textual-plotext: the equity curve, and a symbol's price with
its Bollinger bands, SMA fast/slow and the trades' entry (▲ long, ▼ short) and exit (×) markers.

The x axis is time: plotted as minutes from the first point, labelled with UTC clock times, so a chart of a
five-minute replay and one of a day read the same way. NaN points (an indicator before it has a value) are left
out of their line rather than drawn at zero.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence

from textual_plotext import PlotextPlot

from tui_trader.results.view import PriceSeries

MIN_MS = 60_000
TICKS = 5


def _x(ts: Sequence[int], t0: int) -> list[float]:
    return [(t - t0) / MIN_MS for t in ts]


def _label(ms: int, span_ms: int) -> str:
    when = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
    if span_ms >= 2 * 86_400_000:
        return when.strftime("%m-%d %H:%M")
    return when.strftime("%H:%M" if span_ms >= 30 * MIN_MS else "%H:%M:%S")


def _time_axis(plot: PlotextPlot, t0: int, t1: int) -> None:
    span = max(t1 - t0, 1)
    n = TICKS if plot.size.width >= 60 else 3
    ticks = [span * i / (n - 1) for i in range(n)]
    plot.plt.xticks([t / MIN_MS for t in ticks], [_label(t0 + int(t), span) for t in ticks])


def _line(plot: PlotextPlot, x: Sequence[float], y: Sequence[float], label: str, color: str) -> None:
    pts = [(a, b) for a, b in zip(x, y, strict=False) if math.isfinite(b)]
    if pts:
        plot.plt.plot([a for a, _ in pts], [b for _, b in pts], label=label, color=color, marker="braille")


def draw_equity(plot: PlotextPlot, ts: Sequence[int], equity: Sequence[float], starting: float) -> None:
    plt = plot.plt
    plt.clear_figure()
    plt.title("Equity (USDT)")
    if not ts:
        plt.title("Equity: no points yet")
        plot.refresh()
        return
    t0 = ts[0]
    x = _x(ts, t0)
    plt.hline(starting, color="gray")
    _line(plot, x, equity, "equity", "cyan")
    _time_axis(plot, t0, ts[-1])
    plot.refresh()


def draw_prices(plot: PlotextPlot, ps: PriceSeries, fast: int, slow: int, bb: int) -> None:
    plt = plot.plt
    plt.clear_figure()
    if not ps.ts:
        plt.title(f"{ps.symbol}: no prices yet")
        plot.refresh()
        return
    entries = sum(1 for mk in ps.markers if mk.kind.startswith("entry"))
    plt.title(f"{ps.symbol}  ·  {entries} entr{'y' if entries == 1 else 'ies'}  ▲ long ▼ short × exit")
    t0 = ps.ts[0]
    x = _x(ps.ts, t0)
    _line(plot, x, ps.bb_upper, f"BB{bb}", "gray")
    _line(plot, x, ps.bb_lower, "", "gray")
    _line(plot, x, ps.sma_slow, f"SMA{slow}", "magenta")
    _line(plot, x, ps.sma_fast, f"SMA{fast}", "yellow")
    _line(plot, x, ps.close, "price", "white")
    for kind, marker, color in (("entry_long", "▲", "green"), ("entry_short", "▼", "red"), ("exit", "×", "orange")):
        pts = [mk for mk in ps.markers if mk.kind == kind and ps.ts[0] <= mk.ts <= ps.ts[-1]]
        if pts:
            plt.scatter(_x([mk.ts for mk in pts], t0), [mk.price for mk in pts], marker=marker, color=color)
    _time_axis(plot, t0, ps.ts[-1])
    plot.refresh()
