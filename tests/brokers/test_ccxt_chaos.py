"""Chaos against the mock Binance venue: late-executing timeouts, 5xx/-1001, 429 with Retry-After and -2019 on
entries and on protective orders, one after another through the real ccxt client.

Afterwards, from the venue's own records: no order executed twice, the book folded from the broker's reports
equals the venue's positions, and no position was ever without both protective orders for longer than
risk.naked_grace_s (the mock logs every stretch without them on its clock). The broker and the mock share one
fake clock, moved by the broker's own pauses (lookups, Retry-After), so the test is exact and fast.
"""

from __future__ import annotations

import collections

import pytest
from broker_helpers import SECRETS, SleepRecorder, command, fast_exchange, settings_for

from tui_trader.brokers.ccxt_broker import CcxtBroker
from tui_trader.portfolio.positions import Portfolio

GRACE_S = 5.0  # risk.naked_grace_s (default)
MINUS_1001 = {"code": -1001, "msg": "Internal error; unable to process your request. Please try again."}
MINUS_2019 = {"code": -2019, "msg": "Margin is insufficient."}
RATE = {"code": -1003, "msg": "Too many requests; current limit of IP is 2400 requests per minute."}
ORDER, ALGO = "/fapi/v1/order", "/fapi/v1/algoOrder"
SL, TP = {"type": "STOP_MARKET"}, {"type": "TAKE_PROFIT_MARKET"}


@pytest.fixture
async def live(mock_binance):
    clock = SleepRecorder()
    mock_binance.clock = clock.now
    broker = CcxtBroker(
        settings_for(mock_binance.base_url, paper=False), SECRETS, sleep=clock, now=clock.now, factory=fast_exchange
    )
    await broker.start()
    try:
        yield broker
    finally:
        await broker.close()


# (what goes wrong, the failure injected, how the entry must end, how its protection must end)
CASES = [
    ("entry times out, executes 3 s later", ("POST", ORDER, "late", dict(status=0, delay=3.0)), "filled", "protected"),
    (
        "entry times out, reaches the engine past its recvWindow",
        ("POST", ORDER, "late", dict(status=0, delay=12.0)),
        "rejected",
        None,
    ),
    ("entry 503 -1001, never processed", ("POST", ORDER, "http", dict(status=503, body=MINUS_1001)), "rejected", None),
    (
        "entry 503 -1001, executes 2 s later",
        ("POST", ORDER, "late", dict(status=503, body=MINUS_1001, delay=2.0)),
        "filled",
        "protected",
    ),
    ("entry -2019", ("POST", ORDER, "http", dict(status=400, body=MINUS_2019)), "rejected", None),
    ("entry 429", ("POST", ORDER, "http", dict(status=429, body=RATE, headers={"Retry-After": "1"})), "rejected", None),
    (
        "stop 429, Retry-After 2 s",
        ("POST", ALGO, "http", dict(status=429, body=RATE, headers={"Retry-After": "2"}, match=SL)),
        "filled",
        "protected",
    ),
    (
        "stop 503 -1001, never processed",
        ("POST", ALGO, "http", dict(status=503, body=MINUS_1001, match=SL)),
        "filled",
        "protected",
    ),
    (
        "target times out, executes 1 s later",
        ("POST", ALGO, "late", dict(status=0, delay=1.0, match=TP)),
        "filled",
        "protected",
    ),
    (
        "stop times out, reaches the engine past its window",
        ("POST", ALGO, "late", dict(status=0, delay=4.0, match=SL)),
        "filled",
        "protected",
    ),
    ("stop -2019", ("POST", ALGO, "http", dict(status=400, body=MINUS_2019, match=SL)), "filled", "closed"),
    (
        "stop 429, Retry-After past the grace",
        ("POST", ALGO, "http", dict(status=429, body=RATE, headers={"Retry-After": "8"}, match=SL)),
        "filled",
        "closed",
    ),
    (
        "target 429, Retry-After 1 s (left open)",
        ("POST", ALGO, "http", dict(status=429, body=RATE, headers={"Retry-After": "1"}, match=TP)),
        "filled",
        "protected",
    ),
]


async def test_no_order_twice_the_book_equals_the_venue_and_no_position_naked_past_the_grace(live, mock_binance):
    reports = []
    outcomes = []
    for i, (name, (method, path, kind, opts), _entry_end, _protection_end) in enumerate(CASES):
        mock_binance.fail(method, path, kind, **opts)
        cmd = command(mode="live", quantity=0.01, stop_loss=58_200.0, take_profit=63_600.0)
        out = await live.execute(cmd)
        reports += out
        entry = next(r for r in out if r.order_id == cmd.id)
        protection = None
        if entry.status == "filled":
            closed = any(r.purpose == "close" and r.status == "filled" for r in out)
            protection = (
                "closed"
                if closed
                else "protected"
                if entry.stop_loss_order_id and entry.take_profit_order_id
                else "naked"
            )
        outcomes.append((name, entry.status, protection))
        assert mock_binance.failures[-1].times == 0, f"{name}: the failure was not met"
        mock_binance.failures.clear()
        if i < len(CASES) - 1 and "BTCUSDT" in mock_binance.positions:  # start the next case flat
            reports += await live.execute(command(mode="live", side="sell", quantity=0.01, purpose="close"))
    assert outcomes == [(name, e, p) for name, _, e, p in CASES]

    # No order executed twice: one venue order per client id, one resting-or-fired algo per protective role.
    per_client = collections.Counter(o["clientOrderId"] for o in mock_binance.orders.values())
    assert max(per_client.values()) == 1
    taken = collections.Counter((a["orderType"], a["clientAlgoId"]) for a in mock_binance.algos.values())
    assert max(taken.values()) == 1
    late = [executed for path, _, executed in mock_binance.late_log]
    assert late.count(False) == 2  # the two past their window never executed (and were not resent under their id)

    # The book folded from what the broker reported equals the venue.
    book = Portfolio(0.0)
    for r in reports:
        book.apply(r.to_status("live", 1))
    assert {s: (p.side, p.quantity) for s, p in book.positions.items()} == {
        s: ("long" if p["amt"] > 0 else "short", abs(p["amt"])) for s, p in mock_binance.positions.items()
    }
    assert mock_binance.positions["BTCUSDT"]["amt"] == 0.01 and mock_binance.protected("BTCUSDT")

    # Never naked past the grace, measured on the venue's own log.
    longest, symbol = mock_binance.longest_naked()
    assert longest <= GRACE_S, f"{symbol} was without both protective orders for {longest:.1f} s"
    # A stop the venue never took was placed again under a fresh id (never the same id twice).
    stops = [r.order_id for r in reports if r.purpose == "stop_loss" and r.status == "accepted"]
    assert len(stops) == sum(p == "protected" for _, _, p in outcomes) and len(set(stops)) == len(stops)
