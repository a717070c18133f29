"""Small things seen at 100×30 and 80×24: toasts over dialogs, ctrl+c's notice, help wrapping, order-log order.

Update snapshots after looking at the report: pytest tests/ui/test_desk_ops_small.py --snapshot-update
"""

from __future__ import annotations

import desk_canned as canned
import pytest
from desk_helpers import SMALL, feed, ready
from kit import until
from textual.widgets import Button
from textual.widgets._toast import Toast

from tui_trader import messages as m
from tui_trader.ui.screens.confirm import ConfirmScreen
from tui_trader.ui.screens.help import HelpScreen

MEDIUM = (100, 30)


@pytest.fixture
def desk(desk):
    return lambda *a, **kw: desk(*a, adaptive_refresh=False, **kw)


@pytest.mark.parametrize("size", [SMALL, MEDIUM])
async def test_toasts_never_cover_a_dialogs_text_or_buttons(desk, bus, size):
    app = desk()
    async with app.run_test(size=size, notifications=True) as pilot:  # tests draw no toasts unless asked
        await ready(pilot)
        await pilot.press("f12")  # halted: ctrl+r asks to re-arm
        for i in range(6):
            app.notify(f"notice {i}: a long line of text that takes room on a small terminal", timeout=60)
        await pilot.press("ctrl+r")
        await until(lambda: isinstance(app.screen, ConfirmScreen), "the re-arm dialog")
        await pilot.pause()
        dialog = app.screen
        assert [t for t in app.main_screen.query(Toast) if t.visible]  # the burst is on screen under it
        covered = [
            (str(t.render()), w.id)
            for t in dialog.query(Toast)
            if t.visible
            for w in (*dialog.query(Button), *dialog.query(".dialog-body"))
            if t.region.overlaps(w.region)
        ]
        assert covered == []
        await pilot.press("n")
        await until(lambda: not isinstance(app.screen, ConfirmScreen), "the dialog to close")
        await pilot.pause()
        await until(lambda: any(t.visible for t in app.screen.query(Toast)), "the notices after it")


async def test_ctrl_c_says_how_to_quit_in_plain_words(desk, bus):
    app = desk()
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        await pilot.press("ctrl+c")
        await until(lambda: bool(app._notifications), "a notice")
        notice = list(app._notifications)[-1]
        assert "[b]" not in notice.message
        assert notice.message.startswith("Press q to quit the desk")


def test_help_wraps_each_explanation_in_its_own_column(snap_compare, desk, bus):
    async def run_before(pilot) -> None:
        await ready(pilot)
        await pilot.press("question_mark")
        await until(lambda: isinstance(pilot.app.screen, HelpScreen), "the help screen")

    assert snap_compare(desk(), terminal_size=SMALL, run_before=run_before)


async def test_help_text_never_wraps_back_under_the_keys(desk, bus):
    app = desk()
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        await pilot.press("question_mark")
        await until(lambda: isinstance(app.screen, HelpScreen), "the help screen")
        await pilot.pause()
        help_keys = app.screen.query_one("#help-keys")
        lines = [strip.text.rstrip() for strip in help_keys.render_lines(help_keys.region.reset_offset)]
        names = [b.description for _, b in app.screen.key_bindings] + ["Panes", "Move"]
        kill = next(line for line in lines if "KILL SWITCH" in line)
        column = kill.index("KILL SWITCH")  # where the explanations start
        # A line is a key's own line (its name left of the column) or the rest of an explanation, which
        # starts in the explanation column, never under the keys.
        stray = [
            line
            for line in lines
            if line.strip() and line[:column].strip() and not any(name in line[:column] for name in names)
        ]
        assert stray == []
        assert any(line[:column].strip() == "" and line.strip() for line in lines)  # some did wrap at 80


async def test_order_log_rows_are_in_time_order_whatever_order_they_arrive_in(desk, bus):
    app = desk()
    t = canned.NOW
    late_arrival = canned._cmd("aaaa0001-old", "BTCUSDT", "buy", 0.01, 60000.0, "entry", t - 60_000)
    first_arrival = canned._cmd("bbbb0002-new", "ETHUSDT", "sell", 0.1, 2600.0, "entry", t - 5_000)
    async with app.run_test(size=MEDIUM) as pilot:
        await feed(pilot, bus, [[(m.ORDERS, "ETHUSDT", first_arrival)], [(m.ORDERS, "BTCUSDT", late_arrival)]])
        await pilot.press("4")
        await app.refresh_desk()
        await pilot.pause()
        table = app.main_screen.query_one("#orders-table")
        assert table._order == ["bbbb0002-new", "aaaa0001-old"]  # newest first, by time


COMMENTED = """\
# my desk
[indicators]
bar = "1m"  # what I watch

[ui]
theme = "textual-dark"  # dark room
"""


async def test_fixed_choices_are_selects_and_the_desk_saves_into_the_commented_file(desk, tmp_path):
    from textual.widgets import Select

    from tui_trader import settings as settings_mod
    from tui_trader.ui.screens.settings import SettingsScreen

    path = tmp_path / "settings.toml"
    path.write_text(COMMENTED)
    app = desk(settings=settings_mod.load(path)[0], settings_path=path)
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        await pilot.press("s")
        await until(lambda: isinstance(app.screen, SettingsScreen), "the settings screen")
        screen = app.screen
        for key in (
            "indicators.bar",
            "indicators.emit",
            "risk.on_opposite",
            "exchange.name",
            "exchange.margin_mode",
            "exchange.reconcile_untracked",
            "bus.backend",
            "ui.theme",
        ):
            assert isinstance(await screen.focus_field(key), Select), key
        bar = await screen.focus_field("indicators.bar")
        assert {"tick", "1s", "1m", "5m"} <= {value for _, value in bar._options}
        bar.value = "tick"
        await pilot.pause()
        await pilot.press("ctrl+s")
        await until(lambda: "tick" in path.read_text(), "the save")
    assert path.read_text() == COMMENTED.replace('bar = "1m"', 'bar = "tick"')
