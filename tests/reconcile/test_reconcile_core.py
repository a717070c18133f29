"""The pure reconciliation core: what differs between the journal and the exchange, what each difference
allows, the headless defaults, protection prices and the desk protocol."""

from __future__ import annotations

import pytest

from tui_trader import messages as m
from tui_trader import reconcile as rc
from tui_trader.portfolio.positions import Portfolio

T0 = 1_723_161_600_000


def jpos(symbol="BTCUSDT", side="long", qty=0.01, entry=60_000.0, sl="sl-1", tp="tp-1", **kw) -> rc.JournalPosition:
    return rc.JournalPosition(
        symbol=symbol,
        side=side,
        quantity=qty,
        entry_price=entry,
        leverage=10,
        stop_loss=kw.get("stop_loss", 58_200.0),
        take_profit=kw.get("take_profit", 63_600.0),
        stop_loss_order_id=sl,
        take_profit_order_id=tp,
    )


def xpos(symbol="BTCUSDT", side="long", qty=0.01, entry=60_000.0, mark=60_000.0) -> rc.ExchangePosition:
    return rc.ExchangePosition(symbol=symbol, side=side, quantity=qty, entry_price=entry, mark_price=mark)


def order(
    symbol="BTCUSDT", oid="3001", cid="sl-1", role="stop_loss", side="sell", qty=0.01, trigger=58_200.0
) -> rc.ExchangeOrder:
    return rc.ExchangeOrder(
        symbol=symbol, order_id=oid, client_id=cid, role=role, side=side, quantity=qty, trigger_price=trigger
    )


def kinds(diffs) -> list[tuple[str, str, str]]:
    return [(d.symbol, d.kind, d.default) for d in diffs]


def test_a_position_whose_protection_is_open_on_the_exchange_is_in_sync():
    journal = {"BTCUSDT": jpos()}
    positions = [xpos()]
    orders = [order(), order(oid="3002", cid="tp-1", role="take_profit", trigger=63_600.0)]
    diffs = rc.find_differences(journal, positions, orders)
    assert diffs == []
    assert rc.in_sync(journal, positions, diffs) == [journal["BTCUSDT"]]


def test_every_kind_of_difference_with_the_default_policy():
    journal = {
        "BTCUSDT": jpos(),  # on the exchange, its take-profit gone
        "ETHUSDT": jpos("ETHUSDT", qty=0.5, entry=2_500.0, sl="sl-e", tp="tp-e"),  # flat on the exchange
        "XRPUSDT": jpos("XRPUSDT", qty=100.0, entry=0.5, sl="sl-x", tp="tp-x"),  # the exchange holds more
    }
    positions = [xpos(), xpos("SOLUSDT", "short", 3.0, 150.0, 149.0), xpos("XRPUSDT", qty=150.0, entry=0.5)]
    orders = [
        order(),  # BTC's stop-loss: open
        order("ETHUSDT", "4001", "tp-e", "take_profit", trigger=2_650.0),  # the missing ETH position's own target
        order("ETHUSDT", "4002", "by-hand", "stop_loss", trigger=2_000.0),  # someone else's stop on ETH
        order("ADAUSDT", "5001", None, "other", "buy", 10.0, 0.3),  # nothing on ADA
    ]
    diffs = rc.find_differences(journal, positions, orders, tolerance={"XRPUSDT": 0.5})
    assert kinds(diffs) == [
        ("ADAUSDT", "orphan_order", "flatten"),
        ("BTCUSDT", "unprotected", "adopt"),
        ("ETHUSDT", "missing_position", "adopt"),
        ("ETHUSDT", "orphan_order", "flatten"),
        ("SOLUSDT", "untracked_position", "flatten"),
        ("XRPUSDT", "size_mismatch", "adopt"),
    ]
    by_id = {d.id: d for d in diffs}
    assert by_id["unprotected:BTCUSDT"].missing == ["take_profit"]
    assert [o.order_id for o in by_id["missing_position:ETHUSDT"].orders] == ["4001"]  # its own target only
    assert by_id["orphan_order:ETHUSDT:4002"].order.client_id == "by-hand"
    assert by_id["untracked_position:SOLUSDT"].actions == ["adopt", "flatten", "leave"]
    assert by_id["missing_position:ETHUSDT"].actions == ["adopt", "leave"]
    assert by_id["orphan_order:ADAUSDT:5001"].actions == ["flatten", "leave"]


