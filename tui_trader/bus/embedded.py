"""The embedded bus: an in-process log per topic with Fluvio's semantics, no server.

`EmbeddedCluster` holds the data (like a Fluvio cluster); `EmbeddedBus` is a client handle on it. Closing a
handle ends its subscriptions; a new handle on the same cluster sees everything published before.

Retention and drop policy, per topic:
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
from collections.abc import Iterable

from tui_trader.bus.base import Bus, Gap, Record, Start, Subscription
from tui_trader.errors import BusError
from tui_trader.messages import LOSSLESS_TOPICS

CONFLATE_AFTER = 2048


class _Topic:
    __slots__ = ("base", "log", "lossless", "name", "parked", "retention", "subs")

    def __init__(self, name: str, lossless: bool, retention: int) -> None:
        self.name = name
        self.lossless = lossless
        self.retention = retention
        self.log: list[Record] = []
        self.base = 0  # offset of log[0]
        self.subs: set[_EmbeddedSubscription] = set()
        self.parked: list[_EmbeddedSubscription] = []

    @property
    def end(self) -> int:
        return self.base + len(self.log)

    def trim(self) -> None:
        drop = len(self.log) - self.retention
        if self.lossless and self.subs:
            drop = min(drop, min(s.cursor for s in self.subs) - self.base)
        if drop > 0:
            del self.log[:drop]
            self.base += drop


class EmbeddedCluster:
    """The in-process store: topics, committed consumer offsets, and idle tracking."""

    def __init__(self, retention: int = 200_000) -> None:
        self.retention = retention
        self.topics: dict[str, _Topic] = {}
        self.committed: dict[tuple[str, str], int] = {}
        self._busy = 0  # tracked subscriptions that are not parked at the end of their topic
        self._idle_waiters: list[asyncio.Future[None]] = []

    def topic(self, name: str) -> _Topic:
        try:
            return self.topics[name]
        except KeyError:
            raise BusError(f"topic {name!r} does not exist; create it first") from None

    def create(self, name: str) -> None:
        if name not in self.topics:
            lossless = any(name == t or name.endswith("-" + t) for t in LOSSLESS_TOPICS)
            self.topics[name] = _Topic(name, lossless, self.retention)

    def append(self, topic: str, key: str, value: bytes) -> int:
        t = self.topic(topic)
        offset = t.base + len(t.log)
        t.log.append(Record(topic, key, value, offset, time.time_ns() // 1_000_000))
        if len(t.log) >= 2 * t.retention:  # trim in batches: amortised O(1) per record
            t.trim()
        if t.parked:
            parked, t.parked = t.parked, []
            for sub in parked:
                sub.wake()
        return offset

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
        self, cluster: EmbeddedCluster, topic: _Topic, cursor: int, consumer: str | None, conflate: bool, tracked: bool
    ) -> None:
        self.topic = topic.name
        self._cluster = cluster
        self._t = topic
        self.cursor = cursor
        self._consumer = consumer
        self._conflate = conflate
        self._tracked = tracked
        self._pending: list[Record] = []  # conflated backlog still to hand out
        self._fut: asyncio.Future[None] | None = None
        self._closed = False
        topic.subs.add(self)
        if tracked:
            cluster.busy_inc()

    def wake(self) -> None:
        fut = self._fut
        if fut is not None:
            self._fut = None
            if self._tracked:
                self._cluster.busy_inc()
            if not fut.done():
                fut.set_result(None)

    async def __anext__(self) -> Record | Gap:
        t = self._t
        while True:
            if self._pending:
                return self._pending.pop(0)
            if self._closed:
                raise StopAsyncIteration
            cursor = self.cursor
            if cursor < t.base:
                self.cursor = t.base
                return Gap(t.name, t.base - cursor, t.base)
            idx = cursor - t.base
            n = len(t.log)
            if idx < n:
                if self._conflate and n - idx > CONFLATE_AFTER:
                    return self._conflate_backlog(idx, n)
                self.cursor = cursor + 1
                return t.log[idx]
            await self._park()

    @property
    def position(self) -> int:  # type: ignore[override]
        return self._pending[0].offset if self._pending else self.cursor

    def take_ready(self, limit: int) -> list[Record]:
        """Up to `limit` records that are there now, without waiting: a busy consumer's fast path (one
        list slice instead of one coroutine per record). Empty when it must wait, or when a gap, a
        conflation or a close is due: `__anext__` handles those."""
        t = self._t
        idx = self.cursor - t.base
        n = len(t.log)
        if self._pending or self._closed or idx < 0 or idx >= n or (self._conflate and n - idx > CONFLATE_AFTER):
            return []
        end = n if n - idx <= limit else idx + limit
        self.cursor = t.base + end
        return t.log[idx:end]

    def _conflate_backlog(self, idx: int, n: int) -> Gap:
        latest: dict[str, Record] = {}
        for rec in self._t.log[idx:n]:
            latest[rec.key] = rec
        keep = sorted(latest.values(), key=lambda r: r.offset)
        self._pending = keep
        self.cursor = self._t.base + n
        return Gap(self._t.name, (n - idx) - len(keep), keep[0].offset, conflated=True)

    async def _park(self) -> None:
        fut = asyncio.get_running_loop().create_future()
        self._fut = fut
        self._t.parked.append(self)
        if self._tracked:
            self._cluster.busy_dec()
        try:
            await fut
        except asyncio.CancelledError:
            if self._fut is fut:  # not woken: undo the parking so the idle count stays right
                self._fut = None
                if self in self._t.parked:
                    self._t.parked.remove(self)
                if self._tracked:
                    self._cluster.busy_inc()
            raise

    async def commit(self, offset: int) -> None:
        if self._consumer is None:
            raise BusError("commit needs a named consumer (subscribe(..., consumer=NAME))")
        self._cluster.committed[(self._consumer, self.topic)] = offset

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._t.subs.discard(self)
        fut = self._fut
        if fut is not None:  # parked: its busy count was already released
            self._fut = None
            if self in self._t.parked:
                self._t.parked.remove(self)
            if not fut.done():
                fut.set_result(None)
        elif self._tracked:
            self._cluster.busy_dec()


class EmbeddedBus(Bus):
    backend = "embedded"

    def __init__(self, cluster: EmbeddedCluster | None = None, *, retention: int = 200_000) -> None:
        self.cluster = cluster if cluster is not None else EmbeddedCluster(retention)
        self._subs: set[_EmbeddedSubscription] = set()
        self._closed = False

    def _check_open(self) -> None:
        if self._closed:
            raise BusError("this bus handle is closed")

    async def create_topics(self, topics: Iterable[str]) -> None:
        self._check_open()
        for name in topics:
            self.cluster.create(name)

    async def publish(self, topic: str, key: str, value: bytes) -> int:
        self._check_open()
        return self.cluster.append(topic, key, value)

    def publish_nowait(self, topic: str, key: str, value: bytes) -> int:
        """Publish without a coroutine (hot paths on the embedded bus only)."""
        self._check_open()
        return self.cluster.append(topic, key, value)

    async def subscribe(
        self,
        topic: str,
        start: Start = Start.END,  # type: ignore[attr-defined]
        *,
        consumer: str | None = None,
        conflate: bool = False,
        tracked: bool = True,
    ) -> Subscription:
        self._check_open()
        t = self.cluster.topic(topic)
        kind = start.kind
        if kind == "committed":
            committed = self.cluster.committed.get((consumer or "", topic)) if consumer else None
            if committed is not None:
                cursor = committed + 1
            else:
                cursor = t.base if start.fallback == "beginning" else t.end
                if consumer and start.fallback != "beginning":
                    # Pin the first start: a restart before any commit resumes here, not at a later end.
                    self.cluster.committed[(consumer, topic)] = cursor - 1
        elif kind == "beginning":
            cursor = t.base
        elif kind == "end":
            cursor = t.end
        else:
            cursor = start.offset
        sub = _EmbeddedSubscription(self.cluster, t, cursor, consumer, conflate, tracked)
        self._subs.add(sub)
        return sub

    async def end_offset(self, topic: str) -> int:
        return self.cluster.topic(topic).end

    async def wait_idle(self) -> None:
        await self.cluster.wait_idle()

    def lag(self) -> dict[str, int]:
        out = {}
        for name, t in self.cluster.topics.items():
            out[name] = max((t.end - s.cursor for s in t.subs), default=0)
        return out

    async def close(self) -> None:
        self._closed = True
        subs, self._subs = self._subs, set()
        for sub in subs:
            await sub.close()
