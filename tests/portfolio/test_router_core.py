"""Routing decisions: entry rules, every risk limit with its reason, and pause/flatten/kill/rearm sequences."""

from __future__ import annotations

import msgspec
import pytest
from router_helpers import T0, control, filled, protective_fill, rejected, rules_of, settle, signal, trade

from tui_trader import messages as m
from tui_trader.instruments import RulesBook
from tui_trader.portfolio.router_core import RouterCore
from tui_trader.settings import Settings, TradingSettings


def make(**risk) -> RouterCore:
    s = Settings()
    if risk:
        s = msgspec.structs.replace(s, risk=msgspec.structs.replace(s.risk, **risk))
    core = RouterCore(s)
    for sym, px in (("BTCUSDT", 60_000.0), ("ETHUSDT", 2_500.0)):
        core.on_market_data(trade(px, T0, sym), T0)
    return core


def open_long(core: RouterCore, now: int = T0, symbol: str = "BTCUSDT", price: float = 60_000.0):
    out = core.on_signal(signal("Buy", price, now, symbol=symbol), now)
    assert len(out.commands) == 1, out
    return settle(core, out, now)[0]


def test_a_strong_enough_signal_with_no_position_opens_one_with_protection():
    core = make()
    out = core.on_signal(signal("StrongBuy", 60_000.0), T0)
    [cmd] = out.commands
    assert (cmd.side, cmd.quantity, cmd.purpose, cmd.reduce_only, cmd.mode) == ("buy", 0.016, "entry", False, "paper")
    assert (cmd.stop_loss, cmd.take_profit, cmd.leverage, cmd.ts) == (58_200.0, 63_600.0, 10, T0)
    assert out.denials == []
    core.on_status(filled(cmd), T0)
    pos = core.portfolio.positions["BTCUSDT"]
    assert pos.side == "long" and pos.stop_loss_order_id == f"{cmd.id}-sl"


def test_weak_and_same_direction_signals_are_counted_but_not_published():
    core = make()
    out = core.on_signal(signal("Buy", strength=0.6), T0)
    assert out.commands == [] and out.denials == []
    open_long(core)
    out = core.on_signal(signal("StrongBuy"), T0 + 1000)
    assert out.commands == [] and out.denials == []
    assert core.denials == {"below_min_strength": 1, "same_direction": 1}


def test_an_opposite_signal_closes_reduce_only_by_default():
    core = make()
    entry = open_long(core)
    out = core.on_signal(signal("Sell", 60_300.0, T0 + 5000), T0 + 5000)
    [close] = out.commands
    assert (close.side, close.quantity, close.reduce_only, close.purpose) == ("sell", entry.quantity, True, "close")
    assert close.stop_loss is None and close.take_profit is None
    settle(core, out, T0 + 5000)
    assert core.portfolio.positions == {}


def test_reverse_closes_then_opens_the_other_way_once_the_close_filled():
    core = make(on_opposite="reverse")
    open_long(core)
    out = core.on_signal(signal("Sell", 60_300.0, T0 + 5000), T0 + 5000)
    assert [c.purpose for c in out.commands] == ["close"]  # nothing else until the close has filled
    sent = settle(core, out, T0 + 5000, price=60_300.0)
    assert [(c.purpose, c.side, c.reduce_only) for c in sent] == [("close", "sell", True), ("entry", "sell", False)]
    assert core.portfolio.positions["BTCUSDT"].side == "short"
    assert sent[1].stop_loss > 60_300.0 > sent[1].take_profit


def test_a_reversal_whose_close_fails_leaves_the_position_and_says_so():
    core = make(on_opposite="reverse")
    open_long(core)
    out = core.on_signal(signal("Sell", 60_300.0, T0 + 5000), T0 + 5000)
    after = core.on_status(rejected(out.commands[0], "exchange down"), T0 + 5000)
    assert after.commands == [] and rules_of(after) == ["reverse_aborted"]
    assert "exchange down" in after.denials[0].error
    assert core.portfolio.positions["BTCUSDT"].side == "long"


