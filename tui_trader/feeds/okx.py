"""OKX public websocket (`/ws/v5/public`): symbols, subscriptions and frames → the shared parser's checks.

Channels per symbol: `trades` (each trade), `bbo-tbt` (best bid/ask, tick by tick), `mark-price` and
`funding-rate`. Perpetual swaps are named `BTC-USDT-SWAP`; the desk calls that BTCUSDT. A frame is
`{"arg":{"channel","instId"},"data":[…]}` and may carry several entries (each counts as one frame read);
replies are `{"event":"subscribe"|"error",…}`. OKX closes a connection silent for 30 s, so the client sends
the text `ping` every 20 s and the server answers `pong` (counted as ignored).

Quantities are OKX's: `sz` of a swap is in contracts (BTC-USDT-SWAP: 0.01 BTC each), as the venue shows it.
Prices and sizes arrive as strings: decoded with `strict=False` like Binance's.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import msgspec

from tui_trader.feeds.parser import BOOK, IGNORED, MARK, TRADE
from tui_trader.feeds.venue import VenueSpec, chunks

EXCHANGE = "okx"
HOST = "wss://ws.okx.com:8443"
PATH = "/ws/v5/public"
CHANNELS = ("trades", "bbo-tbt", "mark-price", "funding-rate")
PING = b"ping"
PING_EVERY_S = 20.0
# OKX bounds a subscribe request at 64 KiB and a connection's subscriptions at 480 per channel set.
ARGS_PER_REQUEST = 100
_QUOTES = ("USDT", "USDC", "USD")
_ROLES = {"trades": TRADE, "bbo-tbt": BOOK, "tickers": BOOK, "mark-price": MARK, "funding-rate": MARK}


def inst_id(symbol: str) -> str:
    """BTCUSDT → BTC-USDT-SWAP (the linear perpetual)."""
    s = symbol.upper()
    for quote in _QUOTES:
        if s.endswith(quote) and len(s) > len(quote):
            return f"{s[: -len(quote)]}-{quote}-SWAP"
    return s


def desk_symbol(inst: str) -> str:
    """BTC-USDT-SWAP → BTCUSDT (the desk's one form of a symbol, whatever the venue calls it)."""
    parts = inst.upper().split("-")
    if parts and parts[-1] in ("SWAP", "PERP"):
        parts = parts[:-1]
    return "".join(parts)


def plan(symbols: Sequence[str], base_url: str, per_connection: int = 200) -> list[VenueSpec]:
    """Connections of at most `per_connection` subscriptions, each with its subscribe requests."""
    args = [{"channel": ch, "instId": inst_id(s)} for s in dict.fromkeys(x.upper() for x in symbols) for ch in CHANNELS]
    specs = []
    for i, group in enumerate(chunks([json.dumps(a) for a in args], per_connection), 1):
        parsed = [json.loads(a) for a in group]
        requests = tuple(
            json.dumps({"op": "subscribe", "args": part}, separators=(",", ":")).encode()
            for part in chunks(parsed, ARGS_PER_REQUEST)
        )
        syms = tuple(dict.fromkeys(desk_symbol(a["instId"]) for a in parsed))
        specs.append(
            VenueSpec(
                name=f"okx-{i}",
                url=base_url + PATH,
                subscribe=requests,
                symbols=syms,
                ping=PING,
                ping_every_s=PING_EVERY_S,
                topics=tuple(f"{a['channel']}:{a['instId']}" for a in parsed),
            )
        )
    return specs


class _Arg(msgspec.Struct, gc=False):
    channel: str = ""
    instId: str = ""


class _Trade(msgspec.Struct, gc=False):
    px: float
    sz: float
    tradeId: int
    ts: int
    instId: str = ""


class _Bbo(msgspec.Struct, gc=False):
    bids: list[list[float]]
    asks: list[list[float]]
    ts: int
    seqId: int = -1


class _Ticker(msgspec.Struct, gc=False):
    bidPx: float
    askPx: float
    bidSz: float
    askSz: float
    ts: int
    instId: str = ""


class _MarkPx(msgspec.Struct, gc=False):
    markPx: float
    ts: int
    instId: str = ""


class _Funding(msgspec.Struct, gc=False):
    fundingRate: float
    fundingTime: int = 0  # the next settlement (OKX's nextFundingTime is the one after it)
    ts: int = 0
    instId: str = ""


_DECODERS = {
    name: msgspec.json.Decoder(list[cls], strict=False)  # type: ignore[valid-type]
    for name, cls in (
        ("trades", _Trade),
        ("bbo-tbt", _Bbo),
        ("tickers", _Ticker),
        ("mark-price", _MarkPx),
        ("funding-rate", _Funding),
    )
}


class OkxFrames:
    """Decodes OKX data frames and hands each entry to the parser's checks (FrameParser.book/trade/mark)."""

    def __init__(self) -> None:
        self._arg = msgspec.json.Decoder(_Arg).decode

    def frame(self, parser, env, raw, recv_ms: int, out: list) -> None:
        try:
            arg = self._arg(env.arg)
        except msgspec.DecodeError as err:
            parser.count_problem("bad OKX arg", raw, err)
            return
        channel = arg.channel
        role = _ROLES.get(channel, IGNORED)
        key = f"okx:{channel}:{arg.instId}"
        symbol = desk_symbol(arg.instId)
        stream = parser.stream_for(key, role, symbol, channel or "other stream")
        if stream is None:
            return
        if role == IGNORED:
            parser.count_ignored(stream.ignored_as)
            return
        try:
            entries: list = _DECODERS[channel].decode(env.data)
        except msgspec.DecodeError as err:
            parser.count_problem(f"bad OKX {channel} payload", raw, err)
            return
        if not entries:
            parser.count_ignored(f"empty {channel}")
            return
        parser.count_batch(len(entries))
        for e in entries:
            md = self._entry(parser, stream, channel, e, raw, recv_ms)
            if md is not None:
                out.append(md)

    @staticmethod
    def _entry(parser, stream, channel: str, e, raw, recv_ms: int):
        s = desk_symbol(e.instId) if getattr(e, "instId", "") else ""
        if channel == "trades":
            return parser.trade(stream, e.tradeId, e.ts, e.px, e.sz, s, raw, recv_ms, EXCHANGE)
        if channel == "bbo-tbt":
            if not e.bids or not e.asks or len(e.bids[0]) < 2 or len(e.asks[0]) < 2:
                parser.count_ignored("empty bbo-tbt")
                return None
            return parser.book(
                stream,
                e.seqId,
                e.ts,
                e.bids[0][0],
                e.asks[0][0],
                e.bids[0][1],
                e.asks[0][1],
                "",
                raw,
                recv_ms,
                EXCHANGE,
            )
        if channel == "tickers":
            return parser.book(stream, -1, e.ts, e.bidPx, e.askPx, e.bidSz, e.askSz, s, raw, recv_ms, EXCHANGE)
        if channel == "mark-price":
            return parser.mark(stream, e.ts, e.markPx, 0.0, None, 0, s, raw, recv_ms, EXCHANGE)
        return parser.mark(stream, e.ts, 0.0, 0.0, e.fundingRate, e.fundingTime, s, raw, recv_ms, EXCHANGE)
