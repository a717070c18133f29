"""Round trips from order statuses: entry and exit fills paired with PnL, fees and why the trip ended."""

from __future__ import annotations

import pytest

from tui_trader import messages as m
from tui_trader.results.trips import round_trips


def st(oid, side, purpose, qty, price, fee=0.0, ts=0, status="filled", mode="paper", error=None, symbol="BTCUSDT"):
    return m.OrderStatus(
        order_id=oid,
        symbol=symbol,
        side=side,
        purpose=purpose,
        status=status,
        filled_qty=qty,
        avg_price=price,
        fee=fee,
        mode=mode,
        ts=ts,
        error=error,
    )


def test_long_closed_by_its_stop():
    book = round_trips(
        [
            st("e", "buy", "entry", 0.1, 100.0, fee=0.5, ts=1),
            st("sl", "sell", "stop_loss", 0.0, 0.0, status="accepted", ts=1),
            st("sl", "sell", "stop_loss", 0.1, 97.0, fee=0.4, ts=5),
        ]
    )
    (t,) = book.closed
    assert (t.side, t.entry_ts, t.exit_ts, t.entry_price, t.exit_price, t.reason) == (
        "long",
        1,
        5,
        100.0,
        97.0,
        "stop_loss",
    )
    assert t.pnl == pytest.approx(-0.3) and t.fees == pytest.approx(0.9) and t.net == pytest.approx(-1.2)


def test_cumulative_partial_fills_count_once():
    book = round_trips(
        [
            st("e", "sell", "entry", 0.1, 100.0, fee=0.1, status="partially_filled", ts=1),
            st("e", "sell", "entry", 0.3, 101.0, fee=0.3, ts=2),  # cumulative: 0.2 more at 101.5
            st("e", "sell", "entry", 0.3, 101.0, fee=0.3, ts=2),  # a repeat changes nothing
            st("c", "buy", "close", 0.3, 99.0, fee=0.2, ts=9),
        ]
    )
    (t,) = book.closed
    assert (t.side, t.quantity, t.reason) == ("short", 0.3, "signal")
    assert t.entry_price == pytest.approx(101.0)
    assert t.pnl == pytest.approx(0.6) and t.fees == pytest.approx(0.5)


def test_a_flip_closes_one_trip_and_opens_the_next_splitting_the_fee():
    book = round_trips(
        [
            st("e", "buy", "entry", 1.0, 100.0, ts=1),
            st("x", "sell", "close", 3.0, 110.0, fee=3.0, ts=2),
            st("c", "buy", "kill", 2.0, 105.0, fee=0.0, ts=3),
        ]
    )
    first, second = book.closed
    assert (first.side, first.pnl, first.fees) == ("long", pytest.approx(10.0), pytest.approx(1.0))
    assert (second.side, second.quantity, second.entry_price, second.reason) == ("short", 2.0, 110.0, "kill")
    assert second.pnl == pytest.approx(10.0) and second.fees == pytest.approx(2.0)


@pytest.mark.parametrize(
    "error, reason",
    [
        ("liquidation: long BTCUSDT liquidated at 90.00", "liquidation"),
        ("protection_failed: stop-loss would trigger; closed", "protection_failed"),
        (None, "signal"),
    ],
)
def test_closes_the_broker_made_itself_are_named(error, reason):
    book = round_trips([st("e", "buy", "entry", 1.0, 100.0), st("c", "sell", "close", 1.0, 90.0, error=error)])
    assert book.closed[0].reason == reason


def test_paper_and_live_are_separate_accounts_and_open_positions_stay_open():
    book = round_trips(
        [
            st("p", "buy", "entry", 1.0, 100.0, mode="paper"),
            st("l", "sell", "entry", 1.0, 100.0, mode="live"),
            st("pc", "sell", "take_profit", 1.0, 106.0, mode="paper", ts=4),
        ]
    )
    (t,) = book.closed
    assert (t.mode, t.reason, t.pnl) == ("paper", "take_profit", pytest.approx(6.0))
    assert list(book.open) == [("live", "BTCUSDT")]


def test_caller_names_a_reason_by_order_id():
    book = round_trips(
        [st("e", "buy", "entry", 1.0, 100.0), st("f", "sell", "flatten", 1.0, 101.0)], reasons={"f": "end_of_data"}
    )
    assert book.closed[0].reason == "end_of_data"


def test_rejections_and_cancels_make_no_trip():
    book = round_trips(
        [
            st("e", "buy", "entry", 0.0, 0.0, status="rejected", error="insufficient_margin: …"),
            st("s", "sell", "stop_loss", 0.0, 0.0, status="canceled"),
        ]
    )
    assert book.closed == [] and book.open == {}
