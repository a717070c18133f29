"""Signal strength: per symbol a gauge of the last signal's strength, its kind and its age."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult

from tui_trader.ui import format as fmt
from tui_trader.ui.widgets.keyed_table import KeyedTable, num, txt
from tui_trader.ui.widgets.pane import Pane
from tui_trader.ui.widgets.prices import symbols_in_view
from tui_trader.ui.widgets.view import View

COLUMNS = (("symbol", "Symbol"), ("gauge", "Strength"), ("kind", "Signal"), ("score", "Buy/Sell"), ("age", "Age"))
GAUGE_WIDTH = 10


class SignalsPane(Pane):
    TITLE = "Signal strength"

    def compose(self) -> ComposeResult:
        yield KeyedTable(id="signals-table")

    def show(self, view: View) -> None:
        table = self.query_one(KeyedTable)
        table.shape(COLUMNS)
        c = view.colours
        threshold = view.settings.trading.min_signal_strength
        rows = []
        for sym in symbols_in_view(view):
            sig = view.state.signals.get(sym)
            if sig is None:
                rows.append(
                    (
                        sym,
                        (
                            txt(sym, c.muted),
                            txt(fmt.GAUGE_EMPTY * GAUGE_WIDTH + "    –", c.muted),
                            txt("none yet", c.muted),
                            num(fmt.DASH),
                            num(fmt.DASH),
                        ),
                    )
                )
                continue
            colour = c.side("buy" if sig.signal in ("Buy", "StrongBuy") else "sell")
            full, empty = fmt.gauge(sig.strength, GAUGE_WIDTH)
            gauge = Text(no_wrap=True)
            gauge.append(full, style=colour)
            gauge.append(empty, style=c.muted)
            # The strength in bold when it passes the router's threshold: the signal is acted on.
            gauge.append(f" {sig.strength:.2f}", style="bold" if sig.strength >= threshold else c.muted)
            rows.append(
                (
                    sym,
                    (
                        txt(sym, "bold"),
                        gauge,
                        txt(sig.signal, f"bold {colour}" if sig.signal.startswith("Strong") else colour),
                        num(f"{sig.buy_score}/{sig.sell_score}"),
                        num(fmt.age(view.now_ms - sig.ts)),
                    ),
                )
            )
        table.sync(rows)
