"""Positions: side, quantity, entry, mark, unrealised PnL and %, funding received (+) or paid (−) while open
(as the broker reports it), SL, TP, leverage, liquidation price; and the account totals (equity, realised PnL
today, fees today).

What is at risk is always on screen: positions come from the desk's `Portfolio` (folded from the same
commands and statuses the router folds) and from the acting broker's Account (the venue's positions and the
journal's, published by the executor at start, before any reconciliation answer). Each row shows its
stop-loss and take-profit price (as placed from the fill) and whether it rests at the venue: ✓ rests, ✗ does
not (the whole row's mark is red), … placed but not confirmed yet. An earlier paper session's book (a
non-acting Account) is one muted line, never a position at risk. Narrow terminals get the table transposed.

The totals line puts net PnL (realised today − fees today + unrealised) beside its parts. One position is
selected for the close key: the first until the trader moves it (up/down, or left/right in the transposed
table, while the table has focus); it is highlighted only while the table has focus, and the close dialog
names the symbol, so a close never goes to a position the trader did not see.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType

from tui_trader import messages as m
from tui_trader.portfolio.positions import Position
from tui_trader.ui import format as fmt
from tui_trader.ui.widgets.colours import Colours
from tui_trader.ui.widgets.keyed_table import Cell, KeyedTable, num, txt
from tui_trader.ui.widgets.live_text import LiveText
from tui_trader.ui.widgets.pane import Pane
from tui_trader.ui.widgets.view import View

RESTS, NOT_RESTING, UNCONFIRMED = "✓", "✗", "…"

FIELDS = (
    ("side", "Side"),
    ("qty", "Qty"),
    ("entry", "Entry"),
    ("mark", "Mark"),
    ("upnl", "uPnL"),
    ("pnl_pct", "PnL %"),
    ("sl", "SL"),
    ("tp", "TP"),
    ("lev", "Lev"),
    ("liq", "Liq"),
)
# With perpetual data (the venue's marks, or funding booked on a position) a Fund column follows PnL %.
FUNDING_FIELDS = (*FIELDS[:6], ("fund", "Fund"), *FIELDS[6:])


def fields_for(view: View) -> tuple[tuple[str, str], ...]:
    perpetual = any(q.mark > 0 for q in view.state.quotes.values()) or any(
        s.funding for s in view.state.account_positions().values()
    )
    return FUNDING_FIELDS if perpetual else FIELDS


def protection(price: float | None, resting: bool | None, style: str, c: Colours) -> Text:
    """A protective order's cell: its trigger price and whether it rests (None: placed, not confirmed)."""
    shown = fmt.price(price) if price is not None else "none"
    if resting is None and price is not None:
        return num(f"{shown} {UNCONFIRMED}", style)
    if resting:
        return num(f"{shown} {RESTS}", style)
    return num(f"{shown} {NOT_RESTING}", f"bold reverse {c.sell}")


def _resting(snap: m.PositionSnapshot | None, order_id: str | None, which: str) -> bool | None:
    if snap is not None:
        return bool(getattr(snap, f"{which}_resting"))
    return None if order_id else False


def unprotected(view: View) -> list[str]:
    """Symbols with an open position lacking a resting stop-loss or take-profit."""
    snaps = view.state.account_positions()
    out = []
    acting = view.state.acting_positions()
    for sym, p in acting.items():
        snap = snaps.get(sym)
        if (
            _resting(snap, p.stop_loss_order_id, "stop_loss") is False
            or _resting(snap, p.take_profit_order_id, "take_profit") is False
        ):
            out.append(sym)
    for sym, snap in snaps.items():
        if sym not in acting and snap.quantity > 0 and not (snap.stop_loss_resting and snap.take_profit_resting):
            out.append(sym)
    return sorted(out)


