"""A worker in durable mode (one worker per process) resumes after a restart where it stopped."""

from __future__ import annotations

import asyncio

from tui_trader import messages as m
from tui_trader.bus import EmbeddedBus, EmbeddedCluster, Start
from tui_trader.clock import FixedClock
from tui_trader.settings import Settings
from tui_trader.workers import Worker, WorkerContext


class Recorder(Worker):
    """Handles control records; stops itself after `limit` of them (a crash or a kill -9 mid-stream)."""

    name = "recorder"
    start = Start.BEGINNING

    def __init__(self, ctx, limit: int | None = None) -> None:
        super().__init__(ctx)
        self.limit = limit
        self.seen: list[str] = []

    async def run(self) -> None:
        async for _rec, msg in self.consume(m.CONTROL, self.start):
            self.seen.append(msg.arg)
            if self.limit is not None and len(self.seen) == self.limit:
                return


async def publish_controls(bus, args):
    for a in args:
        await bus.publish(m.CONTROL, "desk", m.encode(m.Control(command="pause", arg=a, ts=1)))


async def test_a_restarted_worker_continues_after_its_last_handled_record():
    cluster = EmbeddedCluster()
    bus = EmbeddedBus(cluster)
    await bus.create_topics([m.CONTROL])
    await publish_controls(bus, [str(i) for i in range(10)])
    ctx = WorkerContext(settings=Settings(), bus=bus, clock=FixedClock(0), durable=True)
    first = Recorder(ctx, limit=4)
    await asyncio.wait_for(first.run(), 5)
    assert first.seen == ["0", "1", "2", "3"]
    await bus.close()

    bus2 = EmbeddedBus(cluster)  # a new process on the same bus
    ctx2 = WorkerContext(settings=Settings(), bus=bus2, clock=FixedClock(0), durable=True)
    second = Recorder(ctx2, limit=6)
    await asyncio.wait_for(second.run(), 5)
    # Record "3" was handled but the worker stopped before asking for the next: its commit happened when
    # the loop resumed, i.e. never. It is seen again: at-least-once, so handlers must be idempotent.
    assert second.seen == ["3", "4", "5", "6", "7", "8"]
    await bus2.close()


async def test_without_durable_mode_a_worker_reads_from_its_start_position():
    cluster = EmbeddedCluster()
    bus = EmbeddedBus(cluster)
    await bus.create_topics([m.CONTROL])
    await publish_controls(bus, ["a", "b", "c"])
    ctx = WorkerContext(settings=Settings(), bus=bus, clock=FixedClock(0))
    for _ in range(2):
        w = Recorder(ctx, limit=3)
        await asyncio.wait_for(w.run(), 5)
        assert w.seen == ["a", "b", "c"]
    await bus.close()


class Prices(Worker):
    """Reads market data (committed every COMMIT_EVERY records) until it has seen `limit` records."""

    name = "prices"

    def __init__(self, ctx, limit: int) -> None:
        super().__init__(ctx)
        self.limit = limit
        self.seen: list[float] = []
        self.listening = asyncio.Event()

    async def run(self) -> None:
        async for _rec, md in self.consume(m.MARKET_DATA, Start.END, ready=self.listening):
            self.seen.append(md.price)
            if len(self.seen) == self.limit:
                return


def trade(price: float) -> bytes:
    return m.encode(
        m.MarketData(
            symbol="BTCUSDT",
            kind="trade",
            price=price,
            volume=1,
            bid=price,
            bid_qty=1,
            ask=price,
            ask_qty=1,
            event_time=1,
            recv_time=1,
            ts=1,
        )
    )


async def test_a_cleanly_stopped_worker_commits_what_it_handled_since_the_last_periodic_commit():
    """Market data commits every COMMIT_EVERY records; a worker stopped after fewer must not, on restart,
    start over at the end (losing what came meanwhile) nor read again what it handled."""
    cluster = EmbeddedCluster()
    bus = EmbeddedBus(cluster)
    await bus.create_topics([m.MARKET_DATA])
    ctx = WorkerContext(settings=Settings(), bus=bus, clock=FixedClock(0), durable=True)
    first = Prices(ctx, limit=3)
    task = asyncio.create_task(first.run())
    await asyncio.wait_for(first.listening.wait(), 5)
    for p in (1.0, 2.0, 3.0, 4.0):
        await bus.publish(m.MARKET_DATA, "BTCUSDT", trade(p))
    await asyncio.wait_for(task, 5)
    assert first.seen == [1.0, 2.0, 3.0]
    for p in (5.0, 6.0):
        await bus.publish(m.MARKET_DATA, "BTCUSDT", trade(p))
    second = Prices(
        WorkerContext(settings=Settings(), bus=EmbeddedBus(cluster), clock=FixedClock(0), durable=True), limit=4
    )
    await asyncio.wait_for(second.run(), 5)
    # "3.0" was the last one handed out; it was never asked past, so it comes again (at-least-once).
    assert second.seen == [3.0, 4.0, 5.0, 6.0]


async def test_ready_is_set_once_the_backlog_before_the_subscription_is_handled():
    cluster = EmbeddedCluster()
    bus = EmbeddedBus(cluster)
    await bus.create_topics([m.CONTROL])
    ctx = WorkerContext(settings=Settings(), bus=bus, clock=FixedClock(0), durable=True)
    # A previous run of this worker handled "0" and committed it; "1" and "2" came while it was down.
    await publish_controls(bus, ["0", "1", "2"])
    cluster.committed[("recorder-" + m.CONTROL, m.CONTROL, 0)] = 0  # (consumer, topic, partition)
    ready = asyncio.Event()
    seen_when_ready: list[list[str]] = []
    w = Recorder(ctx)

    async def watch() -> None:
        await ready.wait()
        seen_when_ready.append(list(w.seen))

    async def run() -> None:
        async for _rec, msg in w.consume(m.CONTROL, Start.END, ready=ready):
            w.seen.append(msg.arg)

    watcher = asyncio.create_task(watch())
    runner = asyncio.create_task(run())
    await asyncio.wait_for(watcher, 5)
    assert seen_when_ready == [["1", "2"]]
    await publish_controls(bus, ["3"])
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)
    await bus.close()


async def test_ready_is_set_at_once_when_there_is_nothing_to_catch_up():
    cluster = EmbeddedCluster()
    bus = EmbeddedBus(cluster)
    await bus.create_topics([m.CONTROL])
    ctx = WorkerContext(settings=Settings(), bus=bus, clock=FixedClock(0), durable=True)
    ready = asyncio.Event()

    async def run() -> None:
        async for _ in Recorder(ctx).consume(m.CONTROL, Start.END, ready=ready):
            pass

    runner = asyncio.create_task(run())
    await asyncio.wait_for(ready.wait(), 5)
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)
    await bus.close()
