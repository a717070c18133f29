"""Binance USD-M market streams: names, routed paths and the connection plan (pure, no I/O).

Since Binance split its USD-M websocket hosts (2026-04-23) every stream lives on one routed path, and a connection carries
streams of one path only: `/public` for the high-frequency book streams (bookTicker, depth, and `trade`
as ccxt routes it), `/market` for the rest (aggTrade, markPrice, kline, ...). A stream on the wrong path
opens fine and then stays silent, so the plan below never mixes them.

The plan: every symbol in `feed.dedicated_symbols` (and traded) gets its own connection per path it needs;
the other symbols share connections per path, at most `feed.streams_per_connection` streams each.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from tui_trader.errors import FeedError

Route = Literal["public", "market"]

HOST = "wss://fstream.binance.com"
BOOK_STREAM = "bookTicker"
MARK_STREAM = "markPrice@1s"  # mark price, index, funding rate and next funding time, once a second
_ROUTE_ORDER: tuple[Route, ...] = ("public", "market")
# Stream kind (the part after '@', up to a second '@' or '_') → routed path. ccxt 4.5.90's
# get_future_ws_category sends depth, rpiDepth, bookTicker and trade to /public, the rest to /market.
PUBLIC_KINDS = frozenset({"bookTicker", "trade", "depth", "rpiDepth"})


def route_of(stream: str) -> Route:
    """The routed path a stream must be opened on: "public" or "market"."""
    kind = stream.partition("@")[2]
    for sep in ("@", "_"):
        kind = kind.partition(sep)[0]
    return "public" if kind in PUBLIC_KINDS else "market"


def stream_name(symbol: str, kind: str) -> str:
    """`btcusdt@aggTrade`: the symbol lower-case, the kind as Binance spells it."""
    return f"{symbol.lower()}@{kind}"


def symbol_streams(symbol: str, trade_stream: str, marks: bool = False) -> list[str]:
    """The streams one symbol needs: its trades and its best bid/ask, and its mark price and funding."""
    streams = [stream_name(symbol, trade_stream), stream_name(symbol, BOOK_STREAM)]
    return [*streams, stream_name(symbol, MARK_STREAM)] if marks else streams


@dataclass(frozen=True)
class ConnectionSpec:
    """One websocket connection: a name for logs and the desk, its routed path and its streams."""

    name: str  # "public-btcusdt", "market-shared-1", …
    route: Route
    streams: tuple[str, ...]

    @property
    def symbols(self) -> list[str]:
        """The symbols this connection carries, upper-case, in first-seen order."""
        seen: dict[str, None] = {}
        for s in self.streams:
            seen.setdefault(s.partition("@")[0].upper(), None)
        return list(seen)

    def url(self, base_url: str) -> str:
        """The combined-stream URL: `<base>/<route>/stream?streams=a/b/c`."""
        return f"{base_url.rstrip('/')}/{self.route}/stream?streams={'/'.join(self.streams)}"


def plan_connections(
    symbols: Sequence[str],
    *,
    trade_stream: str = "aggTrade",
    dedicated: Iterable[str] = (),
    per_connection: int = 200,
    marks: bool = False,
) -> list[ConnectionSpec]:
    """The connections that carry `symbols`: dedicated ones first (in symbol order), then shared ones."""
    if per_connection < 1:
        raise ValueError("per_connection must be >= 1")
    dedicated_set = {s.upper() for s in dedicated}
    ordered = list(dict.fromkeys(s.upper() for s in symbols))
    specs: list[ConnectionSpec] = []
    shared: dict[Route, list[str]] = {"public": [], "market": []}
    for symbol in ordered:
        by_route: dict[Route, list[str]] = {}
        for stream in symbol_streams(symbol, trade_stream, marks):
            by_route.setdefault(route_of(stream), []).append(stream)
        if symbol in dedicated_set:
            for route in sorted(by_route, key=_ROUTE_ORDER.index):
                streams = by_route[route]
                # One or two streams per path today; chunked anyway so the limit holds whatever is added.
                for i, chunk in enumerate(_chunks(streams, per_connection), 1):
                    suffix = f"-{i}" if len(streams) > per_connection else ""
                    specs.append(ConnectionSpec(f"{route}-{symbol.lower()}{suffix}", route, tuple(chunk)))
        else:
            for route, streams in by_route.items():
                shared[route].extend(streams)
    for route in _ROUTE_ORDER:
        for i, chunk in enumerate(_chunks(shared[route], per_connection), 1):
            specs.append(ConnectionSpec(f"{route}-shared-{i}", route, tuple(chunk)))
    return specs


def plan_from_settings(settings) -> list[ConnectionSpec]:
    """The plan for the traded symbols (`trading.symbols`) with the `[feed]` settings."""
    feed = settings.feed
    check_base_url(base_url(settings))
    return plan_connections(
        settings.trading.symbols,
        trade_stream=feed.trade_stream,
        dedicated=feed.dedicated_symbols,
        per_connection=feed.streams_per_connection,
        marks=feed.marks,
    )


def base_url(settings) -> str:
    """`feed.ws_base_url`, or Binance's own host when it is empty."""
    return settings.feed.ws_base_url or HOST


def check_base_url(url: str) -> None:
    if not (url.startswith("wss://") or url.startswith("ws://")):
        raise FeedError(f"feed.ws_base_url must start with wss:// or ws:// (got {url!r})")


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
