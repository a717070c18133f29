"""Binance combined-stream frames → MarketData (pure: no I/O, no bus, no clock of its own).

One `FrameParser` serves live connections and replays alike, so a recording replays exactly as it was
received. A frame is `{"stream":"btcusdt@trade","data":{…}}`; the envelope is decoded with `data` left
raw, then the payload with a typed decoder chosen by the stream name (looked up once per stream name).
Prices and quantities arrive as JSON strings: the decoders run with `strict=False`, which turns numeric
strings into floats inside msgspec (no Python float() per field). Unknown fields are ignored.

- a trade (`@trade` or `@aggTrade`) gives `kind="trade"`: its price and quantity, and the latest bid/ask
  of that symbol;
- a `@bookTicker` gives `kind="book"`: the new bid/ask, and the symbol's last trade price;
- anything else is counted, never fatal: malformed frames per reason (non-JSON, bad payloads,
  subscription errors `{"code":…}`), ignored frames per kind (depth, kline, markPrice, replies, lines
  without a `stream` such as REST snapshots), and duplicates.

Duplicates: after a reconnect the exchange may resend what was already published. Per stream, a trade
whose id (`t`, or `a` for aggTrade) or a bookTicker whose update id (`u`) is not newer than the last one
published is dropped.

`event_time` is the exchange's event time `E` (the transaction time `T` where `E` is absent); `recv_time`
is passed in by the caller (local receipt); `ts` comes from the caller's `stamp(event_time)`, which in a
replay advances the replay clock to the event time first.
"""

from __future__ import annotations

from typing import Callable

import msgspec

from tui_trader.messages import MarketData

EXCHANGE = "binanceusdm"
SAMPLE_CHARS = 200


class _Envelope(msgspec.Struct, gc=False):
    stream: str = ""
    data: msgspec.Raw = msgspec.Raw(b"")


class _Reply(msgspec.Struct, gc=False):
    """A frame without `stream`: a reply to a request, an error, or (in recordings) a REST snapshot."""

    code: int | None = None
    msg: str = ""
    id: int | None = None


class _BookTicker(msgspec.Struct, gc=False):
    u: int
    b: float
    B: float
    a: float
    A: float
    E: int = 0
    T: int = 0


class _Trade(msgspec.Struct, gc=False):
    t: int
    p: float
    q: float
    E: int = 0
    T: int = 0


class _AggTrade(msgspec.Struct, gc=False):
    a: int
    p: float
    q: float
    E: int = 0
    T: int = 0


class _Symbol:
    """What the parser remembers per symbol: the last trade price and the best bid/ask."""

    __slots__ = ("name", "price", "bid", "bid_qty", "ask", "ask_qty")

    def __init__(self, name: str) -> None:
        self.name = name
        self.price = 0.0
        self.bid = 0.0
        self.bid_qty = 0.0
        self.ask = 0.0
        self.ask_qty = 0.0


# Stream roles.
_BOOK, _TRADE, _AGG, _IGNORED = 0, 1, 2, 3


class _Stream:
    __slots__ = ("role", "symbol", "last_id", "ignored_as")

    def __init__(self, role: int, symbol: _Symbol | None, ignored_as: str = "") -> None:
        self.role = role
        self.symbol = symbol
        self.last_id = -1
        self.ignored_as = ignored_as


def _identity(event_ms: int) -> int:
    return event_ms


