"""The book of positions, built only by folding fills from `OrderStatus` records, and marked to market.

One class serves the router (sizing, risk) and the desk (positions pane), so both see the same numbers.

How statuses become fills: `filled_qty`, `avg_price` and `fee` of an OrderStatus are cumulative for its
order id. The portfolio remembers the last cumulative figures per order id and folds only the increase
(quantity, the price of that increment, and its fee). A status that does not increase the filled quantity
(a repeat, or an older partial fill arriving late) changes nothing, so a status folded twice never counts
twice.

Positions are one-way (one net position per symbol, as Binance's default mode): a buy adds to a long or
reduces a short, and what exceeds a short opens a long at the fill price. Realised PnL is booked on the
reduced part at (fill − average entry) × quantity for a long, the mirror for a short. Fees are kept apart
from realised PnL (equity subtracts them).

Equity = base balance + realised PnL − fees + unrealised PnL. The base is the paper starting balance, or,
live, the exchange's figure set by `set_balance` (see there).
"""

from __future__ import annotations

import math
from typing import Any

import msgspec

from tui_trader import messages as m

# Quantities below this are float dust left by adding and subtracting steps: the position is flat.
QTY_EPSILON = 1e-9
# Orders whose intent and cumulative fill are remembered (to fold repeats once). The oldest are forgotten past
# this: a session of any length keeps a bounded book, and a status repeated after 10,000 newer orders is
# not a case that happens.
MAX_ORDERS = 10_000


class Position(msgspec.Struct, frozen=True, kw_only=True):
    """One open position. Immutable: every change replaces it in `Portfolio.positions` (the desk can keep
    a snapshot without copying)."""

    symbol: str
    side: m.PositionSide
    quantity: float  # > 0, in base units
    entry_price: float  # average entry of the open quantity
    leverage: int = 1
    stop_loss: float | None = None
    take_profit: float | None = None
    stop_loss_order_id: str | None = None
    take_profit_order_id: str | None = None
    mark_price: float = 0.0
    unrealized_pnl: float = 0.0
    # Return on the position's initial margin, in percent (what exchanges show as ROI): unrealised PnL ÷
    # (entry notional ÷ leverage) × 100.
    pnl_pct: float = 0.0
    realized_pnl: float = 0.0  # booked on this position's reductions so far
    fees: float = 0.0  # paid on this position's fills so far
    liquidation_price: float | None = None  # as the broker reports it; None when unknown
    opened_ts: int = 0

    @property
    def direction(self) -> int:
        return 1 if self.side == "long" else -1

    @property
    def notional(self) -> float:
        """Value at entry (what margin was posted against)."""
        return self.quantity * self.entry_price

    @property
    def margin(self) -> float:
        return self.notional / self.leverage

    @property
    def closing_side(self) -> m.Side:
        return m.closing_side(self.side)


class Fill(msgspec.Struct, frozen=True, kw_only=True):
    """One increment of a fill, as folded into the book."""

    order_id: str
    symbol: str
    side: m.Side
    purpose: m.StatusPurpose
    quantity: float  # this increment only
    price: float  # price of this increment
    fee: float  # fee of this increment
    realized_pnl: float  # booked by this increment (0 when it only adds)
    position_qty: float  # signed position after the fill (+ long, − short, 0 flat)
    opened: bool  # the fill opened a position where there was none (or flipped it)
    closed: bool  # the fill left the symbol flat
    ts: int


class _Cumulative(msgspec.Struct, kw_only=True):
    qty: float = 0.0
    avg: float = 0.0
    fee: float = 0.0


class _Intent(msgspec.Struct, frozen=True, kw_only=True):
    """What the router asked for with one command: the protective prices and leverage to attach."""

    purpose: str
    leverage: int
    stop_loss: float | None
    take_profit: float | None


