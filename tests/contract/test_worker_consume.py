"""Worker.consume on every backend: typed messages handed on (decoded only when they come as bytes), the
worker's partitions applied to the per-symbol topics only, and catch-up and durable commits per partition."""

from __future__ import annotations

import asyncio

import msgspec
from test_bus_capabilities import trade

from tui_trader import messages as m
from tui_trader.bus import Start, partition_of
from tui_trader.clock import FixedClock
from tui_trader.settings import Settings
from tui_trader.workers.base import Worker, WorkerContext

TIMEOUT = 10
# BTCUSDT goes to partition 1 of 2, ETHUSDT and SOLUSDT to partition 0.
assert [partition_of(s, 2) for s in ("BTCUSDT", "ETHUSDT", "SOLUSDT")] == [1, 0, 0]


class Reader(Worker):
    name = "reader"

    def __init__(self, ctx: WorkerContext) -> None:
        super().__init__(ctx)
        self.seen: dict[str, list] = {}

    async def run(self) -> None:  # pragma: no cover - the tests drive read()
        raise NotImplementedError

    async def read(self, base: str, n: int, start=Start.BEGINNING, ready: asyncio.Event | None = None) -> list:
        """The first n messages of a topic, then the loop is left (as a stopping worker leaves it)."""
        out = self.seen.setdefault(base, [])

        async def _read() -> None:
            async for _rec, msg in self.consume(base, start, ready=ready):
                out.append(msg)
                if len(out) == n:
                    return
                await asyncio.sleep(0)  # a handler that awaits (they publish): others run in between

        await asyncio.wait_for(_read(), TIMEOUT)
        return out


async def pipeline_topics(backend, bus, partitions: int) -> str:
    """Fresh pipeline topics under a prefix of their own; the per-symbol ones with `partitions`."""
    prefix = backend.topic("w").replace("contract-w-", "c")
    names = {base: m.topic_name(base, prefix) for base in m.TOPICS}
    await bus.create_topics([n for b, n in names.items() if b in m.PARTITIONED_TOPICS], partitions=partitions)
    await bus.create_topics([n for b, n in names.items() if b not in m.PARTITIONED_TOPICS])
    backend.topics.extend(names.values())
    return prefix


async def test_a_worker_reads_its_partitions_of_the_per_symbol_topics_and_every_other_topic_whole(backend):
    bus = await backend.connect()
    prefix = await pipeline_topics(backend, bus, partitions=2)
    md = m.topic_name(m.MARKET_DATA, prefix)
    control = m.topic_name(m.CONTROL, prefix)
    trades = [trade(i, s) for i, s in enumerate(["BTCUSDT", "ETHUSDT", "SOLUSDT", "BTCUSDT", "ETHUSDT", "BTCUSDT"])]
    for t in trades:
        await bus.publish_msg(md, t.symbol, t)
    for i in range(4):  # control has one partition: every worker reads all of it
        await bus.publish_msg(control, f"k{i}", m.Control(command="pause", arg=str(i), ts=i))
    owner_of_1 = Reader(WorkerContext(settings=prefixed(prefix), bus=bus, clock=FixedClock(0), partitions=(1,)))
    owner_of_0 = Reader(WorkerContext(settings=prefixed(prefix), bus=bus, clock=FixedClock(0), partitions=(0,)))
    assert await owner_of_1.read(m.MARKET_DATA, 3) == [t for t in trades if t.symbol == "BTCUSDT"]
    assert await owner_of_0.read(m.MARKET_DATA, 3) == [t for t in trades if t.symbol != "BTCUSDT"]
    for reader in (owner_of_0, owner_of_1):
        assert [c.arg for c in await reader.read(m.CONTROL, 4)] == ["0", "1", "2", "3"]


def prefixed(prefix: str) -> Settings:
    s = Settings()
    return msgspec.structs.replace(s, bus=msgspec.structs.replace(s.bus, topic_prefix=prefix))