class FrameParser:
    """Turns raw frames into MarketData, keeping per-symbol book state, dedup ids and counters."""

    def __init__(self, stamp: Callable[[int], int] | None = None, exchange: str = EXCHANGE) -> None:
        self.stamp = stamp or _identity
        self.exchange = exchange
        self._envelope = msgspec.json.Decoder(_Envelope).decode
        self._reply = msgspec.json.Decoder(_Reply).decode
        self._book = msgspec.json.Decoder(_BookTicker, strict=False).decode
        self._trade = msgspec.json.Decoder(_Trade, strict=False).decode
        self._agg = msgspec.json.Decoder(_AggTrade, strict=False).decode
        self._streams: dict[str, _Stream] = {}
        self._symbols: dict[str, _Symbol] = {}
        self.frames = 0
        self.trades = 0
        self.books = 0
        self.malformed: dict[str, int] = {}
        self.ignored: dict[str, int] = {}
        self.duplicates: dict[str, int] = {}
        # The first frame seen for each malformed reason, shortened, for the log.
        self.samples: dict[str, str] = {}
        self._reported: dict[str, int] = {}

    # --- the hot path ---

    def parse(self, raw: bytes | str, recv_ms: int) -> MarketData | None:
        """One frame in; the MarketData it gives, or None (counted under its reason)."""
        self.frames += 1
        try:
            env = self._envelope(raw)
        except msgspec.ValidationError:
            return self._problem("not a JSON object", raw)
        except msgspec.DecodeError:
            return self._problem("not JSON", raw)
        name = env.stream
        if not name:
            return self._without_stream(raw)
        stream = self._streams.get(name)
        if stream is None:
            stream = self._new_stream(name)
        role = stream.role
        try:
            if role == _BOOK:
                p = self._book(env.data)
                if p.u <= stream.last_id:
                    return self._duplicate("book")
                stream.last_id = p.u
                sym = stream.symbol
                sym.bid = p.b
                sym.bid_qty = p.B
                sym.ask = p.a
                sym.ask_qty = p.A
                event = p.E or p.T
                self.books += 1
                return MarketData(
                    symbol=sym.name, exchange=self.exchange, kind="book", price=sym.price, volume=0.0,
                    bid=p.b, bid_qty=p.B, ask=p.a, ask_qty=p.A,
                    event_time=event, recv_time=recv_ms, ts=self.stamp(event),
                )
            if role == _TRADE:
                p = self._trade(env.data)
                trade_id = p.t
            elif role == _AGG:
                p = self._agg(env.data)
                trade_id = p.a
            else:
                reason = stream.ignored_as
                self.ignored[reason] = self.ignored.get(reason, 0) + 1
                return None
        except msgspec.DecodeError as err:
            return self._problem(f"bad {name.partition('@')[2]} payload", raw, err)
        if trade_id <= stream.last_id:
            return self._duplicate("trade")
        stream.last_id = trade_id
        sym = stream.symbol
        sym.price = p.p
        event = p.E or p.T
        self.trades += 1
        return MarketData(
            symbol=sym.name, exchange=self.exchange, kind="trade", price=p.p, volume=p.q,
            bid=sym.bid, bid_qty=sym.bid_qty, ask=sym.ask, ask_qty=sym.ask_qty,
            event_time=event, recv_time=recv_ms, ts=self.stamp(event),
        )

    # --- the rare paths ---

    def _new_stream(self, name: str) -> _Stream:
        prefix, _, kind = name.partition("@")
        kind = kind.partition("@")[0]
        if kind == "bookTicker":
            role = _BOOK
        elif kind == "trade":
            role = _TRADE
        elif kind == "aggTrade":
            role = _AGG
        else:
            # depth@0ms / depth20 → "depth", kline_1m → "kline", markPrice@1s → "markPrice", "!bookTicker" → itself.
            label = kind.partition("_")[0].rstrip("0123456789") or name
            stream = _Stream(_IGNORED, None, label)
            self._streams[name] = stream
            return stream
        symbol_name = prefix.upper()
        symbol = self._symbols.get(symbol_name)
        if symbol is None:
            symbol = self._symbols[symbol_name] = _Symbol(symbol_name)
        stream = _Stream(role, symbol)
        self._streams[name] = stream
        return stream

    def _without_stream(self, raw: bytes | str) -> None:
        try:
            reply = self._reply(raw)
        except msgspec.DecodeError:
            return self._problem("frame without stream", raw)
        if reply.code is not None:
            return self._problem(f"subscription error (code {reply.code})", raw)
        label = "reply" if reply.id is not None else "no stream"
        self.ignored[label] = self.ignored.get(label, 0) + 1
        return None

    def _duplicate(self, kind: str) -> None:
        self.duplicates[kind] = self.duplicates.get(kind, 0) + 1
        return None

    def _problem(self, reason: str, raw: bytes | str, err: Exception | None = None) -> None:
        count = self.malformed.get(reason, 0) + 1
        self.malformed[reason] = count
        if count == 1:
            text = raw if isinstance(raw, str) else bytes(raw).decode("utf-8", "replace")
            text = text[:SAMPLE_CHARS] + ("…" if len(text) > SAMPLE_CHARS else "")
            self.samples[reason] = text + (f" ({err})" if err is not None else "")
        return None

    # --- figures ---

    def problem_report(self) -> str | None:
        """Malformed frames since the last report, one line per call (the caller logs it once a minute),
        with a sample of each reason the first time it appears; None when nothing new."""
        reported = self._reported
        parts = []
        for reason, count in self.malformed.items():
            before = reported.get(reason, 0)
            if count > before:
                part = f"{reason}: {count - before} (total {count})"
                if before == 0 and reason in self.samples:
                    part += f", e.g. {self.samples[reason]}"
                parts.append(part)
                reported[reason] = count
        return "malformed frames: " + "; ".join(parts) if parts else None

    def symbols_seen(self) -> list[str]:
        return list(self._symbols)

    def summary(self) -> dict:
        return {
            "frames": self.frames,
            "published": {"trade": self.trades, "book": self.books},
            "malformed": dict(self.malformed),
            "ignored": dict(self.ignored),
            "duplicates": dict(self.duplicates),
        }
