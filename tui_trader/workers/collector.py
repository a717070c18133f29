"""Collector worker: the venue's public streams (live) or recordings (replay) → MarketData on the bus.

The venue is `feed.venue`, by default the one `exchange.name` trades on: Binance USD-M (feeds/binance_plan.py),
OKX (feeds/okx.py) or Bybit v5 linear (feeds/bybit.py). One parser reads every venue's frames (it tells them
apart by their envelope), so a recording replays whichever venue it came from.

Live: one `FeedConnection` per planned connection (feeds/binance_plan.py, feeds/venue.py), all feeding one `FrameParser`,
so the latest bid/ask of a symbol reaches its trades whichever connection carried them, and whatever a
reconnect resends is dropped once. Each connection's state goes out as a `Health` record
(`feed:<connection>`) when it changes.

Replay: for every frame, in event-time order over all the files (merged, feeds/replay.py): parse it
(which advances the ReplayClock to the frame's event time and stamps `ts` from it), wait for its turn when paced (`--speed X`), publish, then, in lockstep,
wait until every tracked consumer is idle, so every worker sees the same world at any speed. The
`feed:replay` Health record is "live" with detail "replay 20×" while playing, "stale" for symbols quiet on
event time, and "done" (detail "replay done") at the end.

The parser and the replay position live on the worker, so a restart after a crash neither republishes
nor skips what was already done. The parser keeps state only for `trading.symbols` (frames of other symbols
are counted and dropped) and checks every frame (feeds/parser.py): malformed and quarantined frames are
counted once each, by reason, logged once a minute, and go out as the `collector` Health record's counters
(state "ok", or "bad_frames" once any frame was malformed or quarantined) whenever they change: live at
most once a second, in a replay once per second of event time and at the end. The same counts are in
`summary()`, where `read = published + ignored + duplicates + malformed + quarantined + skipped lines`.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tui_trader import messages as m
from tui_trader.feeds.connection import FeedConnection
from tui_trader.feeds.parser import FrameParser, limits_from
from tui_trader.feeds.replay import MergedRecordings, Pacer
from tui_trader.feeds.stale import StaleTracker
from tui_trader.feeds.venue import feed_base_url, plan_feed, venue_of
from tui_trader.workers.base import Worker, WorkerContext

PROBLEM_LOG_EVERY_S = 60.0
HEALTH_EVERY_S = 1.0  # live: how often changed counts go out to the desk
COMPONENT = "collector"
YIELD_EVERY = 256  # an unpaced replay lets the event loop run (signals, the desk) this often
STALE_CHECK_MS = 1000  # replay: how often, in event time, quiet symbols are looked for
REPLAY_DONE = "done"  # the `feed:replay` state once the recordings have all played


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


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

        # A recording is never from the future: in a replay the wall clock bounds its event times.
        future = _wall_ms if self.replaying else None
        self.parser = FrameParser(
            stamp, symbols=ctx.settings.trading.symbols, limits=limits_from(ctx.settings.feed), future_ms=future
        )
        self._counts_sent = -1  # bad frames when the collector's Health last went out
        self.connections: dict[str, FeedConnection] = {}
        # Replay position: the lines of each file already done (the files play merged by event time).
        self._file_lines: list[int] = []
        self._replay_done = False
        self.skipped: dict[str, int] = {}
        self._active_s = 0.0  # time spent playing (replay), for the rate
        self._announced = False

    # --- summary ---

    def summary(self) -> dict[str, Any]:
        p = self.parser
        out: dict[str, Any] = {"mode": "replay" if self.replaying else "live"}
        out["read"] = p.frames + sum(self.skipped.values())
        out.update(p.summary())
        out["bad_frames"] = p.bad_frames()
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
            if not self.replaying:  # a replay's first report waits for the clock to hold an event time
                await self._report_counts(force=True)
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
        ticks = 0
        every = max(1, round(PROBLEM_LOG_EVERY_S / HEALTH_EVERY_S))
        while True:
            await asyncio.sleep(HEALTH_EVERY_S)
            ticks += 1
            if not self.replaying:  # a replay reports on event time (deterministic), in _replay
                await self._report_counts()
            if ticks % every == 0:
                self._log_problems()

    async def _report_counts(self, force: bool = False) -> None:
        """The counts by reason as the `collector` Health record, when the bad frames changed (or `force`)."""
        p = self.parser
        bad = p.bad_frames()
        if bad == self._counts_sent and not force:
            return
        self._counts_sent = bad
        parts = [
            f"{bucket} {sum(t.values())} ({', '.join(f'{r} {n}' for r, n in sorted(t.items()))})"
            for bucket, t in (("quarantined", p.quarantined), ("malformed", p.malformed))
            if t
        ]
        await self.health(
            COMPONENT, "bad_frames" if bad else "ok", "; ".join(parts), symbols=p.symbols_seen(), counters=p.counters()
        )

    # --- live ---

    async def _live(self) -> None:
        ctx = self.ctx
        feed = ctx.settings.feed
        venue = venue_of(ctx.settings)
        specs = plan_feed(ctx.settings)
        base_url = feed_base_url(ctx.settings)
        bus = ctx.bus
        topic = ctx.topic(m.MARKET_DATA)
        publish = bus.publish
        publish_nowait = getattr(bus, "publish_nowait", None)
        encode = m.encode
        parse = self.parser.parse_all

        async def on_frame(raw: bytes, recv_ns: int) -> str | None:
            symbol = None
            for md in parse(raw, recv_ns // 1_000_000):
                if publish_nowait is not None:
                    publish_nowait(topic, md.symbol, encode(md))
                else:
                    await publish(topic, md.symbol, encode(md))
                symbol = md.symbol
            return symbol

        self.connections = {
            spec.name: FeedConnection(
                spec,
                base_url=base_url,
                on_frame=on_frame,
                on_state=self._on_state,
                now_ms=ctx.clock.now_ms,
                stale_after_s=feed.stale_after_s,
                reconnect_max_s=feed.reconnect_max_s,
                rotate_after_s=feed.rotate_after_s,
            )
            for spec in specs
        }
        self.log.info("live feed (%s): %s", venue, ", ".join(f"{s.name} ({len(s.streams)} streams)" for s in specs))
        async with asyncio.TaskGroup() as tg:
            for conn in self.connections.values():
                tg.create_task(conn.run(), name=f"feed:{conn.name}")

    async def _on_state(self, conn: FeedConnection, state: str, detail: str, symbols: list[str]) -> None:
        self.log.info("feed %s: %s %s", conn.name, state, detail)
        await self.health(
            f"feed:{conn.name}",
            state,
            detail,
            symbols=list(symbols),
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
        parse = self.parser.parse_all
        lockstep = ctx.lockstep
        wait_idle = bus.wait_idle
        pacer = Pacer(ctx.replay_speed) if ctx.replay_speed else None
        loop = asyncio.get_running_loop()
        quiet = StaleTracker(int(ctx.settings.feed.stale_after_s * 1000))
        last_seen = quiet.last
        next_check = 0
        countdown = YIELD_EVERY

        if self._replay_done:
            await self.health("feed:replay", REPLAY_DONE, "replay done", symbols=self.parser.symbols_seen())
            return
        # One stream over every file, merged by event time: files of the same day interleave, so no symbol
        # waits (and goes stale) while another file plays, and the event time never jumps back at a seam.
        recordings = MergedRecordings(files, skip=self._file_lines)
        self._file_lines = recordings.lines  # updated in place as frames go out: where a restart resumes
        started = time.perf_counter()
        try:
            for recv_ns, raw in recordings:
                out = parse(raw, recv_ns // 1_000_000)
                if not out:
                    continue
                for md in out:
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
                    last_seen[md.symbol] = md.ts
                now = md.ts  # the replay clock, just advanced to this frame
                if now >= next_check:
                    next_check = now + STALE_CHECK_MS
                    await self._replay_staleness(quiet.check(now))
                    await self._report_counts()
                countdown -= 1
                if not countdown:
                    countdown = YIELD_EVERY
                    await asyncio.sleep(0)
        finally:
            self._active_s += time.perf_counter() - started
            for reason, n in recordings.skipped.items():
                self.skipped[reason] = self.skipped.get(reason, 0) + n
        self._replay_done = True
        await self._report_counts(force=True)
        # "done", not "down": the end of a recording is no outage, so the desk shows "replay done" and no
        # symbol as stale, and nobody is told a feed went down.
        await self.health("feed:replay", REPLAY_DONE, "replay done", symbols=self.parser.symbols_seen())

    async def _replay_staleness(self, stale: list[str] | None) -> None:
        if not self._announced:  # once the clock holds the first event time, not epoch 0
            self._announced = True
            await self.health("feed:replay", "live", self._playing(), symbols=self.parser.symbols_seen())
        if stale is None:
            return
        if stale:
            await self.health(
                "feed:replay",
                "stale",
                f"no message for {self.ctx.settings.feed.stale_after_s:g} s of event time: {', '.join(stale)}",
                symbols=stale,
            )
        else:
            await self.health("feed:replay", "live", self._playing(), symbols=self.parser.symbols_seen())

    def _playing(self) -> str:
        """The live replay's detail, as the desk's status bar shows it: "replay 20×" (or "replay max")."""
        speed = self.ctx.replay_speed
        return f"replay {'max' if not speed else f'{speed:g}×'}"
