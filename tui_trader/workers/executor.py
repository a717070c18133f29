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
live positions are compared with the exchange's positions and open conditional orders (`tui_trader.reconcile`).
With no one to ask (`ctx.shared["interactive"]` falsy) the settings' policy decides; with a desk attached the
differences go out as a `Health` record (component "reconcile", state "waiting", detail = the request JSON,
re-announced every few seconds) and the executor waits for a `Control(command="reconcile", arg=answer JSON)`
of the same round. Until then live commands stay queued; a kill meanwhile answers "flatten" for everything.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import math
from typing import Any

from tui_trader import messages as m
from tui_trader import reconcile as rc
from tui_trader.brokers.base import AccountView, Broker, Report, rejected
from tui_trader.brokers.paper import PaperBroker
from tui_trader.bus.base import Start
from tui_trader.errors import BusError, TuiTraderError
from tui_trader.instruments import RulesBook
from tui_trader.journal import shared_journal
from tui_trader.settings import load_secrets
from tui_trader.workers.base import Worker

KILL_DROP = "kill: dropped after kill switch"
REASK_S = 5.0  # while the desk has not answered, the question is published again this often (a desk attaching late)
# The live queue's bound. When full, new entries are refused with a reason (they would be stale by the time
# they ran); closes, flattens and kills always queue: they only take risk off.
MAX_LIVE_QUEUE = 64
REPLAY_LIVE = "replay: live trading is refused in a replay (orders would be priced from recorded data); paper only"