def position_cells(view: View) -> dict[str, dict[str, Cell]]:
    """{symbol: {field: cell}} for every open position."""
    c = view.colours
    out: dict[str, dict[str, Cell]] = {}
    snaps = view.state.account_positions()
    for sym, p in sorted(view.state.acting_positions().items()):
        snap = snaps.get(sym)
        out[sym] = {
            "side": txt(p.side.upper(), f"bold {c.side(p.side)}"),
            "qty": num(fmt.qty(p.quantity)),
            "entry": num(fmt.price(p.entry_price)),
            "mark": num(fmt.price(p.mark_price)),
            "upnl": num(fmt.signed(p.unrealized_pnl), c.signed(p.unrealized_pnl)),
            "pnl_pct": num(fmt.pct(p.pnl_pct), c.signed(p.pnl_pct)),
            "fund": _funding(snap, c),
            "sl": _sl(p, snap, c),
            "tp": _tp(p, snap, c),
            "lev": num(f"{p.leverage}x"),
            "liq": num(fmt.price(p.liquidation_price), c.warn),
        }
    for sym, snap in sorted(snaps.items()):
        if sym in out or snap.quantity <= 0:
            continue
        side = m.position_side(snap.side)
        mark, upnl, pct = _marked_snapshot(snap, view)
        out[sym] = {
            "side": txt(side.upper(), f"bold {c.side(side)}"),
            "qty": num(fmt.qty(snap.quantity)),
            "entry": num(fmt.price(snap.entry_price)),
            "mark": num(fmt.price(mark)),
            "upnl": num(fmt.signed(upnl), c.signed(upnl)),
            "pnl_pct": num(fmt.pct(pct) if pct is not None else fmt.DASH, c.signed(pct)),
            "fund": _funding(snap, c),
            "sl": protection(snap.stop_loss, snap.stop_loss_resting, c.sell, c),
            "tp": protection(snap.take_profit, snap.take_profit_resting, c.buy, c),
            "lev": num(f"{snap.leverage}x"),
            "liq": num(fmt.price(snap.liquidation_price), c.warn),
        }
    return out


def _funding(snap: m.PositionSnapshot | None, c: Colours) -> Text:
    """Funding received (+) or paid (−) on the position while open, USDT; – when the broker says nothing."""
    if snap is None or not snap.funding:
        return num(fmt.DASH)
    return num(fmt.signed(snap.funding), c.signed(snap.funding))


def _sl(p: Position, snap: m.PositionSnapshot | None, c: Colours) -> Text:
    price = snap.stop_loss if snap is not None and snap.stop_loss is not None else p.stop_loss
    return protection(price, _resting(snap, p.stop_loss_order_id, "stop_loss"), c.sell, c)


def _tp(p: Position, snap: m.PositionSnapshot | None, c: Colours) -> Text:
    price = snap.take_profit if snap is not None and snap.take_profit is not None else p.take_profit
    return protection(price, _resting(snap, p.take_profit_order_id, "take_profit"), c.buy, c)


def _marked_snapshot(snap: m.PositionSnapshot, view: View) -> tuple[float, float, float | None]:
    """Mark, unrealised PnL and PnL % of a broker's position: its own mark when it sent one, else the
    desk's last price (an account polled every few seconds lags the feed)."""
    if snap.mark_price > 0:
        mark, upnl = snap.mark_price, snap.unrealized_pnl
    else:
        quote = view.state.quotes.get(snap.symbol)
        mark = quote.last if quote is not None else 0.0
        direction = 1 if snap.side == "buy" else -1
        upnl = (mark - snap.entry_price) * snap.quantity * direction if mark > 0 else 0.0
    margin = snap.entry_price * snap.quantity / max(snap.leverage, 1)
    return mark, upnl, (upnl / margin * 100 if margin > 0 and mark > 0 else None)


def paper_book_text(view: View) -> Text | None:
    """An earlier session's book that no longer acts (paper after a switch to live): one muted line."""
    book = view.state.paper_book
    if book is None:
        return None
    c = view.colours
    held = [p.symbol for p in book.positions if p.quantity > 0]
    where = f": {', '.join(held)}" if held else ""
    return Text(
        f"{book.mode} book (not acting) · balance {book.balance_total:,.2f} · {len(held)} position"
        f"{'s' if len(held) != 1 else ''}{where}",
        style=c.muted,
        no_wrap=True,
        overflow="ellipsis",
    )


def net_pnl(view: View) -> tuple[float, float, float, float]:
    """(net, realised today, fees today, unrealised): net = realised − fees + unrealised."""
    st = view.state
    realized = st.realized_today(view.now_ms)
    fees = st.fees_today(view.now_ms)
    unreal = st.portfolio.unrealized_pnl()
    return realized - fees + unreal, realized, fees, unreal