class Portfolio:
    """Positions per symbol from fills, marked to the latest price. Pure: no clock, no I/O."""

    def __init__(self, starting_balance: float) -> None:
        self.starting_balance = starting_balance
        self._base = starting_balance
        self.balance_from_exchange = False
        self.positions: dict[str, Position] = {}
        self.realized_pnl = 0.0
        self.fees = 0.0
        self.marks: dict[str, float] = {}
        self._cum: dict[str, _Cumulative] = {}
        self._intents: dict[str, _Intent] = {}
        self.refused_statuses = 0  # fill statuses with a non-finite quantity, price or fee (ignored)

    # --- inputs ---------------------------------------------------------------------------------------

    def on_command(self, cmd: m.OrderCommand) -> None:
        """Remember what an order is for, so its fills carry the right leverage and protective prices."""
        self._intents[cmd.id] = _Intent(
            purpose=cmd.purpose, leverage=cmd.leverage, stop_loss=cmd.stop_loss, take_profit=cmd.take_profit
        )
        _bound(self._intents)

    def apply(self, st: m.OrderStatus) -> list[Fill]:
        """Fold one status into the book; returns the fill increment it carried (empty list if none)."""
        if st.status == "canceled":
            self._protective_gone(st)
        elif st.status == "accepted" and st.purpose in ("stop_loss", "take_profit"):
            self._protective_placed(st)
        if st.status not in ("filled", "partially_filled") or st.filled_qty <= 0:
            return []
        if not (math.isfinite(st.filled_qty) and 0 < st.avg_price < math.inf and math.isfinite(st.fee)):
            self.refused_statuses += 1  # a fill that is not a number would poison every figure of the book
            return []
        prev = self._cum.get(st.order_id)
        if prev is None:
            prev = self._cum[st.order_id] = _Cumulative()
            _bound(self._cum)
        d_qty = st.filled_qty - prev.qty
        if d_qty <= QTY_EPSILON:
            return []  # a repeat or an older cumulative figure arriving late: nothing new
        # Price of the increment: cumulative notional now minus cumulative notional before.
        price = (st.filled_qty * st.avg_price - prev.qty * prev.avg) / d_qty
        if price <= 0:
            price = st.avg_price
        d_fee = max(0.0, st.fee - prev.fee)
        prev.qty, prev.avg, prev.fee = st.filled_qty, st.avg_price, max(st.fee, prev.fee)
        fill = self._fold(st, d_qty, price, d_fee)
        return [fill]

    def mark(self, symbol: str, price: float) -> None:
        """Mark a symbol to its latest price (unrealised PnL and PnL %). A price that is not a finite positive
        number is ignored: one NaN mark would make equity NaN."""
        if not 0 < price < math.inf:
            return
        self.marks[symbol] = price
        pos = self.positions.get(symbol)
        if pos is not None:
            self.positions[symbol] = _marked(pos, price)

    def set_balance(self, total: float) -> None:
        """Live: the exchange's account value (ccxt's `total`, wallet plus unrealised PnL) replaces the
        starting balance. The base is chosen so equity() equals `total` right now; fills and marks after
        this move equity on from there until the next balance arrives."""
        self._base = total - (self.realized_pnl - self.fees) - self.unrealized_pnl()
        self.balance_from_exchange = True

    def use_starting_balance(self) -> None:
        """Back to paper accounting: the starting balance is the base again."""
        self._base = self.starting_balance
        self.balance_from_exchange = False

    def set_liquidation_price(self, symbol: str, price: float | None) -> None:
        pos = self.positions.get(symbol)
        if pos is not None and pos.liquidation_price != price:
            self.positions[symbol] = msgspec.structs.replace(pos, liquidation_price=price)

    # --- figures --------------------------------------------------------------------------------------

    # Without positions (most of the time) no generator is built: the router asks for equity on every input.
    def unrealized_pnl(self) -> float:
        positions = self.positions
        return sum([p.unrealized_pnl for p in positions.values()]) if positions else 0

    def margin_in_use(self) -> float:
        """Initial margin of the open positions: entry notional ÷ leverage, summed."""
        positions = self.positions
        return sum([p.margin for p in positions.values()]) if positions else 0

    def equity(self) -> float:
        return self._base + self.realized_pnl - self.fees + self.unrealized_pnl()

    def free_equity(self) -> float:
        return self.equity() - self.margin_in_use()

    def position(self, symbol: str) -> Position | None:
        return self.positions.get(symbol)

    # --- folding --------------------------------------------------------------------------------------

    def _fold(self, st: m.OrderStatus, qty: float, price: float, fee: float) -> Fill:
        pos = self.positions.get(st.symbol)
        signed_before = 0.0 if pos is None else pos.quantity * pos.direction
        delta = qty if st.side == "buy" else -qty
        intent = self._intents.get(st.order_id)
        realized = 0.0
        opened = closed = False
        grew = True  # the fill opened or added to the position (then its protective orders apply)

        if pos is None or signed_before * delta > 0:
            # Opening or adding: new average entry weighted by quantity.
            old_qty = 0.0 if pos is None else pos.quantity
            new_qty = old_qty + qty
            entry = price if pos is None else (pos.entry_price * old_qty + price * qty) / new_qty
            base = (
                pos
                if pos is not None
                else Position(
                    symbol=st.symbol,
                    side="long" if delta > 0 else "short",
                    quantity=0.0,
                    entry_price=price,
                    leverage=intent.leverage if intent else 1,
                    opened_ts=st.ts,
                )
            )
            opened = pos is None
            pos = msgspec.structs.replace(base, quantity=round(new_qty, 12), entry_price=entry, fees=base.fees + fee)
        else:
            # Reducing (and possibly flipping): realise PnL on the reduced part at the average entry.
            grew = False
            reduced = min(qty, pos.quantity)
            realized = (price - pos.entry_price) * reduced * pos.direction
            remaining = round(pos.quantity - reduced, 12)
            excess = round(qty - reduced, 12)
            if remaining >= QTY_EPSILON:
                pos = msgspec.structs.replace(
                    pos, quantity=remaining, realized_pnl=pos.realized_pnl + realized, fees=pos.fees + fee
                )
            elif excess >= QTY_EPSILON:
                # Flipped: what exceeded the old position opens the other side at the fill price.
                opened = closed = grew = True
                pos = Position(
                    symbol=st.symbol,
                    side="long" if delta > 0 else "short",
                    quantity=excess,
                    entry_price=price,
                    leverage=intent.leverage if intent else 1,
                    fees=fee,
                    opened_ts=st.ts,
                )
            else:
                closed = True
                pos = None

        self.realized_pnl += realized
        self.fees += fee
        if pos is None:
            self.positions.pop(st.symbol, None)
        else:
            if grew:
                pos = self._protect(pos, st, intent)
            self.positions[st.symbol] = _marked(pos, self.marks.get(st.symbol, price))
        self.marks.setdefault(st.symbol, price)
        signed_after = 0.0 if pos is None else pos.quantity * pos.direction
        return Fill(
            order_id=st.order_id,
            symbol=st.symbol,
            side=st.side,
            purpose=st.purpose,
            quantity=qty,
            price=price,
            fee=fee,
            realized_pnl=realized,
            position_qty=signed_after,
            opened=opened,
            closed=closed,
            ts=st.ts,
        )

    @staticmethod
    def _protect(pos: Position, st: m.OrderStatus, intent: _Intent | None) -> Position:
        """An entry's fill carries its protective orders: attach their prices and ids to the position."""
        if st.purpose != "entry":
            return pos
        changes: dict[str, object] = {}
        if intent is not None:
            changes.update(leverage=intent.leverage, stop_loss=intent.stop_loss, take_profit=intent.take_profit)
        # The prices the broker actually placed (re-anchored on the fill) win over the plan at ref_price.
        if st.stop_loss_price is not None:
            changes["stop_loss"] = st.stop_loss_price
        if st.take_profit_price is not None:
            changes["take_profit"] = st.take_profit_price
        if st.stop_loss_order_id:
            changes["stop_loss_order_id"] = st.stop_loss_order_id
        if st.take_profit_order_id:
            changes["take_profit_order_id"] = st.take_profit_order_id
        return msgspec.structs.replace(pos, **changes) if changes else pos

    def _protective_placed(self, st: m.OrderStatus) -> None:
        """A protective order (re)placed, e.g. for what a partial close left: the position shows its id."""
        pos = self.positions.get(st.symbol)
        if pos is None or st.side != pos.closing_side:
            return
        key = "stop_loss_order_id" if st.purpose == "stop_loss" else "take_profit_order_id"
        if getattr(pos, key) != st.order_id:
            self.positions[st.symbol] = msgspec.structs.replace(pos, **{key: st.order_id})

    def _protective_gone(self, st: m.OrderStatus) -> None:
        """A canceled protective order no longer protects its position: clear its id (the desk shows it)."""
        pos = self.positions.get(st.symbol)
        if pos is None:
            return
        if st.order_id == pos.stop_loss_order_id:
            self.positions[st.symbol] = msgspec.structs.replace(pos, stop_loss_order_id=None)
        elif st.order_id == pos.take_profit_order_id:
            self.positions[st.symbol] = msgspec.structs.replace(pos, take_profit_order_id=None)


def _marked(pos: Position, price: float) -> Position:
    unrealized = (price - pos.entry_price) * pos.quantity * pos.direction
    margin = pos.margin
    pct = unrealized / margin * 100.0 if margin > 0 else 0.0
    return msgspec.structs.replace(pos, mark_price=price, unrealized_pnl=unrealized, pnl_pct=pct)


def _bound(orders: dict[Any, Any]) -> None:
    """Forget the oldest order (dicts keep insertion order) once MAX_ORDERS are remembered."""
    if len(orders) > MAX_ORDERS:
        del orders[next(iter(orders))]
