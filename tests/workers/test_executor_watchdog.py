"""The naked-position watchdog against the mock Binance venue: the venue drops a protective order; the venue
closes the position itself. What the trader must see: the alarm (Health "watchdog"), the order-log rows,
protection back within the grace period (or the position closed), and leftovers canceled.
"""

from __future__ import annotations

import msgspec
from brokers.broker_helpers import command, settings_for
from test_executor import Desk, until

from tui_trader import messages as m
from tui_trader import reconcile as rc

GRACE_S = 0.5


def watched(url: str):
    s = settings_for(url, paper=False, account_poll_s=0.3)
    return msgspec.structs.replace(s, risk=msgspec.structs.replace(s.risk, naked_grace_s=GRACE_S))


def resting(mock, symbol: str) -> dict[str, dict]:
    return {a["orderType"]: a for a in mock.algos.values() if a["symbol"] == symbol and a["algoStatus"] == "NEW"}


def alarms(desk) -> list[m.Health]:
    return [h for h in desk.healths if h.component == m.WATCHDOG_COMPONENT and h.state == "alarm"]


async def opened(desk, mock) -> m.OrderCommand:
    await until(lambda: ("live", "") in desk.modes(), "live to start")
    await desk.market("BTCUSDT", 60_000.0, 1_000)
    cmd = command(mode="live", quantity=0.01, stop_loss=58_200.0, take_profit=63_600.0, ts=1_000)
    await desk.send(cmd)
    await until(lambda: len(resting(mock, "BTCUSDT")) == 2, "the entry's protection to rest")
    return cmd


async def test_a_protective_order_the_venue_drops_is_replaced_after_the_grace_period_with_an_alarm(
    api_keys, mock_binance
):
    async with Desk(watched(mock_binance.base_url)) as desk:
        await opened(desk, mock_binance)
        stop = resting(mock_binance, "BTCUSDT")["STOP_MARKET"]
        stop["algoStatus"] = "CANCELED"  # gone at the venue (expired, canceled in its UI, …)
        dog = desk.executor.watchdog
        await until(lambda: "BTCUSDT" in dog.naked_since, "the watchdog to see the naked position")
        # Within the grace period (on the executor's clock) it may be on its way: the watchdog looks, waits.
        desk.clock.advance_to(1_000 + int(GRACE_S * 1000) - 100)
        seen = dog.checks
        await until(lambda: dog.checks >= seen + 2, "two more looks within the grace period")
        assert "STOP_MARKET" not in resting(mock_binance, "BTCUSDT") and not alarms(desk)
        desk.clock.advance_to(1_000 + int(GRACE_S * 1000) + 1)  # past it: re-protected at the next look
        await until(
            lambda: len(resting(mock_binance, "BTCUSDT")) == 2, "a fresh stop-loss and take-profit at the venue"
        )
        fresh = resting(mock_binance, "BTCUSDT")
        assert float(fresh["STOP_MARKET"]["triggerPrice"]) == 58_200.0 and fresh["STOP_MARKET"]["quantity"] == "0.01"
        assert float(fresh["TAKE_PROFIT_MARKET"]["triggerPrice"]) == 63_600.0
        await until(lambda: alarms(desk), "the alarm")
        alarm = alarms(desk)[-1]
        assert alarm.symbols == ["BTCUSDT"] and "without protection" in alarm.detail and "placed" in alarm.detail
        rows = [(s.purpose, s.status) for s in desk.statuses if s.symbol == "BTCUSDT"]
        assert ("stop_loss", "canceled") in rows and rows.count(("stop_loss", "accepted")) == 2
        assert mock_binance.positions["BTCUSDT"]["amt"] == 0.01  # still open, protected again
        # The book knows the new ids: the next poll finds nothing wrong and says so.
        after = desk.healths.index(alarm)
        await until(
            lambda: any(h.component == m.WATCHDOG_COMPONENT and h.state == "ok" for h in desk.healths[after:]),
            "the all-clear",
        )
        book = rc.journal_positions(desk.executor.journal.commands(), desk.executor.journal.statuses())
        assert {book["BTCUSDT"].stop_loss_order_id, book["BTCUSDT"].take_profit_order_id} == {
            a["clientAlgoId"] for a in resting(mock_binance, "BTCUSDT").values()
        }


