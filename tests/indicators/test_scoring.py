"""The seed's scoring, rule by rule: every branch, both sides, ties and edges."""

from __future__ import annotations

import pytest

from tui_trader.indicators.scoring import Scorer
from tui_trader.settings import IndicatorSettings

# A neutral point: RSI 50, MACD on its signal, price mid-band (%B 0.5), SMAs and EMAs equal → nothing fires.
NEUTRAL = dict(
    rsi=50.0,
    macd=1.0,
    macd_signal=1.0,
    bb_upper=110.0,
    bb_lower=90.0,
    sma_fast=100.0,
    sma_slow=100.0,
    ema_fast=100.0,
    ema_slow=100.0,
    price=100.0,
)


def evaluate(min_strength: float = 0.65, near_band: float = 0.2, **changes):
    scorer = Scorer(IndicatorSettings(near_band=near_band), min_strength)
    return scorer.evaluation(scorer.fired(**{**NEUTRAL, **changes}))


# One rule alone: (changes, buy, sell, reasons)
SINGLE_RULES = [
    pytest.param({}, 0, 0, (), id="neutral"),
    pytest.param({"rsi": 29.99}, 2, 0, ("rsi<30:+2",), id="rsi<30"),
    pytest.param({"rsi": 30.0}, 1, 0, ("rsi<40:+1",), id="rsi=30-is-only-below-40"),
    pytest.param({"rsi": 39.99}, 1, 0, ("rsi<40:+1",), id="rsi<40"),
    pytest.param({"rsi": 40.0}, 0, 0, (), id="rsi=40-neither"),
    pytest.param({"rsi": 60.0}, 0, 0, (), id="rsi=60-neither"),
    pytest.param({"rsi": 60.01}, 0, 1, ("rsi>60:+1",), id="rsi>60"),
    pytest.param({"rsi": 70.0}, 0, 1, ("rsi>60:+1",), id="rsi=70-is-only-above-60"),
    pytest.param({"rsi": 70.01}, 0, 2, ("rsi>70:+2",), id="rsi>70"),
    pytest.param({"macd": 1.5}, 1, 0, ("macd>signal:+1",), id="macd>signal"),
    pytest.param({"macd": 0.5}, 0, 1, ("macd<signal:+1",), id="macd<signal"),
    pytest.param({"macd": -2.0, "macd_signal": -2.0}, 0, 0, (), id="macd=signal-neither"),
    pytest.param({"price": 94.0}, 1, 0, ("near_lower_band:+1",), id="%B=0.2-near-lower"),
    pytest.param({"price": 94.2}, 0, 0, (), id="%B=0.21-not-near"),
    pytest.param({"price": 80.0}, 1, 0, ("near_lower_band:+1",), id="below-lower-band"),
    pytest.param({"price": 106.0}, 0, 1, ("near_upper_band:+1",), id="%B=0.8-near-upper"),
    pytest.param({"price": 105.8}, 0, 0, (), id="%B=0.79-not-near"),
    pytest.param({"price": 120.0}, 0, 1, ("near_upper_band:+1",), id="above-upper-band"),
    pytest.param({"bb_upper": 100.0, "bb_lower": 100.0}, 0, 0, (), id="zero-width-band-neither"),
    pytest.param({"sma_fast": 100.5}, 1, 0, ("sma20>sma50:+1",), id="sma-fast>slow"),
    pytest.param({"sma_fast": 99.5}, 0, 1, ("sma20<sma50:+1",), id="sma-fast<slow"),
    pytest.param({"ema_fast": 100.5}, 1, 0, ("ema12>ema26:+1",), id="ema-fast>slow"),
    pytest.param({"ema_fast": 99.5}, 0, 1, ("ema12<ema26:+1",), id="ema-fast<slow"),
]


@pytest.mark.parametrize("changes, buy, sell, reasons", SINGLE_RULES)
def test_each_rule_alone(changes, buy, sell, reasons):
    ev = evaluate(**changes)
    assert (ev.buy, ev.sell, ev.reasons) == (buy, sell, reasons)


def test_near_band_setting_moves_the_band_rule():
    assert evaluate(price=96.0).reasons == ()  # %B 0.3 with the default 0.2
    assert evaluate(price=96.0, near_band=0.3).reasons == ("near_lower_band:+1",)
    assert evaluate(price=104.0, near_band=0.3).reasons == ("near_upper_band:+1",)


def test_labels_name_the_configured_periods():
    scorer = Scorer(IndicatorSettings(sma_fast=10, sma_slow=30, ema_fast=5, ema_slow=15), 0.65)
    ev = scorer.evaluation(scorer.fired(**{**NEUTRAL, "sma_fast": 101.0, "ema_fast": 99.0}))
    assert ev.reasons == ("sma10>sma30:+1", "ema5<ema15:+1")


