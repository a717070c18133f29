"""The OKX and Bybit collectors against loopback servers that speak each venue's protocol: subscribe on
connect, publish trades, books and marks in the desk's symbols, keep the connection alive with the venue's
ping, count subscription errors, and resubscribe after the server closes the connection."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "feeds"))
from feedkit import Harness
from kit import until
from net.venue_ws_server import VenueWsServer

from tui_trader.feeds import bybit, okx
from tui_trader.feeds.venue import plan_venue
from tui_trader.settings import (
    ExchangeSettings,
    FeedSettings,
    Settings,
    TradingSettings,
)

VENUES = ("okx", "bybit")


def settings(venue: str, url: str, symbols=("BTCUSDT", "ETHUSDT"), **feed) -> Settings:
    feed.setdefault("reconnect_max_s", 0.2)
    return Settings(
        trading=TradingSettings(symbols=list(symbols)),
        exchange=ExchangeSettings(name=venue),
        feed=FeedSettings(ws_base_url=url, **feed),
    )


def test_the_venue_follows_the_exchange_and_ws_base_url_keeps_the_venues_path():
    [o] = plan_venue(settings("okx", "ws://127.0.0.1:9"))
    assert o.url == "ws://127.0.0.1:9/ws/v5/public" and o.ping == b"ping"
    [b] = plan_venue(settings("bybit", ""))
    assert b.url == "wss://stream.bybit.com/v5/public/linear"
    [o2] = plan_venue(settings("okx", ""))
    assert o2.url == "wss://ws.okx.com:8443/ws/v5/public"
    assert okx.inst_id("BTCUSDT") == "BTC-USDT-SWAP" and okx.desk_symbol("BTC-USDT-SWAP") == "BTCUSDT"
    # Bybit takes at most 10 args per subscribe request.
    [big] = bybit.plan([f"C{i}USDT" for i in range(20)], "ws://h")
    assert len(big.subscribe) == 6 and all(r.count(b'"') // 2 <= 10 + 6 for r in big.subscribe)


@pytest.mark.parametrize("venue", VENUES)
async def test_trades_books_and_marks_arrive_in_the_desks_symbols(venue):
    async with VenueWsServer(venue) as server, Harness(settings(venue, server.url)) as h:
        await until(
            lambda: {md.kind for md in h.market if md.symbol == "ETHUSDT"} == {"trade", "book", "mark"},
            what="trades, books and marks",
        )
        assert {md.symbol for md in h.market} == {"BTCUSDT", "ETHUSDT"}
        assert {md.exchange for md in h.market} == {venue}
        mark = next(md for md in h.market if md.kind == "mark")
        assert mark.mark_price > 0 and mark.funding_rate == 0.0001 and mark.next_funding_time > mark.event_time
        assert "live" in h.states(f"feed:{venue}-1")
        assert server.violations == []
        assert h.worker.parser.summary()["malformed"] == {}


@pytest.mark.parametrize("venue", VENUES)
async def test_the_client_pings_as_the_venue_requires_and_stays_connected(venue, monkeypatch):
    monkeypatch.setattr(okx, "PING_EVERY_S", 0.1)
    monkeypatch.setattr(bybit, "PING_EVERY_S", 0.1)
    async with (
        VenueWsServer(venue, require_ping_s=0.5, pace_s=0.02) as server,
        Harness(settings(venue, server.url)) as h,
    ):
        await until(lambda: server.connections and server.connections[0].pings >= 5, what="pings")
        assert len(server.connections) == 1  # never dropped for silence
        assert h.worker.parser.ignored.get("pong", 0) >= 1  # the answers are counted, not malformed
        assert h.worker.parser.summary()["malformed"] == {}


@pytest.mark.parametrize("venue", VENUES)
async def test_a_closed_connection_reconnects_resubscribes_and_goes_on(venue):
    async with VenueWsServer(venue, close_after={0: 30}) as server, Harness(settings(venue, server.url)) as h:
        await server.wait_connections(2)
        before = len(h.market)
        await until(lambda: len(h.market) > before + 20, what="frames after the reconnect")
        assert server.connections[1].subscribed == server.connections[0].subscribed
        assert "down" in h.states(f"feed:{venue}-1")


@pytest.mark.parametrize("venue", VENUES)
async def test_a_symbol_the_venue_does_not_list_is_a_counted_subscription_error(venue):
    async with (
        VenueWsServer(venue, symbols=("BTCUSDT",)) as server,
        Harness(settings(venue, server.url, symbols=("BTCUSDT", "NOPEUSDT"))) as h,
    ):
        await until(lambda: any(md.symbol == "BTCUSDT" for md in h.market), what="BTCUSDT data")
        await until(
            lambda: any(r.startswith("subscription error") for r in h.worker.parser.malformed),
            what="the subscription error counted",
        )
        await until(
            lambda: any(x.component == "collector" and x.state == "bad_frames" for x in h.health),
            what="the collector's Health to say so",
        )
