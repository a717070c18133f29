"""Embedded bus behaviour beyond the shared contract: retention gaps, conflation, lossless topics, idle."""

from __future__ import annotations

import asyncio

from tui_trader import messages as m
from tui_trader.bus import EmbeddedBus, EmbeddedCluster, Gap, Record, Start
from tui_trader.bus.embedded import CONFLATE_AFTER


async def read_available(sub) -> list:
    """Everything the subscription can hand out without waiting for a new publish."""
    out = []
    while True:
        try:
            out.append(await asyncio.wait_for(sub.__anext__(), 0.05))
        except TimeoutError:
            return out


async def test_a_consumer_behind_retention_is_told_how_many_it_missed():
    bus = EmbeddedBus(EmbeddedCluster(retention=100))
    await bus.create_topics([m.MARKET_DATA])
    sub = await bus.subscribe(m.MARKET_DATA, Start.BEGINNING)
    for i in range(450):
        await bus.publish(m.MARKET_DATA, "BTCUSDT", str(i).encode())
    items = await read_available(sub)
    gap = items[0]
    assert isinstance(gap, Gap) and gap.missed > 0 and not gap.conflated
    records = items[1:]
    assert all(isinstance(r, Record) for r in records)
    assert gap.missed + len(records) == 450  # nothing silently skipped
    assert records[0].offset == gap.resume_offset and records[-1].offset == 449
    await bus.close()


async def test_lossless_topics_keep_records_until_every_consumer_read_them():
    bus = EmbeddedBus(EmbeddedCluster(retention=100))
    await bus.create_topics([m.ORDERS])
    sub = await bus.subscribe(m.ORDERS, Start.BEGINNING)
    for i in range(1000):
        await bus.publish(m.ORDERS, "k", str(i).encode())
    items = await read_available(sub)
    assert [r.offset for r in items] == list(range(1000))
    await bus.close()


async def test_lossless_topic_trims_what_every_consumer_has_read():
    cluster = EmbeddedCluster(retention=100)
    bus = EmbeddedBus(cluster)
    await bus.create_topics([m.ORDERS])
    sub = await bus.subscribe(m.ORDERS, Start.BEGINNING)
    for _ in range(300):
        await bus.publish(m.ORDERS, "k", b"x")
        await sub.__anext__()
    assert len(cluster.topics[m.ORDERS].log) < 300
    await bus.close()


async def test_conflating_consumer_far_behind_gets_the_latest_per_key():
    bus = EmbeddedBus(EmbeddedCluster(retention=100_000))
    await bus.create_topics([m.MARKET_DATA])
    sub = await bus.subscribe(m.MARKET_DATA, Start.BEGINNING, conflate=True, tracked=False)
    n = CONFLATE_AFTER + 500
    for i in range(n):
        await bus.publish(m.MARKET_DATA, "BTCUSDT" if i % 2 else "ETHUSDT", str(i).encode())
    items = await read_available(sub)
    gap, latest = items[0], items[1:]
    assert isinstance(gap, Gap) and gap.conflated and gap.missed == n - 2
    assert [(r.key, r.value) for r in latest] == [("ETHUSDT", str(n - 2).encode()), ("BTCUSDT", str(n - 1).encode())]
    await bus.close()


async def test_wait_idle_returns_only_after_every_tracked_consumer_processed_everything():
    bus = EmbeddedBus()
    await bus.create_topics(["a", "b"])
    processed = []

    async def stage_one():
        async for rec in await bus.subscribe("a", Start.BEGINNING):
            await bus.publish("b", rec.key, rec.value)

    async def stage_two():
        async for rec in await bus.subscribe("b", Start.BEGINNING):
            await asyncio.sleep(0.01)  # a slow step that is not waiting on the bus
            processed.append(rec.value)

    tasks = [asyncio.create_task(stage_one()), asyncio.create_task(stage_two())]
    await asyncio.wait_for(bus.wait_idle(), 5)
    for i in range(5):
        await bus.publish("a", "k", str(i).encode())
        await asyncio.wait_for(bus.wait_idle(), 5)
        assert processed == [str(j).encode() for j in range(i + 1)]
    untracked = await bus.subscribe("b", Start.BEGINNING, tracked=False)  # never read: must not block idle
    await bus.publish("a", "k", b"5")
    await asyncio.wait_for(bus.wait_idle(), 5)
    assert processed[-1] == b"5"
    await untracked.close()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await bus.close()


