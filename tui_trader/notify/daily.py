"""The figures of one UTC trading day as the notifier saw them: fills, closed trades, realised PnL, fees.

Folded from the fills on trading-order-status alone (a notifier runs anywhere, with no journal): each
symbol's net quantity and average entry; a fill against the position realises (fill − entry) × quantity.
A close of a position opened before the notifier started uses the entry price of the last Account snapshot,
and is counted apart when none is known, so the summary never invents a figure.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tui_trader import messages as m

DAY_MS = 86_400_000
_EPS = 1e-12


@dataclass
class _Book:
    qty: float = 0.0  # signed: > 0 long, < 0 short
    entry: float = 0.0


@dataclass
class DayFigures:
    day: int  # UTC day number (epoch ms // DAY_MS)
    since_ms: int  # first moment seen this day (the notifier may start mid-day)
    fills: int = 0
    closed_trades: int = 0
    realised: float = 0.0
    fees: float = 0.0
    unknown_entries: int = 0  # closes whose entry price was not known: not in `realised`
    by_symbol: dict[str, float] = field(default_factory=dict)


class DailyFold:
    def __init__(self) -> None:
        self.books: dict[str, _Book] = {}
        self.account_entries: dict[str, tuple[float, float]] = {}  # symbol → (signed qty, entry) last seen
        self.today: DayFigures | None = None

    def roll(self, now_ms: int) -> DayFigures | None:
        """The figures of the day that ended, when `now_ms` is on a later UTC day than the one being counted."""
        if now_ms < DAY_MS:  # a replay clock before its first event: no day yet
            return None
        day = now_ms // DAY_MS
        if self.today is None:
            self.today = DayFigures(day=day, since_ms=now_ms)
            return None
        if day <= self.today.day:
            return None
        ended, self.today = self.today, DayFigures(day=day, since_ms=day * DAY_MS)
        return ended

    def on_account(self, a: m.Account) -> None:
        if not a.acting:
            return
        self.account_entries = {
            p.symbol: (p.quantity if p.side == "buy" else -p.quantity, p.entry_price) for p in a.positions
        }

    def on_fill(self, st: m.OrderStatus) -> None:
        """A final fill (status "filled") of any purpose, on the day `st.ts` belongs to."""
        if self.today is None:
            self.roll(st.ts)
        day = self.today
        qty = st.filled_qty
        if day is None or qty <= 0 or st.avg_price <= 0:
            return
        day.fills += 1
        day.fees += st.fee
        book = self.books.setdefault(st.symbol, _Book())
        signed = qty if st.side == "buy" else -qty
        reducing = st.purpose in ("close", "flatten", "kill", "stop_loss", "take_profit")
        if abs(book.qty) < _EPS and reducing:
            # A close of a position this fold never saw open: the last Account snapshot's entry, if any.
            known = self.account_entries.get(st.symbol)
            if known is None or known[1] <= 0 or known[0] * signed >= 0:
                day.unknown_entries += 1
                day.closed_trades += 1
                return
            book.qty, book.entry = known
        if book.qty * signed >= 0:  # opening or adding: average the entry
            total = abs(book.qty) + qty
            book.entry = (book.entry * abs(book.qty) + st.avg_price * qty) / total
            book.qty += signed
            return
        closed = min(abs(book.qty), qty)
        direction = 1.0 if book.qty > 0 else -1.0
        pnl = (st.avg_price - book.entry) * closed * direction
        day.realised += pnl
        day.by_symbol[st.symbol] = day.by_symbol.get(st.symbol, 0.0) + pnl
        book.qty += signed
        if abs(book.qty) < _EPS:
            book.qty, book.entry = 0.0, 0.0
            day.closed_trades += 1
        elif book.qty * direction < 0:  # went through zero: the rest opens the other side at this price
            day.closed_trades += 1
            book.entry = st.avg_price
