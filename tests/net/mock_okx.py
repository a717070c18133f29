"""A small mock of OKX's v5 REST API for USDT swaps, enough for ccxt (okx) to load markets, set leverage,
place a market order with attached SL/TP (`attachAlgoOrds`), amend the algo order they become
(`amend-algos`), and read the order, fills, positions and balance.

Sizes are in contracts (BTC-USDT-SWAP: 1 contract = 0.01 BTC), as on OKX. Attached SL/TP become one pending
OCO algo order after the fill; `set_price` fires it (the other leg goes with it, as OKX does). `slippage`
fills market orders that fraction away from the price, against the taker.
Standalone: `python -m tests.net.mock_okx --port 18081`.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from aiohttp import web

from .mock_http import Call, MockExchange, run_forever

FEE_RATE = 0.0005
INSTRUMENTS = {
    "BTC-USDT-SWAP": {
        "ctVal": "0.01",
        "ctValCcy": "BTC",
        "lotSz": "0.01",
        "minSz": "0.01",
        "tickSz": "0.1",
        "price": 60000.0,
    },
    "ETH-USDT-SWAP": {
        "ctVal": "0.1",
        "ctValCcy": "ETH",
        "lotSz": "0.01",
        "minSz": "0.01",
        "tickSz": "0.01",
        "price": 2500.0,
    },
}


# Leverage tiers per swap in contracts: (minSz, maxSz, maxLever). BTC: 1 contract = 0.01 BTC.
TIERS = {
    "BTC-USDT-SWAP": [(0, 500, 100), (501, 1000, 75), (1001, 2000, 50)],
    "ETH-USDT-SWAP": [(0, 2000, 100), (2001, 4000, 75)],
}


def ok(data: list[dict[str, Any]]) -> web.Response:
    return web.json_response({"code": "0", "msg": "", "data": data})


def now() -> str:
    return str(time.time_ns() // 1_000_000)


class MockOkx(MockExchange):
    name = "okx"

    def __init__(self, balance: float = 10_000.0) -> None:
        super().__init__()
        self.prices = {k: v["price"] for k, v in INSTRUMENTS.items()}
        self.balance = balance
        self.leverage: dict[str, dict[str, Any]] = {}
        self.positions: dict[str, float] = {}  # instId → signed contracts
        self.entry: dict[str, float] = {}
        self.orders: dict[str, dict[str, Any]] = {}
        self.algos: dict[str, dict[str, Any]] = {}
        self.fills: list[dict[str, Any]] = []
        self._unlisted: dict[str, int] = {}  # algoId → pending-list reads it stays unlisted for
        self._seq = 700_000_000
        self.clock_offset_ms = 0  # the server's clock ahead (+) or behind (-) the machine's, for skew tests
        self.pos_mode = "net_mode"  # "long_short_mode" = hedge mode
        self.slippage = 0.0  # market orders fill this fraction away from the price, against the taker
        self.algo_lag = 0  # an entry's attached algo order is listed only after this many pending-list reads

    def routes(self):
        return {
            ("GET", "/api/v5/public/instruments"): self.instruments,
            ("POST", "/api/v5/account/set-leverage"): self.set_leverage,
            ("POST", "/api/v5/trade/order"): self.new_order,
            ("POST", "/api/v5/trade/batch-orders"): self.batch_orders,
            ("GET", "/api/v5/trade/order"): self.get_order,
            ("GET", "/api/v5/trade/fills"): self.get_fills,
            ("GET", "/api/v5/trade/fills-history"): self.get_fills,
            ("GET", "/api/v5/trade/orders-algo-pending"): self.algo_pending,
            ("POST", "/api/v5/trade/cancel-algos"): self.cancel_algos,
            ("POST", "/api/v5/trade/amend-algos"): self.amend_algos,
            ("GET", "/api/v5/account/positions"): self.get_positions,
            ("GET", "/api/v5/account/balance"): self.get_balance,
            ("GET", "/api/v5/public/time"): self.server_time,
            ("GET", "/api/v5/public/position-tiers"): self.position_tiers,
            ("GET", "/api/v5/market/ticker"): self.ticker,
            ("GET", "/api/v5/account/config"): self.account_config,
        }

    def _id(self) -> str:
        self._seq += 1
        return str(self._seq)

    async def account_config(self, call: Call) -> web.Response:
        return ok(
            [
                {
                    "uid": "44705892343619584",
                    "acctLv": "2",
                    "posMode": self.pos_mode,
                    "autoLoan": False,
                    "greeksType": "PA",
                    "level": "Lv1",
                    "levelTmp": "",
                    "ctIsoMode": "automatic",
                    "mgnIsoMode": "automatic",
                    "spotOffsetType": "",
                    "roleType": "0",
                    "traderInsts": [],
                    "opAuth": "0",
                    "ip": "",
                    "perm": "read_only,trade",
                    "label": "desk",
                    "kycLv": "2",
                }
            ]
        )

    async def server_time(self, call: Call) -> web.Response:
        return ok([{"ts": str(int(now()) + self.clock_offset_ms)}])

    async def position_tiers(self, call: Call) -> web.Response:
        """Leverage tiers of a swap family; sizes in contracts, as OKX gives them."""
        family = call.params.get("instFamily") or call.params.get("uly", "")
        rows = []
        for inst in INSTRUMENTS:
            if inst.rsplit("-", 1)[0] != family:
                continue
            for tier, (lo, hi, lever) in enumerate(TIERS[inst], 1):
                rows.append(
                    {
                        "baseMaxLoan": "",
                        "imr": f"{1 / lever:.4f}",
                        "instFamily": family,
                        "instId": "",
                        "maxLever": str(lever),
                        "maxSz": str(hi),
                        "minSz": str(lo),
                        "mmr": "0.004",
                        "optMgnFactor": "0",
                        "quoteMaxLoan": "",
                        "tier": str(tier),
                        "uly": family,
                    }
                )
        return ok(rows)

    async def ticker(self, call: Call) -> web.Response:
        inst = call.params["instId"]
        px = str(self.prices[inst])
        return ok(
            [
                {
                    "instType": "SWAP",
                    "instId": inst,
                    "last": px,
                    "lastSz": "1",
                    "askPx": px,
                    "askSz": "10",
                    "bidPx": px,
                    "bidSz": "10",
                    "open24h": px,
                    "high24h": px,
                    "low24h": px,
                    "volCcy24h": "100",
                    "vol24h": "10000",
                    "ts": now(),
                    "sodUtc0": px,
                    "sodUtc8": px,
                }
            ]
        )

    async def instruments(self, call: Call) -> web.Response:
        rows = []
        for inst, spec in INSTRUMENTS.items():
            uly = inst.rsplit("-", 1)[0]
            rows.append(
                {
                    "instType": "SWAP",
                    "instId": inst,
                    "uly": uly,
                    "instFamily": uly,
                    "baseCcy": "",
                    "quoteCcy": "",
                    "settleCcy": "USDT",
                    "ctVal": spec["ctVal"],
                    "ctMult": "1",
                    "ctValCcy": spec["ctValCcy"],
                    "ctType": "linear",
                    "optType": "",
                    "stk": "",
                    "listTime": "1611916828000",
                    "expTime": "",
                    "lever": "100",
                    "tickSz": spec["tickSz"],
                    "lotSz": spec["lotSz"],
                    "minSz": spec["minSz"],
                    "alias": "",
                    "state": "live",
                    "maxLmtSz": "100000000",
                    "maxMktSz": "5000",
                    "ruleType": "normal",
                }
            )
        return ok(rows)

    async def set_leverage(self, call: Call) -> web.Response:
        p = call.params
        self.leverage[p["instId"]] = {
            "lever": str(p["lever"]),
            "mgnMode": p["mgnMode"],
            "posSide": p.get("posSide", "net"),
        }
        return ok(
            [
                {
                    "instId": p["instId"],
                    "lever": str(p["lever"]),
                    "mgnMode": p["mgnMode"],
                    "posSide": p.get("posSide", "net"),
                }
            ]
        )

    def _fill(
        self, inst: str, side: str, sz: float, reduce_only: bool, cl_id: str, attach: list | None
    ) -> dict[str, Any]:
        px = self.prices[inst]
        if self.slippage and cl_id:  # market orders of the desk; a fired algo fills at its trigger price
            tick = float(INSTRUMENTS[inst]["tickSz"])
            px = round(round(px * (1 + self.slippage if side == "buy" else 1 - self.slippage) / tick) * tick, 8)
        signed = sz if side == "buy" else -sz
        pos = self.positions.get(inst, 0.0)
        if reduce_only:
            sz = min(sz, abs(pos))
            signed = sz if side == "buy" else -sz
        if pos == 0 or (pos > 0) == (signed > 0):
            self.entry[inst] = (abs(pos) * self.entry.get(inst, 0.0) + sz * px) / (abs(pos) + sz)
        new = round(pos + signed, 8)
        if new == 0:
            self.positions.pop(inst, None)
        else:
            self.positions[inst] = new
        ct = float(INSTRUMENTS[inst]["ctVal"])
        fee = sz * ct * px * FEE_RATE
        self.balance -= fee
        oid, t = self._id(), now()
        order = {
            "instType": "SWAP",
            "instId": inst,
            "ordId": oid,
            "clOrdId": cl_id,
            "tag": "",
            "px": "",
            "sz": str(sz),
            "ordType": "market",
            "side": side,
            "posSide": "net",
            "tdMode": "isolated",
            "accFillSz": str(sz),
            "fillPx": str(px),
            "fillSz": str(sz),
            "avgPx": str(px),
            "state": "filled",
            "lever": "10",
            "fee": str(-fee),
            "feeCcy": "USDT",
            "reduceOnly": "true" if reduce_only else "false",
            "cTime": t,
            "uTime": t,
            "fillTime": t,
            "attachAlgoOrds": attach or [],
        }
        self.orders[oid] = order
        self.fills.append(
            {
                "instType": "SWAP",
                "instId": inst,
                "tradeId": oid + "1",
                "ordId": oid,
                "clOrdId": cl_id,
                "billId": oid + "2",
                "fillPx": str(px),
                "fillSz": str(sz),
                "side": side,
                "posSide": "net",
                "execType": "T",
                "feeCcy": "USDT",
                "fee": str(-fee),
                "ts": t,
            }
        )
        return order

    async def new_order(self, call: Call) -> web.Response:
        return ok([self._place(call.params)])

    async def batch_orders(self, call: Call) -> web.Response:
        # ccxt (okx) sends single orders through batch-orders by default: a JSON array of orders.
        return ok([self._place(p) for p in call.params.get("data") or []])

    def _place(self, p: dict[str, Any]) -> dict[str, Any]:
        attach = p.get("attachAlgoOrds")
        order = self._fill(
            p["instId"],
            p["side"],
            float(p["sz"]),
            str(p.get("reduceOnly")).lower() == "true",
            p.get("clOrdId", ""),
            attach,
        )
        if attach:
            aid = self._id()
            leg = attach[0]
            self.algos[aid] = {
                "algoId": aid,
                "instId": p["instId"],
                "instType": "SWAP",
                "ordType": "oco",
                "side": "sell" if p["side"] == "buy" else "buy",
                "sz": p["sz"],
                "state": "live",
                "slTriggerPx": leg.get("slTriggerPx", ""),
                "tpTriggerPx": leg.get("tpTriggerPx", ""),
                "reduceOnly": "true",
                "cTime": now(),
                "posSide": "net",
                "tdMode": p.get("tdMode", "cross"),
                "algoClOrdId": leg.get("attachAlgoClOrdId", ""),
            }
            if self.algo_lag:
                self._unlisted[aid] = self.algo_lag
        return {
            "clOrdId": order["clOrdId"],
            "ordId": order["ordId"],
            "tag": "",
            "ts": order["cTime"],
            "sCode": "0",
            "sMsg": "Order placed",
        }

    async def get_order(self, call: Call) -> web.Response:
        p = call.params
        order = self.orders.get(p.get("ordId", "")) or next(
            (o for o in self.orders.values() if o["clOrdId"] == p.get("clOrdId")), None
        )
        if order is None:
            return web.json_response({"code": "51603", "msg": "Order does not exist", "data": []})
        return ok([order])

    async def get_fills(self, call: Call) -> web.Response:
        inst = call.params.get("instId")
        return ok([f for f in reversed(self.fills) if inst in (None, f["instId"])])

    async def algo_pending(self, call: Call) -> web.Response:
        inst, kind = call.params.get("instId"), call.params.get("ordType")
        rows = [
            a
            for a in self.algos.values()
            if a["state"] == "live" and inst in (None, a["instId"]) and kind in (None, a["ordType"])
        ]
        for a in list(rows):  # placed just after the fill: not listed at the first reads
            if self._unlisted.get(a["algoId"], 0) > 0:
                self._unlisted[a["algoId"]] -= 1
                rows.remove(a)
        return ok(rows)

    async def cancel_algos(self, call: Call) -> web.Response:
        out = []
        body = call.params.get("data") or []
        for item in body if isinstance(body, list) else []:
            algo = self.algos.get(item.get("algoId"))
            if algo is not None:
                algo["state"] = "canceled"
            out.append({"algoId": item.get("algoId"), "sCode": "0", "sMsg": ""})
        return ok(out)

    async def amend_algos(self, call: Call) -> web.Response:
        """Amend a live algo order's TP/SL triggers (and size), by algoId or algoClOrdId, as OKX answers it."""
        p = call.params
        algo = self.algos.get(p.get("algoId", "")) or next(
            (a for a in self.algos.values() if p.get("algoClOrdId") and a.get("algoClOrdId") == p.get("algoClOrdId")),
            None,
        )
        if algo is None or algo["state"] != "live":
            return web.json_response(
                {
                    "code": "1",
                    "msg": "Operation failed.",
                    "data": [
                        {
                            "algoId": p.get("algoId", ""),
                            "algoClOrdId": p.get("algoClOrdId", ""),
                            "reqId": p.get("reqId", ""),
                            "sCode": "51603",
                            "sMsg": "Order does not exist",
                        }
                    ],
                }
            )
        for key, field in (("newSlTriggerPx", "slTriggerPx"), ("newTpTriggerPx", "tpTriggerPx"), ("newSz", "sz")):
            if p.get(key) not in (None, ""):
                algo[field] = str(p[key])
        return ok(
            [
                {
                    "algoId": algo["algoId"],
                    "algoClOrdId": algo.get("algoClOrdId", ""),
                    "reqId": p.get("reqId", ""),
                    "sCode": "0",
                    "sMsg": "",
                }
            ]
        )

    async def _parse(self, request: web.Request) -> dict[str, Any]:
        # cancel-algos posts a JSON array; keep it under "data" so the log and the handler can see it.
        raw = await request.text()
        if raw.lstrip().startswith("["):
            import json

            params: dict[str, Any] = dict(request.query)
            params["data"] = json.loads(raw)
            return params
        return await super()._parse(request)

    async def get_positions(self, call: Call) -> web.Response:
        rows = []
        for inst, pos in self.positions.items():
            px = self.prices[inst]
            ct = float(INSTRUMENTS[inst]["ctVal"])
            lever = self.leverage.get(inst, {}).get("lever", "10")
            rows.append(
                {
                    "instType": "SWAP",
                    "instId": inst,
                    "mgnMode": "isolated",
                    "posId": "1",
                    "posSide": "net",
                    "pos": str(pos),
                    "ccy": "USDT",
                    "posCcy": "",
                    "avgPx": str(self.entry[inst]),
                    "markPx": str(px),
                    "upl": str((px - self.entry[inst]) * pos * ct),
                    "lever": lever,
                    "liqPx": "",
                    "notionalUsd": str(abs(pos) * ct * px),
                    "margin": str(abs(pos) * ct * self.entry[inst] / float(lever)),
                    "cTime": now(),
                    "uTime": now(),
                }
            )
        return ok(rows)

    async def get_balance(self, call: Call) -> web.Response:
        b = str(self.balance)
        return ok(
            [
                {
                    "totalEq": b,
                    "uTime": now(),
                    "details": [
                        {
                            "ccy": "USDT",
                            "eq": b,
                            "cashBal": b,
                            "availBal": b,
                            "availEq": b,
                            "frozenBal": "0",
                            "uTime": now(),
                        }
                    ],
                }
            ]
        )

    def set_price(self, symbol: str, price: float) -> list[str]:
        """Move the market; a pending OCO whose leg is crossed closes the position (the other leg goes too)."""
        inst = symbol if "-" in symbol else f"{symbol[:-4]}-USDT-SWAP"
        self.prices[inst] = price
        fired = []
        for algo in self.algos.values():
            if algo["instId"] != inst or algo["state"] != "live":
                continue
            sl, tp = float(algo["slTriggerPx"] or 0), float(algo["tpTriggerPx"] or 0)
            selling = algo["side"] == "sell"
            hit_sl = sl and (price <= sl if selling else price >= sl)
            hit_tp = tp and (price >= tp if selling else price <= tp)
            if hit_sl or hit_tp:
                self._fill(inst, algo["side"], float(algo["sz"]), True, "", None)
                algo["state"] = "effective"
                fired.append(algo["algoId"])
        return fired


def main() -> None:
    parser = argparse.ArgumentParser(description="Mock OKX v5 REST server on 127.0.0.1")
    parser.add_argument("--port", type=int, default=18081)
    run_forever(MockOkx(), parser.parse_args().port)


if __name__ == "__main__":
    main()