async def test_cancelled_consumer_does_not_leave_the_bus_busy():
    bus = EmbeddedBus()
    await bus.create_topics(["a"])
    sub = await bus.subscribe("a", Start.END)
    task = asyncio.create_task(sub.__anext__())
    await asyncio.sleep(0)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await sub.close()
    await asyncio.wait_for(bus.wait_idle(), 1)
    await bus.close()


async def test_lag_reports_unread_records_per_topic():
    bus = EmbeddedBus()
    await bus.create_topics(["a"])
    sub = await bus.subscribe("a", Start.BEGINNING, tracked=False)
    for _ in range(7):
        await bus.publish("a", "k", b"x")
    assert bus.lag()["a"] == 7
    await sub.__anext__()
    assert bus.lag()["a"] == 6
    await bus.close()


async def test_take_ready_hands_over_what_is_there_and_leaves_gaps_to_anext():
    bus = EmbeddedBus(EmbeddedCluster(retention=100))
    await bus.create_topics(["a"])
    sub = await bus.subscribe("a", Start.BEGINNING)
    assert sub.take_ready(10) == []
    for i in range(5):
        await bus.publish("a", "k", str(i).encode())
    assert [r.offset for r in sub.take_ready(3)] == [0, 1, 2]
    assert [r.offset for r in sub.take_ready(10)] == [3, 4]
    assert sub.take_ready(10) == []
    for _ in range(300):
        await bus.publish("a", "k", b"x")
    behind = await bus.subscribe("a", Start.at(0))
    assert behind.take_ready(10) == []  # a gap is due: only __anext__ reports it
    assert isinstance(await behind.__anext__(), Gap)
    await bus.close()


def _md(symbol: str, i: int) -> m.MarketData:
    return m.MarketData(symbol=symbol, kind="book", bid=100.0 + i, ask=101.0 + i, event_time=i, recv_time=i, ts=i)


async def test_a_batch_of_messages_is_stored_as_one_publish_each_would_store_it():
    symbols = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"]
    msgs = [_md(symbols[i % 4], i) for i in range(50)]
    stored = {}
    for partitions in (1, 3):
        one, batch = EmbeddedBus(), EmbeddedBus()
        for bus in (one, batch):
            await bus.create_topics([m.MARKET_DATA], partitions)
        for md in msgs[:5]:  # records before the batch: its offsets go on from theirs
            one.publish_msg_nowait(m.MARKET_DATA, md.symbol, md)
            batch.publish_msg_nowait(m.MARKET_DATA, md.symbol, md)
        for md in msgs[5:]:
            one.publish_msg_nowait(m.MARKET_DATA, md.symbol, md)
        batch.publish_msgs_nowait(m.MARKET_DATA, [md.symbol for md in msgs[5:]], msgs[5:])
        for bus in (one, batch):
            parts = bus.cluster.topic(m.MARKET_DATA).parts
            stored[bus] = [[(r.key, r.offset, r.partition, r.msg) for r in p.log] for p in parts]
        assert stored[batch] == stored[one]
        assert sum(len(p) for p in stored[batch]) == 50


async def test_a_batch_wakes_a_parked_consumer_once_with_every_record_in_order():
    bus = EmbeddedBus()
    await bus.create_topics([m.MARKET_DATA])
    sub = await bus.subscribe(m.MARKET_DATA, Start.BEGINNING)
    first = asyncio.ensure_future(sub.__anext__())
    await asyncio.sleep(0)  # parked: nothing to read yet
    assert not first.done()
    msgs = [_md("BTCUSDT", i) for i in range(10)]
    bus.publish_msgs_nowait(m.MARKET_DATA, ["BTCUSDT"] * 10, msgs)
    got = [await first] + await read_available(sub)
    assert [r.msg for r in got] == msgs and [r.offset for r in got] == list(range(10))
    await bus.close()
