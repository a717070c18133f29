"""A mock Binance USD-M REST server that answers the requests ccxt (binanceusdm) makes, with Binance's JSON.

It keeps orders, algo (conditional) orders, positions and a USDT wallet: market orders fill at the price the
test sets (`set_price`), algo STOP_MARKET / TAKE_PROFIT_MARKET orders trigger when the test moves the price
through them (the sibling stays open: cancelling it is the client's job, as on the real exchange), and
reduce-only orders never open or flip a position. Errors use Binance's `{"code": -XXXX, "msg": …}` bodies.

Use it as a pytest fixture (`mock_binance` in tests/net/conftest.py), as a plain class, or standalone:
`python -m tests.net.mock_binance --port 18080`, then `exchange.api_base_url = "http://127.0.0.1:18080"`.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from aiohttp import web

from .mock_http import Call, MockExchange, run_forever

FEE_RATE = 0.0005

SYMBOLS: dict[str, dict[str, Any]] = {
    "BTCUSDT": {
        "base": "BTC",
        "tick": "0.10",
        "step": "0.001",
        "min_qty": "0.001",
        "notional": "100",
        "price_precision": 2,
        "qty_precision": 3,
        "price": 60000.0,
    },
    "ETHUSDT": {
        "base": "ETH",
        "tick": "0.01",
        "step": "0.001",
        "min_qty": "0.001",
        "notional": "20",
        "price_precision": 2,
        "qty_precision": 3,
        "price": 2500.0,
    },
    "SOLUSDT": {
        "base": "SOL",
        "tick": "0.0100",
        "step": "1",
        "min_qty": "1",
        "notional": "5",
        "price_precision": 4,
        "qty_precision": 0,
        "price": 150.0,
    },
}

ORDER_TYPES = ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"]


def err(code: int, msg: str, status: int = 400) -> web.Response:
    return web.json_response({"code": code, "msg": msg}, status=status)


def fmt(x: float, places: int = 8) -> str:
    return f"{x:.{places}f}".rstrip("0").rstrip(".") if x else "0"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class MockBinance(MockExchange):
    name = "binanceusdm"

    def __init__(self, *, balance: float = 10_000.0, prices: dict[str, float] | None = None) -> None:
        super().__init__()
        self.prices = {s: spec["price"] for s, spec in SYMBOLS.items()}
        self.prices.update(prices or {})
        self.wallet = balance
        self.leverage = {s: 20 for s in SYMBOLS}
        self.margin_type = {s: "CROSSED" for s in SYMBOLS}
        self.positions: dict[str, dict[str, float]] = {}  # symbol → {"amt": signed qty, "entry": price}
        self.orders: dict[int, dict[str, Any]] = {}
        self.algos: dict[int, dict[str, Any]] = {}
        self.trades: list[dict[str, Any]] = []
        self._next_id = 8_389_765_000
        self._next_algo = 3_000
        self.dual_side = False  # hedge mode (dualSidePosition): set by a test, read by GET positionSide/dual
        self.clock_offset_ms = 0  # the server's clock ahead (+) or behind (-) the machine's, for skew tests
        # Market orders fill this fraction away from the price, against the taker (a thin book, a fast
        # market); set per symbol in `slippage_by_symbol` or for all in `slippage`.
        # The venue's own log of nakedness: (symbol, from, to) on `self.clock` for every stretch in which a
        # position lacked a resting stop-loss or take-profit for its whole quantity.
        self.naked_spans: list[tuple[str, float, float]] = []
        self._naked_from: dict[str, float] = {}
        self.slippage = 0.0
        self.slippage_by_symbol: dict[str, float] = {}

    # --- routes -------------------------------------------------------------------------------------
    def routes(self):
        return {
            ("GET", "/fapi/v1/exchangeInfo"): self.exchange_info,
            ("GET", "/fapi/v1/time"): self.server_time,
            ("GET", "/fapi/v1/klines"): self.klines,
            ("POST", "/fapi/v1/leverage"): self.set_leverage,
            ("POST", "/fapi/v1/marginType"): self.set_margin_type,
            ("POST", "/fapi/v1/order"): self.new_order,
            ("GET", "/fapi/v1/order"): self.query_order,
            ("GET", "/fapi/v1/openOrders"): self.open_orders,
            ("DELETE", "/fapi/v1/allOpenOrders"): self.cancel_all_orders,
            ("POST", "/fapi/v1/algoOrder"): self.new_algo,
            ("GET", "/fapi/v1/algoOrder"): self.query_algo,
            ("DELETE", "/fapi/v1/algoOrder"): self.cancel_algo,
            ("GET", "/fapi/v1/openAlgoOrders"): self.open_algos,
            ("DELETE", "/fapi/v1/algoOpenOrders"): self.cancel_all_algos,
            ("GET", "/fapi/v1/userTrades"): self.user_trades,
            ("GET", "/fapi/v3/positionRisk"): self.position_risk,
            ("GET", "/fapi/v1/leverageBracket"): self.leverage_bracket,
            ("GET", "/fapi/v1/positionSide/dual"): self.position_side_dual,
            ("GET", "/fapi/v3/account"): self.account,
        }

    # --- market data ----------------------------------------------------------------------------------
    async def exchange_info(self, call: Call) -> web.Response:
        symbols = []
        for sym, spec in SYMBOLS.items():
            symbols.append(
                {
                    "symbol": sym,
                    "pair": sym,
                    "contractType": "PERPETUAL",
                    "deliveryDate": 4133404800000,
                    "onboardDate": 1569398400000,
                    "status": "TRADING",
                    "maintMarginPercent": "2.5000",
                    "requiredMarginPercent": "5.0000",
                    "baseAsset": spec["base"],
                    "quoteAsset": "USDT",
                    "marginAsset": "USDT",
                    "pricePrecision": spec["price_precision"],
                    "quantityPrecision": spec["qty_precision"],
                    "baseAssetPrecision": 8,
                    "quotePrecision": 8,
                    "underlyingType": "COIN",
                    "underlyingSubType": ["PoW"],
                    "triggerProtect": "0.0500",
                    "liquidationFee": "0.012500",
                    "marketTakeBound": "0.05",
                    "maxMoveOrderLimit": 10000,
                    "filters": [
                        {
                            "filterType": "PRICE_FILTER",
                            "minPrice": "556.80",
                            "maxPrice": "4529764",
                            "tickSize": spec["tick"],
                        },
                        {
                            "filterType": "LOT_SIZE",
                            "minQty": spec["min_qty"],
                            "maxQty": "1000",
                            "stepSize": spec["step"],
                        },
                        {
                            "filterType": "MARKET_LOT_SIZE",
                            "minQty": spec["min_qty"],
                            "maxQty": "120",
                            "stepSize": spec["step"],
                        },
                        {"filterType": "MAX_NUM_ORDERS", "limit": 200},
                        {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
                        {"filterType": "MIN_NOTIONAL", "notional": spec["notional"]},
                        {
                            "filterType": "PERCENT_PRICE",
                            "multiplierUp": "1.0500",
                            "multiplierDown": "0.9500",
                            "multiplierDecimal": "4",
                        },
                    ],
                    "orderTypes": ORDER_TYPES,
                    "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
                    "permissionSets": ["GRID", "COPY"],
                }
            )
        return web.json_response(
            {
                "timezone": "UTC",
                "serverTime": now_ms(),
                "futuresType": "U_MARGINED",
                "rateLimits": [
                    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400}
                ],
                "exchangeFilters": [],
                "assets": [{"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "-10000"}],
                "symbols": symbols,
            }
        )

    async def server_time(self, call: Call) -> web.Response:
        return web.json_response({"serverTime": now_ms() + self.clock_offset_ms})

    async def klines(self, call: Call) -> web.Response:
        sym = call.params.get("symbol", "BTCUSDT")
        limit = int(call.params.get("limit", 500))
        px = self.prices.get(sym, 1.0)
        step = 60_000
        end = now_ms() // step * step
        rows = []
        for i in range(limit):
            t = end - (limit - 1 - i) * step
            rows.append(
                [t, fmt(px), fmt(px), fmt(px), fmt(px), "1.000", t + step - 1, fmt(px), 10, "0.500", fmt(px / 2), "0"]
            )
        return web.json_response(rows)

    # --- account settings -----------------------------------------------------------------------------
    async def set_leverage(self, call: Call) -> web.Response:
        sym, lev = call.params["symbol"], int(call.params["leverage"])
        self.leverage[sym] = lev
        return web.json_response({"leverage": lev, "maxNotionalValue": "1000000", "symbol": sym})

    async def set_margin_type(self, call: Call) -> web.Response:
        sym, kind = call.params["symbol"], call.params["marginType"]
        if self.margin_type.get(sym) == kind:
            return err(-4046, "No need to change margin type.")
        self.margin_type[sym] = kind
        return web.json_response({"code": 200, "msg": "success"})

    # --- orders -----------------------------------------------------------------------------------------
    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _used_margin(self) -> float:
        return sum(abs(p["amt"]) * p["entry"] / self.leverage[s] for s, p in self.positions.items())

    def _fill(
        self, sym: str, side: str, qty: float, reduce_only: bool, client_id: str, orig_type: str = "MARKET"
    ) -> dict[str, Any] | web.Response:
        """Fill a market order at the current price (plus any slippage); update the position, the wallet and
        the trade log."""
        price = self.prices[sym]
        slip = self.slippage_by_symbol.get(sym, self.slippage)
        if slip and orig_type == "MARKET":
            tick = float(SYMBOLS[sym]["tick"])
            price = round(round(price * (1 + slip if side == "BUY" else 1 - slip) / tick) * tick, 8)
        pos = self.positions.get(sym, {"amt": 0.0, "entry": 0.0})
        signed = qty if side == "BUY" else -qty
        if reduce_only:
            if pos["amt"] == 0 or (pos["amt"] > 0) == (signed > 0):
                return err(-2022, "ReduceOnly Order is rejected.")
            qty = min(qty, abs(pos["amt"]))
            signed = qty if side == "BUY" else -qty
        else:
            needed = qty * price / self.leverage[sym]
            if needed > self.wallet - self._used_margin():
                return err(-2019, "Margin is insufficient.")
        realized = 0.0
        amt = pos["amt"]
        if amt == 0 or (amt > 0) == (signed > 0):
            new_amt = amt + signed
            pos["entry"] = (abs(amt) * pos["entry"] + qty * price) / abs(new_amt)
        else:
            closed = min(abs(signed), abs(amt))
            realized = (price - pos["entry"]) * closed * (1 if amt > 0 else -1)
            new_amt = amt + signed
            if abs(new_amt) > 1e-12 and (new_amt > 0) != (amt > 0):
                pos["entry"] = price
        pos["amt"] = round(new_amt, 8)
        if pos["amt"] == 0:
            self.positions.pop(sym, None)
        else:
            self.positions[sym] = pos
        fee = qty * price * FEE_RATE
        self.wallet += realized - fee
        oid, t = self._new_id(), now_ms()
        order = {
            "orderId": oid,
            "symbol": sym,
            "status": "FILLED",
            "clientOrderId": client_id,
            "price": "0.00",
            "avgPrice": fmt(price),
            "origQty": fmt(qty),
            "executedQty": fmt(qty),
            "cumQty": fmt(qty),
            "cumQuote": fmt(qty * price),
            "timeInForce": "GTC",
            "type": "MARKET",
            "reduceOnly": reduce_only,
            "closePosition": False,
            "side": side,
            "positionSide": "BOTH",
            "stopPrice": "0.00",
            "workingType": "CONTRACT_PRICE",
            "priceProtect": False,
            "origType": orig_type,
            "priceMatch": "NONE",
            "selfTradePreventionMode": "EXPIRE_MAKER",
            "goodTillDate": 0,
            "time": t,
            "updateTime": t,
        }
        self.orders[oid] = order
        self.trades.append(
            {
                "buyer": side == "BUY",
                "commission": fmt(fee),
                "commissionAsset": "USDT",
                "id": oid * 10,
                "maker": False,
                "orderId": oid,
                "price": fmt(price),
                "qty": fmt(qty),
                "quoteQty": fmt(qty * price),
                "realizedPnl": fmt(realized),
                "side": side,
                "positionSide": "BOTH",
                "symbol": sym,
                "time": t,
            }
        )
        return order

    async def new_order(self, call: Call) -> web.Response:
        p = call.params
        sym, side, kind = p["symbol"], p["side"], p["type"]
        cid = p.get("newClientOrderId", f"auto-{self._next_id}")
        if kind != "MARKET":
            return err(-1116, "Invalid orderType.")
        if any(o["clientOrderId"] == cid for o in self.orders.values()):
            return err(-4116, "ClientOrderId is duplicated.")
        result = self._fill(sym, side, float(p["quantity"]), p.get("reduceOnly") == "true", cid)
        return result if isinstance(result, web.Response) else web.json_response(result)

    def _find_order(self, params: dict[str, Any]) -> dict[str, Any] | None:
        if "orderId" in params:
            return self.orders.get(int(params["orderId"]))
        cid = params.get("origClientOrderId")
        return next((o for o in self.orders.values() if o["clientOrderId"] == cid), None)

    async def query_order(self, call: Call) -> web.Response:
        order = self._find_order(call.params)
        return web.json_response(order) if order else err(-2013, "Order does not exist.")

    async def open_orders(self, call: Call) -> web.Response:
        return web.json_response([])  # market orders fill at once; nothing rests

    async def cancel_all_orders(self, call: Call) -> web.Response:
        return web.json_response({"code": 200, "msg": "The operation of cancel all open order is done."})

    async def user_trades(self, call: Call) -> web.Response:
        sym, oid = call.params.get("symbol"), call.params.get("orderId")
        rows = [t for t in self.trades if t["symbol"] == sym and (oid is None or str(t["orderId"]) == str(oid))]
        return web.json_response(rows)

    # --- algo (conditional) orders ---------------------------------------------------------------------------
    def _would_trigger(self, algo: dict[str, Any], price: float) -> bool:
        trig, side, kind = float(algo["triggerPrice"]), algo["side"], algo["orderType"]
        if kind == "STOP_MARKET":
            return price <= trig if side == "SELL" else price >= trig
        return price >= trig if side == "SELL" else price <= trig  # TAKE_PROFIT_MARKET

    async def new_algo(self, call: Call) -> web.Response:
        p = call.params
        kind = p["type"]
        if kind not in ("STOP_MARKET", "TAKE_PROFIT_MARKET"):
            return err(-1116, "Invalid orderType.")
        cid = p.get("clientAlgoId", f"auto-algo-{self._next_algo}")
        if any(a["clientAlgoId"] == cid for a in self.algos.values()):
            return err(-4116, "ClientOrderId is duplicated.")
        self._next_algo += 1
        t = now_ms()
        algo = {
            "algoId": self._next_algo,
            "clientAlgoId": cid,
            "algoType": p.get("algoType", "CONDITIONAL"),
            "orderType": kind,
            "symbol": p["symbol"],
            "side": p["side"],
            "positionSide": "BOTH",
            "timeInForce": "GTC",
            "quantity": p.get("quantity", "0"),
            "algoStatus": "NEW",
            "actualOrderId": "",
            "actualPrice": "0.00000",
            "triggerPrice": p["triggerPrice"],
            "price": "0.00",
            "icebergQuantity": None,
            "tpTriggerPrice": "0.000",
            "tpPrice": "0.000",
            "slTriggerPrice": "0.000",
            "slPrice": "0.000",
            "tpOrderType": "",
            "selfTradePreventionMode": "EXPIRE_MAKER",
            "workingType": p.get("workingType", "CONTRACT_PRICE"),
            "priceMatch": "NONE",
            "closePosition": p.get("closePosition") == "true",
            "priceProtect": False,
            "reduceOnly": p.get("reduceOnly") == "true",
            "createTime": t,
            "updateTime": t,
            "triggerTime": 0,
            "goodTillDate": 0,
        }
        if self._would_trigger(algo, self.prices[p["symbol"]]):
            return err(-2021, "Order would immediately trigger.")
        self.algos[algo["algoId"]] = algo
        return web.json_response(algo)

    def _find_algo(self, params: dict[str, Any]) -> dict[str, Any] | None:
        if "algoId" in params:
            return self.algos.get(int(params["algoId"]))
        cid = params.get("clientAlgoId")
        return next((a for a in self.algos.values() if a["clientAlgoId"] == cid), None)

    async def query_algo(self, call: Call) -> web.Response:
        algo = self._find_algo(call.params)
        return web.json_response(algo) if algo else err(-2013, "Order does not exist.")

    async def cancel_algo(self, call: Call) -> web.Response:
        algo = self._find_algo(call.params)
        if algo is None or algo["algoStatus"] != "NEW":
            return err(-2011, "Unknown order sent.")
        algo["algoStatus"], algo["updateTime"] = "CANCELED", now_ms()
        return web.json_response(
            {"algoId": algo["algoId"], "clientAlgoId": algo["clientAlgoId"], "code": "200", "msg": "success"}
        )

    async def open_algos(self, call: Call) -> web.Response:
        sym = call.params.get("symbol")
        return web.json_response(
            [a for a in self.algos.values() if a["algoStatus"] == "NEW" and sym in (None, a["symbol"])]
        )

    async def cancel_all_algos(self, call: Call) -> web.Response:
        sym = call.params.get("symbol")
        for a in self.algos.values():
            if a["algoStatus"] == "NEW" and a["symbol"] == sym:
                a["algoStatus"], a["updateTime"] = "CANCELED", now_ms()
        return web.json_response({"code": 200, "msg": "The operation of cancel all open order is done."})

    def after_change(self) -> None:
        t = self.clock()
        for sym in sorted(set(self.positions) | set(self._naked_from)):
            pos = self.positions.get(sym)
            naked = pos is not None and not self.protected(sym)
            if naked:
                self._naked_from.setdefault(sym, t)
            elif sym in self._naked_from:
                self.naked_spans.append((sym, self._naked_from.pop(sym), t))

    def protected(self, sym: str) -> bool:
        qty = abs(self.positions[sym]["amt"])
        kinds = {
            a["orderType"]
            for a in self.algos.values()
            if a["symbol"] == sym
            and a["algoStatus"] == "NEW"
            and a["reduceOnly"]
            and (a["closePosition"] or abs(float(a["quantity"]) - qty) < 1e-9)
        }
        return {"STOP_MARKET", "TAKE_PROFIT_MARKET"} <= kinds

    def longest_naked(self) -> tuple[float, str]:
        """The longest stretch without both protective orders (seconds on `self.clock`), and its symbol."""
        now = self.clock()
        spans = self.naked_spans + [(sym, t0, now) for sym, t0 in self._naked_from.items()]
        return max(((t1 - t0, sym) for sym, t0, t1 in spans), default=(0.0, ""))

    def set_price(self, symbol: str, price: float) -> list[str]:
        """Move the market; algo orders crossed by the move trigger and fill. Returns the triggered client ids."""
        self.prices[symbol] = price
        fired = []
        for algo in list(self.algos.values()):
            if algo["symbol"] != symbol or algo["algoStatus"] != "NEW" or not self._would_trigger(algo, price):
                continue
            result = self._fill(
                symbol, algo["side"], float(algo["quantity"]), True, f"algo-{algo['algoId']}", algo["orderType"]
            )
            t = now_ms()
            if isinstance(result, web.Response):  # nothing left to reduce
                algo["algoStatus"], algo["updateTime"] = "EXPIRED", t
                continue
            algo.update(
                algoStatus="FINISHED",
                actualOrderId=str(result["orderId"]),
                actualPrice=result["avgPrice"],
                triggerTime=t,
                updateTime=t,
            )
            fired.append(algo["clientAlgoId"])
        self.after_change()
        return fired

    # --- positions and balance ------------------------------------------------------------------------------
    def _position_row(self, sym: str, pos: dict[str, float]) -> dict[str, Any]:
        mark, amt, entry = self.prices[sym], pos["amt"], pos["entry"]
        lev = self.leverage[sym]
        upnl = (mark - entry) * amt
        margin = abs(amt) * entry / lev
        if amt > 0:
            liq = (entry * amt - margin) / (amt * (1 - 0.004))
        else:
            liq = (entry * -amt + margin) / (-amt * (1 + 0.004))
        return {
            "symbol": sym,
            "positionSide": "BOTH",
            "positionAmt": fmt(amt),
            "entryPrice": fmt(entry),
            "breakEvenPrice": fmt(entry),
            "markPrice": fmt(mark),
            "unRealizedProfit": fmt(upnl),
            "liquidationPrice": fmt(liq),
            "isolatedMargin": fmt(margin + upnl),
            "notional": fmt(amt * mark),
            "marginAsset": "USDT",
            "isolatedWallet": fmt(margin),
            "initialMargin": fmt(abs(amt) * mark / lev),
            "maintMargin": fmt(abs(amt) * mark * 0.004),
            "positionInitialMargin": fmt(abs(amt) * mark / lev),
            "openOrderInitialMargin": "0",
            "adl": 1,
            "bidNotional": "0",
            "askNotional": "0",
            "updateTime": now_ms(),
        }

    async def position_risk(self, call: Call) -> web.Response:
        sym = call.params.get("symbol")
        rows = [self._position_row(s, p) for s, p in self.positions.items() if sym in (None, s)]
        return web.json_response(rows)

    async def position_side_dual(self, call: Call) -> web.Response:
        return web.json_response({"dualSidePosition": self.dual_side})

    async def leverage_bracket(self, call: Call) -> web.Response:
        brackets = [
            {
                "bracket": 1,
                "initialLeverage": 125,
                "notionalCap": 50000,
                "notionalFloor": 0,
                "maintMarginRatio": 0.004,
                "cum": 0.0,
            },
            {
                "bracket": 2,
                "initialLeverage": 100,
                "notionalCap": 600000,
                "notionalFloor": 50000,
                "maintMarginRatio": 0.005,
                "cum": 50.0,
            },
        ]
        return web.json_response([{"symbol": s, "notionalCoef": 1.0, "brackets": brackets} for s in SYMBOLS])

    async def account(self, call: Call) -> web.Response:
        upnl = sum((self.prices[s] - p["entry"]) * p["amt"] for s, p in self.positions.items())
        used = self._used_margin()
        avail = self.wallet - used
        asset = {
            "asset": "USDT",
            "walletBalance": fmt(self.wallet),
            "unrealizedProfit": fmt(upnl),
            "marginBalance": fmt(self.wallet + upnl),
            "maintMargin": "0",
            "initialMargin": fmt(used),
            "positionInitialMargin": fmt(used),
            "openOrderInitialMargin": "0",
            "crossWalletBalance": fmt(avail),
            "crossUnPnl": "0",
            "availableBalance": fmt(avail),
            "maxWithdrawAmount": fmt(avail),
            "marginAvailable": True,
            "updateTime": now_ms(),
        }
        return web.json_response(
            {
                "totalInitialMargin": fmt(used),
                "totalMaintMargin": "0",
                "totalWalletBalance": fmt(self.wallet),
                "totalUnrealizedProfit": fmt(upnl),
                "totalMarginBalance": fmt(self.wallet + upnl),
                "totalPositionInitialMargin": fmt(used),
                "totalOpenOrderInitialMargin": "0",
                "totalCrossWalletBalance": fmt(avail),
                "totalCrossUnPnl": "0",
                "availableBalance": fmt(avail),
                "maxWithdrawAmount": fmt(avail),
                "assets": [asset],
                "positions": [
                    {
                        "symbol": s,
                        "positionSide": "BOTH",
                        "positionAmt": fmt(p["amt"]),
                        "unrealizedProfit": fmt((self.prices[s] - p["entry"]) * p["amt"]),
                        "isolatedMargin": "0",
                        "notional": fmt(p["amt"] * self.prices[s]),
                        "isolatedWallet": "0",
                        "initialMargin": "0",
                        "maintMargin": "0",
                        "updateTime": now_ms(),
                    }
                    for s, p in self.positions.items()
                ],
            }
        )

    # --- failure shortcuts ----------------------------------------------------------------------------------
    def fail_insufficient_margin(self, path: str = "/fapi/v1/order") -> None:
        self.fail("POST", path, "http", status=400, body={"code": -2019, "msg": "Margin is insufficient."})

    def fail_rate_limit(self, method: str, path: str, retry_after: int = 1) -> None:
        self.fail(
            method,
            path,
            "http",
            status=429,
            headers={"Retry-After": str(retry_after)},
            body={"code": -1003, "msg": "Too many requests; current limit of IP is 2400 requests per minute."},
        )

    def fail_server_error(self, method: str, path: str, times: int = 1) -> None:
        self.fail(
            method,
            path,
            "http",
            status=503,
            times=times,
            body={"code": -1001, "msg": "Internal error; unable to process your request. Please try again."},
        )


def main() -> None:
    parser = argparse.ArgumentParser(description="Mock Binance USD-M REST server on 127.0.0.1")
    parser.add_argument("--port", type=int, default=18080)
    args = parser.parse_args()
    run_forever(MockBinance(), args.port)


if __name__ == "__main__":
    main()
