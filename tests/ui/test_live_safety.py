"""The desk's part of a live path a trader can trust, driven by canned executor records on a bus with no
workers: the mode badge shows only what the executor reports; a replay refuses live at once; positions at
risk show from the start with their protection and whether it rests; the watchdog's alarm is impossible to
miss."""

from __future__ import annotations

import desk_canned as canned
from desk_helpers import LARGE, SMALL, controls, ready
from kit import until

from tui_trader import messages as m
from tui_trader import reconcile as rc
from tui_trader.ui.screens.live_confirm import LiveConfirmScreen
from tui_trader.ui.screens.main import MainScreen
from tui_trader.ui.screens.reconcile import ReconcileScreen
from tui_trader.ui.widgets.positions import PositionsPane
from tui_trader.ui.widgets.status import AlarmBanner, StatusBar

NOW = canned.NOW


def status(app) -> str:
    return app.screen.query_one(StatusBar).shown


def notes(app) -> list[str]:
    return [f"{n.title}: {n.message}" for n in app._notifications]


def mode_health(state: str, detail: str = "", ts: int = NOW) -> m.Health:
    return m.Health(component=m.MODE_COMPONENT, state=state, detail=detail, ts=ts)


def account(mode: str, acting: bool, positions=(), balance: float = 10_000.0, ts: int = NOW) -> m.Account:
    return m.Account(
        mode=mode,
        acting=acting,
        exchange="paper" if mode == "paper" else "binanceusdm",  # type: ignore[arg-type]
        balance_total=balance,
        balance_free=balance,
        positions=list(positions),
        ts=ts,
    )


def snap(
    symbol: str, side: str, qty: float, entry: float, sl: float | None, tp: float | None, sl_rests: bool, tp_rests: bool
) -> m.PositionSnapshot:
    return m.PositionSnapshot(
        symbol=symbol,
        side=side,
        quantity=qty,
        entry_price=entry,
        mark_price=entry,  # type: ignore[arg-type]
        leverage=10,
        stop_loss=sl,
        take_profit=tp,
        stop_loss_resting=sl_rests,
        take_profit_resting=tp_rests,
    )


async def publish(app, bus, *records: tuple[str, str, object]) -> None:
    for topic, key, msg in records:
        await bus.publish(topic, key, m.encode(msg))  # type: ignore[arg-type]
    await app.refresh_desk()


def with_keys(monkeypatch) -> None:
    monkeypatch.setenv("TUI_TRADER_API_KEY", "key-0001")
    monkeypatch.setenv("TUI_TRADER_API_SECRET", "secret-0001")


async def test_the_badge_says_switching_until_the_executor_acts_live_and_paper_polls_never_flip_it(
    desk, bus, monkeypatch
):
    with_keys(monkeypatch)
    app = desk()
    async with app.run_test(size=LARGE) as pilot:
        await ready(pilot)
        await publish(
            app, bus, (m.HEALTH, m.MODE_COMPONENT, mode_health("paper")), (m.ACCOUNT, "paper", account("paper", True))
        )
        assert " PAPER " in status(app)
        await pilot.press("m", *"LIVE", "enter")
        await until(lambda: "switching…" in status(app), "switching… on the badge")
        assert "LIVE " not in status(app).split("switching")[0].split("→")[0], "LIVE before the executor said so"
        assert await controls(bus) == [("set_mode", "live", "desk")]
        # The executor keeps polling its paper book until it has switched: the badge neither flips to PAPER
        # nor claims LIVE.
        await publish(app, bus, (m.ACCOUNT, "paper", account("paper", True)))
        assert "switching…" in status(app)
        assert not app.screen.query_one(StatusBar).has_class("-live")
        await publish(
            app,
            bus,
            (m.HEALTH, m.MODE_COMPONENT, mode_health("live")),
            (m.ACCOUNT, "live", account("live", True, balance=2_500.0)),
        )
        await until(lambda: "● LIVE" in status(app), "LIVE once the executor acts live")
        assert app.screen.query_one(StatusBar).has_class("-live")
        # After the switch: the earlier paper book still polls (not acting), and the router's commands say
        # paper: neither sets the mode.
        paper_pos = snap("ETHUSDT", "sell", 0.5, 2_650.0, 2_729.5, 2_491.0, True, True)
        for _ in range(3):
            await publish(
                app,
                bus,
                (m.ACCOUNT, "paper", account("paper", False, [paper_pos], 10_001.0)),
                (
                    m.ORDERS,
                    "ETHUSDT",
                    m.OrderCommand(
                        id="x-1",
                        symbol="ETHUSDT",
                        side="sell",
                        quantity=0.5,
                        ref_price=2_650.0,
                        leverage=10,
                        reduce_only=False,
                        purpose="entry",
                        mode="paper",
                        ts=NOW,
                    ),
                ),
            )
        assert "● LIVE" in status(app) and "PAPER" not in status(app)
        assert abs(app.state.portfolio.equity() - 2_500.0) < 1e-6, "the balance is the acting account's"
        book = app.screen.query_one("#positions-paper-book").shown
        assert book.startswith("paper book (not acting)") and "ETHUSDT" in book and "10,001.00" in book
        assert "ETHUSDT" not in app.state.account_positions(), "a non-acting book is not a position at risk"


