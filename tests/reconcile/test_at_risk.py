"""What is at risk is always on screen: at a live start the executor publishes the venue's positions with
their protective orders (and the journal's) before the trader answers the reconciliation question, and after
adopt/protect each position shows the stop-loss and take-profit that rest at the venue.

The issue's case: two live positions after a restart, one stop canceled at the venue by hand; the Positions
pane said "0 open" until the trader answered, then both rows showed SL "?" and TP "?" while all four orders
rested at the venue.
"""

from __future__ import annotations

from reckit import BTC_STOP, BTC_TARGET, Desk, first_session, live_settings, outside_changes, set_keys, until


def rows(account):
    return {
        p.symbol: (p.side, p.quantity, p.stop_loss, p.stop_loss_resting, p.take_profit, p.take_profit_resting)
        for p in account.positions
    }


async def test_positions_and_their_protection_show_before_the_answer_and_after_adopting(mock, tmp_path, monkeypatch):
    set_keys(monkeypatch)
    journal = tmp_path / "journal.sqlite3"
    await first_session(mock.base_url, journal)
    await outside_changes(mock.base_url)  # BTC's stop and target canceled by hand, ETH bought by hand, SOL orphan stop
    async with Desk(live_settings(mock.base_url, journal), interactive=True) as desk:
        await until(desk.question, "the question to the desk")
        # Before any answer: the venue's two positions, acting (the desk started live), BTC shown unprotected.
        [first] = [a for a in desk.accounts if a.mode == "live"]
        assert first.acting and rows(first) == {
            "BTCUSDT": ("buy", 0.01, None, False, None, False),
            "ETHUSDT": ("buy", 0.5, None, False, None, False),
        }
        question = desk.question()
        await desk.answer(
            question.round, {d.id: "adopt" if "adopt" in d.actions else "flatten" for d in question.differences}
        )
        await until(desk.reconcile_done, "the answer to be carried out")
        # After adopting and re-protecting: every row shows the prices that rest at the venue.
        await until(
            lambda: (
                desk.accounts[-1].ts > first.ts
                and all(p.stop_loss_resting and p.take_profit_resting for p in desk.accounts[-1].positions)
            ),
            "the protected rows",
        )
        after = rows(desk.accounts[-1])
        assert after["BTCUSDT"] == ("buy", 0.01, BTC_STOP, True, BTC_TARGET, True)
        assert after["ETHUSDT"] == ("buy", 0.5, 2_425.0, True, 2_650.0, True)
        resting = {(a["symbol"], float(a["triggerPrice"])) for a in mock.algos.values() if a["algoStatus"] == "NEW"}
        assert resting == {("BTCUSDT", BTC_STOP), ("BTCUSDT", BTC_TARGET), ("ETHUSDT", 2_425.0), ("ETHUSDT", 2_650.0)}
