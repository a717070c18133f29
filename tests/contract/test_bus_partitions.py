"""Partitions, on every backend: records go to a partition by key, a symbol's records stay in order, consumers
can split a topic's partitions between them, and committed offsets are kept per partition."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest
from test_bus_contract import TIMEOUT, take

from tui_trader.bus import Gap, Record, Start, partition_of

SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "BNBUSDT", "DOGEUSDT"]


def burst(n: int) -> list[tuple[str, bytes]]:
    """n records over the symbols, interleaved, each value naming its symbol and its number for that symbol."""
    seq = dict.fromkeys(SYMBOLS, 0)
    out = []
    for i in range(n):
        s = SYMBOLS[(i * 7 + i // 5) % len(SYMBOLS)]
        out.append((s, f"{s}:{seq[s]}".encode()))
        seq[s] += 1
    return out


async def drain(sub, n: int) -> list[Record]:
    """Read until n records came, then anything else that comes within a short while (nothing should)."""
    got = await take(sub, n)
    try:
        extra = await asyncio.wait_for(sub.__anext__(), 0.3)
    except TimeoutError:
        return got
    raise AssertionError(f"more than {n} records: {extra}")


def test_the_partition_of_a_key_is_stable_across_processes():
    """CRC-32, not Python's per-process salted hash: another process (another machine) routes the same way."""
    here = [partition_of(s, 7) for s in SYMBOLS]
    code = f"from tui_trader.bus import partition_of; print([partition_of(s, 7) for s in {SYMBOLS!r}])"
    there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert str(here) == there.strip()
    assert [partition_of("BTCUSDT", 2), partition_of("ETHUSDT", 2), partition_of("SOLUSDT", 3)] == [1, 0, 2]
    assert all(partition_of(s, 1) == 0 for s in SYMBOLS)


async def test_a_symbols_records_stay_in_order_across_two_partitions(backend):
    bus = await backend.connect()
    topic = backend.topic("parts")
    await bus.create_topics([topic], partitions=2)
    records = burst(120)
    for key, value in records[:60]:
        await bus.publish(topic, key, value)
    await bus.publish_many(topic, records[60:])
    got = await drain(await bus.subscribe(topic, Start.BEGINNING), len(records))
    assert all(r.partition == partition_of(r.key, 2) for r in got)
    for s in SYMBOLS:
        mine = [r for r in got if r.key == s]
        assert [r.value for r in mine] == [v for k, v in records if k == s], s
        assert [r.offset for r in mine] == sorted(r.offset for r in mine)
    # Offsets count from 0 in each partition, one per record.
    for p in (0, 1):
        offsets = sorted(r.offset for r in got if r.partition == p)
        assert offsets == list(range(len(offsets)))
        assert await bus.end_offset(topic, p) == len(offsets)
    assert {r.partition for r in got} == {0, 1}


async def test_two_consumers_on_one_partition_each_share_the_topic(backend):
    """Two workers owning partitions (0,) and (1,): nothing seen twice, nothing missed."""
    bus = await backend.connect()
    topic = backend.topic("split")
    await bus.create_topics([topic], partitions=2)
    records = burst(90)
    await bus.publish_many(topic, records)
    counts = [sum(1 for k, _ in records if partition_of(k, 2) == p) for p in (0, 1)]
    first = await drain(await bus.subscribe(topic, Start.BEGINNING, partitions=[0]), counts[0])
    second = await drain(await bus.subscribe(topic, Start.BEGINNING, partitions=[1]), counts[1])
    assert {r.partition for r in first} == {0} and {r.partition for r in second} == {1}
    a, b = {(r.key, r.value) for r in first}, {(r.key, r.value) for r in second}
    assert not a & b
    assert a | b == set(records)


async def test_a_consumer_of_one_partition_waits_for_records_of_its_partition_only(backend):
    bus = await backend.connect()
    topic = backend.topic("wait")
    await bus.create_topics([topic], partitions=2)
    sub = await bus.subscribe(topic, Start.END, partitions=[1])
    reader = asyncio.create_task(take(sub, 2))
    await asyncio.sleep(0.05)
    await bus.publish(topic, "ETHUSDT", b"p0")  # partition 0: not for this consumer
    await bus.publish(topic, "BTCUSDT", b"p1-a")
    await bus.publish(topic, "BTCUSDT", b"p1-b")
    got = await reader
    assert [(r.partition, r.value) for r in got] == [(1, b"p1-a"), (1, b"p1-b")]


