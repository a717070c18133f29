"""The live collector against a loopback Binance server playing real frames (127.0.0.1 only)."""

from __future__ import annotations

from collections import Counter

import pytest
from feedkit import Harness, as_dicts, expected_market_data, make_settings
from kit import until
from net.binance_ws_server import BinanceWsServer, as_agg_trade

from tui_trader.feeds import connection


@pytest.fixture(autouse=True)
def quick_reconnects(monkeypatch):
    monkeypatch.setattr(connection, "RECONNECT_BASE_S", 0.02)


def settings_for(server: BinanceWsServer, symbols=("BTCUSDT",), **feed):
    feed.setdefault("trade_stream", "trade")
    return make_settings(symbols, ws_base_url=server.url, **feed)


async def test_paths_and_streams_opened_for_a_symbol_set():
    async with BinanceWsServer(silent=True) as server:
        settings = settings_for(
            server, ["BTCUSDT", "SOLUSDT", "ETHUSDT", "XRPUSDT"], trade_stream="aggTrade", dedicated_symbols=["BTCUSDT"]
        )
        async with Harness(settings):
            await server.wait_connections(4)
        opened = sorted((c.route, tuple(c.streams)) for c in server.connections)
    assert opened == [
        ("market", ("btcusdt@aggTrade",)),
        ("market", ("solusdt@aggTrade", "ethusdt@aggTrade", "xrpusdt@aggTrade")),
        ("public", ("btcusdt@bookTicker",)),
        ("public", ("solusdt@bookTicker", "ethusdt@bookTicker", "xrpusdt@bookTicker")),
    ]
    assert server.violations == []


async def test_every_trade_and_book_frame_becomes_exactly_one_market_data(btc_frames):
    async with BinanceWsServer(btc_frames) as server, Harness(settings_for(server)) as h:
        await until(lambda: len(h.market) >= len(btc_frames), what="every frame published")
        await h.caught_up()
        assert as_dicts(h.market) == expected_market_data(btc_frames)
        assert h.worker.summary()["malformed"] == {}
        assert all(md.recv_time > 1_600_000_000_000 for md in h.market)  # local receipt time, ms
    assert [c.path for c in server.connections] == ["/public/stream?streams=btcusdt@trade/btcusdt@bookTicker"]
    assert server.violations == []


async def test_aggtrade_on_market_and_bookticker_on_public_both_arrive(btc_frames):
    frames = [as_agg_trade(f) if "@trade" in f else f for f in btc_frames]
    async with BinanceWsServer(frames) as server, Harness(settings_for(server, trade_stream="aggTrade")) as h:
        await until(lambda: len(h.market) >= len(frames), what="every frame published")
        await h.caught_up()
    assert server.violations == []
    assert {c.route for c in server.connections} == {"public", "market"}
    expected = expected_market_data(frames)
    # Two connections: order across them is not fixed, so compare per kind (the trade's book may differ).
    trades = [(d["price"], d["volume"], d["event_time"]) for d in as_dicts(h.market) if d["kind"] == "trade"]
    assert trades == [(d["price"], d["volume"], d["event_time"]) for d in expected if d["kind"] == "trade"]
    books = [d for d in as_dicts(h.market) if d["kind"] == "book"]
    assert [(d["bid"], d["ask"], d["event_time"]) for d in books] == [
        (d["bid"], d["ask"], d["event_time"]) for d in expected if d["kind"] == "book"
    ]


@pytest.mark.parametrize("close_mode", ["close", "drop"])
async def test_server_closing_mid_stream_reconnects_without_duplicates_or_gaps(btc_frames, close_mode):
    # Two cuts; each reconnect gets the last 100 frames again, as an exchange may resend.
    async with (
        BinanceWsServer(btc_frames, close_after={0: 800, 1: 900}, close_mode=close_mode, resend=100) as server,
        Harness(settings_for(server)) as h,
    ):
        await until(lambda: len(h.market) >= len(btc_frames), what="every frame published")
        await h.caught_up()
        assert as_dicts(h.market) == expected_market_data(btc_frames)
        summary = h.worker.summary()
    assert len(server.connections) == 3
    assert sum(summary["duplicates"].values()) == 200  # resent frames dropped, not published
    states = h.states("feed:public-btcusdt")
    assert states[:2] == ["connecting", "live"] and states.count("down") == 2 and states[-1] == "live"
    assert summary["connections"]["public-btcusdt"]["sessions"] == 3


async def test_a_silent_server_marks_the_feed_stale():
    async with (
        BinanceWsServer(silent=True) as server,
        Harness(settings_for(server, ["BTCUSDT", "ETHUSDT"], stale_after_s=0.3)) as h,
    ):
        await until(lambda: "stale" in h.states("feed:public-btcusdt"), what="the stale state")
    stale = next(x for x in h.health if x.component == "feed:public-btcusdt" and x.state == "stale")
    assert stale.symbols == ["BTCUSDT"] and "no message for 0.3 s" in stale.detail
    assert "stale" in h.states("feed:public-ethusdt")


