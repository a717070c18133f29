"""Which bus message becomes which notice, once rules, the rate rule and the day's summary (pure)."""

from __future__ import annotations

import msgspec
from notify_helpers import DAY, T0, fill, health, kill

from tui_trader import messages as m
from tui_trader import reconcile as rc
from tui_trader.notify.rules import NotifyRules
from tui_trader.settings import NotifySettings

SEC = 1000


def rules(**kw) -> NotifyRules:
    return NotifyRules(NotifySettings(**kw))


def kinds(notices) -> list[str]:
    return [n.kind for n in notices]


def test_entry_fill_says_side_quantity_price_and_the_protective_prices_placed():
    r = rules()
    [n] = r.on_status(fill("o1", stop_loss_price=58_200.0, take_profit_price=63_600.0), T0)
    assert n.kind == "fill" and n.level == "info"
    assert "Entry filled: BTCUSDT buy" in n.title and n.title.startswith("tui-trader: ")
    assert (
        "0.01 BTCUSDT @ 60,000.00" in n.body and "stop-loss 58,200.00" in n.body and "take-profit 63,600.00" in n.body
    )


def test_stop_loss_and_take_profit_hits_are_their_own_kinds():
    r = rules()
    [sl] = r.on_status(fill("e1:sl", purpose="stop_loss", side="sell", price=58_200.0), T0)
    [tp] = r.on_status(fill("e2:tp", purpose="take_profit", side="sell", price=63_600.0), T0)
    assert (sl.kind, sl.level, tp.kind, tp.level) == ("stop_loss", "warning", "take_profit", "success")
    assert "Stop-loss hit: BTCUSDT" in sl.title and "Take-profit hit: BTCUSDT" in tp.title


def test_only_final_fills_and_each_order_once():
    r = rules()
    accepted = m.OrderStatus(
        order_id="o1", symbol="BTCUSDT", side="buy", purpose="entry", status="accepted", mode="paper", ts=T0
    )
    assert r.on_status(accepted, T0) == []
    assert kinds(r.on_status(fill("o1"), T0)) == ["fill"]
    assert r.on_status(fill("o1"), T0 + 5) == []  # the same status again (a restart re-reads it)


def test_disabled_kinds_stay_quiet():
    r = rules(fills=False, stop_loss_take_profit=False, kill=False)
    assert r.on_status(fill("o1"), T0) == []
    assert r.on_status(fill("o1:sl", purpose="stop_loss", side="sell"), T0) == []
    assert r.on_control(kill(), T0) == []


def test_kill_names_who_pulled_it():
    [n] = rules().on_control(kill(origin="desk", arg="f12 pressed"), T0)
    assert n.kind == "kill" and n.level == "failure" and "by desk: f12 pressed" in n.body


def test_halts_daily_loss_crash_loop_and_stale_feed_once_per_episode():
    r = rules()
    [daily] = r.on_health(health("router", "daily_loss_limit", "loss 5.1% of 10000 reached"), T0)
    assert r.on_health(health("router", "daily_loss_limit", "loss 5.3%"), T0 + 1) == []  # still there
    [gave_up] = r.on_health(health("worker:indicator", "failed", "worker indicator crashed 6 times"), T0)
    [stale] = r.on_health(health("feed:public-1", "stale", "no message for 10 s: ETHUSDT"), T0)
    assert r.on_health(health("feed:public-1", "stale", "no message for 10 s: ETHUSDT"), T0 + 1) == []
    assert all(n.kind == "halt" for n in (daily, gave_up, stale))
    assert "daily loss" in daily.title and "indicator worker given up" in gave_up.title
    assert "public-1 stale" in stale.title and "ETHUSDT" in stale.body
    r.on_health(health("router", "trading"), T0 + 2)
    assert kinds(r.on_health(health("router", "daily_loss_limit"), T0 + 3)) == ["halt"]  # a new episode


