"""Position sizing and protective prices. Pure functions.

Quantity = equity × risk_per_trade ÷ (entry × stop_loss_pct): losing the stop-loss distance on it costs the
risk amount. It is then capped so the notional stays within `max_position_size` and the margin (notional ÷
leverage) within the free equity, and rounded DOWN to the instrument's step; under the instrument's minimum
quantity or minimum notional there is no order.

Stop-loss = entry × (1 ∓ stop_loss_pct) and take-profit = entry × (1 ± take_profit_pct), rounded to the
tick toward the entry (the safe side: never a larger loss, nor a further target, than configured), and
always strictly on their side of the entry.
"""

from __future__ import annotations

import math

import msgspec

from tui_trader import messages as m
from tui_trader.instruments import InstrumentRules


class Denial(msgspec.Struct, frozen=True):
    """Why a signal produced no order: a rule name (stable, for counting) and a sentence for the trader."""

    rule: str
    reason: str

    def text(self) -> str:
        return f"{self.rule}: {self.reason}"


class EntryPlan(msgspec.Struct, frozen=True, kw_only=True):
    side: m.Side
    quantity: float
    entry_price: float
    stop_loss: float
    take_profit: float
    notional: float
    margin: float
    risk_amount: float
    capped_by: str  # "risk" | "max_position_size" | "margin": which limit set the size


def _decimals(tick: float) -> int:
    """Digits to round multiples of `tick` to, so binary float noise (0.30000000000000004) goes away."""
    return min(12, max(0, -math.floor(math.log10(tick))) + 2)


def _below(entry: float, raw: float, tick: float) -> float:
    """`raw` (< entry) rounded up to the tick, or the last tick strictly below entry if that reaches it."""
    nd = _decimals(tick)
    price = round(math.ceil(raw / tick - 1e-9) * tick, nd)
    if price >= entry:
        price = round((math.ceil(entry / tick - 1e-9) - 1) * tick, nd)
    return price


def _above(entry: float, raw: float, tick: float) -> float:
    """`raw` (> entry) rounded down to the tick, or the first tick strictly above entry if that reaches it."""
    nd = _decimals(tick)
    price = round(math.floor(raw / tick + 1e-9) * tick, nd)
    if price <= entry:
        price = round((math.floor(entry / tick + 1e-9) + 1) * tick, nd)
    return price


def protective_prices(
    side: m.Side, entry: float, stop_loss_pct: float, take_profit_pct: float, tick: float
) -> tuple[float, float]:
    """(stop_loss, take_profit) for an entry on `side` at `entry`."""
    if side == "buy":
        return (
            _below(entry, entry * (1 - stop_loss_pct), tick),
            _above(entry, entry * (1 + take_profit_pct), tick),
        )
    return (
        _above(entry, entry * (1 + stop_loss_pct), tick),
        _below(entry, entry * (1 - take_profit_pct), tick),
    )


def _fmt(x: float) -> str:
    return f"{x:,.2f}"


def size_entry(
    *,
    side: m.Side,
    entry_price: float,
    equity: float,
    free_equity: float,
    rules: InstrumentRules,
    risk_per_trade: float,
    stop_loss_pct: float,
    take_profit_pct: float,
    max_position_size: float,
    leverage: int,
) -> EntryPlan | Denial:
    """The entry order for a signal, or why there is none (rule `margin` or `size_below_minimum`)."""
    sym = rules.symbol
    if not entry_price > 0 or not math.isfinite(entry_price):
        return Denial("size_below_minimum", f"{sym}: no usable price to size at ({entry_price})")
    if equity <= 0 or free_equity <= 0:
        return Denial("margin", f"{sym}: no free equity (equity {_fmt(equity)}, free {_fmt(free_equity)} USDT)")
    risk_amount = equity * risk_per_trade
    limits = {
        "risk": risk_amount / stop_loss_pct,  # notional whose stop-loss distance loses the risk amount
        "max_position_size": max_position_size,
        "margin": free_equity * leverage,
    }
    capped_by = min(limits, key=limits.__getitem__)
    limit = limits[capped_by]
    steps = math.floor(limit / entry_price / rules.step + 1e-9)
    qty = round(steps * rules.step, 12)
    # The epsilon above guards against 15.999… steps; never let it push past a hard limit.
    while steps > 0 and (
        qty * entry_price > max_position_size
        or qty * entry_price / leverage > free_equity
        or qty * entry_price > limits["risk"] * (1 + 1e-12)
    ):
        steps -= 1
        qty = round(steps * rules.step, 12)
    notional = qty * entry_price
    minimum = max(rules.min_notional, rules.min_qty * entry_price)
    if qty < rules.min_qty - 1e-12 or notional < rules.min_notional:
        if limits["margin"] < minimum:
            return Denial(
                "margin",
                f"{sym}: free equity {_fmt(free_equity)} USDT at {leverage}x allows {_fmt(limits['margin'])} USDT, "
                f"under the minimum order of {_fmt(minimum)} USDT",
            )
        return Denial(
            "size_below_minimum",
            f"{sym}: size {qty:g} ({_fmt(notional)} USDT, limited by {capped_by.replace('_', ' ')}) is under the "
            f"minimum {rules.min_qty:g} / {_fmt(rules.min_notional)} USDT notional",
        )
    stop_loss, take_profit = protective_prices(side, entry_price, stop_loss_pct, take_profit_pct, rules.tick)
    return EntryPlan(
        side=side,
        quantity=qty,
        entry_price=entry_price,
        stop_loss=stop_loss,
        take_profit=take_profit,
        notional=notional,
        margin=notional / leverage,
        risk_amount=risk_amount,
        capped_by=capped_by,
    )