async def test_only_the_quiet_symbol_is_stale_and_the_feed_recovers(btc_frames):
    # One shared connection for BTC and ETH; the server trickles BTC frames only.
    async with BinanceWsServer(btc_frames[:400], pace_s=0.005, start_delay_s=1.0) as server:
        settings = settings_for(server, ["BTCUSDT", "ETHUSDT"], dedicated_symbols=[], stale_after_s=0.3)
        async with Harness(settings) as h:
            comp = "feed:public-shared-1"
            await until(
                lambda: any(x.component == comp and x.state == "stale" and x.symbols == ["ETHUSDT"] for x in h.health),
                what="ETH alone stale",
            )
    states = h.states(comp)
    first_stale = next(x for x in h.health if x.component == comp and x.state == "stale")
    assert first_stale.symbols == ["BTCUSDT", "ETHUSDT"]  # nothing yet during the start delay
    assert states[:3] == ["connecting", "live", "stale"]


async def test_stale_feed_goes_live_again_when_messages_flow(btc_frames):
    async with (
        BinanceWsServer(btc_frames[:200], pace_s=0.01, start_delay_s=0.6) as server,
        Harness(settings_for(server, stale_after_s=0.3)) as h,
    ):
        await until(lambda: h.states("feed:public-btcusdt")[-2:] == ["stale", "live"], what="stale then live again")


async def test_garbage_frames_are_counted_not_fatal(btc_frames):
    garbage = [
        "not json",
        "[1,2,3]",
        b"\x00\xff binary",
        '{"code":2,"msg":"Invalid request: unknown stream"}',
        '{"result":null,"id":1}',
        '{"stream":"btcusdt@trade","data":{"e":"trade","t":1,"p":"abc","q":"1","E":1}}',
        '{"stream":"btcusdt@bookTicker","data":{"u":5}}',
    ]
    frames = btc_frames[:500]
    async with BinanceWsServer(frames, preamble=garbage) as server, Harness(settings_for(server)) as h:
        await until(lambda: len(h.market) >= len(frames), what="the real frames after the garbage")
        await h.caught_up()
        summary = h.worker.summary()
    assert as_dicts(h.market) == expected_market_data(frames)
    assert summary["malformed"] == {
        "not JSON": 2,
        "not a JSON object": 1,
        "subscription error (code 2)": 1,
        "bad trade payload": 1,
        "bad bookTicker payload": 1,
    }
    assert summary["ignored"] == {"reply": 1}
    assert summary["connections"]["public-btcusdt"]["sessions"] == 1
    assert "down" not in h.states("feed:public-btcusdt")


async def test_live_bad_frames_reach_the_desk_as_collector_health_counters(btc_frames):
    """Live, the counts by reason go out as the `collector` Health record within about a second of changing."""
    import json

    frames = list(btc_frames[:300])
    trades = [i for i, f in enumerate(frames) if f.startswith('{"stream":"btcusdt@trade"')]
    for i, change in zip(trades[5:8], ({"p": "NaN"}, {"t": 2**70}, {"p": "1e300"}), strict=False):
        env = json.loads(frames[i])
        env["data"].update(change)
        frames[i] = json.dumps(env)
    async with BinanceWsServer(frames) as server, Harness(settings_for(server)) as h:
        await until(lambda: len(h.market) >= len(frames) - 3, what="the good frames")

        def reported():
            last = [x for x in h.health if x.component == "collector"]
            return last and last[-1].counters.get("read") == len(frames) and last[-1]

        await until(reported, timeout=5, what="the collector's Health with every frame counted")
        health = reported()
        summary = h.worker.summary()
    assert health.state == "bad_frames"
    assert health.counters["malformed:non-finite trade price"] == 1
    assert health.counters["quarantined:trade id jump"] == 1
    assert health.counters["quarantined:trade price outside band"] == 1
    assert summary["bad_frames"] == 3 and len(h.market) == len(frames) - 3
    assert next(x.state for x in h.health if x.component == "collector") == "ok"  # announced at start


async def test_server_pings_are_answered(btc_frames):
    async with BinanceWsServer(btc_frames[:50]) as server, Harness(settings_for(server)) as h:
        await until(lambda: len(h.market) >= 50, what="frames")
        latency = await server.ping(0)
    assert latency >= 0.0


async def test_connections_rotate_before_the_cut_without_duplicates(btc_frames):
    frames = btc_frames[:300]
    async with (
        BinanceWsServer(frames, pace_s=0.004, resend=20) as server,
        Harness(settings_for(server, rotate_after_s=0.4)) as h,
    ):
        await until(lambda: len(h.market) >= len(frames), what="every frame published")
        await h.caught_up()
        summary = h.worker.summary()["connections"]["public-btcusdt"]
    assert summary["rotations"] >= 1 and len(server.connections) >= 2
    assert as_dicts(h.market) == expected_market_data(frames)


async def test_refused_connections_are_retried_with_backoff_and_reported_down():
    async with BinanceWsServer() as server:
        url = server.url
    # The server is gone: its port now refuses connections.
    async with Harness(make_settings(ws_base_url=url, trade_stream="trade")) as h:
        await until(
            lambda: h.worker.summary().get("connections", {}).get("public-btcusdt", {}).get("reconnects", 0) >= 3,
            what="three retries",
        )
    down = [x for x in h.health if x.component == "feed:public-btcusdt" and x.state == "down"]
    assert down and "reconnecting in" in down[0].detail
    assert Counter(h.states("feed:public-btcusdt"))["live"] == 0
