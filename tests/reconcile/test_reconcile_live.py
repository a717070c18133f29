"""Reconciliation at a live start against the mock Binance USD-M (the real ccxt client pointed at it): what
differs after the desk was down, the headless policy, the desk's answer over the bus, and that nothing
trades on the exchange before the reconciliation is done."""

from __future__ import annotations

import pytest
from reckit import (
    SECRETS,
    SOL_STOP_ID,
    Desk,
    entry,
    first_session,
    journal_book,
    live_settings,
    outside_changes,
    set_keys,
    until,
)

from tui_trader.brokers.ccxt_broker import CcxtBroker
from tui_trader.journal import Journal
from tui_trader.workers.reconciler import Reconciler


@pytest.fixture
async def after_a_stop(mock, tmp_path, monkeypatch):
    """The scenario of reckit: BTCUSDT opened and journaled by a first session, then changed by hand."""
    set_keys(monkeypatch)
    journal = tmp_path / "journal.sqlite3"
    first = await first_session(mock.base_url, journal)
    await outside_changes(mock.base_url)
    mock.clear()
    return journal, first


def since(mock, start: int, method: str, path: str):
    return [r for r in mock.requests[start:] if (r.method, r.path) == (method, path)]


async def test_the_survey_finds_what_differs(mock, after_a_stop):
    journal_path, _first = after_a_stop
    settings = live_settings(mock.base_url, journal_path)
    broker = CcxtBroker(settings, SECRETS)
    journal = Journal(journal_path)
    try:
        await broker.start()
        rec = Reconciler(settings, journal, broker, now_ms=lambda: 0, new_id=lambda: "x", publish=None)
        survey = await rec.survey()
    finally:
        await broker.close()
        journal.close()
    assert [(d.id, d.default) for d in survey.differences] == [
        ("unprotected:BTCUSDT", "adopt"),
        ("untracked_position:ETHUSDT", "flatten"),
        (f"orphan_order:SOLUSDT:{mock.algos[max(mock.algos)]['algoId']}", "flatten"),
    ]
    btc, eth, sol = survey.differences
    assert btc.journal.stop_loss_order_id is not None and btc.missing == ["stop_loss", "take_profit"]
    assert (btc.exchange.side, btc.exchange.quantity, btc.exchange.entry_price) == ("long", 0.01, 60_000.0)
    assert (eth.exchange.side, eth.exchange.quantity) == ("long", 0.5)
    assert (sol.order.client_id, sol.order.role, sol.order.side, sol.order.trigger_price) == (
        SOL_STOP_ID,
        "stop_loss",
        "sell",
        140.0,
    )
    # Reading both views sent nothing that trades.
    assert {r.method for r in mock.requests} == {"GET"}


