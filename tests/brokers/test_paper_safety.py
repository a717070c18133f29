"""The paper broker as a trader must be able to trust it: protection priced from the fill, fills only at sane
prices, each position's protection visible in the account, and a restart that keeps what rests."""

from __future__ import annotations

import math

import pytest
from broker_helpers import command

from tui_trader import messages as m
from tui_trader.brokers.paper import PaperBroker
from tui_trader.journal import Journal
from tui_trader.portfolio.sizing import protective_prices
from tui_trader.settings import PaperSettings, RiskSettings


def book(bid: float, ask: float, t: int = 1, symbol: str = "BTCUSDT") -> m.MarketData:
    return m.MarketData(
        symbol=symbol, kind="book", bid=bid, ask=ask, bid_qty=1.0, ask_qty=1.0, event_time=t, recv_time=t, ts=t
    )


def trade(price: float, t: int = 1, symbol: str = "BTCUSDT") -> m.MarketData:
    return m.MarketData(symbol=symbol, kind="trade", price=price, volume=0.1, event_time=t, recv_time=t, ts=t)


def broker(band: float = 0.05, **paper) -> PaperBroker:
    return PaperBroker(PaperSettings(**paper), risk=RiskSettings(price_band_pct=band))


def planned(side: m.Side, ref: float, sl_pct: float, tp_pct: float, **kw) -> m.OrderCommand:
    """An entry as the router sends it: SL/TP planned at the signal's price, rounded to BTCUSDT's tick."""
    sl, tp = protective_prices(side, ref, sl_pct, tp_pct, 0.1)
    return command(side=side, ref_price=ref, stop_loss=sl, take_profit=tp, **kw)


def kinds(reports) -> list[tuple[str, str]]:
    return [(r.purpose, r.status) for r in reports]


# --- protection from the fill ---------------------------------------------------------------------------


def test_a_short_filled_below_its_reference_gets_its_stop_and_target_measured_from_the_fill():
    # The reported case: stop 0.04 %, target 0.08 %, ref 63,959.9, filled at 63,924.5. Priced from the
    # reference, the stop sat 0.095 % from the fill and the target 0.025 %.
    b = broker()
    b.on_market(trade(63_930.0))
    b.on_market(book(63_924.5, 63_924.6))
    cmd = planned("sell", 63_959.9, 0.0004, 0.0008, quantity=0.01)
    assert (cmd.stop_loss, cmd.take_profit) == (63_985.4, 63_908.8)
    fill, sl, tp = b.enter_now(cmd)
    assert fill.avg_price == 63_924.5
    # Same relative distances as planned, from the fill, rounded to the tick toward it.
    assert (fill.stop_loss_price, fill.take_profit_price) == (63_949.9, 63_873.5)
    assert (sl.status, tp.status) == ("accepted", "accepted")
    # Never farther than configured; closer by at most two ticks (the plan's rounding, then the fill's).
    assert 0.0004 - 0.2 / 63_924.5 < (fill.stop_loss_price - 63_924.5) / 63_924.5 <= 0.0004
    assert 0.0008 - 0.2 / 63_924.5 < (63_924.5 - fill.take_profit_price) / 63_924.5 <= 0.0008
    # The stop rests where the status says: a trade at 63,950 fires it (the reference-priced one would not).
    fired = b.on_market(trade(63_950.0, 2))
    assert kinds(fired) == [("stop_loss", "filled"), ("take_profit", "canceled")]
    assert fired[0].avg_price == 63_950.0


@pytest.mark.parametrize("side", ["buy", "sell"])
def test_slippage_moves_the_protection_with_the_fill(side):
    b = broker(slippage_bps=5.0)
    b.on_market(trade(60_000.0))
    b.on_market(book(60_000.0, 60_000.1))
    [fill, *_] = b.enter_now(planned(side, 60_000.0, 0.01, 0.02, quantity=0.01))
    avg = fill.avg_price
    assert avg == pytest.approx(60_000.1 * 1.0005 if side == "buy" else 60_000.0 * 0.9995)
    sign = 1 if side == "buy" else -1
    stop_dist = (avg - fill.stop_loss_price) * sign / avg
    target_dist = (fill.take_profit_price - avg) * sign / avg
    # Never farther from the fill than configured (float noise aside), closer by at most two ticks.
    assert 0.01 - 0.2 / avg < stop_dist <= 0.01 + 1e-12
    assert 0.02 - 0.2 / avg < target_dist <= 0.02 + 1e-12


