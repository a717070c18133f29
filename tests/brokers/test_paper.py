"""The paper broker: fills at bid/ask, fees, margin, liquidation, SL/TP triggers (also on a real capture)."""

from __future__ import annotations

import gzip
import json

import pytest
from broker_helpers import command

from tui_trader import messages as m
from tui_trader.brokers.base import NO_POSITION, derived_id
from tui_trader.brokers.paper import PaperBroker, liquidation_price
from tui_trader.settings import PaperSettings


def book(symbol: str, bid: float, ask: float, t: int = 1) -> m.MarketData:
    return m.MarketData(
        symbol=symbol, kind="book", bid=bid, ask=ask, bid_qty=1.0, ask_qty=1.0, event_time=t, recv_time=t, ts=t
    )


def trade(symbol: str, price: float, t: int = 1) -> m.MarketData:
    return m.MarketData(symbol=symbol, kind="trade", price=price, volume=0.1, event_time=t, recv_time=t, ts=t)


def broker(**paper) -> PaperBroker:
    return PaperBroker(PaperSettings(**paper))


def kinds(reports) -> list[tuple[str, str]]:
    return [(r.purpose, r.status) for r in reports]


def test_market_orders_fill_at_ask_and_bid_plus_slippage_and_pay_the_taker_fee():
    b = broker(slippage_bps=2.0)
    b.on_market(book("BTCUSDT", 60_000.0, 60_000.1))
    [buy] = b.enter_now(command(side="buy", quantity=0.0105))  # rounded down to the 0.001 step
    assert buy.status == "filled" and buy.filled_qty == pytest.approx(0.01)
    assert buy.avg_price == pytest.approx(60_000.1 * 1.0002)
    assert buy.fee == pytest.approx(0.01 * 60_000.1 * 1.0002 * 0.0005)
    [close] = b.reduce_now(command(side="sell", quantity=0.01, purpose="close"))
    assert close.avg_price == pytest.approx(60_000.0 * 0.9998)
    assert b.wallet == pytest.approx(10_000 + (close.avg_price - buy.avg_price) * 0.01 - buy.fee - close.fee)
    assert b.fills == 2 and b.fees == pytest.approx(buy.fee + close.fee)


def test_without_a_book_the_last_trade_prices_the_fill_and_without_either_the_entry_is_refused():
    b = broker()
    [no_price] = b.enter_now(command())
    assert no_price.status == "rejected" and no_price.error.startswith("no_price:")
    b.on_market(trade("BTCUSDT", 61_000.0))
    [fill] = b.enter_now(command())
    assert fill.avg_price == 61_000.0


def test_entries_below_the_instrument_minimums_or_beyond_the_free_margin_are_refused():
    b = broker(starting_balance=100.0)
    b.on_market(book("BTCUSDT", 60_000.0, 60_000.0))
    [small] = b.enter_now(command(quantity=0.0009))
    assert small.error.startswith("invalid_order: quantity")
    [notional] = b.enter_now(command(quantity=0.001))  # 60 USDT < 100 USDT minimum notional
    assert notional.error.startswith("invalid_order: notional")
    [margin] = b.enter_now(command(quantity=0.1, leverage=10))  # 600 USDT margin > 100 USDT
    assert margin.error.startswith("insufficient_margin:")
    assert b.positions == {} and b.wallet == 100.0


def test_entry_places_reduce_only_protection_and_a_stop_fills_at_the_worse_of_trigger_and_price():
    b = broker()
    b.on_market(book("BTCUSDT", 60_000.0, 60_000.0))
    cmd = command(quantity=0.01, stop_loss=59_000.0, take_profit=62_000.0)
    reports = b.enter_now(cmd)
    assert kinds(reports) == [("entry", "filled"), ("stop_loss", "accepted"), ("take_profit", "accepted")]
    assert reports[0].stop_loss_order_id == derived_id(cmd.id, "sl") == reports[1].order_id
    assert reports[0].take_profit_order_id == derived_id(cmd.id, "tp") == reports[2].order_id
    assert b.on_market(trade("BTCUSDT", 59_000.5, 2)) == []
    fired = b.on_market(trade("BTCUSDT", 58_900.0, 3))  # gapped through the stop
    assert kinds(fired) == [("stop_loss", "filled"), ("take_profit", "canceled")]
    assert fired[0].side == "sell" and fired[0].avg_price == 58_900.0 and fired[0].filled_qty == 0.01
    assert fired[1].order_id == derived_id(cmd.id, "tp")
    assert b.positions == {}
    assert b.on_market(trade("BTCUSDT", 70_000.0, 4)) == []  # the take-profit is gone