def totals(view: View) -> Text:
    pf = view.state.portfolio
    c = view.colours
    net, realized, fees, unreal = net_pnl(view)
    short = view.narrow  # 80 columns: the same figures, shorter labels
    out = Text(no_wrap=True, overflow="ellipsis")
    out.append("Equity ", style=c.muted)
    out.append(f"{pf.equity():,.2f}", style="bold")
    # "today" is the point: equity keeps what earlier days made, this net starts again at 00:00 UTC.
    out.append("  Today " if short else "  Net today ", style=c.muted)
    out.append(f"{net:+,.2f}", style=f"bold {c.signed(net)}")
    out.append(" = realised " if short else "  = realised today ", style=c.muted)
    out.append(f"{realized:+,.2f}", style=c.signed(realized))
    out.append(" − fees ", style=c.muted)
    out.append(f"{fees:,.2f}")
    out.append(" + unreal. " if short else " + unrealised ", style=c.muted)
    out.append(f"{unreal:+,.2f}", style=c.signed(unreal))
    return out


class PositionsTable(KeyedTable):
    """The positions table with a selected position (for the close key)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "move(-1)", "Up", show=False),
        Binding("down", "move(1)", "Down", show=False),
        Binding("left", "move(-1)", "Left", show=False),
        Binding("right", "move(1)", "Right", show=False),
    ]

    def action_move(self, step: int) -> None:
        pane = next((a for a in self.ancestors if isinstance(a, PositionsPane)), None)
        if pane is not None:
            pane.move_selection(step)

    def on_focus(self) -> None:
        self.app.call_later(self.app.refresh_desk)  # type: ignore[attr-defined]

    def on_blur(self) -> None:
        self.app.call_later(self.app.refresh_desk)  # type: ignore[attr-defined]


class PositionsPane(Pane):
    TITLE = "Positions"

    def __init__(self, *, id: str | None = None, classes: str = "") -> None:
        super().__init__(id=id, classes=classes)
        self.selected: str | None = None
        self._symbols: list[str] = []

    def compose(self) -> ComposeResult:
        yield PositionsTable(id="positions-table")
        yield LiveText("No open positions.", id="positions-none")
        yield LiveText(id="positions-totals", fixed=True)
        yield LiveText(id="positions-paper-book", fixed=True)

    def open_count(self, view: View) -> int:
        return len(position_cells(view))

    def selection(self) -> str | None:
        """The position the close key acts on: the one selected, else the first shown (None: none open)."""
        if self.selected in self._symbols:
            return self.selected
        return self._symbols[0] if self._symbols else None

    def move_selection(self, step: int) -> None:
        if not self._symbols:
            return
        current = self.selection()
        i = self._symbols.index(current) if current in self._symbols else 0
        self.selected = self._symbols[max(0, min(len(self._symbols) - 1, i + step))]
        self.app.call_later(self.app.refresh_desk)  # type: ignore[attr-defined]

    def show(self, view: View) -> None:
        table = self.query_one(KeyedTable)
        cells = position_cells(view)
        self._symbols = list(cells)
        marked = self.selection() if table.has_focus else None
        naked = unprotected(view)
        self.set_title(f"Positions ({len(cells)} open" + (f" · {len(naked)} UNPROTECTED)" if naked else ")"))
        # The close key is not in the footer (main.py): the pane's bottom border names it while one is open.
        key_label = getattr(self.app, "key_label", None)
        hint = f"{key_label('close_position')} closes the selected one" if cells and key_label is not None else ""
        if self.border_subtitle != hint:
            self.border_subtitle = hint
        none = self.query_one("#positions-none", LiveText)
        if table.display != bool(cells):
            table.display = bool(cells)
        if none.display != (not cells):
            none.display = not cells
        fields = fields_for(view)
        if not view.narrow:
            table.shape([("symbol", "Symbol"), *fields])
            table.sync(
                [
                    (sym, (txt(sym, "bold reverse" if sym == marked else "bold"), *(row[k] for k, _ in fields)))
                    for sym, row in cells.items()
                ]
            )
        else:
            table.shape([("name", ""), *((s, f"▸{s}" if s == marked else s) for s in cells)])
            table.sync(
                [(k, (txt(label, "bold"), *(cells[s][k] for s in cells))) for k, label in fields] if cells else []
            )
        self.query_one("#positions-totals", LiveText).set(totals(view))
        book = self.query_one("#positions-paper-book", LiveText)
        text = paper_book_text(view)
        if book.display != (text is not None):
            book.display = text is not None
        book.set(text or "")