async def test_a_refused_switch_shows_the_executors_reason_and_stays_paper(desk, bus, monkeypatch):
    with_keys(monkeypatch)
    app = desk()
    async with app.run_test(size=LARGE) as pilot:
        await ready(pilot)
        await publish(app, bus, (m.HEALTH, m.MODE_COMPONENT, mode_health("paper")))
        await pilot.press("m", *"LIVE", "enter")
        await until(lambda: "switching…" in status(app), "switching…")
        reason = "hedge mode (dualSidePosition) is on at binanceusdm: one-way mode is needed"
        await publish(app, bus, (m.HEALTH, m.MODE_COMPONENT, mode_health("paper", reason)))
        await until(lambda: "live refused: hedge mode" in status(app), "the refusal on the status bar")
        assert " PAPER " in status(app) and "switching" not in status(app)
        await until(
            lambda: any("LIVE refused" in n and reason in n for n in notes(app)), "the refusal as a notification"
        )


async def test_live_is_refused_at_once_in_a_replay_without_a_dialog(desk, bus, monkeypatch):
    with_keys(monkeypatch)
    app = desk()
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        await publish(
            app,
            bus,
            (m.HEALTH, "feed:replay", m.Health(component="feed:replay", state="live", detail="playing 1 file", ts=NOW)),
        )
        await pilot.press("m")
        assert isinstance(app.screen, MainScreen), "no confirmation dialog in a replay"
        assert not any(isinstance(s, LiveConfirmScreen) for s in app.screen_stack)
        reason = "a replay is paper only: live would send real orders priced from old data"
        await until(lambda: any(reason in n for n in notes(app)), "the reason on screen")
        assert await controls(bus) == []
        assert " PAPER " in status(app)


def waiting_for_reconciliation() -> m.Health:
    journal = {
        "BTCUSDT": rc.JournalPosition(
            symbol="BTCUSDT",
            side="short",
            quantity=0.01,
            entry_price=63_924.5,
            stop_loss_order_id="sl-1",
            take_profit_order_id="tp-1",
        )
    }
    positions = [
        rc.ExchangePosition(symbol="BTCUSDT", side="short", quantity=0.01, entry_price=63_924.5, mark_price=63_900.0),
        rc.ExchangePosition(symbol="ETHUSDT", side="short", quantity=0.291, entry_price=2_650.0, mark_price=2_648.0),
    ]
    diffs = rc.find_differences(journal, positions, [])
    question = m.ReconcileQuestion(round="r-1", exchange="binanceusdm", differences=diffs)
    return m.Health(component=m.RECONCILE_COMPONENT, state="waiting", question=question, ts=NOW)


