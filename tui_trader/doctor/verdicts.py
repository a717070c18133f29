"""Pure rules: what the doctor saw → ok / warn / fail with the reason. No I/O here."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from tui_trader.doctor.report import Check, Status

# Binance refuses a signed request stamped more than 1 s ahead of its clock (-1021), and one that arrives
# after its recvWindow; other venues have similar windows. Over this, say so before an order is refused.
MAX_SKEW_MS = 1000.0


class Tier(NamedTuple):
    """One leverage bracket: positions of notional in [min_notional, max_notional] allow max_leverage."""

    min_notional: float
    max_notional: float
    max_leverage: float


def _usdt(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:,.2f}"


def clock(venue: str, skew_ms: float, round_trip_ms: float) -> Check:
    """`skew_ms`: this machine's clock minus the exchange's (positive: ours is ahead)."""
    where = "ahead of" if skew_ms > 0 else "behind"
    seen = f"{abs(skew_ms) / 1000:.2f} s {where} {venue}'s (round trip {round_trip_ms:.0f} ms)"
    if abs(skew_ms) > MAX_SKEW_MS:
        return Check(
            name="clock",
            status="warn",
            detail=f"this machine's clock is {seen}: signed requests may be refused "
            "(timestamp outside the exchange's window); synchronise the clock (NTP)",
        )
    return Check(name="clock", status="ok", detail=f"within {MAX_SKEW_MS / 1000:g} s: {seen}")


def position_mode(venue: str, hedged: bool, live: bool) -> Check:
    if not hedged:
        return Check(name="position mode", status="ok", detail=f"one-way on {venue}")
    why = (
        f"hedge (dual-side) mode is on at {venue}: the desk's one-way reduce-only stop-loss, take-profit and "
        "close orders would be refused; switch the account to one-way mode in the exchange's settings"
    )
    if live:
        return Check(name="position mode", status="fail", detail=why)
    return Check(name="position mode", status="warn", detail=f"{why} (paper trading now; live would be refused)")


def tier_for(tiers: Iterable[Tier], notional: float) -> Tier | None:
    """The bracket a position of this notional falls in, or None when it is above every bracket."""
    for tier in sorted(tiers, key=lambda t: t.max_notional):
        if notional <= tier.max_notional:
            return tier
    return None


def leverage(tiers_by_symbol: dict[str, list[Tier]], wanted: int, notional: float, live: bool) -> Check:
    """Is `wanted` leverage allowed for a position of `notional` (trading.max_position_size) on every symbol?"""
    allowed: list[str] = []
    problems: list[str] = []
    for symbol, tiers in tiers_by_symbol.items():
        if not tiers:
            problems.append(f"{symbol}: the exchange lists no leverage brackets")
            continue
        tier = tier_for(tiers, notional)
        if tier is None:
            cap = max(t.max_notional for t in tiers)
            problems.append(
                f"{symbol}: a {_usdt(notional)} USDT position is above the largest bracket "
                f"({_usdt(cap)} USDT) at any leverage"
            )
        elif wanted > tier.max_leverage:
            problems.append(
                f"{symbol}: at most {tier.max_leverage:g}x for a {_usdt(notional)} USDT position "
                f"(bracket {_usdt(tier.min_notional)}–{_usdt(tier.max_notional)} USDT), "
                f"trading.leverage is {wanted}x"
            )
        else:
            allowed.append(f"{symbol} up to {tier.max_leverage:g}x")
    if not problems:
        return Check(
            name="leverage",
            status="ok",
            detail=f"{wanted}x allowed for a {_usdt(notional)} USDT position: {', '.join(allowed)}",
        )
    detail = "; ".join(problems) + ": lower trading.leverage or trading.max_position_size"
    status: Status = "fail" if live else "warn"
    if not live:
        detail += " (paper trading now; live orders that size would be refused)"
    return Check(name="leverage", status=status, detail=detail)
