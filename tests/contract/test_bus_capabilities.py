"""The protocol's optional capabilities, on every backend: each is either a real fast path or a documented
default that a caller can rely on without asking which backend it has. And typed messages: published as a
message, read back as that message (in process: the same frozen object, encoded only when asked)."""

from __future__ import annotations

import asyncio
import time

import msgspec
import pytest
from test_bus_contract import TIMEOUT, take

from tui_trader import messages as m
from tui_trader.bus import Gap, Record, Start


def trade(i: int, symbol: str = "BTCUSDT") -> m.MarketData:
    return m.MarketData(symbol=symbol, kind="trade", price=60_000.0 + i, volume=0.1, event_time=i, recv_time=i, ts=i)


async def read_with_fast_path(sub, n: int) -> list[Record]:
    """What Worker.consume does: take what is ready in a batch, else wait for one record."""
    out: list[Record] = []

    async def _read() -> None:
        while len(out) < n:
            batch = sub.take_ready(64)
            if not batch:
                batch = (await sub.__anext__(),)
            for item in batch:
                assert not isinstance(item, Gap)
                out.append(item)

    await asyncio.wait_for(_read(), TIMEOUT)
    return out


async def test_the_batch_fast_path_and_single_reads_together_deliver_every_record_in_order(backend):
    bus = await backend.connect()
    topic = backend.topic("ready")
    await bus.create_topics([topic])
    await bus.publish_many(topic, [("k", str(i).encode()) for i in range(300)])
    sub = await bus.subscribe(topic, Start.BEGINNING)
    got = await read_with_fast_path(sub, 300)
    assert [r.value for r in got] == [str(i).encode() for i in range(300)]
    if backend.kind == "embedded":  # the real fast path: what is there comes in slices, no coroutine each
        assert len(sub.take_ready(10)) == 0
        await bus.publish_many(topic, [("k", b"x")] * 20)
        assert [len(sub.take_ready(8)), len(sub.take_ready(100)), len(sub.take_ready(8))] == [8, 12, 0]


async def test_end_offset_and_position_tell_a_consumer_it_caught_up(backend):
    bus = await backend.connect()
    topic = backend.topic("caught")
    await bus.create_topics([topic])
    await bus.publish_many(topic, [("k", b"x")] * 5)
    sub = await bus.subscribe(topic, Start.BEGINNING)
    await take(sub, 5)
    assert sub.position == await bus.end_offset(topic) == 5
    assert sub.positions() == {0: 5}


async def test_wait_idle_waits_for_tracked_consumers_where_the_backend_tracks_them(backend):
    bus = await backend.connect()
    topic = backend.topic("idle")
    await bus.create_topics([topic])
    if not bus.tracks_idle:  # documented default: returns at once
        await asyncio.wait_for(bus.wait_idle(), 1)
        return
    sub = await bus.subscribe(topic, Start.BEGINNING)
    read: list[Record | Gap] = []

    async def consumer() -> None:
        async for item in sub:
            read.append(item)  # noqa: PERF401 - one at a time, as they come

    task = asyncio.create_task(consumer())
    await bus.publish(topic, "k", b"1")
    await bus.publish(topic, "k", b"2")
    await asyncio.wait_for(bus.wait_idle(), TIMEOUT)
    assert len(read) == 2  # idle means every tracked consumer read everything and waits for more
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_lag_counts_what_the_slowest_consumer_has_not_read(backend):
    bus = await backend.connect()
    topic = backend.topic("lag")
    await bus.create_topics([topic])
    sub = await bus.subscribe(topic, Start.BEGINNING)
    await bus.publish_many(topic, [("k", b"x")] * 6)
    lag = bus.lag()
    assert isinstance(lag, dict)
    if backend.kind == "embedded":
        assert lag[topic] == 6
        await take(sub, 4)
        assert bus.lag()[topic] == 2