async def test_a_position_the_venue_closes_itself_is_booked_closed_and_its_leftovers_canceled(api_keys, mock_binance):
    async with Desk(watched(mock_binance.base_url)) as desk:
        await opened(desk, mock_binance)
        del mock_binance.positions["BTCUSDT"]  # liquidated / ADL / closed by hand in the venue's UI
        await until(lambda: not resting(mock_binance, "BTCUSDT"), "the leftover stop and target to be canceled")
        await until(lambda: alarms(desk), "the alarm")
        assert "closed on the venue" in alarms(desk)[-1].detail and alarms(desk)[-1].symbols == ["BTCUSDT"]
        book = rc.journal_positions(desk.executor.journal.commands(), desk.executor.journal.statuses())
        assert book == {}  # the desk no longer trades against a position that is gone
        closes = [s for s in desk.statuses if s.purpose == "close" and s.status == "filled"]
        assert len(closes) == 1 and "closed outside the desk" in closes[0].error
        assert desk.accounts[-1].positions == []


async def test_an_orphan_protective_order_is_canceled_and_shown(api_keys, mock_binance):
    async with Desk(watched(mock_binance.base_url)) as desk:
        await until(lambda: ("live", "") in desk.modes(), "live to start")
        mock_binance.algos[1] = {
            **{
                k: v
                for k, v in {
                    "algoId": 1,
                    "clientAlgoId": "left-over",
                    "algoType": "CONDITIONAL",
                    "orderType": "STOP_MARKET",
                    "symbol": "BTCUSDT",
                    "side": "SELL",
                    "positionSide": "BOTH",
                    "quantity": "0.01",
                    "algoStatus": "NEW",
                    "triggerPrice": "58000",
                    "reduceOnly": True,
                    "closePosition": False,
                    "createTime": 1,
                    "updateTime": 1,
                    "workingType": "CONTRACT_PRICE",
                    "timeInForce": "GTC",
                    "price": "0",
                    "actualOrderId": "",
                }.items()
            }
        }
        await desk.control("resume", 5)  # any record: the next poll comes on its own
        await until(lambda: mock_binance.algos[1]["algoStatus"] == "CANCELED", "the orphan to be canceled")
        await until(lambda: any(s.order_id == "left-over" and s.status == "canceled" for s in desk.statuses), "its row")
        await until(lambda: alarms(desk), "the alarm")
        assert "orphan" in alarms(desk)[-1].detail


async def test_paper_the_watchdog_reads_what_the_paper_broker_reports():
    async with Desk(settings_for()) as desk:
        await desk.market("BTCUSDT", 60_000.0, 1_000)
        await desk.market("ETHUSDT", 2_500.0, 1_000)
        await desk.send(command(quantity=0.01, stop_loss=58_200.0, take_profit=63_600.0, ts=1_000))
        assert not alarms(desk)  # protected: nothing to say
        await desk.send(command(symbol="ETHUSDT", quantity=0.5, ref_price=2_500.0, ts=1_000))  # no stop, no target
        assert desk.accounts[-1].positions and alarms(desk)
        assert alarms(desk)[-1].symbols == ["ETHUSDT"] and "without a resting stop-loss" in alarms(desk)[-1].detail


async def test_a_size_the_book_does_not_know_raises_the_alarm_and_is_left_to_the_trader(api_keys, mock_binance):
    async with Desk(watched(mock_binance.base_url)) as desk:
        await opened(desk, mock_binance)
        orders_before = len(mock_binance.orders)
        mock_binance.positions["BTCUSDT"]["amt"] = 0.03  # bought 0.02 more in the venue's own UI
        mock_binance.positions["ETHUSDT"] = {"amt": -0.5, "entry": 2_500.0}  # and an ETH short the desk never sent
        await until(lambda: alarms(desk) and set(alarms(desk)[-1].symbols) == {"BTCUSDT", "ETHUSDT"}, "the alarm")
        detail = alarms(desk)[-1].detail
        assert (
            "BTCUSDT journal and exchange differ" in detail and "ETHUSDT on the exchange, not in the journal" in detail
        )
        assert "the trader decides" in detail
        assert len(mock_binance.orders) == orders_before  # nothing traded on its own


async def test_a_stop_that_fires_at_the_venue_is_booked_at_its_price_not_as_closed_outside_the_desk(
    api_keys, mock_binance
):
    async with Desk(watched(mock_binance.base_url)) as desk:
        await opened(desk, mock_binance)
        mock_binance.set_price("BTCUSDT", 58_100.0)  # the stop fires at the venue
        await until(
            lambda: any(s.purpose == "stop_loss" and s.status == "filled" for s in desk.statuses), "the stop's fill"
        )
        await until(lambda: not resting(mock_binance, "BTCUSDT"), "the take-profit to be canceled")
        dog = desk.executor.watchdog
        seen = dog.checks
        await desk.control("resume", 5)
        await until(lambda: dog.checks >= seen + 2, "two more looks")
        fill = next(s for s in desk.statuses if s.purpose == "stop_loss" and s.status == "filled")
        assert fill.avg_price == 58_100.0
        assert not [s for s in desk.statuses if s.purpose == "close"]  # no synthetic close booked at entry
        assert rc.journal_positions(desk.executor.journal.commands(), desk.executor.journal.statuses()) == {}


