"""Positions: side, quantity, entry, mark, unrealised PnL and %, SL, TP, leverage, liquidation price; and the
account totals (equity, realised PnL today, fees today).

Positions come from the desk's `Portfolio`, folded from the same commands and statuses the router folds.
A position the broker reports that the desk saw no fills for (opened before a restart) is shown from the
broker's snapshot, without SL/TP. Narrow terminals get the table transposed (one column per position).
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult

from tui_trader.ui import format as fmt
from tui_trader.ui.widgets.base import Cell, KeyedTable, LiveText, Pane, View, num, txt

FIELDS = (("side", "Side"), ("qty", "Qty"), ("entry", "Entry"), ("mark", "Mark"), ("upnl", "uPnL"),
          ("pnl_pct", "PnL %"), ("sl", "SL"), ("tp", "TP"), ("lev", "Lev"), ("liq", "Liq"))


def position_cells(view: View) -> dict[str, dict[str, Cell]]:
    """{symbol: {field: cell}} for every open position."""
    c = view.colours
    out: dict[str, dict[str, Cell]] = {}
    for sym, p in sorted(view.state.portfolio.positions.items()):
        out[sym] = {
            "side": txt(p.side.upper(), f"bold {c.side(p.side)}"),
            "qty": num(fmt.qty(p.quantity)),
            "entry": num(fmt.price(p.entry_price)),
            "mark": num(fmt.price(p.mark_price)),
            "upnl": num(fmt.signed(p.unrealized_pnl), c.signed(p.unrealized_pnl)),
            "pnl_pct": num(fmt.pct(p.pnl_pct), c.signed(p.pnl_pct)),
            "sl": num(fmt.price(p.stop_loss), c.sell),
            "tp": num(fmt.price(p.take_profit), c.buy),
            "lev": num(f"{p.leverage}x"),
            "liq": num(fmt.price(p.liquidation_price), c.warn),
        }
    for sym, snap in sorted(view.state.account_positions().items()):
        if sym in out or snap.quantity <= 0:
            continue
        side = "long" if snap.side == "buy" else "short"
        out[sym] = {
            "side": txt(side.upper(), f"bold {c.side(side)}"),
            "qty": num(fmt.qty(snap.quantity)),
            "entry": num(fmt.price(snap.entry_price)),
            "mark": num(fmt.price(snap.mark_price)),
            "upnl": num(fmt.signed(snap.unrealized_pnl), c.signed(snap.unrealized_pnl)),
            "pnl_pct": num(fmt.DASH),
            "sl": num("?", c.warn),
            "tp": num("?", c.warn),
            "lev": num(f"{snap.leverage}x"),
            "liq": num(fmt.price(snap.liquidation_price), c.warn),
        }
    return out


def totals(view: View) -> Text:
    st = view.state
    pf = st.portfolio
    c = view.colours
    realized = st.realized_today(view.now_ms)
    unreal = pf.unrealized_pnl()
    out = Text(no_wrap=True, overflow="ellipsis")
    out.append("Equity ", style=c.muted)
    out.append(f"{pf.equity():,.2f}", style="bold")
    out.append("  Realised today ", style=c.muted)
    out.append(f"{realized:+,.2f}", style=c.signed(realized))
    out.append("  Unrealised ", style=c.muted)
    out.append(f"{unreal:+,.2f}", style=c.signed(unreal))
    out.append("  Fees today ", style=c.muted)
    out.append(f"{st.fees_today(view.now_ms):,.2f}")
    return out


class PositionsPane(Pane):
    TITLE = "Positions"

    def compose(self) -> ComposeResult:
        yield KeyedTable(id="positions-table")
        yield LiveText("No open positions.", id="positions-none")
        yield LiveText(id="positions-totals", fixed=True)

    def open_count(self, view: View) -> int:
        return len(position_cells(view))

    def show(self, view: View) -> None:
        table = self.query_one(KeyedTable)
        cells = position_cells(view)
        self.set_title(f"Positions ({len(cells)} open)")
        none = self.query_one("#positions-none", LiveText)
        if table.display != bool(cells):
            table.display = bool(cells)
        if none.display != (not cells):
            none.display = not cells
        if not view.narrow:
            table.shape([("symbol", "Symbol"), *FIELDS])
            table.sync([(sym, (txt(sym, "bold"), *(row[k] for k, _ in FIELDS))) for sym, row in cells.items()])
        else:
            table.shape([("name", ""), *((s, s) for s in cells)])
            table.sync([(k, (txt(label, "bold"), *(cells[s][k] for s in cells))) for k, label in FIELDS]
                       if cells else [])
        self.query_one("#positions-totals", LiveText).set(totals(view))