def test_ignore_denies_an_opposite_signal_visibly():
    core = make(on_opposite="ignore")
    open_long(core)
    out = core.on_signal(signal("Sell"), T0 + 1000)
    assert out.commands == [] and rules_of(out) == ["opposite_ignored"]


def test_a_second_signal_before_the_first_order_is_answered_waits():
    core = make()
    first = core.on_signal(signal("Buy"), T0)
    out = core.on_signal(signal("Sell"), T0 + 100)
    assert out.commands == [] and rules_of(out) == ["pending_order"]
    # …until the order times out unanswered (risk.order_timeout_s = 30), when the symbol is free again.
    later = T0 + 31_000
    core.on_market_data(trade(60_000.0, later), later)
    out = core.on_signal(signal("Sell", ts=later), later)
    assert [c.side for c in out.commands] == ["sell"] and core.unanswered == 1
    assert first.commands[0].id not in core.in_flight


@pytest.mark.parametrize(
    ("setup", "rule", "text"),
    [
        (lambda c, now: c.on_control(control("kill", now), now), "halted", "re-arm, then resume, to trade again"),
        (lambda c, now: c.on_control(control("pause", now), now), "paused", "resume to trade again"),
    ],
)
def test_controls_deny_entries_with_their_reason(setup, rule, text):
    core = make()
    setup(core, T0)
    out = core.on_signal(signal("Buy"), T0)
    assert out.commands == [] and rules_of(out) == [rule] and text in out.denials[0].error
    d = out.denials[0]
    assert (d.status, d.purpose, d.side, d.symbol, d.mode) == ("rejected", "entry", "buy", "BTCUSDT", "paper")


def test_max_open_positions_counts_open_and_opening_ones():
    core = make(max_open_positions=1)
    core.on_signal(signal("Buy", symbol="BTCUSDT"), T0)  # sent, not answered yet
    out = core.on_signal(signal("Buy", 2_500.0, symbol="ETHUSDT"), T0)
    assert rules_of(out) == ["max_open_positions"] and "1 positions open or opening (limit 1)" in out.denials[0].error


def test_the_daily_loss_limit_stops_entries_until_the_next_utc_day():
    core = make(daily_loss_limit_pct=0.001)  # 10 USDT on 10,000
    entry = open_long(core)
    assert core.state()[0] == "trading"
    # The long loses 0.016 × 700 = 11.2 USDT: the limit is reached (fees count too).
    out = core.on_market_data(trade(59_300.0, T0 + 1000), T0 + 1000)
    assert out.state_changed and core.state()[0] == "daily_loss_limit"
    assert "entries resume at 2024-08-09 00:00 UTC" in core.state()[1]
    core.on_status(protective_fill(entry, "stop_loss", 59_300.0, T0 + 2000), T0 + 2000)
    # Prices recover: still stopped for the day.
    core.on_market_data(trade(60_000.0, T0 + 70_000, "ETHUSDT"), T0 + 70_000)
    out = core.on_signal(signal("Buy", 2_500.0, T0 + 70_000, symbol="ETHUSDT"), T0 + 70_000)
    assert rules_of(out) == ["daily_loss_limit"] and "limit 0.10%" in out.denials[0].error
    # After UTC midnight (10 minutes later) entries are allowed again.
    nxt = T0 + 600_000
    core.on_market_data(trade(2_500.0, nxt, "ETHUSDT"), nxt)
    out = core.on_signal(signal("Buy", 2_500.0, nxt, symbol="ETHUSDT"), nxt)
    assert len(out.commands) == 1 and core.state()[0] == "trading"


