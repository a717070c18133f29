"""Executor worker: order commands in, every outcome out as an OrderStatus; the broker's account published.

Consumes `trading-orders` (commands), `trading-control` (the kill switch) and `trading-market-data` (the
paper broker's book, protective triggers and liquidations). Commands with mode "paper" go to the paper broker,
"live" ones to the ccxt broker, which is created only when settings say live or a live command arrives, and
only with API keys (without them a live command is rejected with the reason).

Determinism: paper commands and market data are handled inline, without awaiting anything but the bus, so
in a lockstep replay a command is priced from the book as of its event time and triggers fire in trade order.
Live commands queue for one task (network round-trips must not hold up market data) and run one at a time,
in order; on a kill, queued entries created before the kill are dropped ("kill: dropped after kill switch")
and closes still run. A command whose placement was ambiguous steps aside while the broker looks its outcome
up (until the request's window has passed, ~11 s): the queue moves on with the other symbols' commands, and
that symbol's own commands wait until it is settled.

`Account` records (topic `trading-account`) go out after each fill and every `exchange.account_poll_s` of
clock time (paper: computed; live: the exchange's balance and positions, polled).

Reconciliation (not in a replay): when the ccxt broker starts, before it executes anything, the journal's
live positions are compared with the exchange's; with a desk attached (`ctx.shared["interactive"]`) it is
asked (executor_reconcile.py). Until then live commands stay queued; a kill meanwhile answers "flatten".

This module is the shell: it consumes the topics and routes each command. Its parts, one job each: the live
command queue (executor_queue.py), the live broker's lifecycle (executor_live.py), the reconciliation question
and answer (executor_reconcile.py), the journal-then-publish outbox and idempotency (executor_outbox.py), and
the Account records and account polling (executor_account.py).
"""

from __future__ import annotations

import asyncio
import math
from typing import TYPE_CHECKING, Any

from tui_trader import messages as m
from tui_trader.brokers.base import Report, rejected
from tui_trader.brokers.paper import PaperBroker
from tui_trader.bus.base import Start
from tui_trader.instruments import RulesBook
from tui_trader.journal import shared_journal
from tui_trader.workers.base import Worker, WorkerContext
from tui_trader.workers.executor_account import Accounts
from tui_trader.workers.executor_live import LiveLifecycle, poll_protection
from tui_trader.workers.executor_outbox import Outbox
from tui_trader.workers.executor_queue import LiveQueue
from tui_trader.workers.executor_reconcile import ReconcileExchange

if TYPE_CHECKING:
    from tui_trader.brokers.ccxt_broker import CcxtBroker
    from tui_trader.workers.watchdog import Watchdog

KILL_DROP = "kill: dropped after kill switch"


