"""The kill switch never misfires and always works: readline editing keys typed into every text field of the
settings screen leave the desk armed; the kill key from that same field halts it. And every binding is
remappable from [keys], except onto an editing key or a key another binding of the same screen has."""

from __future__ import annotations

from desk_helpers import SMALL, controls, ready, type_keys
from kit import until
from textual.widgets import Input

from tui_trader import settings as settings_mod
from tui_trader.ui import keys
from tui_trader.ui.screens.main import MainScreen
from tui_trader.ui.screens.settings import SettingsScreen
from tui_trader.ui.widgets.status import HaltBanner, StatusBar

READLINE = ("ctrl+a", "ctrl+e", "ctrl+k", "ctrl+u", "ctrl+w")


def notes(app) -> list[str]:
    return [f"{n.title}: {n.message}" for n in app._notifications]


def with_keys(**remaps: str) -> settings_mod.Settings:
    data = settings_mod.to_dict(settings_mod.Settings())
    data["keys"].update(remaps)
    return settings_mod.parse(data)


async def test_editing_keys_in_every_settings_field_never_kill_and_the_kill_key_does(desk, bus):
    # One redraw a second: the desk's clock would otherwise compete with the typing on a loaded machine.
    app = desk(settings_mod.replace_field(settings_mod.Settings(), "ui", "refresh_hz", 1.0))
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        await pilot.press("s")
        screen = app.screen
        assert isinstance(screen, SettingsScreen)
        typed = 0
        field = None
        for section in screen.sections:
            await screen.show_section(section)
            for field in screen.query(f"#section-{section} Input").results(Input):
                before = field.value
                field.focus()
                field.cursor_position = len(before) // 2  # mid-text: every one of the keys edits something
                await type_keys(pilot, *READLINE)
                assert field.value != before or not before, f"{field.id}: the editing keys did not edit"
                typed += 1
                field.value = before  # keeps the draft unchanged, so the form stays quick to validate
        assert typed >= 40, f"only {typed} text fields found"
        assert await controls(bus) == [], "an editing key reached the kill switch"
        assert not app.state.halted and not screen.query_one(HaltBanner).display
        assert isinstance(field, Input) and app.screen.focused is field
        await pilot.press("f12")  # from that same field
        assert await controls(bus) == [("kill", None, "desk")]
        await until(lambda: screen.query_one(HaltBanner).display, "HALTED on the settings screen")
        await pilot.press("ctrl+backslash")  # the second kill key works there too
        assert [c[0] for c in await controls(bus)] == ["kill", "kill"]


async def test_the_footer_and_help_show_both_kill_keys(desk):
    app = desk()
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        footer = [f"{k.key_display} {k.description}" for k in app.screen.query("FooterKey")]
        assert any("f12/^\\" in k and "KILL" in k for k in footer), footer
        await pilot.press("question_mark")
        await pilot.pause()
        keys_widget = app.screen.query_one("#help-keys")  # a grid: read what is drawn
        text = "\n".join(strip.text for strip in keys_widget.render_lines(keys_widget.region.reset_offset))
        assert "f12 ^\\ " in text and "KILL" in text


def test_the_default_keys_pass_their_own_check(desk):
    app = desk()
    remaps, problems = app.check_keys(settings_mod.to_dict(settings_mod.Settings())["keys"])
    assert (remaps, problems) == ({}, [])
    for b in app.all_bindings():
        for key in keys.split(b.key):
            assert key not in keys.EDITING_KEYS, f"{b.id} defaults to the editing key {key}"


def test_a_remap_onto_an_editing_key_or_a_taken_key_is_refused_naming_the_key(desk):
    app = desk()
    remaps, problems = app.check_keys(
        {
            "kill": "ctrl+k",
            "settings_save": "k",
            "quit": "p",
            "rearm": "f5",
            "pause": "f",
            "flatten": "p",
            "help": "escape",
            "theme": "ctlr+t",
        }
    )
    assert remaps == {"rearm": "f5", "pause": "f", "flatten": "p"}, "a swap of two keys is allowed"
    by_id = {p.split(" ", 1)[0]: p for p in problems}
    assert set(by_id) == {"keys.kill", "keys.settings_save", "keys.quit", "keys.help", "keys.theme"}
    assert "ctrl+k is an editing key" in by_id["keys.kill"] and "kill stays on f12,ctrl+backslash" in by_id["keys.kill"]
    assert "k types a character" in by_id["keys.settings_save"]
    assert "p is already flatten's key on the main screen" in by_id["keys.quit"]
    assert "escape is already settings_close's key on the settings screen" in by_id["keys.help"]
    assert "ctlr+t is not a key name" in by_id["keys.theme"]
    assert all("\n" not in p for p in problems)


async def test_a_refused_remap_is_said_at_start_and_the_default_key_still_kills(desk, bus):
    app = desk(with_keys(kill="ctrl+k"))
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        await until(lambda: any('keys.kill = "ctrl+k" refused' in n for n in notes(app)), "the refusal naming the key")
        await pilot.press("ctrl+k")
        assert await controls(bus) == []
        await pilot.press("f12")
        assert await controls(bus) == [("kill", None, "desk")]


async def test_an_accepted_remap_moves_the_binding(desk, bus):
    app = desk(with_keys(kill="f9", pause="space_is_not_a_key", rearm="f5"))
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        await until(lambda: any("keys.pause" in n for n in notes(app)), "the bad pause key refused")
        await pilot.press("f12")
        assert await controls(bus) == [], "f12 is no longer the kill key"
        await pilot.press("f9")
        assert await controls(bus) == [("kill", None, "desk")]
        assert "f5 re-arms" in app.screen.query_one(HaltBanner).shown
        await pilot.press("p")  # the refused remap left pause on p
        await until(lambda: any("re-arm first (f5)" in n for n in notes(app)), "pause naming f5")


async def test_the_settings_screen_refuses_an_editing_key_where_it_is_typed_and_applies_a_good_one(desk, bus):
    app = desk()
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        await pilot.press("s")
        screen = app.screen
        field = await screen.focus_field("keys.kill")
        assert isinstance(field, Input)
        field.value = "ctrl+u"
        await pilot.pause()
        assert "ctrl+u is an editing key" in screen.draft.errors["keys.kill"]
        field.value = "f8"
        await pilot.pause()
        assert "keys.kill" not in screen.draft.errors
        await pilot.press("ctrl+s")
        await until(lambda: app.keys_of("kill") == ["f8"], "the new kill key applied")
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)
        await pilot.press("f8")
        assert await controls(bus) == [("kill", None, "desk")]
        assert "HALTED" in app.screen.query_one(StatusBar).shown
