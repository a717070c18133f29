"""Restart recovery on the embedded bus: journaled-but-unsent statuses go out once; a command delivered
again is answered from the journal, never executed twice; positions come back from the journal."""

from __future__ import annotations

import asyncio

from tui_trader import messages as m
from tui_trader.bus import EmbeddedBus, EmbeddedCluster, Start
from tui_trader.clock import FixedClock
from tui_trader.instruments import RulesBook
from tui_trader.journal import Journal
from tui_trader.settings import Settings
from tui_trader.workers import WorkerContext
from tui_trader.workers.executor import ExecutorWorker
from tui_trader.workers.router import RouterWorker

T0 = 1_723_161_600_000


def entry(cmd_id: str = "c-1") -> m.OrderCommand:
    return m.OrderCommand(
        id=cmd_id,
        symbol="BTCUSDT",
        side="buy",
        quantity=0.01,
        ref_price=60_000.0,
        stop_loss=58_200.0,
        take_profit=63_600.0,
        leverage=10,
        purpose="entry",
        mode="paper",
        ts=T0,
    )


def book(ts: int = T0) -> m.MarketData:
    return m.MarketData(
        symbol="BTCUSDT",
        kind="book",
        price=60_000.0,
        bid=59_999.9,
        bid_qty=1,
        ask=60_000.1,
        ask_qty=1,
        event_time=ts,
        recv_time=ts,
        ts=ts,
    )


class Process:
    """One desk process: a fresh bus handle and fresh workers over a journal file that outlives it."""

    def __init__(self, cluster: EmbeddedCluster, journal_path, workers=(ExecutorWorker,)) -> None:
        self.bus = EmbeddedBus(cluster)
        self.journal = Journal(journal_path)
        self.ctx = WorkerContext(
            settings=Settings(),
            bus=self.bus,
            clock=FixedClock(T0),
            shared={"instruments": RulesBook(), "journal": self.journal},
        )
        self.workers = [w(self.ctx) for w in workers]
        self.tasks: list[asyncio.Task] = []

    async def __aenter__(self) -> Process:
        await self.bus.create_topics(m.TOPICS)
        self.tasks = [asyncio.create_task(w.run()) for w in self.workers]
        await asyncio.sleep(0)
        await asyncio.wait_for(self.bus.wait_idle(), 5)
        return self

    async def __aexit__(self, *exc) -> None:
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.bus.close()
        self.journal.close()

    async def send(self, topic: str, msg) -> None:
        await self.bus.publish(topic, getattr(msg, "symbol", "desk"), m.encode(msg))
        await asyncio.wait_for(self.bus.wait_idle(), 5)


async def statuses_on(cluster: EmbeddedCluster) -> list[m.OrderStatus]:
    bus = EmbeddedBus(cluster)
    sub = await bus.subscribe(m.ORDER_STATUS, Start.BEGINNING, tracked=False)
    out = []
    end = cluster.topic(m.ORDER_STATUS).end
    while len(out) < end:
        rec = await asyncio.wait_for(sub.__anext__(), 5)
        out.append(m.Decoder().decode(m.ORDER_STATUS, rec.value))
    await bus.close()
    return out


async def test_a_fill_journaled_but_never_published_goes_out_once_after_the_restart(tmp_path):
    path = tmp_path / "journal.sqlite3"
    jr = Journal(path)
    jr.record_command(entry())
    fill = m.OrderStatus(
        order_id="c-1",
        symbol="BTCUSDT",
        side="buy",
        purpose="entry",
        status="filled",
        filled_qty=0.01,
        avg_price=60_000.1,
        fee=0.3,
        mode="paper",
        ts=T0,
    )
    jr.complete("c-1", [fill])  # then the process died before publishing
    jr.close()

    first = EmbeddedCluster()
    async with Process(first, path):
        pass
    assert await statuses_on(first) == [fill]

    second = EmbeddedCluster()  # another restart: nothing left to send
    async with Process(second, path):
        pass
    assert await statuses_on(second) == []


async def test_a_command_delivered_again_is_answered_from_the_journal(tmp_path):
    path = tmp_path / "journal.sqlite3"
    cluster = EmbeddedCluster()
    async with Process(cluster, path) as desk:
        await desk.send(m.MARKET_DATA, book())
        await desk.send(m.ORDERS, entry())
        executed_first = [s.status for s in await statuses_on(cluster)]
        assert executed_first == ["filled", "accepted", "accepted"]  # the fill, then stop-loss and take-profit
        await desk.send(m.ORDERS, entry())  # the same command id again (a Fluvio re-delivery)
        again = await statuses_on(cluster)
        assert [s.status for s in again] == executed_first * 2  # the same outcome, published again
        assert desk.workers[0].paper.fills == 1  # but executed once
        assert desk.workers[0].outbox.redelivered == 1
    jr = Journal(path)
    assert jr.completions() == {"c-1": 1}
    jr.close()


