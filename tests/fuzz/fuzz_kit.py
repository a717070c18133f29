"""A collector replaying one file onto an embedded bus, for the fuzz properties (one call, everything stopped)."""

from __future__ import annotations

import msgspec

from tui_trader import messages as m
from tui_trader.bus import EmbeddedBus, EmbeddedCluster, Start
from tui_trader.clock import ReplayClock
from tui_trader.settings import Settings, TradingSettings
from tui_trader.workers.base import WorkerContext
from tui_trader.workers.collector import CollectorWorker


async def replay_lines(path, symbols=("BTCUSDT", "ETHUSDT")) -> tuple[dict, list[m.MarketData]]:
    """(the collector's summary, every MarketData it published) for a replay of `path` at full speed."""
    bus = EmbeddedBus(EmbeddedCluster(retention=1_000_000))
    try:
        await bus.create_topics(m.TOPICS)
        settings = Settings(trading=TradingSettings(symbols=list(symbols)))
        ctx = WorkerContext(settings=settings, bus=bus, clock=ReplayClock(), replay_files=[str(path)])
        worker = CollectorWorker(ctx)
        await worker.run()  # a replay's run() returns at the end of the file; any exception fails the property
        end = await bus.end_offset(m.MARKET_DATA)
        market: list[m.MarketData] = []
        if end:
            sub = await bus.subscribe(m.MARKET_DATA, Start.BEGINNING, tracked=False)
            decode = msgspec.json.Decoder(m.MarketData).decode
            try:
                async for rec in sub:
                    market.append(decode(rec.value))
                    if rec.offset == end - 1:
                        break
            finally:
                await sub.close()
        return worker.summary(), market
    finally:
        await bus.close()
