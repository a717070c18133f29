"""A live position's protective orders as the ccxt broker tracks them (ids and trigger prices)."""

from __future__ import annotations

from dataclasses import dataclass

from tui_trader import messages as m


@dataclass
class Protection:
    symbol: str
    side: m.PositionSide
    quantity: float  # base units
    entry_price: float
    since_ms: int  # exchange time of the entry fill
    stop_loss_id: str | None = None
    stop_loss_price: float | None = None
    take_profit_id: str | None = None
    take_profit_price: float | None = None

    def orders(self) -> list[tuple[m.ProtectiveRole, str, float]]:
        """(role, client id, trigger price) of each protective order placed."""
        out: list[tuple[m.ProtectiveRole, str, float]] = []
        if self.stop_loss_id and self.stop_loss_price is not None:
            out.append(("stop_loss", self.stop_loss_id, self.stop_loss_price))
        if self.take_profit_id and self.take_profit_price is not None:
            out.append(("take_profit", self.take_profit_id, self.take_profit_price))
        return out
