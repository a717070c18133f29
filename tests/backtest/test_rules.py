"""Instrument rules for any symbol: the command line, the on-disk cache of exchange markets, the built-in
table, the exchange (then cached), else inferred from the data with a warning."""

from __future__ import annotations

from btkit import bars_of, walk

from tui_trader.backtest import rules as r
from tui_trader.backtest.rules import Overrides
from tui_trader.instruments import PAPER_RULES, InstrumentRules

DATA = {"BTCUSDT": bars_of("BTCUSDT", walk(50, seed=1)), "PEPEUSDT": bars_of("PEPEUSDT", walk(50, seed=2, start=1.0))}


def no_network(exchange, symbols):
    raise OSError("network unreachable")


def test_offline_unknown_symbol_is_inferred_with_a_warning():
    rules, origin, warnings = r.resolve(DATA, "binanceusdm", Overrides(), fetch=no_network)
    assert rules["BTCUSDT"] == PAPER_RULES["BTCUSDT"] and origin["BTCUSDT"] == "built-in table"
    pepe = rules["PEPEUSDT"]
    assert (pepe.tick, pepe.step, pepe.min_notional) == (0.01, 0.001, 5.0)  # the walk's 2 and 3 decimals
    assert origin["PEPEUSDT"] == "inferred from the data"
    (warning,) = warnings
    assert "PEPEUSDT" in warning and "--tick" in warning


def test_exchange_markets_are_cached_for_later_offline_runs():
    fetched = {"PEPEUSDT": InstrumentRules(symbol="PEPEUSDT", tick=1e-7, step=1.0, min_qty=1.0, min_notional=5.0)}
    rules, origin, warnings = r.resolve(DATA, "binanceusdm", Overrides(), fetch=lambda ex, syms: fetched)
    assert rules["PEPEUSDT"] == fetched["PEPEUSDT"] and warnings == []
    assert r.cache_file("binanceusdm").is_file()
    rules, origin, warnings = r.resolve(DATA, "binanceusdm", Overrides(), offline=True)
    assert rules["PEPEUSDT"] == fetched["PEPEUSDT"]
    assert origin["PEPEUSDT"] == "cached binanceusdm markets" and warnings == []


def test_command_line_rules_win_part_by_part():
    rules, origin, warnings = r.resolve(DATA, "binanceusdm", Overrides(min_notional=50.0), offline=True)
    assert rules["BTCUSDT"].min_notional == 50.0 and rules["BTCUSDT"].tick == PAPER_RULES["BTCUSDT"].tick
    full = Overrides(tick=0.5, step=0.01, min_notional=10.0)
    rules, origin, warnings = r.resolve(DATA, "binanceusdm", full, offline=True)
    assert (rules["PEPEUSDT"].tick, rules["PEPEUSDT"].step, rules["PEPEUSDT"].min_qty) == (0.5, 0.01, 0.01)
    assert origin["PEPEUSDT"] == "command line" and warnings == []
