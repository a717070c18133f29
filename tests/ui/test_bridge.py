"""The bridge: the only way data enters the desk, and a consumer that never slows or holds the pipeline."""

from __future__ import annotations

import asyncio
import logging

import desk_canned as canned
from kit import until

from tui_trader import messages as m
from tui_trader.bus import EmbeddedBus, EmbeddedCluster, Start
from tui_trader.clock import FixedClock
from tui_trader.settings import Settings
from tui_trader.ui.bridge import DeskBridge
from tui_trader.ui.state import DeskModel


def md(symbol: str, price: float, t: int) -> bytes:
    return m.encode(m.MarketData(symbol=symbol, kind="trade", price=price, event_time=t, recv_time=t, ts=t))


async def open_bridge(bus) -> DeskBridge:
    bridge = DeskBridge(bus, Settings(), FixedClock(canned.NOW), DeskModel(starting_balance=10_000.0))
    await bridge.open()
    return bridge


async def test_the_desk_never_holds_a_lockstep_replay():
    bus = EmbeddedBus(EmbeddedCluster())
    bridge = await open_bridge(bus)
    worker_sub = await bus.subscribe(m.MARKET_DATA, Start.BEGINNING)  # a tracked pipeline consumer
    seen = []

    async def worker() -> None:
        # The subscription never ends: offsets are collected as records come, not in one list at the end.
        async for rec in worker_sub:
            seen.append(rec.offset)  # noqa: PERF401

    task = asyncio.create_task(worker())
    try:
        for i in range(100):
            await bus.publish(m.MARKET_DATA, "BTCUSDT", md("BTCUSDT", 60_000 + i, canned.T0 + i))
        # The desk has read nothing yet (it reads on its own clock), and the pipeline is idle all the same.
        await asyncio.wait_for(bus.wait_idle(), timeout=2)
        assert len(seen) == 100 and bridge.state.quotes == {}
    finally:
        task.cancel()
        await bridge.close()


async def test_market_data_is_decoded_once_per_symbol_per_tick_and_lossless_topics_in_full():
    bus = EmbeddedBus(EmbeddedCluster())
    bridge = await open_bridge(bus)
    folded = []
    original = bridge.state.on_market_data
    bridge.state.on_market_data = lambda msg: (folded.append(msg.symbol), original(msg))  # type: ignore[method-assign]
    for i in range(3000):
        sym = "BTCUSDT" if i % 2 else "ETHUSDT"
        await bus.publish(m.MARKET_DATA, sym, md(sym, 1000.0 + i, canned.T0 + i))
    for i in range(600):
        st = m.OrderStatus(
            order_id=f"denied-{i}",
            symbol="BTCUSDT",
            side="buy",
            purpose="entry",
            status="rejected",
            error="cooldown: wait",
            mode="paper",
            ts=canned.T0 + i,
        )
        await bus.publish(m.ORDER_STATUS, "BTCUSDT", m.encode(st))
    await bridge.drain()
    assert sorted(folded) == ["BTCUSDT", "ETHUSDT"], "one decode per symbol, however many records"
    assert bridge.state.quotes["BTCUSDT"].last == 1000.0 + 2999 and bridge.state.quotes["ETHUSDT"].last == 3998.0
    assert bridge.state.records[m.ORDER_STATUS] == 600, "statuses are never conflated away"
    assert bridge.lag()[m.MARKET_DATA] == 0
    await bridge.close()


async def test_a_bus_without_end_offsets_is_streamed():
    class NoOffsets(EmbeddedBus):
        async def end_offset(self, topic: str) -> int:
            raise NotImplementedError

    bus = NoOffsets(EmbeddedCluster())
    bridge = await open_bridge(bus)
    runner = asyncio.create_task(bridge.run())
    try:
        assert not bridge.polled
        paused = m.Health(component=m.ROUTER_COMPONENT, state="paused", ts=1)
        await bus.publish(m.HEALTH, m.ROUTER_COMPONENT, m.encode(paused))
        await bus.publish(m.MARKET_DATA, "BTCUSDT", md("BTCUSDT", 123.0, canned.T0))
        await until(lambda: bridge.state.paused and bridge._latest_md, "the streams to deliver")
        await bridge.drain()
        assert bridge.state.quotes["BTCUSDT"].last == 123.0
    finally:
        runner.cancel()
        await bridge.close()


async def test_controls_go_out_from_the_desk_on_its_clock():
    bus = EmbeddedBus(EmbeddedCluster())
    bridge = await open_bridge(bus)
    sent = await bridge.send("kill")
    assert (sent.command, sent.origin, sent.ts) == ("kill", "desk", canned.NOW)
    sub = await bus.subscribe(m.CONTROL, Start.BEGINNING, tracked=False)
    rec = await sub.__anext__()
    assert m.Decoder().decode(m.CONTROL, rec.value) == sent
    await sub.close()
    await bridge.close()


async def test_errors_logged_by_workers_become_notices_and_the_handler_goes_with_the_bridge():
    bus = EmbeddedBus(EmbeddedCluster())
    bridge = await open_bridge(bus)
    logging.getLogger("tui_trader.worker.executor").error("binance said -2019: margin is insufficient")
    await bridge.drain()
    assert [(n.title, n.message) for n in bridge.state.notices] == [
        ("Error in executor", "binance said -2019: margin is insufficient")
    ]
    await bridge.close()
    logging.getLogger("tui_trader.worker.executor").error("after close")
    await bridge.drain()
    assert len(bridge.state.notices) == 1
