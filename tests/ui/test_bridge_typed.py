"""The desk reads an in-process bus without costing the pipeline per record: typed records are folded as the
very messages the workers published (nothing encoded or decoded), and a tick takes what arrived in slices."""

from __future__ import annotations

import desk_canned as canned

from tui_trader import messages as m
from tui_trader.bus import EmbeddedBus, EmbeddedCluster
from tui_trader.bus.embedded import CONFLATE_AFTER
from tui_trader.clock import FixedClock
from tui_trader.settings import Settings
from tui_trader.ui import bridge as bridge_module
from tui_trader.ui.bridge import DeskBridge
from tui_trader.ui.state import DeskModel


def trade(symbol: str, price: float, t: int) -> m.MarketData:
    return m.MarketData(symbol=symbol, kind="trade", price=price, event_time=t, recv_time=t, ts=t)


def status(i: int) -> m.OrderStatus:
    return m.OrderStatus(
        order_id=f"denied-{i}",
        symbol="BTCUSDT",
        side="buy",
        purpose="entry",
        status="rejected",
        error="cooldown: wait",
        mode="paper",
        ts=canned.T0 + i,
    )


async def open_bridge(bus: EmbeddedBus) -> DeskBridge:
    bridge = DeskBridge(bus, Settings(), FixedClock(canned.NOW), DeskModel(starting_balance=10_000.0))
    await bridge.open()
    return bridge


async def test_typed_records_reach_the_desk_as_the_published_objects_read_in_slices(monkeypatch):
    bus = EmbeddedBus(EmbeddedCluster())
    bridge = await open_bridge(bus)
    folded_md: list[m.MarketData] = []
    folded_st: list[m.OrderStatus] = []
    state = bridge.state
    on_md, on_st = state.on_market_data, bridge_module._HANDLERS[m.ORDER_STATUS]
    state.on_market_data = lambda msg: (folded_md.append(msg), on_md(msg))  # type: ignore[method-assign]
    monkeypatch.setitem(
        bridge_module._HANDLERS, m.ORDER_STATUS, lambda model, msg: (folded_st.append(msg), on_st(model, msg))
    )
    steps = 0
    for sub in bridge._subs.values():  # count the one-record-at-a-time reads
        anext_ = sub.__anext__

        async def counted(anext_=anext_):
            nonlocal steps
            steps += 1
            return await anext_()

        sub.__anext__ = counted  # type: ignore[method-assign]

    trades = [trade("BTCUSDT" if i % 2 else "ETHUSDT", 1000.0 + i, canned.T0 + i) for i in range(1500)]
    statuses = [status(i) for i in range(600)]
    for md in trades:
        bus.publish_msg_nowait(m.MARKET_DATA, md.symbol, md)
    for st in statuses:
        bus.publish_msg_nowait(m.ORDER_STATUS, st.symbol, st)
    await bridge.drain()

    assert [id(x) for x in folded_md] == [id(trades[-2]), id(trades[-1])], "the newest of each symbol, as published"
    assert [id(x) for x in folded_st] == [id(x) for x in statuses], "every status, in order, the very objects"
    assert state.records[m.MARKET_DATA] == 1500 and state.records[m.ORDER_STATUS] == 600
    assert steps == 0, "read in slices, not one coroutine per record"
    await bridge.drain()  # nothing new: returns at once, folds nothing again
    assert len(folded_md) == 2 and len(folded_st) == 600
    await bridge.close()


async def test_a_backlog_beyond_conflation_is_counted_and_the_newest_price_shown():
    bus = EmbeddedBus(EmbeddedCluster())
    bridge = await open_bridge(bus)
    n = CONFLATE_AFTER + 1000
    for i in range(n):
        md = trade("BTCUSDT", 1000.0 + i, canned.T0 + i)
        bus.publish_msg_nowait(m.MARKET_DATA, md.symbol, md)
    await bridge.drain()
    assert bridge.state.quotes["BTCUSDT"].last == 1000.0 + n - 1
    assert bridge.state.gaps[m.MARKET_DATA] > 0, "what the desk skipped is counted"
    assert bridge.lag()[m.MARKET_DATA] == 0
    await bridge.close()
