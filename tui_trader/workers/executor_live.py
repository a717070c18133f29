"""The executor's live broker lifecycle: created on demand, checked, reconciled, watched, closed.

The ccxt broker is created only when settings say live or a live command arrives, and only with API keys.
Before it executes anything: its markets load, the account must be in one-way position mode, what is at risk is
published, and the journal is reconciled with the venue. Every failure leaves no broker and a reason (Health
`broker:<exchange>` "down" with it), which live commands are then rejected with. Never in a replay.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from tui_trader import messages as m
from tui_trader.errors import TuiTraderError
from tui_trader.instruments import RulesBook
from tui_trader.settings import Settings, load_secrets

if TYPE_CHECKING:
    from tui_trader.brokers.ccxt_broker import CcxtBroker

REPLAY_LIVE = "replay: live trading is refused in a replay (orders would be priced from recorded data); paper only"


class LiveLifecycle:
    def __init__(
        self,
        settings: Settings,
        rules: RulesBook,
        *,
        replay: Callable[[], bool],
        health: Callable[..., Awaitable[None]],
        on_settling: Callable[[str], None],
        at_risk: Callable[[CcxtBroker], Awaitable[None]],
        reconcile: Callable[[CcxtBroker], Awaitable[None]],
        started: Callable[[CcxtBroker], None],
    ) -> None:
        self.settings = settings
        self.rules = rules
        self.replay = replay
        self.health = health
        self.on_settling = on_settling
        self.at_risk = at_risk
        self.reconcile = reconcile
        self.started = started
        self.broker: CcxtBroker | None = None
        self.reason = ""  # why there is no live broker (the last attempt's)
        self._lock = asyncio.Lock()
        # Client ids sent to the exchange, kept across broker re-creations (a restart of the worker); seeded
        # from the journal at start, so no command id reaches the exchange twice across processes either.
        self.sent: set[str] = set()

    async def ensure(self) -> CcxtBroker | None:
        """The live broker, started and reconciled; None (and `reason`) when it cannot be."""
        async with self._lock:
            if self.broker is not None:
                return self.broker
            if self.replay():
                self.reason = REPLAY_LIVE
                return None
            broker = await self._start()
            if broker is None:
                return None
            self.broker = broker
            self.reason = ""
            await self._health("live", "demo" if self.settings.exchange.demo else "production")
            self.started(broker)
            return broker

    async def _start(self) -> CcxtBroker | None:
        name = self.settings.exchange.name
        try:
            secrets = load_secrets(self.settings)
        except TuiTraderError as err:
            return await self._down(f"no_keys: {err.message}")
        if not secrets.present:
            return await self._down(
                "no_keys: live trading needs API keys: set TUI_TRADER_API_KEY and "
                "TUI_TRADER_API_SECRET (and TUI_TRADER_API_PASSWORD for OKX) or the secrets file"
            )
        from tui_trader.brokers.ccxt_broker import CcxtBroker  # ccxt loads only when live is used

        broker = CcxtBroker(self.settings, secrets, sent=self.sent)
        broker.on_settling = self.on_settling
        try:
            await broker.start()
            hedge = await broker.position_mode() == "hedge"
        except TuiTraderError as err:
            await broker.close()
            return await self._down(f"exchange_unavailable: {err.message}")
        if hedge:
            await broker.close()
            return await self._down(
                f"hedge_mode: the {name} account is in hedge (dual-side) position mode; the desk's "
                "reduce-only orders need one-way mode: switch it in the exchange's settings"
            )
        self.rules.update(broker.rules())
        # What is at risk shows at once: the venue's positions with their protective orders, and the journal's,
        # before any reconciliation answer.
        await self.at_risk(broker)
        # Nothing trades on the exchange before the journal and the exchange agree (or the trader said what to
        # do about it).
        try:
            await self.reconcile(broker)
        except TuiTraderError as err:
            await broker.close()
            await self.health(m.RECONCILE_COMPONENT, "failed", err.message)
            return await self._down(f"exchange_unavailable: {err.message}")
        except BaseException:  # stopped while asking, or a bug: the broker's connections go with it
            await broker.close()
            raise
        return broker

    async def _down(self, reason: str) -> CcxtBroker | None:
        """No broker, and why (kept for the commands it refuses, and published as the broker's Health)."""
        self.reason = reason
        await self._health("down", reason)
        return None

    async def _health(self, state: str, detail: str) -> None:
        await self.health(m.broker_component(self.settings.exchange.name), state, detail)

    async def close(self) -> None:
        if self.broker is not None:
            broker, self.broker = self.broker, None
            await broker.close()


async def poll_protection(
    broker: Any, poll_s: float, publish: Callable[[list[Any]], Awaitable[None]], log: logging.Logger
) -> None:
    """Every `poll_s`: protective orders that filled on the venue on their own, and entries whose outcome was
    unknown, as the broker finds them."""
    while True:
        await asyncio.sleep(poll_s)
        try:
            reports = await broker.poll()
        except Exception:
            log.exception("protective order poll failed")
            continue
        if reports:
            await publish(reports)
