"""Round trips from order statuses: each position from the fill that opened it to the fill that left it flat.

The same fold serves the backtest, `tui-trader trades` / `report` (statuses read from the journal) and the
desk: statuses go through `portfolio.Portfolio`, the one place that turns cumulative fill figures into fill
increments and books realised PnL, so a trip's PnL is exactly what the router and the positions pane saw.

A trip's `pnl` is the realised PnL of its reductions (before fees), `fees` every fee of its fills (the entry's
included), `funding` what funding payments cost it (paid +, received −: the backtest's, and paper's as journaled), and `net = pnl - fees - funding`. A fill
that flips a position closes one trip and opens the next; its fee is split between them by quantity.
Paper and live statuses are folded apart (they are different accounts).

Why a trip ended (`reason`): the purpose of the fill that left the position flat, named for a trader:
"signal" (a reduce-only close from an opposite signal), "stop_loss", "take_profit", "flatten", "kill",
"liquidation" and "protection_failed" (a close the broker made itself, told apart by its error text), or a
reason the caller gives per order id (the backtest's "end_of_data").
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from tui_trader import messages as m
from tui_trader.portfolio.positions import QTY_EPSILON, Fill, Portfolio

Reason = str
REASONS: tuple[str, ...] = (
    "signal",
    "stop_loss",
    "take_profit",
    "flatten",
    "kill",
    "liquidation",
    "protection_failed",
    "end_of_data",
)


class Trip(msgspec.Struct, frozen=True, kw_only=True):
    """One closed round trip."""

    symbol: str
    side: m.PositionSide
    quantity: float  # the largest size the position reached
    entry_ts: int
    exit_ts: int
    entry_price: float  # average of the opening fills
    exit_price: float  # average of the reducing fills
    pnl: float  # realised, before fees
    fees: float
    funding: float
    net: float
    reason: Reason
    mode: m.Mode
    entry_order_id: str
    exit_order_id: str

    @property
    def hold_ms(self) -> int:
        return self.exit_ts - self.entry_ts


class OpenTrip(msgspec.Struct, kw_only=True):
    """A position still open (or being built); becomes a Trip when it closes."""

    symbol: str
    side: m.PositionSide
    mode: m.Mode
    entry_ts: int
    entry_order_id: str
    qty: float = 0.0
    max_qty: float = 0.0
    entry_notional: float = 0.0
    entry_qty: float = 0.0
    exit_notional: float = 0.0
    exit_qty: float = 0.0
    pnl: float = 0.0
    fees: float = 0.0
    funding: float = 0.0

    @property
    def entry_price(self) -> float:
        return self.entry_notional / self.entry_qty if self.entry_qty else 0.0


def reason_of(st: m.OrderStatus) -> Reason:
    if st.purpose == "close":
        error = st.error or ""
        if error.startswith("liquidation"):
            return "liquidation"
        if error.startswith("protection_failed"):
            return "protection_failed"
        return "signal"
    return st.purpose


class TripBook:
    """Folds statuses one at a time (a running desk) or all at once (`round_trips`)."""

    def __init__(self, reasons: dict[str, Reason] | None = None) -> None:
        self.reasons = reasons if reasons is not None else {}
        self._books: dict[str, Portfolio] = {}
        self.open: dict[tuple[str, str], OpenTrip] = {}  # (mode, symbol) → trip in progress
        self.closed: list[Trip] = []

    def apply(self, st: m.OrderStatus) -> list[Trip]:
        """Fold one status; returns the trips it closed."""
        if st.filled_qty <= 0:
            return []  # accepted / canceled / rejected: no fill, nothing for a trip (protective ids do not matter here)
        book = self._books.get(st.mode)
        if book is None:
            book = self._books[st.mode] = Portfolio(0.0)
        done: list[Trip] = []
        for fill in book.apply(st):
            done += self._fill(st, fill)
        self.closed += done
        return done

    def add_funding(self, mode: m.Mode, symbol: str, amount: float) -> None:
        """A funding payment (positive = paid) while `symbol` is open: it counts against that trip."""
        trip = self.open.get((mode, symbol))
        if trip is not None:
            trip.funding += amount

    def _fill(self, st: m.OrderStatus, fill: Fill) -> list[Trip]:
        key = (st.mode, fill.symbol)
        trip = self.open.get(key)
        after = abs(fill.position_qty)
        done: list[Trip] = []
        if trip is None or (fill.opened and not (fill.closed and trip is not None)):
            # Opening (a trip in progress here would mean the book and this fold disagree: start afresh).
            self.open[key] = self._start(st, fill, fill.quantity, fill.fee)
            return done
        if not fill.closed and after > trip.qty + QTY_EPSILON:
            # Adding to the position.
            trip.qty = after
            trip.max_qty = max(trip.max_qty, after)
            trip.entry_notional += fill.price * fill.quantity
            trip.entry_qty += fill.quantity
            trip.fees += fill.fee
            return done
        reduced = fill.quantity - (after if fill.opened else 0.0)  # a flip's excess opens the next trip
        share = reduced / fill.quantity if fill.quantity > 0 else 1.0
        trip.exit_notional += fill.price * reduced
        trip.exit_qty += reduced
        trip.pnl += fill.realized_pnl
        trip.fees += fill.fee * share
        trip.qty = after if not fill.opened else 0.0
        if fill.closed:
            del self.open[key]
            done.append(self._finish(trip, st, fill))
            if fill.opened:
                self.open[key] = self._start(st, fill, after, fill.fee * (1 - share))
        return done

    @staticmethod
    def _start(st: m.OrderStatus, fill: Fill, qty: float, fee: float) -> OpenTrip:
        side: m.PositionSide = "long" if fill.position_qty > 0 else "short"
        return OpenTrip(
            symbol=fill.symbol,
            side=side,
            mode=st.mode,
            entry_ts=fill.ts,
            entry_order_id=fill.order_id,
            qty=qty,
            max_qty=qty,
            entry_notional=fill.price * qty,
            entry_qty=qty,
            fees=fee,
        )

    def _finish(self, trip: OpenTrip, st: m.OrderStatus, fill: Fill) -> Trip:
        reason = self.reasons.get(fill.order_id) or reason_of(st)
        return Trip(
            symbol=trip.symbol,
            side=trip.side,
            quantity=trip.max_qty,
            entry_ts=trip.entry_ts,
            exit_ts=fill.ts,
            entry_price=trip.entry_price,
            exit_price=trip.exit_notional / trip.exit_qty if trip.exit_qty else 0.0,
            pnl=trip.pnl,
            fees=trip.fees,
            funding=trip.funding,
            net=trip.pnl - trip.fees - trip.funding,
            reason=reason,
            mode=trip.mode,
            entry_order_id=trip.entry_order_id,
            exit_order_id=fill.order_id,
        )


def round_trips(statuses: Iterable[m.OrderStatus], reasons: dict[str, Reason] | None = None) -> TripBook:
    """Fold every status in order; the result holds the closed trips and the ones still open."""
    book = TripBook(reasons)
    for st in statuses:
        book.apply(st)
    return book