def test_feed_down_only_after_the_configured_time_with_its_reason_then_back():
    r = rules(feed_down_after_s=30)
    assert r.on_health(health("feed:public-1", "connecting", "wss://fstream.binance.com/stream"), T0) == []
    assert (
        r.on_health(
            health("feed:public-1", "down", "cannot resolve fstream.binance.com; reconnecting in 5.4 s"), T0 + 5 * SEC
        )
        == []
    )
    assert r.on_tick(T0 + 29 * SEC) == []
    [down] = r.on_tick(T0 + 30 * SEC)
    assert down.kind == "feed_down" and "public-1" in down.title
    assert "not live for 30 s" in down.body and "cannot resolve fstream.binance.com; reconnecting in 5.4 s" in down.body
    assert r.on_tick(T0 + 90 * SEC) == []  # once
    assert r.on_health(health("feed:public-1", "down", "closed; reconnecting in 10.0 s"), T0 + 95 * SEC) == []
    [back] = r.on_health(health("feed:public-1", "live"), T0 + 100 * SEC)
    assert back.kind == "feed_back" and back.level == "success"


def test_a_feed_gap_is_sent_with_its_symbols_again_when_more_lose_trades_then_whole():
    r = rules()
    gap = "trades lost: BTCUSDT 12; no entries on it until whole again"
    [n] = r.on_health(health("feed:gaps", "gap", gap, symbols=["BTCUSDT"]), T0)
    assert n.kind == "feed_gap" and n.level == "warning"
    assert "Feed gap: BTCUSDT" in n.title and "BTCUSDT 12" in n.body and "no entries" in n.body
    assert r.on_health(health("feed:gaps", "gap", gap, symbols=["BTCUSDT"]), T0 + 1) == []  # still the same gap
    both = "trades lost: BTCUSDT 12, ETHUSDT 3; no entries on them until whole again"
    [more] = r.on_health(health("feed:gaps", "gap", both, symbols=["BTCUSDT", "ETHUSDT"]), T0 + 2)
    assert "BTCUSDT, ETHUSDT" in more.title
    eth = "trades lost: ETHUSDT 3; no entries on it until whole again"
    assert r.on_health(health("feed:gaps", "gap", eth, symbols=["ETHUSDT"]), T0 + 2) == []  # BTCUSDT whole: no alarm
    [whole] = r.on_health(health("feed:gaps", "whole", "no gap"), T0 + 3)
    assert whole.kind == "feed_gap" and whole.level == "success" and "whole again" in whole.title
    assert r.on_health(health("feed:gaps", "whole", "no gap"), T0 + 4) == []
    # A collector starting whole says nothing; a trader who turned halts off is not told either.
    assert rules().on_health(health("feed:gaps", "whole", "no gap"), T0) == []
    assert rules(halts=False).on_health(health("feed:gaps", "gap", gap, symbols=["BTCUSDT"]), T0) == []


def test_a_short_outage_and_the_end_of_a_replay_are_not_sent():
    r = rules(feed_down_after_s=30)
    r.on_health(health("feed:public-1", "down", "closed; reconnecting in 1.0 s"), T0)
    assert r.on_health(health("feed:public-1", "live"), T0 + 3 * SEC) == []
    assert r.on_tick(T0 + 60 * SEC) == []
    assert r.on_health(health("feed:replay", "down", "replay finished"), T0) == []
    assert r.on_tick(T0 + 3600 * SEC) == [] or all(n.kind == "daily_summary" for n in r.on_tick(T0 + 3600 * SEC))


def test_naked_position_alarm_then_all_clear():
    r = rules()
    [alarm] = r.on_health(
        health(m.WATCHDOG_COMPONENT, "alarm", "BTCUSDT without protection for 5.2 s", symbols=["BTCUSDT"]), T0
    )
    assert alarm.kind == "naked" and alarm.level == "failure" and "BTCUSDT" in alarm.title
    assert (
        r.on_health(
            health(m.WATCHDOG_COMPONENT, "alarm", "BTCUSDT without protection for 7 s", symbols=["BTCUSDT"]), T0 + 1
        )
        == []
    )
    assert kinds(r.on_health(health(m.WATCHDOG_COMPONENT, "alarm", "two", symbols=["BTCUSDT", "ETHUSDT"]), T0 + 2)) == [
        "naked"
    ]  # one more symbol at risk
    [clear] = r.on_health(health(m.WATCHDOG_COMPONENT, "ok"), T0 + 3)
    assert clear.level == "success"
    assert r.on_health(health(m.WATCHDOG_COMPONENT, "ok"), T0 + 4) == []


