"""Results of the running session or the finished replay: the trade list (per-trade PnL and why it ended), the
totals as `tui-trader backtest` prints them, the equity curve, and per symbol the price with Bollinger bands,
SMA fast/slow and the entry/exit markers.

Everything comes from what the desk folded from the bus (`DeskModel.results`: fills into round trips, trade
prices into indicator points, the equity the positions pane shows) through the same results maths as the
backtest. One tab at a time; the charts take the whole screen, so a larger terminal gets larger charts and the
trade list more columns. Rebuilt on the desk's clock while open, at most once a second and only when a trip
closed or a new point arrived.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static, TabbedContent, TabPane
from textual_plotext import PlotextPlot

from tui_trader.results.render import REASON_NAMES, duration, render_report
from tui_trader.results.view import ResultsView
from tui_trader.ui import keys
from tui_trader.ui.session_results import MANUAL
from tui_trader.ui.widgets.charts import draw_equity, draw_prices
from tui_trader.ui.widgets.view import View

WIDE_FROM = 120
NAMES = {**REASON_NAMES, MANUAL: "closed by you"}
REBUILD_EVERY_S = 1.0
CHART_MIN_H = 12


def _clock(ms: int, with_date: bool) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%m-%d %H:%M:%S" if with_date else "%H:%M:%S")


def headline(v: ResultsView, replay: str, width: int) -> Text:
    """The figures a strategy is judged by, on one line when they fit in `width` cells, else on as many as
    they need, broken only between two figures (at 80 columns the last of them, the drawdown, was cut)."""
    r = v.report
    first = Text.assemble(("Results ", "bold"), (f"({replay or 'this session'}) ", "dim"))
    figures = [Text(f"{r.trades} trade{'s' if r.trades != 1 else ''}")]
    if r.trades:
        figures.append(Text(f"win {r.win_rate_pct:.0f}%"))
    net_style = "green" if r.net_pnl > 0 else "red" if r.net_pnl < 0 else ""
    figures.append(Text.assemble("net ", (f"{r.net_pnl:+,.2f}", net_style), f" ({r.return_pct:+.2f}%)"))
    figures.append(Text(f"fees {r.fees:,.2f}"))
    figures.append(Text(f"max DD {r.max_drawdown.amount:,.2f}"))
    lines = [first]
    line = first
    placed = 0  # figures on the current line
    for figure in figures:
        sep = " · " if placed else ""
        if placed and line.cell_len + len(sep) + figure.cell_len > width:
            line = Text()
            lines.append(line)
            sep, placed = "", 0
        line.append(sep)
        line.append_text(figure)
        placed += 1
    out = Text("\n").join(lines)
    out.no_wrap, out.overflow = True, "ellipsis"  # a single figure wider than the screen is cut, not wrapped
    return out


class ResultsScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(keys.default("results_close"), "close", "Close", id="results_close")
    ]
    DEFAULT_CSS = """
    ResultsScreen #results-head { height: auto; padding: 0 1; }
    ResultsScreen TabbedContent { height: 1fr; }
    ResultsScreen TabPane { padding: 0; height: 1fr; }
    ResultsScreen #results-trades { height: 1fr; }
    ResultsScreen #results-equity { height: 1fr; }
    ResultsScreen #results-totals { padding: 0 1; }
    ResultsScreen #results-charts PlotextPlot { height: 1fr; min-height: 12; }
    """

    def __init__(self) -> None:
        super().__init__(id="results")
        self.results_view: ResultsView | None = None
        self._built_version = -1
        self._built_at = 0.0
        self._symbols: list[str] = []
        self._replay = ""

    def compose(self) -> ComposeResult:
        yield Static(id="results-head")
        with TabbedContent(id="results-tabs"):
            with TabPane("Trades", id="tab-trades"):
                yield DataTable(id="results-trades", cursor_type="row", zebra_stripes=True)
            with TabPane("Totals", id="tab-totals"), VerticalScroll():
                yield Static(id="results-totals")
            with TabPane("Equity", id="tab-equity"):
                yield PlotextPlot(id="results-equity")
            with TabPane("Charts", id="tab-charts"):
                yield VerticalScroll(id="results-charts")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.app.call_later(self.app.refresh_desk)  # type: ignore[attr-defined]

    def action_close(self) -> None:
        self.dismiss(None)

    # --- drawing --------------------------------------------------------------------------------------

    def render_view(self, view: View, replay: str = "") -> None:
        results = view.state.results
        now = time.monotonic()
        if results.version == self._built_version and self.results_view is not None:
            return
        if self.results_view is not None and now - self._built_at < REBUILD_EVERY_S:
            return
        self._built_version, self._built_at = results.version, now
        v = results.view(view.state.portfolio.starting_balance, view.settings.indicators)
        self.results_view = v
        self._replay = replay
        self._headline()
        self._trades(v)
        self.query_one("#results-totals", Static).update(Text(render_report(v.report)))
        draw_equity(self.query_one("#results-equity", PlotextPlot), v.equity_ts, v.equity, v.report.starting_equity)
        self._charts(v, view)

    def _headline(self) -> None:
        if self.results_view is not None:
            head = headline(self.results_view, self._replay, self.app.size.width - 2)
            self.query_one("#results-head", Static).update(head)

    def on_resize(self) -> None:
        self._headline()  # the figures laid out again for the new width

    def _trades(self, v: ResultsView) -> None:
        table = self.query_one("#results-trades", DataTable)
        wide = self.app.size.width >= WIDE_FROM
        span = (v.report.end_ts - v.report.start_ts) if v.trips else 0
        with_date = span >= 86_400_000
        table.clear(columns=True)
        if wide:
            table.add_columns(
                "#",
                "Symbol",
                "Side",
                "Qty",
                "Entry at",
                "Entry",
                "Exit at",
                "Exit",
                "PnL",
                "Fees",
                "Net",
                "Held",
                "Reason",
            )
        else:
            table.add_columns("Symbol", "Side", "Exit at", "Net", "Reason")
        # Newest first: the trade that just closed is the one the trader looks for.
        for i, t in reversed(list(enumerate(v.trips, 1))):
            net = Text(f"{t.net:+,.2f}", style="green" if t.net > 0 else "red" if t.net < 0 else "")
            reason = NAMES.get(t.reason, t.reason)
            side = Text(t.side.upper(), style="green" if t.side == "long" else "red")
            if wide:
                table.add_row(
                    str(i),
                    t.symbol,
                    side,
                    f"{t.quantity:g}",
                    _clock(t.entry_ts, with_date),
                    f"{t.entry_price:,.2f}",
                    _clock(t.exit_ts, with_date),
                    f"{t.exit_price:,.2f}",
                    f"{t.pnl:+,.2f}",
                    f"{t.fees:,.2f}",
                    net,
                    duration(t.hold_ms),
                    reason,
                )
            else:
                table.add_row(t.symbol, side, _clock(t.exit_ts, with_date), net, reason)
        if not v.trips:
            table.add_row(*(["no closed trades yet"] + [""] * (len(table.columns) - 1)))

    def _charts(self, v: ResultsView, view: View) -> None:
        box = self.query_one("#results-charts", VerticalScroll)
        symbols = list(v.prices)
        if symbols != self._symbols:
            self._symbols = symbols
            box.remove_children()
            if symbols:
                box.mount_all(PlotextPlot(id=f"chart-{s}", classes="price-chart") for s in symbols)
            else:
                box.mount(Static("No prices yet.", id="charts-none"))
            self.call_after_refresh(self._draw_charts)
            return
        self._draw_charts()

    def _draw_charts(self) -> None:
        v = self.results_view
        if v is None:
            return
        cfg = self.app.settings.indicators  # type: ignore[attr-defined]
        for sym, ps in v.prices.items():
            for plot in self.query(f"#chart-{sym}").results(PlotextPlot):
                draw_prices(plot, ps, cfg.sma_fast, cfg.sma_slow, cfg.bb_period)