async def test_headless_flattens_the_untracked_reprotects_the_tracked_and_trades_only_afterwards(mock, after_a_stop):
    journal_path, _first = after_a_stop
    mock.fail_server_error("GET", "/fapi/v1/openAlgoOrders", times=2)  # the survey retries: a window to send in
    late = entry("SOLUSDT", qty=1.0, stop=140.0, target=160.0, price=150.0)
    async with Desk(live_settings(mock.base_url, journal_path)) as desk:
        await desk.send(late)  # a live entry arriving while the desk reconciles
        await until(lambda: desk.worker.commands == 1, "the entry to arrive")
        assert not desk.reconcile_done()
        await until(lambda: desk.of(late.id), "the late entry's outcome")
        assert desk.reconcile_states() == ["checking", "applying", "done"]

        # ETHUSDT, unknown to the journal: closed reduce-only for its whole size.
        [eth_close] = [r for r in since(mock, 0, "POST", "/fapi/v1/order") if r.params["symbol"] == "ETHUSDT"]
        assert (
            eth_close.params["side"],
            eth_close.params["type"],
            eth_close.params["quantity"],
            eth_close.params["reduceOnly"],
        ) == ("SELL", "MARKET", "0.5", "true")
        assert "ETHUSDT" not in mock.positions
        # BTCUSDT, journaled but unprotected: two fresh reduce-only algo orders at the journal's prices.
        btc_algos = [r for r in since(mock, 0, "POST", "/fapi/v1/algoOrder") if r.params["symbol"] == "BTCUSDT"]
        assert [
            (r.params["type"], r.params["side"], r.params["quantity"], r.params["triggerPrice"], r.params["reduceOnly"])
            for r in btc_algos
        ] == [("STOP_MARKET", "SELL", "0.01", "58200", "true"), ("TAKE_PROFIT_MARKET", "SELL", "0.01", "63600", "true")]
        assert mock.positions["BTCUSDT"]["amt"] == 0.01
        # SOLUSDT's stop without a position: canceled.
        sol_stop = next(a for a in mock.algos.values() if a["clientAlgoId"] == SOL_STOP_ID)
        assert sol_stop["algoStatus"] == "CANCELED"

        # Nothing trades before that is done: the late entry is the last order placed, after every step above.
        first_sol = min(
            i for i, r in enumerate(mock.requests) if r.method == "POST" and r.params.get("symbol") == "SOLUSDT"
        )
        reconciling = [
            f"{r.method} {r.path} {r.params.get('symbol')}" for r in mock.requests[:first_sol] if r.method != "GET"
        ]
        assert reconciling == [
            "DELETE /fapi/v1/algoOpenOrders BTCUSDT",
            "POST /fapi/v1/algoOrder BTCUSDT",
            "POST /fapi/v1/algoOrder BTCUSDT",
            "DELETE /fapi/v1/algoOpenOrders ETHUSDT",
            "POST /fapi/v1/order ETHUSDT",
            "DELETE /fapi/v1/algoOrder SOLUSDT",
        ]
        assert not [r for r in mock.requests[first_sol:] if r.params.get("symbol") != "SOLUSDT" and r.method != "GET"]
        assert desk.of(late.id)[0] == ("entry", "filled")

        # What the router sees: the old protective ids canceled, the new ones accepted (journaled first).
        fresh = [(s.purpose, s.status) for s in desk.statuses if s.symbol == "BTCUSDT"]
        assert fresh == [
            ("stop_loss", "canceled"),
            ("take_profit", "canceled"),
            ("stop_loss", "accepted"),
            ("take_profit", "accepted"),
        ]
        detail = desk.done_detail()
        assert "ETHUSDT untracked position: flatten: closed sell 0.5 @ 2500 reduce-only" in detail
        assert "BTCUSDT unprotected: adopt: stop-loss 58200 and take-profit 63600 placed" in detail
        assert "SOLUSDT orphan order: flatten: order" in detail

        # The restarted desk watches the fresh protection: the target fills and is reported.
        new_tp = next(
            s.order_id
            for s in desk.statuses
            if s.symbol == "BTCUSDT" and (s.purpose, s.status) == ("take_profit", "accepted")
        )
        mock.set_price("BTCUSDT", 63_700.0)
        await until(lambda: desk.of(new_tp)[-1:] == [("take_profit", "filled")], "the fresh take-profit's fill")
    book = journal_book(journal_path)
    assert set(book) == {"SOLUSDT"}  # BTCUSDT closed by its fresh target; ETHUSDT never journaled