def test_take_profit_fills_at_its_trigger_and_cancels_the_stop_for_a_short():
    b = broker()
    b.on_market(book("BTCUSDT", 60_000.0, 60_000.0))
    cmd = command(side="sell", quantity=0.02, stop_loss=61_000.0, take_profit=58_000.0)
    b.enter_now(cmd)
    fired = b.on_market(trade("BTCUSDT", 57_950.0))
    assert kinds(fired) == [("take_profit", "filled"), ("stop_loss", "canceled")]
    assert fired[0].side == "buy" and fired[0].avg_price == 58_000.0
    assert b.wallet == pytest.approx(
        10_000 + (60_000 - 58_000) * 0.02 - 0.02 * 60_000 * 0.0005 - 0.02 * 58_000 * 0.0005
    )


def test_isolated_margin_liquidation_costs_exactly_the_margin():
    b = broker()
    b.on_market(book("BTCUSDT", 60_000.0, 60_000.0))
    b.enter_now(command(quantity=0.1, leverage=10, stop_loss=50_000.0, take_profit=70_000.0))
    liq = liquidation_price("long", 60_000.0, 0.1, 600.0, 0.004)
    assert liq == pytest.approx(60_000 * 0.9 / 0.996)
    pos = b.positions["BTCUSDT"]
    assert pos.liquidation_price == pytest.approx(liq)
    assert b.on_market(trade("BTCUSDT", liq + 1.0)) == []
    wallet_before = b.wallet
    out = b.on_market(trade("BTCUSDT", liq - 5.0))  # the stop (50 000) lies beyond: liquidation comes first
    assert kinds(out) == [("stop_loss", "canceled"), ("take_profit", "canceled"), ("close", "filled")]
    assert out[2].avg_price == pytest.approx(liq) and out[2].error.startswith("liquidation:")
    assert b.wallet == pytest.approx(wallet_before - 600.0)
    assert b.positions == {}


def test_reduce_only_is_capped_to_the_position_and_never_opens_or_flips():
    b = broker()
    b.on_market(book("BTCUSDT", 60_000.0, 60_000.0))
    [none] = b.reduce_now(command(side="sell", purpose="close"))
    assert none.status == "rejected" and none.error == NO_POSITION
    b.enter_now(command(quantity=0.01, stop_loss=59_000.0, take_profit=62_000.0))
    [wrong_side] = b.reduce_now(command(side="buy", quantity=0.01, purpose="close"))
    assert wrong_side.error == NO_POSITION and b.positions["BTCUSDT"].stop_loss is not None  # protection untouched
    out = b.reduce_now(command(side="sell", quantity=5.0, purpose="flatten"))
    assert kinds(out) == [("stop_loss", "canceled"), ("take_profit", "canceled"), ("flatten", "filled")]
    assert out[2].filled_qty == 0.01 and b.positions == {}


def test_a_partial_close_keeps_the_rest_protected():
    b = broker()
    b.on_market(book("BTCUSDT", 60_000.0, 60_000.0))
    b.enter_now(command(quantity=0.03, stop_loss=59_000.0, take_profit=62_000.0))
    close = command(side="sell", quantity=0.01, purpose="close")
    out = b.reduce_now(close)
    assert kinds(out) == [
        ("stop_loss", "canceled"),
        ("take_profit", "canceled"),
        ("close", "filled"),
        ("stop_loss", "accepted"),
        ("take_profit", "accepted"),
    ]
    assert out[3].order_id == derived_id(close.id, "sl")
    fired = b.on_market(trade("BTCUSDT", 58_000.0))
    assert fired[0].filled_qty == pytest.approx(0.02) and fired[0].order_id == derived_id(close.id, "sl")


def test_protection_that_would_trigger_at_once_closes_the_position_at_once():
    b = broker()
    b.on_market(trade("BTCUSDT", 60_000.0))
    cmd = command(quantity=0.01, stop_loss=60_500.0, take_profit=62_000.0)  # a stop above the price
    out = b.enter_now(cmd)
    assert kinds(out) == [("entry", "filled"), ("stop_loss", "rejected"), ("close", "filled")]
    assert out[0].stop_loss_order_id is None
    assert out[1].error.startswith("protection_failed:") and "would trigger immediately" in out[1].error
    assert out[2].order_id == derived_id(cmd.id, "close") and out[2].filled_qty == 0.01
    assert b.positions == {}