def test_a_symbol_cools_down_after_a_close():
    core = make(cooldown_s=60.0)
    entry = open_long(core)
    core.on_status(protective_fill(entry, "take_profit", 63_600.0, T0 + 1000), T0 + 1000)
    t = T0 + 31_000
    core.on_market_data(trade(60_000.0, t), t)
    out = core.on_signal(signal("Buy", ts=t), t)
    assert rules_of(out) == ["cooldown"] and "closed 30.0 s ago; cooldown 60 s (30.0 s left)" in out.denials[0].error
    t = T0 + 61_000
    core.on_market_data(trade(60_000.0, t), t)
    assert len(core.on_signal(signal("Buy", ts=t), t).commands) == 1


def test_no_entry_on_a_stale_price():
    core = make(stale_after_s=5.0)
    t = T0 + 6_000
    out = core.on_signal(signal("Buy", ts=t), t)
    assert rules_of(out) == ["stale_price"] and "last price is 6.0 s old (limit 5 s)" in out.denials[0].error
    core.on_market_data(trade(60_000.0, t), t)
    out = core.on_signal(signal("Buy", ts=T0), t)  # a signal computed 6 s ago, delivered now
    assert rules_of(out) == ["stale_price"] and "signal's price is 6.0 s old" in out.denials[0].error
    sol = RouterCore(Settings(trading=TradingSettings(symbols=["BTCUSDT", "SOLUSDT"])))
    out = sol.on_signal(signal("Buy", symbol="SOLUSDT"), T0)
    assert rules_of(out) == ["stale_price"] and "no market price seen yet" in out.denials[0].error


def test_an_unknown_instrument_and_a_too_small_size_are_refused_with_the_reason():
    s = Settings(trading=TradingSettings(symbols=["BTCUSDT", "SOLUSDT"]))
    core = RouterCore(
        msgspec.structs.replace(s, paper=msgspec.structs.replace(s.paper, starting_balance=100.0)), RulesBook()
    )
    for sym in ("BTCUSDT", "SOLUSDT"):
        core.on_market_data(trade(60_000.0, T0, sym), T0)
    assert rules_of(core.on_signal(signal("Buy", symbol="SOLUSDT"), T0)) == ["unknown_instrument"]
    out = core.on_signal(signal("Buy"), T0)
    assert rules_of(out) == ["size_below_minimum"] and "under the minimum" in out.denials[0].error


def test_live_mode_waits_for_the_exchange_balance():
    s = Settings()
    core = RouterCore(msgspec.structs.replace(s, trading=msgspec.structs.replace(s.trading, paper_trading=False)))
    core.on_market_data(trade(60_000.0, T0), T0)
    out = core.on_signal(signal("Buy"), T0)
    assert rules_of(out) == ["margin"] and out.denials[0].mode == "live"


# --- controls -----------------------------------------------------------------------------------------


def test_pause_stops_entries_only_and_resume_lifts_it():
    core = make()
    entry = open_long(core)
    out = core.on_control(control("pause"), T0)
    assert out.commands == [] and out.state_changed and core.state()[0] == "paused"
    # An opposite signal still closes (it only reduces risk); the protective orders were never touched.
    assert [c.purpose for c in core.on_signal(signal("Sell"), T0).commands] == ["close"]
    assert rules_of(core.on_signal(signal("Buy", 2_500.0, symbol="ETHUSDT"), T0)) == ["paused"]
    core.on_control(control("resume"), T0)
    assert len(core.on_signal(signal("Buy", 2_500.0, symbol="ETHUSDT"), T0).commands) == 1
    assert entry.id not in core.in_flight


def test_flatten_closes_every_position_reduce_only_and_keeps_trading():
    core = make()
    btc = open_long(core)
    eth = settle(core, core.on_signal(signal("Sell", 2_500.0, symbol="ETHUSDT"), T0), T0)[0]
    out = core.on_control(control("flatten"), T0 + 1000)
    assert sorted((c.symbol, c.side, c.quantity, c.reduce_only, c.purpose) for c in out.commands) == [
        ("BTCUSDT", "sell", btc.quantity, True, "flatten"),
        ("ETHUSDT", "buy", eth.quantity, True, "flatten"),
    ]
    assert out.persist is None and core.state()[0] == "trading"
    settle(core, out, T0 + 1000)
    assert core.portfolio.positions == {}
    assert core.on_control(control("flatten"), T0 + 2000).commands == []  # nothing left to close


