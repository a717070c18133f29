"""Pipeline: supervised workers restart with backoff and report it; stop is prompt and leaves nothing pending."""

from __future__ import annotations

import asyncio
import gc
import logging
import warnings

from kit import until

from tui_trader import messages as m
from tui_trader import runtime as rt
from tui_trader.bus import EmbeddedBus, Start
from tui_trader.clock import FixedClock
from tui_trader.settings import Settings
from tui_trader.workers import Worker, WorkerContext


class Flaky(Worker):
    name = "flaky"

    def __init__(self, ctx, failures: int) -> None:
        super().__init__(ctx)
        self.failures = failures
        self.runs = 0

    async def run(self) -> None:
        self.runs += 1
        if self.runs <= self.failures:
            raise RuntimeError(f"boom {self.runs}")


class Forever(Worker):
    name = "forever"

    async def run(self) -> None:
        async for _ in self.consume(m.MARKET_DATA):
            pass


def context(bus) -> WorkerContext:
    return WorkerContext(settings=Settings(), bus=bus, clock=FixedClock(1000))


async def test_a_crashed_worker_is_restarted_with_backoff_and_reported(monkeypatch, caplog):
    monkeypatch.setattr(rt, "BACKOFF_START_S", 0.01)
    bus = EmbeddedBus()
    ctx = context(bus)
    health = []
    ctx.on_health = health.append
    worker = Flaky(ctx, failures=3)
    runtime = rt.Pipeline(ctx, workers=[worker])
    with caplog.at_level(logging.ERROR):
        await runtime.start()
        await asyncio.wait_for(runtime.wait(["flaky"]), 5)
    assert worker.runs == 4
    st = runtime.states["flaky"]
    assert st.restarts == 3 and st.state == "finished" and "boom 3" in st.last_error
    states = [h.state for h in health]
    assert states.count("restarting") == 3 and states[-1] == "finished"
    assert "worker flaky crashed" in caplog.text
    sub = await bus.subscribe(m.HEALTH, Start.BEGINNING, tracked=False)
    first = await sub.__anext__()
    assert m.Decoder().decode(m.HEALTH, first.value).component == "worker:flaky"
    await runtime.stop()
    await bus.close()


async def test_backoff_doubles_up_to_the_cap(monkeypatch):
    delays = []

    async def fake_sleep(delay):
        delays.append(delay)

    monkeypatch.setattr(rt.asyncio, "sleep", fake_sleep)
    bus = EmbeddedBus()
    runtime = rt.Pipeline(context(bus), workers=[Flaky(context(bus), failures=9)])
    runtime.max_restarts = 20
    await runtime.start()
    await asyncio.wait_for(runtime.wait(["flaky"]), 5)
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    await runtime.stop()
    await bus.close()


async def test_stop_cancels_everything_promptly_without_destroyed_tasks():
    bus = EmbeddedBus()
    ctx = context(bus)
    runtime = rt.Pipeline(ctx, workers=[Forever(ctx)])
    await runtime.start()
    await until(lambda: runtime.states["forever"].state == "running", "the worker running")
    loop = asyncio.get_running_loop()
    before = loop.time()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        await runtime.stop(timeout=2.0)
        await bus.close()
        gc.collect()
    assert loop.time() - before < 2.0
    assert runtime.states["forever"].state == "stopped"
    assert not [w for w in caught if "destroyed" in str(w.message)]
    assert all(t.done() for t in asyncio.all_tasks() if t.get_name().startswith("worker:"))
