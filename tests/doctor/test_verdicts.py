"""The doctor's pure rules: bracket lookup at the edges, the 1 s skew limit, one line per check."""

from __future__ import annotations

from tui_trader.doctor import verdicts
from tui_trader.doctor.report import Check, exit_code, line
from tui_trader.doctor.verdicts import Tier

# Binance BTCUSDT's first brackets, as /fapi/v1/leverageBracket lists them.
BTC = [Tier(0, 50_000, 125), Tier(50_000, 600_000, 100), Tier(600_000, 3_000_000, 75)]


def test_a_position_at_a_bracket_cap_still_gets_that_brackets_leverage():
    assert verdicts.tier_for(BTC, 50_000) == BTC[0]
    assert verdicts.tier_for(BTC, 50_000.01) == BTC[1]
    assert verdicts.tier_for(BTC, 3_000_001) is None


def test_leverage_checked_against_the_bracket_of_the_largest_position():
    assert verdicts.leverage({"BTCUSDT": BTC}, 125, 50_000, live=True).status == "ok"
    over = verdicts.leverage({"BTCUSDT": BTC}, 125, 60_000, live=True)
    assert over.status == "fail" and "at most 100x for a 60,000 USDT position" in over.detail
    assert verdicts.leverage({"BTCUSDT": BTC}, 125, 60_000, live=False).status == "warn"


def test_a_position_above_every_bracket_or_no_brackets_fails():
    huge = verdicts.leverage({"BTCUSDT": BTC}, 1, 5_000_000, live=True)
    assert huge.status == "fail" and "above the largest bracket (3,000,000 USDT) at any leverage" in huge.detail
    none = verdicts.leverage({"BTCUSDT": BTC, "ETHUSDT": []}, 10, 1_000, live=True)
    assert none.status == "fail" and none.detail.startswith("ETHUSDT: the exchange lists no leverage brackets")


def test_clock_skew_is_a_warning_only_over_one_second():
    assert verdicts.clock("binanceusdm", 1000.0, 5).status == "ok"
    late = verdicts.clock("binanceusdm", -1001.0, 5)
    assert late.status == "warn" and "1.00 s behind binanceusdm's" in late.detail


def test_hedge_mode_fails_live_and_warns_paper():
    assert verdicts.position_mode("okx", hedged=False, live=True).status == "ok"
    assert verdicts.position_mode("okx", hedged=True, live=True).status == "fail"
    assert verdicts.position_mode("okx", hedged=True, live=False).status == "warn"


def test_a_check_prints_on_one_line_and_only_a_failure_sets_the_exit_code():
    multi = Check(name="exchange", status="fail", detail="first line\n  second\tline")
    assert line(multi) == "[FAIL] exchange: first line second line"
    assert exit_code([Check(name="a", status="warn", detail=""), Check(name="b", status="info", detail="")]) == 0
    assert exit_code([Check(name="a", status="ok", detail=""), multi]) == 1