def test_kill_pauses_flattens_halts_and_only_rearm_then_resume_lifts_it():
    core = make()
    btc = open_long(core)
    out = core.on_control(control("kill", T0 + 1000), T0 + 1000)
    assert [(c.symbol, c.side, c.quantity, c.reduce_only, c.purpose) for c in out.commands] == [
        ("BTCUSDT", "sell", btc.quantity, True, "kill")
    ]
    assert out.persist == m.HaltState(halted=True, halted_at=T0 + 1000, halted_by="test")
    settle(core, out, T0 + 1000)
    core.on_control(control("resume"), T0 + 2000)
    assert core.state()[0] == "halted"
    assert rules_of(core.on_signal(signal("Buy", 2_500.0, symbol="ETHUSDT"), T0 + 2000)) == ["halted"]
    out = core.on_control(control("rearm"), T0 + 3000)
    assert out.persist == m.HaltState() and out.commands == [] and core.state()[0] == "paused"
    assert rules_of(core.on_signal(signal("Buy", 2_500.0, T0 + 3000, symbol="ETHUSDT"), T0 + 3000)) == ["paused"]
    core.on_control(control("resume"), T0 + 4000)
    assert len(core.on_signal(signal("Buy", 2_500.0, T0 + 4000, symbol="ETHUSDT"), T0 + 4000).commands) == 1


def test_an_entry_in_flight_at_a_kill_is_closed_when_it_fills():
    core = make()
    sent = core.on_signal(signal("Buy"), T0).commands[0]
    out = core.on_control(control("kill"), T0 + 10)
    assert out.commands == []  # no position yet
    after = core.on_status(filled(sent, ts=T0 + 20), T0 + 20)
    assert [(c.side, c.quantity, c.purpose, c.reduce_only) for c in after.commands] == [
        ("sell", sent.quantity, "kill", True)
    ]


def test_a_kill_cancels_a_pending_reversal():
    core = make(on_opposite="reverse")
    open_long(core)
    close = core.on_signal(signal("Sell"), T0 + 10).commands[0]
    core.on_control(control("kill"), T0 + 20)
    after = core.on_status(filled(close, ts=T0 + 30), T0 + 30)
    assert after.commands == [] and core.portfolio.positions == {}


def account(mode: str, acting: bool = True) -> m.Account:
    return m.Account(mode=mode, acting=acting, exchange="x", balance_total=5_000.0, balance_free=5_000.0, ts=T0)


def test_the_mode_commands_carry_is_the_executors_acknowledged_one_not_the_desks_request():
    core = make()
    assert core.on_control(control("set_mode", arg="bogus"), T0).state_changed is False
    core.on_control(control("set_mode", arg="live"), T0)  # only a request: the executor has not acted on it
    assert core.mode == "paper" and core.on_signal(signal("Buy"), T0).commands[0].mode == "paper"
    core = make()
    assert core.on_account(account("live"), T0).state_changed is True  # the executor acts live now
    assert core.mode == "live" and "mode live" in core.state()[1]
    core.on_account(account("paper", acting=False), T0)  # an earlier paper book still published: no flip back
    assert core.mode == "live" and core.on_signal(signal("Buy"), T0).commands[0].mode == "live"
    core.on_account(account("paper"), T0)  # the executor acknowledged a switch back to paper
    assert core.mode == "paper"


def test_a_desk_that_starts_halted_denies_everything():
    core = RouterCore(Settings(), state=m.HaltState(halted=True, halted_at=T0, halted_by="desk"))
    core.on_market_data(trade(), T0)
    assert core.state()[0] == "halted" and "by desk" in core.state()[1]
    assert rules_of(core.on_signal(signal("Buy"), T0)) == ["halted"]
