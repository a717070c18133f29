"""Helpers for the feed tests: a collector on an embedded bus, watched from the outside.

(Not in conftest.py: test modules import these by name, and every test folder has its own conftest.)
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import msgspec

from tui_trader import messages as m
from tui_trader.bus import EmbeddedBus, EmbeddedCluster, Start
from tui_trader.clock import Clock, ReplayClock
from tui_trader.settings import FeedSettings, Settings, TradingSettings
from tui_trader.workers.base import WorkerContext
from tui_trader.workers.collector import CollectorWorker

WAIT_S = 15.0


def make_settings(symbols: Sequence[str] = ("BTCUSDT",), **feed) -> Settings:
    # These tests play a capture's trade and book frames: no markPrice connection unless a test asks for one.
    feed.setdefault("marks", False)
    return Settings(trading=TradingSettings(symbols=list(symbols)), feed=FeedSettings(**feed))


async def wait_until(condition: Callable[[], bool], timeout: float = WAIT_S, what: str = "condition") -> None:
    """Poll a condition (the thing under test runs on the same loop) with a bounded timeout."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.01)


class Harness:
    """Runs one CollectorWorker and keeps every MarketData and Health record it publishes."""

    def __init__(
        self,
        settings: Settings,
        *,
        replay_files: Sequence[str | Path] = (),
        speed: float | None = None,
        clock=None,
        lockstep: bool = True,
        wrap_bus: Callable[[EmbeddedBus], Any] | None = None,
    ) -> None:
        self.settings = settings
        self.replay_files = [str(p) for p in replay_files]
        self.speed = speed
        self.clock = clock or (ReplayClock() if replay_files else Clock())
        self.lockstep = lockstep
        self.wrap_bus = wrap_bus  # e.g. a bus slower than the market, around the embedded one
        self.market: list[m.MarketData] = []
        self.health: list[m.Health] = []
        self._tasks: list[asyncio.Task] = []

    async def __aenter__(self) -> Harness:
        inner = EmbeddedBus(EmbeddedCluster(retention=1_000_000))
        self.bus = self.wrap_bus(inner) if self.wrap_bus is not None else inner
        await self.bus.create_topics(m.TOPICS)
        self.ctx = WorkerContext(
            settings=self.settings,
            bus=self.bus,
            clock=self.clock,
            replay_files=self.replay_files,
            replay_speed=self.speed,
            lockstep=self.lockstep,
        )
        self.worker = CollectorWorker(self.ctx)
        for topic, sink, cls in ((m.MARKET_DATA, self.market, m.MarketData), (m.HEALTH, self.health, m.Health)):
            sub = await self.bus.subscribe(topic, Start.BEGINNING, tracked=False)
            self._tasks.append(asyncio.create_task(self._collect(sub, sink, msgspec.json.Decoder(cls))))
        self.task = asyncio.create_task(self.worker.run())
        return self

    @staticmethod
    async def _collect(sub, sink: list, decoder) -> None:
        async for rec in sub:
            sink.append(decoder.decode(rec.value))

    async def finished(self, timeout: float = 60.0) -> None:
        """Wait for a replay to end and the watchers to hold everything it published."""
        await asyncio.wait_for(asyncio.shield(self.task), timeout)
        await self.caught_up()

    async def caught_up(self) -> None:
        await wait_until(lambda: all(lag == 0 for lag in self.bus.lag().values()), 5, "the watchers to catch up")

    def states(self, component: str) -> list[str]:
        return [h.state for h in self.health if h.component == component]

    async def __aexit__(self, *exc: object) -> None:
        self.task.cancel()
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(self.task, *self._tasks, return_exceptions=True)
        await self.bus.close()


def expected_market_data(frames: Sequence[str]) -> list[dict]:
    """What the collector must publish for these frames, worked out independently with json and float()."""
    out: list[dict] = []
    book = {}
    last_price = {}
    for frame in frames:
        env = json.loads(frame)
        kind = env["stream"].partition("@")[2]
        d = env["data"]
        symbol = d["s"]
        if kind == "bookTicker":
            book[symbol] = (float(d["b"]), float(d["B"]), float(d["a"]), float(d["A"]))
            bid, bid_qty, ask, ask_qty = book[symbol]
            out.append(
                dict(
                    symbol=symbol,
                    kind="book",
                    price=last_price.get(symbol, 0.0),
                    volume=0.0,
                    bid=bid,
                    bid_qty=bid_qty,
                    ask=ask,
                    ask_qty=ask_qty,
                    event_time=d["E"],
                )
            )
        elif kind in ("trade", "aggTrade"):
            last_price[symbol] = float(d["p"])
            bid, bid_qty, ask, ask_qty = book.get(symbol, (0.0, 0.0, 0.0, 0.0))
            out.append(
                dict(
                    symbol=symbol,
                    kind="trade",
                    price=float(d["p"]),
                    volume=float(d["q"]),
                    bid=bid,
                    bid_qty=bid_qty,
                    ask=ask,
                    ask_qty=ask_qty,
                    event_time=d["E"],
                )
            )
    return out


def as_dicts(market: Sequence[m.MarketData]) -> list[dict]:
    keys = ("symbol", "kind", "price", "volume", "bid", "bid_qty", "ask", "ask_qty", "event_time")
    return [{k: getattr(md, k) for k in keys} for md in market]
