"""Sizing and protection: caps, step rounding, minimums, SL/TP prices."""

from __future__ import annotations

import math

from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from tui_trader.instruments import PAPER_RULES, InstrumentRules
from tui_trader.portfolio.sizing import Denial, EntryPlan, protective_prices, size_entry

BTC = PAPER_RULES["BTCUSDT"]
ETH = PAPER_RULES["ETHUSDT"]


def sized(**over):
    args = dict(
        side="buy",
        entry_price=60_000.0,
        equity=10_000.0,
        free_equity=10_000.0,
        rules=BTC,
        risk_per_trade=0.02,
        stop_loss_pct=0.03,
        take_profit_pct=0.06,
        max_position_size=1000.0,
        leverage=10,
    )
    args.update(over)
    return size_entry(**args)


def test_defaults_on_btc_are_capped_by_the_max_position_size_and_rounded_down_to_the_step():
    plan = sized()
    assert isinstance(plan, EntryPlan)
    # risk 200 USDT ÷ (60000 × 3%) = 0.111 BTC = 6,666 USDT → capped to 1,000 USDT = 0.01666 → 0.016
    assert plan.quantity == 0.016
    assert plan.capped_by == "max_position_size"
    assert plan.notional == 960.0 and plan.margin == 96.0
    assert (plan.stop_loss, plan.take_profit) == (58_200.0, 63_600.0)


def test_a_short_has_its_stop_above_and_its_target_below():
    plan = sized(side="sell")
    assert (plan.stop_loss, plan.take_profit) == (61_800.0, 56_400.0)


def test_the_risk_amount_sets_the_size_when_it_is_the_smallest_limit():
    plan = sized(entry_price=2_500.0, rules=ETH, equity=1_000.0, free_equity=1_000.0)
    # risk 20 USDT ÷ (2500 × 3%) = 0.2667 ETH → 0.266 (666.67 USDT is under the 1,000 cap)
    assert plan.quantity == 0.266 and plan.capped_by == "risk"
    # Losing the stop-loss distance on it costs at most the risk amount.
    assert plan.quantity * 2_500.0 * 0.03 <= 20.0


def test_free_equity_caps_the_margin():
    plan = sized(free_equity=50.0, leverage=5, max_position_size=10_000.0)
    assert plan.capped_by == "margin"
    assert plan.margin <= 50.0 and plan.quantity == 0.004  # 250 USDT of notional at 5x → 0.00416 → 0.004


def test_too_small_an_account_gives_no_order_and_says_why():
    plan = sized(equity=100.0, free_equity=100.0)
    assert isinstance(plan, Denial) and plan.rule == "size_below_minimum"
    assert "under the minimum 0.001 / 100.00 USDT notional" in plan.reason


def test_no_free_margin_is_its_own_reason():
    plan = sized(free_equity=5.0)
    assert isinstance(plan, Denial) and plan.rule == "margin"
    assert "free equity 5.00 USDT at 10x allows 50.00 USDT" in plan.reason
    assert sized(free_equity=-1.0).rule == "margin"


def test_protective_prices_round_toward_the_entry_and_stay_on_their_side():
    # 60000.05 × 0.97 = 58200.0485 → up to 58200.1 (a smaller loss than configured, never a larger one)
    assert protective_prices("buy", 60_000.05, 0.03, 0.06, 0.1) == (58_200.1, 63_600.0)
    # A distance under one tick still leaves the stop strictly below the entry.
    sl, tp = protective_prices("buy", 100.0, 0.0001, 0.0001, 0.1)
    assert sl == 99.9 and tp == 100.1


def rules_strategy():
    return st.one_of(
        st.sampled_from(list(PAPER_RULES.values())),
        st.builds(
            lambda tick, step, k, mn: InstrumentRules(
                symbol="XUSDT", tick=tick, step=step, min_qty=step * k, min_notional=mn
            ),
            st.sampled_from([0.0001, 0.001, 0.01, 0.1, 0.5, 1.0]),
            st.sampled_from([0.001, 0.01, 0.1, 1.0]),
            st.integers(1, 10),
            st.sampled_from([0.0, 5.0, 20.0, 100.0]),
        ),
    )


@settings(max_examples=400, deadline=None)
@given(
    side=st.sampled_from(["buy", "sell"]),
    equity=st.floats(1.0, 1e6),
    free_share=st.floats(0.0, 1.0),
    price=st.floats(0.01, 200_000.0),
    risk=st.floats(0.001, 0.5),
    sl=st.floats(0.0005, 0.5),
    tp=st.floats(0.0005, 0.9),
    leverage=st.integers(1, 125),
    max_pos=st.floats(10.0, 1e6),
    rules=rules_strategy(),
)
@example(
    side="buy",
    equity=10_000.0,
    free_share=1.0,
    price=60_000.0,
    risk=0.02,
    sl=0.03,
    tp=0.06,
    leverage=10,
    max_pos=1000.0,
    rules=BTC,
)
def test_any_order_respects_every_cap_the_step_and_the_minimum(
    side, equity, free_share, price, risk, sl, tp, leverage, max_pos, rules
):
    assume(rules.tick * 10 <= price)  # real instruments quote many ticks per unit of price
    free = equity * free_share
    plan = size_entry(
        side=side,
        entry_price=price,
        equity=equity,
        free_equity=free,
        rules=rules,
        risk_per_trade=risk,
        stop_loss_pct=sl,
        take_profit_pct=tp,
        max_position_size=max_pos,
        leverage=leverage,
    )
    risk_notional = equity * risk / sl

    def allowed(qty: float) -> bool:
        n = qty * price
        return n <= max_pos and n / leverage <= free and n <= risk_notional * (1 + 1e-12)

    if isinstance(plan, Denial):
        assert plan.rule in ("size_below_minimum", "margin")
        # No order only when even the smallest acceptable order breaks a cap.
        smallest = max(rules.min_qty, math.ceil(rules.min_notional / price / rules.step - 1e-9) * rules.step)
        assert not allowed(smallest * (1 - 1e-9)) or free <= 0
        return
    q = plan.quantity
    assert plan.notional <= max_pos
    assert plan.notional / leverage <= free
    assert q * price * sl <= equity * risk * (1 + 1e-9)  # the stop-loss loses at most the risk amount
    steps = q / rules.step
    assert abs(steps - round(steps)) <= max(1e-6, steps * 1e-12)  # a multiple of the step
    assert q >= rules.min_qty - 1e-12 and plan.notional >= rules.min_notional
    # Rounded down, not further: one more step would break a cap (or come within float noise of one).
    nxt = (q + rules.step) * price
    assert not allowed(q + rules.step) or min(max_pos - nxt, free * leverage - nxt, risk_notional - nxt) < nxt * 1e-9
    # Protection on the right side of the entry, within one tick of the configured distance.
    want_sl = price * (1 - sl) if side == "buy" else price * (1 + sl)
    want_tp = price * (1 + tp) if side == "buy" else price * (1 - tp)
    assert abs(plan.stop_loss - want_sl) <= rules.tick * 1.000001 + 1e-9
    assert abs(plan.take_profit - want_tp) <= rules.tick * 1.000001 + 1e-9
    if side == "buy":
        assert plan.stop_loss < price < plan.take_profit
    else:
        assert plan.take_profit < price < plan.stop_loss
    # Never further from the entry than configured (rounded toward the entry).
    assert abs(plan.stop_loss - price) <= abs(want_sl - price) + 1e-9 or abs(want_sl - price) < rules.tick
