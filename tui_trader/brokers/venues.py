"""What differs between exchanges behind ccxt: ids, amounts, leverage calls, where protection lives.

Binance USD-M cannot attach SL/TP to an entry, so its protection is two reduce-only algo
orders (STOP_MARKET, TAKE_PROFIT_MARKET) placed right after the fill; OKX and Bybit attach them to the entry
order (`stopLoss` / `takeProfit`), and the exchange cancels the other leg when one fills. OKX sizes in
contracts (1 BTC-USDT-SWAP = 0.01 BTC); the desk always speaks base units and converts here.
"""

from __future__ import annotations

from typing import Any

import ccxt.async_support as ccxt

from tui_trader.instruments import InstrumentRules

# Answers that mean "already so": not an error when setting leverage or margin mode once per symbol.
_ALREADY_SET = ("-4046", "No need to change", "110043", "110026", "not modified", "59107")


def already_set(err: BaseException) -> bool:
    if isinstance(err, (ccxt.MarginModeAlreadySet, ccxt.NoChange)):
        return True
    text = str(err)
    return any(marker in text for marker in _ALREADY_SET)


def rules_from_market(symbol: str, market: dict[str, Any]) -> InstrumentRules:
    """InstrumentRules in base units from a ccxt market (contracts converted with contractSize)."""
    size = float(market.get("contractSize") or 1.0)
    precision, limits = market.get("precision") or {}, market.get("limits") or {}
    step = float(precision.get("amount") or 1.0) * size
    min_amount = (limits.get("amount") or {}).get("min")
    min_cost = (limits.get("cost") or {}).get("min")
    return InstrumentRules(
        symbol=symbol,
        tick=float(precision.get("price") or 0.01),
        step=step,
        min_qty=float(min_amount) * size if min_amount else step,
        min_notional=float(min_cost or 0.0),
        contract_size=size,
    )


class Venue:
    """Binance USD-M behaviour; OKX and Bybit override what differs."""

    name = "binanceusdm"
    attached_protection = False  # SL/TP ride on the entry order (the exchange runs the OCO)
    # Signed requests carry their own expiry (Binance: timestamp + recvWindow): past it an order that timed out
    # can no longer execute, so looking it up after that is a final answer.
    expiring_requests = True
    # The venue lists the protective orders as orders of their own (Binance's algo orders, OKX's attached
    # TP/SL once the entry filled): their trigger and size are read back from it, not assumed.
    lists_protection = True

    def __init__(self, trigger_price: str = "mark") -> None:
        # The price that triggers protective orders (risk.trigger_price): "mark" or "last" (the last trade).
        # Each venue names it its own way (working_price) and the paper broker triggers on the same one.
        self.trigger_price = trigger_price

    def working_price(self) -> str:
        """Binance's workingType: MARK_PRICE or CONTRACT_PRICE (the last trade)."""
        return "CONTRACT_PRICE" if self.trigger_price == "last" else "MARK_PRICE"

    def client_id(self, order_id: str) -> str:
        """Our uuid in the exchange's client-order-id format (Binance: up to 36 chars, uuid as is)."""
        return order_id

    def amount(self, ex: Any, symbol: str, base_qty: float) -> float:
        """Base units → the exchange's amount unit, rounded to its precision."""
        size = float(ex.market(symbol).get("contractSize") or 1.0)
        return float(ex.amount_to_precision(symbol, base_qty / size))

    def base_qty(self, ex: Any, symbol: str, amount: float) -> float:
        size = float(ex.market(symbol).get("contractSize") or 1.0)
        return round(amount * size, 12)

    async def prepare(self, ex: Any, symbol: str, leverage: int, margin_mode: str) -> list[str]:
        """Set margin mode and leverage; returns what was already set (for the log)."""
        noted = []
        try:
            await ex.set_margin_mode(margin_mode, symbol)
        except ccxt.BaseError as err:
            if not already_set(err):
                raise
            noted.append("margin mode")
        try:
            await ex.set_leverage(leverage, symbol)
        except ccxt.BaseError as err:
            if not already_set(err):
                raise
            noted.append("leverage")
        return noted

    def entry_params(
        self, client_id: str, margin_mode: str, stop_loss: float | None, take_profit: float | None
    ) -> dict[str, Any]:
        return {"clientOrderId": client_id}

    def reduce_params(self, client_id: str, margin_mode: str) -> dict[str, Any]:
        return {"clientOrderId": client_id, "reduceOnly": True}

    def protective_params(self, purpose: str, price: float, client_id: str) -> dict[str, Any]:
        key = "stopLossPrice" if purpose == "stop_loss" else "takeProfitPrice"
        return {key: price, "reduceOnly": True, "clientOrderId": client_id, "workingType": self.working_price()}

    def lookup_params(self, client_id: str, trigger: bool = False) -> dict[str, Any]:
        params: dict[str, Any] = {"clientOrderId": client_id}
        if trigger:
            params["trigger"] = True
        return params

    async def fetch_order(self, ex: Any, order_id: str, symbol: str) -> dict[str, Any]:
        return await ex.fetch_order(order_id, symbol)

    async def lookup(self, ex: Any, symbol: str, client_id: str, trigger: bool = False) -> dict[str, Any] | None:
        """The order with this client id, or None when the exchange has none (it was never placed)."""
        try:
            return await ex.fetch_order(None, symbol, self.lookup_params(client_id, trigger))
        except ccxt.OrderNotFound:
            return None

    async def cancel_symbol_protection(self, ex: Any, symbol: str) -> None:
        """Cancel every protective (conditional) order of the symbol, whoever placed it; regular orders stay.
        Binance: one request cancels the symbol's conditional orders."""
        await ex.cancel_all_orders(symbol, {"trigger": True})

    async def positions(self, ex: Any, symbols: list[str]) -> list[dict[str, Any]]:
        return await ex.fetch_positions(symbols)

    async def open_protection(self, ex: Any, symbol: str) -> list[dict[str, Any]]:
        """The symbol's open conditional orders (ccxt order dicts)."""
        return await ex.fetch_open_orders(symbol, None, None, {"trigger": True})

    async def amend_protection(
        self, ex: Any, symbol: str, stop_loss: float | None, take_profit: float | None, amount: float | None = None
    ) -> bool:
        """Move the SL/TP attached to a position to new triggers (after the fill is known) and, where they
        have a size of their own, to `amount` (the whole position, in the venue's unit); False where the
        venue offers no such call here (the entry's planned triggers stay)."""
        return False

    async def position_mode(self, ex: Any, symbols: list[str]) -> str:
        """ "hedge" or "one_way". Binance: GET /fapi/v1/positionSide/dual (dualSidePosition), account-wide."""
        answer = await ex.fetch_position_mode(symbols[0] if symbols else None)
        return "hedge" if answer.get("hedged") else "one_way"