class ExecutorWorker(Worker):
    name = "executor"

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.settings = ctx.settings
        self.book: RulesBook = ctx.shared.setdefault("instruments", RulesBook())
        self.paper = PaperBroker(ctx.settings.paper, self.book, ctx.settings.risk)
        self.live: Broker | None = None
        self._live_reason = ""
        # The acting mode: the broker new entries go to. Only the executor changes it (a desk's set_mode is a
        # request, checked here); it goes out as Health "mode" and as the acting Account after every request.
        self.mode: m.Mode = "paper" if ctx.settings.trading.paper_trading else "live"
        self._mode_lock = asyncio.Lock()
        self._mode_refusal = ""
        # Last good trade per symbol (price, event time): live entries need a fresh price inside the band.
        self._last_trade: dict[str, tuple[float, int]] = {}
        self._recheck = asyncio.Event()  # a live fill or cancel: the watchdog looks again at once
        self.watchdog: Any = None
        self._left: set[str] = set()  # reconciliation differences the trader chose to leave alone
        self._paper_alarm: tuple[str, str] | None = None
        self._live_lock = asyncio.Lock()
        self._queue: collections.deque[m.OrderCommand] = collections.deque()
        self._queued = asyncio.Event()
        self._running: dict[str, asyncio.Task[None]] = {}  # symbol → its live command under way
        self._aside = asyncio.Event()  # the running command's placement is being looked up: move on
        self._awaited = ""  # the symbol of the command the queue waits on
        self._tasks: set[asyncio.Task[None]] = set()
        self.killed_at: int | None = None
        self.commands = 0
        self.statuses: collections.Counter[str] = collections.Counter()
        self.rejects: collections.Counter[str] = collections.Counter()
        self.fills: collections.Counter[str] = collections.Counter()
        self.fees: dict[str, float] = {"paper": 0.0, "live": 0.0}
        self.live_balance: float | None = None
        self._account_at: dict[str, int] = {}
        self._resume: dict[str, int] = {}  # topic → offset to read on from after a restart of run()
        # Client ids sent to the exchange, kept across broker re-creations (a restart of run()); seeded from
        # the journal at start, so no command id reaches the exchange twice across processes either.
        self._live_sent: set[str] = set()
        self.journal = shared_journal(ctx)
        self.redelivered = 0  # commands seen again that the journal says were executed already
        self._recovered = False
        # The reconciliation question the desk has not answered yet: (round id, differences, answer future).
        self._question: tuple[str, list[rc.Difference], asyncio.Future[dict[str, rc.Action]]] | None = None
        self.reconciled: list[str] = []  # what the last reconciliation did, one line per difference

    # --- the shell ------------------------------------------------------------------------------------
    async def run(self) -> None:
        if not self._recovered:
            await self._recover()
            self._recovered = True
        starts = {topic: await self._start(topic) for topic in (m.ORDERS, m.CONTROL, m.MARKET_DATA)}
        # One worker per process: commands, controls and prices are listened to before the executor announces
        # its mode, so no command sent on that word is lost.
        listening = [asyncio.Event(), asyncio.Event(), asyncio.Event()] if self.ctx.durable else [None, None, None]
        if self.settings.trading.paper_trading and self.live is None and not self.ctx.durable:
            await self._announce_mode()
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._consume_orders(starts[m.ORDERS], listening[0]))
                tg.create_task(self._consume_control(starts[m.CONTROL], listening[1]))
                tg.create_task(self._consume_market(starts[m.MARKET_DATA], listening[2]))
                if self.ctx.durable:
                    for event in listening:
                        await event.wait()  # type: ignore[union-attr]
                    if self.settings.trading.paper_trading and self.live is None:
                        await self._announce_mode()
                tg.create_task(self._live_commands())
                if not self.settings.trading.paper_trading and self.live is None:
                    tg.create_task(self._start_live_at_once())
                elif not self.ctx.replay_files and any(s not in self.book for s in self.settings.trading.symbols):
                    tg.create_task(self._load_public_rules())
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            self._tasks.clear()
            if self.live is not None:
                live, self.live = self.live, None
                await live.close()

    async def _start(self, topic: str) -> Start:
        """A replay reads its fresh bus from the beginning (the collector may publish before this subscribes);
        live reads from the end. After a restart of run(), every topic reads on after the last record handled,
        so no command runs twice and no old price reaches the paper broker again."""
        if topic in self._resume:
            return Start.at(self._resume[topic])
        if self.ctx.replay_files:
            return Start.BEGINNING  # type: ignore[attr-defined]
        try:
            self._resume[topic] = await self.ctx.bus.end_offset(self.ctx.topic(topic))
        except (BusError, NotImplementedError):
            return Start.END  # type: ignore[attr-defined]
        return Start.at(self._resume[topic])

    async def _consume_orders(self, start: Start, ready: asyncio.Event | None = None) -> None:
        async for rec, cmd in self.consume(m.ORDERS, start, ready=ready):
            self._resume[m.ORDERS] = rec.offset + 1
            self.commands += 1
            refusal = self._refusal(cmd)
            if refusal is not None:
                await self._publish([rejected(cmd, refusal)], cmd.mode, cmd)
                continue
            if cmd.mode == "live":
                if _is_entry(cmd) and len(self._queue) >= MAX_LIVE_QUEUE:
                    await self._publish(
                        [
                            rejected(
                                cmd,
                                f"queue_full: {len(self._queue)} live orders wait already; "
                                "entry refused (closes still queue)",
                            )
                        ],
                        "live",
                        cmd,
                    )
                    continue
                self._queue.append(cmd)
                self._queued.set()
                continue
            if self._killed(cmd):
                await self._publish([_drop(cmd)], "paper", cmd)
                continue
            if await self._already_executed(cmd, "paper"):
                continue
            try:
                reports = await self.paper.execute(cmd)
            except Exception as err:  # one bad command must not be skipped silently nor stop the ones after it
                self.log.exception("paper command %s failed", cmd.id)
                reports = [_failed(cmd, err)]
            await self._publish(reports, "paper", cmd)

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
            self._resume[m.CONTROL] = rec.offset + 1
            if ctl.command == "reconcile":
                self._answered(ctl)
                continue
            if ctl.command == "set_mode":
                # A switch to live may wait on the exchange and on the desk's reconciliation answer: the kill
                # switch must still get through meanwhile.
                self._spawn(self._switch(ctl.arg or ""))
                continue
            if ctl.command != "kill":
                continue
            if self._question is not None and not self._question[2].done():
                self.log.warning("kill switch while the reconciliation waits for the desk: flattening what differs")
                self._question[2].set_result(rc.kill_choices(self._question[1]))
            self.killed_at = ctl.ts if self.killed_at is None else max(self.killed_at, ctl.ts)
            kept: collections.deque[m.OrderCommand] = collections.deque()
            dropped: list[m.OrderCommand] = []
            for cmd in self._queue:
                (dropped if self._killed(cmd) else kept).append(cmd)
            self._queue = kept
            if dropped:
                self.log.warning("kill switch: %d queued live entries dropped", len(dropped))
                for c in dropped:
                    await self._publish([_drop(c)], "live", c)

    async def _consume_market(self, start: Start, ready: asyncio.Event | None = None) -> None:
        poll_ms = int(self.settings.exchange.account_poll_s * 1000)
        # With no paper position open there is no trigger to check against every trade: when records pile
        # up, the latest book and trade per symbol are all a fill needs.
        async for rec, md in self.consume(m.MARKET_DATA, start, latest_only=self._nothing_to_watch, ready=ready):
            self._resume[m.MARKET_DATA] = rec.offset + 1
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
            if self._paper_in_use():
                now = self.ctx.clock.now_ms()
                last = self._account_at.get("paper")
                if last is None or now - last >= poll_ms:
                    await self._publish_account("paper", self.paper.account_now())

    def _nothing_to_watch(self) -> bool:
        return not self.paper.positions

    def _killed(self, cmd: m.OrderCommand) -> bool:
        return (
            cmd.purpose == "entry" and not cmd.reduce_only and self.killed_at is not None and cmd.ts <= self.killed_at
        )

    def _paper_in_use(self) -> bool:
        return self.mode == "paper" or self.fills["paper"] > 0 or bool(self.paper.positions)

    # --- live -------------------------------------------------------------------------------------------
    async def _live_commands(self) -> None:
        """One live command at a time, in order, except behind an ambiguous placement: while the broker looks
        its outcome up (up to ~11 s) that command steps aside and the queue moves on with the other symbols'
        commands (a close or a kill's flatten does not wait behind an unknown entry); that symbol's own commands
        stay queued until it returns."""
        while True:
            cmd = self._next_ready()
            if cmd is None:
                self._queued.clear()
                await self._queued.wait()
                continue
            task = asyncio.create_task(self._live_one(cmd))
            self._running[cmd.symbol] = task
            self._tasks.add(task)
            task.add_done_callback(functools.partial(self._live_done, cmd.symbol))
            self._aside.clear()
            self._awaited = cmd.symbol
            aside = asyncio.create_task(self._aside.wait())
            try:
                await asyncio.wait({task, aside}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                aside.cancel()
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]

    def _next_ready(self) -> m.OrderCommand | None:
        """The first queued command whose symbol has no command running (order kept within a symbol)."""
        for i, cmd in enumerate(self._queue):
            if cmd.symbol not in self._running:
                del self._queue[i]
                return cmd
        return None

    def _live_done(self, symbol: str, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if self._running.get(symbol) is task:
            del self._running[symbol]
        if not task.cancelled() and task.exception() is not None and not task.get_loop().is_closed():
            self.log.error("live command on %s failed: %r", symbol, task.exception())
        self._queued.set()  # its symbol's next command may go now

    def _stepped_aside(self, symbol: str) -> None:
        if symbol != self._awaited:  # a command already aside (its protection now looked up): nothing waits on it
            return
        self.log.warning("%s: an order's outcome is being looked up; other symbols' commands go on meanwhile", symbol)
        self._aside.set()

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
        if await self._already_executed(cmd, "live"):
            return
        broker = await self._ensure_live()
        if broker is None:
            reason = self._live_reason
            await self._publish(
                [
                    Report(
                        order_id=cmd.id,
                        symbol=cmd.symbol,
                        side=cmd.side,
                        purpose=cmd.purpose,
                        status="rejected",
                        error=reason,
                    )
                ],
                "live",
                cmd,
            )
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

    async def _start_live_at_once(self) -> None:
        await self._switch("live")

    # --- the acting mode ------------------------------------------------------------------------------------
    async def _switch(self, want: str) -> None:
        """A requested mode (settings at start, or a desk's set_mode): checked, then acknowledged or refused.
        Either way the mode Health and the acting broker's Account go out, so everyone follows the truth."""
        async with self._mode_lock:
            reason = ""
            if want not in ("paper", "live"):
                reason = f"set_mode needs 'paper' or 'live', got {want!r}"
            elif want == "live" and (self.mode != "live" or self.live is None):
                if await self._ensure_live() is None:
                    reason = self._live_reason
                    self.mode = "paper"  # a live start that cannot go live trades nothing live
            if reason:
                self.log.warning("mode stays %s: %s", self.mode, reason)
            elif want != self.mode:
                self.mode = want  # type: ignore[assignment]
                self.log.warning("acting mode is now %s", self.mode)
            self._mode_refusal = reason
            await self._announce_mode()

    async def _announce_mode(self) -> None:
        await self.health(m.MODE_COMPONENT, self.mode, self._mode_refusal)
        if self.mode == "live" and self.live is not None:
            await self._live_account(self.live)
        else:
            await self._publish_account("paper", self.paper.account_now())

    async def _load_public_rules(self) -> None:
        """Paper trading a symbol outside the built-in table: its rules from the exchange's public markets.

        Never in a replay (a network answer must not change what a replay does); without an answer the
        symbol stays unknown and its entries are refused with that reason."""
        from tui_trader.brokers.venues import rules_from_market  # ccxt loads only when needed
        from tui_trader.exchange import create_exchange, unified_symbol

        missing = [s for s in self.settings.trading.symbols if s not in self.book]
        ex = create_exchange(self.settings.exchange)
        try:
            await ex.load_markets()
            found = {
                s: rules_from_market(s, ex.market(unified_symbol(s)))
                for s in missing
                if unified_symbol(s) in ex.markets
            }
        except Exception as err:  # no network is normal for a paper desk: say so once, keep trading the rest
            self.log.warning("instrument rules for %s not loaded: %s", ", ".join(missing), type(err).__name__)
            return
        finally:
            await ex.close()
        self.book.update(found)
        self.log.info(
            "instrument rules loaded from %s for %s", self.settings.exchange.name, ", ".join(sorted(found)) or "none"
        )

    async def _ensure_live(self) -> Broker | None:
        async with self._live_lock:
            if self.live is not None:
                return self.live
            name = self.settings.exchange.name
            if self.ctx.replay_files:
                self._live_reason = REPLAY_LIVE
                return None
            try:
                secrets = load_secrets(self.settings)
            except TuiTraderError as err:
                self._live_reason = f"no_keys: {err.message}"
                await self.health(f"broker:{name}", "down", self._live_reason)
                return None
            if not secrets.present:
                self._live_reason = (
                    "no_keys: live trading needs API keys: set TUI_TRADER_API_KEY and "
                    "TUI_TRADER_API_SECRET (and TUI_TRADER_API_PASSWORD for OKX) or the secrets file"
                )
                await self.health(f"broker:{name}", "down", self._live_reason)
                return None
            from tui_trader.brokers.ccxt_broker import CcxtBroker  # ccxt loads only when live is used

            broker = CcxtBroker(self.settings, secrets, sent=self._live_sent)
            broker.on_settling = self._stepped_aside
            try:
                await broker.start()
                hedge = await broker.position_mode() == "hedge"
            except TuiTraderError as err:
                await broker.close()
                self._live_reason = f"exchange_unavailable: {err.message}"
                await self.health(f"broker:{name}", "down", self._live_reason)
                return None
            if hedge:
                await broker.close()
                self._live_reason = (
                    f"hedge_mode: the {name} account is in hedge (dual-side) position mode; the desk's "
                    "reduce-only orders need one-way mode: switch it in the exchange's settings"
                )
                await self.health(f"broker:{name}", "down", self._live_reason)
                return None
            self.book.update(broker.rules())
            if not self.ctx.replay_files:
                # What is at risk shows at once: the venue's positions with their protective orders, and the
                # journal's, before any reconciliation answer.
                await self._at_risk(broker)
                # Nothing trades on the exchange before the journal and the exchange agree (or the trader
                # said what to do about it).
                try:
                    await self._reconcile(broker)
                except TuiTraderError as err:
                    await broker.close()
                    self._live_reason = f"exchange_unavailable: {err.message}"
                    await self.health("reconcile", "failed", err.message)
                    await self.health(f"broker:{name}", "down", self._live_reason)
                    return None
                except BaseException:  # stopped while asking, or a bug: the broker's connections go with it
                    await broker.close()
                    raise
            self.live = broker
            self._live_reason = ""
            await self.health(f"broker:{name}", "live", "demo" if self.settings.exchange.demo else "production")
            self._spawn(self._poll_protection(broker))
            self._spawn(self._watch(broker))
            return broker

    async def _at_risk(self, broker: Broker) -> None:
        """An Account (acting when live was asked for at start) with the venue's positions, each with the
        stop-loss and take-profit resting for it, and the journal's live positions the venue does not show."""
        try:
            state = await broker.venue_state()  # type: ignore[attr-defined]
        except Exception as err:  # reconciliation reads again and says what is wrong
            self.log.warning("positions at start not read: %s", type(err).__name__)
            return
        shown = {p.symbol for p in state.view.positions}
        extra = [
            m.PositionSnapshot(
                symbol=j.symbol,
                side=rc.opening_side(j.side),
                quantity=j.quantity,
                entry_price=j.entry_price,
                leverage=j.leverage,
                stop_loss=j.stop_loss,
                take_profit=j.take_profit,
            )
            for j in rc.journal_positions(self.journal.commands(), self.journal.statuses()).values()
            if j.symbol not in shown
        ]
        view = AccountView(
            balance_total=state.view.balance_total,
            balance_free=state.view.balance_free,
            positions=state.view.positions + extra,
        )
        self.live_balance = view.balance_total
        await self._publish_account("live", view)

    # --- reconciliation -----------------------------------------------------------------------------------
    async def _reconcile(self, broker: Broker) -> None:
        from tui_trader.workers.reconciler import Reconciler  # ccxt-side code loads only when live is used

        name = self.settings.exchange.name
        rec = Reconciler(
            self.settings,
            self.journal,
            broker,
            now_ms=self.ctx.clock.now_ms,
            new_id=self.ids.new,
            publish=self._publish_reconciled,
        )
        await self.health("reconcile", "checking", f"journal against {name}")
        survey = await rec.survey()
        rec.watch_in_sync(survey)
        diffs = survey.differences
        if not diffs:
            self.reconciled = []
            held = len(survey.in_sync)
            await self.health("reconcile", "done", f"in sync with {name}: {held} open position{'s' * (held != 1)}")
            return
        for d in diffs:
            self.log.warning("reconcile: %s %s: %s", d.symbol, d.kind.replace("_", " "), rc.describe(d))
        if self.ctx.shared.get("interactive"):
            choices = await self._ask(name, diffs)
        else:
            choices = rc.default_choices(diffs)
            p = rec.policy
            self.log.warning("reconcile: no desk to ask; policy untracked=%s, tracked=%s", p.untracked, p.tracked)
        self._left = {d.id for d in diffs if choices.get(d.id, "leave") == "leave"}
        await self.health("reconcile", "applying", f"{len(diffs)} difference{'s' * (len(diffs) != 1)}")
        self.reconciled = await rec.apply(survey, choices)
        await self.health("reconcile", "done", "\n".join(self.reconciled))

    async def _ask(self, exchange: str, diffs: list[rc.Difference]) -> dict[str, rc.Action]:
        """Ask the desk and wait for its answer (no time limit: nothing trades until it comes)."""
        round_id = self.ids.new()
        request = rc.encode_request(round_id, exchange, diffs)
        answer: asyncio.Future[dict[str, rc.Action]] = asyncio.get_running_loop().create_future()
        self._question = (round_id, diffs, answer)
        self.log.warning("reconcile: live trading waits for the desk to answer about %d difference(s)", len(diffs))
        try:
            while not answer.done():
                await self.health("reconcile", "waiting", request)
                try:
                    await asyncio.wait_for(asyncio.shield(answer), REASK_S)
                except TimeoutError:
                    continue
            return answer.result()
        finally:
            self._question = None

    def _answered(self, ctl: m.Control) -> None:
        answer = rc.decode_answer(ctl.arg or "")
        question = self._question
        if answer is None:
            self.log.warning("reconcile: unreadable answer from %s ignored", ctl.origin)
            return
        if question is None or question[0] != answer.round or question[2].done():
            self.log.info("reconcile: answer to round %s ignored (not the open question)", answer.round)
            return
        choices, problems = rc.choices_from_answer(question[1], answer.choices)
        for problem in problems:
            self.log.warning("reconcile: %s", problem)
        question[2].set_result(choices)

    async def _publish_reconciled(self, st: m.OrderStatus) -> None:
        await self.publish(m.ORDER_STATUS, st.symbol, st)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _poll_protection(self, broker: Broker) -> None:
        while True:
            await asyncio.sleep(self.settings.exchange.poll_s)
            try:
                reports = await broker.poll()
            except Exception:
                self.log.exception("protective order poll failed")
                continue
            if reports:
                await self._publish(reports, "live")

    async def _watch(self, broker: Broker) -> None:
        """Every `exchange.account_poll_s`, and at once after a live fill or cancel: the venue's balance,
        positions and conditional orders → the Account record and the naked-position watchdog. While a naked
        position waits out its grace period the venue is read every `exchange.poll_s`."""
        from tui_trader.workers.reconciler import Reconciler
        from tui_trader.workers.watchdog import Watchdog

        rec = Reconciler(
            self.settings,
            self.journal,
            broker,
            now_ms=self.ctx.clock.now_ms,
            new_id=self.ids.new,
            publish=self._publish_reconciled,
        )
        self.watchdog = Watchdog(
            self.settings,
            self.journal,
            broker,
            rec,
            now_ms=self.ctx.clock.now_ms,
            publish=self._publish_reconciled,
            health=self.health,
        )
        self.watchdog.left = set(self._left)
        while True:
            self._recheck.clear()
            waiting = False
            try:
                state = await broker.venue_state()  # type: ignore[attr-defined]
            except Exception as err:
                self.log.warning("account poll failed: %s", type(err).__name__)
                state = None
            if state is not None:
                self.live_balance = state.view.balance_total
                await self._publish_account("live", state.view)
                try:
                    waiting = await self.watchdog.check(state.positions, state.orders)
                except Exception:
                    self.log.exception("watchdog check failed")
            pause = self.settings.exchange.poll_s if waiting else self.settings.exchange.account_poll_s
            try:
                await asyncio.wait_for(self._recheck.wait(), pause)
            except TimeoutError:
                pass

    async def _live_account(self, broker: Broker) -> None:
        try:
            view = await broker.account()
        except Exception as err:
            self.log.warning("account poll failed: %s", type(err).__name__)
            return
        self.live_balance = view.balance_total
        await self._publish_account("live", view)

    # --- the journal --------------------------------------------------------------------------------------
    async def _recover(self) -> None:
        """Before anything else: what the journal says happened. Live (not a replay): statuses journaled but
        not published before a crash go out now, once; the paper account is rebuilt from the journaled fills;
        every journaled command id counts as sent. A replay rebuilds by replaying instead: its commands come
        round again with the same ids and `_already_executed` answers them from the journal."""
        jr = self.journal
        if self.ctx.replay_files:
            return
        self._live_sent.update(c.id for c in jr.commands())
        restored = self.paper.restore(jr.commands(), jr.statuses(), jr.funding())
        if restored:
            self.log.info("paper account from the journal: %s", restored)
        pending = jr.unpublished()
        for seq, st in pending:
            await self.publish(m.ORDER_STATUS, st.symbol, st)
            jr.mark_published([seq])
        if pending:
            self.log.warning("published %d statuses journaled before a stop but not sent then", len(pending))

    async def _already_executed(self, cmd: m.OrderCommand, mode: m.Mode) -> bool:
        """Journal the command before executing it; if the journal says it was executed already (delivered
        again after a restart, or a replay run again after a crash), publish its journaled outcome instead.

        A command journaled but never completed (the process died while executing it) is not repeated live:
        its id counts as sent, so the broker refuses to place it again; reconciliation at start finds any
        position it may have opened."""
        jr = self.journal
        if jr.record_command(cmd) or not jr.was_executed(cmd.id):
            return False
        self.redelivered += 1
        outcome = jr.outcome(cmd.id)
        if mode == "paper" and self.ctx.replay_files:
            # The paper account is rebuilt by running the command again through the simulation (it is
            # deterministic); what goes out is what the journal holds.
            again = [r.to_status("paper", 0) for r in await self.paper.execute(cmd)]
            if [(s.order_id, s.status, s.filled_qty) for s in again] != [
                (s.order_id, s.status, s.filled_qty) for _, s in outcome
            ]:
                self.log.error(
                    "replayed command %s gave a different outcome than the journal; the journal's is used", cmd.id
                )
        for seq, st in outcome:
            self._count(
                st.status, st.error, st.filled_qty > 0 and st.status in ("filled", "partially_filled"), st.fee, mode
            )
            await self.publish(m.ORDER_STATUS, st.symbol, st)
            jr.mark_published([seq])
        return True

    # --- publishing -------------------------------------------------------------------------------------
    def _count(self, status: str, error: str | None, is_fill: bool, fee: float, mode: m.Mode) -> None:
        self.statuses[status] += 1
        if status == "rejected":
            self.rejects[(error or "rejected").split(":", 1)[0]] += 1
        if is_fill:
            self.fills[mode] += 1
            self.fees[mode] += fee

    async def _publish(self, reports: list[Report], mode: m.Mode, cmd: m.OrderCommand | None = None) -> None:
        """Journal the outcome (durably, with the command marked executed), then publish it, then mark it
        published: a crash in between publishes it once after the restart, never twice."""
        now = self.ctx.clock.now_ms()
        statuses = [report.to_status(mode, now) for report in reports]
        if cmd is None:
            # Statuses the broker raised by itself (a trigger, a poll): a replay run again after a crash
            # raises the same ones, already journaled.
            fresh = [st for st in statuses if not self.journal.has_status(st)]
            seqs = self.journal.complete(None, fresh) if fresh else []
        else:
            seqs = self.journal.complete(cmd.id, statuses)
        filled = False
        for report, status in zip(reports, statuses):
            self._count(report.status, report.error, report.is_fill, report.fee, mode)
            filled = filled or report.is_fill
            await self.publish(m.ORDER_STATUS, report.symbol, status)
        self.journal.mark_published(seqs)
        if mode == "live" and any(r.is_fill or r.status == "canceled" for r in reports):
            self._recheck.set()  # the watchdog and the Account look at the venue again now
        if filled and mode == "paper":
            await self._publish_account("paper", self.paper.account_now())

    async def _publish_account(self, mode: m.Mode, view: AccountView) -> None:
        exchange = "paper" if mode == "paper" else self.settings.exchange.name
        now = self.ctx.clock.now_ms()
        self._account_at[mode] = now
        msg = m.Account(
            mode=mode,
            acting=mode == self.mode,
            exchange=exchange,
            balance_total=view.balance_total,
            balance_free=view.balance_free,
            positions=view.positions,
            ts=now,
        )
        if mode == "paper" and self.mode == "paper":
            await self._paper_watch(view)
        await self.publish(m.ACCOUNT, mode, msg)

    async def _paper_watch(self, view: AccountView) -> None:
        """Paper: the watchdog reads what the paper broker reports (its triggers rest with each position);
        a position without both is an alarm, as live."""
        naked = sorted(p.symbol for p in view.positions if not (p.stop_loss_resting and p.take_profit_resting))
        state = (
            ("alarm", f"paper position without a resting stop-loss and take-profit: {', '.join(naked)}")
            if naked
            else ("ok", "")
        )
        if state == self._paper_alarm or (self._paper_alarm is None and state[0] == "ok"):
            return
        self._paper_alarm = state
        await self.health(m.WATCHDOG_COMPONENT, state[0], state[1], symbols=naked)

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.counters())
        out.update(
            commands=self.commands,
            redelivered=self.redelivered,
            statuses=dict(sorted(self.statuses.items())),
            fills=sum(self.fills.values()),
            fees=round(sum(self.fees.values()), 6),
            rejects=dict(sorted(self.rejects.items())),
            paper={
                "fills": self.fills["paper"],
                "fees": round(self.fees["paper"], 6),
                "balance": round(self.paper.wallet, 6),
                "equity": round(self.paper.equity(), 6),
                "open_positions": len(self.paper.positions),
            },
        )
        if self.live is not None or self.fills["live"]:
            out["live"] = {
                "exchange": self.settings.exchange.name,
                "fills": self.fills["live"],
                "fees": round(self.fees["live"], 6),
                "balance": self.live_balance,
            }
        if self.reconciled:
            out["reconciled"] = list(self.reconciled)
        out["mode"] = self.mode
        if self._mode_refusal:
            out["mode_refused"] = self._mode_refusal
        if self.watchdog is not None and self.watchdog.actions:
            out["watchdog"] = list(self.watchdog.actions)
        out["final_balance"] = round(self.paper.wallet, 6) if self.settings.trading.paper_trading else self.live_balance
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
