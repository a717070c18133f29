"""The indicator worker under the kit's harness, fed the way the collector feeds it (not a test module)."""

from __future__ import annotations

from kit import Harness

from tui_trader import messages as m
from tui_trader.clock import Clock, ReplayClock
from tui_trader.settings import Settings
from tui_trader.workers.indicator import IndicatorWorker


class IndicatorHarness(Harness):
    """The kit's harness with one indicator worker under a runtime, fed through the bus the way the collector
    feeds it; the Health records it reports are in `reported` as they come."""

    def __init__(self, settings: Settings, clock: Clock, *, durable: bool = False) -> None:
        """durable: the worker as `tui-trader worker indicator` runs it (one per process, a named consumer)."""
        self.reported: list[m.Health] = []
        super().__init__(
            settings,
            [IndicatorWorker],
            clock=clock,
            taps=(m.SIGNALS,),
            on_health=self.reported.append,
            durable=durable,
        )
        self.indicator: IndicatorWorker = self.workers[0]  # type: ignore[assignment]

    async def __aenter__(self) -> IndicatorHarness:
        await super().__aenter__()
        await self.listening(m.MARKET_DATA)
        return self

    async def send(self, md: m.MarketData | bytes, symbol: str = "BTCUSDT") -> None:
        """One market record (a message, or raw bytes as a foreign producer might write them), handled."""
        if isinstance(md, m.MarketData):
            if isinstance(self.clock, ReplayClock):
                self.clock.advance_to(md.event_time)
            await self.bus.publish_msg(self.ctx.topic(m.MARKET_DATA), md.symbol, md)  # typed, as the collector does
        else:
            await self.bus.publish(self.ctx.topic(m.MARKET_DATA), symbol, md)
        await self.bus.wait_idle()

    async def signals(self) -> list[m.TradingSignal]:
        await self.settle()
        return list(self.seen(m.SIGNALS))


def trade(symbol: str, price: float, t: int) -> m.MarketData:
    return m.MarketData(symbol=symbol, kind="trade", price=price, volume=0.01, event_time=t, recv_time=t, ts=t)
