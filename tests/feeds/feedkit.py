"""Helpers for the feed tests: a collector on an embedded bus, watched from the outside (the shared kit's
harness and taps, tests/kit), and what it must publish for given frames, worked out independently.

(Not in conftest.py: test modules import these by name, and every test folder has its own conftest.)
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from kit import Harness as WorkerHarness

from tui_trader import messages as m
from tui_trader.bus import EmbeddedBus
from tui_trader.settings import FeedSettings, Settings, TradingSettings
from tui_trader.workers.collector import CollectorWorker


def make_settings(symbols: Sequence[str] = ("BTCUSDT",), **feed) -> Settings:
    # These tests play a capture's trade and book frames: no markPrice connection unless a test asks for one.
    feed.setdefault("marks", False)
    return Settings(trading=TradingSettings(symbols=list(symbols)), feed=FeedSettings(**feed))


class Harness:
    """One CollectorWorker run bare (its exception reaches the test) on the kit's harness; `market` and
    `health` are what it published, as typed messages, in order. `wrap_bus` puts a bus of the test's own
    (a slow one) between the collector and the embedded bus the taps read."""

    def __init__(
        self,
        settings: Settings,
        *,
        replay_files: Sequence[str | Path] = (),
        speed: float | None = None,
        clock: Any = None,
        lockstep: bool = True,
        wrap_bus: Callable[[EmbeddedBus], Any] | None = None,
    ) -> None:
        self.kit = WorkerHarness(
            settings,
            [CollectorWorker],
            clock=clock,
            taps=(m.MARKET_DATA, m.HEALTH),
            supervised=False,
            replay_files=[str(p) for p in replay_files],
            replay_speed=speed,
            lockstep=lockstep,
        )
        if wrap_bus is not None:
            self.kit.ctx.bus = wrap_bus(self.kit.bus)  # the collector publishes through it; the taps read behind
        self.bus = self.kit.bus
        self.clock = self.kit.clock
        self.ctx = self.kit.ctx
        self.worker: CollectorWorker = self.kit.workers[0]  # type: ignore[assignment]
        self.market: list[m.MarketData] = self.kit.seen(m.MARKET_DATA)
        self.health: list[m.Health] = self.kit.seen(m.HEALTH)

    async def __aenter__(self) -> Harness:
        await self.kit.__aenter__()
        self.task = self.kit.tasks[0]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.kit.__aexit__(*exc)

    async def finished(self, timeout: float = 60.0) -> None:
        """Wait for a replay to end and the taps to hold everything it published."""
        await asyncio.wait_for(asyncio.shield(self.task), timeout)
        await self.caught_up()

    async def caught_up(self) -> None:
        for tap in self.kit.taps.values():
            await tap.caught_up()

    def states(self, component: str) -> list[str]:
        return [h.state for h in self.health if h.component == component]


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
