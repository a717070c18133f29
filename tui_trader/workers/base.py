"""What every worker shares: its context (settings, bus, clock) and typed publish/consume helpers.

A worker is a thin async shell: it subscribes to topics, hands each message to a pure core, and publishes
what the core returns. `run()` returns when its input ends (a replay) and raises on a fault; the runtime
restarts it with backoff. `run()` must be safe to call again after a crash: it opens its subscriptions
itself and closes them in `finally`.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import operator
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from tui_trader import messages as m
from tui_trader.bus.base import Bus, Gap, Record, Start, Subscription
from tui_trader.clock import Clock
from tui_trader.errors import BusError
from tui_trader.ids import IdSource
from tui_trader.settings import Settings


@dataclass
class WorkerContext:
    settings: Settings
    bus: Bus
    clock: Clock
    # Set by the CLI for a replay run: the files to play and the speed (None = as fast as possible).
    replay_files: list[str] = field(default_factory=list)
    replay_speed: float | None = None
    # Step the pipeline after each replayed message until every worker is idle (determinism).
    lockstep: bool = True
    # One worker per process (Fluvio): subscriptions are named consumers that resume from their
    # committed offsets, and each record's offset is committed once the worker has handled it.
    durable: bool = False
    # Called with every Health record a worker publishes (the desk shows them); optional.
    on_health: Callable[[m.Health], None] | None = None
    # Where ids come from: random live, a seeded sequence in a replay (see ids.py). Each worker takes
    # its own child sequence.
    ids: IdSource = field(default_factory=IdSource)
    # Objects shared by the workers of one process, keyed by name. "instruments": the RulesBook the
    # executor fills from the exchange's markets and the router sizes with.
    shared: dict[str, Any] = field(default_factory=dict)
    # The partitions of the per-symbol topics (`m.PARTITIONED_TOPICS`) this process's workers read (None:
    # all): several processes share a topic's symbols by each owning a subset. Other topics are read whole.
    partitions: tuple[int, ...] | None = None

    def topic(self, base: str) -> str:
        return m.topic_name(base, self.settings.bus.topic_prefix)


COMMIT_EVERY = 100
BATCH = 256  # records taken from the embedded bus at once when they are already there


def _latest_per_key(batch: Sequence[Record]) -> list[Record]:
    """The last record of each key in a batch, in offset order. `consume` hands records only (a gap comes
    alone, and is reported before any batch), so one comprehension keeps each key's last record."""
    newest = {rec.key: rec for rec in batch}
    return list(newest.values()) if len(newest) == 1 else sorted(newest.values(), key=_offset)


_offset = operator.attrgetter("offset")