async def test_publishing_without_waiting_is_declared(backend):
    bus = await backend.connect()
    topic = backend.topic("nowait")
    await bus.create_topics([topic])
    if not bus.nowait:
        with pytest.raises(NotImplementedError):
            bus.publish_nowait(topic, "k", b"x")
        with pytest.raises(NotImplementedError):
            bus.publish_msg_nowait(topic, "k", trade(0))
        return
    assert bus.publish_nowait(topic, "k", b"x") == 0
    assert bus.publish_msg_nowait(topic, "k", trade(1)) == 1
    got = await take(await bus.subscribe(topic, Start.BEGINNING), 2)
    assert got[0].value == b"x" and got[1].msg == trade(1)


async def test_a_published_message_reads_back_as_that_message(backend):
    bus = await backend.connect()
    topic = backend.topic("typed")
    await bus.create_topics([topic])
    sent = [trade(i) for i in range(3)]
    for msg in sent:
        await bus.publish_msg(topic, msg.symbol, msg)
    got = await take(await bus.subscribe(topic, Start.BEGINNING), 3)
    decoder = m.Decoder()
    assert [decoder.decode(topic, r.value, m.MARKET_DATA) for r in got] == sent
    assert [r.value for r in got] == [m.encode(msg) for msg in sent]  # the bytes a record leaving has
    if backend.kind == "embedded":  # in process: the very object, nothing encoded or decoded in between
        assert all(r.msg is msg and r.raw is None for r, msg in zip(got, sent, strict=True))
    else:
        assert all(r.msg is None for r in got)


async def test_consumers_sharing_a_message_cannot_change_what_the_others_see(backend):
    bus = await backend.connect()
    topic = backend.topic("shared")
    await bus.create_topics([topic])
    a = await bus.subscribe(topic, Start.BEGINNING)
    b = await bus.subscribe(topic, Start.BEGINNING)
    await bus.publish_msg(topic, "BTCUSDT", trade(7))
    [ra], [rb] = await take(a, 1), await take(b, 1)
    msg_a = ra.msg if ra.msg is not None else m.Decoder().decode(topic, ra.value, m.MARKET_DATA)
    with pytest.raises(AttributeError):
        msg_a.price = 0.0  # type: ignore[misc]
    with pytest.raises(AttributeError):
        ra.key = "ETHUSDT"  # type: ignore[misc]
    msg_b = rb.msg if rb.msg is not None else m.Decoder().decode(topic, rb.value, m.MARKET_DATA)
    assert msg_b.price == 60_007.0 and rb.key == "BTCUSDT"


def test_every_message_put_on_a_topic_is_frozen():
    """In process one message object goes to every consumer: none may be able to change it for the others."""
    for topic, cls in m.TOPIC_TYPES.items():
        assert cls.__struct_config__.frozen, f"{cls.__name__} ({topic}) is not frozen"
        for field in msgspec.structs.fields(cls):
            sub = field.type
            if isinstance(sub, type) and issubclass(sub, msgspec.Struct):
                assert sub.__struct_config__.frozen, f"{cls.__name__}.{field.name} ({sub.__name__}) is not frozen"


async def test_a_record_is_stamped_with_the_time_it_was_stored(backend):
    """The store time is read once per turn of the event loop on the embedded bus: records stored after
    time has passed carry a later time."""
    bus = await backend.connect()
    topic = backend.topic("stamp")
    await bus.create_topics([topic])
    before = time.time_ns() // 1_000_000
    await bus.publish(topic, "k", b"a")
    await asyncio.sleep(0.05)  # the time that passes is what is measured
    await bus.publish(topic, "k", b"b")
    after = time.time_ns() // 1_000_000
    a, b = await take(await bus.subscribe(topic, Start.BEGINNING), 2)
    if backend.kind == "embedded":
        assert before <= a.timestamp < b.timestamp <= after
        assert b.timestamp - a.timestamp >= 50
    else:  # the cluster's clock: only the order and the distance are comparable
        assert b.timestamp - a.timestamp >= 40
