"""A small mock of Bybit's v5 REST API (linear USDT perpetuals, unified account), enough for ccxt (bybit) to
load markets, set margin mode and leverage, place a market order with attached stopLoss / takeProfit, and
read the order, executions, positions and balance.

Attached SL/TP become the position's own stop and target (tpslMode Full); `set_price` fires them and the
position's other one goes with it, as on Bybit. Standalone: `python -m tests.net.mock_bybit --port 18082`.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from aiohttp import web

from .mock_http import Call, MockExchange, run_forever

FEE_RATE = 0.00055
SYMBOLS = {
    "BTCUSDT": {"base": "BTC", "tick": "0.10", "step": "0.001", "min": "0.001", "price": 60000.0},
    "ETHUSDT": {"base": "ETH", "tick": "0.01", "step": "0.01", "min": "0.01", "price": 2500.0},
}


# Risk limit tiers (position value cap in USDT, max leverage), the same for every symbol here.
RISK_LIMITS = [(2_000_000, 100), (4_000_000, 75)]


def ok(result: Any, msg: str = "OK") -> web.Response:
    return web.json_response({"retCode": 0, "retMsg": msg, "result": result, "retExtInfo": {}, "time": int(now())})


def now() -> str:
    return str(time.time_ns() // 1_000_000)


class MockBybit(MockExchange):
    name = "bybit"

    def __init__(self, balance: float = 10_000.0) -> None:
        super().__init__()
        self.prices = {k: v["price"] for k, v in SYMBOLS.items()}
        self.balance = balance
        self.margin_mode = "REGULAR_MARGIN"
        self.leverage: dict[str, str] = {}
        self.positions: dict[str, dict[str, Any]] = {}  # symbol → {"size": signed, "entry", "sl", "tp"}
        self.orders: dict[str, dict[str, Any]] = {}
        self.executions: list[dict[str, Any]] = []
        self._seq = 1_000
        self.clock_offset_ms = 0  # the server's clock ahead (+) or behind (-) the machine's, for skew tests
        self.slippage = 0.0  # market orders fill this fraction away from the price, against the taker
        self.hedge = False  # hedge position mode: every symbol answers with a buy-side (1) and a sell-side (2) row

    def routes(self):
        return {
            ("GET", "/v5/market/instruments-info"): self.instruments,
            ("GET", "/v5/market/time"): self.server_time,
            ("GET", "/v5/market/risk-limit"): self.risk_limit,
            ("GET", "/v5/user/query-api"): self.query_api,
            ("GET", "/v5/account/info"): self.account_info,
            ("POST", "/v5/account/set-margin-mode"): self.set_margin_mode,
            ("POST", "/v5/position/set-leverage"): self.set_leverage,
            ("POST", "/v5/order/create"): self.create,
            ("GET", "/v5/order/realtime"): self.realtime,
            ("GET", "/v5/execution/list"): self.execution_list,
            ("GET", "/v5/position/list"): self.position_list,
            ("POST", "/v5/position/trading-stop"): self.trading_stop,
            ("GET", "/v5/account/wallet-balance"): self.wallet_balance,
        }

    def _id(self) -> str:
        self._seq += 1
        return f"b0{self._seq:07d}-0000-4000-8000-000000000000"

    async def server_time(self, call: Call) -> web.Response:
        t = int(now()) + self.clock_offset_ms
        return web.json_response(
            {
                "retCode": 0,
                "retMsg": "OK",
                "retExtInfo": {},
                "time": t,
                "result": {"timeSecond": str(t // 1000), "timeNano": str(t * 1_000_000)},
            }
        )

    async def risk_limit(self, call: Call) -> web.Response:
        """Risk limits (leverage tiers): riskLimitValue is the tier's position value cap in USDT."""
        sym = call.params.get("symbol")
        rows = [
            {
                "id": i,
                "symbol": s,
                "riskLimitValue": str(cap),
                "maintenanceMargin": "0.005",
                "initialMargin": f"{1 / lever:.4f}",
                "isLowestRisk": int(i == 1),
                "maxLeverage": f"{lever:.2f}",
                "mmDeduction": "",
            }
            for s in SYMBOLS
            if sym in (None, s)
            for i, (cap, lever) in enumerate(RISK_LIMITS, 1)
        ]
        return ok({"category": "linear", "list": rows, "nextPageCursor": ""})

    async def instruments(self, call: Call) -> web.Response:
        rows = [
            {
                "symbol": s,
                "contractType": "LinearPerpetual",
                "status": "Trading",
                "baseCoin": spec["base"],
                "quoteCoin": "USDT",
                "settleCoin": "USDT",
                "launchTime": "1585526400000",
                "deliveryTime": "0",
                "deliveryFeeRate": "",
                "priceScale": "2",
                "leverageFilter": {"minLeverage": "1", "maxLeverage": "100.00", "leverageStep": "0.01"},
                "priceFilter": {"minPrice": "0.10", "maxPrice": "1999999.80", "tickSize": spec["tick"]},
                "lotSizeFilter": {
                    "maxOrderQty": "1190.000",
                    "minOrderQty": spec["min"],
                    "qtyStep": spec["step"],
                    "postOnlyMaxOrderQty": "1190.000",
                    "maxMktOrderQty": "500.000",
                    "minNotionalValue": "5",
                },
                "unifiedMarginTrade": True,
                "fundingInterval": 480,
                "copyTrading": "both",
                "upperFundingRate": "0.00375",
                "lowerFundingRate": "-0.00375",
                "isPreListing": False,
            }
            for s, spec in SYMBOLS.items()
        ]
        return ok({"category": "linear", "list": rows, "nextPageCursor": ""})

    async def query_api(self, call: Call) -> web.Response:
        return ok(
            {"id": "1", "readOnly": 0, "unified": 0, "uta": 1, "permissions": {"ContractTrade": ["Order", "Position"]}}
        )

    async def account_info(self, call: Call) -> web.Response:
        return ok({"unifiedMarginStatus": 4, "marginMode": self.margin_mode, "updatedTime": now()})

    async def set_margin_mode(self, call: Call) -> web.Response:
        self.margin_mode = call.params["setMarginMode"]  # account-wide on a unified account; setting it again is fine
        return ok({"reasons": []}, "Request accepted")

    async def set_leverage(self, call: Call) -> web.Response:
        sym, lev = call.params["symbol"], str(call.params["buyLeverage"])
        if self.leverage.get(sym) == lev:
            return web.json_response({"retCode": 110043, "retMsg": "Set leverage not modified", "result": {}})
        self.leverage[sym] = lev
        return ok({})

    def _fill(self, sym: str, side: str, qty: float, reduce_only: bool, link_id: str) -> dict[str, Any]:
        px = self.prices[sym]
        if self.slippage:  # against the taker, on the tick
            tick = float(SYMBOLS[sym]["tick"])
            px = round(round(px * (1 + self.slippage if side == "Buy" else 1 - self.slippage) / tick) * tick, 8)
        pos = self.positions.get(sym, {"size": 0.0, "entry": 0.0, "sl": "", "tp": ""})
        signed = qty if side == "Buy" else -qty
        if reduce_only:
            qty = min(qty, abs(pos["size"]))
            signed = qty if side == "Buy" else -qty
        if pos["size"] == 0 or (pos["size"] > 0) == (signed > 0):
            pos["entry"] = (abs(pos["size"]) * pos["entry"] + qty * px) / (abs(pos["size"]) + qty)
        pos["size"] = round(pos["size"] + signed, 8)
        if pos["size"] == 0:
            self.positions.pop(sym, None)
        else:
            self.positions[sym] = pos
        fee = qty * px * FEE_RATE
        self.balance -= fee
        oid, t = self._id(), now()
        order = {
            "orderId": oid,
            "orderLinkId": link_id,
            "symbol": sym,
            "side": side,
            "orderType": "Market",
            "price": "0",
            "qty": str(qty),
            "cumExecQty": str(qty),
            "cumExecValue": str(qty * px),
            "cumExecFee": str(fee),
            "avgPrice": str(px),
            "orderStatus": "Filled",
            "timeInForce": "IOC",
            "reduceOnly": reduce_only,
            "positionIdx": 0,
            "createdTime": t,
            "updatedTime": t,
            "stopOrderType": "",
            "takeProfit": "",
            "stopLoss": "",
            "tpslMode": "",
            "leavesQty": "0",
            "category": "linear",
        }
        self.orders[oid] = order
        self.executions.append(
            {
                "symbol": sym,
                "orderId": oid,
                "orderLinkId": link_id,
                "side": side,
                "execPrice": str(px),
                "execQty": str(qty),
                "execValue": str(qty * px),
                "execFee": str(fee),
                "feeRate": str(FEE_RATE),
                "execType": "Trade",
                "execId": oid + "-x",
                "execTime": t,
                "isMaker": False,
                "orderType": "Market",
                "category": "linear",
                "feeCurrency": "USDT",
            }
        )
        return order

    async def create(self, call: Call) -> web.Response:
        p = call.params
        order = self._fill(p["symbol"], p["side"], float(p["qty"]), bool(p.get("reduceOnly")), p.get("orderLinkId", ""))
        if p.get("stopLoss") or p.get("takeProfit"):
            pos = self.positions[p["symbol"]]
            pos["sl"], pos["tp"] = str(p.get("stopLoss", "")), str(p.get("takeProfit", ""))
            order.update(stopLoss=pos["sl"], takeProfit=pos["tp"], tpslMode=p.get("tpslMode", "Full"))
        return ok({"orderId": order["orderId"], "orderLinkId": order["orderLinkId"]})

    async def realtime(self, call: Call) -> web.Response:
        p = call.params
        rows = [
            o
            for o in self.orders.values()
            if p.get("orderId") in (None, o["orderId"]) and p.get("orderLinkId") in (None, o["orderLinkId"])
        ]
        return ok({"category": "linear", "list": rows, "nextPageCursor": ""})

    async def execution_list(self, call: Call) -> web.Response:
        sym, oid = call.params.get("symbol"), call.params.get("orderId")
        rows = [e for e in reversed(self.executions) if sym in (None, e["symbol"]) and oid in (None, e["orderId"])]
        return ok({"category": "linear", "list": rows, "nextPageCursor": ""})

    async def position_list(self, call: Call) -> web.Response:
        sym = call.params.get("symbol")
        rows = []
        for s, pos in self.positions.items():
            if sym not in (None, s):
                continue
            px = self.prices[s]
            rows.append(
                {
                    "positionIdx": 0,
                    "symbol": s,
                    "side": "Buy" if pos["size"] > 0 else "Sell",
                    "size": str(abs(pos["size"])),
                    "avgPrice": str(pos["entry"]),
                    "positionValue": str(abs(pos["size"]) * pos["entry"]),
                    "tradeMode": 0,
                    "leverage": self.leverage.get(s, "10"),
                    "markPrice": str(px),
                    "liqPrice": "",
                    "positionIM": "0",
                    "positionMM": "0",
                    "unrealisedPnl": str((px - pos["entry"]) * pos["size"]),
                    "curRealisedPnl": "0",
                    "takeProfit": pos["tp"],
                    "stopLoss": pos["sl"],
                    "tpslMode": "Full",
                    "createdTime": now(),
                    "updatedTime": now(),
                    "positionStatus": "Normal",
                }
            )
        if self.hedge:
            for s in SYMBOLS:
                if sym in (None, s) and s not in self.positions:
                    rows += [
                        {
                            "positionIdx": idx,
                            "symbol": s,
                            "side": "",
                            "size": "0",
                            "avgPrice": "0",
                            "positionValue": "0",
                            "tradeMode": 0,
                            "leverage": "10",
                            "markPrice": str(self.prices[s]),
                            "liqPrice": "",
                            "unrealisedPnl": "0",
                            "takeProfit": "",
                            "stopLoss": "",
                            "tpslMode": "Full",
                            "createdTime": now(),
                            "updatedTime": now(),
                            "positionStatus": "Normal",
                        }
                        for idx in (1, 2)
                    ]
        return ok({"category": "linear", "list": rows, "nextPageCursor": ""})

    async def trading_stop(self, call: Call) -> web.Response:
        pos = self.positions.get(call.params["symbol"])
        if pos is None:
            return web.json_response(
                {"retCode": 10001, "retMsg": "can not set tp/sl/ts for zero position", "result": {}}
            )
        pos["sl"] = "" if str(call.params.get("stopLoss")) == "0" else str(call.params.get("stopLoss", pos["sl"]))
        pos["tp"] = "" if str(call.params.get("takeProfit")) == "0" else str(call.params.get("takeProfit", pos["tp"]))
        return ok({})

    async def wallet_balance(self, call: Call) -> web.Response:
        b = str(self.balance)
        return ok(
            {
                "list": [
                    {
                        "accountType": "UNIFIED",
                        "totalEquity": b,
                        "totalWalletBalance": b,
                        "totalAvailableBalance": b,
                        "coin": [
                            {
                                "coin": "USDT",
                                "equity": b,
                                "walletBalance": b,
                                "availableToWithdraw": b,
                                "locked": "0",
                                "totalPositionIM": "0",
                                "totalOrderIM": "0",
                            }
                        ],
                    }
                ]
            }
        )

    def set_price(self, symbol: str, price: float) -> list[str]:
        self.prices[symbol] = price
        pos = self.positions.get(symbol)
        if pos is None:
            return []
        long = pos["size"] > 0
        sl, tp = float(pos["sl"] or 0), float(pos["tp"] or 0)
        hit = (sl and (price <= sl if long else price >= sl)) or (tp and (price >= tp if long else price <= tp))
        if not hit:
            return []
        order = self._fill(symbol, "Sell" if long else "Buy", abs(pos["size"]), True, "")
        return [order["orderId"]]


def main() -> None:
    parser = argparse.ArgumentParser(description="Mock Bybit v5 REST server on 127.0.0.1")
    parser.add_argument("--port", type=int, default=18082)
    run_forever(MockBybit(), parser.parse_args().port)


if __name__ == "__main__":
    main()
