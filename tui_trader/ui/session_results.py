"""The running session's results, folded from what the desk reads on the bus: fills into round trips (the same
`TripBook` the backtest and `tui-trader trades` use), trade prices into the points the indicators see (bar
closes by event time, or every price in tick mode), and the equity the positions pane shows into a curve.

The desk samples market data once per UI tick (the newest record per symbol), so a bar's close here is the last
price the desk saw in it: exact for bars longer than a tick of the desk's clock, a sample for tick mode.

Pure: no Textual, no clock. The desk consumes topics only, so this never opens the journal; a desk that
attaches to a running pipeline with history replayed sees the session from its start.

Bounded: each series keeps its newest `MAX_POINTS` points, so a desk left running for days holds a fixed
amount of memory (the journal has every fill; `tui-trader trades` reads it).
"""

from __future__ import annotations

import collections
from collections.abc import Callable

import numpy as np

from tui_trader import messages as m
from tui_trader.results.report import build_report
from tui_trader.results.trips import TripBook
from tui_trader.results.view import ResultsView, results_view
from tui_trader.settings import IndicatorSettings, bar_seconds

MANUAL = "manual"  # exit reason of a position the trader closed with the close key
MAX_POINTS = 50_000
MAX_TRIPS = 10_000


class SessionResults:
    def __init__(self, bar: str = "1m", max_points: int = MAX_POINTS) -> None:
        self.bar_ms = bar_seconds(bar) * 1000
        self.max_points = max_points
        self.trips = TripBook()
        # symbol -> (bucket start or trade time, close) of the points the indicators see
        self._prices: dict[str, collections.deque[tuple[int, float]]] = {}
        self._equity: collections.deque[tuple[int, float]] = collections.deque(maxlen=max_points)
        self.version = 0  # bumped when a trip closes or a new point is added

    def set_bar(self, bar: str) -> None:
        self.bar_ms = bar_seconds(bar) * 1000

    def on_market_data(self, md: m.MarketData, equity: Callable[[], float]) -> None:
        # Any kind: every market record carries the latest trade price, and the desk reads only the newest
        # record per symbol per UI tick (often a book update), so a trade-only filter would see almost none.
        if not md.price > 0:
            return
        series = self._prices.get(md.symbol)
        if series is None:
            series = self._prices[md.symbol] = collections.deque(maxlen=self.max_points)
        t = md.event_time
        if self.bar_ms > 0:
            t -= t % self.bar_ms  # the bar this trade belongs to: its last trade is the bar's close
            if series and series[-1][0] == t:
                series[-1] = (t, md.price)
                self._mark_equity(t, equity())
                return
            if series and t < series[-1][0]:
                return  # late trade for a bar already closed: the bar builder ignores it too
        series.append((t, md.price))
        self._mark_equity(t, equity())
        self.version += 1

    def on_command(self, cmd: m.OrderCommand) -> None:
        """A reduce-only close the router sent without a signal behind it is the trader's own close of one
        position (the close key): its trip ends "manual", not "signal" (an opposite signal's close carries the
        signal's id; the statuses alone cannot tell the two apart)."""
        if cmd.purpose == "close" and cmd.signal_id is None:
            self.trips.reasons[cmd.id] = MANUAL

    def on_status(self, st: m.OrderStatus, equity: Callable[[], float]) -> None:
        if st.filled_qty <= 0:
            return
        if self.trips.apply(st):
            self.version += 1
            if len(self.trips.closed) > MAX_TRIPS:
                del self.trips.closed[: len(self.trips.closed) - MAX_TRIPS]
        self._mark_equity(st.ts, equity())

    def _mark_equity(self, t: int, value: float) -> None:
        eq = self._equity
        if eq and eq[-1][0] >= t:
            eq[-1] = (eq[-1][0], value)  # one point per time: the newest value wins
        else:
            eq.append((t, value))

    def view(self, starting_equity: float, cfg: IndicatorSettings, max_points: int = 2000) -> ResultsView:
        """The trade list, the report and the charts of the session so far (the same maths as the backtest)."""
        trips = list(self.trips.closed)
        eq_ts = np.fromiter((t for t, _ in self._equity), dtype=np.int64, count=len(self._equity))
        eq = np.fromiter((v for _, v in self._equity), dtype=np.float64, count=len(self._equity))
        firsts = [s[0][0] for s in self._prices.values() if s] + [int(t) for t in eq_ts[:1]]
        lasts = [s[-1][0] for s in self._prices.values() if s] + [int(t) for t in eq_ts[-1:]]
        start = min(firsts, default=0)
        end = max(lasts, default=start)
        open_since = [t.entry_ts for t in self.trips.open.values()]
        report = build_report(
            trips, eq_ts, eq, starting_equity=starting_equity, start_ts=start, end_ts=end, open_since=open_since
        )
        prices = {
            sym: (
                np.fromiter((t for t, _ in s), dtype=np.int64, count=len(s)),
                np.fromiter((p for _, p in s), dtype=np.float64, count=len(s)),
            )
            for sym, s in self._prices.items()
            if s
        }
        return results_view(report, trips, eq_ts, eq, prices, cfg, max_points=max_points)
