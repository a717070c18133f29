"""The executor's reconciliation step: read both views, then carry the chosen actions out on the exchange.

The decisions are `tui_trader.reconcile`'s (pure); this shell reads the journal and the exchange (through a
`ReconcilingBroker`: the ccxt broker), and performs each action. Whatever changes the journal's positions is journaled first and then
published on `trading-order-status` like any status, so the router's book follows:
- adopt an untracked position: a synthetic entry command (journaled, never sent) and its fill at the
  exchange's entry price, carrying the ids of the fresh stop-loss and take-profit orders placed for it;
- book a position closed: a synthetic close fill (at the entry price: the exit is not known), after
  "canceled" for its protective orders — unless one of them filled while the desk was down, whose real fill
  is booked instead;
- re-protect: "canceled" for the journal's protective orders (not open any more), then "accepted" for the
  fresh ones;
- flatten a tracked position: the real reduce-only close, booked for the journal's size.
Flattening an untracked position or canceling an orphan order touches nothing the journal knows: only logged
(a fill published for a position the router does not hold would open one in its book).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from tui_trader import messages as m
from tui_trader import reconcile as rc
from tui_trader.brokers.base import Report
from tui_trader.brokers.reconciling import ReconcilingBroker
from tui_trader.journal import Journal
from tui_trader.settings import Settings

log = logging.getLogger("tui_trader.worker.executor.reconcile")


@dataclass
class Survey:
    journal: dict[str, rc.JournalPosition]
    positions: list[rc.ExchangePosition]
    orders: list[rc.ExchangeOrder]
    differences: list[rc.Difference]
    in_sync: list[rc.JournalPosition] = field(default_factory=list)


class Reconciler:
    def __init__(
        self,
        settings: Settings,
        journal: Journal,
        broker: ReconcilingBroker,
        *,
        now_ms: Callable[[], int],
        new_id: Callable[[], str],
        publish: Callable[[m.OrderStatus], Awaitable[None]],
    ) -> None:
        self.settings = settings
        self.journal = journal
        self.broker = broker  # started
        self.now_ms = now_ms
        self.new_id = new_id
        self.publish = publish
        self.policy = rc.Policy.from_settings(settings.exchange)

    async def survey(self) -> Survey:
        """Both views and what differs; a BrokerError when the exchange cannot be read."""
        held = rc.journal_positions(self.journal.commands(), self.journal.statuses())
        symbols = set(self.settings.trading.symbols) | set(held)
        positions, orders = await self.broker.exchange_view(symbols)
        tolerance = {s: self.broker.quantity_tolerance(s) for s in symbols}
        diffs = rc.find_differences(
            held, positions, orders, self.policy, tolerance=tolerance, can_protect=self.broker.can_protect_alone
        )
        return Survey(held, positions, orders, diffs, rc.in_sync(held, positions, diffs))

    def watch_in_sync(self, survey: Survey) -> None:
        """Tracked positions that agree with the exchange: the broker watches their protective orders."""
        for j in survey.in_sync:
            self.broker.track(j.symbol, j.side, j.quantity, j.entry_price, *self._open_protection(j, survey.orders))

    async def apply(self, survey: Survey, choices: dict[str, rc.Action]) -> list[str]:
        """Carry every choice out; one line per difference saying what was done."""
        lines = []
        for d in survey.differences:
            action = choices.get(d.id, "leave")
            try:
                done = await self.apply_one(d, action)
            except Exception as err:  # one failed action must not leave the others undone
                log.exception("reconcile %s (%s) failed", d.id, action)
                done = f"FAILED ({type(err).__name__}: {err}); check {d.symbol} on the exchange"
            line = f"{d.symbol} {d.kind.replace('_', ' ')}: {action}: {done}"
            (log.warning if action == "leave" or "FAILED" in done else log.info)("reconcile: %s", line)
            lines.append(line)
        return lines

    # --- one difference -----------------------------------------------------------------------------------
    async def apply_one(self, d: rc.Difference, action: rc.Action) -> str:
        """Carry one choice out; what was done, in words."""
        if action == "leave":
            return f"left as it is ({rc.describe(d)})"
        if d.kind == "orphan_order" and d.order is not None:
            why = await self.broker.cancel_order(d.symbol, d.order.order_id)
            return (
                f"order {d.order.order_id} canceled" if why is None else f"order {d.order.order_id} NOT canceled: {why}"
            )
        if d.kind == "untracked_position" and d.exchange is not None:
            if action == "flatten":
                report = await self._close_on_exchange(d.exchange)
                return _close_words(report)
            return await self._adopt(d.exchange, None)
        if d.kind == "missing_position" and d.journal is not None:
            return await self._book_missing(d)
        if d.kind in ("size_mismatch", "unprotected") and d.journal is not None and d.exchange is not None:
            if action == "flatten":
                return await self._flatten_tracked(d.journal, d.exchange)
            if d.kind == "size_mismatch":
                return await self._adopt(d.exchange, d.journal)
            return await self._reprotect(d.journal, d.exchange)
        return "nothing to do"

    async def _adopt(self, x: rc.ExchangePosition, replacing: rc.JournalPosition | None) -> str:
        """Journal the exchange's position (after booking the journal's own closed, for a size mismatch) and
        protect it afresh."""
        t = self.settings.trading
        now = self.now_ms()
        if replacing is not None:
            gone = rc.protective_gone(replacing, now)
            close = rc.booked_close(
                self.new_id(),
                replacing,
                replacing.entry_price,
                f"journal size {replacing.side} {replacing.quantity:g} replaced by the exchange's",
                now,
            )
            await self._book(None, [*gone, close])
        mark = x.mark_price or x.entry_price
        stop, target = rc.protection_prices(
            x.side,
            mark,
            t.stop_loss_pct,
            t.take_profit_pct,
            tick=self.broker.tick(x.symbol),
            keep_stop=replacing.stop_loss if replacing else None,
            keep_target=replacing.take_profit if replacing else None,
        )
        cmd = rc.adopt_command(self.new_id(), x, stop, target, x.leverage or t.leverage, now)
        self.journal.record_command(cmd)  # before anything is placed for it: a crash leaves a trace
        holder, reports = await self.broker.protect_existing(
            cmd.id, x.symbol, x.side, x.quantity, x.entry_price, stop, target
        )
        fill = rc.adopt_fill(
            cmd,
            self.now_ms(),
            holder.stop_loss_order_id,
            holder.take_profit_order_id,
            f"adopted {x.side} {x.quantity:g} @ {x.entry_price:g} from the exchange",
        )
        await self._book(cmd, [fill] + [r.to_status("live", self.now_ms()) for r in reports])
        return f"adopted {x.side} {x.quantity:g} @ {x.entry_price:g}; " + _protection_words(
            holder, reports, stop, target
        )

    async def _reprotect(self, j: rc.JournalPosition, x: rc.ExchangePosition) -> str:
        t = self.settings.trading
        stop, target = rc.protection_prices(
            x.side,
            x.mark_price or x.entry_price,
            t.stop_loss_pct,
            t.take_profit_pct,
            keep_stop=j.stop_loss,
            keep_target=j.take_profit,
            tick=self.broker.tick(x.symbol),
        )
        base = self.new_id()
        holder, reports = await self.broker.protect_existing(
            base, x.symbol, x.side, x.quantity, x.entry_price, stop, target
        )
        now = self.now_ms()
        await self._book(None, rc.protective_gone(j, now) + [r.to_status("live", now) for r in reports])
        return _protection_words(holder, reports, stop, target)

    async def _flatten_tracked(self, j: rc.JournalPosition, x: rc.ExchangePosition) -> str:
        report, cmd = await self._close_on_exchange(x, with_command=True)
        now = self.now_ms()
        if report.status != "filled":
            await self._book(cmd, [report.to_status("live", now)])
            return _close_words(report)
        # The real close, booked for what the journal holds, so the journal ends flat whatever it thought.
        same = j.side == x.side and abs(j.quantity - report.filled_qty) < 1e-9
        note = "" if same else f"; the exchange held {x.side} {report.filled_qty:g}"
        booked = m.OrderStatus(
            order_id=cmd.id,
            exchange_order_id=report.exchange_order_id,
            symbol=j.symbol,
            side=m.closing_side(j.side),
            purpose="flatten",
            status="filled",
            filled_qty=j.quantity,
            avg_price=report.avg_price,
            fee=report.fee,
            error=f"reconcile: flattened on the exchange{note}" if note else None,
            mode="live",
            ts=now,
        )
        await self._book(cmd, [*rc.protective_gone(j, now), booked])
        return _close_words(report)

    async def _book_missing(self, d: rc.Difference) -> str:
        j = d.journal
        assert j is not None
        stop, target = self._journal_protection(j)
        found = await self.broker.protective_outcome(j.symbol, j.side, j.quantity, j.entry_price, stop, target)
        fired = [r for r in found if r.status == "filled"]
        now = self.now_ms()
        if fired:
            await self._book(None, [r.to_status("live", now) for r in found])
            f = fired[0]
            return f"its {f.purpose.replace('_', '-')} filled {f.filled_qty:g} @ {f.avg_price:g} while the desk was down; booked"
        # Closed outside the desk: its own stop or target still open goes, then the journal books it closed.
        canceled = {r.order_id for r in found if r.status == "canceled"}
        for o in d.orders:
            why = await self.broker.cancel_order(j.symbol, o.order_id)
            if why is not None:
                log.error("reconcile %s: order %s not canceled: %s", j.symbol, o.order_id, why)
        statuses = [r.to_status("live", now) for r in found]
        statuses += [st for st in rc.protective_gone(j, now) if st.order_id not in canceled]
        statuses.append(
            rc.booked_close(
                self.new_id(), j, j.entry_price, "closed outside the desk; exit price unknown, booked at entry", now
            )
        )
        await self._book(None, statuses)
        return f"booked closed ({j.side} {j.quantity:g}; exit price unknown, booked at entry {j.entry_price:g})"

    # --- helpers -----------------------------------------------------------------------------------------------
    async def _close_on_exchange(self, x: rc.ExchangePosition, with_command: bool = False):
        cmd = m.OrderCommand(
            id=self.new_id(),
            symbol=x.symbol,
            side=m.closing_side(x.side),
            quantity=x.quantity,
            ref_price=x.mark_price or x.entry_price,
            leverage=x.leverage or 1,
            reduce_only=True,
            purpose="flatten",
            mode="live",
            ts=self.now_ms(),
        )
        if with_command:
            self.journal.record_command(cmd)
        reports = await self.broker.reduce(cmd)
        close = next((r for r in reports if r.order_id == cmd.id), None) or Report(
            order_id=cmd.id, symbol=cmd.symbol, side=cmd.side, purpose="flatten", status="error", error="no answer"
        )
        return (close, cmd) if with_command else close

    async def _book(self, cmd: m.OrderCommand | None, statuses: list[m.OrderStatus]) -> None:
        """Journal (durably), publish, mark published: the executor's own order of things."""
        if not statuses:
            return
        if cmd is not None:
            self.journal.record_command(cmd)
        seqs = self.journal.complete(cmd.id if cmd is not None else None, statuses)
        for st in statuses:
            await self.publish(st)
        self.journal.mark_published(seqs)

    @staticmethod
    def _journal_protection(j: rc.JournalPosition) -> tuple[tuple[str, float] | None, tuple[str, float] | None]:
        stop = (j.stop_loss_order_id, j.stop_loss or 0.0) if j.stop_loss_order_id else None
        target = (j.take_profit_order_id, j.take_profit or 0.0) if j.take_profit_order_id else None
        return stop, target

    @staticmethod
    def _open_protection(j: rc.JournalPosition, orders: list[rc.ExchangeOrder]):
        """(id, trigger) of the journal's protective orders as the exchange has them open."""
        by_id = {o.client_id: o for o in orders if o.symbol == j.symbol and o.client_id}
        out = []
        for oid, price in ((j.stop_loss_order_id, j.stop_loss), (j.take_profit_order_id, j.take_profit)):
            o = by_id.get(oid) if oid else None
            out.append((oid, o.trigger_price or price or 0.0) if o is not None else None)
        return out[0], out[1]


def _close_words(report: Report) -> str:
    if report.status == "filled":
        return f"closed {report.side} {report.filled_qty:g} @ {report.avg_price:g} reduce-only"
    return f"NOT closed: {report.status} ({report.error})"


def _protection_words(holder: Report, reports: list[Report], stop: float, target: float) -> str:
    if holder.stop_loss_order_id and holder.take_profit_order_id:
        return f"stop-loss {stop:g} and take-profit {target:g} placed"
    failed = next((r.error for r in reports if r.status == "rejected"), "not placed")
    closed = next((r for r in reports if r.purpose == "close" and r.status == "filled"), None)
    tail = "; the position was closed at once" if closed else "; the position could NOT be closed: check the exchange"
    return f"protection failed ({failed}){tail}"
