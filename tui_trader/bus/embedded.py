"""The embedded bus: an in-process log per topic partition with Fluvio's semantics, no server.

`EmbeddedCluster` holds the data (like a Fluvio cluster); `EmbeddedBus` is a client handle on it. Closing a
handle ends its subscriptions; a new handle on the same cluster sees everything published before.

Records published as typed messages (`publish_msg`) are stored as the message: consumers get the same
frozen object (`Record.msg`) with nothing encoded or decoded in between; the bytes are made only when
something asks for `Record.value` (the recording tap, `--json`).

Retention and drop policy, per topic partition:
- market data and health (lossy): at least `retention` records are kept; a consumer that falls further
  behind receives a `Gap` with the number it missed. A `conflate=True` consumer more than `CONFLATE_AFTER`
  records behind skips to the latest record per key (and is told how many it skipped).
- signals, orders, order statuses, control (lossless): a record is never trimmed while an open
  subscription has not read it. Memory grows instead; these topics are low-volume.

Idle tracking (`wait_idle`) lets a replay step the pipeline: after publishing one input it waits until
every tracked consumer has read everything and is parked waiting for more, so scheduling cannot change
what any worker sees.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence
from itertools import repeat
from typing import ClassVar

import msgspec

from tui_trader.bus.base import Bus, Gap, Record, Start, Subscription, partition_of
from tui_trader.errors import BusError
from tui_trader.messages import LOSSLESS_TOPICS

CONFLATE_AFTER = 2048
# A clock reading shared by fewer records than this in its turn was not worth sharing: read the clock for each
# of the next DIRECT_READINGS records instead.
SHARED_READING_MIN = 4
DIRECT_READINGS = 64


class _Partition:
    __slots__ = ("base", "cursors", "index", "log", "lossless", "parked", "retention", "trim_at")

    def __init__(self, index: int, lossless: bool, retention: int) -> None:
        self.index = index
        self.lossless = lossless
        self.retention = retention
        self.trim_at = 2 * retention  # trim in batches: amortised O(1) per record
        self.log: list[Record] = []
        self.base = 0  # offset of log[0]
        self.cursors: set[_Cursor] = set()  # of the open subscriptions that read this partition
        self.parked: dict[_EmbeddedSubscription, None] = {}  # waiting for a record here (insertion order)

    @property
    def end(self) -> int:
        return self.base + len(self.log)

    def trim(self) -> None:
        drop = len(self.log) - self.retention
        if self.lossless and self.cursors:
            drop = min(drop, min(c.pos for c in self.cursors) - self.base)
        if drop > 0:
            del self.log[:drop]
            self.base += drop


class _Topic:
    __slots__ = ("lossless", "name", "parts", "subs")

    def __init__(self, name: str, lossless: bool, retention: int, partitions: int) -> None:
        self.name = name
        self.lossless = lossless
        self.parts = [_Partition(i, lossless, retention) for i in range(partitions)]
        self.subs: set[_EmbeddedSubscription] = set()

    # Partition 0 (every record of a one-partition topic): what tests and tools that predate partitions read.
    @property
    def log(self) -> list[Record]:
        return self.parts[0].log

    @property
    def base(self) -> int:
        return self.parts[0].base

    @property
    def end(self) -> int:
        return self.parts[0].end

    def part(self, index: int) -> _Partition:
        if not 0 <= index < len(self.parts):
            raise BusError(f"topic {self.name!r} has no partition {index} (it has {len(self.parts)})")
        return self.parts[index]


class _Cursor:
    """Where one subscription is in one partition: the offset of the next record it reads."""

    __slots__ = ("part", "pos")

    def __init__(self, part: _Partition, pos: int) -> None:
        self.part = part
        self.pos = pos


class EmbeddedCluster:
    """The in-process store: topics, committed consumer offsets, and idle tracking."""

    def __init__(self, retention: int = 200_000) -> None:
        self.retention = retention
        self.topics: dict[str, _Topic] = {}
        self.committed: dict[tuple[str, str, int], int] = {}  # (consumer, topic, partition) → offset done
        self._busy = 0  # tracked subscriptions that are not parked at the end of their topic
        self._idle_waiters: list[asyncio.Future[None]] = []
        # The store time of records appended in this turn of the event loop (ms; -1: not read yet this turn).
        # Reading the clock cost as much as building the record; records stored in one turn, with no await
        # in between, share one reading. Where turns store one record each (a lockstep or paced replay) the
        # callback that ends a reading would cost more than it saves: then the clock is read for each record
        # for a while (`_direct` more readings) before sharing is tried again.
        self._stamp = -1
        self._reused = 0  # records that took the current reading without reading the clock
        self._direct = 0

    def topic(self, name: str) -> _Topic:
        try:
            return self.topics[name]
        except KeyError:
            raise BusError(f"topic {name!r} does not exist; create it first") from None

    def create(self, name: str, partitions: int = 1) -> None:
        if partitions < 1:
            raise BusError(f"topic {name!r}: partitions must be at least 1, not {partitions}")
        if name not in self.topics:
            lossless = any(name == t or name.endswith("-" + t) for t in LOSSLESS_TOPICS)
            self.topics[name] = _Topic(name, lossless, self.retention, partitions)

    def append(self, topic: str, key: str, value: bytes | None, msg: msgspec.Struct | None = None) -> int:
        t = self.topic(topic)
        parts = t.parts
        p = parts[0] if len(parts) == 1 else parts[partition_of(key, len(parts))]
        log = p.log
        offset = p.base + len(log)
        stamp = self._stamp
        if stamp < 0:
            stamp = self._read_clock()
        else:
            self._reused += 1
        log.append(Record(topic, key, value, offset, stamp, p.index, msg))
        if len(log) >= p.trim_at:
            p.trim()
        if p.parked:
            parked, p.parked = p.parked, {}
            for sub in parked:
                sub.wake()
        return offset

    def append_msgs(self, topic: str, keys: Sequence[str], msgs: Sequence[msgspec.Struct]) -> None:
        """Append typed messages in this order, `keys[i]` the key of `msgs[i]`: the records and offsets of one
        `append` each, for one topic look-up, one clock reading (the batch's store time) and one wake of the
        parked consumers (a replay running free publishes what it parsed between two turns of the loop so)."""
        if not msgs:
            return
        t = self.topic(topic)
        stamp = self._stamp
        if stamp < 0:
            stamp = self._read_clock()
            self._reused += len(msgs) - 1
        else:
            self._reused += len(msgs)
        parts = t.parts
        if len(parts) == 1:
            p = parts[0]
            log = p.log
            start = p.base + len(log)
            # One C-level loop builds the records (no bytecode per record).
            log.extend(
                map(
                    Record,
                    repeat(topic),
                    keys,
                    repeat(None),
                    range(start, start + len(msgs)),
                    repeat(stamp),
                    repeat(p.index),
                    msgs,
                )
            )
            touched: Iterable[_Partition] = (p,)
        else:
            n = len(parts)
            into: dict[_Partition, None] = {}
            for key, msg in zip(keys, msgs, strict=True):
                p = parts[partition_of(key, n)]
                p.log.append(Record(topic, key, None, p.base + len(p.log), stamp, p.index, msg))
                into[p] = None
            touched = into
        for p in touched:
            if len(p.log) >= p.trim_at:
                p.trim()
            if p.parked:
                parked, p.parked = p.parked, {}
                for sub in parked:
                    sub.wake()

    def _read_clock(self) -> int:
        """The time now (ms), kept for the rest of this turn of the event loop (outside a loop: not kept)."""
        now = time.time_ns() // 1_000_000
        if self._direct > 0:
            self._direct -= 1
            return now
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return now
        self._stamp = now
        self._reused = 0
        loop.call_soon(self._forget_clock)
        return now

    def _forget_clock(self) -> None:
        self._stamp = -1
        if self._reused < SHARED_READING_MIN:
            self._direct = DIRECT_READINGS

    # --- idle tracking ---
    def busy_inc(self) -> None:
        self._busy += 1

    def busy_dec(self) -> None:
        self._busy -= 1
        if self._busy == 0 and self._idle_waiters:
            waiters, self._idle_waiters = self._idle_waiters, []
            for fut in waiters:
                if not fut.done():
                    fut.set_result(None)

    async def wait_idle(self) -> None:
        while self._busy > 0:
            fut = asyncio.get_running_loop().create_future()
            self._idle_waiters.append(fut)
            await fut


class _EmbeddedSubscription(Subscription):
    def __init__(
        self,
        cluster: EmbeddedCluster,
        topic: _Topic,
        cursors: list[_Cursor],
        consumer: str | None,
        conflate: bool,
        tracked: bool,
    ) -> None:
        self.topic = topic.name
        self.partitions = tuple(c.part.index for c in cursors)
        self._cluster = cluster
        self._t = topic
        self._cursors = cursors
        # One partition (the usual case): the hot paths use this cursor and skip the rotation.
        self._one: _Cursor | None = cursors[0] if len(cursors) == 1 else None
        self._next = 0  # the partition index (in _cursors) read first next time: no partition starves
        self._consumer = consumer
        self._conflate = conflate
        self._tracked = tracked
        self._pending: list[Record] = []  # conflated backlog still to hand out
        self._fut: asyncio.Future[None] | None = None
        self._closed = False
        topic.subs.add(self)
        for c in cursors:
            c.part.cursors.add(c)
        if tracked:
            cluster.busy_inc()

    def wake(self) -> None:
        fut = self._fut
        if fut is not None:
            self._fut = None
            if self._one is None:  # parked on several partitions: one woke it, leave the others
                for c in self._cursors:
                    c.part.parked.pop(self, None)
            if self._tracked:
                self._cluster.busy_inc()
            if not fut.done():
                fut.set_result(None)

    async def __anext__(self) -> Record | Gap:
        while True:
            if self._pending:
                return self._pending.pop(0)
            if self._closed:
                raise StopAsyncIteration
            one = self._one
            if one is not None:
                item = self._read(one)
                if item is not None:
                    return item
            else:
                cursors = self._cursors
                n = len(cursors)
                first = self._next
                for i in range(n):
                    item = self._read(cursors[(first + i) % n])
                    if item is not None:
                        self._next = (first + i + 1) % n
                        return item
            await self._park()

    def _read(self, c: _Cursor) -> Record | Gap | None:
        """The next item of one partition, or None when it has nothing new."""
        p = c.part
        pos = c.pos
        if pos < p.base:
            c.pos = p.base
            return Gap(self.topic, p.base - pos, p.base, partition=p.index)
        idx = pos - p.base
        n = len(p.log)
        if idx < n:
            if self._conflate and n - idx > CONFLATE_AFTER:
                return self._conflate_backlog(c, idx, n)
            c.pos = pos + 1
            return p.log[idx]
        return None

    @property
    def position(self) -> int:  # type: ignore[override]  # a read-only view of the first cursor
        return self._pos(self._cursors[0])

    def _pos(self, c: _Cursor) -> int:
        pending = self._pending
        if pending and pending[0].partition == c.part.index:
            return pending[0].offset
        return c.pos

    def positions(self) -> dict[int, int | None]:
        return {c.part.index: self._pos(c) for c in self._cursors}

    def take_ready(self, limit: int) -> list[Record]:
        """Up to `limit` records that are there now, without waiting: one list slice per partition instead
        of one coroutine per record. Empty when it must wait, or when a gap, a conflation or a close is due
        in any partition read: `__anext__` handles those."""
        if self._pending or self._closed:
            return []
        one = self._one
        if one is not None:
            p = one.part
            idx = one.pos - p.base
            n = len(p.log)
            if idx < 0 or idx >= n or (self._conflate and n - idx > CONFLATE_AFTER):
                return []
            end = n if n - idx <= limit else idx + limit
            one.pos = p.base + end
            return p.log[idx:end]
        cursors = self._cursors
        for c in cursors:
            p = c.part
            if c.pos < p.base or (self._conflate and p.end - c.pos > CONFLATE_AFTER):
                return []
        out: list[Record] = []
        k = len(cursors)
        first = self._next
        self._next = (first + 1) % k
        for i in range(k):
            c = cursors[(first + i) % k]
            p = c.part
            idx = c.pos - p.base
            n = len(p.log)
            if idx >= n:
                continue
            end = min(n, idx + limit - len(out))
            c.pos = p.base + end
            out.extend(p.log[idx:end])
            if len(out) >= limit:
                break
        return out

    def _conflate_backlog(self, c: _Cursor, idx: int, n: int) -> Gap:
        p = c.part
        latest: dict[str, Record] = {}
        for rec in p.log[idx:n]:
            latest[rec.key] = rec
        keep = sorted(latest.values(), key=lambda r: r.offset)
        self._pending = keep
        c.pos = p.base + n
        return Gap(self.topic, (n - idx) - len(keep), keep[0].offset, conflated=True, partition=p.index)

    async def _park(self) -> None:
        fut = asyncio.get_running_loop().create_future()
        self._fut = fut
        for c in self._cursors:
            c.part.parked[self] = None
        if self._tracked:
            self._cluster.busy_dec()
        try:
            await fut
        except asyncio.CancelledError:
            if self._fut is fut:  # not woken: undo the parking so the idle count stays right
                self._fut = None
                for c in self._cursors:
                    c.part.parked.pop(self, None)
                if self._tracked:
                    self._cluster.busy_inc()
            raise

    async def commit(self, offset: int, partition: int = 0) -> None:
        if self._consumer is None:
            raise BusError("commit needs a named consumer (subscribe(..., consumer=NAME))")
        if partition not in self.partitions:
            raise BusError(f"{self.topic}: this subscription does not read partition {partition}")
        self._cluster.committed[(self._consumer, self.topic, partition)] = offset

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._t.subs.discard(self)
        for c in self._cursors:
            c.part.cursors.discard(c)
        fut = self._fut
        if fut is not None:  # parked: its busy count was already released
            self._fut = None
            for c in self._cursors:
                c.part.parked.pop(self, None)
            if not fut.done():
                fut.set_result(None)
        elif self._tracked:
            self._cluster.busy_dec()


class EmbeddedBus(Bus):
    backend = "embedded"
    nowait: ClassVar[bool] = True
    tracks_idle: ClassVar[bool] = True

    def __init__(self, cluster: EmbeddedCluster | None = None, *, retention: int = 200_000) -> None:
        self.cluster = cluster if cluster is not None else EmbeddedCluster(retention)
        self._subs: set[_EmbeddedSubscription] = set()
        self._closed = False

    def _check_open(self) -> None:
        if self._closed:
            raise BusError("this bus handle is closed")

    async def create_topics(self, topics: Iterable[str], partitions: int = 1) -> None:
        self._check_open()
        for name in topics:
            self.cluster.create(name, partitions)

    async def publish(self, topic: str, key: str, value: bytes) -> int:
        self._check_open()
        return self.cluster.append(topic, key, value)

    async def publish_msg(self, topic: str, key: str, msg: msgspec.Struct) -> int:
        self._check_open()
        return self.cluster.append(topic, key, None, msg)

    async def publish_many(self, topic: str, records: Sequence[tuple[str, bytes]]) -> list[int]:
        self._check_open()
        append = self.cluster.append
        return [append(topic, key, value) for key, value in records]

    def publish_nowait(self, topic: str, key: str, value: bytes) -> int:
        self._check_open()
        return self.cluster.append(topic, key, value)

    def publish_msg_nowait(self, topic: str, key: str, msg: msgspec.Struct) -> int:
        self._check_open()
        return self.cluster.append(topic, key, None, msg)

    def publish_msgs_nowait(self, topic: str, keys: Sequence[str], msgs: Sequence[msgspec.Struct]) -> None:
        self._check_open()
        self.cluster.append_msgs(topic, keys, msgs)

    async def subscribe(
        self,
        topic: str,
        start: Start = Start.END,
        *,
        consumer: str | None = None,
        conflate: bool = False,
        tracked: bool = True,
        partitions: Sequence[int] | None = None,
    ) -> Subscription:
        self._check_open()
        t = self.cluster.topic(topic)
        parts = t.parts if partitions is None else [t.part(i) for i in dict.fromkeys(partitions)]
        if not parts:
            raise BusError(f"subscribe to {topic!r}: no partition given")
        cursors = [_Cursor(p, self._start(t, p, start, consumer)) for p in parts]
        sub = _EmbeddedSubscription(self.cluster, t, cursors, consumer, conflate, tracked)
        self._subs.add(sub)
        return sub

    def _start(self, t: _Topic, p: _Partition, start: Start, consumer: str | None) -> int:
        """The offset a subscription starts at in one partition."""
        kind = start.kind
        if kind == "committed":
            key = (consumer or "", t.name, p.index)
            committed = self.cluster.committed.get(key) if consumer else None
            if committed is not None:
                return committed + 1
            cursor = p.base if start.fallback == "beginning" else p.end
            if consumer and start.fallback != "beginning":
                # Pin the first start: a restart before any commit resumes here, not at a later end.
                self.cluster.committed[key] = cursor - 1
            return cursor
        if kind == "beginning":
            return p.base
        if kind == "end":
            return p.end
        return start.offset

    async def end_offset(self, topic: str, partition: int = 0) -> int:
        return self.cluster.topic(topic).part(partition).end

    async def wait_idle(self) -> None:
        await self.cluster.wait_idle()

    def lag(self) -> dict[str, int]:
        out = {}
        for name, t in self.cluster.topics.items():
            out[name] = max((sum(c.part.end - c.pos for c in s._cursors) for s in t.subs), default=0)
        return out

    async def close(self) -> None:
        self._closed = True
        subs, self._subs = self._subs, set()
        for sub in subs:
            await sub.close()
