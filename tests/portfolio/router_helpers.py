"""Message builders and a minimal fill simulator shared by the router tests."""

from __future__ import annotations

import itertools

from tui_trader import messages as m
from tui_trader.portfolio.router_core import Output, RouterCore

T0 = 1_723_161_000_000  # 2024-08-08 23:50:00 UTC
IND = m.Indicators(
    rsi=25.0,
    macd=1.0,
    macd_signal=0.5,
    macd_hist=0.5,
    bb_upper=61_000.0,
    bb_middle=60_000.0,
    bb_lower=59_000.0,
    sma_fast=60_100.0,
    sma_slow=60_000.0,
    ema_fast=60_050.0,
    ema_slow=60_000.0,
)
_ids = itertools.count()


def signal(
    kind: str = "Buy", price: float = 60_000.0, ts: int = T0, strength: float = 0.8, symbol: str = "BTCUSDT"
) -> m.TradingSignal:
    return m.TradingSignal(
        id=f"sig-{next(_ids)}",
        symbol=symbol,
        signal=kind,
        strength=strength,
        buy_score=4,
        sell_score=1,
        reasons=["rsi<30:+2"],
        indicators=IND,
        price=price,
        ts=ts,
    )


def trade(price: float = 60_000.0, ts: int = T0, symbol: str = "BTCUSDT") -> m.MarketData:
    return m.MarketData(symbol=symbol, kind="trade", price=price, volume=0.01, event_time=ts, recv_time=ts, ts=ts)


def control(command: str, ts: int = T0, arg: str | None = None) -> m.Control:
    return m.Control(command=command, arg=arg, origin="test", ts=ts)


def filled(
    cmd: m.OrderCommand,
    price: float | None = None,
    ts: int | None = None,
    fee_rate: float = 0.0005,
    status: str = "filled",
    qty: float | None = None,
) -> m.OrderStatus:
    """What a broker answers to a market command: filled at `price` (default: the command's reference)."""
    px = cmd.ref_price if price is None else price
    q = cmd.quantity if qty is None else qty
    entry = cmd.purpose == "entry"
    return m.OrderStatus(
        order_id=cmd.id,
        symbol=cmd.symbol,
        side=cmd.side,
        purpose=cmd.purpose,
        status=status,
        filled_qty=q,
        avg_price=px,
        fee=q * px * fee_rate,
        stop_loss_order_id=f"{cmd.id}-sl" if entry else None,
        take_profit_order_id=f"{cmd.id}-tp" if entry else None,
        mode=cmd.mode,
        ts=cmd.ts if ts is None else ts,
    )


def rejected(cmd: m.OrderCommand, error: str) -> m.OrderStatus:
    return m.OrderStatus(
        order_id=cmd.id,
        symbol=cmd.symbol,
        side=cmd.side,
        purpose=cmd.purpose,
        status="rejected",
        error=error,
        mode=cmd.mode,
        ts=cmd.ts,
    )


def protective_fill(cmd: m.OrderCommand, which: str, price: float, ts: int) -> m.OrderStatus:
    """The entry's stop-loss or take-profit order filling (the closing side, its own order id)."""
    return m.OrderStatus(
        order_id=f"{cmd.id}-{'sl' if which == 'stop_loss' else 'tp'}",
        symbol=cmd.symbol,
        side=m.opposite(cmd.side),
        purpose=which,
        status="filled",
        filled_qty=cmd.quantity,
        avg_price=price,
        fee=0.0,
        mode=cmd.mode,
        ts=ts,
    )


def settle(core: RouterCore, out: Output, now: int, price: float | None = None) -> list[m.OrderCommand]:
    """Fill every command of `out` (and of what those fills lead to, e.g. a reversal's entry)."""
    sent: list[m.OrderCommand] = []
    queue = list(out.commands)
    while queue:
        cmd = queue.pop(0)
        sent.append(cmd)
        queue.extend(core.on_status(filled(cmd, price, now), now).commands)
    return sent


def rules_of(out: Output) -> list[str]:
    return [d.error.split(":", 1)[0] for d in out.denials]
