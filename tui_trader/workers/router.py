"""Router worker (placeholder): reads trading-signals and passes nothing on yet."""

from __future__ import annotations

from tui_trader import messages as m
from tui_trader.workers.base import Worker


class RouterWorker(Worker):
    name = "router"

    async def run(self) -> None:
        self.seen = 0
        async for _record, _msg in self.consume(m.SIGNALS):
            self.seen += 1
