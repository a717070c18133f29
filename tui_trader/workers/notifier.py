"""Notifier worker: the thin shell that reads the bus and hands notices to the sender thread.

It reads trading-order-status, trading-control, trading-health and trading-account as an untracked
consumer (the pipeline never waits for it: `wait_idle` and a lockstep replay ignore it), turns records
into notices with `NotifyRules`, and only queues them (`Sender.submit` never blocks). A tick each second
lets the clock alone send a feed that stayed down and the day's summary, and publishes the notifier's own
Health record ("notify": ok | failing | off, with the counts) when something changed.

The runtime adds it to the pipeline when notification URLs are set (`pipeline_names`); on Fluvio it runs as
`tui-trader worker notifier`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from tui_trader import messages as m
from tui_trader.bus.base import Start
from tui_trader.errors import TuiTraderError
from tui_trader.notify.rules import Notice, NotifyRules
from tui_trader.notify.sender import Sender, build_targets
from tui_trader.notify.urls import Scrubber, notify_urls
from tui_trader.workers.base import Worker, WorkerContext

COMPONENT = "notify"  # this worker's own Health component: state ok | failing | off
TICK_S = 1.0
TOPICS = (m.ORDER_STATUS, m.CONTROL, m.HEALTH, m.ACCOUNT)
# Notices still queued when the worker stops get this long to go out (a kill at the end of a run).
FLUSH_S = 1.5
SHARED_URLS = "notify_urls"


def pipeline_names(ctx: WorkerContext, names: Sequence[str]) -> Sequence[str]:
    """The pipeline's workers plus the notifier when notification URLs are set (and, in a replay, when
    `notify.replays` allows it). Only a whole pipeline gets one; `tui-trader worker NAME` runs just NAME."""
    from tui_trader.workers import PIPELINE

    if "notifier" in names or not set(PIPELINE) <= set(names):
        return names
    if ctx.replay_files and not ctx.settings.notify.replays:
        return names
    urls = ctx.shared.get(SHARED_URLS)
    if urls is None:
        try:
            urls = notify_urls(ctx.settings)
        except TuiTraderError as err:  # an unsafe secrets file: said here, the executor refuses it too
            import logging

            logging.getLogger(__name__).error("notifications off: %s", err.message)
            return names
        ctx.shared[SHARED_URLS] = urls
    return (*names, "notifier") if urls else names


class NotifierWorker(Worker):
    name = "notifier"
    # Taken while running (the runtime takes them into ctx.settings from the Control a desk sends on save;
    # the rules follow ctx.settings.notify); the queue, the timeout, the title and `replays` apply after a
    # restart.
    live_settings = frozenset(
        {
            "notify.fills",
            "notify.stop_loss_take_profit",
            "notify.kill",
            "notify.halts",
            "notify.feed_down",
            "notify.feed_down_after_s",
            "notify.naked_position",
            "notify.reconcile_waiting",
            "notify.daily_summary",
            "notify.max_per_minute",
        }
    )

    def __init__(self, ctx: WorkerContext) -> None:
        super().__init__(ctx)
        self.rules = NotifyRules(ctx.settings.notify, replay=bool(ctx.replay_files))
        self.problem = ""
        urls = ctx.shared.get(SHARED_URLS)
        if urls is None:
            try:
                urls = notify_urls(ctx.settings)
            except TuiTraderError as err:
                urls, self.problem = [], err.message
        self.urls: list[str] = list(urls)
        self.sender: Sender | None = None
        self._published: tuple[Any, ...] | None = None

    async def run(self) -> None:
        if self.sender is None:  # kept across a restart of run(): its counts and queue carry on
            urls, timeout_s = self.urls, self.ctx.settings.notify.timeout_s
            # apprise is loaded on the sender's thread (seconds on a busy machine), while this subscribes.
            self.sender = Sender(
                [], Scrubber(urls), self.ctx.settings.notify.queue_size, build=lambda: build_targets(urls, timeout_s)
            )
        self.sender.start()
        start = Start.BEGINNING if self.ctx.replay_files else Start.END
        try:
            await self._report(force=True)
            async with asyncio.TaskGroup() as tg:
                for topic in TOPICS:
                    tg.create_task(self._pump(topic, start), name=f"notifier:{topic}")
                tg.create_task(self._tick(), name="notifier:tick")
        finally:
            sender = self.sender
            await asyncio.shield(asyncio.to_thread(sender.close, FLUSH_S))

    async def _pump(self, topic: str, start: Start) -> None:
        rules = self.rules
        handlers: dict[str, Callable[[Any, int], list[Notice]]] = {
            m.ORDER_STATUS: rules.on_status,
            m.CONTROL: rules.on_control,
            m.HEALTH: rules.on_health,
            m.ACCOUNT: rules.on_account,
        }
        handler = handlers[topic]
        now_ms = self.ctx.clock.now_ms
        async for _record, msg in self.consume(topic, start, tracked=False):
            if topic == m.HEALTH and msg.component == COMPONENT:
                continue
            if self.ctx.settings.notify is not rules.s:
                rules.s = self.ctx.settings.notify
            self._send(handler(msg, now_ms()))

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            self._send(self.rules.on_tick(self.ctx.clock.now_ms()))
            await self._report()

    def _send(self, notices: list[Notice]) -> None:
        sender = self.sender
        assert sender is not None
        for n in notices:
            if not sender.submit(n):
                self.log.debug("notify: queue full, %s dropped", n.kind)

    async def _report(self, force: bool = False) -> None:
        """The Health record "notify" when its state or a count changed."""
        assert self.sender is not None
        _, failing = self.sender.snapshot()
        figures = self.counters()
        if not self.sender.ready.is_set():
            state, detail = "starting", "loading apprise"
        elif not self.sender.targets:
            if not self.problem:
                self.problem = "no usable notification URL (TUI_TRADER_NOTIFY_URLS or notify_urls)"
                self.log.warning("notify: %s; nothing will be sent", self.problem)
            state, detail = "off", self.problem
        elif failing:
            state, detail = "failing", f"sending fails: {failing}"
        else:
            state = "ok"
            detail = f"{len(self.sender.targets)} URL{'s' * (len(self.sender.targets) != 1)}"
            if self.sender.invalid:
                detail += f"; unusable: {', '.join(self.sender.invalid)}"
        key = (state, detail, tuple(sorted(figures.items())))
        if key == self._published and not force:
            return
        self._published = key
        await self.health(COMPONENT, state, detail, counters=figures)

    def counters(self) -> dict[str, int]:
        out = super().counters()
        if self.sender is not None:
            c, _ = self.sender.snapshot()
            out.update(
                queued=c.queued,
                sent=c.sent,
                failed=c.failed,
                dropped=c.dropped,
                invalid_urls=c.invalid_urls,
                failures_started=self.sender.failures_started,
            )
        out["rate_limited"] = self.rules.rate_limited
        return out
