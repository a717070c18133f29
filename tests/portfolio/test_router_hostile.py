"""The router never acts on a number that is not one, nor on a symbol it was not told to trade."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import msgspec
import pytest
from router_helpers import IND, T0, filled, rules_of, signal, trade

from tui_trader import messages as m
from tui_trader import settings as s
from tui_trader.portfolio.router_core import RouterCore
from tui_trader.settings import Settings, TradingSettings


def make(symbols=("BTCUSDT", "ETHUSDT")) -> RouterCore:
    core = RouterCore(Settings(trading=TradingSettings(symbols=list(symbols))))
    for sym, px in (("BTCUSDT", 60_000.0), ("ETHUSDT", 2_500.0)):
        core.on_market_data(trade(px, T0, sym), T0)
    return core


@pytest.mark.parametrize("strength", [math.nan, math.inf, -math.inf, 1.5])
def test_the_strength_filter_refuses_what_is_not_a_strength(strength):
    """NaN is not below any threshold: the old filter let it through and an entry went out."""
    core = make()
    out = core.on_signal(signal("StrongBuy", strength=strength), T0)
    assert out.commands == [] and rules_of(out) == ["invalid_signal"]
    assert "strength" in out.denials[0].error and core.denials["invalid_signal"] == 1


@pytest.mark.parametrize(
    "field, value",
    [
        ("price", math.nan),
        ("price", math.inf),
        ("price", 0.0),
        ("rsi", math.nan),
        ("bb_lower", math.inf),
        ("ema_slow", -math.inf),
    ],
)
def test_a_signal_with_a_non_finite_price_or_indicator_is_refused(field, value):
    core = make()
    sig = signal("StrongBuy", strength=0.9)
    if field == "price":
        sig = msgspec.structs.replace(sig, price=value)
    else:
        sig = msgspec.structs.replace(sig, indicators=msgspec.structs.replace(IND, **{field: value}))
    out = core.on_signal(sig, T0)
    assert out.commands == [] and rules_of(out) == ["invalid_signal"] and field in out.denials[0].error


def test_only_configured_symbols_trade_others_are_denied_with_the_reason_and_counted():
    """A replay of an ETH capture with symbols = ["BTCUSDT"] opened six ETH positions."""
    core = make(symbols=("BTCUSDT",))
    for k in range(6):
        out = core.on_signal(signal("StrongSell", 2_500.0, T0 + k, symbol="ETHUSDT"), T0 + k)
        assert out.commands == [] and rules_of(out) == ["unconfigured_symbol"]
    assert "ETHUSDT is not in trading.symbols (BTCUSDT)" in out.denials[0].error
    assert core.denials["unconfigured_symbol"] == 6 and core.portfolio.positions == {}
    assert len(core.on_signal(signal("StrongBuy", 60_000.0), T0).commands) == 1  # BTC still trades


def test_an_entry_is_never_sized_on_a_price_outside_the_band():
    core = make()
    out = core.on_signal(signal("StrongBuy", price=1e9), T0)
    assert out.commands == [] and rules_of(out) == ["price_band"]
    assert "from the last market price 60000" in out.denials[0].error
    [cmd] = core.on_signal(signal("StrongBuy", price=60_100.0), T0).commands
    assert cmd.ref_price == 60_100.0


@pytest.mark.parametrize("bad", [math.nan, math.inf, -1.0, 0.0])
def test_a_market_price_that_is_not_a_number_neither_marks_nor_dates(bad):
    core = make()
    [cmd] = core.on_signal(signal("StrongBuy", 60_000.0), T0).commands
    core.on_status(filled(cmd), T0)
    core.on_market_data(trade(bad, T0 + 10_000), T0 + 10_000)
    assert math.isfinite(core.portfolio.equity())
    assert core.portfolio.positions["BTCUSDT"].mark_price == 60_000.0
    assert core.last_price_ms["BTCUSDT"] == T0 and core.last_price["BTCUSDT"] == 60_000.0


def test_market_data_of_foreign_symbols_keeps_no_state():
    core = make(symbols=("BTCUSDT",))
    for k in range(100_000):
        core.on_market_data(trade(1.0, T0, f"X{k}USDT"), T0)
    assert set(core.last_price_ms) == {"BTCUSDT"} and set(core.portfolio.marks) == {"BTCUSDT"}
    assert core.foreign_market_data == 100_001  # ETHUSDT from make() too


def test_a_held_position_of_a_symbol_no_longer_configured_is_still_marked():
    core = make()
    [cmd] = core.on_signal(signal("StrongBuy", 2_500.0, symbol="ETHUSDT"), T0).commands
    core.on_status(filled(cmd), T0)
    core.apply_settings(Settings(trading=TradingSettings(symbols=["BTCUSDT"])))
    core.on_market_data(trade(2_600.0, T0 + 1, "ETHUSDT"), T0 + 1)
    assert core.portfolio.positions["ETHUSDT"].mark_price == 2_600.0


@pytest.mark.parametrize("field", ["filled_qty", "avg_price", "fee"])
def test_a_fill_that_is_not_a_number_never_enters_the_book(field):
    core = make()
    [cmd] = core.on_signal(signal("StrongBuy", 60_000.0), T0).commands
    bad = msgspec.structs.replace(filled(cmd), **{field: math.nan})
    core.on_status(bad, T0)
    assert core.portfolio.positions == {} and math.isfinite(core.portfolio.equity())
    assert core.portfolio.refused_statuses == 1


def test_a_replay_of_an_eth_capture_with_only_btc_configured_trades_nothing(shared_data, tmp_path):
    """The issue's case end to end: `headless` on the ETH capture, symbols = ["BTCUSDT"], tick bars."""
    config = tmp_path / "btc-only.toml"
    settings = s.replace_field(
        s.replace_field(s.Settings(), "indicators", "bar", "tick"), "trading", "symbols", ["BTCUSDT"]
    )
    s.save(settings, config)
    tap = tmp_path / "tap"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "tui_trader",
            "headless",
            "--config",
            str(config),
            "--replay",
            str(shared_data / "binance_usdm_ws" / "ethusdt_20240808.gz"),
            "--speed",
            "max",
            "--tap",
            str(tap),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "Traceback" not in run.stderr
    summary = json.loads(run.stdout)
    assert (tap / f"{m.ORDERS}.jsonl").read_text() == ""
    assert summary["workers"]["router"]["positions_opened"] == 0
    collector = summary["workers"]["collector"]
    assert collector["ignored"] == {"unconfigured symbol": collector["read"] - 1, "no stream": 1}  # 1: a REST snapshot
    assert sum(collector["published"].values()) == 0


def test_the_book_remembers_a_bounded_number_of_orders():
    from tui_trader.portfolio.positions import MAX_ORDERS

    core = make()
    for k in range(MAX_ORDERS + 500):
        cmd = m.OrderCommand(
            id=f"o{k}",
            symbol="BTCUSDT",
            side="buy" if k % 2 == 0 else "sell",
            quantity=0.001,
            ref_price=60_000.0,
            leverage=10,
            purpose="entry" if k % 2 == 0 else "close",
            reduce_only=k % 2 == 1,
            mode="paper",
            ts=T0,
        )
        core.portfolio.on_command(cmd)
        core.portfolio.apply(filled(cmd))
    assert len(core.portfolio._intents) == MAX_ORDERS and len(core.portfolio._cum) == MAX_ORDERS
    assert core.portfolio.positions == {} and math.isfinite(core.portfolio.equity())
