"""Order log, newest first: time, short id, symbol, side, qty, purpose, status, price, mode, reason or error.

One row per order id, updated as its statuses arrive; the router's denials are rows of their own
(status "rejected", the rule and reason in the last column). Narrow terminals (80 columns) cannot fit the
reason beside the rest, so each order is one preformatted line there, with the reason on a second line
under it when there is one.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping

from rich.text import Text
from textual.app import ComposeResult

from tui_trader.ui import format as fmt
from tui_trader.ui.state import OrderRow
from tui_trader.ui.widgets.keyed_table import Cell, KeyedTable, num, txt
from tui_trader.ui.widgets.pane import Pane
from tui_trader.ui.widgets.view import View

WIDE = (
    ("time", "Time"),
    ("id", "Id"),
    ("symbol", "Symbol"),
    ("side", "Side"),
    ("qty", "Qty"),
    ("purpose", "Purpose"),
    ("status", "Status"),
    ("price", "Price"),
    ("mode", "Mode"),
    ("reason", "Reason"),
)
SHORT_PURPOSE = {"stop_loss": "SL", "take_profit": "TP"}
# The narrow line: (field, width, right-aligned).
NARROW_LAYOUT = (
    ("time", 8, False),
    ("symbol", 0, False),
    ("side", 4, False),
    ("qty", 7, True),
    ("purpose", 7, False),
    ("status", 8, False),
    ("price", 9, True),
    ("mode", 5, False),
    ("id", 8, False),
)
# Rows drawn at most; the state keeps more, the journal keeps all.
SHOWN = 200


def row_cells(r: OrderRow, view: View) -> dict[str, Cell]:
    c = view.colours
    status_style = {
        "filled": f"bold {c.buy}",
        "partially_filled": c.buy,
        "rejected": f"bold {c.sell}",
        "error": f"bold {c.sell}",
        "canceled": c.muted,
        "sent": c.muted,
        "accepted": "",
        "alarm": f"bold reverse {c.sell}",
        "ok": c.buy,
    }.get(r.status, "")
    qty = fmt.qty(r.qty) if r.qty > 0 else fmt.DASH
    if r.status == "partially_filled" and r.qty > 0:
        qty = f"{fmt.qty(r.filled)}/{fmt.qty(r.qty)}"
    purpose_style = f"bold {c.warn}" if r.purpose in ("kill", "flatten", "watchdog") else ""
    return {
        "time": txt(fmt.clock(r.ts), c.muted),
        "id": txt(fmt.short_id(r.order_id), c.muted),
        "symbol": txt(r.symbol, "bold"),
        "side": txt(r.side, c.side(r.side)),
        "qty": num(qty),
        "purpose": txt(r.purpose, purpose_style),
        "status": txt("partial" if r.status == "partially_filled" else r.status, status_style),
        "price": num(fmt.price(r.price)),
        "mode": txt(r.mode.upper(), f"bold {c.sell}" if r.mode == "live" else c.muted),
        "reason": txt(
            f"×{r.repeats} {r.reason}" if r.repeats > 1 else r.reason,
            c.sell if r.status in ("rejected", "error") else "",
        ),
    }


def narrow_line(cells: Mapping[str, Cell], symbol_width: int, row: OrderRow | None = None) -> Text:
    """One order as aligned text (and its reason on a second line): the log's narrow form."""
    out = Text(no_wrap=True, overflow="ellipsis")
    for n, (key, width, right) in enumerate(NARROW_LAYOUT):
        cell = cells[key]
        text = cell if isinstance(cell, Text) else Text(str(cell))
        if key == "purpose" and row is not None:
            text = Text(SHORT_PURPOSE.get(row.purpose, row.purpose), style=text.style)
        width = width or symbol_width
        if n:
            out.append(" ")
        plain = text.plain[:width]
        pad = " " * (width - len(plain))
        out.append(pad + plain if right else plain + pad, style=text.style)
    reason = cells["reason"]
    if isinstance(reason, Text) and reason.plain:
        out.append("\n" + " " * 9 + "↳ ")
        out.append(reason.plain, style=reason.style)
    return out


def narrow_header(symbol_width: int) -> str:
    labels = {
        "time": "Time",
        "symbol": "Symbol",
        "side": "Side",
        "qty": "Qty",
        "purpose": "Purpose",
        "status": "Status",
        "price": "Price",
        "mode": "Mode",
        "id": "Id",
    }
    return narrow_line({k: Text(v) for k, v in labels.items()} | {"reason": Text("")}, symbol_width).plain


def newest_first(rows: Iterable[OrderRow], shown: int = SHOWN) -> list[OrderRow]:
    """The `shown` latest rows by their time, newest first. Not by arrival: the desk reads commands,
    statuses and the watchdog's alarms from separate topics (all of their history at once on start), so a
    row can arrive after rows that are newer than it."""
    return heapq.nlargest(shown, rows, key=lambda r: (r.ts, r.seq))


class OrdersPane(Pane):
    TITLE = "Order log"

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        # order id -> (rev, cells): a row is rebuilt only when its status changed (the log can be long).
        self._built: dict[str, tuple[int, tuple[Cell, ...]]] = {}
        self._built_for: tuple = ()
        self._drawn: tuple = ()

    def compose(self) -> ComposeResult:
        yield KeyedTable(id="orders-table")

    def show(self, view: View) -> None:
        drawn = (view.state.versions["orders"], view.narrow, view.colours)
        if drawn == self._drawn:
            return  # nothing here moves with the clock
        self._drawn = drawn
        table = self.query_one(KeyedTable)
        rows = newest_first(view.state.orders.values())
        self.set_title(f"Order log ({len(view.state.orders)})")
        symbol_width = max([7, *(len(r.symbol) for r in rows)])
        layout = ("narrow", symbol_width) if view.narrow else ("wide",)
        if layout[0] == "narrow":
            table.shape([("order", narrow_header(symbol_width))])
        else:
            table.shape(WIDE)
        if self._built_for != (layout, view.colours):
            self._built, self._built_for = {}, (layout, view.colours)
        out = []
        heights: dict[str, int] = {}
        for r in rows:
            built = self._built.get(r.order_id)
            if built is None or built[0] != r.rev:
                cells = row_cells(r, view)
                if view.narrow:
                    built = (r.rev, (narrow_line(cells, symbol_width, r),))
                else:
                    built = (r.rev, tuple(cells[k] for k, _ in WIDE))
                self._built[r.order_id] = built
            out.append((r.order_id, built[1]))
            if view.narrow and r.reason:
                heights[r.order_id] = 2
        if len(self._built) > 2 * SHOWN:
            keep = {r.order_id for r in rows}
            self._built = {k: v for k, v in self._built.items() if k in keep}
        table.sync(out, heights)
