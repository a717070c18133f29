"""The live collector when the bus is slower than the market (loopback Binance server playing real frames, a bus
whose market-data publishing waits on an event the test controls): the reader never waits on the bus, books
conflate and are counted, every trade arrives in order or its loss is a gap the desk sees and the router
waits out; a feed that goes quiet reconnects."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from feedkit import Harness, as_dicts, expected_market_data, make_settings
from kit import until
from net.binance_ws_server import BinanceWsServer

from tui_trader import messages as m
from tui_trader.bus import EmbeddedBus
from tui_trader.feeds import connection
from tui_trader.portfolio.router_core import RouterCore
from tui_trader.settings import Settings
from tui_trader.ui.state import DeskModel
from tui_trader.ui.widgets.colours import Colours
from tui_trader.ui.widgets.status import status_text
from tui_trader.ui.widgets.view import View

CONN = "public-btcusdt"


@pytest.fixture(autouse=True)
def quick_reconnects(monkeypatch):
    monkeypatch.setattr(connection, "RECONNECT_BASE_S", 0.02)


class SlowBus:
    """The embedded bus, except that publishing market data waits until `gate` is set. It offers no
    `publish_nowait` (`nowait` is False), so the collector treats it as any bus that can make a publisher wait (Fluvio)."""

    publish_nowait = None
    nowait = False

    def __init__(self, inner: EmbeddedBus) -> None:
        self.inner = inner
        self.gate = asyncio.Event()
        self.market_topic = m.topic_name(m.MARKET_DATA, "")
        self.published_batches = 0

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    async def publish(self, topic: str, key: str, value: bytes) -> int:
        if topic == self.market_topic:
            await self.gate.wait()
        return await self.inner.publish(topic, key, value)

    async def publish_many(self, topic: str, records: Sequence[tuple[str, bytes]]) -> list[int]:
        if topic == self.market_topic:
            await self.gate.wait()
            self.published_batches += 1
        return [await self.inner.publish(topic, key, value) for key, value in records]

    publish_bundled = publish_many  # the batch path of a bus that may carry several messages per record


def settings_for(server: BinanceWsServer, **feed):
    return make_settings(["BTCUSDT"], ws_base_url=server.url, trade_stream="trade", **feed)


def is_subsequence(part: list, whole: list) -> bool:
    it = iter(whole)
    return all(any(x == y for y in it) for x in part)


def slow_harness(settings) -> tuple[Harness, list[SlowBus]]:
    made: list[SlowBus] = []

    def wrap(inner: EmbeddedBus) -> SlowBus:
        made.append(SlowBus(inner))
        return made[0]

    return Harness(settings, wrap_bus=wrap), made


def desk_after(health: Sequence[m.Health]) -> DeskModel:
    desk = DeskModel(starting_balance=10_000.0)
    for x in health:
        desk.on_health(x)
    return desk


def feed_line(health: Sequence[m.Health], now_ms: int) -> str:
    """The desk's status bar (120 columns) after these Health records, as a desk on the bus would show it."""
    desk = desk_after(health)
    colours = Colours(buy="green", sell="red", warn="yellow", muted="grey50", accent="cyan", primary="blue")
    view = View(
        state=desk, settings=Settings(), now_ms=now_ms, colours=colours, lag={}, backend="embedded", narrow=False
    )
    return status_text(view).plain


async def drained(h: Harness) -> None:
    await until(lambda: not h.worker.handoff, "the hand-off to drain")
    await h.caught_up()


async def test_a_stuck_bus_never_holds_the_reader_books_conflate_and_every_trade_arrives_in_order(btc_frames):
    async with BinanceWsServer(btc_frames) as server:
        h, made = slow_harness(settings_for(server))
        async with h:
            slow = made[0]
            await until(
                lambda: CONN in h.worker.connections and h.worker.connections[CONN].frames == len(btc_frames),
                "the reader to take every frame while the bus publishes nothing",
            )
            assert h.market == []
            slow.gate.set()
            await drained(h)
            await until(
                lambda: any("lag_p99_us" in x.counters for x in h.health if x.component == "collector"),
                "the collector's Health with the publish lag",
            )
            summary = h.worker.summary()
    expected = expected_market_data(btc_frames)
    got = as_dicts(h.market)
    assert [d for d in got if d["kind"] == "trade"] == [d for d in expected if d["kind"] == "trade"]
    assert is_subsequence(got, expected)  # nothing reordered: books only replaced by later ones
    books = sum(d["kind"] == "book" for d in expected)
    conflated = summary["handoff"]["conflated:book"]
    assert conflated > 0 and sum(d["kind"] == "book" for d in got) + conflated == books
    assert not any(md.gap for md in h.market) and "lost_trades:BTCUSDT" not in summary["handoff"]
    health = [x for x in h.health if x.component == "collector" and "lag_p99_us" in x.counters][-1]
    assert health.counters["conflated:book"] == conflated
    lag = health.counters
    assert 0 < lag["lag_p50_us"] <= lag["lag_p99_us"] <= lag["lag_max_us"]
    assert "publish lag p50" in health.detail
    assert f"feed live lag p99 {lag['lag_p99_us'] / 1000:.1f} ms" in feed_line(h.health, health.ts)