class OkxVenue(Venue):
    name = "okx"
    attached_protection = True
    expiring_requests = False

    def client_id(self, order_id: str) -> str:
        return order_id.replace("-", "")  # clOrdId: at most 32 alphanumerics

    def working_price(self) -> str:
        """OKX's slTriggerPxType / tpTriggerPxType: "mark" or "last"."""
        return "last" if self.trigger_price == "last" else "mark"

    async def prepare(self, ex: Any, symbol: str, leverage: int, margin_mode: str) -> list[str]:
        # One call sets both on OKX (set-leverage carries mgnMode; net position mode).
        try:
            await ex.set_leverage(leverage, symbol, {"marginMode": margin_mode})
        except ccxt.BaseError as err:
            if not already_set(err):
                raise
            return ["leverage"]
        return []

    def entry_params(
        self, client_id: str, margin_mode: str, stop_loss: float | None, take_profit: float | None
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"clientOrderId": client_id, "marginMode": margin_mode}
        if stop_loss is not None:
            params["stopLoss"] = {"triggerPrice": stop_loss, "type": "market", "triggerPriceType": self.working_price()}
        if take_profit is not None:
            params["takeProfit"] = {
                "triggerPrice": take_profit,
                "type": "market",
                "triggerPriceType": self.working_price(),
            }
        return params

    def reduce_params(self, client_id: str, margin_mode: str) -> dict[str, Any]:
        return {"clientOrderId": client_id, "reduceOnly": True, "marginMode": margin_mode}

    async def open_protection(self, ex: Any, symbol: str) -> list[dict[str, Any]]:
        # The SL/TP attached to an entry become one algo order once it filled: "oco" with both legs,
        # "conditional" with one (GET /api/v5/trade/orders-algo-pending).
        rows: list[dict[str, Any]] = []
        for ord_type in ("oco", "conditional"):
            rows += await ex.fetch_open_orders(symbol, None, None, {"ordType": ord_type})
        return [o for o in rows if o.get("reduceOnly") is not False]

    async def cancel_symbol_protection(self, ex: Any, symbol: str) -> None:
        # Every open algo order of the symbol (the attached SL/TP rest as one).
        ids = [o["id"] for o in await self.open_protection(ex, symbol)]
        if ids:
            await ex.cancel_orders(ids, symbol, {"trigger": True})

    async def amend_protection(
        self, ex: Any, symbol: str, stop_loss: float | None, take_profit: float | None, amount: float | None = None
    ) -> bool:
        # The entry's attached SL/TP rest as an algo order once it filled, sized as the entry: its triggers
        # move to the prices from the fill, its size to the whole position when the entry added to one
        # (POST /api/v5/trade/amend-algos; "-1" order price = a market stop and target).
        # None open yet (the venue places it just after the fill): False, the planned triggers stay.
        request: dict[str, Any] = {"instId": ex.market(symbol)["id"]}
        if amount is not None:
            request["newSz"] = ex.amount_to_precision(symbol, amount)
        if stop_loss is not None:
            request.update(
                newSlTriggerPx=ex.price_to_precision(symbol, stop_loss),
                newSlOrdPx="-1",
                newSlTriggerPxType=self.working_price(),
            )
        if take_profit is not None:
            request.update(
                newTpTriggerPx=ex.price_to_precision(symbol, take_profit),
                newTpOrdPx="-1",
                newTpTriggerPxType=self.working_price(),
            )
        algos = await self.open_protection(ex, symbol)
        for algo in algos:
            await ex.privatePostTradeAmendAlgos({**request, "algoId": algo["id"]})
        return bool(algos)


