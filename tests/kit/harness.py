"""Workers on an embedded bus, watched from the outside through taps (typed copies of whole topics)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Generic, TypeVar

import msgspec

from kit.wait import WAIT_S, until
from tui_trader import messages as m
from tui_trader.bus import EmbeddedBus, EmbeddedCluster, Start
from tui_trader.bus.base import Bus, Gap
from tui_trader.bus.topics import create_pipeline_topics
from tui_trader.clock import Clock, ReplayClock
from tui_trader.runtime import Pipeline
from tui_trader.settings import Settings
from tui_trader.workers.base import Worker, WorkerContext

T = TypeVar("T", bound=msgspec.Struct)


class Tap(Generic[T]):
    """Every record of one topic from its beginning, decoded to the topic's message type, in `items`.

    Untracked: the bus's `wait_idle` does not wait for a tap, so use `Harness.settle()` (or `caught_up()`)
    before asserting on what a tap holds.
    """

    def __init__(self, bus: Bus, topic: str, base_topic: str | None = None, partitions: int = 1) -> None:
        self.bus = bus
        self.topic = topic
        self.base_topic = base_topic or topic
        self.partitions = partitions
        self.items: list[T] = []
        self.malformed: list[bytes] = []
        self.gaps = 0
        self.next_offsets: dict[int, int] = {}  # partition → the offset of the next record the tap expects
        self._task: asyncio.Task[None] | None = None
        self.subscription: Any = None

    async def start(self) -> Tap[T]:
        sub = await self.bus.subscribe(self.topic, Start.BEGINNING, tracked=False)
        self.subscription = sub
        self._task = asyncio.create_task(self._read(sub), name=f"tap:{self.topic}")
        return self

    async def _read(self, sub: Any) -> None:
        decoder = m.Decoder()
        try:
            async for rec in sub:
                if type(rec) is Gap:
                    self.gaps += 1
                    continue
                try:
                    self.items.append(decoder.decode(self.topic, rec.value, self.base_topic))  # type: ignore[arg-type]
                except (msgspec.DecodeError, msgspec.ValidationError):
                    self.malformed.append(rec.value)
                self.next_offsets[rec.partition] = rec.offset + 1
        finally:
            await sub.close()

    async def caught_up(self, timeout: float = WAIT_S) -> None:
        """Wait until the tap holds every record published so far."""

        async def done() -> bool:
            for p in range(self.partitions):
                if self.next_offsets.get(p, 0) < await self.bus.end_offset(self.topic, p):
                    return False
            return True

        await until(done, f"the tap on {self.topic} to catch up", timeout)

    def of(self, cls: type[T]) -> list[T]:
        return [x for x in self.items if isinstance(x, cls)]

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None


WorkerFactory = Callable[[WorkerContext], Worker]


class Harness:
    """Workers on their own embedded bus, each topic tapped; `async with Harness(...) as h:`.

    `workers`: factories taking the context (`ExecutorWorker`, `lambda ctx: RouterWorker(ctx)`…). They run
    under a `Pipeline` (restarts and Health as in production) unless `supervised=False`, where each worker's
    `run()` is a bare task and its exception reaches `h.tasks`. Extra keyword arguments go to WorkerContext
    (`replay_files`, `lockstep`, `shared`, `on_health`…). `taps`: base topics to record (default: all).
    """

    def __init__(
        self,
        settings: Settings | None = None,
        workers: Sequence[WorkerFactory] = (),
        *,
        clock: Clock | None = None,
        taps: Iterable[str] = m.TOPICS,
        supervised: bool = True,
        retention: int = 1_000_000,
        **context: Any,
    ) -> None:
        self.settings = settings or Settings()
        self.bus = EmbeddedBus(EmbeddedCluster(retention=retention))
        self.clock = clock or (ReplayClock() if context.get("replay_files") else Clock())
        self.ctx = WorkerContext(settings=self.settings, bus=self.bus, clock=self.clock, **context)
        self.workers = [make(self.ctx) for make in workers]
        self.supervised = supervised
        self.runtime: Pipeline | None = None
        self.tasks: list[asyncio.Task[None]] = []
        self.taps: dict[str, Tap[Any]] = {
            base: Tap(self.bus, self.ctx.topic(base), base, self._partitions(base)) for base in taps
        }

    def _partitions(self, base_topic: str) -> int:
        return self.settings.bus.partitions if base_topic in m.PARTITIONED_TOPICS else 1

    async def __aenter__(self) -> Harness:
        await create_pipeline_topics(self.bus, self.settings.bus)  # as the runtime creates them
        for tap in self.taps.values():
            await tap.start()
        if self.supervised:
            self.runtime = Pipeline(self.ctx, workers=self.workers)
            await self.runtime.start()
        else:
            self.tasks = [asyncio.create_task(w.run(), name=f"worker:{w.name}") for w in self.workers]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.runtime is not None:
            await self.runtime.stop()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for tap in self.taps.values():
            await tap.close()
        await self.bus.close()

    def worker(self, name: str) -> Worker:
        return next(w for w in self.workers if w.name == name)

    async def listening(self, base_topic: str, readers: int = 1, timeout: float = WAIT_S) -> None:
        """Wait until `readers` subscriptions other than the tap read `base_topic` (the workers listen), so
        a message published next is not published before a worker that starts at the topic's end is there."""
        topic = self.bus.cluster.topic(self.ctx.topic(base_topic))
        tap = self.taps.get(base_topic)
        mine = {tap.subscription} if tap is not None else set()
        await until(lambda: len(topic.subs - mine) >= readers, f"{readers} reader(s) of {base_topic}", timeout)

    async def publish(self, base_topic: str, msg: msgspec.Struct, key: str | None = None) -> int:
        """Publish a message the way a worker does: typed, in process (key: the message's symbol, else its
        topic). For bytes as a foreign producer writes them, use `h.bus.publish(h.ctx.topic(...), key, raw)`."""
        key = key if key is not None else str(getattr(msg, "symbol", "") or base_topic)
        return await self.bus.publish_msg(self.ctx.topic(base_topic), key, msg)

    async def settle(self, timeout: float = WAIT_S) -> None:
        """Wait until every worker has handled everything published and every tap holds it."""
        await asyncio.wait_for(self.bus.wait_idle(), timeout)
        for tap in self.taps.values():
            await tap.caught_up(timeout)

    async def finished(self, timeout: float = 60.0) -> None:
        """Wait until every worker's `run()` has returned (its input ended: a replay played out), then until
        everything they published is handled and tapped. A worker that raised re-raises here (unsupervised)."""
        if self.runtime is not None:
            await asyncio.wait_for(self.runtime.wait([w.name for w in self.workers]), timeout)
        else:
            await asyncio.wait_for(asyncio.gather(*(asyncio.shield(t) for t in self.tasks)), timeout)
        await self.settle()

    def seen(self, base_topic: str) -> list[Any]:
        """What the tap on `base_topic` holds so far (typed messages, in offset order)."""
        return self.taps[base_topic].items

    def health(self, component: str | None = None) -> list[m.Health]:
        records: list[m.Health] = self.seen(m.HEALTH)
        return [h for h in records if component is None or h.component == component]

    def states(self, component: str) -> list[str]:
        """The states `component` reported, in order ("connecting", "live", …)."""
        return [h.state for h in self.health(component)]
