"""Collector worker: Binance USD-M streams (live) or recordings (replay) → MarketData on the bus.

Live: one `BinanceConnection` per planned connection (feeds/binance.py), all feeding one `FrameParser`,
so the latest bid/ask of a symbol reaches its trades whichever connection carried them, and whatever a
reconnect resends is dropped once. Each connection's state goes out as a `Health` record
(`feed:<connection>`) when it changes.

Replay: for every frame, in file order: parse it (which advances the ReplayClock to the frame's event
time and stamps `ts` from it), wait for its turn when paced (`--speed X`), publish, then, in lockstep,
wait until every tracked consumer is idle, so every worker sees the same world at any speed. Quiet
symbols are flagged on event time (`feed:replay`).

The parser and the replay position live on the worker, so a restart after a crash neither republishes
nor skips what was already done. Malformed frames are counted per reason and logged once a minute.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tui_trader import messages as m
from tui_trader.feeds.binance import plan_from_settings
from tui_trader.feeds.live import BinanceConnection
from tui_trader.feeds.parser import FrameParser
from tui_trader.feeds.replay import Pacer, RecordingReader
from tui_trader.feeds.stale import StaleTracker
from tui_trader.workers.base import Worker, WorkerContext

PROBLEM_LOG_EVERY_S = 60.0
YIELD_EVERY = 256  # an unpaced replay lets the event loop run (signals, the desk) this often
STALE_CHECK_MS = 1000  # replay: how often, in event time, quiet symbols are looked for


class CollectorWorker(Worker):
    name = "collector"

    def __init__(self, ctx: WorkerContext) -> None:
        super().__init__(ctx)
        clock = ctx.clock
        self.replaying = bool(ctx.replay_files)
        advance = getattr(clock, "advance_to", None)
        if self.replaying and advance is not None:
            now = clock.now_ms

            def stamp(event_ms: int) -> int:
                advance(event_ms)
                return now()

        else:
            now = clock.now_ms

            def stamp(event_ms: int) -> int:
                return now()

        self.parser = FrameParser(stamp)
        self.connections: dict[str, BinanceConnection] = {}
        # Replay position: the file being played and the lines of it already done.
        self._file_index = 0
        self._file_lines = 0
        self.skipped: dict[str, int] = {}
        self._active_s = 0.0  # time spent playing (replay), for the rate
        self._announced = False

    # --- summary ---

    def summary(self) -> dict[str, Any]:
        p = self.parser
        out: dict[str, Any] = {"mode": "replay" if self.replaying else "live"}
        out["read"] = p.frames + sum(self.skipped.values())
        out.update(p.summary())
        if self.replaying:
            out["skipped"] = dict(self.skipped)
            out["files"] = len(self.ctx.replay_files)
            out["play_s"] = round(self._active_s, 3)
            out["frames_per_s"] = round(p.frames / self._active_s) if self._active_s > 0 else 0
        if self.connections:
            out["connections"] = {name: c.summary() for name, c in self.connections.items()}
        out.update(self.counters())
        return out

    # --- run ---

    async def run(self) -> None:
        reporter = asyncio.create_task(self._report_problems(), name="collector-problems")
        try:
            if self.replaying:
                await self._replay()
            else:
                await self._live()
        finally:
            reporter.cancel()
            await asyncio.wait([reporter])  # not `await reporter`: a cancel of run() itself must propagate
            self._log_problems()

    def _log_problems(self) -> None:
        line = self.parser.problem_report()
        if line:
            self.log.warning(line)

    async def _report_problems(self) -> None:
        while True:
            await asyncio.sleep(PROBLEM_LOG_EVERY_S)
            self._log_problems()

    # --- live ---

    async def _live(self) -> None:
        ctx = self.ctx
        feed = ctx.settings.feed
        specs = plan_from_settings(ctx.settings)
        bus = ctx.bus
        topic = ctx.topic(m.MARKET_DATA)
        publish = bus.publish
        publish_nowait = getattr(bus, "publish_nowait", None)
        encode = m.encode
        parse = self.parser.parse

        async def on_frame(raw: bytes, recv_ns: int) -> str | None:
            md = parse(raw, recv_ns // 1_000_000)
            if md is None:
                return None
            if publish_nowait is not None:
                publish_nowait(topic, md.symbol, encode(md))
            else:
                await publish(topic, md.symbol, encode(md))
            return md.symbol

        self.connections = {
            spec.name: BinanceConnection(
                spec,
                base_url=feed.ws_base_url,
                on_frame=on_frame,
                on_state=self._on_state,
                now_ms=ctx.clock.now_ms,
                stale_after_s=feed.stale_after_s,
                reconnect_max_s=feed.reconnect_max_s,
                rotate_after_s=feed.rotate_after_s,
            )
            for spec in specs
        }
        self.log.info("live feed: %s", ", ".join(f"{s.name} ({len(s.streams)} streams)" for s in specs))
        async with asyncio.TaskGroup() as tg:
            for conn in self.connections.values():
                tg.create_task(conn.run(), name=f"feed:{conn.name}")

    async def _on_state(self, conn: BinanceConnection, state: str, detail: str, symbols: list[str]) -> None:
        self.log.info("feed %s: %s %s", conn.name, state, detail)
        await self.health(
            f"feed:{conn.name}", state, detail, symbols=list(symbols),
            counters={"frames": conn.frames, "reconnects": conn.reconnects},
        )

    # --- replay ---

    async def _replay(self) -> None:
        ctx = self.ctx
        files = ctx.replay_files
        bus = ctx.bus
        topic = ctx.topic(m.MARKET_DATA)
        publish = bus.publish
        publish_nowait = getattr(bus, "publish_nowait", None)
        encode = m.encode
        parse = self.parser.parse
        lockstep = ctx.lockstep
        wait_idle = bus.wait_idle
        pacer = Pacer(ctx.replay_speed) if ctx.replay_speed else None
        loop = asyncio.get_running_loop()
        quiet = StaleTracker(int(ctx.settings.feed.stale_after_s * 1000))
        last_seen = quiet.last
        next_check = 0
        countdown = YIELD_EVERY

        while self._file_index < len(files):
            reader = RecordingReader(files[self._file_index], skip=self._file_lines)
            if pacer is not None:
                pacer.restart()
            started = time.perf_counter()
            try:
                for recv_ns, raw in reader:
                    self._file_lines = reader.lines
                    md = parse(raw, recv_ns // 1_000_000)
                    if md is None:
                        continue
                    if pacer is not None:
                        wait = pacer.delay(md.event_time, loop.time())
                        if wait:
                            await asyncio.sleep(wait)
                    if publish_nowait is not None:
                        publish_nowait(topic, md.symbol, encode(md))
                    else:
                        await publish(topic, md.symbol, encode(md))
                    if lockstep:
                        await wait_idle()
                    now = md.ts  # the replay clock, just advanced to this frame
                    last_seen[md.symbol] = now
                    if now >= next_check:
                        next_check = now + STALE_CHECK_MS
                        await self._replay_staleness(quiet.check(now))
                    countdown -= 1
                    if not countdown:
                        countdown = YIELD_EVERY
                        await asyncio.sleep(0)
            finally:
                self._active_s += time.perf_counter() - started
                for reason, n in reader.skipped.items():
                    self.skipped[reason] = self.skipped.get(reason, 0) + n
            self._file_index += 1
            self._file_lines = 0
        await self.health("feed:replay", "down", "replay finished", symbols=self.parser.symbols_seen())

    async def _replay_staleness(self, stale: list[str] | None) -> None:
        if not self._announced:  # once the clock holds the first event time, not epoch 0
            self._announced = True
            files = len(self.ctx.replay_files)
            await self.health("feed:replay", "live", f"playing {files} file{'s' if files > 1 else ''}",
                              symbols=self.parser.symbols_seen())
        if stale is None:
            return
        if stale:
            await self.health("feed:replay", "stale", f"no message for {self.ctx.settings.feed.stale_after_s:g} s "
                              f"of event time: {', '.join(stale)}", symbols=stale)
        else:
            await self.health("feed:replay", "live", "", symbols=self.parser.symbols_seen())
