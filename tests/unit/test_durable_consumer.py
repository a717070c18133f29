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
