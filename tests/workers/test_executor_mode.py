"""One truth for the mode: the executor owns the acting mode; a desk's set_mode is a request it grants or refuses.

What a trader sees follows the executor's Health "mode" and its acting Account, so these tests read exactly
those records: across a paper→live switch with account polls running, after one earlier paper fill, no
acting Account may say paper once live was acknowledged (the badge that flipped back to PAPER), and a
refused switch leaves paper with the reason.
"""

from __future__ import annotations

import pytest
from brokers.broker_helpers import SECRETS, SleepRecorder, command, fast_exchange, settings_for
from net.mock_bybit import MockBybit
from net.mock_okx import MockOkx
from test_executor import Desk, until

from tui_trader import messages as m
from tui_trader.brokers.ccxt_broker import CcxtBroker


async def test_a_paper_to_live_switch_with_account_polls_running_never_shows_paper_as_acting_again(
    api_keys, mock_binance
):
    settings = settings_for(mock_binance.base_url, account_poll_s=0.2)  # polls every 0.2 s of clock and wall time
    async with Desk(settings) as desk:
        t = 1_000
        await desk.market("BTCUSDT", 60_000.0, t)
        await desk.send(command(quantity=0.01, ts=t))  # one earlier paper fill: its book keeps being published
        assert desk.statuses[0].status == "filled" and desk.statuses[0].mode == "paper"
        await desk.control("set_mode", t, arg="live")
        await until(lambda: ("live", "") in desk.modes(), "the executor to acknowledge live")
        await until(lambda: any(a.mode == "live" and a.acting for a in desk.accounts), "the acting live account")
        acked = next(i for i, a in enumerate(desk.accounts) if a.mode == "live" and a.acting)
        for _ in range(10):  # paper accounts keep going out on market data, live ones on the poll
            t += 250
            await desk.market("BTCUSDT", 60_000.0, t)
        await until(lambda: sum(a.mode == "live" for a in desk.accounts[acked:]) >= 3, "three live account polls")
        after = desk.accounts[acked:]
        assert [a.mode for a in after if a.acting] == ["live"] * sum(a.acting for a in after)
        paper_after = [a for a in after if a.mode == "paper"]
        assert len(paper_after) >= 3 and not any(a.acting for a in paper_after)
        assert paper_after[-1].positions[0].quantity == 0.01  # the earlier paper book stays visible, as such
        # Before the acknowledgement paper acted; the venue's positions were shown (not acting) while live started.
        assert all(a.mode == "paper" for a in desk.accounts[:acked] if a.acting)
        assert all(not a.acting for a in desk.accounts[:acked] if a.mode == "live")
        # Commands tagged paper are still executed on paper (closing the earlier book), live ones go live.
        await desk.send(command(side="sell", quantity=0.01, purpose="close", ts=t))
        assert desk.statuses[-1].status == "filled" and desk.statuses[-1].mode == "paper"
        assert mock_binance.positions == {}


async def test_live_is_refused_in_a_replay_and_paper_keeps_acting(api_keys, mock_binance):
    desk = Desk(settings_for(mock_binance.base_url))
    desk.ctx.replay_files = ["capture.gz"]
    async with desk:
        await desk.control("set_mode", 5, arg="live")
        await until(lambda: len(desk.modes()) == 2, "the answer to the switch")
        state, why = desk.modes()[1]
        assert state == "paper" and why.startswith("replay:") and "paper only" in why
        assert desk.accounts[-1].mode == "paper" and desk.accounts[-1].acting
        await desk.send(command(mode="live"))
        await until(lambda: desk.statuses, "the live entry's refusal")
        assert desk.statuses[0].status == "rejected" and desk.statuses[0].error.startswith("mode:")
    assert mock_binance.requests == []  # not one request to the exchange


async def test_a_live_start_in_a_replay_trades_paper_and_says_why(api_keys, mock_binance):
    desk = Desk(settings_for(mock_binance.base_url, paper=False))
    desk.ctx.replay_files = ["capture.gz"]
    async with desk:
        await until(lambda: desk.modes(), "the mode at start")
        assert desk.modes()[0][0] == "paper" and desk.modes()[0][1].startswith("replay:")
        assert desk.accounts[-1].mode == "paper" and desk.accounts[-1].acting  # the router follows this one
    assert mock_binance.requests == []


async def test_hedge_mode_at_the_venue_refuses_live_before_any_order(api_keys, mock_binance):
    mock_binance.dual_side = True
    async with Desk(settings_for(mock_binance.base_url)) as desk:
        await desk.control("set_mode", 5, arg="live")
        await until(lambda: len(desk.modes()) == 2, "the answer to the switch")
        state, why = desk.modes()[1]
        assert state == "paper" and why.startswith("hedge_mode:") and "one-way" in why
    assert "GET /fapi/v1/positionSide/dual" in mock_binance.sequence()
    assert mock_binance.calls("POST", "/fapi/v1/order") == [] and mock_binance.calls("POST", "/fapi/v1/leverage") == []


@pytest.mark.parametrize("mock_cls,name,hedge", [(MockOkx, "okx", "pos_mode"), (MockBybit, "bybit", "hedge")])
async def test_position_mode_reads_each_venue(mock_cls, name, hedge):
    mock = mock_cls()
    await mock.start()
    broker = CcxtBroker(
        settings_for(mock.base_url, name=name, paper=False), SECRETS, sleep=SleepRecorder(), factory=fast_exchange
    )
    try:
        await broker.start()
        assert await broker.position_mode() == "one_way"
        setattr(mock, hedge, "long_short_mode" if hedge == "pos_mode" else True)
        assert await broker.position_mode() == "hedge"
    finally:
        await broker.close()
        await mock.stop()


def test_account_records_say_which_broker_acts():
    a = m.Account(mode="paper", acting=False, exchange="paper", balance_total=1.0, balance_free=1.0, ts=1)
    assert m.decoder_for(m.Account).decode(m.encode(a)).acting is False
