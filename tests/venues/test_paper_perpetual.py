"""Perpetual realism in the paper broker: funding at each funding time (both signs), valuation and liquidation
at the mark price, stops on the chosen working price."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "brokers"))
from broker_helpers import command

from tui_trader import messages as m
from tui_trader.brokers.paper import PaperBroker
from tui_trader.settings import PaperSettings, RiskSettings

T0 = 1_764_650_000_000
FUNDING_AT = T0 + 60_000


def trade(price: float, t: int) -> m.MarketData:
    return m.MarketData(symbol="BTCUSDT", kind="trade", price=price, volume=0.1, event_time=t, recv_time=t, ts=t)


def book(bid: float, ask: float, t: int) -> m.MarketData:
    return m.MarketData(
        symbol="BTCUSDT", kind="book", bid=bid, ask=ask, bid_qty=1, ask_qty=1, event_time=t, recv_time=t, ts=t
    )


def mark(price: float, t: int, rate: float = 0.0001, next_ms: int = FUNDING_AT) -> m.MarketData:
    # price (the last trade a mark record carries) 0: these tests move the mark apart from the trades.
    return m.MarketData(
        symbol="BTCUSDT",
        exchange="okx",
        kind="mark",
        price=0.0,
        mark_price=price,
        funding_rate=rate,
        next_funding_time=next_ms,
        event_time=t,
        recv_time=t,
        ts=t,
    )


def broker(trigger_price: str = "mark") -> PaperBroker:
    return PaperBroker(PaperSettings(taker_fee=0.0), risk=RiskSettings(trigger_price=trigger_price))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "side, rate, sign", [("buy", 0.0001, -1), ("sell", 0.0001, 1), ("buy", -0.0003, 1), ("sell", -0.0003, -1)]
)
def test_a_position_held_across_a_funding_time_pays_or_receives_notional_times_rate(side, rate, sign):
    b = broker()
    b.on_market(trade(60_000.0, T0))
    b.on_market(book(59_999.9, 60_000.1, T0))
    [fill] = b.enter_now(command(side=side, quantity=0.1))
    b.on_market(mark(60_010.0, T0 + 1000, rate=rate))
    wallet = b.wallet
    b.on_market(trade(60_005.0, FUNDING_AT - 1))
    assert b.wallet == wallet  # not due yet
    b.on_market(trade(60_005.0, FUNDING_AT + 5))  # the first market event at or past the funding time
    expected = sign * 0.1 * 60_010.0 * abs(rate)
    assert b.wallet - wallet == pytest.approx(expected)
    assert b.funding_paid == pytest.approx(expected)
    [pos] = b.account_now().positions
    assert pos.funding == pytest.approx(expected)
    assert b.fees == 0.0  # funding is not a fee
    # Settled once: later events before the next announced time change nothing.
    b.on_market(trade(60_006.0, FUNDING_AT + 10))
    assert b.wallet - wallet == pytest.approx(expected)
    assert fill.status == "filled"


def test_no_position_at_the_funding_time_no_funding():
    b = broker()
    b.on_market(book(59_999.9, 60_000.1, T0))
    b.enter_now(command(side="buy", quantity=0.1))
    b.on_market(mark(60_000.0, T0 + 1))
    b.reduce_now(command(side="sell", quantity=0.1, purpose="close"))
    wallet = b.wallet
    b.on_market(trade(60_000.0, FUNDING_AT + 1))
    assert b.wallet == wallet and b.funding_paid == 0.0


def _long_at_10x(b: PaperBroker) -> float:
    b.on_market(trade(60_000.0, T0))
    b.on_market(book(59_999.9, 60_000.1, T0))
    b.enter_now(command(side="buy", quantity=0.1, leverage=10))
    return b.positions["BTCUSDT"].liquidation_price


def _walk(b: PaperBroker, start: float, end: float, t: int, make) -> tuple[list, int]:
    """Move a price from start to end in 2 % steps (the band lets each through)."""
    out, px = [], start
    while abs(px - end) > 1e-9:
        px = max(end, px * 0.98) if end < start else min(end, px * 1.02)
        t += 1
        out += b.on_market(make(px, t))
    return out, t


def test_liquidation_follows_the_mark_not_a_wick_in_the_trades():
    b = broker()
    liq = _long_at_10x(b)
    assert 53_000 < liq < 55_000
    b.on_market(mark(60_000.0, T0 + 1))
    # The trades wick through the liquidation price while the mark holds: the position lives.
    reports, t = _walk(b, 60_000.0, liq * 0.99, T0 + 2, trade)
    assert reports == [] and "BTCUSDT" in b.positions
    # Valued at the mark, not the last trade.
    [pos] = b.account_now().positions
    assert pos.mark_price == 60_000.0 and pos.unrealized_pnl == pytest.approx(0.0, abs=0.05)
    _, t = _walk(b, liq * 0.99, 56_000.0, t, trade)
    assert "BTCUSDT" in b.positions
    # The mark falls through it while the trades stay above it (within the band of the last trade):
    # liquidated at the liquidation price.
    reports, _ = _walk(b, 60_000.0, liq * 0.995, t + 100, lambda px, t: mark(px, t))
    assert "BTCUSDT" not in b.positions
    [liquidation] = [r for r in reports if r.error and r.error.startswith("liquidation")]
    assert liquidation.avg_price == pytest.approx(liq)


def test_without_any_mark_the_last_trade_stands_in_for_it():
    b = broker()
    liq = _long_at_10x(b)
    reports, _ = _walk(b, 60_000.0, liq * 0.99, T0 + 2, trade)
    assert "BTCUSDT" not in b.positions and any(r.error and "liquidation" in r.error for r in reports)


@pytest.mark.parametrize("working", ["mark", "last"])
def test_the_stop_loss_triggers_on_the_chosen_working_price(working):
    b = broker(working)
    b.on_market(trade(60_000.0, T0))
    b.on_market(book(59_999.9, 60_000.1, T0))
    b.enter_now(command(side="buy", quantity=0.1, stop_loss=58_200.0, take_profit=63_600.0, ref_price=60_000.1))
    b.on_market(mark(60_000.0, T0 + 1))
    # The mark dips through the stop while the trades stay above it.
    fired = b.on_market(mark(58_100.0, T0 + 2))
    if working == "mark":
        assert [(r.purpose, r.status) for r in fired] == [("stop_loss", "filled"), ("take_profit", "canceled")]
        assert fired[0].avg_price == pytest.approx(58_200.0, rel=1e-6)  # the last trade is above: the stop price
    else:
        assert fired == [] and "BTCUSDT" in b.positions
        fired = b.on_market(trade(58_150.0, T0 + 3))
        assert (fired[0].purpose, fired[0].status) == ("stop_loss", "filled")
