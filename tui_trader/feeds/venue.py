"""What the collector needs to know of a venue's public websocket (pure, no I/O): its host and path, the
connections that carry the configured symbols, the subscription requests sent on connect, and the text of
its application-level keep-alive.

Binance USD-M names its streams in the URL (feeds/binance_plan.py); OKX and Bybit open one path and subscribe
with a request per connection. `feed.ws_base_url` replaces the venue's scheme and host and keeps its path,
so a testnet or a local server needs no code change; empty means the venue's own host.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from tui_trader.errors import FeedError

VenueName = Literal["binanceusdm", "okx", "bybit"]
# The venue each `exchange.name` trades on (and so reads its market data from).
VENUE_OF_EXCHANGE: dict[str, VenueName] = {
    "binanceusdm": "binanceusdm",
    "binance": "binanceusdm",
    "okx": "okx",
    "bybit": "bybit",
}


@dataclass(frozen=True)
class VenueSpec:
    """One subscribed connection: a name, its URL, the requests to send once open, its symbols, and the
    keep-alive text to send every `ping_every_s` (empty: the websocket's own pings suffice)."""

    name: str
    url: str
    subscribe: tuple[bytes, ...]
    symbols: tuple[str, ...]
    ping: bytes = b""
    ping_every_s: float = 20.0
    topics: tuple[str, ...] = field(default=())

    @property
    def streams(self) -> tuple[str, ...]:
        """The subscribed channels (as `ConnectionSpec.streams`, for logs and the desk)."""
        return self.topics


def venue_of(settings) -> VenueName:
    """`feed.venue`, or the venue `exchange.name` trades on."""
    chosen = settings.feed.venue or VENUE_OF_EXCHANGE.get(settings.exchange.name, "binanceusdm")
    return VENUE_OF_EXCHANGE.get(chosen, chosen)


def base_url(settings, default_host: str) -> str:
    url = settings.feed.ws_base_url or default_host
    if not (url.startswith("wss://") or url.startswith("ws://")):
        raise FeedError(f"feed.ws_base_url must start with wss:// or ws:// (got {url!r})")
    return url.rstrip("/")


def chunks(items: Sequence[str], size: int) -> list[list[str]]:
    return [list(items[i : i + size]) for i in range(0, len(items), max(1, size))]


def plan_venue(settings) -> list[VenueSpec]:
    """The subscribed connections of OKX or Bybit for `trading.symbols` (Binance: feeds/binance_plan.py)."""
    venue = venue_of(settings)
    if venue == "okx":
        from tui_trader.feeds import okx as mod
    elif venue == "bybit":
        from tui_trader.feeds import bybit as mod  # type: ignore[no-redef]
    else:
        raise FeedError(f"{venue} names its streams in the URL; use feeds/binance_plan.py")
    return mod.plan(
        settings.trading.symbols, base_url(settings, mod.HOST), per_connection=settings.feed.streams_per_connection
    )


def plan_feed(settings) -> list:
    """The connections of the chosen venue: Binance's `ConnectionSpec`s or OKX/Bybit's `VenueSpec`s (both run
    by feeds/connection.py, with `base_url` from `feed_base_url`)."""
    if venue_of(settings) == "binanceusdm":
        from tui_trader.feeds.binance_plan import plan_from_settings

        return plan_from_settings(settings)
    return plan_venue(settings)


def feed_base_url(settings) -> str:
    """The base URL Binance's specs are joined to (OKX/Bybit specs carry their whole URL)."""
    from tui_trader.feeds.binance_plan import base_url as binance_base

    return binance_base(settings)
