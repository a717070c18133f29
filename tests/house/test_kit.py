"""The shared test kit does what the other folders rely on: a bounded wait that names what it waited for,
and workers on an embedded bus whose output the taps record."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from kit import Harness, MockBinance, until

from tui_trader import messages as m
from tui_trader.settings import BusSettings, Settings
from tui_trader.workers.base import Worker


class Echo(Worker):
    """Answers each Control with a Health record naming the command (a worker as small as one can be)."""

    name = "echo"

    async def run(self) -> None:
        async for _rec, msg in self.consume(m.CONTROL):
            if msg is not None:
                await self.publish(m.HEALTH, "echo", m.Health(component="echo", state=msg.command, ts=msg.ts))


class Countdown(Worker):
    """Publishes three Health records and returns: a worker whose input ends, as a replay's does."""

    name = "countdown"

    async def run(self) -> None:
        for n in (3, 2, 1):
            await self.publish(m.HEALTH, "countdown", m.Health(component="countdown", state=str(n), ts=n))


async def test_until_returns_once_the_condition_holds():
    flag = asyncio.Event()
    asyncio.get_running_loop().call_later(0.05, flag.set)
    await until(flag.is_set, "the flag", timeout=5)
    assert flag.is_set()


async def test_until_accepts_an_async_condition():
    calls = 0

    async def third_time() -> bool:
        nonlocal calls
        calls += 1
        return calls >= 3

    await until(third_time, "the third call", timeout=5)
    assert calls == 3


async def test_until_names_what_it_waited_for_when_it_times_out():
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(AssertionError, match=r"timed out after 0\.1 s waiting for the impossible"):
        await until(lambda: False, "the impossible", timeout=0.1)
    assert loop.time() - started < 2  # bounded: it gave up near its timeout


async def test_harness_runs_a_worker_and_its_taps_record_what_it_publishes():
    async with Harness(workers=[Echo], supervised=False) as h:
        await h.listening(m.CONTROL)
        await h.publish(m.CONTROL, m.Control(command="pause", ts=1))
        await h.publish(m.CONTROL, m.Control(command="resume", ts=2))
        await h.settle()
        assert [x.state for x in h.health("echo")] == ["pause", "resume"]
        assert [c.command for c in h.seen(m.CONTROL)] == ["pause", "resume"]


async def test_supervised_harness_reports_the_worker_running_as_production_does():
    async with Harness(workers=[Echo]) as h:
        await until(lambda: "running" in [x.state for x in h.health("worker:echo")], "worker:echo running")


async def test_the_mock_venues_are_reachable_through_the_kit():
    async with MockBinance() as ex, aiohttp.ClientSession() as http:
        assert ex.base_url.startswith("http://127.0.0.1:")
        async with http.get(f"{ex.base_url}/fapi/v1/exchangeInfo") as resp:
            assert resp.status == 200
            assert "symbols" in await resp.json()
        assert ex.sequence() == ["GET /fapi/v1/exchangeInfo"]


async def test_taps_of_a_partitioned_topic_catch_up_on_every_partition():
    settings = Settings(bus=BusSettings(partitions=4))
    symbols = [f"S{i}USDT" for i in range(12)]
    async with Harness(settings) as h:
        # As the runtime makes them: the per-symbol topics get bus.partitions, the others one.
        assert len(h.bus.cluster.topic(h.ctx.topic(m.MARKET_DATA)).parts) == 4
        assert len(h.bus.cluster.topic(h.ctx.topic(m.ORDERS)).parts) == 1
        for i, symbol in enumerate(symbols):
            md = m.MarketData(symbol=symbol, kind="trade", price=1.0 + i, event_time=i, recv_time=i, ts=i)
            await h.publish(m.MARKET_DATA, md)
        await h.settle()
        assert sorted(md.symbol for md in h.seen(m.MARKET_DATA)) == sorted(symbols)


@pytest.mark.parametrize("supervised", [True, False])
async def test_finished_waits_for_a_worker_whose_input_ended(supervised):
    async with Harness(workers=[Countdown], supervised=supervised) as h:
        await h.finished(timeout=10)
        assert h.states("countdown") == ["3", "2", "1"]
