"""Close one position from the desk: select it in Positions, press the close key, answer the dialog that names
it; the desk publishes Control(command="close", arg=<symbol>) and nothing else. The canned session has a BTCUSDT
long and an ETHUSDT short open."""

from __future__ import annotations

import msgspec
import pytest
from desk_helpers import LARGE, SMALL, controls, feed, ready
from kit import until

from tui_trader.settings import Settings
from tui_trader.ui.screens.confirm import ConfirmScreen
from tui_trader.ui.widgets.positions import PositionsPane, PositionsTable


@pytest.fixture
def desk(desk):
    return lambda *a, **kw: desk(*a, adaptive_refresh=False, **kw)


def dialog_text(app) -> str:
    screen = app.screen
    assert isinstance(screen, ConfirmScreen)
    return f"{screen.title_text} {screen.message}"


async def select(pilot, steps: int) -> PositionsPane:
    app = pilot.app
    if app.main_screen.tabbed:
        await pilot.press("3")
    table = app.screen.query_one(PositionsTable)
    table.focus()
    for _ in range(steps):
        await pilot.press("down")
    await app.refresh_desk()
    return app.screen.query_one(PositionsPane)


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "160x48"])
async def test_selected_position_is_closed_after_yes(desk, bus, size):
    app = desk()
    async with app.run_test(size=size) as pilot:
        await feed(pilot, bus)
        pane = await select(pilot, 1)
        assert pane.selection() == "ETHUSDT"
        table = app.screen.query_one(PositionsTable)
        if app.main_screen.narrow:
            assert "▸ETHUSDT" in [label for _, label in table._columns]  # the transposed table's column
        else:
            assert "reverse" in str(table._cells["ETHUSDT"][0].style)  # the row's symbol is highlighted
            assert "reverse" not in str(table._cells["BTCUSDT"][0].style)
        await pilot.press("c")
        await until(lambda: isinstance(app.screen, ConfirmScreen), "the close dialog")
        assert "Close ETHUSDT?" in dialog_text(app) and "SHORT 0.5 ETHUSDT" in dialog_text(app)
        await pilot.press("y")
        await until(lambda: not isinstance(app.screen, ConfirmScreen), "the dialog to close")
        sent: list = []

        async def read() -> None:
            sent[:] = await controls(bus)

        for _ in range(100):
            await read()
            if sent:
                break
            await pilot.pause(0.02)
        assert sent == [("close", "ETHUSDT", "desk")]


async def test_no_sends_nothing(desk, bus):
    app = desk()
    async with app.run_test(size=LARGE) as pilot:
        await feed(pilot, bus)
        await select(pilot, 0)
        await pilot.press("c")
        await until(lambda: isinstance(app.screen, ConfirmScreen), "the close dialog")
        assert "Close BTCUSDT?" in dialog_text(app) and "LONG 0.016 BTCUSDT" in dialog_text(app)
        await pilot.press("n")
        await until(lambda: not isinstance(app.screen, ConfirmScreen), "the dialog to close")
        await app.refresh_desk()
        assert await controls(bus) == []


async def test_selection_defaults_to_the_first_and_is_shown_only_with_focus(desk, bus):
    app = desk()
    async with app.run_test(size=LARGE) as pilot:
        await feed(pilot, bus)
        pane = app.screen.query_one(PositionsPane)
        table = app.screen.query_one(PositionsTable)
        assert pane.selection() == "BTCUSDT"
        # Nothing focused: a dashboard shows no highlighted row (the dialog names the position anyway).
        assert not any("reverse" in str(cells[0].style) for cells in table._cells.values())
        await pilot.press("c")
        await until(lambda: isinstance(app.screen, ConfirmScreen), "the close dialog")
        assert "Close BTCUSDT?" in dialog_text(app)


async def test_without_positions_nothing_is_asked(desk, bus):
    app = desk()
    async with app.run_test(size=LARGE) as pilot:
        await ready(pilot)
        await pilot.press("c")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        assert await controls(bus) == []


async def test_close_key_is_remappable(desk, bus):
    s = Settings()
    s = msgspec.structs.replace(s, keys=msgspec.structs.replace(s.keys, close_position="x"))
    app = desk(s)
    assert app.key_problems == []
    async with app.run_test(size=LARGE) as pilot:
        await feed(pilot, bus)
        await pilot.press("x")
        await until(lambda: isinstance(app.screen, ConfirmScreen), "the close dialog on x")


async def test_close_key_is_in_help_and_leaves_the_kill_key_on_the_80_column_footer(desk, bus):
    app = desk()
    async with app.run_test(size=SMALL) as pilot:
        await feed(pilot, bus)
        await pilot.pause()
        kill = [k for k in app.screen.query("FooterKey") if k.description == "KILL"]
        assert kill and kill[0].region.right <= SMALL[0], "the kill key is cut off the footer"
        await pilot.press("question_mark")
        await until(lambda: type(app.screen).__name__ == "HelpScreen", "the help screen")
        assert "close_position" in [b.id for _, b in app.screen.key_bindings]


async def test_positions_pane_names_the_close_key_while_a_position_is_open(desk, bus):
    app = desk()
    async with app.run_test(size=LARGE) as pilot:
        await ready(pilot)
        pane = app.screen.query_one(PositionsPane)
        await app.refresh_desk()
        assert not pane.border_subtitle  # nothing to close
        await feed(pilot, bus)
        assert str(pane.border_subtitle) == "c closes the selected one"
        assert str(pane.border_title) == "Positions (2 open)"
