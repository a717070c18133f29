"""The book: positions built only from fills (cumulative per order id), marked to market; equity."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tui_trader import messages as m
from tui_trader.portfolio.positions import Portfolio

T0 = 1_723_161_000_000


def status(
    order_id, side, filled, avg, fee=0.0, *, purpose="entry", status_="filled", symbol="BTCUSDT", sl_id=None, tp_id=None
):
    return m.OrderStatus(
        order_id=order_id,
        symbol=symbol,
        side=side,
        purpose=purpose,
        status=status_,
        filled_qty=filled,
        avg_price=avg,
        fee=fee,
        stop_loss_order_id=sl_id,
        take_profit_order_id=tp_id,
        mode="paper",
        ts=T0,
    )


def command(order_id, side, qty, *, sl=None, tp=None, leverage=10, purpose="entry", reduce_only=False):
    return m.OrderCommand(
        id=order_id,
        symbol="BTCUSDT",
        side=side,
        quantity=qty,
        ref_price=60_000.0,
        stop_loss=sl,
        take_profit=tp,
        leverage=leverage,
        reduce_only=reduce_only,
        purpose=purpose,
        mode="paper",
        ts=T0,
    )


def test_partial_fills_average_the_entry_and_a_repeat_counts_once():
    p = Portfolio(10_000.0)
    p.on_command(command("e1", "buy", 0.010, sl=58_200.0, tp=63_600.0))
    p.apply(status("e1", "buy", 0.004, 60_000.0, 0.12, status_="partially_filled", sl_id="sl", tp_id="tp"))
    # Cumulative: 0.010 at an average of 60,060 → the second 0.006 was at 60,100.
    fills = p.apply(status("e1", "buy", 0.010, 60_060.0, 0.30, sl_id="sl", tp_id="tp"))
    assert [(f.quantity, round(f.price, 6), round(f.fee, 6)) for f in fills] == [(0.006, 60_100.0, 0.18)]
    assert p.apply(status("e1", "buy", 0.010, 60_060.0, 0.30)) == []  # the same status again: nothing new
    assert p.apply(status("e1", "buy", 0.004, 60_000.0, 0.12, status_="partially_filled")) == []  # late, older
    pos = p.positions["BTCUSDT"]
    assert (pos.side, pos.quantity, round(pos.entry_price, 6), pos.leverage) == ("long", 0.01, 60_060.0, 10)
    assert (pos.stop_loss, pos.take_profit, pos.stop_loss_order_id, pos.take_profit_order_id) == (
        58_200.0,
        63_600.0,
        "sl",
        "tp",
    )
    assert p.fees == pytest.approx(0.30)


def test_closing_a_long_realises_pnl_and_starts_from_flat():
    p = Portfolio(10_000.0)
    p.apply(status("e1", "buy", 0.01, 60_000.0, 0.30))
    p.apply(status("c1", "sell", 0.004, 61_000.0, 0.12, purpose="close", status_="partially_filled"))
    assert p.positions["BTCUSDT"].quantity == 0.006
    assert p.realized_pnl == pytest.approx(4.0)
    fills = p.apply(status("c1", "sell", 0.01, 60_800.0, 0.30, purpose="close"))
    # The remaining 0.006 at (0.01 × 60800 − 0.004 × 61000) / 0.006 = 60,666.67
    assert fills[0].closed and fills[0].position_qty == 0.0
    assert "BTCUSDT" not in p.positions
    assert p.realized_pnl == pytest.approx(8.0)  # (60800 − 60000) × 0.01
    assert p.fees == pytest.approx(0.60)
    assert p.equity() == pytest.approx(10_000 + 8.0 - 0.60)


def test_a_short_gains_when_the_price_falls():
    p = Portfolio(10_000.0)
    p.on_command(command("e1", "sell", 0.02, leverage=5))
    p.apply(status("e1", "sell", 0.02, 60_000.0))
    p.mark("BTCUSDT", 59_000.0)
    pos = p.positions["BTCUSDT"]
    assert pos.side == "short" and pos.unrealized_pnl == pytest.approx(20.0)
    # ROI on margin: 20 ÷ (1200 ÷ 5) = 8.33 %
    assert pos.pnl_pct == pytest.approx(20 / 240 * 100)
    p.apply(status("sl", "buy", 0.02, 59_500.0, purpose="stop_loss"))
    assert p.positions == {} and p.realized_pnl == pytest.approx(10.0)


def test_marks_move_unrealised_pnl_and_equity_and_free_equity_follow():
    p = Portfolio(10_000.0)
    p.on_command(command("e1", "buy", 0.016))
    p.apply(status("e1", "buy", 0.016, 60_000.0, 0.48))
    assert p.margin_in_use() == pytest.approx(96.0)
    p.mark("BTCUSDT", 61_000.0)
    assert p.positions["BTCUSDT"].unrealized_pnl == pytest.approx(16.0)
    assert p.equity() == pytest.approx(10_000 - 0.48 + 16.0)
    p.mark("BTCUSDT", 59_000.0)
    assert p.positions["BTCUSDT"].unrealized_pnl == pytest.approx(-16.0)
    assert p.free_equity() == pytest.approx(10_000 - 0.48 - 16.0 - 96.0)


def test_selling_more_than_the_long_flips_to_a_short_at_the_fill_price():
    p = Portfolio(1_000.0)
    p.apply(status("e1", "buy", 0.01, 60_000.0))
    fills = p.apply(status("e2", "sell", 0.03, 61_000.0))
    pos = p.positions["BTCUSDT"]
    assert (pos.side, pos.quantity, pos.entry_price) == ("short", 0.02, 61_000.0)
    assert fills[0].opened and fills[0].closed and fills[0].position_qty == pytest.approx(-0.02)
    assert p.realized_pnl == pytest.approx(10.0)


def test_a_canceled_protective_order_no_longer_shows_as_protecting():
    p = Portfolio(10_000.0)
    p.apply(status("e1", "buy", 0.01, 60_000.0, sl_id="sl1", tp_id="tp1"))
    p.apply(status("sl1", "sell", 0.0, 0.0, purpose="stop_loss", status_="canceled"))
    pos = p.positions["BTCUSDT"]
    assert pos.stop_loss_order_id is None and pos.take_profit_order_id == "tp1"


def test_protection_replaced_after_a_partial_close_shows_its_new_ids():
    p = Portfolio(10_000.0)
    p.apply(status("e1", "buy", 0.02, 60_000.0, sl_id="sl1", tp_id="tp1"))
    for old in ("sl1", "tp1"):
        p.apply(
            status(old, "sell", 0.0, 0.0, purpose="stop_loss" if old == "sl1" else "take_profit", status_="canceled")
        )
    p.apply(status("c1", "sell", 0.01, 60_500.0, purpose="close"))
    p.apply(status("sl2", "sell", 0.0, 0.0, purpose="stop_loss", status_="accepted"))
    p.apply(status("tp2", "sell", 0.0, 0.0, purpose="take_profit", status_="accepted"))
    pos = p.positions["BTCUSDT"]
    assert (pos.quantity, pos.stop_loss_order_id, pos.take_profit_order_id) == (0.01, "sl2", "tp2")


def test_live_balance_replaces_the_starting_balance_and_fills_move_on_from_it():
    p = Portfolio(10_000.0)
    p.apply(status("e1", "buy", 0.01, 60_000.0, 0.3))
    p.mark("BTCUSDT", 60_500.0)
    p.set_balance(2_500.0)  # the exchange's account value, unrealised PnL included
    assert p.equity() == pytest.approx(2_500.0)
    p.apply(status("c1", "sell", 0.01, 60_500.0, 0.3, purpose="close"))
    assert p.equity() == pytest.approx(2_500.0 - 0.3)  # the unrealised 5 became realised; the fee is new
    p.use_starting_balance()
    assert p.equity() == pytest.approx(10_000 + 5.0 - 0.6)


def _split(total_steps: int, parts: int, rnd: random.Random) -> list[int]:
    cuts = sorted(rnd.sample(range(1, total_steps), min(parts - 1, total_steps - 1))) if total_steps > 1 else []
    bounds = [0, *cuts, total_steps]
    return [b - a for a, b in itertools.pairwise(bounds)]


def _order_statuses(oid, side, steps, prices, purpose, fee_rate=0.0005):
    """Cumulative statuses of one order filled in increments: (qty increments in steps, their prices)."""
    out, qty, notional = [], 0.0, 0.0
    for i, (n, px) in enumerate(zip(steps, prices, strict=False)):
        qty += n * 0.001
        notional += n * 0.001 * px
        last = i == len(steps) - 1
        out.append(
            status(
                oid,
                side,
                round(qty, 12),
                notional / qty,
                notional * fee_rate,
                purpose=purpose,
                status_="filled" if last else "partially_filled",
            )
        )
    return out, qty, notional


@settings(max_examples=300, deadline=None)
@given(
    direction=st.sampled_from(["long", "short"]),
    a_steps=st.integers(1, 60),
    b_steps=st.integers(1, 60),
    close_share=st.floats(0.0, 1.0),
    parts=st.integers(1, 5),
    seed=st.integers(0, 2**32 - 1),
)
def test_any_interleaving_of_partial_fills_gives_the_same_book(direction, a_steps, b_steps, close_share, parts, seed):
    rnd = random.Random(seed)
    open_side, close_side = ("buy", "sell") if direction == "long" else ("sell", "buy")
    price = lambda: round(rnd.uniform(50_000, 70_000), 1)  # noqa: E731
    sa, sb = _split(a_steps, parts, rnd), _split(b_steps, parts, rnd)
    a, qa, na = _order_statuses("A", open_side, sa, [price() for _ in sa], "entry")
    b, qb, nb = _order_statuses("B", open_side, sb, [price() for _ in sb], "entry")
    c_steps = int((a_steps + b_steps) * close_share)
    opened = a + b
    rnd.shuffle(opened)  # the two entries' partial fills in any order, late and repeated ones included
    opened += rnd.sample(opened, k=min(3, len(opened)))
    p = Portfolio(10_000.0)
    for s in opened:
        p.apply(s)
    entry = (na + nb) / (qa + qb)
    pos = p.positions["BTCUSDT"]
    assert pos.side == direction
    assert pos.quantity == pytest.approx(qa + qb)
    assert pos.entry_price == pytest.approx(entry, rel=1e-12)
    realized, fees = 0.0, (na + nb) * 0.0005
    if c_steps:
        sc = _split(c_steps, parts, rnd)
        c, qc, nc = _order_statuses("C", close_side, sc, [price() for _ in sc], "close")
        rnd.shuffle(c)
        for s in c:
            p.apply(s)
        sign = 1 if direction == "long" else -1
        realized = (nc / qc - entry) * qc * sign
        fees += nc * 0.0005
    assert p.realized_pnl == pytest.approx(realized, abs=1e-6)
    assert p.fees == pytest.approx(fees, abs=1e-9)
    remaining = a_steps + b_steps - c_steps
    if remaining:
        assert p.positions["BTCUSDT"].quantity == pytest.approx(remaining * 0.001)
        assert p.positions["BTCUSDT"].entry_price == pytest.approx(entry, rel=1e-12)
    else:
        assert "BTCUSDT" not in p.positions
    p.mark("BTCUSDT", 65_000.0)
    unreal = (65_000.0 - entry) * remaining * 0.001 * (1 if direction == "long" else -1)
    assert p.unrealized_pnl() == pytest.approx(unreal, abs=1e-6)
    assert p.equity() == pytest.approx(10_000.0 + realized - fees + unreal, abs=1e-6)
