"""Worker.consume: typed records in order; with latest_only, a pile-up keeps the last record per key."""

from __future__ import annotations

import asyncio

from kit import until

from tui_trader import messages as m
from tui_trader.bus import EmbeddedBus, Start
from tui_trader.clock import FixedClock
from tui_trader.settings import Settings
from tui_trader.workers import Worker, WorkerContext


class Reader(Worker):
    name = "reader"

    def __init__(self, ctx, latest) -> None:
        super().__init__(ctx)
        self.latest = latest
        self.seen: list[tuple[str, float]] = []

    async def run(self) -> None:
        async for _rec, md in self.consume(m.MARKET_DATA, Start.BEGINNING, latest_only=self.latest):
            self.seen.append((md.symbol, md.price))
            if md.price >= 100:
                return


def trade(symbol: str, price: float) -> bytes:
    return m.encode(m.MarketData(symbol=symbol, kind="trade", price=price, event_time=1, recv_time=1, ts=1))


async def run_reader(latest) -> list[tuple[str, float]]:
    bus = EmbeddedBus()
    await bus.create_topics([m.MARKET_DATA])
    for i in range(1, 6):
        await bus.publish(m.MARKET_DATA, "BTCUSDT", trade("BTCUSDT", float(i)))
        await bus.publish(m.MARKET_DATA, "ETHUSDT", trade("ETHUSDT", float(10 + i)))
    await bus.publish(m.MARKET_DATA, "BTCUSDT", trade("BTCUSDT", 100.0))
    reader = Reader(WorkerContext(settings=Settings(), bus=bus, clock=FixedClock(0)), latest)
    await asyncio.wait_for(reader.run(), 5)
    await bus.close()
    return reader.seen


async def test_every_record_in_order_by_default():
    seen = await run_reader(None)
    assert len(seen) == 11 and seen[0] == ("BTCUSDT", 1.0) and seen[-1] == ("BTCUSDT", 100.0)


async def test_latest_only_keeps_the_last_record_of_each_key_of_a_pile_up():
    assert await run_reader(lambda: True) == [("ETHUSDT", 15.0), ("BTCUSDT", 100.0)]
    assert len(await run_reader(lambda: False)) == 11


async def test_a_reader_that_fell_behind_retention_counts_the_gap_and_goes_on_with_the_latest():
    bus = EmbeddedBus(retention=10)  # a partition keeps 10 records at least, trimmed past 20
    await bus.create_topics([m.MARKET_DATA])
    reader = Reader(WorkerContext(settings=Settings(), bus=bus, clock=FixedClock(0)), lambda: True)
    task = asyncio.create_task(reader.run())
    await until(lambda: bus.cluster.topic(m.MARKET_DATA).subs, "the reader to subscribe")
    for i in range(1, 50):  # without a turn of the loop: the reader is left behind what is kept
        bus.publish_nowait(m.MARKET_DATA, "ETHUSDT", trade("ETHUSDT", float(i)))
    bus.publish_nowait(m.MARKET_DATA, "BTCUSDT", trade("BTCUSDT", 100.0))
    await asyncio.wait_for(task, 5)
    await bus.close()
    assert reader.gaps[m.MARKET_DATA] > 0, "the records trimmed before it read them are counted"
    assert reader.seen == [("ETHUSDT", 49.0), ("BTCUSDT", 100.0)]
