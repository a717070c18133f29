"""Opening a pipeline: bus + clock + journal + workers, opened and closed as a unit (desk, headless, bench)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence

from tui_trader import messages as m
from tui_trader.bus import Bus, EmbeddedCluster, open_bus
from tui_trader.clock import Clock, ReplayClock
from tui_trader.ids import IdSource, replay_seed
from tui_trader.instruments import RulesBook
from tui_trader.journal import Journal
from tui_trader.runtime import Pipeline
from tui_trader.settings import Settings
from tui_trader.workers import PIPELINE, WorkerContext


def open_journal(settings: Settings, replaying: bool) -> Journal:
    """The journal of this pipeline. A replay keeps one only where `journal.path` says (a crash test, a
    study); otherwise it journals in memory, so replays never mix with the live desk's journal."""
    if replaying and not settings.journal.path:
        return Journal(":memory:")
    return Journal.from_settings(settings)


@contextlib.asynccontextmanager
async def open_pipeline(
    settings: Settings,
    *,
    replay_files: Sequence[str] = (),
    speed: float | None = 1.0,
    names: Sequence[str] = PIPELINE,
    cluster: EmbeddedCluster | None = None,
    clock: Clock | None = None,
    lockstep: bool = True,
    on_health: Callable[[m.Health], None] | None = None,
    bus: Bus | None = None,
    interactive: bool = False,
) -> AsyncIterator[Pipeline]:
    """Open the bus (or use `bus`, which is then closed here too), start the workers, stop them on exit."""
    if bus is None:
        bus = await open_bus(settings.bus, cluster)
    try:
        if clock is None:
            clock = ReplayClock() if replay_files else Clock()
        ids = IdSource(replay_seed(replay_files, settings)) if replay_files else IdSource()
        journal = open_journal(settings, replaying=bool(replay_files))
        ctx = WorkerContext(
            settings=settings,
            bus=bus,
            clock=clock,
            replay_files=list(replay_files),
            replay_speed=speed,
            lockstep=lockstep,
            on_health=on_health,
            ids=ids,
            # interactive: a desk runs in this process and answers the executor's questions (reconciliation).
            shared={"instruments": RulesBook(), "journal": journal, "interactive": interactive},
        )
        try:
            runtime = Pipeline(ctx, names)
            await runtime.start()
            try:
                yield runtime
            finally:
                await runtime.stop()
        finally:
            journal.close()
    finally:
        await bus.close()