async def test_the_desk_answers_over_the_bus_and_queued_entries_wait_for_it(mock, after_a_stop):
    journal_path, _first = after_a_stop
    late = entry("SOLUSDT", qty=1.0, stop=140.0, target=160.0, price=150.0)
    async with Desk(live_settings(mock.base_url, journal_path), interactive=True) as desk:
        await until(desk.question, "the question to the desk")
        question = desk.question()
        assert question.exchange == "binanceusdm"
        assert [d.kind for d in question.differences] == ["unprotected", "untracked_position", "orphan_order"]
        await desk.send(late)
        await until(lambda: desk.worker.commands == 1, "the entry to arrive")
        await desk.answer("an-older-round", {d.id: "flatten" for d in question.differences})
        await desk.bus.wait_idle()
        assert desk.worker.reconciling.question is not None  # an answer to another round changes nothing
        assert since(mock, 0, "POST", "/fapi/v1/order") == [] and desk.of(late.id) == []  # still queued, not sent

        btc, eth, sol = question.differences
        await desk.answer(question.round, {btc.id: "flatten", eth.id: "adopt", sol.id: "leave"})
        await until(lambda: desk.of(late.id), "the late entry's outcome")
        assert desk.reconcile_states()[-2:] == ["applying", "done"]

        # BTCUSDT flattened: its (untracked) orders canceled, closed reduce-only, booked closed in the journal.
        [btc_close] = [r for r in since(mock, 0, "POST", "/fapi/v1/order") if r.params["symbol"] == "BTCUSDT"]
        assert (btc_close.params["side"], btc_close.params["quantity"], btc_close.params["reduceOnly"]) == (
            "SELL",
            "0.01",
            "true",
        )
        assert "BTCUSDT" not in mock.positions
        assert [(s.purpose, s.status) for s in desk.statuses if s.symbol == "BTCUSDT"] == [
            ("stop_loss", "canceled"),
            ("take_profit", "canceled"),
            ("flatten", "filled"),
        ]
        # ETHUSDT adopted: fresh protection at the configured distances from the mark (3 % and 6 % of 2,500).
        eth_algos = [r for r in since(mock, 0, "POST", "/fapi/v1/algoOrder") if r.params["symbol"] == "ETHUSDT"]
        assert [
            (r.params["type"], r.params["quantity"], r.params["triggerPrice"], r.params["reduceOnly"])
            for r in eth_algos
        ] == [("STOP_MARKET", "0.5", "2425", "true"), ("TAKE_PROFIT_MARKET", "0.5", "2650", "true")]
        eth = [(s.purpose, s.status, s.filled_qty, s.avg_price) for s in desk.statuses if s.symbol == "ETHUSDT"]
        assert eth == [
            ("entry", "filled", 0.5, 2_500.0),
            ("stop_loss", "accepted", 0.0, 0.0),
            ("take_profit", "accepted", 0.0, 0.0),
        ]
        # SOLUSDT's orphan stop left alone, as answered.
        assert next(a for a in mock.algos.values() if a["clientAlgoId"] == SOL_STOP_ID)["algoStatus"] == "NEW"
        # The queued entry went out only after the answer was carried out.
        entry_at = next(i for i, r in enumerate(mock.requests) if r.params.get("newClientOrderId") == late.id)
        last_eth = max(
            i for i, r in enumerate(mock.requests) if r.params.get("symbol") == "ETHUSDT" and r.method == "POST"
        )
        assert last_eth < entry_at

    book = journal_book(journal_path)
    assert set(book) == {"ETHUSDT", "SOLUSDT"}
    eth_pos = book["ETHUSDT"]
    assert (eth_pos.side, eth_pos.quantity, eth_pos.entry_price, eth_pos.stop_loss, eth_pos.take_profit) == (
        "long",
        0.5,
        2_500.0,
        2_425.0,
        2_650.0,
    )
    assert {
        a["clientAlgoId"] for a in mock.algos.values() if a["symbol"] == "ETHUSDT" and a["algoStatus"] == "NEW"
    } == {eth_pos.stop_loss_order_id, eth_pos.take_profit_order_id}


async def test_a_kill_while_the_desk_is_asked_flattens_what_differs(mock, after_a_stop):
    journal_path, _ = after_a_stop
    late = entry("SOLUSDT", qty=1.0, stop=140.0, target=160.0, price=150.0)
    async with Desk(live_settings(mock.base_url, journal_path), interactive=True) as desk:
        await until(desk.question, "the question to the desk")
        await desk.send(late)
        await until(lambda: desk.worker.commands == 1, "the entry to arrive")
        await desk.control("kill")
        await until(desk.reconcile_done, "the reconciliation to finish")
        await until(lambda: desk.of(late.id), "the queued entry's outcome")
        assert desk.of(late.id) == [("entry", "rejected")]  # created before the kill: dropped, never sent
        assert mock.positions == {}  # BTCUSDT and ETHUSDT closed
        assert all(a["algoStatus"] == "CANCELED" for a in mock.algos.values() if a["symbol"] == "SOLUSDT")
        assert not [r for r in mock.requests if r.params.get("newClientOrderId") == late.id]
    assert journal_book(journal_path) == {}


async def test_a_position_gone_while_the_desk_was_down_is_booked_from_its_protective_fill(mock, tmp_path, monkeypatch):
    set_keys(monkeypatch)
    journal_path = tmp_path / "journal.sqlite3"
    await first_session(mock.base_url, journal_path)
    mock.set_price("BTCUSDT", 58_000.0)  # the stop fills while the desk is down; the target stays open
    mock.clear()
    async with Desk(live_settings(mock.base_url, journal_path)) as desk:
        await until(desk.reconcile_done, "the reconciliation")
        assert [(s.purpose, s.status, s.filled_qty, s.avg_price) for s in desk.statuses] == [
            ("stop_loss", "filled", 0.01, 58_000.0),
            ("take_profit", "canceled", 0.0, 0.0),
        ]
        assert "its stop-loss filled 0.01 @ 58000 while the desk was down" in desk.done_detail()
        assert all(a["algoStatus"] != "NEW" for a in mock.algos.values())  # the target canceled on the exchange
    assert journal_book(journal_path) == {}


