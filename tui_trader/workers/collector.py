"""Collector worker: the venue's public streams (live) or recordings (replay) → MarketData on the bus.

The venue is `feed.venue`, by default the one `exchange.name` trades on: Binance USD-M (feeds/binance_plan.py),
OKX (feeds/okx.py) or Bybit v5 linear (feeds/bybit.py). One parser reads every venue's frames (it tells them
apart by their envelope), so a recording replays whichever venue it came from.

Live: one `FeedConnection` per planned connection (feeds/binance_plan.py, feeds/venue.py), all feeding one
`FrameParser`, so the latest bid/ask of a symbol reaches its trades whichever connection carried them, and
whatever a reconnect resends is dropped once. The readers never wait on the bus: each parsed record goes into
a bounded hand-off (feeds/handoff.py: books and marks conflate to the latest per symbol, trades wait up to
`feed.max_waiting_trades` and beyond that are dropped and counted as a gap) and one publisher task drains it
in batches. A symbol with a gap has its records published with `gap=True` until the feed is whole again (the
router takes no entries on it meanwhile) and the `feed:gaps` Health record says which symbols have one (state
"gap", or "whole" once none has). The receipt → publish lag (p50/p99/max of the latest records) goes out in
the `collector` Health record's counters and detail. Each connection's state goes out as a `Health` record
(`feed:<connection>`) when it changes, through the publisher too, so a slow bus never holds a reader.

Replay: for every frame, in event-time order over all the files (merged, feeds/replay.py): parse it
(which advances the ReplayClock to the frame's event time and stamps `ts` from it), wait for its turn when paced (`--speed X`), publish, then, in lockstep,
wait until every tracked consumer is idle, so every worker sees the same world at any speed. Running free (no
pacing, no lockstep, the in-process bus) the parser takes the frames up to the next turn of the loop in one
call and their records go out as one batch before the loop turns or any Health record goes out: what each
consumer sees between two turns is the same as record by record, for a fraction of the calls. The
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
import operator
import time
from collections import deque
from typing import Any

import msgspec

from tui_trader import messages as m
from tui_trader.feeds.connection import FeedConnection
from tui_trader.feeds.handoff import Handoff, LagStats, describe_lag
from tui_trader.feeds.parser import FrameParser, limits_from
from tui_trader.feeds.replay import MergedRecordings, Pacer
from tui_trader.feeds.stale import StaleTracker
from tui_trader.feeds.venue import feed_base_url, plan_feed, venue_of
from tui_trader.workers.base import Worker, WorkerContext

PROBLEM_LOG_EVERY_S = 60.0
HEALTH_EVERY_S = 1.0  # live: how often changed counts go out to the desk
COMPONENT = "collector"
YIELD_EVERY = 256  # an unpaced replay lets the event loop run (signals, the desk) this often
# Frames in a row that give no record (streams not configured, depth updates) after which a replay lets the
# loop turn all the same: however a recording is made, the desk draws and the kill key is read meanwhile.
SILENT_FRAMES = 1024
STALE_CHECK_MS = 1000  # replay: how often, in event time, quiet symbols are looked for
REPLAY_DONE = "done"  # the `feed:replay` state once the recordings have all played
GAPS = "feed:gaps"  # live: which symbols lost trades and are not whole again (state "gap" | "whole")
PUBLISH_BATCH = 1024  # live: records taken from the hand-off and published at once
YIELD_WAITING = 64  # live: a reader lets the publisher run after handing over this many records
GAP_CHECK_S = 0.1  # live: how often an idle publisher looks whether a gap has closed
MAX_WAITING_HEALTH = 1000  # connection state records waiting for the publisher (the oldest go first)


_symbol_of = operator.attrgetter("symbol")
_ts_of = operator.attrgetter("ts")


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
        # Live: the hand-off between the readers and the publisher, kept across a restart of run() so what
        # was waiting still goes out.
        feed = ctx.settings.feed
        self.handoff = Handoff(feed.max_waiting_trades, round(feed.gap_clear_s * 1000))
        self.lag = LagStats()
        self._ready = asyncio.Event()  # set when the hand-off or the Health queue has something
        self._health_out: deque[m.Health] = deque(maxlen=MAX_WAITING_HEALTH)
        self._gapped: dict[str, int] = {}  # symbols with a gap as last announced → trades lost
        self._losing: set[str] = set()  # symbols whose current gap has been logged
        self._sent: dict[str, int] | None = None  # the collector Health counters as last sent (live)

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
            out["handoff"] = self.handoff.counters()
            out["lag"] = self.lag.summary()
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
        """The counts by reason as the `collector` Health record, when the bad frames changed (or `force`);
        live also when the hand-off's counts or the publish lag changed."""
        p = self.parser
        bad = p.bad_frames()
        counters = p.counters()
        lag: dict[str, int] = {}
        if not self.replaying:
            lag = self.lag.summary()
            counters.update(self.handoff.counters())
            counters.update(lag)
            if counters == self._sent and not force:
                return
            self._sent = counters
        elif bad == self._counts_sent and not force:
            return
        self._counts_sent = bad
        parts = [
            f"{bucket} {sum(t.values())} ({', '.join(f'{r} {n}' for r, n in sorted(t.items()))})"
            for bucket, t in (("quarantined", p.quarantined), ("malformed", p.malformed))
            if t
        ]
        if lag:
            parts.append(describe_lag(lag))
        await self.health(
            COMPONENT, "bad_frames" if bad else "ok", "; ".join(parts), symbols=p.symbols_seen(), counters=counters
        )

    # --- live ---

    async def _live(self) -> None:
        ctx = self.ctx
        feed = ctx.settings.feed
        venue = venue_of(ctx.settings)
        specs = plan_feed(ctx.settings)
        base_url = feed_base_url(ctx.settings)
        parse = self.parser.parse_all
        handoff = self.handoff
        put = handoff.put
        now_ms = ctx.clock.now_ms
        ready = self._ready
        topic = ctx.topic(m.MARKET_DATA)
        # A bus that takes a record without ever waiting (the in-process one) is published to at once, while
        # nothing waits in the hand-off: no hop through the publisher task, so no added lag.
        inline = ctx.bus.publish_msg_nowait if ctx.bus.nowait else None  # in process: the typed record
        lag_add = self.lag.add
        now_ns = time.time_ns
        handed = [0]  # records handed over since the reader last let the loop run

        async def on_frame(raw: bytes, recv_ns: int) -> str | None:
            # Never waits on the bus: the reader goes straight back to its socket, whatever the bus does.
            out = parse(raw, recv_ns // 1_000_000)
            if not out:
                return None
            if inline is not None and not handoff:
                for md in out:
                    inline(topic, md.symbol, md)
                    lag_add(now_ns() - recv_ns)
                return out[-1].symbol
            now = now_ms()
            for md in out:
                if not put(md, recv_ns, now):
                    self._lost(md.symbol)
            ready.set()
            handed[0] += len(out)
            if handed[0] >= YIELD_WAITING:
                # A burst already read by the library is handed over without a pause otherwise; let the
                # publisher start on it (a turn of the loop, not a wait on the bus). Once per so many records,
                # not per frame: a publisher stuck on the bus gains nothing from more turns.
                handed[0] = 0
                await asyncio.sleep(0)
            return out[-1].symbol

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
                reconnect_quiet_s=feed.reconnect_quiet_s,
            )
            for spec in specs
        }
        self.log.info("live feed (%s): %s", venue, ", ".join(f"{s.name} ({len(s.streams)} streams)" for s in specs))
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._publish_live(topic), name="collector-publish")
            for conn in self.connections.values():
                tg.create_task(conn.run(), name=m.feed_component(conn.name))

    def _lost(self, symbol: str) -> None:
        """A trade of `symbol` was dropped (the hand-off was full): said once per gap, counted always."""
        if symbol in self._losing:
            return
        self._losing.add(symbol)
        self.log.warning(
            "feed: %d trades waiting for the bus, the most held: dropping trades of %s (counted; no entries on it "
            "until the feed is whole again)",
            self.handoff.waiting_trades,
            symbol,
        )

    async def _publish_live(self, topic: str) -> None:
        """Drain the hand-off onto the bus in batches, oldest first; the only place that waits on the bus."""
        handoff = self.handoff
        lag_add = self.lag.add
        ready = self._ready
        bus = self.ctx.bus
        publish_nowait = bus.publish_msg_nowait if bus.nowait else None  # in process: the typed record
        publish_many = bus.publish_bundled  # a symbol's records of one batch may share a bus record
        encode = m.encode
        replace = msgspec.structs.replace
        now_ns = time.time_ns
        loop = asyncio.get_running_loop()
        while True:
            while self._health_out:
                h = self._health_out.popleft()
                await self.publish(m.HEALTH, h.component, h)
            if not handoff:
                ready.clear()
                # A timer rather than asyncio.wait_for, which on Python 3.11 can swallow a cancel that
                # arrives as the event is set (the publisher would then never stop).
                timer = loop.call_later(GAP_CHECK_S, ready.set)
                try:
                    await ready.wait()
                finally:
                    timer.cancel()
                await self._check_gaps()
                continue
            batch = handoff.take(PUBLISH_BATCH)
            gaps = await self._check_gaps()
            if gaps:  # only while a symbol has a gap: the records that say so are copies
                for entry in batch:
                    if entry[1].symbol in gaps:
                        entry[1] = replace(entry[1], gap=True)
            if publish_nowait is not None:
                for entry in batch:
                    md = entry[1]
                    publish_nowait(topic, md.symbol, md)
            else:
                await publish_many(topic, [(entry[1].symbol, encode(entry[1])) for entry in batch])
            done = now_ns()
            for entry in batch:
                lag_add(done - entry[0])
            if publish_nowait is not None:
                await asyncio.sleep(0)  # the readers run between batches

    async def _check_gaps(self) -> dict[str, int]:
        """The symbols with an open gap; tells the desk (`feed:gaps`) and the log when that set changes."""
        gaps = self.handoff.gaps(self.ctx.clock.now_ms())
        if gaps.keys() == self._gapped.keys():
            return gaps
        for symbol in self._gapped.keys() - gaps.keys():
            self._losing.discard(symbol)
            self.log.info("feed: %s whole again (%d trades lost in all)", symbol, self.handoff.lost.get(symbol, 0))
        self._gapped = dict(gaps)
        if gaps:
            lost = ", ".join(f"{s} {n}" for s, n in sorted(gaps.items()))
            detail = f"trades lost: {lost}; no entries on {'it' if len(gaps) == 1 else 'them'} until whole again"
        else:
            detail = "no gap"
        await self.health(
            GAPS,
            "gap" if gaps else "whole",
            detail,
            symbols=sorted(gaps),
            counters={f"lost_trades:{s}": n for s, n in self.handoff.lost.items()},
        )
        return gaps

    async def _on_state(self, conn: FeedConnection, state: str, detail: str, symbols: list[str]) -> None:
        """A connection's state, for the desk: queued for the publisher, so a slow bus never holds a reader."""
        self.log.info("feed %s: %s %s", conn.name, state, detail)
        h = m.Health(
            component=m.feed_component(conn.name),
            state=state,
            detail=detail,
            symbols=list(symbols),
            counters={"frames": conn.frames, "reconnects": conn.reconnects},
            ts=self.ctx.clock.now_ms(),
        )
        if self.ctx.on_health is not None:
            self.ctx.on_health(h)
        self._health_out.append(h)
        self._ready.set()

    # --- replay ---

    async def _replay(self) -> None:
        ctx = self.ctx
        files = ctx.replay_files
        bus = ctx.bus
        topic = ctx.topic(m.MARKET_DATA)
        publish = bus.publish
        publish_nowait = bus.publish_msg_nowait if bus.nowait else None  # in process: the typed record
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
        # Running free on the in-process bus, the records parsed between two turns of the loop (no consumer
        # runs in between) are published as one batch: one store call instead of one per record, the same
        # records in the same order. Before anything else is published (Health) or the loop turns, the batch
        # goes out, so every other record and every consumer sees what it saw before.
        free = bus.nowait and pacer is None and not lockstep
        parse_frames = self.parser.parse_frames
        publish_batch = bus.publish_msgs_nowait
        batch: list[m.MarketData] = []

        def flush() -> None:
            if batch:
                keys = list(map(_symbol_of, batch))
                try:
                    publish_batch(topic, keys, batch)
                    last_seen.update(zip(keys, map(_ts_of, batch), strict=True))
                finally:
                    batch.clear()

        if self._replay_done:
            await self.health(m.REPLAY_FEED, REPLAY_DONE, "replay done", symbols=self.parser.symbols_seen())
            return
        # One stream over every file, merged by event time: files of the same day interleave, so no symbol
        # waits (and goes stale) while another file plays, and the event time never jumps back at a seam.
        recordings = MergedRecordings(files, skip=self._file_lines)
        self._file_lines = recordings.lines  # updated in place as frames go out: where a restart resumes
        started = time.perf_counter()
        try:
            if free:
                # The parser takes the frames up to the next turn of the loop or the next check in one call.
                frames = iter(recordings)
                ended = False
                while not ended:
                    given, ended, silenced = parse_frames(frames, batch, countdown, next_check, SILENT_FRAMES)
                    if given:
                        now = batch[-1].ts  # the replay clock, just advanced to the last frame that gave records
                        if now >= next_check:
                            flush()
                            next_check = now + STALE_CHECK_MS
                            await self._replay_staleness(quiet.check(now))
                            await self._report_counts()
                        countdown -= given
                    if not countdown or silenced:  # the batch is full, or a run of frames gave nothing
                        countdown = countdown or YIELD_EVERY
                        flush()
                        await asyncio.sleep(0)
            else:
                silent = 0
                for recv_ns, raw in recordings:
                    out = parse(raw, recv_ns // 1_000_000)
                    if not out:
                        silent += 1
                        if silent >= SILENT_FRAMES:  # a long run of frames that give nothing: the loop turns
                            silent = 0
                            await asyncio.sleep(0)
                        continue
                    silent = 0
                    for md in out:
                        if pacer is not None:
                            wait = pacer.delay(md.event_time, loop.time())
                            if wait:
                                await asyncio.sleep(wait)
                        if publish_nowait is not None:
                            publish_nowait(topic, md.symbol, md)
                        else:
                            await publish(topic, md.symbol, encode(md))
                        if lockstep:
                            await wait_idle()
                        elif pacer is not None and md.kind == "trade":
                            # Paced, a trade is handed on at once: the indicator runs before the frames that are
                            # already due behind it (a batch of them delayed each trade's signal by up to
                            # YIELD_EVERY frames of parsing). Unpaced replays keep the batches: throughput.
                            await asyncio.sleep(0)
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
            flush()  # the last batch; after a failure too, as the replay position is past what was parsed
            self._active_s += time.perf_counter() - started
            for reason, n in recordings.skipped.items():
                self.skipped[reason] = self.skipped.get(reason, 0) + n
        self._replay_done = True
        await self._report_counts(force=True)
        # "done", not "down": the end of a recording is no outage, so the desk shows "replay done" and no
        # symbol as stale, and nobody is told a feed went down.
        await self.health(m.REPLAY_FEED, REPLAY_DONE, "replay done", symbols=self.parser.symbols_seen())

    async def _replay_staleness(self, stale: list[str] | None) -> None:
        if not self._announced:  # once the clock holds the first event time, not epoch 0
            self._announced = True
            await self.health(m.REPLAY_FEED, "live", self._playing(), symbols=self.parser.symbols_seen())
        if stale is None:
            return
        if stale:
            await self.health(
                m.REPLAY_FEED,
                "stale",
                f"no message for {self.ctx.settings.feed.stale_after_s:g} s of event time: {', '.join(stale)}",
                symbols=stale,
            )
        else:
            await self.health(m.REPLAY_FEED, "live", self._playing(), symbols=self.parser.symbols_seen())

    def _playing(self) -> str:
        """The live replay's detail, as the desk's status bar shows it: "replay 20×" (or "replay max")."""
        speed = self.ctx.replay_speed
        return f"replay {'max' if not speed else f'{speed:g}×'}"