async def test_okx_protection_is_seen_resting_at_the_fill_and_its_loss_raises_the_alarm(api_keys, monkeypatch):
    """OKX attaches SL/TP to the entry; once filled they rest as one algo order. The watchdog reads that
    order (trigger, size) from the venue: resting at the fill's distances with the whole size, no alarm;
    dropped at the venue, the alarm past the grace period (the trader decides: OKX attaches to entries only)."""
    from brokers.broker_helpers import SECRETS
    from net.mock_okx import MockOkx

    monkeypatch.setenv("TUI_TRADER_API_PASSWORD", SECRETS.api_password)
    mock = MockOkx()
    await mock.start()
    try:
        s = settings_for(mock.base_url, name="okx", paper=False, account_poll_s=0.3)
        s = msgspec.structs.replace(s, risk=msgspec.structs.replace(s.risk, naked_grace_s=GRACE_S))
        mock.slippage = 0.0003  # a long filled 18 USDT above the plan's price
        async with Desk(s) as desk:
            await until(lambda: ("live", "") in desk.modes(), "live to start")
            await desk.market("BTCUSDT", 60_000.0, 1_000)
            await desk.send(
                command(
                    mode="live", quantity=0.01, stop_loss=60_000.0 * 0.9996, take_profit=60_000.0 * 1.0008, ts=1_000
                )
            )

            def snap():
                live = [a for a in desk.accounts if a.mode == "live" and a.positions]
                return live[-1].positions[0] if live else None

            await until(lambda: snap() is not None and snap().stop_loss == 59_994.0, "the position with its protection")
            p = snap()
            assert (p.stop_loss, p.take_profit, p.stop_loss_resting, p.take_profit_resting) == (
                59_994.0,
                60_066.0,
                True,
                True,
            )
            dog = desk.executor.watchdog
            seen = dog.checks
            await until(lambda: dog.checks >= seen + 2, "two more looks")
            assert not alarms(desk) and dog.naked_since == {}
            for algo in mock.algos.values():
                algo["state"] = "canceled"  # canceled at the venue by hand
            await until(lambda: "BTCUSDT" in dog.naked_since, "the watchdog to see the naked position")
            desk.clock.advance_to(1_000 + int(GRACE_S * 1000) + 1)
            await until(lambda: alarms(desk), "the alarm")
            assert alarms(desk)[-1].symbols == ["BTCUSDT"] and "without protection" in alarms(desk)[-1].detail
            assert not snap().stop_loss_resting
    finally:
        await mock.stop()


async def test_okx_a_position_the_venue_closes_itself_is_booked_closed_and_its_algo_order_canceled(
    api_keys, monkeypatch
):
    from brokers.broker_helpers import SECRETS
    from net.mock_okx import MockOkx

    monkeypatch.setenv("TUI_TRADER_API_PASSWORD", SECRETS.api_password)
    mock = MockOkx()
    await mock.start()
    try:
        async with Desk(watched_on(mock.base_url, "okx")) as desk:
            await until(lambda: ("live", "") in desk.modes(), "live to start")
            await desk.market("BTCUSDT", 60_000.0, 1_000)
            await desk.send(command(mode="live", quantity=0.01, stop_loss=58_200.0, take_profit=63_600.0, ts=1_000))
            live_algos = lambda: [a for a in mock.algos.values() if a["state"] == "live"]  # noqa: E731
            await until(lambda: len(live_algos()) == 1, "the entry's algo order to rest")
            del mock.positions["BTC-USDT-SWAP"]  # liquidated / closed by hand in the venue's UI
            await until(lambda: not live_algos(), "the leftover algo order to be canceled")
            await until(lambda: alarms(desk), "the alarm")
            assert "closed on the venue" in alarms(desk)[-1].detail
            assert rc.journal_positions(desk.executor.journal.commands(), desk.executor.journal.statuses()) == {}
    finally:
        await mock.stop()


def watched_on(url: str, name: str):
    s = settings_for(url, name=name, paper=False, account_poll_s=0.3)
    return msgspec.structs.replace(s, risk=msgspec.structs.replace(s.risk, naked_grace_s=GRACE_S))
