"""Worker.consume(kinds=...): only those kinds are handed on; the rest still count, move the resume offset and
let `ready` fire, so a consumer of trades alone misses nothing and waits for nothing."""

from __future__ import annotations

import asyncio

from kit import until

from tui_trader import messages as m
from tui_trader.bus import EmbeddedBus, Start
from tui_trader.clock import FixedClock, ReplayClock
from tui_trader.settings import Settings
from tui_trader.workers import Worker, WorkerContext
from tui_trader.workers.indicator import IndicatorWorker


def md(kind: str, price: float) -> m.MarketData:
    return m.MarketData(
        symbol="BTCUSDT", kind=kind, price=price, bid=price - 1, ask=price + 1, event_time=1, recv_time=1, ts=1
    )


class Trades(Worker):
    name = "trades"

    def __init__(self, ctx: WorkerContext) -> None:
        super().__init__(ctx)
        self.seen: list[tuple[str, float]] = []
        self.ready = asyncio.Event()

    async def run(self) -> None:
        async for rec, msg in self.consume(
            m.MARKET_DATA, Start.BEGINNING, ready=self.ready, kinds=frozenset({"trade"})
        ):
            self.handled(m.MARKET_DATA, rec)
            self.seen.append((msg.kind, msg.price))


async def test_only_trades_are_handed_on_and_books_still_count_resume_and_ready():
    bus = EmbeddedBus()
    await bus.create_topics([m.MARKET_DATA])
    for i in range(3):
        await bus.publish_msg(m.MARKET_DATA, "BTCUSDT", md("trade", 100.0 + i))
        await bus.publish(m.MARKET_DATA, "BTCUSDT", m.encode(md("book", 200.0 + i)))  # bytes: decoded
        await bus.publish_msg(m.MARKET_DATA, "BTCUSDT", md("mark", 300.0 + i))
    worker = Trades(WorkerContext(settings=Settings(), bus=bus, clock=FixedClock(0)))
    task = asyncio.create_task(worker.run())
    await asyncio.wait_for(worker.ready.wait(), 5)  # the last record before it subscribed is a mark
    assert worker.seen == [("trade", 100.0), ("trade", 101.0), ("trade", 102.0)]
    assert worker.passed_over == {m.MARKET_DATA: 6}
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await bus.close()


async def test_the_indicator_counts_every_record_that_is_not_a_trade_as_a_book():
    bus = EmbeddedBus()
    await bus.create_topics(m.TOPICS)
    for i in range(4):
        await bus.publish_msg(m.MARKET_DATA, "BTCUSDT", md("trade", 100.0 + i))
        await bus.publish(m.MARKET_DATA, "BTCUSDT", m.encode(md("book", 200.0 + i)))  # bytes: the shortcut
        await bus.publish_msg(m.MARKET_DATA, "BTCUSDT", md("book", 300.0 + i))
    ctx = WorkerContext(settings=Settings(), bus=bus, clock=ReplayClock(), replay_files=["x"])
    worker = IndicatorWorker(ctx)
    task = asyncio.create_task(worker.run())
    await until(lambda: worker.counters()["trades"] == 4 and worker.counters()["books"] == 8, "every record counted")
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await bus.close()
