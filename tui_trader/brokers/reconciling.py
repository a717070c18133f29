"""What reconciliation and the naked-position watchdog need from a live broker, declared.

`workers/reconciler.py` and `workers/watchdog.py` use a broker only through `ReconcilingBroker`: the venue's
positions and conditional orders, the symbol's quantity step and tick, and the few operations that repair a
difference (protect an existing position, cancel one order, look up what a vanished position's protection
did, close reduce-only). The ccxt broker implements it (`brokers/ccxt_reconciling.py`); nothing here imports
ccxt, so a paper desk never loads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from tui_trader import messages as m
from tui_trader.brokers.base import AccountView, Report


@dataclass
class VenueState:
    view: AccountView  # balance and position snapshots (with their protection)
    positions: list[m.ExchangePosition]
    orders: list[m.ExchangeOrder]  # open conditional orders (Binance, OKX); empty where SL/TP ride on the position


class ReconcilingBroker(Protocol):
    # Symbols whose ambiguous placement is being looked up: nothing there is certain yet.
    settling: set[str]
    # Entries whose outcome is unknown, by symbol: (the command, why).
    unknown: dict[str, tuple[m.OrderCommand, str]]

    @property
    def can_protect_alone(self) -> bool:
        """Protective orders can be placed for a position that already exists (Binance's algo orders); OKX and
        Bybit attach them to an entry only."""
        ...

    @property
    def sees_protection(self) -> bool:
        """`venue_state().orders` include the venue's protective orders (Binance's algo orders, OKX's attached
        SL/TP algo order); on Bybit they ride on the position row."""
        ...

    def watched_symbols(self) -> set[str]:
        """The symbols the venue reads (`venue_state`) cover."""
        ...

    def quantity_tolerance(self, symbol: str) -> float:
        """Sizes closer than this are the same size (half the quantity step)."""
        ...

    def tick(self, symbol: str) -> float | None: ...

    async def venue_state(self) -> VenueState:
        """Balance, open positions and open conditional orders, read together."""
        ...

    async def exchange_view(self, symbols: set[str]) -> tuple[list[m.ExchangePosition], list[m.ExchangeOrder]]:
        """The open positions and conditional orders on these symbols; a BrokerError that says why when the
        venue cannot be read."""
        ...

    def track(
        self,
        symbol: str,
        side: m.PositionSide,
        quantity: float,
        entry_price: float,
        stop_loss: tuple[str, float] | None,
        take_profit: tuple[str, float] | None,
    ) -> None:
        """Watch a journaled position's protective orders from now on."""
        ...

    async def protect_existing(
        self,
        base_id: str,
        symbol: str,
        side: m.PositionSide,
        quantity: float,
        entry_price: float,
        stop_loss: float,
        take_profit: float,
    ) -> tuple[Report, list[Report]]:
        """Fresh stop-loss and take-profit for an open position (closed at once if they cannot be placed)."""
        ...

    async def cancel_order(self, symbol: str, order_id: str) -> str | None:
        """Cancel one conditional order; None when it is gone, else why not."""
        ...

    async def protective_outcome(
        self,
        symbol: str,
        side: m.PositionSide,
        quantity: float,
        entry_price: float,
        stop_loss: tuple[str, float] | None,
        take_profit: tuple[str, float] | None,
    ) -> list[Report]:
        """Whether a vanished position's stop-loss or take-profit filled: its fill and its sibling's cancel."""
        ...

    async def reduce(self, cmd: m.OrderCommand) -> list[Report]:
        """Cancel the symbol's protective orders, then close reduce-only."""
        ...
