"""Frames of each venue built from the real single messages in the shared data (venue_msgs/), with their
numbers replaced: the same shapes the venues send, for the parser contract and the loopback servers."""

from __future__ import annotations

import copy
import json
from pathlib import Path

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "venue_msgs"
VENUES = ("binanceusdm", "okx", "bybit")


def _load(rel: str) -> dict:
    return json.loads((DATA / rel).read_text())


def _dump(obj: dict) -> str:
    return json.dumps(obj, separators=(",", ":"))


class Venue:
    """Frame makers for one venue: trade, book, mark (+ funding), a subscription error, a reply."""

    def __init__(self, name: str) -> None:
        self.name = name

    def trade(self, ident: int, price: float, qty: float, t: int, symbol: str = "BTCUSDT") -> list[str]:
        if self.name == "binanceusdm":
            d = _load("binance_usdm/agg_trade_stream.json")
            d.update(a=ident, p=f"{price}", q=f"{qty}", E=t, T=t, s=symbol)
            return [_dump({"stream": f"{symbol.lower()}@aggTrade", "data": d})]
        if self.name == "okx":
            d = _load("okx/ws_trades.json")
            inst = symbol[:-4] + "-USDT-SWAP"
            d["arg"]["instId"] = inst
            d["data"][0].update(instId=inst, tradeId=str(ident), px=f"{price}", sz=f"{qty}", ts=str(t))
            return [_dump(d)]
        d = _load("bybit/ws_public_trade.json")
        d["topic"] = f"publicTrade.{symbol}"
        d["ts"] = t
        d["data"][0].update(T=t, s=symbol, p=f"{price}", v=f"{qty}", i=f"uuid-{ident}")
        return [_dump(d)]

    def book(self, ident: int, bid: float, ask: float, t: int, qty: float = 2.0, symbol: str = "BTCUSDT") -> list[str]:
        if self.name == "binanceusdm":
            d = _load("binance_usdm/book_ticker_stream.json")
            d.update(u=ident, b=f"{bid}", B=f"{qty}", a=f"{ask}", A=f"{qty}", E=t, T=t, s=symbol)
            return [_dump({"stream": f"{symbol.lower()}@bookTicker", "data": d})]
        if self.name == "okx":
            d = _load("okx/ws_bbo_tbt.json")
            inst = symbol[:-4] + "-USDT-SWAP"
            d["arg"]["instId"] = inst
            d["data"][0].update(
                asks=[[f"{ask}", f"{qty}", "0", "3"]], bids=[[f"{bid}", f"{qty}", "0", "3"]], ts=str(t), seqId=ident
            )
            return [_dump(d)]
        d = _load("bybit/ws_orderbook_snapshot.json")
        d["topic"] = f"orderbook.1.{symbol}"
        d["ts"] = t
        d["data"].update(s=symbol, b=[[f"{bid}", f"{qty}"]], a=[[f"{ask}", f"{qty}"]], u=ident)
        return [_dump(d)]

    def mark(self, mark: float, index: float, rate: float, next_ms: int, t: int, symbol: str = "BTCUSDT") -> list[str]:
        """The frames that carry a symbol's mark price and funding (OKX: two channels, funding first)."""
        if self.name == "binanceusdm":
            d = _load("binance_usdm/mark_price_stream.json")
            d.update(p=f"{mark}", i=f"{index}", r=f"{rate}", T=next_ms, E=t, s=symbol)
            return [_dump({"stream": f"{symbol.lower()}@markPrice@1s", "data": d})]
        if self.name == "okx":
            inst = symbol[:-4] + "-USDT-SWAP"
            f = _load("okx/ws_funding_rate.json")
            f["arg"]["instId"] = inst
            f["data"][0].update(
                instId=inst,
                fundingRate=f"{rate}",
                fundingTime=str(next_ms),
                nextFundingTime=str(next_ms + 8 * 3_600_000),
                ts=str(t),
            )
            # OKX's mark-price channel: {"arg":{"channel":"mark-price","instId"},"data":[{instType,instId,markPx,ts}]}
            mk = {
                "arg": {"channel": "mark-price", "instId": inst},
                "data": [{"instType": "SWAP", "instId": inst, "markPx": f"{mark}", "ts": str(t)}],
            }
            return [_dump(f), _dump(mk)]
        d = _load("bybit/ws_ticker_linear.json")
        d["topic"] = f"tickers.{symbol}"
        d["ts"] = t
        d["data"].update(
            symbol=symbol,
            markPrice=f"{mark}",
            indexPrice=f"{index}",
            fundingRate=f"{rate}",
            nextFundingTime=str(next_ms),
            lastPrice=f"{mark}",
            bid1Price=f"{mark - 0.5}",
            ask1Price=f"{mark + 0.5}",
        )
        return [_dump(d)]

    def sub_error(self) -> str:
        if self.name == "binanceusdm":
            return '{"code":2,"msg":"Invalid request: unknown stream"}'
        if self.name == "okx":
            return '{"event":"error","code":"60018","msg":"Wrong URL or channel:mark-price,instId:NOPE doesn\'t exist","connId":"a4d3ae55"}'
        return '{"success":false,"ret_msg":"error:handler not found,topic:tickers.NOPE","conn_id":"2324d924","req_id":"sub-1-1","op":"subscribe"}'

    def reply(self) -> str:
        if self.name == "binanceusdm":
            return '{"result":null,"id":1}'
        if self.name == "okx":
            return '{"event":"subscribe","arg":{"channel":"trades","instId":"BTC-USDT-SWAP"},"connId":"a4d3ae55"}'
        return '{"success":true,"ret_msg":"","conn_id":"2324d924","req_id":"sub-1-1","op":"subscribe"}'

    def pong(self) -> str | None:
        if self.name == "okx":
            return "pong"
        if self.name == "bybit":
            return '{"success":true,"ret_msg":"pong","conn_id":"0970e817","req_id":"","op":"ping"}'
        return None


def frames_copy(obj):
    return copy.deepcopy(obj)