def test_reconciliation_waiting_once_with_the_differences():
    diff = rc.Difference(
        id="untracked_position:ETHUSDT",
        kind="untracked_position",
        symbol="ETHUSDT",
        exchange=rc.ExchangePosition(symbol="ETHUSDT", side="long", quantity=0.5, entry_price=2500.0),
    )
    asked = msgspec.structs.replace(
        health("reconcile", "waiting"),
        question=m.ReconcileQuestion(round="round-1", exchange="binanceusdm", differences=[diff]),
    )
    r = rules()
    [n] = r.on_health(asked, T0)
    assert n.kind == "reconcile" and "1 difference" in n.body and "ETHUSDT" in n.body and "binanceusdm" in n.body
    assert r.on_health(asked, T0 + 10 * SEC) == []  # re-announced: not re-sent


def test_fill_notices_over_the_rate_are_dropped_counted_and_mentioned():
    r = rules(max_per_minute=2)
    sent = [n for i in range(5) for n in r.on_status(fill(f"o{i}"), T0 + i)]
    assert len(sent) == 2 and r.rate_limited == 3
    # Kill is never rate limited.
    assert kinds(r.on_control(kill(), T0 + 10)) == ["kill"]
    [later] = r.on_status(fill("o9"), T0 + 60 * SEC + 1)
    assert "+3 earlier fill notices left out" in later.body


def test_daily_summary_on_the_utc_day_roll_with_trades_realised_and_fees():
    r = rules(fills=False)
    r.on_tick(T0 + 3600 * SEC)  # counting starts at 01:00
    r.on_status(fill("e1", side="buy", qty=0.02, price=60_000.0, fee=0.6, ts=T0 + 2 * 3600 * SEC), T0)
    r.on_status(
        fill("e1:tp", purpose="take_profit", side="sell", qty=0.02, price=61_000.0, fee=0.61, ts=T0 + 3 * 3600 * SEC),
        T0,
    )
    r.on_status(fill("e2", side="sell", qty=1.0, price=2_500.0, fee=1.25, symbol="ETHUSDT", ts=T0 + 4 * 3600 * SEC), T0)
    r.on_status(
        fill(
            "e2:sl",
            purpose="stop_loss",
            side="buy",
            qty=1.0,
            price=2_550.0,
            fee=1.27,
            symbol="ETHUSDT",
            ts=T0 + 5 * 3600 * SEC,
        ),
        T0,
    )
    assert kinds(r.on_tick(T0 + DAY - 1)) == []
    [summary] = r.on_tick(T0 + DAY + 5)
    assert summary.kind == "daily_summary" and "2024-08-08" in summary.title
    body = summary.body
    assert "4 fills, 2 closed trades" in body
    assert "realised -30.00 USDT" in body and "fees 3.73 USDT" in body and "net -33.73 USDT" in body
    assert "BTCUSDT +20.00" in body and "ETHUSDT -50.00" in body and "from 01:00 UTC" in body
    assert r.on_tick(T0 + DAY + 3600 * SEC) == []  # once per day


def test_a_close_of_a_position_opened_before_counting_uses_the_account_entry():
    r = rules(fills=False)
    r.on_tick(T0)
    acct = m.Account(
        mode="paper",
        exchange="paper",
        balance_total=10_000,
        balance_free=9_000,
        ts=T0,
        positions=[m.PositionSnapshot(symbol="BTCUSDT", side="buy", quantity=0.01, entry_price=59_000.0)],
    )
    r.on_account(acct, T0)
    r.on_status(fill("old:close", purpose="close", side="sell", qty=0.01, price=60_000.0, fee=0.3), T0)
    r.on_status(fill("x:close", purpose="close", side="sell", qty=1, price=2500.0, fee=0.0, symbol="ETHUSDT"), T0)
    [summary] = r.on_tick(T0 + DAY)
    assert "realised +10.00 USDT" in summary.body and "1 close(s) of positions opened before" in summary.body


def test_replay_titles_say_replay():
    r = NotifyRules(NotifySettings(title="desk-a"), replay=True)
    [n] = r.on_control(kill(), T0)
    assert n.title.startswith("desk-a replay: ")
