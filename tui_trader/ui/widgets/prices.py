"""Prices: last, bid, ask, spread, change since start, a sparkline of recent prices and the feed's age; with
perpetual data (the venue's mark records) also the mark price, funding rate (per interval; longs pay it when
positive) and time to the next funding, for which at 80 columns the spread, change and sparkline give way."""

from __future__ import annotations

from textual.app import ComposeResult

from tui_trader.ui import format as fmt
from tui_trader.ui.state import SPARK_BUCKET_MS
from tui_trader.ui.widgets.keyed_table import Cell, KeyedTable, num, txt
from tui_trader.ui.widgets.pane import Pane
from tui_trader.ui.widgets.view import View

BASIC_COLUMNS: tuple[tuple[str, str], ...] = (
    ("symbol", "Symbol"),
    ("last", "Last"),
    ("bid", "Bid"),
    ("ask", "Ask"),
    ("spread", "Spr bps"),
    ("change", "Chg %"),
    ("trend", "Trend"),
    ("age", "Age"),
)
COLUMNS = (
    ("symbol", "Symbol"),
    ("last", "Last"),
    ("bid", "Bid"),
    ("ask", "Ask"),
    ("spread", "Spr bps"),
    ("mark", "Mark"),
    ("funding", "Fund %"),
    ("next", "Next"),
    ("change", "Chg %"),
    ("trend", "Trend"),
    ("age", "Age"),
)
NARROW_COLUMNS = (
    ("symbol", "Symbol"),
    ("last", "Last"),
    ("bid", "Bid"),
    ("ask", "Ask"),
    ("mark", "Mark"),
    ("funding", "Fund %"),
    ("next", "Next"),
    ("age", "Age"),
)
SPARK_MIN, SPARK_MAX = 6, 60


def symbols_in_view(view: View) -> list[str]:
    """Configured symbols first (in settings order), then any other symbol the bus carries."""
    configured = list(view.settings.trading.symbols)
    extra = sorted(set(view.state.quotes) - set(configured))
    return configured + extra


def funding_text(rate: float | None) -> str:
    """A funding rate per interval in percent, signed, to the venue's precision (+0.0100)."""
    return fmt.DASH if rate is None else f"{rate * 100:+.4f}"


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
        if not any(q.mark > 0 for q in view.state.quotes.values()):
            columns = BASIC_COLUMNS  # no marks (a recording or venue without them): nothing to show
        else:
            columns = NARROW_COLUMNS if view.narrow else COLUMNS
        table.shape(columns)
        c = view.colours
        stale = view.state.stale_symbols(view.now_ms, view.settings.feed.stale_after_s)
        rows = []
        for sym in symbols_in_view(view):
            q = view.state.quotes.get(sym)
            cells: dict[str, Cell]
            if q is None:
                cells = {key: num(fmt.DASH) for key, _ in columns}
                cells.update(symbol=txt(sym, c.muted), trend=txt(""), age=num("waiting", c.muted))
            else:
                is_stale = sym in stale
                change = q.change_pct
                age_ms = view.now_ms - q.event_time if q.event_time else None
                rate = q.funding_rate
                cells = {
                    "symbol": txt(f"{sym} !" if is_stale else sym, f"bold {c.warn}" if is_stale else "bold"),
                    "last": num(fmt.price(q.last), c.muted if is_stale else ""),
                    "bid": num(fmt.price(q.bid), c.buy),
                    "ask": num(fmt.price(q.ask), c.sell),
                    "spread": num(fmt.bps(q.spread_bps)),
                    "mark": num(fmt.price(q.mark) if q.mark > 0 else fmt.DASH, c.muted if is_stale else ""),
                    # Red when longs pay (a positive rate), green when they receive.
                    "funding": num(funding_text(rate), c.signed(-rate if rate else None)),
                    "next": num(fmt.age(q.next_funding - view.now_ms) if q.next_funding else fmt.DASH),
                    "change": num(fmt.pct(change), c.signed(change)),
                    "trend": txt(fmt.sparkline(q.spark, width), c.muted if is_stale else c.primary),
                    "age": num(
                        f"STALE {fmt.age(age_ms)}" if is_stale else fmt.age(age_ms),
                        f"bold {c.warn}" if is_stale else "",
                    ),
                }
            rows.append((sym, tuple(cells[key] for key, _ in columns)))
        table.sync(rows)
        if width < before:
            table.fit_columns()  # the sparklines got shorter: give the width back
        trend = any(key == "trend" for key, _ in columns)
        self.set_title(f"Prices · trend {fmt.age(width * SPARK_BUCKET_MS)}" if trend else "Prices")