def test_a_market_already_beyond_the_stop_when_the_fill_is_known_closes_at_once_and_says_why():
    # The signal came at 60,000; the book has run up to 61,000 while the last trade is 60,350. A 1 % stop from
    # the fill (60,390) is already beyond the market: the position must not stay open with a stop that the
    # reference price would have put 2.6 % below the fill.
    b = broker()
    b.on_market(trade(60_350.0))
    b.on_market(book(60_999.9, 61_000.0))
    cmd = planned("buy", 60_000.0, 0.01, 0.02, quantity=0.01)
    out = b.enter_now(cmd)
    assert kinds(out) == [("entry", "filled"), ("stop_loss", "rejected"), ("close", "filled")]
    assert out[0].avg_price == 61_000.0 and out[0].stop_loss_price is None
    assert out[1].error == "protection_failed: stop-loss 60390 would trigger immediately (last price 60350)"
    assert out[2].error.endswith("position closed at once")
    assert b.positions == {}


def test_adding_to_a_position_measures_the_new_protection_from_the_average_entry():
    b = broker()
    b.on_market(trade(60_000.0))
    b.on_market(book(60_000.0, 60_000.0))
    b.enter_now(planned("buy", 60_000.0, 0.01, 0.02, quantity=0.01))
    b.on_market(book(60_200.0, 60_200.0))
    [fill, *_] = b.enter_now(planned("buy", 60_200.0, 0.01, 0.02, quantity=0.01))
    assert b.positions["BTCUSDT"].entry_price == pytest.approx(60_100.0)
    # 1 % below the average entry, not below the second fill: the whole position loses at most its stop.
    assert fill.stop_loss_price == 59_499.0  # 60,100 × 0.99 (the second fill alone would give 59,598)


# --- sane prices ----------------------------------------------------------------------------------------


def test_one_absurd_print_while_short_does_not_fill_the_stop_there():
    # Reported: one trade at 1e9 filled a short's paper stop at 1e9; equity went to −16 million from 10,000.
    b = broker()
    b.on_market(trade(60_000.0))
    b.on_market(book(60_000.0, 60_000.1))
    b.enter_now(planned("sell", 60_000.0, 0.01, 0.02, quantity=0.1))
    stop = b.positions["BTCUSDT"].stop_loss.price
    assert b.on_market(trade(1e9, 2)) == []
    assert b.on_market(trade(60_100.0, 3)) == []
    fired = b.on_market(trade(stop + 5.0, 4))  # the first good price beyond the stop
    assert kinds(fired) == [("stop_loss", "filled"), ("take_profit", "canceled")]
    assert fired[0].avg_price == stop + 5.0
    assert b.equity() > 9_900.0
    assert b.band.quarantined["out_of_band"] == 1


def test_a_book_far_from_the_trades_never_fills_an_entry_and_a_close_fills_at_the_last_good_trade():
    # Reported: a book 50 % below the trades filled paper entries at that book.
    b = broker()
    b.on_market(trade(60_000.0))
    b.on_market(book(29_999.9, 30_000.0))
    [refused] = b.enter_now(planned("buy", 60_000.0, 0.01, 0.02, quantity=0.01))
    assert refused.status == "rejected"
    assert refused.error == (
        "price_band: BTCUSDT ask 30000 lies 50.0% from the last good trade 60000 (band 5.0%); not filled"
    )
    assert b.positions == {} and b.fills == 0
    b.on_market(book(60_000.0, 60_000.1, 2))
    b.enter_now(planned("buy", 60_000.0, 0.01, 0.02, quantity=0.01))
    b.on_market(book(29_999.9, 30_000.0, 3))
    out = b.reduce_now(command(side="sell", quantity=0.01, purpose="kill"))
    assert kinds(out) == [("stop_loss", "canceled"), ("take_profit", "canceled"), ("kill", "filled")]
    assert out[2].avg_price == 60_000.0 and "filled at the last good trade" in out[2].error
    assert b.positions == {}


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, 0.0, -60_000.0])
def test_prices_that_are_not_finite_and_positive_never_reach_a_fill(bad):
    b = broker()
    b.on_market(trade(bad))
    b.on_market(book(bad, bad))
    [no_price] = b.enter_now(command(quantity=0.01))
    assert no_price.error.startswith("no_price:")
    b.on_market(trade(60_000.0, 2))
    b.on_market(book(60_000.0, 60_000.0, 2))
    b.enter_now(planned("buy", 60_000.0, 0.01, 0.02, quantity=0.01))
    assert b.on_market(trade(bad, 3)) == []
    assert b.on_market(book(bad, bad, 3)) == []
    [*_, close] = b.reduce_now(command(side="sell", quantity=0.01, purpose="close"))
    assert close.avg_price == 60_000.0
    assert math.isfinite(b.wallet) and math.isfinite(b.equity())
    assert sum(b.band.quarantined.values()) == 4


