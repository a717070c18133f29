"""The pipeline run inside the desk's own process (`LocalPipeline`), kept apart from showing the bus.

The desk shows a bus; whether the workers run in this process (`LocalPipeline`) or elsewhere (an attached
desk, a test publishing canned records) is not the panes' business. It owns the in-process cluster
and the clock, so the desk's bridge reads the very bus and time the workers use.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence

from tui_trader import messages as m
from tui_trader.bus import Bus, EmbeddedCluster, open_bus
from tui_trader.clock import Clock, ReplayClock
from tui_trader.runtime import Pipeline
from tui_trader.session import open_pipeline
from tui_trader.settings import Settings


class LocalPipeline:
    def __init__(
        self,
        settings: Settings,
        replay_files: Sequence[str] = (),
        speed: float | None = 1.0,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self.replay_files = list(replay_files)
        self.speed = speed
        self.clock = clock if clock is not None else (ReplayClock() if replay_files else Clock())
        self.cluster = EmbeddedCluster(settings.bus.retention) if settings.bus.backend == "embedded" else None
        self.runtime: Pipeline | None = None
        self.started = 0.0

    @property
    def replay(self) -> bool:
        return bool(self.replay_files)

    def describe(self) -> str:
        """A few words for the status bar: what feeds the pipeline."""
        if not self.replay:
            return ""
        speed = "max" if self.speed is None else f"{self.speed:g}×"
        return f"replay {speed}"

    async def open_bus(self) -> Bus:
        """A client handle on the bus the workers will use (the desk reads and writes through it)."""
        return await open_bus(self.settings.bus, self.cluster)

    @contextlib.asynccontextmanager
    async def run(self) -> AsyncIterator[Pipeline]:
        self.started = time.perf_counter()
        async with open_pipeline(
            self.settings,
            replay_files=self.replay_files,
            speed=self.speed,
            cluster=self.cluster,
            clock=self.clock,
            interactive=True,
        ) as runtime:
            self.runtime = runtime
            try:
                yield runtime
            finally:
                self.runtime = None

    async def replay_finished(self, runtime: Pipeline, bus: Bus) -> str:
        """Wait for the end of a replay and the pipeline to drain; returns a one-line account of it."""
        await runtime.wait(["collector"])
        await asyncio.wait_for(runtime.drain(), timeout=60)
        elapsed = time.perf_counter() - self.started
        try:
            records = await bus.end_offset(runtime.ctx.topic(m.MARKET_DATA))
        except Exception:  # noqa: BLE001 - not every backend knows its end offsets
            return f"replay done in {elapsed:.1f} s"
        rate = records / elapsed if elapsed > 0 else 0.0
        return f"replay done: {records} market-data records in {elapsed:.1f} s ({rate:,.0f}/s)"
