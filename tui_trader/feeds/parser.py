"""Binance combined-stream frames → MarketData (pure: no I/O, no bus, no clock of its own).

One `FrameParser` serves live connections and replays alike, so a recording replays exactly as it was
received. A frame is `{"stream":"btcusdt@trade","data":{"e":"trade",…}}`. The common case is decoded in one
pass, envelope and payload together, straight into a typed struct chosen by the payload's event type `e`
(no dict, no second look at the bytes); it is used when that type is the one the stream's name says. Any
other frame (another venue, an unknown or missing `e`, a payload that does not fit, a type that disagrees with
the stream name, a stream not seen yet) takes the general way, which gives the answer the fast way would
have given or counts the frame as below: the envelope is decoded with `data` left raw, then the payload with
a typed decoder chosen by the stream name (looked up once per stream name).
Prices and quantities arrive as JSON strings: the decoders run with `strict=False`, which turns numeric
strings into floats inside msgspec (no Python float() per field). Unknown fields are ignored.

- a trade (`@trade` or `@aggTrade`) gives `kind="trade"`: its price and quantity, and the latest bid/ask
  of that symbol;
- a `@bookTicker` gives `kind="book"`: the new bid/ask, and the symbol's last trade price.

The edge of the system: nothing a frame says is trusted. Every frame read ends in exactly one bucket, so
`frames = published + ignored + duplicates + malformed + quarantined` always holds:

- malformed, per reason: not JSON, bad payloads, subscription errors `{"code":…}`, and numbers that cannot be
  market data: a price or quantity that is NaN, infinite, zero or negative ("1e300" and "NaN" are valid
  JSON strings and decode), an event time outside [0, year 2200), a payload whose symbol `s` is not the
  stream's. Such a frame changes no state, so a NaN trade cannot spoil the book records that follow it;
- ignored, per kind: depth, kline, markPrice, replies, lines without a `stream` (REST snapshots), and every
  stream of a symbol that is not configured (`symbols`): no state is kept for those, so a file with 100,000
  symbols costs no memory;
- duplicates: after a reconnect the exchange may resend what was already published. Per stream, a trade
  whose id (`t`, or `a` for aggTrade) or a bookTicker whose update id (`u`) is not newer than the last one
  published (by at most `max_id_jump`) is dropped;
- quarantined, per reason: a frame that jumps. Its id more than `max_id_jump` away from the stream's last
  one; its event time more than `max_time_jump_ms` away from the latest accepted event time (the replay
  clock), or, in a replay, later than the wall clock (a recording is never from the future); its price
  (a trade's, or a book's bid or ask) farther than `price_band` from the symbol's last good price (the last
  accepted trade, or book mid). A jump becomes the new baseline only when `confirm` frames in a row agree
  with it (the jumped frame included; the last of them is published): a real gap (a reconnect after an
  outage, a market that really moved) costs `confirm - 1` frames, while one absurd value (a trade id of
  2^70, an event time of 1e18, a print at 1e9) is dropped and the frames after it go on as before.

The first frame sets the baselines (there is nothing to compare it with); in a replay its event time must
not lie in the future, which catches an absurd first event time too.

`event_time` is the exchange's event time `E` (the transaction time `T` where `E` is absent); `recv_time`
is passed in by the caller (local receipt); `ts` comes from the caller's `stamp(event_time)`, which in a
replay advances the replay clock to the event time first; it is only called for a frame that is published.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterator
from typing import Any, NamedTuple

import msgspec

from tui_trader.messages import MarketData

EXCHANGE = "binanceusdm"
SAMPLE_CHARS = 200
# Bounds on what the parser keeps, whatever the input: distinct reasons per count table (the rest count as
# "other"), cached stream names, and symbols when no configured list is given (`record`).
MAX_REASONS = 64
MAX_STREAMS = 4096
MAX_SYMBOLS = 1024
# Event times past this (2200-01-01) or below 0 are not times.
MAX_EVENT_MS = 7_258_118_400_000

_INF = float("inf")
_NEVER = 1 << 62  # a time no record reaches


class Limits(NamedTuple):
    """How far a frame may jump before it is quarantined (settings `[feed]`)."""

    max_id_jump: int = 1_000_000_000
    max_time_jump_ms: int = 300_000
    price_band: float = 0.05
    confirm: int = 3


DEFAULT_LIMITS = Limits()


def limits_from(feed) -> Limits:
    """The limits of a `FeedSettings`."""
    return Limits(
        max_id_jump=feed.max_id_jump,
        max_time_jump_ms=round(feed.max_time_jump_s * 1000),
        price_band=feed.price_band_pct,
        confirm=feed.confirm_frames,
    )


class _Envelope(msgspec.Struct, gc=False):
    """Every venue's frame: Binance `{"stream","data"}`, OKX `{"arg","data"}` (or `{"event",…}` replies),
    Bybit `{"topic","type","data"}` (or `{"op","success",…}` replies)."""

    stream: str = ""
    data: msgspec.Raw = msgspec.Raw(b"")
    arg: msgspec.Raw = msgspec.Raw(b"")
    topic: str = ""
    event: str = ""
    type: str = ""
    ts: int | str = 0


class _Reply(msgspec.Struct, gc=False):
    """A frame without data: a reply to a request, an error, or (in recordings) a REST snapshot. Binance
    `{"result":null,"id":1}` / `{"code":2,"msg":…}`; OKX `{"event":"subscribe"|"error","code":"60012",…}`;
    Bybit `{"op":"subscribe"|"ping","success":true|false,"ret_msg":…}`."""

    code: int | str | None = None
    msg: str = ""
    id: int | str | None = None
    event: str = ""
    op: str = ""
    success: bool | None = None
    ret_msg: str = ""


class _BookTicker(msgspec.Struct, gc=False):
    u: int
    b: float
    B: float
    a: float
    A: float
    E: int = 0
    T: int = 0
    s: str = ""


class _Trade(msgspec.Struct, gc=False):
    t: int
    p: float
    q: float
    E: int = 0
    T: int = 0
    s: str = ""


class _AggTrade(msgspec.Struct, gc=False):
    a: int
    p: float
    q: float
    E: int = 0
    T: int = 0
    s: str = ""


class _MarkPrice(msgspec.Struct, gc=False):
    """Binance `markPriceUpdate`: mark `p`, index `i`, funding rate `r` and next funding time `T` (both empty
    or 0 on a delivery contract, hence strings and defaults)."""

    p: float
    i: float = 0.0
    r: str = ""
    T: int = 0
    E: int = 0
    s: str = ""


# The same payloads tagged by Binance's event type `e`, for the one-pass decode of a whole frame.
class _BookTickerE(_BookTicker, tag_field="e", tag="bookTicker", gc=False):
    pass


class _TradeE(_Trade, tag_field="e", tag="trade", gc=False):
    pass


class _AggTradeE(_AggTrade, tag_field="e", tag="aggTrade", gc=False):
    pass


class _MarkPriceE(_MarkPrice, tag_field="e", tag="markPriceUpdate", gc=False):
    pass


class _DepthE(msgspec.Struct, tag_field="e", tag="depthUpdate", gc=False):
    """A depth update: nothing of it is used (counted as ignored); its JSON is still checked while skipped."""


class _BinanceFrame(msgspec.Struct, gc=False):
    """A Binance combined-stream frame of the kinds that become market data (or of depth, the bulk of what
    is ignored), decoded in one pass."""

    stream: str
    data: _BookTickerE | _TradeE | _AggTradeE | _MarkPriceE | _DepthE


class _Suspect:
    """A jump under watch: the latest value of the excursion and how many frames in a row agreed."""

    __slots__ = ("seen", "value")

    def __init__(self, value: float) -> None:
        self.value = value
        self.seen = 1


class _Symbol:
    """What the parser remembers per symbol: the last trade price, the best bid/ask, the last good price
    (trade or book mid) that bands the next frames, and a price jump under watch."""

    __slots__ = (
        "ask",
        "ask_qty",
        "bid",
        "bid_qty",
        "funding",
        "index",
        "jump",
        "mark",
        "name",
        "next_funding",
        "price",
        "ref",
    )

    def __init__(self, name: str) -> None:
        self.name = name
        self.price = 0.0
        self.bid = 0.0
        self.bid_qty = 0.0
        self.ask = 0.0
        self.ask_qty = 0.0
        self.ref = 0.0
        self.jump: _Suspect | None = None
        # The latest mark price, index price, funding rate and next funding time (0: not known yet).
        self.mark = 0.0
        self.index = 0.0
        self.funding = 0.0
        self.next_funding = 0


# Stream roles (shared by every venue: a venue module maps its channels onto them).
BOOK, TRADE, AGG, IGNORED, MARK = 0, 1, 2, 3, 4
_BOOK, _TRADE, _AGG, _IGNORED, _MARK = BOOK, TRADE, AGG, IGNORED, MARK
_PAYLOAD = {
    _BOOK: "bad bookTicker payload",
    _TRADE: "bad trade payload",
    _AGG: "bad aggTrade payload",
    _MARK: "bad markPrice payload",
}
# A funding rate beyond ±100 % per interval, or a funding time past MAX_EVENT_MS, is not market data.
MAX_FUNDING_RATE = 1.0
_KNOWN_IGNORED = frozenset(
    {
        "depth",
        "kline",
        "ticker",
        "miniTicker",
        "forceOrder",
        "continuousKline",
        "rpiDepth",
        "indexPrice",
        "compositeIndex",
        "assetIndex",
        "contractInfo",
    }
)


class _Stream:
    __slots__ = ("ignored_as", "jump", "last_id", "role", "symbol")

    def __init__(self, role: int, symbol: _Symbol | None, ignored_as: str = "") -> None:
        self.role = role
        # None only for an ignored stream, whose symbol is never read.
        self.symbol: _Symbol = symbol  # type: ignore[assignment]
        self.last_id = -1
        self.ignored_as = ignored_as
        self.jump: _Suspect | None = None


def _identity(event_ms: int) -> int:
    return event_ms


def _count(table: dict[str, int], reason: str) -> int:
    """Count one frame under `reason`; past MAX_REASONS distinct reasons, under "other"."""
    n = table.get(reason)
    if n is None and len(table) >= MAX_REASONS - 1:
        reason = "other"
        n = table.get(reason)
    n = (n or 0) + 1
    table[reason] = n
    return n


class FrameParser:
    """Turns raw frames into MarketData, keeping per-symbol book state, dedup ids, baselines and counters."""

    def __init__(
        self,
        stamp: Callable[[int], int] | None = None,
        exchange: str = EXCHANGE,
        *,
        symbols: Collection[str] | None = None,
        limits: Limits = DEFAULT_LIMITS,
        future_ms: Callable[[], int] | None = None,
    ) -> None:
        """`symbols`: the configured symbols (None: any, at most MAX_SYMBOLS). `future_ms`: in a replay, the
        wall clock: a recording's event times never lie beyond it (live, None: the exchange's clock and ours
        may differ, and a real gap must be able to confirm)."""
        self.stamp = stamp or _identity
        self.exchange = exchange
        self.allowed = None if symbols is None else frozenset(s.upper() for s in symbols)
        self.limits = limits
        self._max_id = limits.max_id_jump
        self._max_dt = limits.max_time_jump_ms
        self._band = limits.price_band
        self._confirm = max(1, limits.confirm)
        self._future = future_ms
        self._frame = msgspec.json.Decoder(_BinanceFrame, strict=False).decode
        self._envelope = msgspec.json.Decoder(_Envelope).decode
        self._reply = msgspec.json.Decoder(_Reply).decode
        self._book = msgspec.json.Decoder(_BookTicker, strict=False).decode
        self._trade = msgspec.json.Decoder(_Trade, strict=False).decode
        self._agg = msgspec.json.Decoder(_AggTrade, strict=False).decode
        self._markprice = msgspec.json.Decoder(_MarkPrice, strict=False).decode
        self._readers: dict[str, object] = {}
        self._streams: dict[str, _Stream] = {}
        self._symbols: dict[str, _Symbol] = {}
        # The latest accepted event time (the replay clock), and an event-time jump under watch.
        self._time_ref: int | None = None
        self._time_jump: _Suspect | None = None
        self.frames = 0
        self.trades = 0
        self.books = 0
        self.marks = 0
        self.malformed: dict[str, int] = {}
        self.ignored: dict[str, int] = {}
        self.duplicates: dict[str, int] = {}
        self.quarantined: dict[str, int] = {}
        # The first frame seen for each malformed or quarantined reason, shortened, for the log.
        self.samples: dict[str, str] = {}
        self._reported: dict[str, int] = {}

    # --- the hot path ---

    def parse(self, raw: bytes | str, recv_ms: int) -> MarketData | None:
        """One frame in; the MarketData it gives (the last one, for a frame that carries several), or None
        (counted under its reason). Never raises."""
        out = self.parse_all(raw, recv_ms)
        return out[-1] if out else None

    def parse_all(self, raw: bytes | str, recv_ms: int) -> list[MarketData]:
        """One frame in; every MarketData it gives, in order (OKX and Bybit batch several trades in one
        frame; each entry of a batch counts as one frame read). Never raises."""
        out: list[MarketData] = []
        self.parse_frames(iter(((recv_ms * 1_000_000, raw),)), out, 1, _NEVER)
        return out

    def parse_frames(
        self,
        frames: Iterator[tuple[int, bytes | str]],
        out: list[MarketData],
        limit: int,
        until_ms: int,
        max_silent: int = 1 << 62,
    ) -> tuple[int, bool, bool]:
        """Frames `(recv_time_ns, raw)` taken from `frames` in turn, every record they give appended to `out`:
        up to the `limit`-th frame that gave records, or the first whose last record's `ts` is `until_ms` or
        later (a replay's batch between two turns of the loop, or up to its next check, in one call instead
        of one per frame), or `max_silent` frames in a row that gave none (a long run of them must not hold
        the caller's loop either). Returns how many frames gave records, whether `frames` ran out, and whether
        the `max_silent` run stopped it. Raises only what `frames` raises."""
        given = read = silent = 0
        streams = self._streams
        decode = self._frame
        book, trade, append = self.book, self.trade, out.append
        try:
            for recv_ns, raw in frames:
                recv_ms = recv_ns // 1_000_000
                read += 1
                # The common case inline (a replay's hottest loop): a Binance trade or book frame of a known stream.
                try:
                    try:
                        frame = decode(raw)
                    except msgspec.DecodeError:  # not this common shape: the general way below says what it is
                        frame = None
                    got: MarketData | None = None
                    general = True
                    if frame is not None:
                        stream = streams.get(frame.stream)
                        if stream is not None:
                            d: Any = frame.data  # the payload struct, told apart by its exact type
                            kind = type(d)
                            role = stream.role
                            general = False
                            if kind is _BookTickerE and role == _BOOK:
                                got = book(stream, d.u, d.E or d.T, d.b, d.a, d.B, d.A, d.s, raw, recv_ms, EXCHANGE)
                            elif kind is _TradeE and role == _TRADE:
                                got = trade(stream, d.t, d.E or d.T, d.p, d.q, d.s, raw, recv_ms, EXCHANGE)
                            elif kind is _AggTradeE and role == _AGG:
                                got = trade(stream, d.a, d.E or d.T, d.p, d.q, d.s, raw, recv_ms, EXCHANGE)
                            elif kind is _DepthE and role == _IGNORED:
                                _count(self.ignored, stream.ignored_as)
                            else:  # marks, and a type the stream name disagrees with: the general way
                                general = True
                except Exception as err:  # noqa: BLE001 - a case the checks missed is one bad frame, never a crash loop
                    self._problem("unreadable frame", raw, err)
                    general, got = False, None
                if general:
                    gave = self._general(raw, recv_ms, out)
                elif got is not None:
                    append(got)
                    gave = 1
                else:
                    gave = 0
                if not gave:
                    silent += 1
                    if silent >= max_silent:
                        return given, False, True
                    continue
                silent = 0
                given += 1
                if given >= limit or out[-1].ts >= until_ms:
                    return given, False, False
            return given, True, False
        finally:
            self.frames += read  # counted once per call: the frames read, whatever stopped the loop

    def _general(self, raw: bytes | str, recv_ms: int, out: list[MarketData]) -> int:
        before = len(out)
        try:
            self._parse(raw, recv_ms, out)
        except Exception as err:  # noqa: BLE001 - a case the checks missed is one bad frame, never a crash loop
            self._problem("unreadable frame", raw, err)
        return len(out) - before

    def _parse(self, raw: bytes | str, recv_ms: int, out: list[MarketData]) -> None:
        """Any frame but the common case: the envelope first, then the payload by the stream's role."""
        try:
            env = self._envelope(raw)
        except msgspec.ValidationError:
            self._problem("not a JSON object", raw)
            return
        except msgspec.DecodeError:
            if raw in (b"pong", "pong"):  # OKX's answer to its text keep-alive
                _count(self.ignored, "pong")
                return
            self._problem("not JSON", raw)
            return
        name = env.stream
        if not name:
            if env.topic:
                self._venue("bybit").frame(self, env, raw, recv_ms, out)
            elif env.arg and env.data and not env.event:
                self._venue("okx").frame(self, env, raw, recv_ms, out)
            else:
                self._without_stream(raw)
            return
        stream = self._streams.get(name)
        if stream is None:
            stream = self._new_stream(name)
            if stream is None:
                return
        role = stream.role
        md: MarketData | None
        try:
            if role == _BOOK:
                p = self._book(env.data)
                md = self.book(stream, p.u, p.E or p.T, p.b, p.a, p.B, p.A, p.s, raw, recv_ms, EXCHANGE)
            elif role == _TRADE:
                t = self._trade(env.data)
                md = self.trade(stream, t.t, t.E or t.T, t.p, t.q, t.s, raw, recv_ms, EXCHANGE)
            elif role == _AGG:
                a = self._agg(env.data)
                md = self.trade(stream, a.a, a.E or a.T, a.p, a.q, a.s, raw, recv_ms, EXCHANGE)
            elif role == _MARK:
                k = self._markprice(env.data)
                try:
                    rate = float(k.r) if k.r else 0.0
                except ValueError:
                    self._problem("bad funding rate", raw)
                    return
                md = self.mark(stream, k.E or k.T, k.p, k.i, rate, k.T, k.s, raw, recv_ms, EXCHANGE)
            else:
                _count(self.ignored, stream.ignored_as)
                return
        except msgspec.DecodeError as err:
            self._problem(_PAYLOAD[role], raw, err)
            return
        if md is not None:
            out.append(md)

    def _venue(self, name: str):
        """The frame reader of another venue (feeds/okx.py, feeds/bybit.py), made on its first frame."""
        reader = self._readers.get(name)
        if reader is None:
            if name == "okx":
                from tui_trader.feeds.okx import OkxFrames as cls
            else:
                from tui_trader.feeds.bybit import BybitFrames as cls  # type: ignore[assignment]
            reader = self._readers[name] = cls()
        return reader

    # --- the checks every venue's frames go through (a venue module decodes, these validate) ---

    def book(
        self,
        stream: _Stream,
        ident: int,
        event: int,
        b: float,
        a: float,
        bq: float,
        aq: float,
        s: str,
        raw: bytes | str,
        recv_ms: int,
        exchange: str,
    ) -> MarketData | None:
        """A best bid/ask update of `stream` (update id `ident`, -1 when the venue's ids do not order its
        updates: no dedup then; `s` the symbol the payload names or "")."""
        if not (0.0 < b < _INF and 0.0 < a < _INF):
            self._bad_number("book price", b if not 0.0 < b < _INF else a, raw)
            return None
        if not (0.0 < bq < _INF and 0.0 < aq < _INF):
            self._bad_number("book quantity", bq if not 0.0 < bq < _INF else aq, raw)
            return None
        sym = stream.symbol
        if s != sym.name and s:
            self._problem("symbol differs from its stream", raw)
            return None
        if ident < 0:
            ident = stream.last_id + 1 if stream.last_id >= 0 else 0
        ref = sym.ref
        last = stream.last_id
        tref = self._time_ref
        band = ref * self._band
        if (
            last < 0
            or not 0 < ident - last <= self._max_id
            or tref is None
            or not -self._max_dt <= event - tref <= self._max_dt
            or not (-band <= b - ref <= band and -band <= a - ref <= band)
        ):
            if not self._screen("book", stream, sym, ident, event, b, a, raw):
                return None
        else:
            stream.jump = sym.jump = self._time_jump = None
        stream.last_id = ident
        if tref is None or event > tref:
            self._time_ref = event
        sym.ref = (b + a) * 0.5
        sym.bid = b
        sym.bid_qty = bq
        sym.ask = a
        sym.ask_qty = aq
        self.books += 1
        return MarketData(
            symbol=sym.name,
            exchange=exchange,
            kind="book",
            price=sym.price,
            volume=0.0,
            bid=b,
            bid_qty=bq,
            ask=a,
            ask_qty=aq,
            event_time=event,
            recv_time=recv_ms,
            ts=self.stamp(event),
        )

    def trade(
        self,
        stream: _Stream,
        trade_id: int,
        event: int,
        price: float,
        qty: float,
        s: str,
        raw: bytes | str,
        recv_ms: int,
        exchange: str,
    ) -> MarketData | None:
        """One trade of `stream` (id `trade_id`, -1 when the venue gives no numeric id: no dedup then)."""
        if not 0.0 < price < _INF:
            self._bad_number("trade price", price, raw)
            return None
        if not 0.0 < qty < _INF:
            self._bad_number("trade quantity", qty, raw)
            return None
        sym = stream.symbol
        if s != sym.name and s:
            self._problem("symbol differs from its stream", raw)
            return None
        if trade_id < 0:
            trade_id = stream.last_id + 1 if stream.last_id >= 0 else 0
        ref = sym.ref
        last = stream.last_id
        tref = self._time_ref
        if (
            last < 0
            or not 0 < trade_id - last <= self._max_id
            or tref is None
            or not -self._max_dt <= event - tref <= self._max_dt
            or not -ref * self._band <= price - ref <= ref * self._band
        ):
            if not self._screen("trade", stream, sym, trade_id, event, price, price, raw):
                return None
        else:
            stream.jump = sym.jump = self._time_jump = None
        stream.last_id = trade_id
        if tref is None or event > tref:
            self._time_ref = event
        sym.ref = price
        sym.price = price
        self.trades += 1
        return MarketData(
            symbol=sym.name,
            exchange=exchange,
            kind="trade",
            price=price,
            volume=qty,
            bid=sym.bid,
            bid_qty=sym.bid_qty,
            ask=sym.ask,
            ask_qty=sym.ask_qty,
            event_time=event,
            recv_time=recv_ms,
            ts=self.stamp(event),
        )

    def mark(
        self,
        stream: _Stream,
        event: int,
        mark: float,
        index: float,
        rate: float | None,
        next_funding: int,
        s: str,
        raw: bytes | str,
        recv_ms: int,
        exchange: str,
    ) -> MarketData | None:
        """The mark price, index price, funding rate and next funding time of a symbol (0 or None: keep the
        last known; venues send them on separate channels or as partial updates): a `kind="mark"` record
        carrying all of them as last known, with the last trade and book."""
        sym = stream.symbol
        if rate is None:
            rate = sym.funding
        if not mark and not sym.mark:
            # Funding before the first mark price (OKX sends them apart): kept for the first mark record.
            if -MAX_FUNDING_RATE <= rate <= MAX_FUNDING_RATE and 0 <= next_funding < MAX_EVENT_MS:
                sym.funding = rate
                sym.next_funding = next_funding or sym.next_funding
            _count(self.ignored, "funding before mark price")
            return None
        mark = mark or sym.mark
        if not 0.0 < mark < _INF:
            self._bad_number("mark price", mark, raw)
            return None
        if not (0.0 <= index < _INF):
            self._bad_number("index price", index, raw)
            return None
        if not -MAX_FUNDING_RATE <= rate <= MAX_FUNDING_RATE:  # NaN fails both
            self._problem("bad funding rate", raw)
            return None
        if not 0 <= next_funding < MAX_EVENT_MS:
            self._problem("bad funding time", raw)
            return None
        if s != sym.name and s:
            self._problem("symbol differs from its stream", raw)
            return None
        # Marks carry no id worth checking (a resent mark is the same value): time and price are screened.
        ident = stream.last_id + 1 if stream.last_id >= 0 else 0
        ref = sym.ref
        tref = self._time_ref
        if (
            stream.last_id < 0
            or tref is None
            or not -self._max_dt <= event - tref <= self._max_dt
            or not -ref * self._band <= mark - ref <= ref * self._band
        ):
            if not self._screen("mark", stream, sym, ident, event, mark, mark, raw):
                return None
        else:
            stream.jump = sym.jump = self._time_jump = None
        stream.last_id = ident
        if tref is None or event > tref:
            self._time_ref = event
        sym.mark = mark
        if index:
            sym.index = index
        sym.funding = rate
        if next_funding:
            sym.next_funding = next_funding
        self.marks += 1
        return MarketData(
            symbol=sym.name,
            exchange=exchange,
            kind="mark",
            price=sym.price,
            volume=0.0,
            bid=sym.bid,
            bid_qty=sym.bid_qty,
            ask=sym.ask,
            ask_qty=sym.ask_qty,
            mark_price=mark,
            index_price=sym.index,
            funding_rate=rate,
            next_funding_time=sym.next_funding,
            event_time=event,
            recv_time=recv_ms,
            ts=self.stamp(event),
        )

    def stream_for(self, key: str, role: int, symbol_name: str, ignored_as: str = "") -> _Stream | None:
        """The stream `key` of a venue (e.g. "okx:trades:BTC-USDT-SWAP") carrying `symbol_name` in the desk's
        form, made on first sight; None when the symbol is not configured (counted, nothing remembered)."""
        stream = self._streams.get(key)
        if stream is not None:
            return stream
        allowed = self.allowed
        if (allowed is not None and symbol_name not in allowed) or (
            allowed is None and symbol_name not in self._symbols and len(self._symbols) >= MAX_SYMBOLS
        ):
            _count(self.ignored, "unconfigured symbol")
            return None
        if role == _IGNORED:
            stream = _Stream(_IGNORED, None, ignored_as)
        else:
            symbol = self._symbols.get(symbol_name)
            if symbol is None:
                symbol = self._symbols[symbol_name] = _Symbol(symbol_name)
            stream = _Stream(role, symbol)
        if len(self._streams) < MAX_STREAMS:
            self._streams[key] = stream
        elif role != _IGNORED:
            _count(self.ignored, "other stream")
            return None
        return stream

    def count_ignored(self, reason: str) -> None:
        _count(self.ignored, reason)

    def count_problem(self, reason: str, raw: bytes | str, err: Exception | None = None) -> None:
        self._problem(reason, raw, err)

    def count_batch(self, entries: int) -> None:
        """A frame carrying `entries` entries: each counts as one frame read (the first is already)."""
        if entries > 1:
            self.frames += entries - 1

    # --- the rare paths ---

    def _screen(
        self,
        kind: str,
        stream: _Stream,
        sym: _Symbol,
        ident: int,
        event: int,
        low: float,
        high: float,
        raw: bytes | str,
    ) -> bool:
        """A frame that is a stream's first, a duplicate, or jumps in id, time or price: True to publish it
        (the caller then moves the baselines), False when it was counted as a duplicate or quarantined."""
        if not 0 <= event < MAX_EVENT_MS:
            self._problem("bad event time", raw)
            return False
        max_id, max_dt, band = self._max_id, self._max_dt, self._band
        reasons: list[str] = []
        last = stream.last_id
        if last >= 0:
            step = ident - last
            if -max_id <= step <= 0:
                _count(self.duplicates, kind)
                return False
            if step > max_id or step < -max_id:
                stream.jump, confirmed = self._suspect(stream.jump, ident, lambda v, c: 0 < v - c <= max_id)
                if confirmed:
                    stream.last_id = ident
                else:
                    reasons.append(f"{kind} id jump")
            else:
                stream.jump = None
        base = self._time_ref
        if self._future is not None and event > self._future() + max_dt:
            reasons.append("event time in the future")  # never confirmed: a recording is never from the future
        elif base is not None and not -max_dt <= event - base <= max_dt:
            self._time_jump, confirmed = self._suspect(self._time_jump, event, lambda v, c: -max_dt <= v - c <= max_dt)
            if confirmed:
                self._time_ref = event  # the new baseline, forwards or backwards
            else:
                reasons.append("event time jump")
        else:
            self._time_jump = None
        ref = sym.ref
        mid = (low + high) * 0.5
        if ref > 0 and not (-ref * band <= low - ref <= ref * band and -ref * band <= high - ref <= ref * band):
            sym.jump, confirmed = self._suspect(sym.jump, mid, lambda v, c: -c * band <= v - c <= c * band)
            if confirmed:
                sym.ref = mid
            else:
                reasons.append(f"{kind} price outside band")
        else:
            sym.jump = None
        if reasons:
            reason = reasons[0]
            if _count(self.quarantined, reason) == 1:
                self._sample(reason, raw)
            return False
        return True

    def _suspect(
        self, cand: _Suspect | None, value: float, near: Callable[[float, float], bool]
    ) -> tuple[_Suspect | None, bool]:
        """Watch a jump: (the suspect to keep, whether `confirm` frames in a row now agree with it)."""
        if cand is not None and near(value, cand.value):
            cand.seen += 1
            cand.value = value
        else:
            cand = _Suspect(value)
        if cand.seen >= self._confirm:
            return None, True
        return cand, False

    def _new_stream(self, name: str) -> _Stream | None:
        prefix, _, kind = name.partition("@")
        kind = kind.partition("@")[0]
        symbol_name = prefix.upper()
        allowed = self.allowed
        if (allowed is not None and symbol_name not in allowed) or (
            allowed is None and symbol_name not in self._symbols and len(self._symbols) >= MAX_SYMBOLS
        ):
            # Not configured: counted and dropped, nothing remembered (no cache entry, no symbol state).
            _count(self.ignored, "unconfigured symbol")
            return None
        if kind == "bookTicker":
            role = _BOOK
        elif kind == "trade":
            role = _TRADE
        elif kind == "aggTrade":
            role = _AGG
        elif kind == "markPrice":
            role = _MARK
        else:
            # depth@0ms / depth20 → "depth", kline_1m → "kline", markPrice@1s → "markPrice".
            label = kind.partition("_")[0].rstrip("0123456789")
            stream = _Stream(_IGNORED, None, label if label in _KNOWN_IGNORED else "other stream")
            if len(self._streams) < MAX_STREAMS:
                self._streams[name] = stream
            return stream
        symbol = self._symbols.get(symbol_name)
        if symbol is None:
            symbol = self._symbols[symbol_name] = _Symbol(symbol_name)
        stream = _Stream(role, symbol)
        if len(self._streams) < MAX_STREAMS:
            self._streams[name] = stream
        else:  # only reachable with odd names for configured symbols; such a stream keeps no baseline
            _count(self.ignored, "other stream")
            return None
        return stream

    def _without_stream(self, raw: bytes | str) -> None:
        try:
            reply = self._reply(raw)
        except msgspec.DecodeError:
            return self._problem("frame without stream", raw)
        if (reply.code is not None and reply.code not in ("0", 0)) or reply.event == "error" or reply.success is False:
            code = reply.code if reply.code is not None else (reply.ret_msg or "?")
            return self._problem(f"subscription error (code {code})", raw)
        if reply.op == "ping" or reply.op == "pong" or reply.ret_msg == "pong":
            _count(self.ignored, "pong")
        else:
            _count(self.ignored, "reply" if reply.id is not None or reply.event or reply.op else "no stream")
        return None

    def _bad_number(self, what: str, value: float, raw: bytes | str) -> None:
        kind = "non-positive" if math.isfinite(value) else "non-finite"
        self._problem(f"{kind} {what}", raw)

    def _problem(self, reason: str, raw: bytes | str, err: Exception | None = None) -> None:
        if _count(self.malformed, reason) == 1:
            self._sample(reason, raw, err)
        return None

    def _sample(self, reason: str, raw: bytes | str, err: Exception | None = None) -> None:
        if reason in self.samples or len(self.samples) >= 2 * MAX_REASONS:
            return
        text = raw if isinstance(raw, str) else bytes(raw).decode("utf-8", "replace")
        text = text[:SAMPLE_CHARS] + ("…" if len(text) > SAMPLE_CHARS else "")
        self.samples[reason] = text + (f" ({err})" if err is not None else "")

    # --- figures ---

    def problem_report(self) -> str | None:
        """Malformed and quarantined frames since the last report, one line per call (the caller logs it once a
        minute), with a sample of each reason the first time it appears; None when nothing new."""
        reported = self._reported
        parts = []
        for label, table in (("malformed", self.malformed), ("quarantined", self.quarantined)):
            for reason, count in table.items():
                key = f"{label}:{reason}"
                before = reported.get(key, 0)
                if count > before:
                    part = f"{reason}: {count - before} (total {count})"
                    if before == 0 and reason in self.samples:
                        part += f", e.g. {self.samples[reason]}"
                    parts.append(part if label == "malformed" else f"quarantined {part}")
                    reported[key] = count
        return "malformed frames: " + "; ".join(parts) if parts else None

    def symbols_seen(self) -> list[str]:
        return list(self._symbols)

    def bad_frames(self) -> int:
        """Frames that were neither published nor routinely ignored: malformed and quarantined."""
        return sum(self.malformed.values()) + sum(self.quarantined.values())

    def counters(self) -> dict[str, int]:
        """Flat counts for a Health record: `read`, `published:<kind>` and `<bucket>:<reason>`."""
        out = {
            "read": self.frames,
            "published:trade": self.trades,
            "published:book": self.books,
            "published:mark": self.marks,
        }
        for bucket, table in (
            ("malformed", self.malformed),
            ("quarantined", self.quarantined),
            ("ignored", self.ignored),
            ("duplicates", self.duplicates),
        ):
            for reason, n in table.items():
                out[f"{bucket}:{reason}"] = n
        return out

    def summary(self) -> dict:
        return {
            "frames": self.frames,
            "published": {"trade": self.trades, "book": self.books, "mark": self.marks},
            "malformed": dict(self.malformed),
            "ignored": dict(self.ignored),
            "duplicates": dict(self.duplicates),
            "quarantined": dict(self.quarantined),
        }