@pytest.mark.parametrize("field", ["quantity", "stop_loss", "take_profit", "ref_price"])
@pytest.mark.parametrize("bad", [math.nan, math.inf, -1.0])
def test_an_entry_with_numbers_that_are_not_finite_and_positive_is_refused_with_the_reason(field, bad):
    b = broker()
    b.on_market(trade(60_000.0))
    values = {"quantity": 0.01, "ref_price": 60_000.0, "stop_loss": 59_400.0, "take_profit": 61_200.0}
    values[field] = bad
    [out] = b.enter_now(command(**values))
    assert out.status == "rejected" and out.error.startswith("invalid_order:")
    assert b.positions == {}


def test_an_entry_too_large_to_count_in_steps_is_refused_not_raised():
    """A finite quantity of 1.8e305 overflowed the step rounding (found by the property below)."""
    b = broker()
    b.on_market(trade(60_000.0))
    [out] = b.enter_now(command(quantity=1.797e305, ref_price=60_000.0, stop_loss=59_400.0, take_profit=61_200.0))
    assert out.status == "rejected" and out.error
    assert b.positions == {}
    b.enter_now(planned("buy", 60_000.0, 0.01, 0.02, quantity=0.01))
    [*_, close] = b.reduce_now(command(side="sell", quantity=1.797e305, purpose="close"))
    assert (close.status, close.filled_qty) == ("filled", 0.01)  # a close is capped to the position


def test_a_close_with_a_quantity_that_is_not_finite_is_refused_and_the_protection_stays():
    b = broker()
    b.on_market(trade(60_000.0))
    b.enter_now(planned("buy", 60_000.0, 0.01, 0.02, quantity=0.01))
    [out] = b.reduce_now(command(side="sell", quantity=math.nan, purpose="close"))
    assert out.error.startswith("invalid_order:")
    assert b.positions["BTCUSDT"].stop_loss is not None


def test_a_jump_confirmed_by_following_trades_becomes_the_new_baseline():
    b = broker()
    b.on_market(trade(60_000.0))
    assert b.on_market(trade(66_000.0, 2)) == [] and b.last["BTCUSDT"] == 60_000.0
    b.on_market(trade(66_010.0, 3))
    b.on_market(trade(65_990.0, 4))  # the third trade in the new place: the market really moved
    assert b.last["BTCUSDT"] == 65_990.0
    b.on_market(book(65_990.0, 65_990.1, 5))
    [fill, *_] = b.enter_now(planned("buy", 65_990.0, 0.01, 0.02, quantity=0.01))
    assert fill.status == "filled"


def test_a_lone_print_between_good_trades_never_becomes_the_baseline():
    b = broker()
    for i, px in enumerate([60_000.0, 1e9, 60_010.0, 1e9, 60_020.0, 1e9, 60_030.0]):
        b.on_market(trade(px, i))
    assert b.last["BTCUSDT"] == 60_030.0 and b.band.quarantined["out_of_band"] == 3


def test_a_stop_gapped_through_by_a_confirmed_jump_fills_no_farther_than_the_band_beyond_it():
    b = broker(band=0.05)
    b.on_market(trade(60_000.0))
    b.enter_now(planned("sell", 60_000.0, 0.01, 0.02, quantity=0.1))
    stop = b.positions["BTCUSDT"].stop_loss.price
    out = []
    for t in range(3):
        out += b.on_market(trade(90_000.0, t + 2))
    assert kinds(out) == [("stop_loss", "filled"), ("take_profit", "canceled")]
    assert out[0].avg_price == pytest.approx(stop * 1.05)


# --- the account shows each position's protection -------------------------------------------------------


