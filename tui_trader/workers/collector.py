"""Collector worker (placeholder): will turn Binance streams or a replay into MarketData."""

from __future__ import annotations

import asyncio

from tui_trader.workers.base import Worker


class CollectorWorker(Worker):
    name = "collector"

    async def run(self) -> None:
        await self.health("feed:placeholder", "down", "market data collector not built yet")
        if self.ctx.replay_files:
            return
        await asyncio.Event().wait()
