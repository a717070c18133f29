"""The reconciliation screen alone, in a tiny app driven by Pilot: rows preset to the defaults, keys choose
what each row allows, escape does not skip it, and confirming (after a yes/no) returns the choices."""

from __future__ import annotations

from textual.app import App
from textual.widgets import DataTable, Static

from tui_trader import reconcile as rc
from tui_trader.ui.screens.confirm import ConfirmScreen
from tui_trader.ui.screens.reconcile import ReconcileScreen

SIZE = (150, 40)


def differences() -> list[rc.Difference]:
    journal = {
        "BTCUSDT": rc.JournalPosition(
            symbol="BTCUSDT",
            side="long",
            quantity=0.01,
            entry_price=60_000.0,
            stop_loss_order_id="sl-1",
            take_profit_order_id="tp-1",
        )
    }
    positions = [
        rc.ExchangePosition(symbol="BTCUSDT", side="long", quantity=0.01, entry_price=60_000.0, mark_price=60_100.0),
        rc.ExchangePosition(symbol="ETHUSDT", side="long", quantity=0.5, entry_price=2_500.0, mark_price=2_490.0),
    ]
    orders = [
        rc.ExchangeOrder(
            symbol="SOLUSDT",
            order_id="3003",
            client_id="by-hand",
            role="stop_loss",
            side="sell",
            quantity=2.0,
            trigger_price=140.0,
        )
    ]
    return rc.find_differences(journal, positions, orders)


class Host(App):
    def __init__(self, diffs: list[rc.Difference]) -> None:
        super().__init__()
        self.diffs = diffs
        self.result: dict[str, str] | None = None

    def on_mount(self) -> None:
        self.push_screen(ReconcileScreen(self.diffs, "binanceusdm"), self.answered)

    def answered(self, choices: dict[str, str] | None) -> None:
        self.result = choices


def actions_shown(screen: ReconcileScreen) -> list[str]:
    table = screen.query_one(DataTable)
    return [str(table.get_cell(d.id, "action")) for d in screen.differences]


async def test_keys_choose_per_row_and_confirm_returns_the_choices():
    diffs = differences()
    assert [d.kind for d in diffs] == ["unprotected", "untracked_position", "orphan_order"]
    app = Host(diffs)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ReconcileScreen)
        assert actions_shown(screen) == ["adopt", "flatten", "flatten"]  # the headless defaults
        explain = str(screen.query_one("#reconcile-explain", Static).render())
        assert "BTCUSDT" in explain and "place fresh stop-loss and take-profit orders" in explain

        await pilot.press("f")  # BTCUSDT unprotected → flatten
        await pilot.press("down", "a")  # ETHUSDT untracked → adopt
        await pilot.press("down", "a")  # the orphan order cannot be adopted: unchanged, and said so
        assert actions_shown(screen) == ["flatten", "adopt", "flatten"]
        assert any("adopt is not offered here" in n.message for n in app._notifications)
        await pilot.press("l")
        assert actions_shown(screen) == ["flatten", "adopt", "leave"]

        await pilot.press("escape")  # no way around the question
        assert app.screen is screen and app.result is None

        await pilot.press("c", "n")  # the yes/no says no: back to the rows, nothing returned
        assert app.screen is screen and app.result is None
        await pilot.press("c")
        assert isinstance(app.screen, ConfirmScreen)
        assert "adopt 1, flatten 1, leave 1" in app.screen.title_text
        await pilot.press("y")
        await pilot.pause()
    assert app.result == {
        "unprotected:BTCUSDT": "flatten",
        "untracked_position:ETHUSDT": "adopt",
        "orphan_order:SOLUSDT:3003": "leave",
    }


async def test_defaults_key_restores_the_policy_choices():
    app = Host(differences())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        await pilot.press("l", "down", "l", "down", "l")
        assert actions_shown(screen) == ["leave", "leave", "leave"]
        await pilot.press("d")
        assert actions_shown(screen) == ["adopt", "flatten", "flatten"]
        await pilot.press("c", "y")
        await pilot.pause()
    assert app.result == rc.default_choices(app.diffs)
