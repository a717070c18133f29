"""Every key of the desk and every dialog path, driven by Pilot on a bus with no workers: what goes out on
trading-control, and what the trader sees."""

from __future__ import annotations

import os

import desk_canned as canned
from desk_helpers import LARGE, SMALL, controls, feed, ready
from kit import until
from textual.widgets import Input
from textual.widgets._footer import FooterKey

from tui_trader import messages as m
from tui_trader.ui.screens.confirm import ConfirmScreen
from tui_trader.ui.screens.help import HelpScreen
from tui_trader.ui.screens.live_confirm import LiveConfirmScreen
from tui_trader.ui.screens.main import MainScreen
from tui_trader.ui.screens.settings import SettingsScreen
from tui_trader.ui.widgets.status import HaltBanner, StatusBar


def status(app) -> str:
    return app.screen.query_one(StatusBar).shown


def banner(app) -> HaltBanner:
    return app.screen.query_one(HaltBanner)


def notes(app) -> list[str]:
    return [f"{n.title}: {n.message}" for n in app._notifications]


def footer_keys(app) -> list[FooterKey]:
    return list(app.screen.query(FooterKey))


async def test_every_key_has_a_binding_id_and_shows_in_a_wide_footer(desk):
    app = desk()
    async with app.run_test(size=LARGE) as pilot:
        await ready(pilot)
        shown = {k.action for k in footer_keys(app)}
        for action in ("app.pause", "app.flatten", "app.toggle_mode", "kill", "rearm", "app.open_settings"):
            assert action in shown
        assert {"app.next_theme", "open_log", "help", "app.quit_desk", "app.results"} <= shown
    app = desk()
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        active = app.screen.active_bindings
        ids = {ab.binding.id for ab in active.values() if ab.binding.show}
        assert {"pause", "flatten", "mode", "kill", "rearm", "settings", "theme", "help", "quit"} <= ids
        ids_by_key = {key: ab.binding.id for key, ab in active.items()}
        assert ids_by_key["f12"] == ids_by_key["ctrl+backslash"] == "kill"
        assert ids_by_key["ctrl+r"] == "rearm" and ids_by_key["question_mark"] == "help"
        assert "ctrl+k" not in ids_by_key, "ctrl+k is readline's kill-to-end-of-line in a text field"
        assert all(ab.binding.id for ab in active.values() if ab.binding.show), "a shown key without an id"


async def test_at_80_columns_the_footer_shows_whole_keys_kill_and_help_included(desk):
    """All keys take ~95 columns: the theme and re-arm keys (in the help; re-arm named by the HALTED banner)
    make way so that nothing is cut, and they still work."""
    app = desk()
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        await pilot.pause()
        keys = footer_keys(app)
        assert all(k.region.right <= SMALL[0] and k.region.width > 0 for k in keys), [
            (k.key_display, k.region) for k in keys
        ]
        shown = [k.action for k in keys]
        assert "kill" in shown and "help" in shown and "app.pause" in shown
        assert "app.next_theme" not in shown and "rearm" not in shown
        await pilot.press("f12")
        await until(lambda: banner(app).display, "the HALTED banner")
        assert "ctrl+r re-arms" in str(banner(app).render())
        await pilot.press("ctrl+r")
        assert isinstance(app.screen, ConfirmScreen), "the re-arm key works though the footer leaves it out"


async def test_pause_and_resume_go_out_as_controls(desk, bus):
    app = desk()
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        await pilot.press("p")
        await until(lambda: "PAUSED" in status(app), "PAUSED in the status bar")
        await pilot.press("p")
        await until(lambda: "PAUSED" not in status(app), "PAUSED to clear")
        assert await controls(bus) == [("pause", None, "desk"), ("resume", None, "desk")]


async def test_flatten_asks_first_and_no_means_nothing_sent(desk, bus):
    app = desk()
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        await pilot.press("f")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("enter")  # the focused button is "No": a stray enter never flattens
        assert isinstance(app.screen, MainScreen)
        await pilot.press("f", "n")
        assert await controls(bus) == []
        await pilot.press("f", "y")
        await until(lambda: isinstance(app.screen, MainScreen), "the dialog to close")
        assert await controls(bus) == [("flatten", None, "desk")]


async def test_live_is_refused_with_the_reason_when_keys_are_missing(desk, bus):
    app = desk()
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        await pilot.press("m")
        await until(
            lambda: any("no API keys for binanceusdm" in n and "TUI_TRADER_API_KEY" in n for n in notes(app)),
            "the refusal with its reason",
        )
        assert isinstance(app.screen, MainScreen), "no dialog without keys"
        assert await controls(bus) == []


