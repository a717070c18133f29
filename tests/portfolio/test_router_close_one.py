"""Close one position (Control "close", arg = symbol): a reduce-only close of that position alone, while
trading, paused or halted; a published reason when there is nothing to close."""

from __future__ import annotations

from router_helpers import T0, control, filled, settle, signal
from test_router_core import make, open_long


def closes(out):
    return [(c.symbol, c.side, c.quantity, c.reduce_only, c.purpose) for c in out.commands]


def test_close_takes_off_that_position_only_and_the_others_stay():
    core = make()
    btc = open_long(core)
    eth = settle(core, core.on_signal(signal("Sell", 2_500.0, symbol="ETHUSDT"), T0), T0)[0]
    out = core.on_control(control("close", T0 + 1000, arg="ETHUSDT"), T0 + 1000)
    assert closes(out) == [("ETHUSDT", "buy", eth.quantity, True, "close")] and out.denials == []
    settle(core, out, T0 + 1000)
    assert (
        list(core.portfolio.positions) == ["BTCUSDT"] and core.portfolio.positions["BTCUSDT"].quantity == btc.quantity
    )
    assert core.state()[0] == "trading"


def test_close_works_while_paused_and_while_halted():
    core = make()
    open_long(core)
    core.on_control(control("pause"), T0 + 100)
    assert closes(core.on_control(control("close", arg="BTCUSDT"), T0 + 200))[0][4] == "close"
    core = make()
    open_long(core)
    kill = core.on_control(control("kill"), T0 + 100)  # its flatten is still on its way: a close is refused
    refused = core.on_control(control("close", arg="BTCUSDT"), T0 + 150)
    assert refused.commands == [] and refused.denials[0].error.startswith("close_pending:")
    settle(core, kill, T0 + 160)
    eth = core.on_signal(signal("Sell", 2_500.0, symbol="ETHUSDT"), T0 + 170)
    assert eth.commands == []  # halted: nothing new opens


def test_close_while_halted_sends_the_close():
    core = make()
    open_long(core)
    core.halted = core.paused = True  # halted with a position left (e.g. the kill's close was refused)
    out = core.on_control(control("close", arg="btcusdt"), T0 + 300)
    assert closes(out)[0][:2] == ("BTCUSDT", "sell") and closes(out)[0][4] == "close"


def test_close_of_a_symbol_without_a_position_is_refused_with_a_reason_row():
    core = make()
    out = core.on_control(control("close", arg="ETHUSDT"), T0)
    assert out.commands == []
    [row] = out.denials
    assert (row.symbol, row.purpose, row.status) == ("ETHUSDT", "close", "rejected")
    assert row.error.startswith("no_position: no open ETHUSDT position")
    assert core.on_control(control("close"), T0).denials[0].error.startswith("no_position")  # no symbol named


def test_an_entry_in_flight_is_closed_once_it_fills():
    core = make()
    sent = core.on_signal(signal("Buy"), T0).commands[0]
    out = core.on_control(control("close", arg="BTCUSDT"), T0 + 10)
    assert out.commands == [] and out.denials == []
    after = core.on_status(filled(sent, ts=T0 + 20), T0 + 20)
    assert closes(after) == [("BTCUSDT", "sell", sent.quantity, True, "close")]
