"""The executor's account records: `Account` on `trading-account` for the paper and the live broker.

Paper: computed, after each fill and every `exchange.account_poll_s` of clock time while paper is in use; the
paper watchdog alarm (a paper position without both triggers) follows each acting paper record. Live: the
venue's balance, positions and conditional orders polled every `exchange.account_poll_s`, and at once after a
live fill or cancel (`recheck`); each read also goes to the naked-position watchdog, and while a naked position
waits out its grace period the venue is read every `exchange.poll_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from tui_trader import messages as m
from tui_trader import reconcile as rc
from tui_trader.brokers.base import AccountView
from tui_trader.brokers.reconciling import ReconcilingBroker
from tui_trader.journal import Journal
from tui_trader.settings import Settings


class Accounts:
    def __init__(
        self,
        settings: Settings,
        *,
        publish: Callable[[m.Account], Awaitable[None]],
        health: Callable[..., Awaitable[None]],
        acting: Callable[[], m.Mode],
        now_ms: Callable[[], int],
        log: logging.Logger,
    ) -> None:
        self.settings = settings
        self._publish = publish
        self.health = health
        self.acting = acting
        self.now_ms = now_ms
        self.log = log
        self.live_balance: float | None = None
        self.recheck = asyncio.Event()  # a live fill or cancel: the venue is read again at once
        self._at: dict[str, int] = {}  # mode → clock time of its last record
        self._paper_alarm: tuple[str, str] | None = None

    def paper_due(self) -> bool:
        last = self._at.get("paper")
        return last is None or self.now_ms() - last >= int(self.settings.exchange.account_poll_s * 1000)

    async def publish(self, mode: m.Mode, view: AccountView) -> None:
        exchange = "paper" if mode == "paper" else self.settings.exchange.name
        now = self.now_ms()
        self._at[mode] = now
        acting = self.acting()
        msg = m.Account(
            mode=mode,
            acting=mode == acting,
            exchange=exchange,
            balance_total=view.balance_total,
            balance_free=view.balance_free,
            positions=view.positions,
            ts=now,
        )
        if mode == "paper" and acting == "paper":
            await self._paper_watch(view)
        await self._publish(msg)

    async def live_once(self, broker: ReconcilingBroker) -> None:
        try:
            view = (await broker.venue_state()).view
        except Exception as err:  # noqa: BLE001 - a failed poll is logged; the next one reads again
            self.log.warning("account poll failed: %s", type(err).__name__)
            return
        self.live_balance = view.balance_total
        await self.publish("live", view)

    async def at_risk(self, broker: ReconcilingBroker, journal: Journal) -> None:
        """An Account (acting when live was asked for at start) with the venue's positions, each with the
        stop-loss and take-profit resting for it, and the journal's live positions the venue does not show:
        what is at risk shows at once, before any reconciliation answer."""
        try:
            state = await broker.venue_state()
        except Exception as err:  # noqa: BLE001 - reconciliation reads again and says what is wrong
            self.log.warning("positions at start not read: %s", type(err).__name__)
            return
        shown = {p.symbol for p in state.view.positions}
        extra = [
            m.PositionSnapshot(
                symbol=j.symbol,
                side=m.opening_side(j.side),
                quantity=j.quantity,
                entry_price=j.entry_price,
                leverage=j.leverage,
                stop_loss=j.stop_loss,
                take_profit=j.take_profit,
            )
            for j in rc.journal_positions(journal.commands(), journal.statuses()).values()
            if j.symbol not in shown
        ]
        view = AccountView(
            balance_total=state.view.balance_total,
            balance_free=state.view.balance_free,
            positions=state.view.positions + extra,
        )
        self.live_balance = view.balance_total
        await self.publish("live", view)

    async def watch(self, broker: ReconcilingBroker, watchdog: Any) -> None:
        """Read the venue, publish the Account, let the watchdog compare; again after `exchange.account_poll_s`
        (`exchange.poll_s` while a naked position waits out its grace period), or at once on `recheck`."""
        while True:
            self.recheck.clear()
            waiting = False
            try:
                state = await broker.venue_state()
            except Exception as err:  # noqa: BLE001 - a failed poll is logged; the next one reads again
                self.log.warning("account poll failed: %s", type(err).__name__)
                state = None
            if state is not None:
                self.live_balance = state.view.balance_total
                await self.publish("live", state.view)
                try:
                    waiting = await watchdog.check(state.positions, state.orders)
                except Exception:
                    self.log.exception("watchdog check failed")
            pause = self.settings.exchange.poll_s if waiting else self.settings.exchange.account_poll_s
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.recheck.wait(), pause)

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