async def test_live_is_refused_when_the_secrets_file_is_readable_by_others(desk, bus, isolated_home):
    secrets = isolated_home / "xdg_config_home" / "tui-trader" / "secrets.toml"
    secrets.parent.mkdir(parents=True)
    secrets.write_text('api_key = "k-123456"\napi_secret = "s-abcdef"\n')
    os.chmod(secrets, 0o644)
    app = desk()
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        await pilot.press("m")
        await until(lambda: any("chmod 600" in n for n in notes(app)), "the refusal naming chmod 600")
        assert isinstance(app.screen, MainScreen)
        assert not any("s-abcdef" in n or "k-123456" in n for n in notes(app)), "a secret reached the screen"
        assert await controls(bus) == []


async def test_live_dialog_names_the_exchange_and_needs_the_word_live(desk, bus, monkeypatch):
    from tui_trader import settings as settings_mod

    monkeypatch.setenv("TUI_TRADER_API_KEY", "key-0001")
    monkeypatch.setenv("TUI_TRADER_API_SECRET", "secret-0001")
    settings = settings_mod.replace_field(settings_mod.Settings(), "exchange", "demo", False)
    app = desk(settings)
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        await pilot.press("m")
        assert isinstance(app.screen, LiveConfirmScreen)
        body = str(app.screen.query_one("#live-body").render())
        assert "binanceusdm" in body and "REAL MONEY" in body
        await pilot.press(*"live", "enter")  # lower case is not the word
        assert isinstance(app.screen, LiveConfirmScreen)
        assert app.screen.query_one("#go-live").disabled
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)
        assert await controls(bus) == []
        await pilot.press("m", *"LIVE", "enter")
        await until(lambda: "switching…" in status(app), "switching… in the status bar")
        assert await controls(bus) == [("set_mode", "live", "desk")]
        # The executor answers: it acts live now (its "mode" Health record).
        await bus.publish(
            m.HEALTH, m.MODE_COMPONENT, m.encode(m.Health(component=m.MODE_COMPONENT, state="live", ts=canned.NOW))
        )
        await app.refresh_desk()
        await until(lambda: "● LIVE" in status(app), "LIVE in the status bar")
        assert app.screen.query_one(StatusBar).has_class("-live")
        await pilot.press("m")  # back to paper: no dialog needed to reduce risk
        await until(lambda: "LIVE→PAPER switching…" in status(app), "switching back")
        await bus.publish(
            m.HEALTH, m.MODE_COMPONENT, m.encode(m.Health(component=m.MODE_COMPONENT, state="paper", ts=canned.NOW))
        )
        await app.refresh_desk()
        await until(lambda: " PAPER " in status(app), "PAPER again")
        assert await controls(bus) == [("set_mode", "live", "desk"), ("set_mode", "paper", "desk")]


async def test_live_dialog_says_demo_for_a_demo_account(desk, monkeypatch):
    monkeypatch.setenv("TUI_TRADER_API_KEY", "key-0001")
    monkeypatch.setenv("TUI_TRADER_API_SECRET", "secret-0001")
    app = desk()  # exchange.demo is true by default
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        await pilot.press("m")
        body = str(app.screen.query_one("#live-body").render())
        assert "DEMO account (no real money)" in body and "REAL MONEY" not in body


async def test_kill_acts_at_once_without_a_dialog_and_shows_halted(desk, bus):
    app = desk()
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        assert not banner(app).display
        await pilot.press("f12")
        assert isinstance(app.screen, MainScreen), "the kill switch never asks"
        assert await controls(bus) == [("kill", None, "desk")]
        assert banner(app).display and "HALTED" in banner(app).shown
        assert "HALTED" in status(app)


async def test_kill_from_the_settings_screen_with_an_input_focused(desk, bus):
    app = desk()
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        await pilot.press("s")
        assert isinstance(app.screen, SettingsScreen)
        field = await app.screen.focus_field("risk.cooldown_s")
        assert isinstance(field, Input)
        field.cursor_position = 0
        await pilot.pause()
        await pilot.press("f12")
        assert await controls(bus) == [("kill", None, "desk")]
        assert field.value == "60.0", "the key went to the input instead of the kill switch"
        assert isinstance(app.screen, SettingsScreen)
        await until(lambda: banner(app).display, "the HALTED banner on the settings screen")
        assert "HALTED" in banner(app).shown


async def test_kill_from_a_focused_table_and_from_inside_a_dialog(desk, bus):
    app = desk()
    async with app.run_test(size=LARGE) as pilot:
        await feed(pilot, bus)
        app.screen.query_one("#orders-table").focus()
        await pilot.press("f12")
        assert await controls(bus) == [("kill", None, "desk")]
        await pilot.press("f")  # a dialog is open...
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("f12")  # ...and the kill switch still works from it
        assert [c[0] for c in await controls(bus)] == ["kill", "kill"]