def test_sizes_within_half_a_step_are_the_same_and_a_flipped_side_is_a_mismatch():
    journal = {"BTCUSDT": jpos(qty=0.0100000001)}
    orders = [order(), order(oid="3002", cid="tp-1", role="take_profit", trigger=63_600.0)]
    assert rc.find_differences(journal, [xpos()], orders, tolerance={"BTCUSDT": 0.0005}) == []
    [diff] = rc.find_differences(journal, [xpos(side="short")], orders, tolerance={"BTCUSDT": 0.0005})
    assert diff.kind == "size_mismatch" and diff.exchange.side == "short"


@pytest.mark.parametrize(
    "untracked, tracked, expected",
    [
        (
            "adopt",
            "protect",
            {
                "untracked_position": "adopt",
                "orphan_order": "flatten",
                "unprotected": "adopt",
                "missing_position": "adopt",
            },
        ),
        (
            "leave",
            "leave",
            {
                "untracked_position": "leave",
                "orphan_order": "leave",
                "unprotected": "leave",
                "missing_position": "adopt",
            },
        ),
    ],
)
def test_the_headless_policy_sets_the_defaults(untracked, tracked, expected):
    journal = {"BTCUSDT": jpos(sl=None, tp=None), "ETHUSDT": jpos("ETHUSDT", sl=None, tp=None)}
    positions = [xpos(), xpos("SOLUSDT")]
    orders = [order("ADAUSDT", "9", None, "other")]
    diffs = rc.find_differences(journal, positions, orders, rc.Policy(untracked=untracked, tracked=tracked))
    assert {d.kind: d.default for d in diffs} == expected


def test_where_protection_rides_on_the_entry_adopting_is_not_offered_and_protection_not_checked():
    journal = {"BTCUSDT": jpos(sl=None, tp=None)}
    diffs = rc.find_differences(journal, [xpos(), xpos("SOLUSDT")], [], rc.Policy(untracked="adopt"), can_protect=False)
    [untracked] = diffs  # BTC's protection is not looked at
    assert untracked.kind == "untracked_position" and untracked.actions == ["flatten", "leave"]
    assert untracked.default == "leave" and "entry" in untracked.note


def test_the_journal_view_folds_live_commands_and_fills_only():
    cmd = m.OrderCommand(
        id="c-1",
        symbol="BTCUSDT",
        side="buy",
        quantity=0.01,
        ref_price=60_000.0,
        stop_loss=58_200.0,
        take_profit=63_600.0,
        leverage=10,
        purpose="entry",
        mode="live",
        ts=T0,
    )
    paper = m.OrderCommand(
        id="p-1",
        symbol="ETHUSDT",
        side="buy",
        quantity=1.0,
        ref_price=2_500.0,
        leverage=10,
        purpose="entry",
        mode="paper",
        ts=T0,
    )
    statuses = [
        m.OrderStatus(
            order_id="c-1",
            symbol="BTCUSDT",
            side="buy",
            purpose="entry",
            status="filled",
            filled_qty=0.01,
            avg_price=60_010.0,
            stop_loss_order_id="sl-1",
            take_profit_order_id="tp-1",
            mode="live",
            ts=T0,
        ),
        m.OrderStatus(
            order_id="tp-1", symbol="BTCUSDT", side="sell", purpose="take_profit", status="canceled", mode="live", ts=T0
        ),
        m.OrderStatus(
            order_id="p-1",
            symbol="ETHUSDT",
            side="buy",
            purpose="entry",
            status="filled",
            filled_qty=1.0,
            avg_price=2_500.0,
            mode="paper",
            ts=T0,
        ),
    ]
    view = rc.journal_positions([cmd, paper], statuses)
    assert view == {
        "BTCUSDT": rc.JournalPosition(
            symbol="BTCUSDT",
            side="long",
            quantity=0.01,
            entry_price=60_010.0,
            leverage=10,
            stop_loss=58_200.0,
            take_profit=63_600.0,
            stop_loss_order_id="sl-1",
            take_profit_order_id=None,
        )
    }