class ExecutorWorker(Worker):
    name = "executor"

    def __init__(self, ctx: WorkerContext) -> None:
        super().__init__(ctx)
        self.settings = ctx.settings
        # The instrument rules (tick, step, minimums) every order is sized and rounded by, shared with the router.
        self.rules: RulesBook = ctx.shared.setdefault("instruments", RulesBook())
        self.paper = PaperBroker(ctx.settings.paper, self.rules, ctx.settings.risk)
        # The acting mode: the broker new entries go to. Only the executor changes it (a desk's set_mode is a
        # request, checked here); it goes out as Health "mode" and as the acting Account after every request.
        self.mode: m.Mode = "paper" if ctx.settings.trading.paper_trading else "live"
        self._mode_lock = asyncio.Lock()
        self._mode_refusal = ""
        # Last good trade per symbol (price, event time): live entries need a fresh price inside the band.
        self._last_trade: dict[str, tuple[float, int]] = {}
        self.watchdog: Watchdog | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        # Not the halted state (the router owns it, publishes it and the journal keeps it): the time of the last
        # kill Control, so that entries created before it that are still on their way are dropped, not sent.
        self._kill_cutoff: int | None = None
        self.commands = 0
        self.journal = shared_journal(ctx)
        self._recovered = False
        now_ms = ctx.clock.now_ms
        self.outbox = Outbox(self.journal, self._publish_status, now_ms, replay=self._replaying, log=self.log)
        self.accounts = Accounts(
            ctx.settings,
            publish=self._publish_account_record,
            health=self.health,
            acting=lambda: self.mode,
            now_ms=now_ms,
            log=self.log,
        )
        self.reconciling = ReconcileExchange(
            ctx.settings,
            self.journal,
            interactive=lambda: bool(ctx.shared.get("interactive")),
            health=self.health,
            publish=self._publish_status,
            new_id=self.ids.new,
            now_ms=now_ms,
            log=self.log,
        )
        self.queue = LiveQueue(self.log)
        self.lifecycle = LiveLifecycle(
            ctx.settings,
            self.rules,
            replay=self._replaying,
            health=self.health,
            on_settling=self.queue.stepped_aside,
            at_risk=lambda broker: self.accounts.at_risk(broker, self.journal),
            reconcile=self.reconciling.run,
            started=self._live_started,
        )

    def _replaying(self) -> bool:
        return bool(self.ctx.replay_files)

    @property
    def live(self) -> CcxtBroker | None:
        """The live broker once started (None before, or when it cannot be)."""
        return self.lifecycle.broker

    @property
    def reconciled(self) -> list[str]:
        return self.reconciling.reconciled

    # --- the shell ------------------------------------------------------------------------------------
    async def run(self) -> None:
        if not self._recovered:
            await self.outbox.recover(self.paper, self.lifecycle.sent)
            self._recovered = True
        # Every topic pinned: after a restart of run() no command runs twice and no old price reaches the paper
        # broker again.
        starts = {topic: await self.start_of(topic) for topic in (m.ORDERS, m.CONTROL, m.MARKET_DATA)}
        # One worker per process: commands, controls and prices are listened to before the executor announces
        # its mode, so no command sent on that word is lost.
        durable = self.ctx.durable
        listening = [asyncio.Event(), asyncio.Event(), asyncio.Event()] if durable else [None, None, None]
        if self.settings.trading.paper_trading and self.live is None and not durable:
            await self._announce_mode()
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._consume_orders(starts[m.ORDERS], listening[0]))
                tg.create_task(self._consume_control(starts[m.CONTROL], listening[1]))
                tg.create_task(self._consume_market(starts[m.MARKET_DATA], listening[2]))
                if durable:
                    for event in listening:
                        assert event is not None
                        await event.wait()
                    if self.settings.trading.paper_trading and self.live is None:
                        await self._announce_mode()
                tg.create_task(self.queue.run(self._live_one))
                if not self.settings.trading.paper_trading and self.live is None:
                    tg.create_task(self._switch("live"))
                elif not self.ctx.replay_files and any(s not in self.rules for s in self.settings.trading.symbols):
                    tg.create_task(self._load_public_rules())
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            self._tasks.clear()
            await self.queue.cancel()
            await self.lifecycle.close()

    async def _consume_orders(self, start: Start, ready: asyncio.Event | None = None) -> None:
        async for rec, cmd in self.consume(m.ORDERS, start, ready=ready):
            self.handled(m.ORDERS, rec)
            self.commands += 1
            refusal = self._refusal(cmd)
            if refusal is not None:
                await self._publish([rejected(cmd, refusal)], cmd.mode, cmd)
                continue
            if cmd.mode == "live":
                if _is_entry(cmd) and self.queue.full:
                    refused = (
                        f"queue_full: {len(self.queue)} live orders wait already; entry refused (closes still queue)"
                    )
                    await self._publish([rejected(cmd, refused)], "live", cmd)
                    continue
                self.queue.add(cmd)
                continue
            if self._killed(cmd):
                await self._publish([_drop(cmd)], "paper", cmd)
                continue
            if await self.outbox.already_executed(cmd, "paper", self.paper):
                continue
            try:
                reports = await self.paper.execute(cmd)
            except Exception as err:  # one bad command must not be skipped silently nor stop the ones after it
                self.log.exception("paper command %s failed", cmd.id)
                reports = [_failed(cmd, err)]
            await self._publish(reports, "paper", cmd, executed=True)

    def _refusal(self, cmd: m.OrderCommand) -> str | None:
        """Why a command is not executed at all, or None. Only `trading.symbols` trade; reduce-only orders on
        any symbol still run (a kill or flatten must be able to take off whatever is open)."""
        if _is_entry(cmd) and cmd.symbol not in self.settings.trading.symbols:
            return f"symbol_not_traded: {cmd.symbol} is not in trading.symbols ({', '.join(self.settings.trading.symbols)})"
        return None

    def _price_problem(self, cmd: m.OrderCommand) -> str | None:
        """A live entry needs a fresh last trade (younger than risk.stale_after_s on the executor's clock) and a
        reference price within risk.price_band_pct of it."""
        risk = self.settings.risk
        last = self._last_trade.get(cmd.symbol)
        if last is None:
            return f"stale_price: no trade of {cmd.symbol} seen yet; live entry refused"
        price, at = last
        age_s = (self.ctx.clock.now_ms() - at) / 1000
        if age_s > risk.stale_after_s:
            return f"stale_price: the last {cmd.symbol} trade is {age_s:.1f} s old (limit {risk.stale_after_s:g} s)"
        if not math.isfinite(cmd.ref_price) or abs(cmd.ref_price - price) > price * risk.price_band_pct:
            return (
                f"price_band: reference price {cmd.ref_price:g} is more than {risk.price_band_pct:.2%} away from "
                f"the last trade {price:g}"
            )
        return None

    async def _consume_control(self, start: Start, ready: asyncio.Event | None = None) -> None:
        async for rec, ctl in self.consume(m.CONTROL, start, ready=ready):
            self.handled(m.CONTROL, rec)
            if ctl.command == "reconcile":
                self.reconciling.answered(ctl)
                continue
            if ctl.command == "set_mode":
                # A switch to live may wait on the exchange and on the desk's reconciliation answer: the kill
                # switch must still get through meanwhile.
                self._spawn(self._switch(ctl.arg or ""))
                continue
            if ctl.command != "kill":
                continue
            self.reconciling.killed()
            self._kill_cutoff = ctl.ts if self._kill_cutoff is None else max(self._kill_cutoff, ctl.ts)
            dropped = self.queue.drop(self._killed)
            if dropped:
                self.log.warning("kill switch: %d queued live entries dropped", len(dropped))
                for c in dropped:
                    await self._publish([_drop(c)], "live", c)

    async def _consume_market(self, start: Start, ready: asyncio.Event | None = None) -> None:
        # With no paper position open there is no trigger to check against every trade: when records pile
        # up, the latest book and trade per symbol are all a fill needs.
        async for rec, md in self.consume(m.MARKET_DATA, start, latest_only=self._nothing_to_watch, ready=ready):
            self.handled(m.MARKET_DATA, rec)
            if (
                md.kind == "trade"
                and math.isfinite(md.price)
                and md.price > 0
                and md.symbol in self.settings.trading.symbols
            ):
                self._last_trade[md.symbol] = (md.price, md.event_time)
            reports = self.paper.on_market(md)
            for when, symbol, amount in self.paper.take_settlements():
                # Journaled on their own, apart from fees: the results charge them to the trip open then.
                self.journal.record_funding(when, "paper", symbol, amount)
            if reports:
                await self._publish(reports, "paper")
            if self._paper_in_use() and self.accounts.paper_due():
                await self.accounts.publish("paper", self.paper.account_now())

    def _nothing_to_watch(self) -> bool:
        return not self.paper.positions

    def _killed(self, cmd: m.OrderCommand) -> bool:
        """An entry created at or before the last kill (the kill switch acts on what was already sent too)."""
        return _is_entry(cmd) and self._kill_cutoff is not None and cmd.ts <= self._kill_cutoff

    def _paper_in_use(self) -> bool:
        return self.mode == "paper" or self.outbox.fills["paper"] > 0 or bool(self.paper.positions)

    # --- live -------------------------------------------------------------------------------------------
    async def _live_one(self, cmd: m.OrderCommand) -> None:
        """One live command: the checks at the time it runs, then the broker, then its outcome published."""
        if self._killed(cmd):
            await self._publish([_drop(cmd)], "live", cmd)
            return
        if _is_entry(cmd):
            async with self._mode_lock:  # a switch under way decides first
                pass
            problem = (
                f"mode: the executor acts {self.mode}; live is not acknowledged"
                if self.mode != "live"
                else self._price_problem(cmd)
            )
            if problem is not None:
                await self._publish([rejected(cmd, problem)], "live", cmd)
                return
        if await self.outbox.already_executed(cmd, "live", self.paper):
            return
        broker = await self.lifecycle.ensure()
        if broker is None:
            await self._publish([rejected(cmd, self.lifecycle.reason)], "live", cmd)
            return
        if self._killed(cmd):  # the kill came while the broker started (or the desk was asked)
            await self._publish([_drop(cmd)], "live", cmd)
            return
        try:
            reports = await broker.execute(cmd)
        except Exception as err:  # a broker bug must not take every later command down with it
            self.log.exception("live command %s failed", cmd.id)
            reports = [_failed(cmd, err)]
        await self._publish(reports, "live", cmd)

    def _live_started(self, broker: CcxtBroker) -> None:
        """The live broker is up: its protective orders are polled, the venue watched."""
        from tui_trader.workers.watchdog import Watchdog

        self.watchdog = Watchdog(
            self.settings,
            self.journal,
            broker,
            self.reconciling.reconciler(broker),
            now_ms=self.ctx.clock.now_ms,
            publish=self._publish_status,
            health=self.health,
        )
        self.watchdog.left = set(self.reconciling.left)
        self._spawn(poll_protection(broker, self.settings.exchange.poll_s, self._publish_live, self.log))
        self._spawn(self.accounts.watch(broker, self.watchdog))

    async def _publish_live(self, reports: list[Report]) -> None:
        await self._publish(reports, "live")

    # --- the acting mode ------------------------------------------------------------------------------------
    async def _switch(self, want: str) -> None:
        """A requested mode (settings at start, or a desk's set_mode): checked, then acknowledged or refused.
        Either way the mode Health and the acting broker's Account go out, so everyone follows the truth."""
        async with self._mode_lock:
            reason = ""
            if want not in ("paper", "live"):
                reason = f"set_mode needs 'paper' or 'live', got {want!r}"
            elif (
                want == "live" and (self.mode != "live" or self.live is None) and await self.lifecycle.ensure() is None
            ):
                reason = self.lifecycle.reason
                self.mode = "paper"  # a live start that cannot go live trades nothing live
            if reason:
                self.log.warning("mode stays %s: %s", self.mode, reason)
            elif want != self.mode:
                self.mode = "live" if want == "live" else "paper"
                self.log.warning("acting mode is now %s", self.mode)
            self._mode_refusal = reason
            await self._announce_mode()

    async def _announce_mode(self) -> None:
        await self.health(m.MODE_COMPONENT, self.mode, self._mode_refusal)
        if self.mode == "live" and self.live is not None:
            await self.accounts.live_once(self.live)
        else:
            await self.accounts.publish("paper", self.paper.account_now())

    async def _load_public_rules(self) -> None:
        """Paper trading a symbol outside the built-in table: its rules from the exchange's public markets.

        Never in a replay (a network answer must not change what a replay does); without an answer the
        symbol stays unknown and its entries are refused with that reason."""
        from tui_trader.brokers.venues import rules_from_market  # ccxt loads only when needed
        from tui_trader.exchange import create_exchange, unified_symbol

        missing = [s for s in self.settings.trading.symbols if s not in self.rules]
        ex = create_exchange(self.settings.exchange)
        try:
            await ex.load_markets()
            found = {
                s: rules_from_market(s, ex.market(unified_symbol(s)))
                for s in missing
                if unified_symbol(s) in ex.markets
            }
        except Exception as err:  # noqa: BLE001 - no network is normal for a paper desk: say so once, keep trading the rest
            self.log.warning("instrument rules for %s not loaded: %s", ", ".join(missing), type(err).__name__)
            return
        finally:
            await ex.close()
        self.rules.update(found)
        self.log.info(
            "instrument rules loaded from %s for %s", self.settings.exchange.name, ", ".join(sorted(found)) or "none"
        )

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- publishing -------------------------------------------------------------------------------------
    async def _publish(
        self, reports: list[Report], mode: m.Mode, cmd: m.OrderCommand | None = None, *, executed: bool = False
    ) -> None:
        await self.outbox.publish(reports, mode, cmd, executed=executed)
        if mode == "live" and any(r.is_fill or r.status == "canceled" for r in reports):
            self.accounts.recheck.set()  # the watchdog and the Account look at the venue again now
        if mode == "paper" and any(r.is_fill for r in reports):
            await self.accounts.publish("paper", self.paper.account_now())

    async def _publish_status(self, st: m.OrderStatus) -> None:
        await self.publish(m.ORDER_STATUS, st.symbol, st)

    async def _publish_account_record(self, msg: m.Account) -> None:
        await self.publish(m.ACCOUNT, msg.mode, msg)

    def summary(self) -> dict[str, Any]:
        ob = self.outbox
        out: dict[str, Any] = dict(self.counters())
        out.update(
            commands=self.commands,
            redelivered=ob.redelivered,
            statuses=dict(sorted(ob.statuses.items())),
            fills=sum(ob.fills.values()),
            fees=round(sum(ob.fees.values()), 6),
            rejects=dict(sorted(ob.rejects.items())),
            paper={
                "fills": ob.fills["paper"],
                "fees": round(ob.fees["paper"], 6),
                "balance": round(self.paper.wallet, 6),
                "equity": round(self.paper.equity(), 6),
                "open_positions": len(self.paper.positions),
            },
        )
        live_balance = self.accounts.live_balance
        if self.live is not None or ob.fills["live"]:
            out["live"] = {
                "exchange": self.settings.exchange.name,
                "fills": ob.fills["live"],
                "fees": round(ob.fees["live"], 6),
                "balance": live_balance,
            }
        if self.reconciled:
            out["reconciled"] = list(self.reconciled)
        out["mode"] = self.mode
        if self._mode_refusal:
            out["mode_refused"] = self._mode_refusal
        if self.watchdog is not None and self.watchdog.actions:
            out["watchdog"] = list(self.watchdog.actions)
        out["final_balance"] = round(self.paper.wallet, 6) if self.settings.trading.paper_trading else live_balance
        return out


def _is_entry(cmd: m.OrderCommand) -> bool:
    return cmd.purpose == "entry" and not cmd.reduce_only


def _failed(cmd: m.OrderCommand, err: BaseException) -> Report:
    return Report(
        order_id=cmd.id,
        symbol=cmd.symbol,
        side=cmd.side,
        purpose=cmd.purpose,
        status="error",
        error=f"error: handling the command failed ({type(err).__name__}); check {cmd.symbol} before trading it again",
    )


def _drop(cmd: m.OrderCommand) -> Report:
    return Report(
        order_id=cmd.id, symbol=cmd.symbol, side=cmd.side, purpose=cmd.purpose, status="rejected", error=KILL_DROP
    )
