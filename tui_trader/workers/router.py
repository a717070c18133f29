"""Router worker: the thin shell around `RouterCore`.

Five subscriptions, one task each: signals, market data (marks and price freshness; conflated when far
behind), order statuses (fills fold into the portfolio), controls, and the executor's account records
(live balance). Each handler calls the core with the desk's clock and only awaits publishing what it
returned, so in a lockstep replay every decision is the same at any speed.

The core lives on the worker, not in `run()`: when the runtime restarts a crashed `run()`, the positions,
counters and halted flag are kept, and the lossless topics resume after the last record handled.

The halted flag is written to the journal before the kill's close commands are published, and
read at start: a desk killed and restarted comes back halted.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from typing import Any

from tui_trader import halt
from tui_trader import messages as m
from tui_trader.brokers.base import derived_id
from tui_trader.bus.base import Start
from tui_trader.errors import BusError
from tui_trader.instruments import RulesBook
from tui_trader.journal import shared_journal
from tui_trader.portfolio.router_core import Output, RouterCore
from tui_trader.workers.base import Worker, WorkerContext

# Subscribed in this order, so controls and statuses are in place before the first signal can arrive.
TOPICS = (m.CONTROL, m.ORDER_STATUS, m.ACCOUNT, m.MARKET_DATA, m.SIGNALS)
# Read up to where they stood at start before any signal or price is acted on: a restarted router knows its
# fills, kill switch and balance first (otherwise a signal handled before the fill that preceded it would
# find no position and enter again).
STATE_TOPICS = (m.CONTROL, m.ORDER_STATUS, m.ACCOUNT)
WAITING_FOR_EXECUTOR = "waiting for an executor: no account record on the bus yet; signals are read once one comes"


class RouterWorker(Worker):
    name = "router"
    # Settings the router takes while running (the desk hands it a new Settings object on save); the rest
    # apply after a restart. Leverage and the mode are not here: they must not change under open positions.
    live_settings = frozenset(
        {
            "risk.*",
            "trading.min_signal_strength",
            "trading.risk_per_trade",
            "trading.max_position_size",
            "trading.stop_loss_pct",
            "trading.take_profit_pct",
        }
    )

    def __init__(self, ctx: WorkerContext) -> None:
        super().__init__(ctx)
        rules = ctx.shared.setdefault("instruments", RulesBook())
        self.journal = shared_journal(ctx)
        state = halt.load_from(self.journal)
        self.core = RouterCore(ctx.settings, rules, state, new_id=self.ids.new)
        if state.halted:
            self.log.warning("starting HALTED (kill switch %s): nothing new until re-armed", state.detail or "pulled")
        # Order ids of our commands and their protective orders (durable mode journals their statuses).
        self._ours: set[str] = set()
        if not ctx.replay_files:
            self._rebuild()
        self._handlers: dict[str, Callable[[Any, int], Output]] = {
            m.SIGNALS: self.core.on_signal,
            m.MARKET_DATA: self.core.on_market_data,
            m.ORDER_STATUS: self.core.on_status,
            m.CONTROL: self.core.on_control,
            m.ACCOUNT: self.core.on_account,
        }
        self._executor_seen = asyncio.Event()  # an executor's Account came: someone reads the orders
        self.published_commands = 0
        self.published_denials = 0

    def _rebuild(self) -> None:
        """Positions as the journal knows them: the executor journaled every command and fill before
        publishing it. (A replay rebuilds by replaying: its journaled fills come round again.)"""
        p = self.core.portfolio
        for cmd in self.journal.commands():
            p.on_command(cmd)
            self._ours.update(_order_ids(cmd))
        for st in self.journal.statuses():
            p.apply(st)
        if p.positions:
            self.log.info(
                "positions from the journal: %s",
                ", ".join(f"{pos.symbol} {pos.side} {pos.quantity:g}" for pos in p.positions.values()),
            )

    async def run(self) -> None:
        # Live, the lossless topics are pinned to their end offset, so a restarted run() reads on after the last
        # record handled; market data and health read from the end as it is then.
        starts = {topic: await self.start_of(topic, pinned=topic in m.LOSSLESS_TOPICS) for topic in TOPICS}
        if not self.ctx.durable:  # in one process the pipeline starts together (and a replay in lockstep)
            await self._announce()
            async with asyncio.TaskGroup() as tg:
                for topic, start in starts.items():
                    tg.create_task(self._pump(topic, start), name=f"router:{topic}")
            return
        async with asyncio.TaskGroup() as tg:
            ready = {topic: asyncio.Event() for topic in TOPICS}
            for topic in STATE_TOPICS:
                tg.create_task(self._pump(topic, starts[topic], ready[topic]), name=f"router:{topic}")
            await _all_set(ready[t] for t in STATE_TOPICS)
            await self._wait_for_an_executor()
            for topic in TOPICS:
                if topic not in STATE_TOPICS:
                    tg.create_task(self._pump(topic, starts[topic], ready[topic]), name=f"router:{topic}")
            await _all_set(ready.values())
            # Announced once it listens to everything: whoever waits for the router may publish now.
            await self._announce()

    async def _wait_for_an_executor(self) -> None:
        """Workers start in any order: a router with no executor behind it would send orders nobody reads.
        Until an executor has published an Account on this bus (it does on its first price, or at once when
        live), the router says so and reads no signals."""
        if self._executor_seen.is_set():
            return
        try:
            if await self.ctx.bus.end_offset(self.ctx.topic(m.ACCOUNT)) > 0:
                return
        except (BusError, NotImplementedError):
            return
        self.log.warning("%s", WAITING_FOR_EXECUTOR)
        await self.health(
            m.ROUTER_COMPONENT, "waiting", WAITING_FOR_EXECUTOR, counters=self.counters(), halt=self.core.halt_state
        )
        await self._executor_seen.wait()

    async def _pump(self, topic: str, start: Start, ready: asyncio.Event | None = None) -> None:
        handler = self._handlers[topic]
        lossless = topic in m.LOSSLESS_TOPICS
        now_ms = self.ctx.clock.now_ms
        # Market data only marks positions and dates the last price: when records pile up (a replay
        # running free, a burst) the latest per symbol is enough.
        market = topic == m.MARKET_DATA
        latest = (lambda: True) if market else None
        async for record, msg in self.consume(topic, start, conflate=market, latest_only=latest, ready=ready):
            if topic == m.ACCOUNT:
                self._executor_seen.set()
            if lossless:
                # Past this record even if handling it fails: a record that crashes the router must not
                # crash it again after the restart.
                self.handled(topic, record)
            # One worker per process: no executor shares this journal, so the router journals the fills of its
            # orders itself, to rebuild its book after a restart.
            if (
                self.ctx.durable
                and topic == m.ORDER_STATUS
                and msg.order_id in self._ours
                and not self.journal.has_status(msg)
            ):
                self.journal.complete(None, [msg])
            if self.ctx.settings is not self.core.settings:
                self.core.apply_settings(self.ctx.settings)
            out = handler(msg, now_ms())
            if out.commands or out.denials or out.state_changed or out.persist is not None:
                await self._emit(out)

    async def _emit(self, out: Output) -> None:
        if out.persist is not None:
            try:
                halt.save_to(self.journal, out.persist)
            except (OSError, sqlite3.Error) as err:
                # The kill still goes out; only its survival across a restart is lost, and said so.
                self.log.error(
                    "cannot write the halt state to %s: %s (halted=%s not persisted)",
                    self.journal.path,
                    err,
                    out.persist.halted,
                )
        for cmd in out.commands:
            if self.ctx.durable:
                self.journal.record_command(cmd)
                self._ours.update(_order_ids(cmd))
            await self.publish(m.ORDERS, cmd.symbol, cmd)
            self.published_commands += 1
        for denial in out.denials:
            await self.publish(m.ORDER_STATUS, denial.symbol, denial)
            self.published_denials += 1
        if out.state_changed:
            await self._announce()

    async def _announce(self) -> None:
        # The one published truth about paused and halted: the desk and the notifier show this record.
        state, detail = self.core.state()
        await self.health(m.ROUTER_COMPONENT, state, detail, counters=self.counters(), halt=self.core.halt_state)

    # --- figures ------------------------------------------------------------------------------------------

    def counters(self) -> dict[str, int]:
        c = self.core
        out = super().counters()
        out.update(
            signals=c.signals,
            entries=c.entries,
            closes=sum(c.closes.values()),
            denied=sum(c.denials.values()),
            fills=c.fills,
            open_positions=len(c.portfolio.positions),
            foreign_market_data=c.foreign_market_data,
            refused_statuses=c.portfolio.refused_statuses,
        )
        out.update({f"denied:{rule}": n for rule, n in sorted(c.denials.items())})
        return out

    def summary(self) -> dict[str, Any]:
        c = self.core
        p = c.portfolio
        state, detail = c.state()
        return {
            **self.counters(),
            "closes_by_purpose": dict(sorted(c.closes.items())),
            "denials": dict(sorted(c.denials.items())),
            "positions_opened": c.opened,
            "positions_closed_by": dict(sorted(c.exits.items())),
            "unanswered_orders": c.unanswered,
            "positions": {
                sym: {
                    "side": pos.side,
                    "quantity": pos.quantity,
                    "entry_price": pos.entry_price,
                    "mark_price": pos.mark_price,
                    "unrealized_pnl": round(pos.unrealized_pnl, 6),
                }
                for sym, pos in sorted(p.positions.items())
            },
            "realized_pnl": round(p.realized_pnl, 6),
            "fees": round(p.fees, 6),
            "unrealized_pnl": round(p.unrealized_pnl(), 6),
            "equity": round(p.equity(), 6),
            "mode": c.mode,
            "state": state,
            "state_detail": detail,
        }


async def _all_set(events) -> None:
    for event in list(events):
        await event.wait()


def _order_ids(cmd: m.OrderCommand) -> tuple[str, ...]:
    """The command's own id and those of the protective orders the broker derives from it."""
    return (cmd.id, derived_id(cmd.id, "sl"), derived_id(cmd.id, "tp"), derived_id(cmd.id, "close"))
