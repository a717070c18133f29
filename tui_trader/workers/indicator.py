"""Indicator worker (placeholder): reads trading-market-data and passes nothing on yet."""

from __future__ import annotations

from tui_trader import messages as m
from tui_trader.workers.base import Worker


class IndicatorWorker(Worker):
    name = "indicator"

    async def run(self) -> None:
        self.seen = 0
        async for _record, _msg in self.consume(m.MARKET_DATA):
            self.seen += 1