async def test_a_position_closed_by_hand_is_booked_closed_and_a_larger_one_taken_at_the_exchange_size(
    mock, tmp_path, monkeypatch
):
    set_keys(monkeypatch)
    journal_path = tmp_path / "journal.sqlite3"
    await first_session(mock.base_url, journal_path)
    async with Desk(live_settings(mock.base_url, journal_path)) as desk:  # a second position, on ETHUSDT
        await until(desk.reconcile_done, "the reconciliation")
        eth = entry("ETHUSDT", qty=0.2, stop=2_400.0, target=2_700.0, price=2_500.0)
        await desk.send(eth)
        await until(lambda: len(desk.statuses) >= 3, "the ETHUSDT entry")
    # By hand: BTCUSDT closed (its stop and target canceled), ETHUSDT doubled.
    mock.positions.pop("BTCUSDT")
    for a in mock.algos.values():
        if a["symbol"] == "BTCUSDT":
            a["algoStatus"] = "CANCELED"
    mock.positions["ETHUSDT"]["amt"] = 0.4
    mock.clear()
    async with Desk(live_settings(mock.base_url, journal_path), router=True) as desk:
        book = desk.router.core.portfolio.positions
        assert {s: p.quantity for s, p in book.items()} == {"BTCUSDT": 0.01, "ETHUSDT": 0.2}  # from the journal
        await until(desk.reconcile_done, "the reconciliation")
        await desk.bus.wait_idle()
        # The router follows what was booked: BTCUSDT no longer tracked, ETHUSDT at the exchange's size.
        assert {s: (p.side, p.quantity) for s, p in book.items()} == {"ETHUSDT": ("long", 0.4)}
        assert book["ETHUSDT"].stop_loss_order_id and book["ETHUSDT"].take_profit_order_id
        detail = desk.done_detail()
        assert (
            "BTCUSDT missing position: adopt: booked closed (long 0.01; exit price unknown, booked at entry 60000)"
            in detail
        )
        assert (
            "ETHUSDT size mismatch: adopt: adopted long 0.4 @ 2500; stop-loss 2400 and take-profit 2700 placed"
            in detail
        )
        algos = [
            (r.params["type"], r.params["quantity"], r.params["triggerPrice"])
            for r in since(mock, 0, "POST", "/fapi/v1/algoOrder")
        ]
        assert algos == [("STOP_MARKET", "0.4", "2400"), ("TAKE_PROFIT_MARKET", "0.4", "2700")]
        assert since(mock, 0, "POST", "/fapi/v1/order") == []  # bookkeeping only: nothing traded
    book = journal_book(journal_path)
    assert set(book) == {"ETHUSDT"}
    assert (book["ETHUSDT"].quantity, book["ETHUSDT"].stop_loss, book["ETHUSDT"].take_profit) == (0.4, 2_400.0, 2_700.0)


async def test_a_journal_in_sync_is_watched_and_nothing_is_asked(mock, tmp_path, monkeypatch):
    set_keys(monkeypatch)
    journal_path = tmp_path / "journal.sqlite3"
    await first_session(mock.base_url, journal_path)
    mock.clear()
    async with Desk(live_settings(mock.base_url, journal_path), interactive=True) as desk:
        await until(desk.reconcile_done, "the reconciliation")
        assert desk.reconcile_states() == ["checking", "done"] and desk.question() is None
        assert desk.done_detail() == "in sync with binanceusdm: 1 open position"
        assert {r.method for r in mock.requests} == {"GET"}
        # The restarted broker knows the journaled stop: its fill is reported by the poll.
        mock.set_price("BTCUSDT", 58_100.0)
        await until(
            lambda: (
                [(s.purpose, s.status) for s in desk.statuses] == [("stop_loss", "filled"), ("take_profit", "canceled")]
            ),
            "the journaled stop's fill",
        )
    assert journal_book(journal_path) == {}
