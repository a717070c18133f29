"""The pipeline: the workers named in settings, built on the chosen bus, supervised, and stopped cleanly.

One name for one idea: a `Pipeline` is the running workers; `session.open_pipeline` opens one with its bus,
clock and journal; the desk's `ui.runner.LocalPipeline` is one run inside the desk's own process.

A worker whose `run()` raises is restarted with exponential backoff (0.5 s doubling to 30 s) and the
restart is reported (log + Health record). A worker whose `run()` returns has finished (a replay ended).
`stop()` cancels every worker and waits for them, so nothing is left pending ("Task was destroyed").

Giving up: a worker that crashes `MAX_RESTARTS` times in a row, each time within `HEALTHY_RUN_S` of its
start, is not restarted again (about 30 s of backoff: a fault that a restart does not cure). The runtime then
halts trading and says why: a Health record `worker:<name>` in state "failed" with the last error, and a
Control `pause` with origin "supervisor" and the reason as its argument, which the router obeys from
wherever it runs. Pause, not kill: a kill flattens through the router and executor, which may be the very
workers that failed, while a pause only stops new entries and leaves every open position with the
stop-loss and take-profit orders resting at the venue (or in the paper broker) untouched. `failed` is set,
so `headless` ends and exits non-zero; the desk stays up showing the failure.

Settings changed while running: the runtime reads trading-control for Control "settings" (what a desk saved)
and takes into `ctx.settings` the fields its workers declare in `live_settings`; the workers see the new
object the next time they decide. This is the one path for a desk in this process and an attached one alike.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tui_trader import heap, live_settings
from tui_trader import messages as m
from tui_trader.bus.base import Gap, Start
from tui_trader.bus.topics import create_pipeline_topics
from tui_trader.errors import SettingsError
from tui_trader.workers import PIPELINE, Worker, WorkerContext, build
from tui_trader.workers.notifier import pipeline_names

log = logging.getLogger(__name__)

BACKOFF_START_S = 0.5
BACKOFF_MAX_S = 30.0
MAX_RESTARTS = 6
HEALTHY_RUN_S = 60.0
SUPERVISOR = "supervisor"


@dataclass
class WorkerState:
    name: str
    state: str = "starting"  # starting | running | restarting | finished | stopped | failed
    restarts: int = 0
    last_error: str = ""
    gave_up: bool = False  # crashed MAX_RESTARTS times in a row and was not restarted


class Pipeline:
    """The running workers of one process, supervised (restarts, giving up, live settings changes)."""

    def __init__(
        self, ctx: WorkerContext, names: Sequence[str] = PIPELINE, workers: Iterable[Worker] | None = None
    ) -> None:
        self.ctx = ctx
        if workers is None:
            names = pipeline_names(ctx, names)  # + the notifier when notification URLs are set
        self.workers: dict[str, Worker] = (
            {w.name: w for w in workers} if workers is not None else {n: build(n, ctx) for n in names}
        )
        self.states = {name: WorkerState(name) for name in self.workers}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.max_restarts = MAX_RESTARTS
        self.healthy_run_s = HEALTHY_RUN_S
        # Set when a worker is given up: trading is paused, and a headless run ends on it.
        self.failed = asyncio.Event()
        self.live_settings = live_settings.patterns_of(self.workers.values())
        self._settings_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await create_pipeline_topics(self.ctx.bus, self.ctx.settings.bus)
        if self.live_settings:
            # Subscribed before any worker starts, so a change saved once the pipeline is up is never missed.
            # Untracked: it never holds a replay's lockstep.
            sub = await self.ctx.bus.subscribe(self.ctx.topic(m.CONTROL), Start.END, tracked=False)
            self._settings_task = asyncio.create_task(self._take_settings(sub), name="runtime:settings")
        # Everything start-up made is alive now (imports, settings, the workers just built): out of the
        # collector's view from here on, before the first record flows.
        heap.settle_after_startup()
        for name, worker in self.workers.items():
            self._tasks[name] = asyncio.create_task(self._supervise(worker), name=f"worker:{name}")

    async def _take_settings(self, sub) -> None:
        decoder = m.Decoder()
        topic = self.ctx.topic(m.CONTROL)
        try:
            async for item in sub:
                if type(item) is Gap:
                    continue
                c = decoder.decode_record(topic, item.value, item.offset, m.CONTROL)
                if isinstance(c, m.Control) and c.command == "settings" and c.settings is not None:
                    self.apply_settings(c.settings, c.origin)
        finally:
            await sub.close()

    def apply_settings(self, change: m.SettingsChange, origin: str = "") -> list[str]:
        """Take the fields of `change` this runtime's workers read live; returns the keys that changed."""
        try:
            new, taken = live_settings.apply(self.ctx.settings, change, self.live_settings)
        except SettingsError as err:  # a desk of another version, a hand-made record: keep running as is
            log.error("settings change from %s refused, nothing changed: %s", origin or "?", err.message)
            return []
        if taken:
            self.ctx.settings = new
            log.info("settings from %s applied: %s", origin or "?", ", ".join(taken))
        return taken

    async def _report(self, name: str, state: str, detail: str = "") -> None:
        st = self.states[name]
        st.state = state
        h = m.Health(component=m.worker_component(name), state=state, detail=detail, ts=self.ctx.clock.now_ms())
        if self.ctx.on_health is not None:
            self.ctx.on_health(h)
        try:
            await self.ctx.bus.publish(self.ctx.topic(m.HEALTH), h.component, m.encode(h))
        except Exception as err:  # noqa: BLE001 - reporting must never take the supervisor down
            log.warning("cannot publish health of %s: %s", name, err)

    async def _supervise(self, worker: Worker) -> None:
        name = worker.name
        delay = BACKOFF_START_S
        in_a_row = 0
        loop = asyncio.get_running_loop()
        while True:
            await self._report(name, "running")
            started = loop.time()
            try:
                await worker.run()
            except asyncio.CancelledError:
                self.states[name].state = "stopped"
                raise
            except Exception as err:
                st = self.states[name]
                st.last_error = f"{type(err).__name__}: {err}"
                if loop.time() - started >= self.healthy_run_s:
                    in_a_row, delay = 0, BACKOFF_START_S  # it ran well for a while: a new fault, not a loop
                else:
                    in_a_row += 1
                if in_a_row >= self.max_restarts:
                    log.error("worker %s crashed %d times in a row; not restarting it", name, in_a_row, exc_info=err)
                    await self._give_up(name, in_a_row)
                    return
                st.restarts += 1
                log.exception("worker %s crashed (restart %d in %.1f s)", name, st.restarts, delay)
                await self._report(name, "restarting", f"{st.last_error}; restart in {delay:.1f} s")
                await asyncio.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX_S)
                continue
            await self._report(name, "finished")
            return

    async def _give_up(self, name: str, crashes: int) -> None:
        st = self.states[name]
        st.gave_up = True
        reason = f"worker {name} crashed {crashes} times in a row and is stopped ({st.last_error[:300]})"
        await self._report(name, "failed", f"{reason}; trading paused, open positions keep their protective orders")
        control = m.Control(command="pause", arg=reason, origin=SUPERVISOR, ts=self.ctx.clock.now_ms())
        try:
            await self.ctx.bus.publish(self.ctx.topic(m.CONTROL), SUPERVISOR, m.encode(control))
        except Exception as err:  # noqa: BLE001 - the failure is still reported (Health, log, `failed`, exit code)
            log.error("cannot publish the supervisor's pause after %s failed: %s", name, err)
        self.failed.set()

    def gave_up(self) -> dict[str, str]:
        """Workers given up, with their last error."""
        return {n: s.last_error for n, s in self.states.items() if s.gave_up}

    async def wait(self, names: Iterable[str]) -> None:
        """Wait until the named workers have finished (their input ended)."""
        await asyncio.gather(*(asyncio.shield(self._tasks[n]) for n in names if n in self._tasks))

    async def drain(self) -> None:
        """Wait until every tracked consumer has processed everything published."""
        await self.ctx.bus.wait_idle()

    async def stop(self, timeout: float = 2.0) -> None:
        if self._settings_task is not None:
            self._settings_task.cancel()
            await asyncio.gather(self._settings_task, return_exceptions=True)
            self._settings_task = None
        tasks = [t for t in self._tasks.values() if not t.done()]
        for t in tasks:
            t.cancel()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=timeout)
            for t in pending:
                log.error("worker task %s did not stop within %.1f s", t.get_name(), timeout)
        for t in self._tasks.values():
            if t.done() and not t.cancelled() and t.exception() is not None:
                log.error("worker task %s ended with %r", t.get_name(), t.exception())
        for st in self.states.values():
            if st.state not in ("finished", "failed"):
                st.state = "stopped"
        self._tasks.clear()
