"""Any sequence of fills: the round trips account for every unit of realised PnL and every fee the book saw."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tui_trader import messages as m
from tui_trader.portfolio.positions import Portfolio
from tui_trader.results.trips import round_trips

fills = st.lists(
    st.tuples(st.sampled_from(["buy", "sell"]), st.integers(1, 5), st.integers(90, 110), st.integers(0, 3)),
    min_size=1,
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(fills)
def test_trips_sum_to_the_books_realised_pnl_and_fees(seq):
    statuses = [
        m.OrderStatus(
            order_id=f"o{i}",
            symbol="BTCUSDT",
            side=side,
            purpose="entry",
            status="filled",  # type: ignore[arg-type]
            filled_qty=float(qty),
            avg_price=float(px),
            fee=fee / 10,
            mode="paper",
            ts=i,
        )
        for i, (side, qty, px, fee) in enumerate(seq)
    ]
    book = Portfolio(0.0)
    for s in statuses:
        book.apply(s)
    trips = round_trips(statuses)
    open_pnl = sum(o.pnl for o in trips.open.values())
    open_fees = sum(o.fees for o in trips.open.values())
    assert sum(t.pnl for t in trips.closed) + open_pnl == pytest.approx(book.realized_pnl, abs=1e-9)
    assert sum(t.fees for t in trips.closed) + open_fees == pytest.approx(book.fees, abs=1e-9)
    assert bool(trips.open) == bool(book.positions)
    for t in trips.closed:
        assert t.exit_ts >= t.entry_ts and t.quantity > 0
