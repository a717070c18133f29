"""The ccxt broker's side of reconciliation and the watchdog (`brokers/reconciling.ReconcilingBroker`).

Reading the venue as the reconciliation sees it (positions, conditional orders one per leg) and the
operations that repair a difference: protect a position that already exists, cancel one conditional order,
look up whether a vanished position's stop-loss or take-profit filled. A mixin of `CcxtBroker`: it runs under
the broker's one-operation lock and uses its requests, venue and protection tracking.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import ccxt.async_support as ccxt

from tui_trader import messages as m
from tui_trader.brokers.base import Report, derived_id
from tui_trader.brokers.protection import Protection
from tui_trader.errors import BrokerError
from tui_trader.exchange import unified_symbol
from tui_trader.messages import ExchangeOrder, ExchangePosition, OrderRole

if TYPE_CHECKING:
    from tui_trader.brokers.requests import Requests
    from tui_trader.brokers.venues import Venue
    from tui_trader.instruments import InstrumentRules

log = logging.getLogger("tui_trader.brokers.ccxt_broker")


class CcxtReconciling:
    # The broker's own state, used here (see CcxtBroker).
    exchange: str
    venue: Venue
    req: Requests
    ex: Any
    protections: dict[str, Protection]
    settling: set[str]
    unknown: dict[str, tuple[m.OrderCommand, str]]
    _busy: asyncio.Lock
    _symbols: set[str]
    _rules: dict[str, InstrumentRules]

    if TYPE_CHECKING:

        def _load_rules(self, symbol: str) -> InstrumentRules | None: ...
        def _snapshot(self, pos: dict[str, Any]) -> m.PositionSnapshot | None: ...
        async def _cancel_protection(self, symbol: str, untracked_too: bool = False) -> list[Report]: ...
        async def _check_protection(self, symbol: str) -> list[Report]: ...
        async def _protect(
            self,
            cmd: m.OrderCommand,
            usym: str,
            prot: Protection,
            entry: Report,
            sl_id: str,
            tp_id: str,
            prices: tuple[float | None, float | None] | None = None,
        ) -> list[Report]: ...

    @property
    def can_protect_alone(self) -> bool:
        """Whether protective orders can be placed for a position that already exists (Binance's algo
        orders); OKX and Bybit attach them to the entry order only."""
        return not self.venue.attached_protection

    @property
    def sees_protection(self) -> bool:
        return bool(self.venue.lists_protection)

    def watched_symbols(self) -> set[str]:
        return set(self._symbols)

    async def exchange_view(self, symbols: set[str]) -> tuple[list[ExchangePosition], list[ExchangeOrder]]:
        """The exchange's open positions on these symbols and its open conditional orders on them.

        Symbols the exchange lists no market for are skipped (logged). Conditional orders are read where
        they are orders of their own (Binance); on OKX and Bybit protection rides on the position. A BrokerError
        that says why when the venue cannot be read."""
        async with self._busy:
            known = []
            for symbol in sorted(symbols):
                usym = unified_symbol(symbol)
                if usym in (self.ex.markets or {}):
                    known.append(usym)
                    self._symbols.add(symbol)
                else:
                    log.warning("%s: no market %s; its positions are not reconciled", self.exchange, usym)
            if not known:
                return [], []
            try:
                rows = await self.req.read(self.venue.positions, self.ex, known)
                positions = [p for p in (self._exchange_position(row) for row in rows) if p is not None]
                orders: list[ExchangeOrder] = []
                if self.can_protect_alone:
                    for usym in known:
                        pending = await self.req.read(self.ex.fetch_open_orders, usym, None, None, {"trigger": True})
                        orders += [o for o in (self._exchange_order(usym, row) for row in pending) if o is not None]
            except ccxt.BaseError as err:
                raise BrokerError(
                    f"cannot read positions and open orders to reconcile: {self.req.describe(err)}"
                ) from None
        return positions, orders

    def quantity_tolerance(self, symbol: str) -> float:
        """Half the symbol's quantity step: sizes closer than this are the same size."""
        rules = self._rules.get(symbol) or self._load_rules(symbol)
        return rules.step / 2 if rules else 1e-9

    def tick(self, symbol: str) -> float | None:
        rules = self._rules.get(symbol) or self._load_rules(symbol)
        return rules.tick if rules else None

    def track(
        self,
        symbol: str,
        side: m.PositionSide,
        quantity: float,
        entry_price: float,
        stop_loss: tuple[str, float] | None,
        take_profit: tuple[str, float] | None,
    ) -> None:
        """Watch a journaled position's protective orders from now on (a restarted desk knows them only
        from its journal): `poll()` then reports their fills."""
        prot = Protection(symbol, side, quantity, entry_price, 0)
        if stop_loss is not None:
            prot.stop_loss_id, prot.stop_loss_price = stop_loss
        if take_profit is not None:
            prot.take_profit_id, prot.take_profit_price = take_profit
        if prot.orders():
            self.protections[symbol] = prot
            self._symbols.add(symbol)

    async def protect_existing(
        self,
        base_id: str,
        symbol: str,
        side: m.PositionSide,
        quantity: float,
        entry_price: float,
        stop_loss: float,
        take_profit: float,
    ) -> tuple[Report, list[Report]]:
        """Fresh reduce-only stop-loss and take-profit for a position already open: the symbol's conditional
        orders are canceled first, the new ones get client ids derived from `base_id`. As for an entry, if
        one cannot be placed the position is closed at once (never a naked position).

        Returns a holder Report whose stop_loss_order_id / take_profit_order_id name what was placed, and
        the protective orders' reports."""
        async with self._busy:
            usym = unified_symbol(symbol)
            self._symbols.add(symbol)
            await self._cancel_protection(symbol, untracked_too=True)
            self.protections.pop(symbol, None)
            prot = Protection(symbol, side, quantity, entry_price, 0)
            fake = m.OrderCommand(
                id=base_id,
                symbol=symbol,
                side=m.opening_side(side),
                quantity=quantity,
                ref_price=entry_price,
                stop_loss=stop_loss,
                take_profit=take_profit,
                leverage=1,
                purpose="entry",
                mode="live",
                ts=0,
            )
            holder = Report(order_id=base_id, symbol=symbol, side=fake.side, purpose="entry", status="filled")
            reports = await self._protect(
                fake, usym, prot, holder, derived_id(base_id, "sl"), derived_id(base_id, "tp")
            )
            return holder, reports

    async def cancel_order(self, symbol: str, order_id: str) -> str | None:
        """Cancel one conditional order by its exchange id. None when it is gone; else the reason it is not."""
        async with self._busy:
            try:
                await self.req.call(self.ex.cancel_order, order_id, unified_symbol(symbol), {"trigger": True})
            except ccxt.OrderNotFound:
                return None  # already gone: what was wanted
            except ccxt.BaseError as err:
                return self.req.describe(err)
            return None

    async def protective_outcome(
        self,
        symbol: str,
        side: m.PositionSide,
        quantity: float,
        entry_price: float,
        stop_loss: tuple[str, float] | None,
        take_profit: tuple[str, float] | None,
    ) -> list[Report]:
        """A journaled position the exchange no longer has: did one of its protective orders close it while
        the desk was down? The fill (and the sibling's cancel) as `poll()` would have reported it; empty
        when neither filled."""
        async with self._busy:
            self.track(symbol, side, quantity, entry_price, stop_loss, take_profit)
            if symbol not in self.protections:
                return []
            try:
                return await self._check_protection(symbol)
            except ccxt.BaseError as err:
                log.warning("%s %s: protective orders not looked up: %s", self.exchange, symbol, self.req.text(err))
                return []
            finally:
                self.protections.pop(symbol, None)

    def _exchange_position(self, pos: dict[str, Any]) -> ExchangePosition | None:
        snap = self._snapshot(pos)
        if snap is None:
            return None
        lev = pos.get("leverage")
        return ExchangePosition(
            symbol=snap.symbol,
            side=m.position_side(snap.side),
            quantity=snap.quantity,
            entry_price=snap.entry_price,
            mark_price=snap.mark_price,
            leverage=int(float(lev)) if lev else None,
        )

    def _exchange_orders(self, usym: str, order: dict[str, Any]) -> list[ExchangeOrder]:
        """A venue's conditional order as the reconciliation sees it: one per leg. OKX's attached SL/TP rest as
        one "oco" algo order with both triggers and no client id of ours: its legs carry the ids the desk
        gave the position's stop-loss and take-profit, when it holds protection there on the closing side."""
        stop, target = order.get("stopLossPrice"), order.get("takeProfitPrice")
        if not (self.venue.attached_protection and (stop or target)):
            one = self._exchange_order(usym, order)
            return [one] if one is not None else []
        side = order.get("side")
        if side not in ("buy", "sell"):
            return []
        base, rest = usym.split("/", 1)
        symbol = base + rest.split(":", 1)[0]
        prot = self.protections.get(symbol)
        ours = prot is not None and m.closing_side(prot.side) == side
        qty = self.venue.base_qty(self.ex, usym, float(order.get("amount") or 0.0))
        out = []
        legs: tuple[tuple[m.ProtectiveRole, Any, str | None], ...] = (
            ("stop_loss", stop, prot.stop_loss_id if ours and prot else None),
            ("take_profit", target, prot.take_profit_id if ours and prot else None),
        )
        for role, price, cid in legs:
            if price:
                out.append(
                    ExchangeOrder(
                        symbol=symbol,
                        order_id=str(order.get("id")),
                        client_id=cid or order.get("clientOrderId"),
                        role=role,
                        side=side,
                        quantity=qty,
                        trigger_price=float(price),
                        reduce_only=order.get("reduceOnly") is not False,
                    )
                )
        return out

    def _exchange_order(self, usym: str, order: dict[str, Any]) -> ExchangeOrder | None:
        info = order.get("info") or {}
        kind = str(info.get("orderType") or info.get("type") or order.get("type") or "").upper()
        role: OrderRole
        if "TAKE_PROFIT" in kind or order.get("takeProfitPrice"):
            role = "take_profit"
        elif "STOP" in kind or order.get("stopLossPrice"):
            role = "stop_loss"
        else:
            role = "other"
        side = order.get("side")
        if side not in ("buy", "sell"):
            return None
        trigger = order.get("triggerPrice") or order.get("stopPrice")
        base, rest = usym.split("/", 1)
        return ExchangeOrder(
            symbol=base + rest.split(":", 1)[0],
            order_id=str(order.get("id")),
            client_id=order.get("clientOrderId"),
            role=role,
            side=side,
            quantity=self.venue.base_qty(self.ex, usym, float(order.get("amount") or 0.0)),
            trigger_price=float(trigger) if trigger else None,
            reduce_only=order.get("reduceOnly") is not False,
        )