# (changes, kind, strength): every buy rule adds up to 6; the sell side mirrors it.
ALL_BUY = dict(rsi=20.0, macd=2.0, price=91.0, sma_fast=101.0, ema_fast=101.0)
ALL_SELL = dict(rsi=80.0, macd=0.0, price=109.0, sma_fast=99.0, ema_fast=99.0)


@pytest.mark.parametrize(
    "changes, kind, buy, sell, strength",
    [
        pytest.param(ALL_BUY, "StrongBuy", 6, 0, 1.0, id="all-buy-rules"),
        pytest.param(ALL_SELL, "StrongSell", 0, 6, 1.0, id="all-sell-rules"),
        pytest.param({"rsi": 20.0, "macd": 2.0}, "Buy", 3, 0, 1.0, id="buy-3-is-Buy"),
        pytest.param({"rsi": 20.0, "macd": 2.0, "sma_fast": 101.0}, "StrongBuy", 4, 0, 1.0, id="buy-4-is-StrongBuy"),
        pytest.param({"rsi": 80.0, "macd": 0.0}, "Sell", 0, 3, 1.0, id="sell-3-is-Sell"),
        pytest.param({"rsi": 80.0, "macd": 0.0, "sma_fast": 99.0}, "StrongSell", 0, 4, 1.0, id="sell-4-is-StrongSell"),
        pytest.param({"macd": 2.0}, "Buy", 1, 0, 1.0, id="one-buy-point-is-a-Buy"),
        pytest.param({"rsi": 20.0, "sma_fast": 99.0, "ema_fast": 99.0}, None, 2, 2, 0.0, id="tie-2-2-no-signal"),
        pytest.param({"rsi": 20.0, "macd": 2.0, "sma_fast": 99.0}, None, 3, 1, 0.75, id="not-a-tie"),
        # Both sides score: StrongBuy needs 4 buy points and the strength, whatever the sell points.
        pytest.param({**ALL_BUY, "ema_fast": 99.0}, "StrongBuy", 5, 1, 5 / 6, id="5-1-StrongBuy"),
        pytest.param({"rsi": 35.0, "macd": 2.0, "sma_fast": 101.0, "ema_fast": 99.0}, None, 3, 1, 0.75, id="3-1"),
        pytest.param(
            {"rsi": 65.0, "macd": 0.0, "price": 109.0, "sma_fast": 101.0, "ema_fast": 99.0},
            "StrongSell",
            1,
            4,
            0.8,
            id="1-4-StrongSell",
        ),
    ],
)
def test_kinds_and_strength(changes, kind, buy, sell, strength):
    ev = evaluate(min_strength=0.8, **changes)
    assert (ev.kind, ev.buy, ev.sell) == (kind, buy, sell)
    assert ev.strength == pytest.approx(strength)


@pytest.mark.parametrize(
    "buy, sell, min_strength, kind",
    [
        pytest.param(3, 1, 0.75, "Buy", id="0.75-at-threshold-0.75"),
        pytest.param(3, 1, 0.76, None, id="0.75-below-threshold-0.76"),
        pytest.param(4, 1, 0.8, "StrongBuy", id="0.8-at-threshold-0.8"),
        pytest.param(4, 1, 0.81, None, id="StrongBuy-below-threshold"),
        pytest.param(3, 2, 0.6, "Buy", id="0.6-at-threshold-0.6"),
        pytest.param(1, 3, 0.75, "Sell", id="sell-0.75-at-threshold"),
        pytest.param(1, 3, 0.76, None, id="sell-below-threshold"),
        pytest.param(1, 4, 0.8, "StrongSell", id="strongsell-at-threshold"),
        pytest.param(2, 1, 0.65, "Buy", id="default-threshold-2-1"),
        pytest.param(3, 2, 0.65, None, id="default-threshold-3-2"),
        pytest.param(0, 0, 0.01, None, id="nothing-fired"),
        pytest.param(4, 4, 0.01, None, id="tie-never-signals"),
    ],
)
def test_strength_threshold_edges(buy, sell, min_strength, kind):
    ev = Scorer(IndicatorSettings(), min_strength).classify(buy, sell)
    assert ev.kind == kind
    if buy != sell:
        assert ev.strength == max(buy, sell) / (buy + sell)


def test_reasons_list_every_rule_that_fired_on_both_sides():
    ev = evaluate(rsi=25.0, macd=2.0, price=93.0, sma_fast=99.0, ema_fast=101.0)
    assert ev.reasons == ("rsi<30:+2", "macd>signal:+1", "near_lower_band:+1", "sma20<sma50:+1", "ema12>ema26:+1")
    assert (ev.kind, ev.buy, ev.sell, ev.strength) == ("StrongBuy", 5, 1, 5 / 6)
