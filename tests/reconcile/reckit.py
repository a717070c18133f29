"""Helpers for the reconciliation tests (and the tmux demo): settings for a mock exchange, an executor on its
own embedded bus over a journal file, and the scenario the tests start from:

1. a first desk session opens BTCUSDT long 0.01 live, protected by a stop-loss at 58,200 and a take-profit at
   63,600 (journaled by the executor);
2. while the desk is down, someone cancels BTCUSDT's protective orders on the exchange, buys ETHUSDT 0.5 by
   hand, and leaves a reduce-only stop on SOLUSDT, where nothing is held.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from kit import until

from tui_trader import messages as m
from tui_trader import reconcile as rc
from tui_trader.bus import EmbeddedBus
from tui_trader.bus.base import Start
from tui_trader.clock import Clock
from tui_trader.instruments import RulesBook
from tui_trader.journal import Journal
from tui_trader.settings import Secrets, Settings, parse, to_dict
from tui_trader.workers.base import WorkerContext
from tui_trader.workers.executor import ExecutorWorker
from tui_trader.workers.router import RouterWorker

SECRETS = Secrets(api_key="TESTKEY-0123456789abcdef", api_secret="TESTSECRET-fedcba9876543210")
SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
BTC_STOP, BTC_TARGET = 58_200.0, 63_600.0
SOL_STOP_ID = "by-hand-sol-stop"


def live_settings(url: str, journal: Path | str, **exchange: Any) -> Settings:
    data = to_dict(Settings())
    data["trading"].update(paper_trading=False, symbols=SYMBOLS)
    data["exchange"].update({"api_base_url": url, "poll_s": 0.05, "timeout_ms": 500, **exchange})
    data["journal"]["path"] = str(journal)
    return parse(data)


def set_keys(env) -> None:
    """API keys for the executor (it reads them from the environment): `env` is monkeypatch or os.environ."""
    setter = getattr(env, "setenv", None) or env.__setitem__
    setter("TUI_TRADER_API_KEY", SECRETS.api_key)
    setter("TUI_TRADER_API_SECRET", SECRETS.api_secret)


def entry(
    symbol: str = "BTCUSDT",
    qty: float = 0.01,
    stop: float | None = BTC_STOP,
    target: float | None = BTC_TARGET,
    price: float = 60_000.0,
) -> m.OrderCommand:
    return m.OrderCommand(
        id=m.new_id(),
        symbol=symbol,
        side="buy",
        quantity=qty,
        ref_price=price,
        stop_loss=stop,
        take_profit=target,
        leverage=10,
        purpose="entry",
        mode="live",
        ts=Clock().now_ms(),
    )


class Desk:
    """One desk process: an executor on a fresh embedded bus over a journal file that outlives it, with taps
    on order statuses and health records."""

    def __init__(self, settings: Settings, *, interactive: bool = False, router: bool = False) -> None:
        self.bus = EmbeddedBus()
        self.journal = Journal(settings.journal.path)
        shared: dict[str, Any] = {"instruments": RulesBook(), "journal": self.journal}
        if interactive:
            shared["interactive"] = True
        self.ctx = WorkerContext(settings=settings, bus=self.bus, clock=Clock(), shared=shared)
        self.worker = ExecutorWorker(self.ctx)
        # The router of the same process (it rebuilds its book from the journal when built, as at a start).
        self.router = RouterWorker(self.ctx) if router else None
        self.statuses: list[m.OrderStatus] = []
        self.health: list[m.Health] = []
        self.accounts: list[m.Account] = []
        self._tasks: list[asyncio.Task] = []

    async def __aenter__(self) -> Desk:
        await self.bus.create_topics(m.TOPICS)
        for topic, sink, cls in (
            (m.ORDER_STATUS, self.statuses, m.OrderStatus),
            (m.HEALTH, self.health, m.Health),
            (m.ACCOUNT, self.accounts, m.Account),
        ):
            sub = await self.bus.subscribe(topic, Start.BEGINNING, tracked=False)
            self._tasks.append(asyncio.create_task(self._tap(sub, sink, cls)))
        if self.router is not None:  # started first, as the runtime does
            self._tasks.append(asyncio.create_task(self.router.run()))
            status_topic = self.bus.cluster.topic(m.ORDER_STATUS)
            await until(lambda: len(status_topic.subs) >= 2, "the router to subscribe")
        self._tasks.append(asyncio.create_task(self.worker.run()))
        topics = [self.bus.cluster.topic(t) for t in (m.ORDERS, m.CONTROL)]
        await until(lambda: all(t.subs for t in topics), "the executor to subscribe")
        return self

    async def __aexit__(self, *exc) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.bus.close()
        self.journal.close()

    async def _tap(self, sub, sink, cls) -> None:
        decoder = m.decoder_for(cls)
        async for rec in sub:
            sink.append(decoder.decode(rec.value))

    # --- what the desk sees ----------------------------------------------------------------------------
    def reconcile_states(self) -> list[str]:
        return [h.state for h in self.health if h.component == "reconcile"]

    def reconcile_done(self) -> bool:
        return "done" in self.reconcile_states()

    def question(self) -> m.ReconcileQuestion | None:
        asked = [h for h in self.health if h.component == m.RECONCILE_COMPONENT and h.state == "waiting"]
        return asked[-1].question if asked else None

    def done_detail(self) -> str:
        return next(h.detail for h in self.health if h.component == "reconcile" and h.state == "done")

    def of(self, order_id: str) -> list[tuple[str, str]]:
        return [(s.purpose, s.status) for s in self.statuses if s.order_id == order_id]

    # --- what the desk does ----------------------------------------------------------------------------
    async def send(self, cmd: m.OrderCommand) -> None:
        """The command, after a trade at its reference price (a live entry needs a fresh price in the band)."""
        now = self.ctx.clock.now_ms()
        trade = m.MarketData(
            symbol=cmd.symbol, kind="trade", price=cmd.ref_price, volume=0.1, event_time=now, recv_time=now, ts=now
        )
        await self.bus.publish(m.MARKET_DATA, cmd.symbol, m.encode(trade))
        await until(lambda: cmd.symbol in self.worker._last_trade, "the executor to see the price")
        await self.bus.publish(m.ORDERS, cmd.symbol, m.encode(cmd))

    async def answer(self, round_id: str, choices: dict[str, str]) -> None:
        c = m.Control(
            command="reconcile",
            answer=m.ReconcileAnswer(round=round_id, choices=choices),
            origin="desk",
            ts=self.ctx.clock.now_ms(),
        )
        await self.bus.publish(m.CONTROL, "desk", m.encode(c))

    async def control(self, command: str) -> None:
        c = m.Control(command=command, origin="desk", ts=self.ctx.clock.now_ms())
        await self.bus.publish(m.CONTROL, "desk", m.encode(c))


async def first_session(url: str, journal: Path | str) -> m.OrderCommand:
    """A desk that opens BTCUSDT long 0.01 with its stop-loss and take-profit, then stops."""
    async with Desk(live_settings(url, journal)) as desk:
        await until(desk.reconcile_done, "the first session's reconciliation")
        cmd = entry()
        await desk.send(cmd)
        await until(lambda: len(desk.of(cmd.id)) == 1 and len(desk.statuses) >= 3, "the entry and its protection")
        assert [(s.purpose, s.status) for s in desk.statuses] == [
            ("entry", "filled"),
            ("stop_loss", "accepted"),
            ("take_profit", "accepted"),
        ]
        return cmd


async def outside_changes(url: str) -> None:
    """What happens on the exchange while the desk is down (through the real ccxt client, as a person would)."""
    from tui_trader.exchange import create_exchange

    ex = create_exchange(live_settings(url, ":memory:").exchange, SECRETS, enableRateLimit=False)
    try:
        await ex.load_markets()
        await ex.cancel_all_orders("BTC/USDT:USDT", {"trigger": True})
        await ex.create_order("ETH/USDT:USDT", "market", "buy", 0.5, None, {"clientOrderId": "by-hand-eth"})
        await ex.create_order(
            "SOL/USDT:USDT",
            "market",
            "sell",
            2,
            None,
            {"stopLossPrice": 140.0, "reduceOnly": True, "clientOrderId": SOL_STOP_ID},
        )
    finally:
        await ex.close()


def journal_book(journal_path: Path | str) -> dict[str, rc.JournalPosition]:
    """The live positions the journal file holds now (what a restarted router would trade against)."""
    jr = Journal(journal_path)
    try:
        return rc.journal_positions(jr.commands(), jr.statuses())
    finally:
        jr.close()
