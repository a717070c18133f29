"""Prices: last, bid, ask, spread, change since start, a sparkline of recent prices and the feed's age."""

from __future__ import annotations

from textual.app import ComposeResult

from tui_trader.ui import format as fmt
from tui_trader.ui.state import SPARK_BUCKET_MS
from tui_trader.ui.widgets.base import KeyedTable, Pane, View, num, txt

COLUMNS = (("symbol", "Symbol"), ("last", "Last"), ("bid", "Bid"), ("ask", "Ask"), ("spread", "Spr bps"),
           ("change", "Chg %"), ("trend", "Trend"), ("age", "Age"))
SPARK_MIN, SPARK_MAX = 6, 60


def symbols_in_view(view: View) -> list[str]:
    """Configured symbols first (in settings order), then any other symbol the bus carries."""
    configured = list(view.settings.trading.symbols)
    extra = sorted(set(view.state.quotes) - set(configured))
    return configured + extra


class PricesPane(Pane):
    TITLE = "Prices"

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self._spark = 12

    def compose(self) -> ComposeResult:
        yield KeyedTable(id="prices-table")

    def spark_width(self, table: KeyedTable) -> int:
        """The sparkline takes what the other columns leave of the pane: measured from the last frame,
        so it settles within a tick of a resize whatever the prices' widths."""
        if table.size.width > 0 and table.needed_width > 0:
            spare = table.size.width - 1 - table.needed_width  # 1: room for a vertical scrollbar
            self._spark = max(SPARK_MIN, min(SPARK_MAX, self._spark + spare))
        return self._spark

    def show(self, view: View) -> None:
        table = self.query_one(KeyedTable)
        before = self._spark
        width = self.spark_width(table)
        table.shape(COLUMNS)
        c = view.colours
        stale = view.state.stale_symbols(view.now_ms, view.settings.feed.stale_after_s)
        rows = []
        for sym in symbols_in_view(view):
            q = view.state.quotes.get(sym)
            if q is None:
                rows.append((sym, (txt(sym, c.muted), num(fmt.DASH), num(fmt.DASH), num(fmt.DASH), num(fmt.DASH),
                                   num(fmt.DASH), txt(""), num("waiting", c.muted))))
                continue
            is_stale = sym in stale
            change = q.change_pct
            age_ms = view.now_ms - q.event_time if q.event_time else None
            rows.append((sym, (
                txt(f"{sym} !" if is_stale else sym, f"bold {c.warn}" if is_stale else "bold"),
                num(fmt.price(q.last), c.muted if is_stale else ""),
                num(fmt.price(q.bid), c.buy),
                num(fmt.price(q.ask), c.sell),
                num(fmt.bps(q.spread_bps)),
                num(fmt.pct(change), c.signed(change)),
                txt(fmt.sparkline(q.spark, width), c.muted if is_stale else c.primary),
                num(f"STALE {fmt.age(age_ms)}" if is_stale else fmt.age(age_ms), f"bold {c.warn}" if is_stale else ""),
            )))
        table.sync(rows)
        if width < before:
            table.fit_columns()  # the sparklines got shorter: give the width back
        self.set_title(f"Prices · trend {fmt.age(width * SPARK_BUCKET_MS)}")