async def test_trades_lost_to_a_full_hand_off_are_a_gap_shown_and_waited_out_by_the_router(btc_frames):
    hold = 2000
    release = asyncio.Event()
    first = btc_frames[:hold]
    trades_first = sum('@trade"' in f for f in first)
    async with BinanceWsServer(btc_frames, hold_at=(hold, release)) as server:
        h, made = slow_harness(settings_for(server, max_waiting_trades=100, gap_clear_s=0.2))
        async with h:
            slow = made[0]
            await until(
                lambda: CONN in h.worker.connections and h.worker.connections[CONN].frames == hold,
                "the reader to take the first frames while the bus publishes nothing",
            )
            lost = h.worker.handoff.lost.get("BTCUSDT", 0)
            assert lost > 0
            slow.gate.set()
            await drained(h)
            await until(
                lambda: any(x.component == "feed:gaps" and x.state == "gap" for x in h.health), "the gap announced"
            )
            gap = next(x for x in h.health if x.component == "feed:gaps" and x.state == "gap")
            assert gap.symbols == ["BTCUSDT"] and f"BTCUSDT {lost}" in gap.detail
            assert f"feed gap: trades lost: BTCUSDT {lost}; no entries on it" in feed_line(h.health, gap.ts)
            assert [(n.title, n.message) for n in desk_after(h.health).notices if n.title == "Feed gap"] == [
                ("Feed gap", gap.detail)
            ]
            # The router, fed what the collector published, takes no entry on the gapped symbol.
            router = RouterCore(make_settings(["BTCUSDT"]))
            before = list(h.market)
            for md in before:
                router.on_market_data(md, md.ts)
            assert before[-1].gap
            out = router.on_signal(signal(before[-1]), before[-1].ts)
            assert out.commands == [] and router.denials.get("feed_gap") == 1
            assert next(d.error for d in out.denials).startswith("feed_gap")
            # The gap closes once what waited has gone out and a quiet spell without losses has passed.
            await until(
                lambda: any(x.component == "feed:gaps" and x.state == "whole" for x in h.health), "the feed whole"
            )
            assert "feed live" in feed_line(h.health, h.health[-1].ts)
            release.set()
            await until(lambda: h.worker.connections[CONN].frames == len(btc_frames), "the rest of the frames")
            await drained(h)
            after = h.market[len(before) :]
            assert after and not any(md.gap for md in after)
            for md in after:
                router.on_market_data(md, md.ts)
            out = router.on_signal(signal(after[-1]), after[-1].ts)
            assert len(out.commands) == 1 and out.commands[0].purpose == "entry"
            summary = h.worker.summary()
    trades = [d for d in as_dicts(h.market) if d["kind"] == "trade"]
    expected_trades = [d for d in expected_market_data(btc_frames) if d["kind"] == "trade"]
    assert is_subsequence(trades, expected_trades)  # what went out is in order, nothing doubled
    assert len(trades) + lost == len(expected_trades)  # every trade published or counted lost
    assert summary["handoff"]["lost_trades:BTCUSDT"] == lost and lost <= trades_first
    assert sum(md.gap for md in h.market) > 0


def signal(md: m.MarketData) -> m.TradingSignal:
    ind = m.Indicators(
        rsi=25.0,
        macd=1.0,
        macd_signal=0.5,
        macd_hist=0.5,
        bb_upper=md.price * 1.01,
        bb_middle=md.price,
        bb_lower=md.price * 0.99,
        sma_fast=md.price,
        sma_slow=md.price,
        ema_fast=md.price,
        ema_slow=md.price,
    )
    return m.TradingSignal(
        id=f"sig-{md.ts}",
        symbol=md.symbol,
        signal="StrongBuy",
        strength=0.9,
        buy_score=5,
        sell_score=0,
        reasons=["rsi<30:+2"],
        indicators=ind,
        price=md.price,
        ts=md.ts,
    )


async def test_a_feed_that_goes_quiet_reconnects_and_goes_on(btc_frames):
    frames = btc_frames[:600]
    async with BinanceWsServer(frames, quiet_after={0: 200}) as server:
        settings = settings_for(server, stale_after_s=0.2, reconnect_quiet_s=0.5)
        async with Harness(settings) as h:
            await until(lambda: len(h.market) >= len(frames), "every frame, the rest after a reconnect")
            await h.caught_up()
    assert as_dicts(h.market) == expected_market_data(frames)  # the rest came on the new connection, once
    assert server.connections[0].sent == 200 and server.connections[1].sent == len(frames) - 200
    states = h.states(f"feed:{CONN}")
    assert states[:6] == ["connecting", "live", "stale", "down", "connecting", "live"]
    down = next(x for x in h.health if x.component == f"feed:{CONN}" and x.state == "down")
    assert down.detail.startswith("no message for 0.5 s; reconnecting in")
