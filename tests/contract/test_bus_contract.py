"""One contract for every bus backend: what workers rely on when they move from embedded to Fluvio."""

from __future__ import annotations

import asyncio

import pytest

from tui_trader.bus import Gap, Record, Start

TIMEOUT = 10


async def take(sub, n: int) -> list[Record]:
    """The next n records of a subscription (gaps are a contract failure here)."""
    out = []

    async def _take():
        async for item in sub:
            assert not isinstance(item, Gap), f"unexpected gap {item}"
            out.append(item)
            if len(out) == n:
                return

    await asyncio.wait_for(_take(), TIMEOUT)
    return out


async def test_offsets_are_sequential_from_zero_and_order_is_kept(backend):
    bus = await backend.connect()
    topic = backend.topic()
    await bus.create_topics([topic])
    offsets = [await bus.publish(topic, "BTCUSDT", f"v{i}".encode()) for i in range(50)]
    assert offsets == list(range(50))
    sub = await bus.subscribe(topic, Start.BEGINNING)
    got = await take(sub, 50)
    assert [r.value for r in got] == [f"v{i}".encode() for i in range(50)]
    assert [r.offset for r in got] == list(range(50))
    assert all(r.topic == topic and r.key == "BTCUSDT" and r.timestamp > 0 for r in got)


async def test_workers_started_together_all_get_their_topics(backend):
    """Workers started at the same moment (as a supervisor does) each find the topics missing and create
    them: the ones that lose the race must still start."""
    handles = [await backend.connect() for _ in range(4)]
    topics = [backend.topic(f"race{i}") for i in range(3)]
    await asyncio.gather(*(bus.create_topics(topics) for bus in handles))
    for i, bus in enumerate(handles):
        assert await bus.publish(topics[i % len(topics)], "k", b"x") >= 0


async def test_keys_are_kept_per_record(backend):
    bus = await backend.connect()
    topic = backend.topic()
    await bus.create_topics([topic])
    keys = ["BTCUSDT", "ETHUSDT", "order-1", ""]
    for k in keys:
        await bus.publish(topic, k, b"x")
    got = await take(await bus.subscribe(topic, Start.BEGINNING), len(keys))
    assert [r.key for r in got] == keys


async def test_unicode_keys_and_large_values_round_trip(backend):
    bus = await backend.connect()
    topic = backend.topic()
    await bus.create_topics([topic])
    big = bytes(range(256)) * 4096  # 1 MiB, every byte value
    await bus.publish(topic, "比特币-€-🚀", big)
    await bus.publish(topic, "ключ", "значение ✓".encode())
    got = await take(await bus.subscribe(topic, Start.BEGINNING), 2)
    assert got[0].key == "比特币-€-🚀" and got[0].value == big
    assert got[1].key == "ключ" and got[1].value.decode() == "значение ✓"


async def test_start_at_end_sees_only_new_records(backend):
    bus = await backend.connect()
    topic = backend.topic()
    await bus.create_topics([topic])
    for i in range(5):
        await bus.publish(topic, "k", f"old{i}".encode())
    sub = await bus.subscribe(topic, Start.END)
    reader = asyncio.create_task(take(sub, 2))
    await asyncio.sleep(0)  # let the reader reach the end of the topic before new records arrive
    await bus.publish(topic, "k", b"new0")
    await bus.publish(topic, "k", b"new1")
    got = await reader
    assert [(r.offset, r.value) for r in got] == [(5, b"new0"), (6, b"new1")]


async def test_start_at_absolute_offset(backend):
    bus = await backend.connect()
    topic = backend.topic()
    await bus.create_topics([topic])
    for i in range(10):
        await bus.publish(topic, "k", str(i).encode())
    got = await take(await bus.subscribe(topic, Start.at(7)), 3)
    assert [r.offset for r in got] == [7, 8, 9]
    assert [r.value for r in got] == [b"7", b"8", b"9"]


async def test_two_consumers_each_see_every_record(backend):
    bus = await backend.connect()
    topic = backend.topic()
    await bus.create_topics([topic])
    a = await bus.subscribe(topic, Start.BEGINNING)
    b = await bus.subscribe(topic, Start.BEGINNING)
    ta, tb = asyncio.create_task(take(a, 20)), asyncio.create_task(take(b, 20))
    for i in range(20):
        await bus.publish(topic, "k", str(i).encode())
    ra, rb = await ta, await tb
    assert [r.value for r in ra] == [r.value for r in rb] == [str(i).encode() for i in range(20)]