async def test_ready_waits_for_the_backlog_of_every_partition_read(backend):
    bus = await backend.connect()
    prefix = await pipeline_topics(backend, bus, partitions=2)
    md = m.topic_name(m.MARKET_DATA, prefix)
    for i, s in enumerate(["ETHUSDT", "BTCUSDT", "ETHUSDT", "ETHUSDT", "BTCUSDT"]):
        await bus.publish_msg(md, s, trade(i, s))
    reader = Reader(WorkerContext(settings=prefixed(prefix), bus=bus, clock=FixedClock(0)))
    ready = asyncio.Event()
    seen_when_ready: list[int] = []

    async def watch() -> None:
        await ready.wait()
        seen_when_ready.append(len(reader.seen.get(m.MARKET_DATA, [])))

    watcher = asyncio.create_task(watch())
    task = asyncio.create_task(reader.read(m.MARKET_DATA, 6, ready=ready))
    await asyncio.wait_for(watcher, TIMEOUT)
    assert seen_when_ready == [5]  # the three of partition 0 and the two of partition 1
    await bus.publish_msg(md, "SOLUSDT", trade(9, "SOLUSDT"))
    await asyncio.wait_for(task, TIMEOUT)


async def test_a_durable_worker_resumes_each_partition_where_it_stopped(backend):
    bus = await backend.connect()
    prefix = await pipeline_topics(backend, bus, partitions=2)
    sig = m.topic_name(m.SIGNALS, prefix)  # lossless: every record committed
    ind = m.Indicators(
        rsi=0, macd=0, macd_signal=0, macd_hist=0, bb_upper=0, bb_middle=0, bb_lower=0,
        sma_fast=0, sma_slow=0, ema_fast=0, ema_slow=0,
    )  # fmt: skip

    def signal(i: int, s: str) -> m.TradingSignal:
        return m.TradingSignal(
            id=f"{s}-{i}", symbol=s, signal="Buy", strength=1, buy_score=1, sell_score=0, reasons=[],
            indicators=ind, price=1.0, ts=i,
        )  # fmt: skip

    for i in range(3):
        await bus.publish_msg(sig, "ETHUSDT", signal(i, "ETHUSDT"))
        await bus.publish_msg(sig, "BTCUSDT", signal(i, "BTCUSDT"))
    settings = prefixed(prefix)
    first = Reader(WorkerContext(settings=settings, bus=bus, clock=FixedClock(0), durable=True))
    # Five of the six: the four handled span both partitions (three each); the 5th is handed on but not
    # handled (the loop was left).
    handled = await first.read(m.SIGNALS, 5)
    assert {x.symbol for x in handled[:4]} == {"ETHUSDT", "BTCUSDT"}
    again = Reader(WorkerContext(settings=settings, bus=bus, clock=FixedClock(0), durable=True))
    rest = await again.read(m.SIGNALS, 2)
    # At least once, per partition: each partition resumes after its last handled record, so the record
    # being handled when the first stopped comes again and nothing handled before it does.
    everything = {f"{s}-{i}" for s in ("ETHUSDT", "BTCUSDT") for i in range(3)}
    assert handled[4].id in {x.id for x in rest}
    assert {x.id for x in rest} == everything - {x.id for x in handled[:4]}


async def test_bytes_are_decoded_and_malformed_ones_counted_typed_messages_handed_on(backend):
    bus = await backend.connect()
    prefix = await pipeline_topics(backend, bus, partitions=1)
    md = m.topic_name(m.MARKET_DATA, prefix)
    await bus.publish_msg(md, "BTCUSDT", trade(1))
    await bus.publish(md, "BTCUSDT", b"{not json")
    await bus.publish(md, "BTCUSDT", m.encode(trade(2)))
    # A message of another topic's type is validated like bytes from outside: not market data, so malformed.
    await bus.publish_msg(md, "BTCUSDT", m.Control(command="pause", ts=3))
    await bus.publish_msg(md, "BTCUSDT", trade(4))
    reader = Reader(WorkerContext(settings=prefixed(prefix), bus=bus, clock=FixedClock(0)))
    assert await reader.read(m.MARKET_DATA, 3) == [trade(1), trade(2), trade(4)]
    assert reader.counters()[f"malformed:{md}"] == 2