def test_adding_to_a_position_averages_the_entry_and_protects_the_total():
    b = broker()
    b.on_market(book("BTCUSDT", 60_000.0, 60_000.0))
    first = command(quantity=0.01, stop_loss=59_000.0, take_profit=62_000.0)
    b.enter_now(first)
    b.on_market(book("BTCUSDT", 60_200.0, 60_200.0))
    out = b.enter_now(command(quantity=0.01, stop_loss=59_500.0, take_profit=62_500.0))
    assert kinds(out) == [
        ("entry", "filled"),
        ("stop_loss", "canceled"),
        ("take_profit", "canceled"),
        ("stop_loss", "accepted"),
        ("take_profit", "accepted"),
    ]
    pos = b.positions["BTCUSDT"]
    assert pos.quantity == pytest.approx(0.02) and pos.entry_price == pytest.approx(60_100.0)
    assert b.on_market(trade("BTCUSDT", 59_400.0))[0].filled_qty == pytest.approx(0.02)


def test_an_entry_against_an_open_position_is_refused():
    b = broker()
    b.on_market(book("BTCUSDT", 60_000.0, 60_000.0))
    b.enter_now(command(quantity=0.01))
    [out] = b.enter_now(command(side="sell", quantity=0.01))
    assert out.error.startswith("opposite_position:")


def test_the_same_command_id_is_never_executed_twice():
    b = broker()
    b.on_market(book("BTCUSDT", 60_000.0, 60_000.0))
    cmd = command(quantity=0.01)
    assert b.enter_now(cmd)[0].status == "filled"
    assert b.enter_now(cmd)[0].error.startswith("duplicate:")
    assert b.positions["BTCUSDT"].quantity == 0.01


def test_account_view_marks_positions_to_the_last_trade():
    b = broker()
    b.on_market(book("BTCUSDT", 60_000.0, 60_000.0))
    b.enter_now(command(quantity=0.1, leverage=5))
    b.on_market(trade("BTCUSDT", 60_500.0))
    view = b.account_now()
    [pos] = view.positions
    assert pos.side == "buy" and pos.unrealized_pnl == pytest.approx(50.0) and pos.leverage == 5
    assert view.balance_free == pytest.approx(10_000 - 3.0 - 1_200.0)
    assert view.balance_total == pytest.approx(10_000 - 3.0 + 50.0)


def _capture(path) -> list[m.MarketData]:
    """Trades and book tops of a real Binance capture, in file order (event-time order)."""
    out = []
    with gzip.open(path, "rt") as fh:
        for line in fh:
            _, raw = line.split(" ", 1)
            frame = json.loads(raw)
            stream, d = frame.get("stream", ""), frame.get("data", {})
            if stream.endswith("@trade"):
                out.append(trade("BTCUSDT", float(d["p"]), d["E"]))
            elif stream.endswith("@bookTicker"):
                out.append(book("BTCUSDT", float(d["b"]), float(d["a"]), d["E"]))
    return out


def _replay(feed: list[m.MarketData], enter_at: int, cmd: m.OrderCommand) -> list:
    b = PaperBroker(PaperSettings())
    reports = []
    for i, md in enumerate(feed):
        reports += b.on_market(md)
        if i == enter_at:
            reports += b.enter_now(cmd)
    return reports


def test_stop_loss_and_take_profit_trigger_on_a_real_capture(btc_capture):
    feed = _capture(btc_capture)
    enter_at = next(i for i, md in enumerate(feed) if md.kind == "book")
    ask = feed[enter_at].ask
    # A long with a 0.15 % stop; a short with a 0.15 % target below: the same real sell-off hits both.
    long_cmd = command(
        quantity=0.05, ref_price=ask, stop_loss=round(ask * 0.9985, 1), take_profit=round(ask * 1.01, 1), cid="long-1"
    )
    long_out = _replay(feed, enter_at, long_cmd)
    later = feed[enter_at + 1 :]
    first_cross = next(md for md in later if md.kind == "trade" and md.price <= long_cmd.stop_loss)
    assert kinds(long_out) == [
        ("entry", "filled"),
        ("stop_loss", "accepted"),
        ("take_profit", "accepted"),
        ("stop_loss", "filled"),
        ("take_profit", "canceled"),
    ]
    assert long_out[0].avg_price == ask
    assert long_out[3].avg_price == min(long_cmd.stop_loss, first_cross.price)

    bid = feed[enter_at].bid
    short_cmd = command(
        side="sell",
        quantity=0.05,
        ref_price=bid,
        stop_loss=round(bid * 1.01, 1),
        take_profit=round(bid * 0.9985, 1),
        cid="short-1",
    )
    short_out = _replay(feed, enter_at, short_cmd)
    assert kinds(short_out)[-2:] == [("take_profit", "filled"), ("stop_loss", "canceled")]
    assert short_out[-2].avg_price == short_cmd.take_profit
    # Deterministic: the same capture and commands give the same reports.
    assert _replay(feed, enter_at, long_cmd) == long_out