async def test_a_consumer_waits_for_records_published_later(backend):
    bus = await backend.connect()
    topic = backend.topic()
    await bus.create_topics([topic])
    sub = await bus.subscribe(topic, Start.BEGINNING)
    reader = asyncio.create_task(take(sub, 3))
    await asyncio.sleep(0.05)
    assert not reader.done()
    for i in range(3):
        await bus.publish(topic, "k", str(i).encode())
    assert [r.value for r in await reader] == [b"0", b"1", b"2"]


async def test_create_topics_is_idempotent_and_keeps_data(backend):
    bus = await backend.connect()
    topic = backend.topic()
    await bus.create_topics([topic])
    await bus.publish(topic, "k", b"kept")
    await bus.create_topics([topic])
    got = await take(await bus.subscribe(topic, Start.BEGINNING), 1)
    assert got[0].value == b"kept"


async def test_close_and_reopen_sees_earlier_records(backend):
    bus = await backend.connect()
    topic = backend.topic()
    await bus.create_topics([topic])
    for i in range(4):
        await bus.publish(topic, "k", str(i).encode())
    await bus.close()
    again = await backend.connect()
    assert await again.publish(topic, "k", b"4") == 4
    got = await take(await again.subscribe(topic, Start.BEGINNING), 5)
    assert [r.value for r in got] == [b"0", b"1", b"2", b"3", b"4"]


async def test_closing_a_handle_ends_its_subscriptions(backend):
    bus = await backend.connect()
    topic = backend.topic()
    await bus.create_topics([topic])
    sub = await bus.subscribe(topic, Start.END)

    async def drain():
        return [r async for r in sub]

    reader = asyncio.create_task(drain())
    await asyncio.sleep(0.05)
    await bus.close()
    assert await asyncio.wait_for(reader, TIMEOUT) == []


async def test_named_consumer_resumes_after_its_commit(backend):
    bus = await backend.connect()
    topic = backend.topic()
    await bus.create_topics([topic])
    for i in range(6):
        await bus.publish(topic, "k", str(i).encode())
    consumer = backend.topic("consumer")
    sub = await bus.subscribe(topic, Start.committed(), consumer=consumer)
    first = await take(sub, 3)
    await sub.commit(first[-1].offset)
    await sub.close()
    again = await bus.subscribe(topic, Start.committed(), consumer=consumer)
    rest = await take(again, 3)
    assert [r.offset for r in rest] == [3, 4, 5]


async def test_publish_to_a_missing_topic_is_an_error(backend):
    from tui_trader.errors import BusError

    bus = await backend.connect()
    with pytest.raises(BusError, match="does not exist"):
        await bus.publish(backend.topic("missing"), "k", b"x")


async def test_end_offset_is_one_past_the_last_record(backend):
    bus = await backend.connect()
    topic = backend.topic()
    await bus.create_topics([topic])
    assert await bus.end_offset(topic) == 0
    for i in range(7):
        await bus.publish(topic, "k", f"v{i}".encode())
    assert await bus.end_offset(topic) == 7
    sub = await bus.subscribe(topic, Start.END)
    assert sub.position == 7


async def test_a_new_named_consumer_starting_at_the_end_pins_its_start(backend):
    """A worker that subscribes for the first time (nothing committed, fallback end) and stops before it
    commits anything resumes where it first started: records published while it was down are not lost."""
    bus = await backend.connect()
    topic = backend.topic()
    await bus.create_topics([topic])
    await bus.publish(topic, "k", b"before")
    first = await bus.subscribe(topic, Start.committed("end"), consumer="pinned")
    position = first.position
    await first.close()
    for v in (b"while-down-1", b"while-down-2"):
        await bus.publish(topic, "k", v)
    again = await bus.subscribe(topic, Start.committed("end"), consumer="pinned")
    got = await take(again, 2)
    assert [r.value for r in got] == [b"while-down-1", b"while-down-2"]
    assert position == 1


async def test_a_batch_keeps_order_keys_and_gets_one_offset_per_record(backend):
    """A burst published as one batch: every record gets its own offset, in order, between single publishes."""
    bus = await backend.connect()
    topic = backend.topic()
    await bus.create_topics([topic])
    assert await bus.publish(topic, "first", b"a") == 0
    batch = [("BTCUSDT" if i % 2 else "ETHUSDT", f"b{i}".encode()) for i in range(500)]
    assert await bus.publish_many(topic, batch) == list(range(1, 501))
    assert await bus.publish_many(topic, []) == []
    assert await bus.publish(topic, "last", b"z") == 501
    got = await take(await bus.subscribe(topic, Start.BEGINNING), 502)
    assert [(r.key, r.value) for r in got] == [("first", b"a"), *batch, ("last", b"z")]
    assert [r.offset for r in got] == list(range(502))