async def test_rearm_asks_first_and_only_when_halted(desk, bus):
    app = desk()
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        await pilot.press("ctrl+r")
        await until(lambda: any("Not halted" in n for n in notes(app)), "'Not halted'")
        assert isinstance(app.screen, MainScreen)
        await pilot.press("f12")
        await pilot.press("ctrl+r")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        assert banner(app).display, "no means still halted"
        await pilot.press("ctrl+r", "y")
        await until(lambda: not banner(app).display, "the HALTED banner to go")
        assert await controls(bus) == [("kill", None, "desk"), ("rearm", None, "desk")]
        assert "PAUSED" in status(app), "a re-armed desk stays paused until resumed"


async def test_pause_while_halted_says_to_rearm_first(desk, bus):
    app = desk()
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        await pilot.press("f12", "p")
        await until(lambda: any("re-arm first" in n for n in notes(app)), "'re-arm first'")
        assert await controls(bus) == [("kill", None, "desk")]


async def test_help_lists_every_key(desk):
    app = desk()
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.pause()
        keys_widget = app.screen.query_one("#help-keys")  # a grid: read what is drawn
        text = "\n".join(strip.text for strip in keys_widget.render_lines(keys_widget.region.reset_offset))
        for key in ("f12 ^\\", "^r", "p", "f", "m", "s", "t", "q", "?"):
            assert f"{key} " in text, key
        assert "KILL" in text and "no question" in text
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)


async def test_quit_without_positions_leaves_at_once(desk):
    app = desk()
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        await pilot.press("q")
        await until(lambda: not app.is_running, "the desk to quit")
    assert app.return_code == 0


async def test_quit_with_open_positions_asks_and_says_they_stay_protected(desk, bus):
    app = desk()
    async with app.run_test(size=LARGE) as pilot:
        await feed(pilot, bus)
        assert len(app.state.portfolio.positions) == 2
        await pilot.press("q")
        assert isinstance(app.screen, ConfirmScreen)
        assert "2 positions are open" in app.screen.message and "stop-loss" in app.screen.message
        await pilot.press("n")
        assert app.is_running and isinstance(app.screen, MainScreen)
        await pilot.press("q", "y")
        await until(lambda: not app.is_running, "the desk to quit")
    assert await controls(bus) == [], "quitting sends nothing: positions stay open"


async def test_theme_key_cycles_the_desk_themes(desk):
    app = desk()
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        assert app.theme == "desk-dark"
        seen = [app.theme]
        for _ in range(len(app.desk_themes)):
            await pilot.press("t")
            seen.append(app.theme)
        assert seen[1:] == app.desk_themes[1:] + app.desk_themes[:1]
        assert {"desk-dark", "desk-light", "desk-contrast"} <= set(app.desk_themes)


async def test_small_terminal_tabs_between_groups_and_a_large_one_stacks(desk, bus):
    app = desk()
    async with app.run_test(size=SMALL) as pilot:
        await feed(pilot, bus)
        main = app.screen
        assert main.tabbed and main.narrow

        def shown() -> list[str | None]:
            return [
                g.id for g in main.query(".group") if g.display and g.styles.display != "none" and g.has_class("-shown")
            ]

        assert shown() == ["group-market"]
        await pilot.press("4")
        assert shown() == ["group-orders"]
        assert main.query_one("#orders").region.height > 10, "the order log gets the screen"
        await pilot.press("3")
        assert shown() == ["group-positions"]
        await pilot.resize_terminal(*LARGE)
        await until(lambda: not main.tabbed, "the stacked layout")
        for pane in ("#prices", "#signals", "#indicators", "#positions", "#orders"):
            assert main.query_one(pane).region.height > 2, pane


async def test_a_worker_crash_reaches_the_trader_as_a_notification(desk, bus):
    app = desk()
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        await bus.publish(
            m.HEALTH, "worker:router", m.encode(m.Health(component="worker:router", state="running", ts=canned.NOW))
        )
        await bus.publish(
            m.HEALTH,
            "worker:router",
            m.encode(
                m.Health(
                    component="worker:router",
                    state="restarting",
                    detail="ValueError: boom; restart in 0.5 s",
                    ts=canned.NOW,
                )
            ),
        )
        await app.refresh_desk()
        await until(
            lambda: any("Worker router restarting" in n and "boom" in n for n in notes(app)),
            "a notification of the restart",
        )
        assert "router restarting" in status(app)
