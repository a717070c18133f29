"""The naked-position watchdog of the live executor: after every fill or cancel and on every position poll,
the venue's positions and conditional orders are compared with the journal's book.

The comparison is reconciliation's own (`tui_trader.reconcile.find_differences`), run on every poll instead of
once at start, and each kind of difference has one fixed answer here (nobody is asked):

| difference | what the watchdog does |
|---|---|
| unprotected (a stop-loss or take-profit not resting with the position's quantity) | wait `risk.naked_grace_s` (it may be on its way), then re-protect; if that fails the broker closes the position (OKX, whose SL/TP attach to an entry only: alarm, the trader decides) |
| missing_position (the venue closed it: liquidation, ADL, a manual close) | at the second look in a row (the first may be a stop that just fired, which the protective poll books at its real price), book it closed (its protective fill if one filled) and cancel its leftover protective order |
| orphan_order (a conditional order with no position) | cancel it |
| untracked_position, size_mismatch | alarm only: the trader decides (the desk shows both sides) |

Every finding raises the alarm: Health(component "watchdog", state "alarm", detail, symbols); a poll that finds
nothing after an alarm publishes state "ok". Orders placed or canceled go out as OrderStatus rows (through the
reconciler's journal-then-publish path), so the order log shows them too.

The venue is read before the journal: the executor journals a command's outcome before it awaits anything
after the broker returns, so a book read right after the venue read never misses a fill the venue shows.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from tui_trader import messages as m
from tui_trader import reconcile as rc
from tui_trader.brokers.reconciling import ReconcilingBroker
from tui_trader.journal import Journal
from tui_trader.settings import Settings
from tui_trader.workers.reconciler import Reconciler

log = logging.getLogger("tui_trader.worker.executor.watchdog")


class Watchdog:
    def __init__(
        self,
        settings: Settings,
        journal: Journal,
        broker: ReconcilingBroker,
        reconciler: Reconciler,
        *,
        now_ms: Callable[[], int],
        publish: Callable[[m.OrderStatus], Awaitable[None]],
        health: Callable[..., Awaitable[None]],
    ) -> None:
        self.settings = settings
        self.journal = journal
        self.broker = broker  # started
        self.rec = reconciler
        self.now_ms = now_ms
        self.publish = publish
        self.health = health
        self.naked_since: dict[str, int] = {}
        self._last: tuple[str, str, tuple[str, ...]] | None = None
        self.actions: list[str] = []  # everything the watchdog did, one line each (summary, tests)
        self.checks = 0
        self.missing_seen: set[str] = set()  # journal positions the venue did not show at the last look
        # Differences the trader answered "leave" for at start (by id): not acted on; a position left without
        # protection still shows in the alarm.
        self.left: set[str] = set()

    async def check(self, positions: list[rc.ExchangePosition], orders: list[rc.ExchangeOrder]) -> bool:
        """Compare, act, raise or clear the alarm. True when a naked position waits out its grace period (the
        caller looks again soon)."""
        self.checks += 1
        held = rc.journal_positions(self.journal.commands(), self.journal.statuses())
        symbols = self.broker.watched_symbols()
        held = {s: j for s, j in held.items() if s in symbols}  # only what the venue read covered
        tolerance = {s: self.broker.quantity_tolerance(s) for s in symbols | set(held)}
        diffs = rc.find_differences(
            held,
            positions,
            orders,
            tolerance=tolerance,
            can_protect=self.broker.can_protect_alone,
            sees_protection=self.broker.sees_protection,
        )
        now = self.now_ms()
        grace_ms = self.settings.risk.naked_grace_s * 1000
        problems: list[str] = []
        concerned: set[str] = set()
        waiting = False
        naked = set()
        gone: set[str] = set()
        settling = set(self.broker.settling)
        for d in diffs:
            what = rc.describe(d)
            if d.symbol in settling:
                # An order of it is being looked up (the placement was ambiguous): nothing is certain there
                # yet, so nothing is done; its outcome is booked when the venue answers.
                problems.append(f"{d.symbol} {rc.KIND_TEXT[d.kind]} ({what}) while an order's outcome is looked up")
                concerned.add(d.symbol)
                waiting = True
                continue
            if d.id in self.left:
                if d.kind == "unprotected":
                    problems.append(f"{d.symbol} without protection ({what}): left so at start, as the trader chose")
                    concerned.add(d.symbol)
                continue
            if d.kind == "unprotected":
                naked.add(d.symbol)
                since = self.naked_since.setdefault(d.symbol, now)
                age_s = (now - since) / 1000
                if now - since < grace_ms:
                    waiting = True
                    continue
                if "adopt" not in d.actions:  # OKX: protection rides on an entry only; the trader decides
                    problems.append(f"{d.symbol} without protection ({what}): {d.note}")
                    concerned.add(d.symbol)
                    continue
                done = await self._act(d, "adopt")
                self.naked_since.pop(d.symbol, None)
                problems.append(f"{d.symbol} without protection for {age_s:.1f} s ({what}): {done}")
            elif d.kind == "orphan_order" and d.order is not None:
                done = await self._act(d, "flatten")
                if d.order.role != "other":
                    await self.publish(
                        m.OrderStatus(
                            order_id=d.order.client_id or d.order.order_id,
                            exchange_order_id=d.order.order_id,
                            symbol=d.symbol,
                            side=d.order.side,
                            purpose=d.order.role,
                            status="canceled",
                            error=f"watchdog: {what}: {done}",
                            mode="live",
                            ts=self.now_ms(),
                        )
                    )
                problems.append(f"{d.symbol} orphan {what}: {done}")
            elif d.kind == "missing_position":
                # Seen once, it may be a stop or target that just fired: the protective poll books that fill
                # (with its real price) before the next look; still missing then, the venue closed it.
                gone.add(d.symbol)
                if d.symbol not in self.missing_seen:
                    waiting = True
                    continue
                done = await self._act(d, "adopt")
                problems.append(f"{d.symbol} closed on the venue ({what}): {done}")
            else:
                problems.append(f"{d.symbol} {rc.KIND_TEXT[d.kind]} ({what}): the trader decides")
            concerned.add(d.symbol)
        for sym, (cmd, _) in sorted(self.broker.unknown.items()):
            problems.append(
                f"{sym} entry {cmd.id} has no certain outcome yet: no new entry there until the venue answers"
            )
            concerned.add(sym)
        self.missing_seen = gone
        for sym in set(self.naked_since) - naked:
            del self.naked_since[sym]  # protected again (or gone) within the grace period
        await self._announce(problems, concerned)
        return waiting

    async def _act(self, d: rc.Difference, action: rc.Action) -> str:
        try:
            done = await self.rec.apply_one(d, action)
        except Exception as err:  # the alarm still goes out, and the next poll tries again
            log.exception("watchdog: %s %s failed", d.kind, d.symbol)
            done = f"FAILED ({type(err).__name__}); check {d.symbol} on the exchange"
        line = f"{d.symbol} {d.kind.replace('_', ' ')}: {done}"
        log.warning("watchdog: %s", line)
        self.actions.append(line)
        return done

    async def _announce(self, problems: list[str], symbols: set[str]) -> None:
        state = "alarm" if problems else "ok"
        detail = "; ".join(problems)
        key = (state, detail, tuple(sorted(symbols)))
        if state == "ok" and self._last is not None and self._last[0] == "ok":
            return
        if key == self._last:
            return
        self._last = key
        await self.health(m.WATCHDOG_COMPONENT, state, detail, symbols=sorted(symbols))
