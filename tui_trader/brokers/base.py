"""What every broker offers the executor, and what it hands back.

The executor worker is the only caller. A broker takes `OrderCommand`s and returns `Report`s: the outcome of
one order as the exchange (or the paper simulation) saw it. The worker stamps each report with the mode and
the clock's time and publishes it as an `OrderStatus`, so paper and live look the same to the router.

Sequences both brokers follow (the parity tests hold them to it):
- entry with protection: entry "filled" (carrying the protective order ids), then "accepted" for the
  stop-loss and for the take-profit order;
- protection that cannot be placed: entry "filled" (no protective ids), "rejected" for the protective order
  that failed (with the reason), "canceled" for the one already placed, then a reduce-only "filled" with
  purpose "close" that takes the position off at once (never a naked position);
- a protective order fills: its own "filled" (purpose stop_loss / take_profit), then "canceled" for the sibling;
- close / flatten / kill: "canceled" for each protective order of the symbol, then the reduce-only "filled"
  (quantity capped to the position), or "rejected" with "no position to reduce".

`filled_qty`, `avg_price` and `fee` are cumulative per order id and in base units (never contracts).
"""

from __future__ import annotations

import abc
import math
import uuid

import msgspec

from tui_trader import messages as m
from tui_trader.instruments import InstrumentRules

NO_POSITION = "no position to reduce"

# Namespace for ids derived from a command id: the protective orders of an entry get the same ids on every
# run and in both brokers, and a retried placement can be recognised by its client id on the exchange.
_DERIVED = uuid.UUID("0b7e4bd4-53a4-4c52-9f0a-6f2d0f9f3e51")


def derived_id(command_id: str, role: str) -> str:
    """A stable uuid for an order that belongs to a command: role "sl", "tp", "close", …"""
    return str(uuid.uuid5(_DERIVED, f"{command_id}:{role}"))


class Report(msgspec.Struct, kw_only=True):
    """One order's outcome; the fields of OrderStatus without mode and ts (the worker adds them)."""

    order_id: str
    symbol: str
    side: m.Side
    purpose: m.StatusPurpose
    status: m.StatusKind
    exchange_order_id: str | None = None
    filled_qty: float = 0.0
    avg_price: float = 0.0
    fee: float = 0.0
    stop_loss_order_id: str | None = None
    take_profit_order_id: str | None = None
    # An entry's fill: the protective trigger prices placed for it (anchored on avg_price), None if none.
    stop_loss_price: float | None = None
    take_profit_price: float | None = None
    error: str | None = None

    @property
    def is_fill(self) -> bool:
        return self.status in ("filled", "partially_filled") and self.filled_qty > 0

    def to_status(self, mode: m.Mode, ts: int) -> m.OrderStatus:
        return m.OrderStatus(
            order_id=self.order_id,
            exchange_order_id=self.exchange_order_id,
            symbol=self.symbol,
            side=self.side,
            purpose=self.purpose,
            status=self.status,
            filled_qty=self.filled_qty,
            avg_price=self.avg_price,
            fee=self.fee,
            stop_loss_order_id=self.stop_loss_order_id,
            take_profit_order_id=self.take_profit_order_id,
            stop_loss_price=self.stop_loss_price,
            take_profit_price=self.take_profit_price,
            error=self.error,
            mode=mode,
            ts=ts,
        )


def rejected(cmd: m.OrderCommand, error: str, order_id: str | None = None) -> Report:
    return Report(
        order_id=order_id or cmd.id,
        symbol=cmd.symbol,
        side=cmd.side,
        purpose=cmd.purpose,
        status="rejected",
        error=error,
    )


def round_toward(price: float, tick: float, anchor: float) -> float:
    """`price` on the tick grid, rounded toward `anchor` (the fill): a protective order never ends up
    farther from the fill than planned. Float noise within a millionth of a tick counts as on the grid."""
    if tick <= 0:
        return price
    steps = price / tick
    near = round(steps)
    if abs(steps - near) < 1e-6:
        steps = near
    elif price < anchor:
        steps = math.ceil(steps)
    else:
        steps = math.floor(steps)
    decimals = max(0, -math.floor(math.log10(tick)) + 2)
    return round(steps * tick, decimals)


def anchored_protection(cmd: m.OrderCommand, fill_price: float, tick: float) -> tuple[float | None, float | None]:
    """The command's stop-loss and take-profit re-anchored on the entry's average fill price.

    The command carries the plan at `ref_price` (the router's stop_loss_pct / take_profit_pct from the
    signal's price); the same relative distances are applied to the fill, so slippage never moves a stop
    closer to (or past) the fill nor a target farther from it. Rounded to the tick toward the fill."""

    def anchored(planned: float | None) -> float | None:
        if planned is None or cmd.ref_price <= 0 or fill_price <= 0:
            return planned
        distance = (planned - cmd.ref_price) / cmd.ref_price
        return round_toward(fill_price * (1.0 + distance), tick, fill_price)

    return anchored(cmd.stop_loss), anchored(cmd.take_profit)


class AccountView(msgspec.Struct, kw_only=True):
    """Balance and positions as the broker sees them."""

    balance_total: float
    balance_free: float
    positions: list[m.PositionSnapshot] = msgspec.field(default_factory=list)


class Broker(abc.ABC):
    """Async broker interface. Implementations: PaperBroker (simulated) and CcxtBroker (exchange)."""

    mode: m.Mode = "paper"
    exchange: str = "paper"

    async def start(self) -> None:
        """Connect and load instrument rules (live); nothing to do on paper."""
        return None

    async def close(self) -> None:
        """Release connections."""
        return None

    @abc.abstractmethod
    def rules(self) -> dict[str, InstrumentRules]:
        """Instrument rules (tick, step, min quantity, min notional) this broker trades by."""

    @abc.abstractmethod
    async def prepare(self, symbol: str, leverage: int) -> None:
        """Set leverage and margin mode for a symbol (once; an 'already set' answer is fine)."""

    @abc.abstractmethod
    async def enter(self, cmd: m.OrderCommand) -> list[Report]:
        """A market entry and its protective orders (stop-loss, take-profit)."""

    @abc.abstractmethod
    async def reduce(self, cmd: m.OrderCommand) -> list[Report]:
        """Close / flatten / kill one symbol: cancel its protective orders, then close reduce-only."""

    @abc.abstractmethod
    async def account(self) -> AccountView:
        """Balance and open positions."""

    async def poll(self) -> list[Report]:
        """Look for protective orders that filled on their own (live); paper triggers come from trades."""
        return []

    def on_market(self, md: m.MarketData) -> list[Report]:
        """Every market-data message (paper: book, triggers, liquidation). Must not block."""
        return []

    async def execute(self, cmd: m.OrderCommand) -> list[Report]:
        if cmd.purpose == "entry" and not cmd.reduce_only:
            return await self.enter(cmd)
        return await self.reduce(cmd)