class Worker(abc.ABC):
    name = "worker"

    def __init__(self, ctx: WorkerContext) -> None:
        self.ctx = ctx
        self.log = logging.getLogger(f"tui_trader.worker.{self.name}")
        self.decoder = m.Decoder()
        self.gaps: dict[str, int] = {}
        self.ids = ctx.ids.child(self.name)
        # Topic → the offset after the last record handled, so a restarted run() reads on from there
        # (`start_of`, `handled`).
        self.resume: dict[str, int] = {}
        # Topic → records `consume(kinds=...)` handled without handing them on.
        self.passed_over: dict[str, int] = {}

    @abc.abstractmethod
    async def run(self) -> None:
        """Process input until it ends or the task is cancelled."""

    def counters(self) -> dict[str, int]:
        """Numbers for the summary and the desk (published, malformed, …)."""
        out = {f"malformed:{t}": n for t, n in self.decoder.malformed.items()}
        out.update({f"gap:{t}": n for t, n in self.gaps.items()})
        return out

    def summary(self) -> dict[str, Any]:
        """What this worker did, for `headless --json` and the bench (workers add their own figures)."""
        return self.counters()

    async def publish(self, base_topic: str, key: str, msg: msgspec.Struct) -> int:
        """Publish a typed message: in process, consumers get this very (frozen) object, nothing encoded."""
        return await self.ctx.bus.publish_msg(self.ctx.topic(base_topic), key, msg)

    async def start_of(self, topic: str, *, pinned: bool = True) -> Start:
        """Where a subscription to `topic` begins, so that a restarted run() neither repeats nor misses records.

        After a restart of run(): on after the last record handled (`handled`). A replay reads its fresh bus
        from the beginning (what was published before the worker subscribed is not missed). Live: from the
        end, `pinned` to its offset so that a restart reads on from there; unpinned (or a topic of several
        partitions, which one offset cannot pin) from the end as it is then. With `ctx.durable` the named
        consumer's committed offset wins (see `consume`)."""
        if topic in self.resume:
            return Start.at(self.resume[topic])
        if self.ctx.replay_files:
            return Start.BEGINNING
        if not pinned or self._several_partitions(topic):
            return Start.END
        try:
            self.resume[topic] = await self.ctx.bus.end_offset(self.ctx.topic(topic))
        except (BusError, NotImplementedError):
            return Start.END
        return Start.at(self.resume[topic])

    def handled(self, topic: str, record: Record) -> None:
        """`record` of `topic` is handled: a restarted run() starts after it (see `start_of`)."""
        if not self._several_partitions(topic):
            self.resume[topic] = record.offset + 1

    def _several_partitions(self, topic: str) -> bool:
        return topic in m.PARTITIONED_TOPICS and self.ctx.settings.bus.partitions > 1

    async def consume(
        self,
        base_topic: str,
        start: Start = Start.END,
        *,
        consumer: str | None = None,
        conflate: bool = False,
        tracked: bool = True,
        latest_only: Callable[[], bool] | None = None,
        ready: asyncio.Event | None = None,
        kinds: frozenset[str] | None = None,
    ) -> AsyncIterator[tuple[Record, Any]]:
        """Typed records of one topic. Malformed records are counted and logged, gaps logged; neither stops it.

        A record that carries its typed message (published in this process) is handed on as it is; one that
        carries bytes (from outside the process, or published as bytes) is decoded and validated.

        A per-symbol topic (`m.PARTITIONED_TOPICS`) is read in the partitions of `ctx.partitions` (None: all);
        other topics whole. Records of one partition (so of one symbol) come in order.

        With `ctx.durable`, the subscription is the named consumer `<worker>-<topic>` starting where it last
        committed, and a record's offset is committed (in its partition) when the worker asks for the next
        one (it has been handled, and journaled where that applies). Market data commits every
        `COMMIT_EVERY` records: a restart may see a few again, which the consumers tolerate; orders and
        statuses commit each record.

        `latest_only`: when it returns True for a batch of records that arrived together, only the last record
        of each key is handed on (a consumer that only needs the latest price per symbol). In a lockstep
        replay records arrive one at a time, so nothing is skipped and the result stays exact.

        `ready`: set once the subscription is in place and every record published before it was made has
        been handed on, in every partition read (a worker handles what happened before it started before it
        acts, and announces itself only when it listens).

        `kinds`: only messages whose `kind` is one of these are handed on; the others are handled here (offsets,
        `ready`, commits as for any record) and counted, as they go, in `passed_over[base_topic]`. A consumer that wants one
        kind of a busy topic (the indicator: trades, a quarter of the market data) saves a turn of this
        generator per record it would only have dropped.
        """
        topic = self.ctx.topic(base_topic)
        durable = self.ctx.durable
        if durable:
            consumer = consumer or f"{self.name}-{topic}"
            start = Start.committed(fallback="beginning" if start.kind == "beginning" else "end")
        every = 1 if base_topic in m.LOSSLESS_TOPICS else COMMIT_EVERY
        partitions = self.ctx.partitions if base_topic in m.PARTITIONED_TOPICS else None
        sub = await self.ctx.bus.subscribe(
            topic, start, consumer=consumer, conflate=conflate, tracked=tracked, partitions=partitions
        )
        # Per partition: the end offset to reach before `ready` (only those not there yet).
        targets = await self._catch_up_targets(topic, sub) if ready is not None else None
        if ready is not None and not targets:
            targets = None
            ready.set()
        handled = 0
        uncommitted: dict[int, int] = {}  # partition → last offset handled and not committed yet
        expected = m.TOPIC_TYPES.get(base_topic)
        decode = self.decoder.decode_record
        passed = self.passed_over
        passed.setdefault(base_topic, 0)
        # The embedded bus hands over every record already there in one slice; others one at a time.
        take_ready = sub.take_ready
        skipped = 0  # records passed over (`kinds`) not yet counted in `passed`: counted before the next yield
        try:
            while True:
                batch: Sequence[Record] = take_ready(BATCH)  # records only: a gap comes one at a time
                if not batch:
                    try:
                        item = await sub.__anext__()
                    except StopAsyncIteration:
                        return
                    if isinstance(item, Gap):
                        self.gaps[base_topic] = self.gaps.get(base_topic, 0) + item.missed
                        self.log.warning(
                            "%s: missed %d records before offset %d", topic, item.missed, item.resume_offset
                        )
                        continue
                    batch = (item,)
                if latest_only is not None and len(batch) > 1 and latest_only():
                    batch = _latest_per_key(batch)
                for rec in batch:
                    msg: Any = rec.msg
                    if type(msg) is not expected:  # bytes (no msg), or not this topic's type: validate
                        msg = decode(topic, rec.value, rec.offset, base_topic)
                    if msg is not None:
                        if kinds is None or msg.kind in kinds:
                            if skipped:
                                passed[base_topic] += skipped
                                skipped = 0
                            yield rec, msg
                        else:
                            skipped += 1
                    if targets is not None:
                        target = targets.get(rec.partition)
                        if target is not None and rec.offset + 1 >= target:
                            del targets[rec.partition]
                            if not targets:
                                targets = None
                                ready.set()  # type: ignore[union-attr]
                    if durable:
                        handled += 1
                        uncommitted[rec.partition] = rec.offset
                        if handled % every == 0:
                            for part, offset in uncommitted.items():
                                await sub.commit(offset, part)
                            uncommitted.clear()
                if skipped:
                    passed[base_topic] += skipped
                    skipped = 0
        finally:
            passed[base_topic] += skipped
            # A clean stop commits what was handled since the last periodic commit (a kill -9 cannot).
            for part, offset in uncommitted.items():
                try:
                    await sub.commit(offset, part)
                except Exception as err:  # noqa: BLE001 - stopping: report whatever it is, don't raise
                    self.log.warning("%s: cannot commit offset %d on stop: %s", topic, offset, err)
            await sub.close()

    async def _catch_up_targets(self, topic: str, sub: Subscription) -> dict[int, int]:
        """Per partition read, the end offset this subscription must reach to have seen everything published
        before it was made; only partitions not there yet (empty: nothing to wait for, or the bus cannot
        say, so nothing is waited for)."""
        targets = {}
        for part, position in sub.positions().items():
            try:
                end = await self.ctx.bus.end_offset(topic, part) if part else await self.ctx.bus.end_offset(topic)
            except (BusError, NotImplementedError) as err:
                self.log.warning("%s: end offset unknown (%s); not waiting to catch up", topic, err)
                return {}
            if (position or 0) < end:
                targets[part] = end
        return targets

    async def health(self, component: str, state: str, detail: str = "", **extra: Any) -> None:
        h = m.Health(component=component, state=state, detail=detail, ts=self.ctx.clock.now_ms(), **extra)
        if self.ctx.on_health is not None:
            self.ctx.on_health(h)
        await self.publish(m.HEALTH, component, h)
