"""The desk's quote per symbol keeps the venue's mark price, funding rate and next funding time from mark
records, and a trade or book without them leaves them as they were."""

from __future__ import annotations

from tui_trader import messages as m
from tui_trader.ui.state import Quote
from tui_trader.ui.widgets.prices import funding_text


def test_a_quote_keeps_mark_and_funding_from_mark_records_only():
    q = Quote("BTCUSDT")
    q.update(m.MarketData(symbol="BTCUSDT", kind="trade", price=60_000.0, event_time=1, recv_time=1, ts=1))
    assert (q.mark, q.funding_rate, q.next_funding) == (0.0, None, 0)
    q.update(
        m.MarketData(
            symbol="BTCUSDT",
            kind="mark",
            price=60_000.0,
            mark_price=60_010.0,
            funding_rate=-0.0002,
            next_funding_time=28_800_000,
            event_time=2,
            recv_time=2,
            ts=2,
        )
    )
    q.update(m.MarketData(symbol="BTCUSDT", kind="book", bid=59_999.0, ask=60_001.0, event_time=3, recv_time=3, ts=3))
    assert (q.mark, q.funding_rate, q.next_funding, q.last) == (60_010.0, -0.0002, 28_800_000, 60_000.0)
    assert funding_text(q.funding_rate) == "-0.0200" and funding_text(None) == "–"
