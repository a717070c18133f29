"""Bybit v5 linear public websocket (`/v5/public/linear`): subscriptions and frames → the shared checks.

Topics per symbol: `publicTrade.<symbol>` (trades, batched), `orderbook.1.<symbol>` (best bid/ask: a
snapshot, then deltas where a size of 0 removes the level) and `tickers.<symbol>` (a snapshot, then deltas
with the changed fields only; it carries mark price, index price, funding rate and next funding time, which
become `kind="mark"` records). Symbols are already in the desk's form (BTCUSDT). Replies are
`{"op":…,"success":…,"ret_msg":…}`. Bybit drops a connection without a ping for 10 min and advises one every
20 s: the client sends `{"op":"ping"}`, the server answers `{"op":"pong"}` or `{"ret_msg":"pong"}`.

Bybit trade ids are UUIDs, and its book's `u` restarts on a new snapshot, so neither orders updates: trades and
books are checked on time and price only (Bybit does not resend trades after a reconnect).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import msgspec

from tui_trader.feeds.parser import BOOK, IGNORED, MARK, TRADE
from tui_trader.feeds.venue import VenueSpec, chunks

EXCHANGE = "bybit"
HOST = "wss://stream.bybit.com"
PATH = "/v5/public/linear"
TOPICS = ("publicTrade", "orderbook.1", "tickers")
PING = b'{"op":"ping"}'
PING_EVERY_S = 20.0
ARGS_PER_REQUEST = 10  # Bybit's limit of args in one subscribe request
# The sample in the venue docs names trades "trade.linear.<symbol>"; live v5 says "publicTrade.<symbol>".
_ROLES = {"publicTrade": TRADE, "trade": TRADE, "orderbook": BOOK, "tickers": MARK}


def plan(symbols: Sequence[str], base_url: str, per_connection: int = 200) -> list[VenueSpec]:
    topics = [f"{t}.{s}" for s in dict.fromkeys(x.upper() for x in symbols) for t in TOPICS]
    specs = []
    for i, group in enumerate(chunks(topics, per_connection), 1):
        requests = tuple(
            json.dumps({"op": "subscribe", "req_id": f"sub-{i}-{j}", "args": part}, separators=(",", ":")).encode()
            for j, part in enumerate(chunks(group, ARGS_PER_REQUEST), 1)
        )
        syms = tuple(dict.fromkeys(t.rsplit(".", 1)[1] for t in group))
        specs.append(
            VenueSpec(
                name=f"bybit-{i}",
                url=base_url + PATH,
                subscribe=requests,
                symbols=syms,
                ping=PING,
                ping_every_s=PING_EVERY_S,
                topics=tuple(group),
            )
        )
    return specs


class _Trade(msgspec.Struct, gc=False):
    T: int
    p: float
    v: float
    s: str = ""


class _Book(msgspec.Struct, gc=False):
    b: list[list[float]] = msgspec.field(default_factory=list)
    a: list[list[float]] = msgspec.field(default_factory=list)
    s: str = ""


class _Ticker(msgspec.Struct, gc=False):
    symbol: str = ""
    markPrice: float | None = None
    indexPrice: float | None = None
    fundingRate: float | None = None
    nextFundingTime: int | None = None


class _Top:
    __slots__ = ("ask", "ask_qty", "bid", "bid_qty")

    def __init__(self) -> None:
        self.bid = self.bid_qty = self.ask = self.ask_qty = 0.0


class BybitFrames:
    """Decodes Bybit data frames, keeps the top of each book from snapshot + deltas, and hands each entry to
    the parser's checks (FrameParser.book/trade/mark)."""

    def __init__(self) -> None:
        self._trades = msgspec.json.Decoder(list[_Trade], strict=False).decode
        self._book = msgspec.json.Decoder(_Book, strict=False).decode
        self._ticker = msgspec.json.Decoder(_Ticker, strict=False).decode
        self._tops: dict[str, _Top] = {}

    def frame(self, parser, env, raw, recv_ms: int, out: list) -> None:
        topic = env.topic
        kind, _, symbol = topic.rpartition(".")
        kind = kind.partition(".")[0]
        role = _ROLES.get(kind, IGNORED)
        stream = parser.stream_for(f"bybit:{topic}", role, symbol.upper(), kind or "other stream")
        if stream is None:
            return
        if role == IGNORED:
            parser.count_ignored(stream.ignored_as)
            return
        event = env.ts if isinstance(env.ts, int) else 0
        try:
            if role == TRADE:
                trades = self._trades(env.data)
                if not trades:
                    parser.count_ignored("empty publicTrade")
                    return
                parser.count_batch(len(trades))
                for t in trades:
                    md = parser.trade(stream, -1, t.T or event, t.p, t.v, t.s, raw, recv_ms, EXCHANGE)
                    if md is not None:
                        out.append(md)
                return
            if role == BOOK:
                book = self._book(env.data)
                top = self._tops.get(stream.symbol.name)
                if top is None or env.type == "snapshot":
                    top = self._tops[stream.symbol.name] = _Top()
                for level in book.b[:1]:
                    if len(level) >= 2:
                        if level[1] == 0:
                            if level[0] == top.bid:
                                top.bid = top.bid_qty = 0.0
                        else:
                            top.bid, top.bid_qty = level[0], level[1]
                for level in book.a[:1]:
                    if len(level) >= 2:
                        if level[1] == 0:
                            if level[0] == top.ask:
                                top.ask = top.ask_qty = 0.0
                        else:
                            top.ask, top.ask_qty = level[0], level[1]
                if not (top.bid and top.ask):
                    parser.count_ignored("one-sided book")
                    return
                md = parser.book(
                    stream, -1, event, top.bid, top.ask, top.bid_qty, top.ask_qty, book.s, raw, recv_ms, EXCHANGE
                )
            else:
                tk = self._ticker(env.data)
                if (
                    tk.markPrice is None
                    and tk.indexPrice is None
                    and tk.fundingRate is None
                    and tk.nextFundingTime is None
                ):
                    parser.count_ignored("ticker without mark or funding")
                    return
                md = parser.mark(
                    stream,
                    event,
                    tk.markPrice or 0.0,
                    tk.indexPrice or 0.0,
                    tk.fundingRate,
                    tk.nextFundingTime or 0,
                    tk.symbol,
                    raw,
                    recv_ms,
                    EXCHANGE,
                )
        except msgspec.DecodeError as err:
            parser.count_problem(f"bad Bybit {kind} payload", raw, err)
            return
        if md is not None:
            out.append(md)