async def test_positions_at_risk_show_before_reconciliation_with_their_protection(desk, bus):
    app = desk()
    async with app.run_test(size=LARGE) as pilot:
        await ready(pilot)
        live = account(
            "live",
            True,
            [
                snap("BTCUSDT", "sell", 0.01, 63_924.5, 63_950.1, 63_873.3, True, True),
                snap("ETHUSDT", "sell", 0.291, 2_650.0, None, 2_647.8, False, True),
            ],
            balance=5_000.0,
        )
        await publish(
            app,
            bus,
            (m.HEALTH, m.MODE_COMPONENT, mode_health("live")),
            (m.ACCOUNT, "live", live),
            (m.HEALTH, "reconcile", waiting_for_reconciliation()),
        )
        await until(
            lambda: isinstance(app.screen, ReconcileScreen) and app.screen.is_mounted,
            "the reconciliation screen",
        )
        main = app.main_screen
        pane = main.query_one(PositionsPane)
        await until(
            lambda: str(pane.border_title).startswith("Positions (2 open"),
            "both positions shown under the open question",
        )
        assert "1 UNPROTECTED" in str(pane.border_title)
        table = pane.query_one("#positions-table")
        assert table.cell_text("BTCUSDT", "sl") == "63950.1 ✓" and table.cell_text("BTCUSDT", "tp") == "63873.3 ✓"
        assert table.cell_text("ETHUSDT", "sl") == "none ✗", "a stop that does not rest is marked"
        assert "?" not in table.cell_text("ETHUSDT", "tp")


async def test_after_a_fill_the_row_shows_the_prices_placed_from_the_fill_and_whether_they_rest(desk, bus):
    app = desk()
    async with app.run_test(size=LARGE) as pilot:
        await ready(pilot)
        cmd = m.OrderCommand(
            id="e-1",
            symbol="BTCUSDT",
            side="sell",
            quantity=0.01,
            ref_price=63_959.9,
            stop_loss=63_985.4,
            take_profit=63_908.8,
            leverage=10,
            reduce_only=False,
            purpose="entry",
            mode="live",
            ts=NOW,
        )
        fill = m.OrderStatus(
            order_id="e-1",
            symbol="BTCUSDT",
            side="sell",
            purpose="entry",
            status="filled",
            filled_qty=0.01,
            avg_price=63_924.5,
            stop_loss_order_id="sl-1",
            take_profit_order_id="tp-1",
            stop_loss_price=63_950.1,
            take_profit_price=63_873.3,
            mode="live",
            ts=NOW,
        )
        await publish(app, bus, (m.ORDERS, "BTCUSDT", cmd), (m.ORDER_STATUS, "BTCUSDT", fill))
        table = app.screen.query_one("#positions-table")
        await until(lambda: "BTCUSDT" in table.row_keys, "the position")
        assert table.cell_text("BTCUSDT", "sl") == "63950.1 …", "placed from the fill, not yet confirmed"
        await publish(
            app,
            bus,
            (
                m.ACCOUNT,
                "live",
                account("live", True, [snap("BTCUSDT", "sell", 0.01, 63_924.5, 63_950.1, 63_873.3, True, False)]),
            ),
        )
        await until(lambda: table.cell_text("BTCUSDT", "sl") == "63950.1 ✓", "the stop confirmed")
        assert table.cell_text("BTCUSDT", "tp") == "63873.3 ✗"
        # The venue's stop is canceled: its own status clears it even before the next account poll.
        gone = m.OrderStatus(
            order_id="sl-1", symbol="BTCUSDT", side="buy", purpose="stop_loss", status="canceled", mode="live", ts=NOW
        )
        await publish(
            app,
            bus,
            (m.ORDER_STATUS, "BTCUSDT", gone),
            (
                m.ACCOUNT,
                "live",
                account("live", True, [snap("BTCUSDT", "sell", 0.01, 63_924.5, None, 63_873.3, False, True)]),
            ),
        )
        await until(lambda: table.cell_text("BTCUSDT", "sl") == "63950.1 ✗", "the stop marked gone")