def test_account_positions_carry_their_protective_prices_and_that_they_rest():
    b = broker()
    b.on_market(trade(60_000.0))
    b.on_market(book(60_000.0, 60_000.1))
    [fill, *_] = b.enter_now(planned("buy", 60_000.0, 0.01, 0.02, quantity=0.02))
    [pos] = b.account_now().positions
    assert (pos.stop_loss, pos.take_profit) == (fill.stop_loss_price, fill.take_profit_price)
    assert pos.stop_loss_resting and pos.take_profit_resting
    b.reduce_now(command(side="sell", quantity=0.01, purpose="close"))  # a partial close re-places both
    [pos] = b.account_now().positions
    assert (pos.stop_loss, pos.take_profit, pos.stop_loss_resting, pos.take_profit_resting) == (
        fill.stop_loss_price,
        fill.take_profit_price,
        True,
        True,
    )
    b.positions["BTCUSDT"].take_profit = None  # as if the target were gone: the account must say so
    [pos] = b.account_now().positions
    assert pos.take_profit is None and not pos.take_profit_resting and pos.stop_loss_resting


def test_a_position_whose_protection_failed_is_never_shown_as_protected():
    b = broker()
    b.on_market(trade(60_000.0))
    b.enter_now(command(quantity=0.01))  # an entry without protection (a hand-made command)
    [pos] = b.account_now().positions
    assert pos.stop_loss is None and not pos.stop_loss_resting and not pos.take_profit_resting


# --- restore from the journal ---------------------------------------------------------------------------


def _journaled(tmp_path, run) -> tuple[PaperBroker, Journal]:
    """Run `run(broker, execute)` with every command and status journaled as the executor does."""
    jr = Journal(tmp_path / "journal.sqlite")
    b = broker(slippage_bps=3.0)

    def execute(cmd: m.OrderCommand) -> list:
        jr.record_command(cmd)
        reports = b.enter_now(cmd) if cmd.purpose == "entry" else b.reduce_now(cmd)
        jr.complete(cmd.id, [r.to_status("paper", cmd.ts) for r in reports])
        return reports

    run(b, execute)
    return b, jr


def test_a_restart_keeps_the_protection_placed_from_the_fill(tmp_path):
    def run(b, execute):
        b.on_market(trade(60_000.0))
        b.on_market(book(60_100.0, 60_100.1))
        execute(planned("buy", 60_000.0, 0.01, 0.02, quantity=0.03))
        execute(command(side="sell", quantity=0.01, purpose="close"))  # the rest keeps the same prices

    before, jr = _journaled(tmp_path, run)
    try:
        after = broker(slippage_bps=3.0)
        after.restore(jr.commands(), jr.statuses())
    finally:
        jr.close()
    old, new = before.positions["BTCUSDT"], after.positions["BTCUSDT"]
    assert new.quantity == pytest.approx(0.02)
    assert (new.stop_loss.price, new.take_profit.price) == (old.stop_loss.price, old.take_profit.price)
    assert (new.stop_loss.order_id, new.take_profit.order_id) == (old.stop_loss.order_id, old.take_profit.order_id)
    assert new.stop_loss.price != 59_400.0  # the plan at ref_price is not what rests
    after.on_market(trade(60_100.0, 5))
    fired = after.on_market(trade(old.stop_loss.price, 6))
    assert kinds(fired) == [("stop_loss", "filled"), ("take_profit", "canceled")]
    assert after.account_now().positions == []


def test_after_a_restart_an_absurd_first_print_does_not_fire_the_restored_stop(tmp_path):
    def run(b, execute):
        b.on_market(trade(60_000.0))
        execute(planned("sell", 60_000.0, 0.01, 0.02, quantity=0.1))

    _before, jr = _journaled(tmp_path, run)
    try:
        after = broker()
        after.restore(jr.commands(), jr.statuses())
    finally:
        jr.close()
    assert after.last == {}  # nothing seen since the restart: the position's entry stands in
    assert after.on_market(trade(1e9, 5)) == []
    assert "BTCUSDT" in after.positions and after.band.quarantined["out_of_band"] == 1
    assert after.on_market(trade(60_100.0, 6)) == []
    stop = after.positions["BTCUSDT"].stop_loss.price
    assert kinds(after.on_market(trade(stop + 1.0, 7)))[0] == ("stop_loss", "filled")