class BybitVenue(Venue):
    name = "bybit"
    attached_protection = True
    expiring_requests = False
    lists_protection = False  # the SL/TP are fields of the position row

    def working_price(self) -> str:
        """Bybit's slTriggerBy / tpTriggerBy: MarkPrice or LastPrice."""
        return "LastPrice" if self.trigger_price == "last" else "MarkPrice"

    def entry_params(
        self, client_id: str, margin_mode: str, stop_loss: float | None, take_profit: float | None
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"clientOrderId": client_id}
        if stop_loss is not None:
            params.update(stopLoss={"triggerPrice": stop_loss}, slTriggerBy=self.working_price())
        if take_profit is not None:
            params.update(takeProfit={"triggerPrice": take_profit}, tpTriggerBy=self.working_price())
        return params

    async def fetch_order(self, ex: Any, order_id: str, symbol: str) -> dict[str, Any]:
        # Bybit's unified account only sees an order among the last 500: fine right after placing it.
        return await ex.fetch_order(order_id, symbol, {"acknowledged": True})

    async def lookup(self, ex: Any, symbol: str, client_id: str, trigger: bool = False) -> dict[str, Any] | None:
        market = ex.market(symbol)
        response = await ex.privateGetV5OrderRealtime(
            {"category": "linear", "symbol": market["id"], "orderLinkId": client_id}
        )
        rows = ((response or {}).get("result") or {}).get("list") or []
        return ex.parse_order(rows[0], market) if rows else None

    async def positions(self, ex: Any, symbols: list[str]) -> list[dict[str, Any]]:
        if len(symbols) == 1:
            return await ex.fetch_positions(symbols)
        # Bybit answers for one symbol or for a whole settle coin, not for a list.
        rows = await ex.fetch_positions(None, {"settleCoin": "USDT"})
        return [p for p in rows if p.get("symbol") in symbols]

    async def position_mode(self, ex: Any, symbols: list[str]) -> str:
        """Bybit has no position-mode read: in hedge mode every position row carries positionIdx 1 (buy side)
        or 2 (sell side); one-way rows carry 0."""
        rows = await self.positions(ex, symbols)
        hedged = any(str((row.get("info") or {}).get("positionIdx", "0")) in ("1", "2") for row in rows)
        return "hedge" if hedged else "one_way"

    async def amend_protection(
        self, ex: Any, symbol: str, stop_loss: float | None, take_profit: float | None, amount: float | None = None
    ) -> bool:
        # The attached SL/TP are the position's own stop and target (tpslMode Full: its whole size): set them
        # to the prices from the fill.
        market = ex.market(symbol)
        request = {"category": "linear", "symbol": market["id"], "tpslMode": "Full", "positionIdx": 0}
        if stop_loss is not None:
            request.update(stopLoss=ex.price_to_precision(symbol, stop_loss), slTriggerBy=self.working_price())
        if take_profit is not None:
            request.update(takeProfit=ex.price_to_precision(symbol, take_profit), tpTriggerBy=self.working_price())
        await ex.privatePostV5PositionTradingStop(request)
        return True

    async def cancel_symbol_protection(self, ex: Any, symbol: str) -> None:
        # Attached SL/TP are the position's own stop and target on Bybit: setting both to 0 removes them.
        market = ex.market(symbol)
        await ex.privatePostV5PositionTradingStop(
            {
                "category": "linear",
                "symbol": market["id"],
                "takeProfit": "0",
                "stopLoss": "0",
                "tpslMode": "Full",
                "positionIdx": 0,
            }
        )


VENUES: dict[str, type[Venue]] = {"binanceusdm": Venue, "okx": OkxVenue, "bybit": BybitVenue}


def venue_for(name: str, trigger_price: str = "mark") -> Venue:
    return VENUES[name](trigger_price)