async def test_positions_and_paper_account_come_back_from_the_journal(tmp_path):
    path = tmp_path / "journal.sqlite3"
    cluster = EmbeddedCluster()
    async with Process(cluster, path) as desk:
        await desk.send(m.MARKET_DATA, book())
        await desk.send(m.ORDERS, entry())
        wallet = desk.workers[0].paper.wallet

    # A new process: the router's book and the paper account are rebuilt from the journal.
    async with Process(EmbeddedCluster(), path, workers=(ExecutorWorker, RouterWorker)) as again:
        executor, router = again.workers
        pos = executor.paper.positions["BTCUSDT"]
        assert (pos.side, pos.quantity, pos.entry_price) == ("long", 0.01, 60_000.1)
        # The prices placed from the fill (60,000.1), not the plan at ref_price (58,200.0 / 63,600.0).
        assert pos.stop_loss.price == 58_200.1 and pos.take_profit.price == 63_600.1
        assert executor.paper.wallet == wallet
        held = router.core.portfolio.positions["BTCUSDT"]
        assert (held.side, held.quantity, held.stop_loss, held.take_profit) == ("long", 0.01, 58_200.1, 63_600.1)
        # The restored stop-loss still works: a trade through it closes the position.
        await again.send(
            m.MARKET_DATA,
            m.MarketData(
                symbol="BTCUSDT",
                kind="trade",
                price=58_000.0,
                volume=0.1,
                bid=57_999.9,
                ask=58_000.1,
                event_time=T0 + 1,
                recv_time=T0 + 1,
                ts=T0 + 1,
            ),
        )
        assert "BTCUSDT" not in executor.paper.positions


async def test_a_router_in_its_own_process_rebuilds_its_book_from_its_own_journal(tmp_path):
    """One worker per process: the router journals its commands and their fills itself."""
    from tui_trader.brokers.base import derived_id

    path = tmp_path / "router-journal.sqlite3"
    cluster = EmbeddedCluster()
    async with Process(cluster, path, workers=(RouterWorker,)) as desk:
        desk.ctx.durable = True
        await desk.send(
            m.MARKET_DATA,
            m.MarketData(
                symbol="BTCUSDT",
                kind="trade",
                price=60_000.0,
                volume=0.1,
                bid=59_999.9,
                ask=60_000.1,
                event_time=T0,
                recv_time=T0,
                ts=T0,
            ),
        )
        ind = m.Indicators(
            rsi=25,
            macd=1,
            macd_signal=0,
            macd_hist=1,
            bb_upper=61_000,
            bb_middle=60_500,
            bb_lower=59_990,
            sma_fast=2,
            sma_slow=1,
            ema_fast=2,
            ema_slow=1,
        )
        await desk.send(
            m.SIGNALS,
            m.TradingSignal(
                id="s-1",
                symbol="BTCUSDT",
                signal="StrongBuy",
                strength=1.0,
                buy_score=6,
                sell_score=0,
                reasons=[],
                indicators=ind,
                price=60_000.0,
                ts=T0,
            ),
        )
        [cmd] = [m.Decoder().decode(m.ORDERS, r.value) for r in cluster.topic(m.ORDERS).log]
        await desk.send(
            m.ORDER_STATUS,
            m.OrderStatus(
                order_id=cmd.id,
                symbol="BTCUSDT",
                side="buy",
                purpose="entry",
                status="filled",
                filled_qty=cmd.quantity,
                avg_price=60_000.1,
                fee=0.5,
                stop_loss_order_id=derived_id(cmd.id, "sl"),
                take_profit_order_id=derived_id(cmd.id, "tp"),
                mode="paper",
                ts=T0,
            ),
        )
    async with Process(EmbeddedCluster(), path, workers=(RouterWorker,)) as again:
        held = again.workers[0].core.portfolio.positions["BTCUSDT"]
        assert (held.side, held.quantity, held.entry_price) == ("long", cmd.quantity, 60_000.1)
        assert held.stop_loss == cmd.stop_loss and held.stop_loss_order_id == derived_id(cmd.id, "sl")