async def test_committed_offsets_are_kept_per_partition(backend):
    bus = await backend.connect()
    topic = backend.topic("commit")
    await bus.create_topics([topic], partitions=2)
    for i in range(4):
        await bus.publish(topic, "ETHUSDT", f"e{i}".encode())  # partition 0
        await bus.publish(topic, "BTCUSDT", f"b{i}".encode())  # partition 1
    consumer = backend.topic("consumer")
    sub = await bus.subscribe(topic, Start.committed(), consumer=consumer)
    got = await take(sub, 8)
    by_part = {p: [r for r in got if r.partition == p] for p in (0, 1)}
    await sub.commit(by_part[0][2].offset, 0)  # e0..e2 done
    await sub.commit(by_part[1][0].offset, 1)  # b0 done
    await sub.close()
    again = await bus.subscribe(topic, Start.committed(), consumer=consumer)
    rest = await drain(again, 4)
    assert sorted(r.value for r in rest) == [b"b1", b"b2", b"b3", b"e3"]
    # Each partition resumes where it was committed: the same consumer on one partition only sees the same.
    await again.close()
    only_one = await bus.subscribe(topic, Start.committed(), consumer=consumer, partitions=[1])
    assert [r.value for r in await drain(only_one, 3)] == [b"b1", b"b2", b"b3"]


async def test_one_partition_is_the_whole_topic(backend):
    """partitions=1 (the default) and partitions=[0] read exactly what a topic without partitions held."""
    bus = await backend.connect()
    topic = backend.topic("one")
    await bus.create_topics([topic], partitions=1)
    records = burst(30)
    await bus.publish_many(topic, records)
    whole = await drain(await bus.subscribe(topic, Start.BEGINNING), 30)
    zero = await drain(await bus.subscribe(topic, Start.BEGINNING, partitions=[0]), 30)
    assert [(r.key, r.value, r.offset, r.partition) for r in whole] == [
        (k, v, i, 0) for i, (k, v) in enumerate(records)
    ]
    assert [(r.key, r.value, r.offset) for r in zero] == [(r.key, r.value, r.offset) for r in whole]
    assert await bus.end_offset(topic) == 30


async def test_a_partition_the_topic_does_not_have_is_an_error(backend):
    from tui_trader.errors import BusError

    bus = await backend.connect()
    topic = backend.topic("nopart")
    await bus.create_topics([topic], partitions=2)
    with pytest.raises(BusError):
        await bus.subscribe(topic, Start.BEGINNING, partitions=[2])


async def test_a_conflating_consumer_far_behind_skips_per_partition():
    """Embedded only (Fluvio does not conflate): the skip is told per partition and keeps each key's latest."""
    from tui_trader.bus import EmbeddedBus, EmbeddedCluster
    from tui_trader.bus.embedded import CONFLATE_AFTER

    bus = EmbeddedBus(EmbeddedCluster(retention=4 * CONFLATE_AFTER))
    topic = "market"
    await bus.create_topics([topic], partitions=2)
    sub = await bus.subscribe(topic, Start.BEGINNING, conflate=True)
    for i in range(CONFLATE_AFTER + 10):
        await bus.publish(topic, "ETHUSDT", f"e{i}".encode())
        await bus.publish(topic, "BTCUSDT", f"b{i}".encode())
    items = []

    async def read() -> None:
        async for item in sub:
            items.append(item)
            if sum(1 for x in items if not isinstance(x, Gap)) == 2:
                return

    await asyncio.wait_for(read(), TIMEOUT)
    gaps = [x for x in items if isinstance(x, Gap)]
    assert sorted(g.partition for g in gaps) == [0, 1] and all(g.conflated for g in gaps)
    last = CONFLATE_AFTER + 9
    assert sorted(r.value for r in items if not isinstance(r, Gap)) == [f"b{last}".encode(), f"e{last}".encode()]
    await bus.close()