def test_protection_keeps_the_journal_prices_while_they_still_protect():
    assert rc.protection_prices("long", 60_000.0, 0.03, 0.06, keep_stop=58_200.0, keep_target=63_600.0) == (
        58_200.0,
        63_600.0,
    )
    # The mark went below the kept stop: a fresh stop at the configured distance below the mark.
    stop, target = rc.protection_prices(
        "long", 58_000.0, 0.03, 0.06, keep_stop=58_200.0, keep_target=63_600.0, tick=0.1
    )
    assert (stop, target) == (56_260.0, 63_600.0)
    assert rc.protection_prices("short", 2_500.0, 0.03, 0.06, tick=0.01) == (2_575.0, 2_350.0)


def test_adopted_and_booked_records_fold_into_the_portfolio_as_the_exchange_has_it():
    x = xpos("SOLUSDT", "short", 3.0, 150.0, 149.0)
    cmd = rc.adopt_command("a-1", x, 153.47, 140.06, 10, T0)
    book = Portfolio(10_000.0)
    book.on_command(cmd)
    book.apply(rc.adopt_fill(cmd, T0, "a-sl", "a-tp", "adopted"))
    pos = book.positions["SOLUSDT"]
    assert (pos.side, pos.quantity, pos.entry_price, pos.leverage) == ("short", 3.0, 150.0, 10)
    assert (pos.stop_loss, pos.stop_loss_order_id, pos.take_profit_order_id) == (153.47, "a-sl", "a-tp")
    j = rc.JournalPosition(
        symbol="SOLUSDT",
        side="short",
        quantity=3.0,
        entry_price=150.0,
        stop_loss_order_id="a-sl",
        take_profit_order_id="a-tp",
    )
    for st in [*rc.protective_gone(j, T0), rc.booked_close("b-1", j, 150.0, "gone", T0)]:
        book.apply(st)
    assert book.positions == {} and book.realized_pnl == 0.0


def test_the_desk_answer_is_checked_against_what_each_row_allows():
    diffs = rc.find_differences({"ETHUSDT": jpos("ETHUSDT")}, [xpos("SOLUSDT")], [order("ADAUSDT", "9", None, "other")])
    choices, problems = rc.choices_from_answer(
        diffs, {"orphan_order:ADAUSDT:9": "adopt", "untracked_position:SOLUSDT": "adopt"}
    )
    assert choices == {
        "orphan_order:ADAUSDT:9": "leave",
        "missing_position:ETHUSDT": "leave",
        "untracked_position:SOLUSDT": "adopt",
    }
    assert len(problems) == 2 and "not one of flatten, leave" in problems[0]
    assert rc.kill_choices(diffs) == {
        "orphan_order:ADAUSDT:9": "flatten",
        "missing_position:ETHUSDT": "adopt",
        "untracked_position:SOLUSDT": "flatten",
    }


def test_question_and_answer_cross_the_bus_as_typed_health_and_control():
    diffs = rc.find_differences({"BTCUSDT": jpos(sl=None)}, [xpos(), xpos("SOLUSDT")], [order()])
    question = m.ReconcileQuestion(round="round-1", exchange="binanceusdm", differences=diffs)
    asked = m.Health(component=m.RECONCILE_COMPONENT, state="waiting", question=question, ts=1)
    dec = m.Decoder()
    got = dec.decode(m.HEALTH, m.encode(asked))
    assert isinstance(got, m.Health) and got.question == question
    choices = {d.id: "leave" for d in diffs}
    said = m.Control(command="reconcile", answer=m.ReconcileAnswer(round="round-1", choices=choices), ts=2)
    back = dec.decode(m.CONTROL, m.encode(said))
    assert isinstance(back, m.Control) and back.answer == m.ReconcileAnswer(round="round-1", choices=choices)
    # A record written before the typed fields existed still decodes (they default to None).
    old = dec.decode(m.HEALTH, b'{"v":1,"component":"reconcile","state":"done","ts":3}')
    assert isinstance(old, m.Health) and old.question is None
    # A malformed answer is refused at decoding, never handed to the executor.
    bad = b'{"v":1,"command":"reconcile","answer":{"round":1},"ts":4}'
    assert dec.decode_record(m.CONTROL, bad, 0) is None and dec.malformed == {m.CONTROL: 1}
    assert rc.describe(got.question.differences[0]).endswith("no stop-loss or take-profit open")
