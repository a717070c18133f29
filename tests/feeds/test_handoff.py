"""The hand-off's policy when the bus is slower than the market: books conflate without jumping a trade,
trades are kept in order up to the bound and the rest counted lost as a gap, a gap closes only once the feed
is whole again; the publish lag's percentiles."""

from __future__ import annotations

from tui_trader import messages as m
from tui_trader.feeds.handoff import Handoff, LagStats, describe_lag


def md(kind: str, n: int, symbol: str = "BTCUSDT") -> m.MarketData:
    return m.MarketData(symbol=symbol, kind=kind, price=float(n), event_time=n, recv_time=n, ts=n)  # type: ignore[arg-type]


def taken(h: Handoff) -> list[tuple[str, str, int]]:
    return [(e[1].kind, e[1].symbol, e[1].event_time) for e in h.take(1_000)]


def test_books_conflate_to_the_latest_but_never_jump_a_trade_of_their_symbol():
    h = Handoff(max_trades=10, clear_ms=1000)
    B, E = "BTCUSDT", "ETHUSDT"
    sequence = [("book", B), ("book", B), ("trade", B), ("book", B), ("book", E), ("book", B), ("mark", B), ("mark", B)]
    for i, (kind, symbol) in enumerate(sequence):
        assert h.put(md(kind, i, symbol), i, 0)
    assert taken(h) == [
        ("book", "BTCUSDT", 1),  # the newer book in the place of the first
        ("trade", "BTCUSDT", 2),
        ("book", "BTCUSDT", 5),  # after the trade: replaced by the latest, still after the trade
        ("book", "ETHUSDT", 4),
        ("mark", "BTCUSDT", 7),
    ]
    assert h.conflated == {"book": 2, "mark": 1}
    assert h.put(md("book", 9), 9, 0) and taken(h) == [("book", "BTCUSDT", 9)]  # taken: a new entry


def test_a_flood_of_books_between_two_trades_holds_one_entry():
    h = Handoff(max_trades=10, clear_ms=1000)
    for i in range(10_000):
        h.put(md("book", i), i, 0)
    assert len(h) == 1 and h.conflated["book"] == 9_999


def test_trades_beyond_the_bound_are_lost_counted_and_make_a_gap_until_the_feed_is_whole_again():
    h = Handoff(max_trades=2, clear_ms=1000)
    assert h.put(md("trade", 1), 1, 0) and h.put(md("trade", 2), 2, 0)
    assert not h.put(md("trade", 3), 3, 100)
    assert h.put(md("trade", 4, "ETHUSDT"), 4, 100) is False  # the bound is shared: ETH loses too
    assert h.lost == {"BTCUSDT": 1, "ETHUSDT": 1}
    assert h.gaps(100) == {"BTCUSDT": 1, "ETHUSDT": 1}
    assert taken(h) == [("trade", "BTCUSDT", 1), ("trade", "BTCUSDT", 2)]  # in order, nothing doubled
    assert h.gaps(1099) == {"BTCUSDT": 1, "ETHUSDT": 1}  # drained, but not yet a gap-free spell
    assert h.gaps(1100) == {}
    assert h.counters() == {"lost_trades:BTCUSDT": 1, "lost_trades:ETHUSDT": 1, "waiting": 0, "waiting_most": 2}


def test_a_gap_stays_open_while_trades_that_waited_at_the_loss_are_still_waiting():
    h = Handoff(max_trades=2, clear_ms=10)
    h.put(md("trade", 1), 1, 0)
    h.put(md("trade", 2), 2, 0)
    h.put(md("trade", 3), 3, 0)  # lost
    h.take(1)
    assert h.gaps(10_000) == {"BTCUSDT": 1}  # trade 2 came before the loss and has not gone out
    h.take(1)
    assert h.gaps(10_000) == {}
    h.put(md("trade", 4), 4, 10_000)
    h.put(md("trade", 5), 5, 10_000)
    h.put(md("trade", 6), 6, 10_000)  # lost again: a new gap
    assert h.gaps(10_000) == {"BTCUSDT": 2}


def test_lag_percentiles_of_the_latest_records():
    lag = LagStats(window=100)
    assert lag.summary() == {} and describe_lag({}) == ""
    for ms in range(1, 201):  # the first 100 fall out of the window
        lag.add(ms * 1_000_000)
    summary = lag.summary()
    assert summary == {"lag_p50_us": 150_000, "lag_p99_us": 200_000, "lag_max_us": 200_000, "lag_max_ever_us": 200_000}
    assert describe_lag(summary) == "publish lag p50 150.0 ms, p99 200.0 ms, max 200.0 ms"
