"""Positions: side, quantity, entry, mark, unrealised PnL and %, SL, TP, leverage, liquidation price; and the
account totals (equity, realised PnL today, fees today).

What is at risk is always on screen: positions come from the desk's `Portfolio` (folded from the same
commands and statuses the router folds) and from the acting broker's Account (the venue's positions and the
journal's, published by the executor at start, before any reconciliation answer). Each row shows its
stop-loss and take-profit price (as placed from the fill) and whether it rests at the venue: ✓ rests, ✗ does
not (the whole row's mark is red), … placed but not confirmed yet. An earlier paper session's book (a
non-acting Account) is one muted line, never a position at risk. Narrow terminals get the table transposed.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult

from tui_trader import messages as m
from tui_trader.portfolio.positions import Position
from tui_trader.ui import format as fmt
from tui_trader.ui.widgets.base import (
    Cell,
    Colours,
    KeyedTable,
    LiveText,
    Pane,
    View,
    num,
    txt,
)

RESTS, NOT_RESTING, UNCONFIRMED = "✓", "✗", "…"

FIELDS = (("side", "Side"), ("qty", "Qty"), ("entry", "Entry"), ("mark", "Mark"), ("upnl", "uPnL"),
          ("pnl_pct", "PnL %"), ("sl", "SL"), ("tp", "TP"), ("lev", "Lev"), ("liq", "Liq"))


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
        if _resting(snap, p.stop_loss_order_id, "stop_loss") is False or \
                _resting(snap, p.take_profit_order_id, "take_profit") is False:
            out.append(sym)
    for sym, snap in snaps.items():
        if sym not in acting and snap.quantity > 0 and not (
                snap.stop_loss_resting and snap.take_profit_resting):
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
            "sl": _sl(p, snap, c),
            "tp": _tp(p, snap, c),
            "lev": num(f"{p.leverage}x"),
            "liq": num(fmt.price(p.liquidation_price), c.warn),
        }
    for sym, snap in sorted(snaps.items()):
        if sym in out or snap.quantity <= 0:
            continue
        side = "long" if snap.side == "buy" else "short"
        mark, upnl, pct = _marked_snapshot(snap, view)
        out[sym] = {
            "side": txt(side.upper(), f"bold {c.side(side)}"),
            "qty": num(fmt.qty(snap.quantity)),
            "entry": num(fmt.price(snap.entry_price)),
            "mark": num(fmt.price(mark)),
            "upnl": num(fmt.signed(upnl), c.signed(upnl)),
            "pnl_pct": num(fmt.pct(pct) if pct is not None else fmt.DASH, c.signed(pct)),
            "sl": protection(snap.stop_loss, snap.stop_loss_resting, c.sell, c),
            "tp": protection(snap.take_profit, snap.take_profit_resting, c.buy, c),
            "lev": num(f"{snap.leverage}x"),
            "liq": num(fmt.price(snap.liquidation_price), c.warn),
        }
    return out


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
    return Text(f"{book.mode} book (not acting) · balance {book.balance_total:,.2f} · {len(held)} position"
                f"{'s' if len(held) != 1 else ''}{where}", style=c.muted, no_wrap=True, overflow="ellipsis")


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
        yield LiveText(id="positions-paper-book", fixed=True)

    def open_count(self, view: View) -> int:
        return len(position_cells(view))

    def show(self, view: View) -> None:
        table = self.query_one(KeyedTable)
        cells = position_cells(view)
        naked = unprotected(view)
        self.set_title(f"Positions ({len(cells)} open" + (f" · {len(naked)} UNPROTECTED)" if naked else ")"))
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
        book = self.query_one("#positions-paper-book", LiveText)
        text = paper_book_text(view)
        if book.display != (text is not None):
            book.display = text is not None
        book.set(text or "")