async def test_a_watchdog_alarm_rings_shows_a_red_banner_and_an_order_log_row_until_it_clears(desk, bus):
    app = desk()
    bells = []
    app.bell = lambda: bells.append(1)  # type: ignore[method-assign]
    async with app.run_test(size=LARGE) as pilot:
        await ready(pilot)
        await publish(
            app, bus, (m.HEALTH, m.WATCHDOG_COMPONENT, m.Health(component=m.WATCHDOG_COMPONENT, state="ok", ts=NOW))
        )
        banner = app.screen.query_one(AlarmBanner)
        assert not banner.display and bells == []
        what = "BTCUSDT short 0.01 without a resting stop-loss for 5.2 s: re-protecting"
        await publish(
            app,
            bus,
            (
                m.HEALTH,
                m.WATCHDOG_COMPONENT,
                m.Health(component=m.WATCHDOG_COMPONENT, state="alarm", detail=what, symbols=["BTCUSDT"], ts=NOW + 1),
            ),
        )
        await until(lambda: banner.display, "the red alarm banner")
        assert "WATCHDOG ALARM" in banner.shown and "BTCUSDT" in banner.shown and "re-protecting" in banner.shown
        assert bells == [1], "the terminal bell rings once"
        rows = app.state.orders_newest_first()
        assert rows[0].purpose == "watchdog" and rows[0].status == "alarm" and rows[0].reason == what
        await publish(
            app,
            bus,
            (
                m.HEALTH,
                m.WATCHDOG_COMPONENT,
                m.Health(component=m.WATCHDOG_COMPONENT, state="alarm", detail=what, symbols=["BTCUSDT"], ts=NOW + 2),
            ),
        )
        assert bells == [1], "the same alarm repeated rings no more"
        await pilot.press("s")  # the banner is on the settings screen too
        await until(lambda: app.screen.query_one(AlarmBanner).display, "the banner on settings")
        await pilot.press("escape")
        await publish(
            app, bus, (m.HEALTH, m.WATCHDOG_COMPONENT, m.Health(component=m.WATCHDOG_COMPONENT, state="ok", ts=NOW + 3))
        )
        await until(lambda: not app.screen.query_one(AlarmBanner).display, "the banner to clear")
        rows = app.state.orders_newest_first()
        assert rows[0].purpose == "watchdog" and rows[0].status == "ok" and "cleared" in rows[0].reason


async def test_a_paper_position_left_behind_by_a_switch_to_live_is_in_the_paper_book_not_at_risk(desk, bus):
    app = desk()
    async with app.run_test(size=LARGE) as pilot:
        await ready(pilot)
        cmd = m.OrderCommand(
            id="p-1",
            symbol="ETHUSDT",
            side="sell",
            quantity=0.5,
            ref_price=2_650.0,
            stop_loss=2_729.5,
            take_profit=2_491.0,
            leverage=10,
            reduce_only=False,
            purpose="entry",
            mode="paper",
            ts=NOW,
        )
        fill = m.OrderStatus(
            order_id="p-1",
            symbol="ETHUSDT",
            side="sell",
            purpose="entry",
            status="filled",
            filled_qty=0.5,
            avg_price=2_650.0,
            stop_loss_order_id="p-sl",
            take_profit_order_id="p-tp",
            mode="paper",
            ts=NOW,
        )
        await publish(
            app,
            bus,
            (m.HEALTH, m.MODE_COMPONENT, mode_health("paper")),
            (m.ORDERS, "ETHUSDT", cmd),
            (m.ORDER_STATUS, "ETHUSDT", fill),
        )
        pane = app.screen.query_one(PositionsPane)
        await until(lambda: str(pane.border_title) == "Positions (1 open)", "the paper position")
        paper_pos = snap("ETHUSDT", "sell", 0.5, 2_650.0, 2_729.5, 2_491.0, True, True)
        await publish(
            app,
            bus,
            (m.HEALTH, m.MODE_COMPONENT, mode_health("live", ts=NOW + 1)),
            (m.ACCOUNT, "live", account("live", True, balance=2_500.0, ts=NOW + 1)),
            (m.ACCOUNT, "paper", account("paper", False, [paper_pos], 10_001.0, ts=NOW + 1)),
        )
        await until(lambda: str(pane.border_title) == "Positions (0 open)", "no live position at risk")
        assert "ETHUSDT" in app.screen.query_one("#positions-paper-book").shown
